//! PostgreSQL backend, for several replicas sharing one database. Writers of
//! the audit chain serialise on the head row (`SELECT … FOR UPDATE`); claims of
//! background work skip rows another replica is claiming (`FOR UPDATE SKIP LOCKED`).

use super::schema;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

super::queries::shared_queries!(PgStore, Postgres, sqlx::postgres::PgRow);

/// Held while migrating, so that replicas starting together migrate once.
const MIGRATION_LOCK: i64 = 0x6261_7761_6261; // "bawaba"

impl PgStore {
    const FOR_UPDATE: &str = " FOR UPDATE";
    const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
    const HISTORY_ORDER: &str = "at, n";
    /// Two replicas starting on an empty store must not both add a key.
    const LOCK_SIGNING_KEYS: &str = "LOCK TABLE signing_keys IN EXCLUSIVE MODE";

    pub async fn open(url: &str, acquire_timeout: Duration, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("bawaba");
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(acquire_timeout.max(Duration::from_secs(1)))
            // A connection that died with the server is found out before use,
            // so service resumes by itself when PostgreSQL comes back.
            .test_before_acquire(true)
            .connect_with(options)
            .await?;
        let store = PgStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        let result = async {
            sqlx::query(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
            )
            .execute(&mut *conn)
            .await?;
            for (version, sql) in schema::POSTGRES {
                let mut tx = conn.begin().await?;
                let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
                if done.is_none() {
                    // Migration text is a compile-time constant of this crate.
                    sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now()::text)")
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
            Ok::<(), StoreError>(())
        }
        .await;
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATION_LOCK).execute(&mut *conn).await?;
        result
    }

    /// Whether a write transaction can be opened now.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1").execute(&mut *tx).await?;
        tx.rollback().await?;
        Ok(())
    }
}
