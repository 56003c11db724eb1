//! SQLite backend: one file in WAL mode, `synchronous = FULL` so that a commit
//! is on disk before a 2xx leaves the gateway.

use super::{ChainHead, StoreError, StoredKey, schema};
use crate::audit::{AuditEvent, AuditFilter};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

const EVENT_COLUMNS: &str = "seq, id, at, client_id, center_id, operator_id, action, subject, purpose, case_ref, \
     outcome, http_status, cache, duration_ms, prev_hash, hash";

impl SqliteStore {
    pub async fn open(path: &str, busy_timeout: Duration, fsync_each_commit: bool) -> Result<Self, StoreError> {
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
            // The audit log is written at tens of thousands of rows a second:
            // a larger page cache and memory-mapped reads keep index pages hot.
            // (Less frequent WAL checkpoints gained ~10% throughput but doubled
            // p99 in the benchmark, so the default is kept.)
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456")
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)))
            .connect_with(options)
            .await?;
        let store = SqliteStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// A write transaction that takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so that it waits its turn (busy timeout) instead of failing
    /// when a read transaction would have to be upgraded.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
        )
        .execute(&mut *conn)
        .await?;
        for (version, sql) in schema::SQLITE {
            let mut tx = conn.begin().await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                // Migration text is a compile-time constant of this crate.
                sqlx::raw_sql(sqlx::AssertSqlSafe(*sql)).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, datetime('now'))")
                    .bind(version)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn chain_head(&self) -> Result<Option<ChainHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| ChainHead { seq: r.get(0), hash: r.get(1) }))
    }

    pub async fn append_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        // Multi-row inserts keep a batch to a few statements (SQLite allows
        // 32766 bound parameters; 16 per row).
        for chunk in events.chunks(1000) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("INSERT INTO audit_events ({EVENT_COLUMNS}) "));
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(e.seq)
                    .push_bind(&e.id)
                    .push_bind(&e.at)
                    .push_bind(&e.client_id)
                    .push_bind(&e.center_id)
                    .push_bind(&e.operator_id)
                    .push_bind(e.action.as_str())
                    .push_bind(&e.subject)
                    .push_bind(&e.purpose)
                    .push_bind(&e.case_ref)
                    .push_bind(&e.outcome)
                    .push_bind(e.http_status as i64)
                    .push_bind(e.cache.as_str())
                    .push_bind(e.duration_ms as i64)
                    .push_bind(&e.prev_hash)
                    .push_bind(&e.hash);
            });
            qb.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn query_events(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE 1=1"));
        for (column, value) in filter.equalities() {
            qb.push(format!(" AND {column} = ")).push_bind(value.to_owned());
        }
        if let Some(from) = &filter.from {
            qb.push(" AND at >= ").push_bind(from.clone());
        }
        if let Some(to) = &filter.to {
            qb.push(" AND at < ").push_bind(to.clone());
        }
        if let Some(before) = before {
            qb.push(" AND seq < ").push_bind(before);
        }
        qb.push(" ORDER BY seq DESC LIMIT ").push_bind(limit as i64);
        let rows = qb.build().fetch_all(&self.pool).await?;
        rows.iter().map(row_to_event).collect()
    }

    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        // Only the constant column list is spliced; values are bound.
        let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_event).collect()
    }

    pub async fn probe(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
        sqlx::query("ROLLBACK").execute(&mut *conn).await?;
        Ok(())
    }

    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query("SELECT kid, private_pem, created_at FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| StoredKey { kid: r.get(0), private_pem: r.get(1), created_at: r.get(2) }).collect())
    }

    pub async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        sqlx::query("INSERT OR IGNORE INTO signing_keys (kid, private_pem, created_at) VALUES (?, ?, ?)")
            .bind(&key.kid)
            .bind(&key.private_pem)
            .bind(&key.created_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn row_to_event(r: &sqlx::sqlite::SqliteRow) -> Result<AuditEvent, StoreError> {
    let action: String = r.try_get(6)?;
    let cache: String = r.try_get(12)?;
    Ok(AuditEvent {
        seq: r.try_get(0)?,
        id: r.try_get(1)?,
        at: r.try_get(2)?,
        client_id: r.try_get(3)?,
        center_id: r.try_get(4)?,
        operator_id: r.try_get(5)?,
        action: crate::audit::Action::parse(&action)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown action {action}").into()))?,
        subject: r.try_get(7)?,
        purpose: r.try_get(8)?,
        case_ref: r.try_get(9)?,
        outcome: r.try_get(10)?,
        http_status: r.try_get::<i64, _>(11)? as u16,
        cache: crate::audit::CacheUse::parse(&cache)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown cache value {cache}").into()))?,
        duration_ms: r.try_get::<i64, _>(13)? as u64,
        prev_hash: r.try_get(14)?,
        hash: r.try_get(15)?,
    })
}

const CHECK_COLUMNS: &str = "id, client_id, national_id, check_type, status, ticket, submitted_at, decided_at, \
     next_poll_at, attempts, callback_url, callback_state, callback_attempts, next_callback_at";

fn row_to_check(r: &sqlx::sqlite::SqliteRow) -> Result<super::SecurityCheckRow, StoreError> {
    Ok(super::SecurityCheckRow {
        id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        national_id: r.try_get(2)?,
        check_type: r.try_get(3)?,
        status: r.try_get(4)?,
        ticket: r.try_get(5)?,
        submitted_at: r.try_get(6)?,
        decided_at: r.try_get(7)?,
        next_poll_at: r.try_get(8)?,
        attempts: r.try_get(9)?,
        callback_url: r.try_get(10)?,
        callback_state: r.try_get(11)?,
        callback_attempts: r.try_get(12)?,
        next_callback_at: r.try_get(13)?,
    })
}

impl SqliteStore {
    pub async fn insert_security_check(&self, c: &super::SecurityCheckRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO security_checks (id, client_id, national_id, check_type, status, ticket, submitted_at, \
             decided_at, next_poll_at, attempts, callback_url, callback_state, callback_attempts, next_callback_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.client_id)
        .bind(&c.national_id)
        .bind(&c.check_type)
        .bind(&c.status)
        .bind(&c.ticket)
        .bind(&c.submitted_at)
        .bind(&c.decided_at)
        .bind(&c.next_poll_at)
        .bind(c.attempts)
        .bind(&c.callback_url)
        .bind(&c.callback_state)
        .bind(c.callback_attempts)
        .bind(&c.next_callback_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn security_check(&self, id: &str) -> Result<Option<super::SecurityCheckRow>, StoreError> {
        let sql = format!("SELECT {CHECK_COLUMNS} FROM security_checks WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_to_check).transpose()
    }

    pub async fn due_security_checks(&self, now: &str, limit: u32) -> Result<Vec<super::SecurityCheckRow>, StoreError> {
        let sql = format!(
            "SELECT {CHECK_COLUMNS} FROM security_checks WHERE status = 'pending' AND next_poll_at <= ? \
             ORDER BY next_poll_at LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_check).collect()
    }

    pub async fn due_callbacks(&self, now: &str, limit: u32) -> Result<Vec<super::SecurityCheckRow>, StoreError> {
        let sql = format!(
            "SELECT {CHECK_COLUMNS} FROM security_checks WHERE callback_state = 'pending' AND next_callback_at <= ? \
             ORDER BY next_callback_at LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_check).collect()
    }

    pub async fn update_security_check(&self, c: &super::SecurityCheckRow) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE security_checks SET status = ?, ticket = ?, decided_at = ?, next_poll_at = ?, attempts = ?, \
             callback_state = ?, callback_attempts = ?, next_callback_at = ? WHERE id = ?",
        )
        .bind(&c.status)
        .bind(&c.ticket)
        .bind(&c.decided_at)
        .bind(&c.next_poll_at)
        .bind(c.attempts)
        .bind(&c.callback_state)
        .bind(c.callback_attempts)
        .bind(&c.next_callback_at)
        .bind(&c.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

const SMS_COLUMNS: &str = "id, client_id, kind, to_e164, case_ref, lang, status_key, text, encoding, segments, status, \
     attempts, created_at, sent_at, delivered_at, last_error, next_attempt_at, smsc_id";

fn row_to_sms(r: &sqlx::sqlite::SqliteRow) -> Result<super::SmsMessageRow, StoreError> {
    Ok(super::SmsMessageRow {
        id: r.try_get(0)?,
        client_id: r.try_get(1)?,
        kind: r.try_get(2)?,
        to_e164: r.try_get(3)?,
        case_ref: r.try_get(4)?,
        lang: r.try_get(5)?,
        status_key: r.try_get(6)?,
        text: r.try_get(7)?,
        encoding: r.try_get(8)?,
        segments: r.try_get(9)?,
        status: r.try_get(10)?,
        attempts: r.try_get(11)?,
        created_at: r.try_get(12)?,
        sent_at: r.try_get(13)?,
        delivered_at: r.try_get(14)?,
        last_error: r.try_get(15)?,
        next_attempt_at: r.try_get(16)?,
        smsc_id: r.try_get(17)?,
    })
}

impl SqliteStore {
    /// Accepts a batch of messages in one transaction (group commit): each is
    /// inserted with its idempotency key, unless the key was used before.
    pub async fn accept_sms_batch(
        &self,
        items: &[(Option<super::IdempotencyKey>, super::SmsMessageRow)],
    ) -> Result<Vec<super::SmsAccept>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut outcomes = Vec::with_capacity(items.len());
        for (key, m) in items {
            if let Some(k) = key {
                let inserted = sqlx::query(
                    "INSERT INTO sms_idempotency (client_id, key, body_hash, message_id, created_at) VALUES (?, ?, ?, ?, ?) \
                     ON CONFLICT (client_id, key) DO NOTHING",
                )
                .bind(&k.client_id)
                .bind(&k.key)
                .bind(&k.body_hash)
                .bind(&m.id)
                .bind(&m.created_at)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    let row = sqlx::query(
                        "SELECT message_id, body_hash FROM sms_idempotency WHERE client_id = ? AND key = ?",
                    )
                    .bind(&k.client_id)
                    .bind(&k.key)
                    .fetch_one(&mut *tx)
                    .await?;
                    outcomes.push(super::SmsAccept::Existing { message_id: row.get(0), body_hash: row.get(1) });
                    continue;
                }
            }
            let sql = format!(
                "INSERT INTO sms_messages ({SMS_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            );
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(&m.id)
                .bind(&m.client_id)
                .bind(&m.kind)
                .bind(&m.to_e164)
                .bind(&m.case_ref)
                .bind(&m.lang)
                .bind(&m.status_key)
                .bind(&m.text)
                .bind(&m.encoding)
                .bind(m.segments)
                .bind(&m.status)
                .bind(m.attempts)
                .bind(&m.created_at)
                .bind(&m.sent_at)
                .bind(&m.delivered_at)
                .bind(&m.last_error)
                .bind(&m.next_attempt_at)
                .bind(&m.smsc_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO sms_history (message_id, status, at, detail) VALUES (?, 'queued', ?, NULL)")
                .bind(&m.id)
                .bind(&m.created_at)
                .execute(&mut *tx)
                .await?;
            outcomes.push(super::SmsAccept::Inserted);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    pub async fn sms_message(&self, id: &str) -> Result<Option<super::SmsMessageRow>, StoreError> {
        let sql = format!("SELECT {SMS_COLUMNS} FROM sms_messages WHERE id = ?");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(row_to_sms).transpose()
    }

    pub async fn sms_history(&self, id: &str) -> Result<Vec<super::SmsHistoryRow>, StoreError> {
        let rows = sqlx::query("SELECT status, at, detail FROM sms_history WHERE message_id = ? ORDER BY at, rowid")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| super::SmsHistoryRow { status: r.get(0), at: r.get(1), detail: r.get(2) })
            .collect())
    }

    pub async fn due_sms(&self, now: &str, limit: u32) -> Result<Vec<super::SmsMessageRow>, StoreError> {
        let sql = format!(
            "SELECT {SMS_COLUMNS} FROM sms_messages WHERE status = 'queued' AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, created_at LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_sms).collect()
    }

    pub async fn sms_record_sent(&self, sent: &[super::SmsSent]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for s in sent {
            let done = sqlx::query(
                "UPDATE sms_messages SET status = 'sent', smsc_id = ?, sent_at = ?, attempts = ?, last_error = NULL \
                 WHERE id = ? AND status = 'queued'",
            )
            .bind(&s.smsc_id)
            .bind(&s.at)
            .bind(s.attempts)
            .bind(&s.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if done {
                sqlx::query("INSERT INTO sms_history (message_id, status, at, detail) VALUES (?, 'sent', ?, NULL)")
                    .bind(&s.id)
                    .bind(&s.at)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn sms_mark_retry(
        &self,
        id: &str,
        attempts: i64,
        next_at: Option<&str>,
        error: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        match next_at {
            Some(next) => {
                sqlx::query(
                    "UPDATE sms_messages SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'queued'",
                )
                .bind(attempts)
                .bind(next)
                .bind(error)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                let n = sqlx::query(
                    "UPDATE sms_messages SET attempts = ?, status = 'failed', last_error = ? WHERE id = ? AND status = 'queued'",
                )
                .bind(attempts)
                .bind(error)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n == 1 {
                    sqlx::query("INSERT INTO sms_history (message_id, status, at, detail) VALUES (?, 'failed', ?, ?)")
                        .bind(id)
                        .bind(at)
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn sms_deliveries(&self, reports: &[super::SmsDelivery]) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut found = Vec::with_capacity(reports.len());
        for r in reports {
            let status = if r.delivered { "delivered" } else { "undelivered" };
            // A report can overtake our own record of the send (a crash between
            // the SMSC's answer and our commit): it moves a queued message too.
            let n = sqlx::query(
                "UPDATE sms_messages SET status = ?, delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END, \
                 last_error = COALESCE(?, last_error), sent_at = COALESCE(sent_at, ?) WHERE id = ?",
            )
            .bind(status)
            .bind(r.delivered)
            .bind(&r.at)
            .bind(&r.error)
            .bind(&r.at)
            .bind(&r.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                sqlx::query("INSERT INTO sms_history (message_id, status, at, detail) VALUES (?, ?, ?, ?)")
                    .bind(&r.id)
                    .bind(status)
                    .bind(&r.at)
                    .bind(&r.error)
                    .execute(&mut *tx)
                    .await?;
            }
            found.push(n == 1);
        }
        tx.commit().await?;
        Ok(found)
    }

    pub async fn sms_set_opt_out(&self, phone: &str, out: bool, at: &str) -> Result<(), StoreError> {
        if out {
            sqlx::query("INSERT INTO sms_opt_outs (phone, at) VALUES (?, ?) ON CONFLICT (phone) DO NOTHING")
                .bind(phone)
                .bind(at)
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query("DELETE FROM sms_opt_outs WHERE phone = ?").bind(phone).execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn sms_is_opted_out(&self, phone: &str) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sms_opt_outs WHERE phone = ?")
            .bind(phone)
            .fetch_one(&self.pool)
            .await?;
        Ok(n > 0)
    }

    pub async fn sms_recent_notifications(
        &self,
        phone: &str,
        limit: u32,
    ) -> Result<Vec<super::SmsMessageRow>, StoreError> {
        let sql = format!(
            "SELECT {SMS_COLUMNS} FROM sms_messages WHERE to_e164 = ? AND kind = 'notification' \
             AND status IN ('sent', 'delivered') ORDER BY created_at DESC LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(phone).bind(limit as i64).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_sms).collect()
    }

    pub async fn sms_queued(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM sms_messages WHERE status = 'queued'")
            .fetch_one(&self.pool)
            .await?)
    }
}
