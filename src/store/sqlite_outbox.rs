//! The outbox's group commit on SQLite: accepted messages written on a
//! connection of its own, a whole batch in one call into SQLite.
//!
//! Through sqlx's pool every statement of the batch (opt-out, idempotency key,
//! message, history: three or four per message) was a hand-off to sqlx's
//! connection thread and a wake-up back; here the batch runs on a blocking
//! thread with prepared statements, as the audit append does (`sqlite_audit`).
//! PostgreSQL keeps the shared sqlx query (`sms_queries`).

use super::sqlite_audit::{WriterSettings, open_writer};
use super::{IdempotencyKey, SmsAccept, SmsMessageRow, StoreError, WriteTurns};
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::{Arc, Mutex};

const OPTED_OUT: &str = "SELECT 1 FROM sms_opt_outs WHERE phone = ?1";
const INSERT_KEY: &str = "INSERT INTO sms_idempotency (client_id, key, body_hash, message_id, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (client_id, key) DO NOTHING";
const READ_KEY: &str = "SELECT message_id, body_hash FROM sms_idempotency WHERE client_id = ?1 AND key = ?2";
const INSERT_MESSAGE: &str = "INSERT INTO sms_messages (id, client_id, kind, to_e164, case_ref, lang, status_key, \
     text, encoding, segments, status, attempts, created_at, sent_at, delivered_at, last_error, next_attempt_at, \
     smsc_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";
const INSERT_HISTORY: &str = "INSERT INTO sms_history (message_id, status, at, detail) VALUES (?1, 'queued', ?2, NULL)";

/// The outbox writer's connection. The group commit runs one batch at a time,
/// so the lock is never contended; it only makes the connection `Sync`.
#[derive(Clone)]
pub(super) struct SqliteOutbox {
    conn: Arc<Mutex<Connection>>,
    turns: WriteTurns,
}

impl SqliteOutbox {
    pub(super) fn open(path: &str, settings: &WriterSettings, turns: WriteTurns) -> Result<Self, StoreError> {
        let conn = open_writer(path, settings, 4)?;
        Ok(SqliteOutbox { conn: Arc::new(Mutex::new(conn)), turns })
    }

    /// Accepts a batch in one transaction, off the async workers.
    pub(super) async fn accept(
        &self,
        items: Vec<(Option<IdempotencyKey>, SmsMessageRow)>,
    ) -> Result<Vec<SmsAccept>, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.accept_now(&items)).await.map_err(|_| StoreError::Unavailable)?
    }

    fn accept_now(&self, items: &[(Option<IdempotencyKey>, SmsMessageRow)]) -> Result<Vec<SmsAccept>, StoreError> {
        let _turn = self.turns.blocking_take();
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut outcomes = Vec::with_capacity(items.len());
        for (key, m) in items {
            outcomes.push(accept_one(&tx, key.as_ref(), m)?);
        }
        tx.commit()?;
        Ok(outcomes)
    }
}

/// One message inside the batch's transaction: refused when its recipient
/// opted out (a notification; replies answer the recipient's own message),
/// answered with the first message when its idempotency key was used, else stored.
fn accept_one(
    tx: &rusqlite::Transaction<'_>,
    key: Option<&IdempotencyKey>,
    m: &SmsMessageRow,
) -> Result<SmsAccept, StoreError> {
    if m.kind == "notification" && tx.prepare_cached(OPTED_OUT)?.exists(params![m.to_e164])? {
        return Ok(SmsAccept::OptedOut);
    }
    if let Some(k) = key {
        let inserted =
            tx.prepare_cached(INSERT_KEY)?.execute(params![k.client_id, k.key, k.body_hash, m.id, m.created_at])?;
        if inserted == 0 {
            let first = tx
                .prepare_cached(READ_KEY)?
                .query_row(params![k.client_id, k.key], |r| {
                    Ok(SmsAccept::Existing { message_id: r.get(0)?, body_hash: r.get(1)? })
                })
                .optional()?;
            return first.ok_or(StoreError::Unavailable);
        }
    }
    tx.prepare_cached(INSERT_MESSAGE)?.execute(params![
        m.id,
        m.client_id,
        m.kind,
        m.to_e164,
        m.case_ref,
        m.lang,
        m.status_key,
        m.text,
        m.encoding,
        m.segments,
        m.status,
        m.attempts,
        m.created_at,
        m.sent_at,
        m.delivered_at,
        m.last_error,
        m.next_attempt_at,
        m.smsc_id,
    ])?;
    tx.prepare_cached(INSERT_HISTORY)?.execute(params![m.id, m.created_at])?;
    Ok(SmsAccept::Inserted)
}
