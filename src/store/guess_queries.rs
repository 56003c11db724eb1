//! The claim-guessing stop's rows (CONTRACT §13): per client and subject,
//! the keyed hash of each claim value that mismatched, and when. Values are
//! never stored in clear; the HMAC key is generated once and kept here, so
//! that every replica hashes a value alike and counts it once.

use super::{Store, StoreError};

/// One mismatching claim value, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMismatchRow {
    pub client_id: String,
    pub subject: String,
    pub claim: String,
    pub value_hash: String,
    pub at: String,
}

/// A distinct value of one claim and the last time it mismatched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenValue {
    pub claim: String,
    pub value_hash: String,
    pub last_at: String,
}

/// One row per distinct value (per client, subject and claim), with the
/// last time it mismatched: a value sent again moves its time on instead of
/// adding a row, so the table and the request path's read stay as small as
/// the number of distinct values, however often one is repeated. Migration
/// 9 (SQLite) / 7 (PostgreSQL) folds the earlier one-row-per-mismatch table.
pub(super) const MIGRATION: &str = r#"
CREATE TABLE claim_values (
    client_id   TEXT NOT NULL,
    subject     TEXT NOT NULL,
    claim       TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    at          TEXT NOT NULL,
    PRIMARY KEY (client_id, subject, claim, value_hash)
);
INSERT INTO claim_values (client_id, subject, claim, value_hash, at)
    SELECT client_id, subject, claim, value_hash, MAX(at) FROM claim_mismatches
    GROUP BY client_id, subject, claim, value_hash;
DROP TABLE claim_mismatches;
ALTER TABLE claim_values RENAME TO claim_mismatches;
CREATE INDEX claim_mismatches_at ON claim_mismatches (at);
"#;

/// What a mismatching value does to its row: added, or its time moved on.
macro_rules! on_conflict {
    () => {
        " ON CONFLICT (client_id, subject, claim, value_hash) DO UPDATE \
         SET at = excluded.at WHERE excluded.at > claim_mismatches.at"
    };
}
pub(super) use on_conflict;
pub(super) const ON_CONFLICT: &str = on_conflict!();

/// A mismatching value's row, written by the audit writer in the event's
/// transaction (SQLite's appender; PostgreSQL's statement has its own CTE).
pub(super) const INSERT_MISMATCH: &str = concat!(
    "INSERT INTO claim_mismatches (client_id, subject, claim, value_hash, at) VALUES (?1, ?2, ?3, ?4, ?5)",
    on_conflict!()
);

/// The mismatching values of a batch, one per row of the table (the latest
/// of a value the batch holds twice: one statement may not change a row twice).
pub(super) fn distinct_mismatches(events: &[crate::audit::NewEvent]) -> Vec<&ClaimMismatchRow> {
    let mut latest: std::collections::BTreeMap<(&str, &str, &str, &str), &ClaimMismatchRow> =
        std::collections::BTreeMap::new();
    for m in events.iter().flat_map(|e| &e.claim_mismatches) {
        let key = (m.client_id.as_str(), m.subject.as_str(), m.claim.as_str(), m.value_hash.as_str());
        match latest.get(&key) {
            Some(seen) if seen.at >= m.at => {}
            _ => {
                latest.insert(key, m);
            }
        }
    }
    latest.into_values().collect()
}

/// The query of [`Store::claim_values_seen`] (both dialects bind alike).
pub(super) const VALUES_SEEN: &str = "SELECT claim, value_hash, MAX(at) FROM claim_mismatches \
     WHERE client_id = $1 AND subject = $2 AND at >= $3 GROUP BY claim, value_hash";

macro_rules! guess_queries {
    ($store:ty, $row:ty) => {
        impl $store {
            pub async fn claim_hash_key(&self, fresh: &str) -> Result<String, super::StoreError> {
                {
                    let _turn = self.write_turn().await;
                    sqlx::query("INSERT INTO claim_hash_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                        .bind(fresh)
                        .execute(&self.pool)
                        .await?;
                }
                Ok(sqlx::query_scalar("SELECT key FROM claim_hash_key WHERE id = 1").fetch_one(&self.pool).await?)
            }

            /// Through the pool (PostgreSQL; SQLite's fallback, see `sqlite_reads`).
            pub async fn claim_values_seen_pooled(
                &self,
                client_id: &str,
                subject: &str,
                since: &str,
            ) -> Result<Vec<super::guess_queries::SeenValue>, super::StoreError> {
                use sqlx::Row;
                let rows: Vec<$row> = sqlx::query(super::guess_queries::VALUES_SEEN)
                    .bind(client_id)
                    .bind(subject)
                    .bind(since)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok(super::guess_queries::SeenValue {
                            claim: r.try_get(0)?,
                            value_hash: r.try_get(1)?,
                            last_at: r.try_get(2)?,
                        })
                    })
                    .collect()
            }

            pub async fn delete_claim_mismatches_before(&self, cutoff: &str) -> Result<u64, super::StoreError> {
                let _turn = self.write_turn().await;
                Ok(sqlx::query("DELETE FROM claim_mismatches WHERE at < $1")
                    .bind(cutoff)
                    .execute(&self.pool)
                    .await?
                    .rows_affected())
            }
        }
    };
}

pub(super) use guess_queries;

impl Store {
    /// The key claim values are hashed with: `fresh` if the store held none yet.
    pub async fn claim_hash_key(&self, fresh: &str) -> Result<String, StoreError> {
        match self {
            Store::Sqlite(s) => s.claim_hash_key(fresh).await,
            Store::Postgres(s) => s.claim_hash_key(fresh).await,
        }
    }

    /// Each distinct (claim, value hash) that mismatched for `client_id` and
    /// `subject` at or after `since`, with its latest time.
    pub async fn claim_values_seen(
        &self,
        client_id: &str,
        subject: &str,
        since: &str,
    ) -> Result<Vec<SeenValue>, StoreError> {
        match self {
            // On the calling thread when SQLite lets it (no hand-off), else the pool.
            Store::Sqlite(s) => match s.claim_values_seen_now(client_id, subject, since) {
                Ok(seen) => Ok(seen),
                Err(_) => s.claim_values_seen_pooled(client_id, subject, since).await,
            },
            // With the concurrent callers' reads in one query; alone if that is not running.
            Store::Postgres(s) if s.seen.is_running() => s.seen.read(client_id, subject, since).await,
            Store::Postgres(s) => s.claim_values_seen_pooled(client_id, subject, since).await,
        }
    }

    /// Deletes rows older than `cutoff` (outside every window; the clean-up
    /// runs often, so each delete is short); returns how many.
    pub async fn delete_claim_mismatches_before(&self, cutoff: &str) -> Result<u64, StoreError> {
        match self {
            Store::Sqlite(s) => s.delete_claim_mismatches_before(cutoff).await,
            Store::Postgres(s) => s.delete_claim_mismatches_before(cutoff).await,
        }
    }
}

impl super::sqlite::SqliteStore {
    /// [`Store::claim_values_seen`] on the calling thread (see `sqlite_reads`).
    pub(super) fn claim_values_seen_now(
        &self,
        client_id: &str,
        subject: &str,
        since: &str,
    ) -> Result<Vec<SeenValue>, StoreError> {
        self.readers().read(|conn| {
            let mut query = conn.prepare_cached(VALUES_SEEN)?;
            let rows = query.query_map(rusqlite::params![client_id, subject, since], |r| {
                Ok(SeenValue { claim: r.get(0)?, value_hash: r.get(1)?, last_at: r.get(2)? })
            })?;
            rows.collect()
        })
    }
}

/// Most reads in one query.
const MAX_SEEN_READS: usize = 128;

/// The claim-guessing stop's reads on PostgreSQL. Each verification that
/// carries claims reads its values before answering, a round trip to the
/// server through the pool; at 64 concurrent hits that read cost the hit
/// path 72 % of its throughput (BENCHMARKS.md). Concurrent reads are handed
/// to one task that asks for all of them in one query (the batcher of the
/// group commit), so the server and the pool see one query per round trip.
#[derive(Clone)]
pub(super) struct SeenReads(super::group::Batcher<(String, String, String), Vec<SeenValue>>);

/// The values seen of many (client, subject, since) at once, by position.
const VALUES_SEEN_MANY: &str = "SELECT k.i, m.claim, m.value_hash, MAX(m.at) \
     FROM UNNEST($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(client_id, subject, since, i) \
     JOIN claim_mismatches m ON m.client_id = k.client_id AND m.subject = k.subject AND m.at >= k.since \
     GROUP BY k.i, m.claim, m.value_hash";

impl SeenReads {
    /// Starts the reading task on the current runtime; it ends when the
    /// last handle is dropped (it holds the pool, not the store).
    pub(super) fn start(pool: sqlx::PgPool) -> SeenReads {
        let (batcher, _task) = super::group::Batcher::start("claim values read", MAX_SEEN_READS, move |items| {
            let pool = pool.clone();
            async move { read_many(&pool, items).await }
        });
        SeenReads(batcher)
    }

    pub(super) fn is_running(&self) -> bool {
        self.0.is_running()
    }

    pub(super) async fn read(&self, client_id: &str, subject: &str, since: &str) -> Result<Vec<SeenValue>, StoreError> {
        self.0.submit((client_id.to_owned(), subject.to_owned(), since.to_owned())).await
    }
}

async fn read_many(
    pool: &sqlx::PgPool,
    items: Vec<(String, String, String)>,
) -> Result<Vec<Vec<SeenValue>>, StoreError> {
    use sqlx::Row;
    let n = items.len();
    let (mut clients, mut subjects, mut sinces) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    for (client_id, subject, since) in items {
        clients.push(client_id);
        subjects.push(subject);
        sinces.push(since);
    }
    let rows = sqlx::query(VALUES_SEEN_MANY).bind(clients).bind(subjects).bind(sinces).fetch_all(pool).await?;
    let mut seen = vec![Vec::new(); n];
    for r in rows {
        let i: i64 = r.try_get(0)?;
        let slot = usize::try_from(i - 1).ok().and_then(|i| seen.get_mut(i)).ok_or(StoreError::Unavailable)?;
        slot.push(SeenValue { claim: r.try_get(1)?, value_hash: r.try_get(2)?, last_at: r.try_get(3)? });
    }
    Ok(seen)
}
