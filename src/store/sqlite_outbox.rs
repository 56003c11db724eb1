//! The outbox's group commits on SQLite: accepted messages, the SMSC's
//! acceptances and its delivery reports, written on a connection of their
//! own, a whole batch in one call into SQLite.
//!
//! Through sqlx's pool every statement of a batch (opt-out, idempotency key,
//! message, history: three or four per accepted message; two or three per
//! sent message and per report) was a hand-off to sqlx's connection thread
//! and a wake-up back, and an SMS's life took about ten of them; here a batch
//! runs on a blocking thread with prepared statements, as the audit append
//! does (`sqlite_audit`). PostgreSQL has its own (`postgres.rs`), in one
//! transaction per batch likewise.

use super::sqlite_audit::{WriterSettings, open_writer};
use super::{DeliveryEffect, IdempotencyKey, SmsAccept, SmsDelivery, SmsMessageRow, SmsSent, StoreError, WriteTurns};
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
const ADD_HISTORY: &str = "INSERT INTO sms_history (message_id, status, at, detail) VALUES (?1, ?2, ?3, ?4)";
const RECORD_SENT: &str = "UPDATE sms_messages SET status = 'sent', smsc_id = ?1, sent_at = ?2, attempts = ?3, \
     last_error = NULL WHERE id = ?4 AND status = 'queued'";
const READ_STATUS: &str = "SELECT status FROM sms_messages WHERE id = ?1";
// A report can overtake our own record of the send (a crash between the
// SMSC's answer and our commit): it moves a queued message too.
const RECORD_DELIVERY: &str = "UPDATE sms_messages SET status = ?1, delivered_at = COALESCE(?2, delivered_at), \
     last_error = COALESCE(?3, last_error), sent_at = COALESCE(sent_at, ?4) WHERE id = ?5";

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

    /// Runs `write` in one transaction at this process's write turn, on a
    /// blocking thread (off the async workers); committed when it returns Ok.
    async fn in_transaction<T: Send + 'static>(
        &self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = this.turns.blocking_take();
            let mut conn = this.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let done = write(&tx)?;
            tx.commit()?;
            Ok(done)
        })
        .await
        .map_err(|_| StoreError::Unavailable)?
    }

    /// Accepts a batch in one transaction.
    pub(super) async fn accept(
        &self,
        items: Vec<(Option<IdempotencyKey>, SmsMessageRow)>,
    ) -> Result<Vec<SmsAccept>, StoreError> {
        self.in_transaction(move |tx| items.iter().map(|(key, m)| accept_one(tx, key.as_ref(), m)).collect()).await
    }

    /// Records that the SMSC took these messages (those still queued).
    pub(super) async fn record_sent(&self, sent: Vec<SmsSent>) -> Result<(), StoreError> {
        self.in_transaction(move |tx| {
            for s in &sent {
                let moved = tx.prepare_cached(RECORD_SENT)?.execute(params![s.smsc_id, s.at, s.attempts, s.id])? == 1;
                if moved {
                    tx.prepare_cached(ADD_HISTORY)?.execute(params![s.id, "sent", s.at, None::<&str>])?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Applies delivery reports; what each did.
    pub(super) async fn deliveries(&self, reports: Vec<SmsDelivery>) -> Result<Vec<DeliveryEffect>, StoreError> {
        self.in_transaction(move |tx| {
            let mut found = Vec::with_capacity(reports.len());
            for r in &reports {
                let status = if r.delivered { "delivered" } else { "undelivered" };
                let before: Option<String> =
                    tx.prepare_cached(READ_STATUS)?.query_row(params![r.id], |row| row.get(0)).optional()?;
                let delivered_at = r.delivered.then_some(r.at.as_str());
                let moved =
                    tx.prepare_cached(RECORD_DELIVERY)?.execute(params![status, delivered_at, r.error, r.at, r.id])?;
                if moved == 1 {
                    tx.prepare_cached(ADD_HISTORY)?.execute(params![r.id, status, r.at, r.error])?;
                }
                found.push(match before {
                    _ if moved != 1 => DeliveryEffect::Unknown,
                    Some(s) if s == status => DeliveryEffect::Again,
                    _ => DeliveryEffect::Moved,
                });
            }
            Ok(found)
        })
        .await
    }
}

impl super::sqlite::SqliteStore {
    /// [`super::Store::sms_is_opted_out`] on the calling thread (see `sqlite_reads`).
    pub(super) fn sms_is_opted_out_now(&self, phone: &str) -> Result<bool, StoreError> {
        self.readers().read(|conn| conn.prepare_cached(OPTED_OUT)?.exists(params![phone]))
    }

    /// [`super::Store::sms_message`] on the calling thread (see `sqlite_reads`).
    pub(super) fn sms_message_now(&self, id: &str) -> Result<Option<SmsMessageRow>, StoreError> {
        self.readers().read(|conn| {
            let sql = format!("SELECT {} FROM sms_messages WHERE id = ?1", super::queries::SMS_COLUMNS);
            conn.prepare_cached(&sql)?.query_row(params![id], |r| Ok(super::sms_queries::sms_row!(r, get))).optional()
        })
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
