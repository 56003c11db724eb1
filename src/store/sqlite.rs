//! SQLite backend: one file in WAL mode, `synchronous = FULL` so that a commit
//! is on disk before a 2xx leaves the gateway.

use super::schema;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    turns: super::WriteTurns,
    path: String,
    /// How the connections of the writers that own one are set up.
    writer: super::sqlite_audit::WriterSettings,
    /// The outbox's accepted messages, on a connection of their own.
    outbox: super::sqlite_outbox::SqliteOutbox,
    /// Read-only connections for point reads on the request path.
    readers: std::sync::Arc<super::sqlite_reads::SqliteReaders>,
    /// WAL checkpoints off the committing connections (None: SQLite's own).
    _checkpointer: Option<std::sync::Arc<super::sqlite_checkpoint::Checkpointer>>,
}

super::receipts::receipt_queries!(SqliteStore, sqlx::sqlite::SqliteRow);
super::guess_queries::guess_queries!(SqliteStore, sqlx::sqlite::SqliteRow);
super::queries::shared_queries!(SqliteStore, Sqlite, sqlx::sqlite::SqliteRow);
super::stats_queries::stats_queries!(SqliteStore, Sqlite);
super::signal_queries::signal_queries!(SqliteStore, Sqlite);
super::sms_queries::sms_queries!(SqliteStore, Sqlite, sqlx::sqlite::SqliteRow);
super::citizen_queries::citizen_queries!(SqliteStore, Sqlite, sqlx::sqlite::SqliteRow);

impl SqliteStore {
    /// SQLite serialises writers with `BEGIN IMMEDIATE`: no row locks.
    const FOR_UPDATE: &str = "";
    const SKIP_LOCKED: &str = "";
    const HISTORY_ORDER: &str = "at, rowid";
    const LOCK_SIGNING_KEYS: &str = "";
    /// Columns compare as bytes (BINARY) unless declared otherwise.
    const BYTE_ORDER: &str = "";
    /// No statement trigger: the events' writer adds a batch to the summary.
    const SUMMARY_UPSERT: Option<&str> = Some(super::audit_summary::UPSERT_COUNTS);

    pub async fn open(path: &str, settings: &super::StoreOptions) -> Result<Self, StoreError> {
        let (busy_timeout, fsync_each_commit) = (settings.busy_timeout, settings.fsync_each_commit);
        // With checkpoints on their own thread no connection of the store
        // checkpoints at commit (`sqlite_checkpoint`).
        let autocheckpoint = if settings.background_checkpoints { "0" } else { "1000" };
        if let Some(dir) = std::path::Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if fsync_each_commit { SqliteSynchronous::Full } else { SqliteSynchronous::Normal })
            .busy_timeout(busy_timeout)
            // The pool reads (queries, exports) and makes the outbox's writes;
            // the audit log's writes have their own connection
            // (`sqlite_audit`). Each pooled connection has its own page cache,
            // so it is kept small: 8 connections × 8 MiB bound an export's
            // memory, where 8 × 64 MiB made a long export's heap grow by
            // ~320 MiB. Memory-mapped reads share the OS page cache instead.
            .pragma("wal_autocheckpoint", autocheckpoint)
            .pragma("cache_size", "-8192")
            .pragma("mmap_size", "268435456")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)))
            .connect_with(options)
            .await?;
        let turns = super::WriteTurns::default();
        migrate(&pool).await?;
        let writer = super::sqlite_audit::WriterSettings { busy_timeout, fsync_each_commit, autocheckpoint };
        let outbox = super::sqlite_outbox::SqliteOutbox::open(path, &writer, turns.clone())?;
        let readers = std::sync::Arc::new(super::sqlite_reads::SqliteReaders::new(path));
        let checkpointer = match settings.background_checkpoints {
            true => {
                Some(std::sync::Arc::new(super::sqlite_checkpoint::Checkpointer::start(path, &writer, turns.clone())?))
            }
            false => None,
        };
        Ok(SqliteStore { pool, turns, path: path.to_owned(), writer, outbox, readers, _checkpointer: checkpointer })
    }

    /// A write transaction that takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that it waits its turn (busy timeout) instead of failing
    /// when a read transaction would have to be upgraded.
    async fn begin_write(&self) -> Result<super::WriteTx<Sqlite>, StoreError> {
        let turn = self.turns.take().await;
        Ok(super::WriteTx { tx: self.pool.begin_with("BEGIN IMMEDIATE").await?, _turn: Some(turn) })
    }

    /// This process's turn at the write lock, for a write outside `begin_write`.
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.turns.take().await)
    }

    /// Accepts a batch of messages in one transaction (see `sqlite_outbox`).
    pub async fn accept_sms_batch(
        &self,
        items: Vec<(Option<IdempotencyKey>, SmsMessageRow)>,
    ) -> Result<Vec<SmsAccept>, StoreError> {
        self.outbox.accept(items).await
    }

    /// Records that the SMSC took these messages (see `sqlite_outbox`).
    pub async fn sms_record_sent(&self, sent: &[SmsSent]) -> Result<(), StoreError> {
        self.outbox.record_sent(sent.to_vec()).await
    }

    /// Applies delivery reports in one transaction (see `sqlite_outbox`).
    pub async fn sms_deliveries(&self, reports: &[SmsDelivery]) -> Result<Vec<DeliveryEffect>, StoreError> {
        self.outbox.deliveries(reports.to_vec()).await
    }

    pub(super) fn readers(&self) -> &super::sqlite_reads::SqliteReaders {
        &self.readers
    }

    /// The audit log's own connection, for the writer thread (see `sqlite_audit`).
    pub fn audit_appender(&self) -> Result<super::SqliteAppender, StoreError> {
        super::SqliteAppender::open(&self.path, &self.writer, self.turns.clone())
    }

    pub async fn probe(&self) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        Ok(())
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        .execute(&mut *conn)
        .await?;
    let newest: Option<i64> =
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut *conn).await?;
    super::refuse_newer_schema(newest, schema::SQLITE)?;
    for (version, sql) in schema::SQLITE {
        let mut tx = conn.begin().await?;
        let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?;
        if done.is_none() {
            // Migration text is a compile-time constant of this crate.
            sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, datetime('now'))")
                .bind(version)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Action, AuditLog, CheckpointKey, NewEvent, Sealer};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn unsynced() -> super::super::StoreOptions {
        super::super::StoreOptions { fsync_each_commit: false, ..Default::default() }
    }

    /// Before write turns, a claim waited in SQLite's busy handler, which
    /// sleeps and polls, and under a steady audit load it missed every short
    /// gap between commits until its busy timeout ended ("database is locked").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_writes_do_not_fail_behind_a_busy_audit_writer() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let options = super::super::StoreOptions {
            busy_timeout: Duration::from_millis(50),
            fsync_each_commit: false,
            max_connections: 4,
            background_checkpoints: true,
        };
        let store = super::super::Store::open(&url, &options).await.unwrap();
        let sealer = Sealer { key: Arc::new(CheckpointKey::generate().unwrap()), every: 1000 };
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let (log, _tasks) = AuditLog::start(store.clone(), 64, sealer, Duration::from_secs(3600), metrics).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let appenders: Vec<_> = (0..64)
            .map(|i| {
                let (log, stop) = (log.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let event = NewEvent {
                            id: format!("{i}-{n}"),
                            at: crate::audit::now_rfc3339(),
                            action: Some(Action::NationalIdVerify),
                            outcome: "match".into(),
                            http_status: 200,
                            ..NewEvent::default()
                        };
                        log.append(event).await.expect("the audit writer commits");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = crate::audit::now_rfc3339();
        for i in 0..200 {
            store.claim_due_sms(&now, &now, 10).await.expect("a claim waits its turn instead of failing");
            store.sms_set_opt_out(&format!("+2010{i:08}"), true, &now).await.expect("an opt-out waits its turn");
        }
        stop.store(true, Ordering::Relaxed);
        let mut appended = 0;
        for a in appenders {
            appended += a.await.unwrap();
        }
        assert!(appended > 200, "the audit writer was busy throughout ({appended} events)");
    }

    /// The claim-guessing read runs on the caller's thread: it sees what
    /// is committed, never what a writer holds uncommitted, and does not wait
    /// for that writer (WAL readers never do).
    #[tokio::test]
    async fn the_request_path_read_sees_commits_and_does_not_wait_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").display().to_string();
        let store = SqliteStore::open(&path, &unsynced()).await.unwrap();
        let seen = |store: &SqliteStore| store.claim_values_seen_now("c1", "29001011300036", "2000-01-01T00:00:00Z");
        assert_eq!(seen(&store).unwrap(), vec![]);
        let mut writer = rusqlite::Connection::open(&path).unwrap();
        let tx = writer.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).unwrap();
        tx.execute(
            super::super::guess_queries::INSERT_MISMATCH,
            ["c1", "29001011300036", "mother_name", "h1", "2026-12-03T10:00:00Z"],
        )
        .unwrap();
        let started = std::time::Instant::now();
        assert_eq!(seen(&store).unwrap(), vec![], "an uncommitted row is not seen");
        assert!(started.elapsed() < Duration::from_millis(500), "the read waited for the writer");
        tx.commit().unwrap();
        let rows = seen(&store).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].claim.as_str(), rows[0].value_hash.as_str()), ("mother_name", "h1"));
        assert_eq!(seen(&store).unwrap(), rows, "a pooled connection reads the same");
    }

    #[tokio::test]
    async fn numbered_placeholders_bind_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db").display().to_string(), &unsynced()).await.unwrap();
        let (a, b): (String, String) =
            sqlx::query_as("SELECT $2, $1").bind("one").bind("two").fetch_one(&store.pool).await.unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("two", "one"));
    }
}
