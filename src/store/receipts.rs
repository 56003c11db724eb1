//! Receipts (CONTRACT §11): the signed code of each receipt, for its QR
//! endpoints. A row is inserted by the audit append, in the transaction of its
//! verify call's event (see `sqlite_audit` and `postgres::APPEND`), so a
//! receipt exists exactly when its event does. Rows past their expiry are
//! deleted by [`Store::delete_expired_receipts`]: an expired receipt is worth
//! nothing, and a code is still personal enough (center, case) not to keep.

use super::{Store, StoreError};
use crate::receipts::StoredReceipt;

/// The columns, in the order every insert binds them.
pub(super) const RECEIPT_COLUMNS: &str = "id, client_id, kid, code, issued_at, expires_at";

/// The insert of the audit appenders (SQLite's numbered parameters).
pub(super) const INSERT_RECEIPT: &str =
    "INSERT INTO receipts (id, client_id, kid, code, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Deletes at most this many expired rows per statement, so that a clean-up
/// never holds SQLite's write lock for long.
const DELETE_CHUNK: i64 = 1000;

macro_rules! receipt_queries {
    ($store:ty, $row:ty) => {
        impl $store {
            pub async fn receipt(&self, id: &str) -> Result<Option<crate::receipts::StoredReceipt>, super::StoreError> {
                use sqlx::Row;
                let sql = format!("SELECT {} FROM receipts WHERE id = $1", super::receipts::RECEIPT_COLUMNS);
                let row: Option<$row> =
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
                row.map(|r| {
                    Ok(crate::receipts::StoredReceipt {
                        id: r.try_get(0)?,
                        client_id: r.try_get(1)?,
                        kid: r.try_get(2)?,
                        code: r.try_get(3)?,
                        issued_at: r.try_get(4)?,
                        expires_at: r.try_get(5)?,
                    })
                })
                .transpose()
            }

            pub async fn delete_expired_receipts(&self, now: &str, chunk: i64) -> Result<u64, super::StoreError> {
                let mut deleted = 0;
                loop {
                    let _turn = self.write_turn().await;
                    let done = sqlx::query(
                        "DELETE FROM receipts WHERE id IN \
                         (SELECT id FROM receipts WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)",
                    )
                    .bind(now)
                    .bind(chunk)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                    deleted += done;
                    if done < chunk as u64 {
                        return Ok(deleted);
                    }
                }
            }

            pub async fn receipt_kids_in_use(&self, now: &str) -> Result<Vec<String>, super::StoreError> {
                Ok(sqlx::query_scalar("SELECT DISTINCT kid FROM receipts WHERE expires_at > $1")
                    .bind(now)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }
    };
}

pub(super) use receipt_queries;

impl Store {
    /// The receipt `id`, whoever it was issued to (the caller checks that).
    pub async fn receipt(&self, id: &str) -> Result<Option<StoredReceipt>, StoreError> {
        match self {
            Store::Sqlite(s) => s.receipt(id).await,
            Store::Postgres(s) => s.receipt(id).await,
        }
    }

    /// Deletes receipts that expired at or before `now` (RFC 3339); returns how many.
    pub async fn delete_expired_receipts(&self, now: &str) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.delete_expired_receipts(now, DELETE_CHUNK).await,
            Store::Postgres(s) => s.delete_expired_receipts(now, DELETE_CHUNK).await,
        }
    }

    /// The ids (base64url) of the keys that signed a receipt still valid at `now`.
    pub async fn receipt_kids_in_use(&self, now: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Sqlite(s) => s.receipt_kids_in_use(now).await,
            Store::Postgres(s) => s.receipt_kids_in_use(now).await,
        }
    }
}
