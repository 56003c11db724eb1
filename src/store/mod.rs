//! The store: one interface over SQLite (the embedded default) and PostgreSQL.
//!
//! It holds the audit log and the gateway's signing keys. Registry data is
//! never stored here: it lives only in the in-memory cache.

mod schema;
mod sqlite;

use crate::audit::{AuditEvent, AuditFilter};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("store is unavailable")]
    Unavailable,
    #[error("unsupported store url: {0}")]
    Url(String),
}

/// A stored signing key (PKCS#8 PEM).
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub private_pem: String,
    pub created_at: String,
}

/// The chain head: the last sequence number and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

#[derive(Clone)]
pub enum Store {
    Sqlite(sqlite::SqliteStore),
}

impl Store {
    /// Opens the store named by `url` and creates or migrates its schema.
    pub async fn open(url: &str, busy_timeout: Duration) -> Result<Store, StoreError> {
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            Ok(Store::Sqlite(sqlite::SqliteStore::open(path, busy_timeout).await?))
        } else {
            Err(StoreError::Url(url.split("://").next().unwrap_or_default().to_owned()))
        }
    }

    /// The last event of the chain, if any.
    pub async fn chain_head(&self) -> Result<Option<ChainHead>, StoreError> {
        match self {
            Store::Sqlite(s) => s.chain_head().await,
        }
    }

    /// Appends sealed events in one transaction; durable when this returns Ok.
    pub async fn append_events(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.append_events(events).await,
        }
    }

    /// Events matching `filter`, newest first, with `seq < before` when given.
    pub async fn query_events(
        &self,
        filter: &AuditFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        match self {
            Store::Sqlite(s) => s.query_events(filter, before, limit).await,
        }
    }

    /// Events in chain order with `seq > after`, at most `limit` of them.
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
        match self {
            Store::Sqlite(s) => s.events_after(after, limit).await,
        }
    }

    /// Whether a write could be made now (takes and releases the write lock).
    pub async fn probe(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.probe().await,
        }
    }

    pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        match self {
            Store::Sqlite(s) => s.signing_keys().await,
        }
    }

    /// Inserts a key unless one with that kid exists.
    pub async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.insert_signing_key(key).await,
        }
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
        match self {
            Store::Sqlite(s) => s.insert_security_check(row).await,
        }
    }

    pub async fn security_check(&self, id: &str) -> Result<Option<SecurityCheckRow>, StoreError> {
        match self {
            Store::Sqlite(s) => s.security_check(id).await,
        }
    }

    /// Pending checks whose next poll is due at `now`, oldest first.
    pub async fn due_security_checks(&self, now: &str, limit: u32) -> Result<Vec<SecurityCheckRow>, StoreError> {
        match self {
            Store::Sqlite(s) => s.due_security_checks(now, limit).await,
        }
    }

    /// Decided checks whose callback is due at `now`.
    pub async fn due_callbacks(&self, now: &str, limit: u32) -> Result<Vec<SecurityCheckRow>, StoreError> {
        match self {
            Store::Sqlite(s) => s.due_callbacks(now, limit).await,
        }
    }

    /// Writes back the worker's progress on one check (all mutable columns).
    pub async fn update_security_check(&self, row: &SecurityCheckRow) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.update_security_check(row).await,
        }
    }
}
