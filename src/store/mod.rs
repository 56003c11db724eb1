//! The store: one interface over SQLite (the embedded default) and PostgreSQL
//! (several replicas). It holds the audit log with its checkpoints, the SMS
//! outbox, security checks, opt-outs, idempotency keys, the token signing
//! keys and the codes of verification receipts. Registry data is never stored here: it lives only in the in-memory cache.

pub mod audit_summary;
mod citizen_queries;
pub mod group;
mod guess_queries;
mod pg_audit;
mod postgres;
mod queries;
mod receipts;
mod schema;
mod signal_queries;
mod sms_queries;
mod sqlite;
mod sqlite_audit;
mod sqlite_checkpoint;
mod sqlite_outbox;
mod sqlite_reads;
mod stats_queries;

pub use citizen_queries::WatchRow;
pub use guess_queries::{ClaimMismatchRow, SeenValue};
pub use signal_queries::{MAX_EVENT_IDS, SignalGroup, SignalSql};
pub use sqlite_audit::SqliteAppender;

use crate::audit::{AuditEvent, AuditFilter, Checkpoint, NewEvent, Sealer};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// From the SQLite connection the audit writer owns.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// From the PostgreSQL connection the audit writer owns.
    #[error("database error: {0}")]
    Pg(String),
    #[error("store is unavailable")]
    Unavailable,
    #[error("unsupported store url: {0}")]
    Url(String),
    /// Migrations go forward only: a store a newer release has migrated is not opened.
    #[error(
        "the store's schema is at migration {found}, newer than this binary knows (up to {known}): a newer release \
         has migrated it; run that release, or restore the backup taken before the upgrade"
    )]
    SchemaTooNew { found: i64, known: i64 },
}

/// Refuses a store whose newest applied migration (`found`) is past the last of `known`.
fn refuse_newer_schema(found: Option<i64>, known: &[(i64, &str)]) -> Result<(), StoreError> {
    let known = known.last().map_or(0, |(v, _)| *v);
    match found {
        Some(found) if found > known => Err(StoreError::SchemaTooNew { found, known }),
        _ => Ok(()),
    }
}

/// A stored signing key (PKCS#8 PEM).
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub private_pem: String,
    pub created_at: String,
}

/// The chain head: the last sequence number, its hash, and the last signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
    pub checkpoint_seq: i64,
}

/// Which way a query of the audit log pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Newest first, below `before` (the API's order).
    NewestFirst { before: Option<i64> },
    /// Chain order, above `after` (exports).
    OldestFirst { after: i64 },
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long an operation may wait for a lock (SQLite) or a connection (PostgreSQL).
    pub busy_timeout: Duration,
    /// SQLite: `synchronous = FULL` (else `NORMAL`).
    pub fsync_each_commit: bool,
    /// PostgreSQL: pool size.
    pub max_connections: u32,
    /// SQLite: WAL checkpoints on a thread of their own (`sqlite_checkpoint`),
    /// else by the committing connection (SQLite's default). Not a setting:
    /// the benchmark's comparison of the two.
    pub background_checkpoints: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(1),
            fsync_each_commit: true,
            max_connections: 16,
            background_checkpoints: true,
        }
    }
}

impl From<&crate::config::StoreSettings> for StoreOptions {
    fn from(s: &crate::config::StoreSettings) -> Self {
        StoreOptions {
            busy_timeout: Duration::from_millis(s.busy_timeout_ms),
            fsync_each_commit: s.sqlite_synchronous == "full",
            max_connections: s.max_connections,
            background_checkpoints: true,
        }
    }
}

/// Turns at SQLite's one write lock for the writers of this process, taken
/// in arrival order (a `tokio` mutex is fair). Without them, a writer that
/// waits in SQLite's busy handler sleeps and polls, and under load it can miss
/// every short gap between the audit writer's commits until its busy timeout
/// ends. PostgreSQL has row locks and needs no turns.
#[derive(Clone, Default)]
pub struct WriteTurns(std::sync::Arc<tokio::sync::Mutex<()>>);

impl WriteTurns {
    pub async fn take(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.0.clone().lock_owned().await
    }

    /// For a writer on a thread of its own (never on an async worker).
    pub fn blocking_take(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.blocking_lock()
    }
}

/// A write transaction; on SQLite it holds this process's write turn until
/// it commits or is dropped.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Store::Sqlite($s) => $call,
            Store::Postgres($s) => $call,
        }
    };
}

impl Store {
    /// Opens the store named by `url` and creates or migrates its schema.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            Ok(Store::Sqlite(sqlite::SqliteStore::open(path, options).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::PgStore::open(url, options.busy_timeout, options.max_connections).await?))
        } else {
            Err(StoreError::Url(url.split("://").next().unwrap_or_default().to_owned()))
        }
    }

    /// The chain head as recorded beside the events (None before migration 4).
    pub async fn recorded_head(&self) -> Result<Option<ChainHead>, StoreError> {
        dispatch!(self, s => s.recorded_head().await)
    }

    /// Seals and appends events in one transaction that holds the chain head
    /// (so replicas extend one chain); durable when this returns Ok.
    /// On SQLite the audit writer appends on a connection of its own instead
    /// ([`SqliteAppender`]); this opens one for the call.
    pub async fn append_events(&self, events: &[NewEvent], sealer: &Sealer) -> Result<Vec<AuditEvent>, StoreError> {
        match self {
            Store::Sqlite(s) => {
                let mut appender = s.audit_appender()?;
                let (events, sealer) = (events.to_vec(), sealer.clone());
                tokio::task::spawn_blocking(move || appender.append(&events, &sealer))
                    .await
                    .map_err(|_| StoreError::Unavailable)?
            }
            Store::Postgres(s) => s.append_events(events, sealer).await,
        }
    }

    /// Signs a checkpoint of the head if events came after the last one.
    pub async fn checkpoint_head(&self, sealer: &Sealer) -> Result<Option<Checkpoint>, StoreError> {
        dispatch!(self, s => s.checkpoint_head(sealer).await)
    }

    /// Every checkpoint, in sequence order.
    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        dispatch!(self, s => s.checkpoints().await)
    }

    /// Events matching `filter`, one page in the given direction.
    pub async fn query_events(
        &self,
        filter: &AuditFilter,
        page: Page,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        dispatch!(self, s => s.query_events(filter, page, limit).await)
    }

    pub async fn count_events(&self, filter: &AuditFilter) -> Result<i64, StoreError> {
        dispatch!(self, s => s.count_events(filter).await)
    }

    /// Events matching `filter` per UTC day, days ascending.
    pub async fn daily_volume(&self, filter: &AuditFilter) -> Result<Vec<(String, i64)>, StoreError> {
        dispatch!(self, s => s.daily_volume(filter).await)
    }

    /// Events in chain order with `seq > after`, at most `limit` of them.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        dispatch!(self, s => s.events_after(after, limit).await)
    }

    /// The newest checkpoint signed before `cutoff`.
    pub async fn checkpoint_before(&self, cutoff: &str) -> Result<Option<Checkpoint>, StoreError> {
        dispatch!(self, s => s.checkpoint_before(cutoff).await)
    }

    /// Removes events up to `through_seq` (already written to an archive).
    pub async fn remove_archived(
        &self,
        through_seq: i64,
        file: &str,
        sha256: &str,
        at: &str,
    ) -> Result<u64, StoreError> {
        dispatch!(self, s => s.remove_archived(through_seq, file, sha256, at).await)
    }

    /// Whether a write could be made now.
    pub async fn probe(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.probe().await)
    }

    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        dispatch!(self, s => s.signing_keys().await)
    }

    /// Stores `key` if the store holds no key yet (atomically); returns the keys held.
    pub async fn first_signing_key(&self, key: &StoredKey) -> Result<Vec<StoredKey>, StoreError> {
        dispatch!(self, s => s.first_signing_key(key).await)
    }

    /// Adds a token signing key (see `auth::keys::rotate_stored`).
    pub async fn add_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        dispatch!(self, s => s.add_signing_key(key).await)
    }
}

/// A security check as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityCheckRow {
    pub id: String,
    pub client_id: String,
    pub national_id: String,
    pub check_type: String,
    /// `pending`, `cleared`, `not_cleared` or `failed`.
    pub status: String,
    pub ticket: Option<String>,
    pub submitted_at: String,
    pub decided_at: Option<String>,
    pub next_poll_at: String,
    pub attempts: i64,
    pub callback_url: Option<String>,
    /// None (no callback), `pending`, `delivered` or `failed`.
    pub callback_state: Option<String>,
    pub callback_attempts: i64,
    pub next_callback_at: Option<String>,
}

impl Store {
    pub async fn insert_security_check(&self, row: &SecurityCheckRow) -> Result<(), StoreError> {
        dispatch!(self, s => s.insert_security_check(row).await)
    }

    pub async fn security_check(&self, id: &str) -> Result<Option<SecurityCheckRow>, StoreError> {
        dispatch!(self, s => s.security_check(id).await)
    }

    /// Claims pending checks due at `now` until `lease_until`, oldest first:
    /// no other replica sees them due until the lease ends.
    pub async fn claim_due_security_checks(
        &self,
        now: &str,
        lease_until: &str,
        limit: u32,
    ) -> Result<Vec<SecurityCheckRow>, StoreError> {
        dispatch!(self, s => s.claim_due_security_checks(now, lease_until, limit).await)
    }

    /// Claims decided checks whose callback is due at `now`, as above.
    pub async fn claim_due_callbacks(
        &self,
        now: &str,
        lease_until: &str,
        limit: u32,
    ) -> Result<Vec<SecurityCheckRow>, StoreError> {
        dispatch!(self, s => s.claim_due_callbacks(now, lease_until, limit).await)
    }

    /// Writes back the worker's progress on one check (all mutable columns).
    pub async fn update_security_check(&self, row: &SecurityCheckRow) -> Result<(), StoreError> {
        dispatch!(self, s => s.update_security_check(row).await)
    }
}

/// An SMS in the outbox: notifications and replies alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsMessageRow {
    pub id: String,
    pub client_id: String,
    /// `notification` (POST /v1/sms) or `reply` (an answer to an inbound message).
    pub kind: String,
    pub to_e164: String,
    pub case_ref: Option<String>,
    pub lang: String,
    pub status_key: Option<String>,
    pub text: String,
    pub encoding: String,
    pub segments: i64,
    /// `queued`, `sent`, `delivered`, `undelivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    pub created_at: String,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
    pub smsc_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsHistoryRow {
    pub status: String,
    pub at: String,
    pub detail: Option<String>,
}

/// A delivery report for one message.
#[derive(Debug, Clone)]
pub struct SmsDelivery {
    pub id: String,
    pub delivered: bool,
    pub at: String,
    pub error: Option<String>,
}

/// What a delivery report did to its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryEffect {
    /// No such message.
    Unknown,
    /// The message took the report's status.
    Moved,
    /// The message had that status already (a report repeated by the SMSC).
    Again,
}

/// The SMSC took a message.
#[derive(Debug, Clone)]
pub struct SmsSent {
    pub id: String,
    pub smsc_id: String,
    pub at: String,
    pub attempts: i64,
}

/// What accepting a message under an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsAccept {
    Inserted,
    /// Not stored: the recipient opted out of notifications.
    OptedOut,
    /// The key was used before: its message and the hash of its body.
    Existing {
        message_id: String,
        body_hash: String,
    },
}

/// The idempotency record of one accepted message.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub client_id: String,
    pub key: String,
    pub body_hash: String,
}

impl Store {
    /// Stores new messages (each with its idempotency key) in one
    /// transaction; a message whose key was used before, or a notification
    /// to a recipient who opted out, is not stored.
    pub async fn accept_sms_batch(
        &self,
        items: Vec<(Option<IdempotencyKey>, SmsMessageRow)>,
    ) -> Result<Vec<SmsAccept>, StoreError> {
        match self {
            // The batch moves to the outbox's blocking task.
            Store::Sqlite(s) => s.accept_sms_batch(items).await,
            Store::Postgres(s) => s.accept_sms_batch(&items).await,
        }
    }

    pub async fn sms_message(&self, id: &str) -> Result<Option<SmsMessageRow>, StoreError> {
        match self {
            // On the calling thread when SQLite lets it (every delivery report
            // reads its message first), else the pool.
            Store::Sqlite(s) => match s.sms_message_now(id) {
                Ok(message) => Ok(message),
                Err(_) => s.sms_message(id).await,
            },
            Store::Postgres(s) => s.sms_message(id).await,
        }
    }

    pub async fn sms_history(&self, id: &str) -> Result<Vec<SmsHistoryRow>, StoreError> {
        dispatch!(self, s => s.sms_history(id).await)
    }

    /// Claims queued messages due at `now` until `lease_until`, oldest first.
    pub async fn claim_due_sms(
        &self,
        now: &str,
        lease_until: &str,
        limit: u32,
    ) -> Result<Vec<SmsMessageRow>, StoreError> {
        dispatch!(self, s => s.claim_due_sms(now, lease_until, limit).await)
    }

    /// Records, in one transaction, that the SMSC took these messages.
    pub async fn sms_record_sent(&self, sent: &[SmsSent]) -> Result<(), StoreError> {
        dispatch!(self, s => s.sms_record_sent(sent).await)
    }

    /// Records a failed attempt: retry at `next_at`, or `failed` when `next_at`
    /// is None; whether the message became `failed` by this call.
    pub async fn sms_mark_retry(
        &self,
        id: &str,
        attempts: i64,
        next_at: Option<&str>,
        error: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.sms_mark_retry(id, attempts, next_at, error, at).await)
    }

    /// Applies delivery reports in one transaction; what each did.
    pub async fn sms_deliveries(&self, reports: &[SmsDelivery]) -> Result<Vec<DeliveryEffect>, StoreError> {
        dispatch!(self, s => s.sms_deliveries(reports).await)
    }

    pub async fn sms_set_opt_out(&self, phone: &str, out: bool, at: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.sms_set_opt_out(phone, out, at).await)
    }

    pub async fn sms_is_opted_out(&self, phone: &str) -> Result<bool, StoreError> {
        match self {
            // On the calling thread when SQLite lets it (the dispatcher asks
            // before each notification it sends), else the pool.
            Store::Sqlite(s) => match s.sms_is_opted_out_now(phone) {
                Ok(out) => Ok(out),
                Err(_) => s.sms_is_opted_out(phone).await,
            },
            Store::Postgres(s) => s.sms_is_opted_out(phone).await,
        }
    }

    /// The latest notifications that reached the SMSC for `phone`, newest first.
    pub async fn sms_recent_notifications(&self, phone: &str, limit: u32) -> Result<Vec<SmsMessageRow>, StoreError> {
        dispatch!(self, s => s.sms_recent_notifications(phone, limit).await)
    }

    /// Messages waiting in the outbox.
    pub async fn sms_queued(&self) -> Result<i64, StoreError> {
        dispatch!(self, s => s.sms_queued().await)
    }
}

/// Citizens asking 5960 about their data (CONTRACT §12).
impl Store {
    /// Events about `subject` since `since` (inclusive) with one of `actions`, newest first.
    pub async fn subject_events_since(
        &self,
        subject: &str,
        since: &str,
        actions: &[&str],
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        dispatch!(self, s => s.subject_events_since(subject, since, actions, limit).await)
    }

    pub async fn watch_set(&self, national_id: &str, phone: &str, lang: &str, since: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.watch_set(national_id, phone, lang, since).await)
    }

    pub async fn watch_get(&self, national_id: &str) -> Result<Option<WatchRow>, StoreError> {
        dispatch!(self, s => s.watch_get(national_id).await)
    }

    /// True when this caller may send the next alert for `national_id` (none after `not_after`).
    pub async fn watch_claim_alert(&self, national_id: &str, at: &str, not_after: &str) -> Result<bool, StoreError> {
        dispatch!(self, s => s.watch_claim_alert(national_id, at, not_after).await)
    }

    /// Watches due for an alert that have shown events since their last one.
    pub async fn watches_with_pending(
        &self,
        not_after: &str,
        actions: &[&str],
        hidden: &[&str],
        limit: u32,
    ) -> Result<Vec<WatchRow>, StoreError> {
        dispatch!(self, s => s.watches_with_pending(not_after, actions, hidden, limit).await)
    }

    /// Ends every alert to `phone`; how many there were.
    pub async fn watch_remove_phone(&self, phone: &str) -> Result<u64, StoreError> {
        dispatch!(self, s => s.watch_remove_phone(phone).await)
    }
}
