//! The queries both backends share, written once. SQL text uses `$n`
//! placeholders, which SQLite and PostgreSQL both understand; what differs
//! (locking, write transactions, the history's tie-break) each backend names
//! in a few associated constants and methods:
//!
//! - `FOR_UPDATE`: row lock on the chain head (PostgreSQL; SQLite's
//!   `BEGIN IMMEDIATE` already serialises writers),
//! - `SKIP_LOCKED`: how a claim skips rows another replica is claiming,
//! - `HISTORY_ORDER`: insertion order of `sms_history`,
//! - `BYTE_ORDER`: how a text comparison asks for byte order (PostgreSQL's
//!   own order follows the database's collation),
//! - `SUMMARY_UPSERT`: the statement that adds a batch's counts to the stats
//!   summary where no trigger does (SQLite),
//! - `begin_write()`: a transaction that writes.
//!
//! Values are always bound, never spliced; only constant column lists and
//! these constants are formatted into SQL.

pub(super) const EVENT_COLUMNS: &str = "seq, id, at, client_id, center_id, operator_id, action, subject, purpose, \
     case_ref, outcome, http_status, cache, duration_ms, prev_hash, hash";

pub(super) const CHECK_COLUMNS: &str = "id, client_id, national_id, check_type, status, ticket, submitted_at, \
     decided_at, next_poll_at, attempts, callback_url, callback_state, callback_attempts, next_callback_at";

pub(super) const SMS_COLUMNS: &str = "id, client_id, kind, to_e164, case_ref, lang, status_key, text, encoding, \
     segments, status, attempts, created_at, sent_at, delivered_at, last_error, next_attempt_at, smsc_id";

pub(super) const CHECKPOINT_COLUMNS: &str = "seq, hash, at, prev_seq, key_id, signature";

/// How [`shared_queries`]' `push_filter_as` writes the filtered columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Columns {
    /// As they are: the planner may read through their indexes.
    Indexed,
    /// As expressions (`col || ''`), which no index serves.
    Unindexed,
}

macro_rules! shared_queries {
    ($store:ty, $db:ty, $row:ty) => {
        use super::queries::{CHECK_COLUMNS, CHECKPOINT_COLUMNS, EVENT_COLUMNS, SMS_COLUMNS};
        use super::{
            ChainHead, DeliveryEffect, IdempotencyKey, Page, SecurityCheckRow, SmsAccept, SmsDelivery, SmsHistoryRow, SmsMessageRow,
            SmsSent, StoreError, StoredKey,
        };
        use crate::audit::{AuditEvent, AuditFilter, Checkpoint, NewEvent, Sealer};
        use sqlx::{QueryBuilder, Row};

        fn row_to_event(r: &$row) -> Result<AuditEvent, StoreError> {
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

        fn row_to_key(r: &$row) -> StoredKey {
            StoredKey { kid: r.get(0), private_pem: r.get(1), created_at: r.get(2) }
        }

        fn row_to_checkpoint(r: &$row) -> Result<Checkpoint, StoreError> {
            Ok(Checkpoint {
                seq: r.try_get(0)?,
                hash: r.try_get(1)?,
                at: r.try_get(2)?,
                prev_seq: r.try_get(3)?,
                key_id: r.try_get(4)?,
                signature: r.try_get(5)?,
            })
        }

        fn row_to_check(r: &$row) -> Result<SecurityCheckRow, StoreError> {
            Ok(SecurityCheckRow {
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

        /// Appends the filter's conditions (all bound) to a `WHERE 1=1` query.
        fn push_filter(qb: &mut QueryBuilder<$db>, filter: &AuditFilter) {
            push_filter_as(qb, filter, super::queries::Columns::Indexed)
        }

        /// `push_filter`, with the columns other than `at` written so that
        /// their indexes are used or not (`Unindexed`: a short window, read
        /// through the time index).
        fn push_filter_as(qb: &mut QueryBuilder<$db>, filter: &AuditFilter, columns: super::queries::Columns) {
            let col = |c: &str| match columns {
                super::queries::Columns::Indexed => c.to_owned(),
                super::queries::Columns::Unindexed => format!("({c} || '')"),
            };
            for (column, value) in filter.equalities() {
                qb.push(format!(" AND {} = ", col(column))).push_bind(value.to_owned());
            }
            if let Some(code) = &filter.governorate {
                // Center IDs begin with their governorate's code and a hyphen;
                // '.' follows '-' in byte order, so this is one index range.
                let (order, center) = (<$store>::BYTE_ORDER, col("center_id"));
                qb.push(format!(" AND {center}{order} >= ")).push_bind(format!("{code}-"));
                qb.push(format!(" AND {center}{order} < ")).push_bind(format!("{code}."));
            }
            if let Some(from) = &filter.from {
                qb.push(" AND at >= ").push_bind(from.clone());
            }
            if let Some(to) = &filter.to {
                qb.push(" AND at < ").push_bind(to.clone());
            }
        }

        impl $store {
            /// The chain head as recorded beside the events.
            pub async fn recorded_head(&self) -> Result<Option<ChainHead>, StoreError> {
                let row = sqlx::query("SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| ChainHead { seq: r.get(0), hash: r.get(1), checkpoint_seq: r.get(2) }))
            }

            async fn lock_head(tx: &mut super::WriteTx<$db>) -> Result<ChainHead, StoreError> {
                let sql = format!("SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1{}", Self::FOR_UPDATE);
                let r = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_one(&mut **tx).await?;
                Ok(ChainHead { seq: r.get(0), hash: r.get(1), checkpoint_seq: r.get(2) })
            }

            async fn insert_checkpoint(
                tx: &mut super::WriteTx<$db>,
                c: &Checkpoint,
            ) -> Result<(), StoreError> {
                let sql = format!(
                    "INSERT INTO audit_checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(c.seq)
                    .bind(&c.hash)
                    .bind(&c.at)
                    .bind(c.prev_seq)
                    .bind(&c.key_id)
                    .bind(&c.signature)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            /// Seals `events` after the head and commits them in one
            /// transaction that holds the head, signing a checkpoint when due;
            /// durable when this returns Ok.
            pub async fn append_events_locked(
                &self,
                events: &[NewEvent],
                sealer: &Sealer,
            ) -> Result<Vec<AuditEvent>, StoreError> {
                let mut tx = self.begin_write().await?;
                let head = Self::lock_head(&mut tx).await?;
                let sealed = crate::audit::seal(&head, events);
                let Some(last) = sealed.last() else { return Ok(sealed) };
                // Multi-row inserts keep a batch to a few statements (16
                // parameters a row, well under both backends' limits).
                for chunk in sealed.chunks(1000) {
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new(format!("INSERT INTO audit_events ({EVENT_COLUMNS}) "));
                    qb.push_values(chunk, |mut b, e| {
                        b.push_bind(e.seq)
                            .push_bind(e.id.clone())
                            .push_bind(e.at.clone())
                            .push_bind(e.client_id.clone())
                            .push_bind(e.center_id.clone())
                            .push_bind(e.operator_id.clone())
                            .push_bind(e.action.as_str())
                            .push_bind(e.subject.clone())
                            .push_bind(e.purpose.clone())
                            .push_bind(e.case_ref.clone())
                            .push_bind(e.outcome.clone())
                            .push_bind(e.http_status as i64)
                            .push_bind(e.cache.as_str())
                            .push_bind(e.duration_ms as i64)
                            .push_bind(e.prev_hash.clone())
                            .push_bind(e.hash.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                if let Some(sql) = Self::SUMMARY_UPSERT {
                    for c in super::audit_summary::count_batch(&sealed) {
                        let mut q = sqlx::query(sql);
                        for k in c.key {
                            q = q.bind(k);
                        }
                        q = q.bind(c.n).bind(c.max_ms);
                        for b in c.buckets {
                            q = q.bind(b);
                        }
                        q.execute(&mut *tx).await?;
                    }
                }
                let receipts: Vec<_> = events.iter().filter_map(|e| e.receipt.as_ref()).collect();
                for chunk in receipts.chunks(1000) {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(format!(
                        "INSERT INTO receipts ({}) ",
                        super::receipts::RECEIPT_COLUMNS
                    ));
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id.clone())
                            .push_bind(r.client_id.clone())
                            .push_bind(r.kid.clone())
                            .push_bind(r.code.clone())
                            .push_bind(r.issued_at.clone())
                            .push_bind(r.expires_at.clone());
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                let mismatches = super::guess_queries::distinct_mismatches(events);
                for chunk in mismatches.chunks(1000) {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO claim_mismatches (client_id, subject, claim, value_hash, at) ",
                    );
                    qb.push_values(chunk, |mut b, m| {
                        b.push_bind(m.client_id.clone())
                            .push_bind(m.subject.clone())
                            .push_bind(m.claim.clone())
                            .push_bind(m.value_hash.clone())
                            .push_bind(m.at.clone());
                    });
                    qb.push(super::guess_queries::ON_CONFLICT);
                    qb.build().execute(&mut *tx).await?;
                }
                let mut checkpoint_seq = head.checkpoint_seq;
                if last.seq - head.checkpoint_seq >= sealer.every {
                    let c = sealer.key.checkpoint(
                        last.seq,
                        &last.hash,
                        &crate::audit::now_rfc3339(),
                        head.checkpoint_seq,
                    );
                    Self::insert_checkpoint(&mut tx, &c).await?;
                    checkpoint_seq = last.seq;
                }
                sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, checkpoint_seq = $3 WHERE id = 1")
                    .bind(last.seq)
                    .bind(&last.hash)
                    .bind(checkpoint_seq)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(sealed)
            }

            /// Signs the head if events came after the last checkpoint.
            pub async fn checkpoint_head(&self, sealer: &Sealer) -> Result<Option<Checkpoint>, StoreError> {
                // Cheap check first, so an idle log takes no write lock.
                match self.recorded_head().await? {
                    Some(h) if h.seq > h.checkpoint_seq => {}
                    _ => return Ok(None),
                }
                let mut tx = self.begin_write().await?;
                let head = Self::lock_head(&mut tx).await?;
                if head.seq <= head.checkpoint_seq {
                    return Ok(None);
                }
                let c = sealer.key.checkpoint(head.seq, &head.hash, &crate::audit::now_rfc3339(), head.checkpoint_seq);
                Self::insert_checkpoint(&mut tx, &c).await?;
                sqlx::query("UPDATE audit_head SET checkpoint_seq = $1 WHERE id = 1")
                    .bind(head.seq)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Some(c))
            }

            pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
                let sql = format!("SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY seq");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await?;
                rows.iter().map(row_to_checkpoint).collect()
            }

            pub async fn query_events(
                &self,
                filter: &AuditFilter,
                page: Page,
                limit: u32,
            ) -> Result<Vec<AuditEvent>, StoreError> {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE 1=1"));
                push_filter(&mut qb, filter);
                match page {
                    Page::NewestFirst { before } => {
                        if let Some(before) = before {
                            qb.push(" AND seq < ").push_bind(before);
                        }
                        qb.push(" ORDER BY seq DESC LIMIT ");
                    }
                    Page::OldestFirst { after } => {
                        qb.push(" AND seq > ").push_bind(after);
                        qb.push(" ORDER BY seq LIMIT ");
                    }
                }
                qb.push_bind(limit as i64);
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(row_to_event).collect()
            }

            pub async fn count_events(&self, filter: &AuditFilter) -> Result<i64, StoreError> {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new("SELECT COUNT(*) FROM audit_events WHERE 1=1");
                push_filter(&mut qb, filter);
                Ok(qb.build().fetch_one(&self.pool).await?.try_get(0)?)
            }

            pub async fn daily_volume(&self, filter: &AuditFilter) -> Result<Vec<(String, i64)>, StoreError> {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("SELECT substr(at, 1, 10) AS day, COUNT(*) FROM audit_events WHERE 1=1");
                push_filter(&mut qb, filter);
                qb.push(" GROUP BY day ORDER BY day");
                let rows = qb.build().fetch_all(&self.pool).await?;
                rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
            }

            pub async fn events_after(&self, after: i64, limit: u32) -> Result<Vec<AuditEvent>, StoreError> {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
                let rows =
                    sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after).bind(limit as i64).fetch_all(&self.pool).await?;
                rows.iter().map(row_to_event).collect()
            }

            /// The newest checkpoint signed before `cutoff` (an archive ends there).
            pub async fn checkpoint_before(&self, cutoff: &str) -> Result<Option<Checkpoint>, StoreError> {
                let sql = format!(
                    "SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE at < $1 ORDER BY seq DESC LIMIT 1"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cutoff).fetch_optional(&self.pool).await?;
                row.as_ref().map(row_to_checkpoint).transpose()
            }

            /// Removes the events up to `through_seq`, recording the archive
            /// that holds them, in one transaction.
            pub async fn remove_archived(
                &self,
                through_seq: i64,
                file: &str,
                sha256: &str,
                at: &str,
            ) -> Result<u64, StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query("DELETE FROM audit_events WHERE seq <= $1")
                    .bind(through_seq)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query("INSERT INTO audit_archives (through_seq, file, sha256, at) VALUES ($1, $2, $3, $4)")
                    .bind(through_seq)
                    .bind(file)
                    .bind(sha256)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(n)
            }

            pub async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
                let rows =
                    sqlx::query("SELECT kid, private_pem, created_at FROM signing_keys ORDER BY created_at, kid")
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.iter().map(row_to_key).collect())
            }

            /// Stores `key` if the store holds none yet, under a lock, so that
            /// replicas starting together agree on one key; returns the keys held.
            pub async fn first_signing_key(&self, key: &StoredKey) -> Result<Vec<StoredKey>, StoreError> {
                let mut tx = self.begin_write().await?;
                if !Self::LOCK_SIGNING_KEYS.is_empty() {
                    sqlx::query(Self::LOCK_SIGNING_KEYS).execute(&mut *tx).await?;
                }
                let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys").fetch_one(&mut *tx).await?;
                if held == 0 {
                    sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_at) VALUES ($1, $2, $3)")
                        .bind(&key.kid)
                        .bind(&key.private_pem)
                        .bind(&key.created_at)
                        .execute(&mut *tx)
                        .await?;
                }
                let rows =
                    sqlx::query("SELECT kid, private_pem, created_at FROM signing_keys ORDER BY created_at, kid")
                        .fetch_all(&mut *tx)
                        .await?;
                tx.commit().await?;
                Ok(rows.iter().map(row_to_key).collect())
            }

            /// Adds a token signing key (a rotation); it signs from its `created_at`.
            pub async fn add_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
                let mut tx = self.begin_write().await?;
                sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_at) VALUES ($1, $2, $3)")
                    .bind(&key.kid)
                    .bind(&key.private_pem)
                    .bind(&key.created_at)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }

            pub async fn insert_security_check(&self, c: &SecurityCheckRow) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                let sql = format!(
                    "INSERT INTO security_checks ({CHECK_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
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

            pub async fn security_check(&self, id: &str) -> Result<Option<SecurityCheckRow>, StoreError> {
                let sql = format!("SELECT {CHECK_COLUMNS} FROM security_checks WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await?;
                row.as_ref().map(row_to_check).transpose()
            }

            /// Claims the checks whose `due_column` is due at `now` (and that
            /// meet `state`, a constant condition) until `lease_until`: the
            /// due time moves to the lease's end, so no other replica sees
            /// them due meanwhile, and they come back by themselves if this
            /// replica dies.
            async fn claim_checks(
                &self,
                due_column: &'static str,
                state: &'static str,
                now: &str,
                lease_until: &str,
                limit: u32,
            ) -> Result<Vec<SecurityCheckRow>, StoreError> {
                let _turn = self.write_turn().await;
                let sql = format!(
                    "UPDATE security_checks SET {due_column} = $1 WHERE id IN (SELECT id FROM security_checks \
                     WHERE {state} AND {due_column} <= $2 ORDER BY {due_column} LIMIT $3{}) \
                     RETURNING {CHECK_COLUMNS}",
                    Self::SKIP_LOCKED
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(lease_until)
                    .bind(now)
                    .bind(limit as i64)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(row_to_check).collect()
            }

            /// Claims pending checks due for a poll, oldest first.
            pub async fn claim_due_security_checks(
                &self,
                now: &str,
                lease_until: &str,
                limit: u32,
            ) -> Result<Vec<SecurityCheckRow>, StoreError> {
                let mut checks =
                    self.claim_checks("next_poll_at", "status = 'pending'", now, lease_until, limit).await?;
                checks.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at));
                Ok(checks)
            }

            /// Claims decided checks whose callback is due, oldest decision first.
            pub async fn claim_due_callbacks(
                &self,
                now: &str,
                lease_until: &str,
                limit: u32,
            ) -> Result<Vec<SecurityCheckRow>, StoreError> {
                let mut checks =
                    self.claim_checks("next_callback_at", "callback_state = 'pending'", now, lease_until, limit).await?;
                checks.sort_by(|a, b| a.decided_at.cmp(&b.decided_at));
                Ok(checks)
            }

            pub async fn update_security_check(&self, c: &SecurityCheckRow) -> Result<(), StoreError> {
                let _turn = self.write_turn().await;
                sqlx::query(
                    "UPDATE security_checks SET status = $1, ticket = $2, decided_at = $3, next_poll_at = $4, \
                     attempts = $5, callback_state = $6, callback_attempts = $7, next_callback_at = $8 WHERE id = $9",
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
    };
}

pub(super) use shared_queries;
