//! PostgreSQL backend, for several replicas sharing one database. Writers of
//! the audit chain serialise on the head row (`SELECT … FOR UPDATE`); claims of
//! background work skip rows another replica is claiming (`FOR UPDATE SKIP LOCKED`).

use super::ClaimMismatchRow;
use super::schema;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The head this replica last wrote (None: read it from the store).
    head: Arc<Mutex<Option<ChainHead>>>,
    /// The audit writer's own connection (see `pg_audit`); None: the pool's.
    audit: Option<Arc<AuditConnection>>,
    /// The claim-guessing stop's reads, many callers' in one query (see
    /// `guess_queries::SeenReads`).
    pub(super) seen: super::guess_queries::SeenReads,
}

/// The audit writer's connection with its prepared statement, opened on
/// first use and again after it breaks.
struct AuditConnection {
    target: super::pg_audit::PgAuditTarget,
    live: tokio::sync::Mutex<Option<(tokio_postgres::Client, tokio_postgres::Statement)>>,
}

/// The parameter types of [`APPEND`], in order.
const APPEND_TYPES: [tokio_postgres::types::Type; 40] = {
    use tokio_postgres::types::Type;
    [
        Type::INT8,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::INT8_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::INT8_ARRAY,
        Type::TEXT_ARRAY,
        Type::INT8_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::BOOL,
        Type::INT8,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
        Type::TEXT_ARRAY,
    ]
};

impl AuditConnection {
    /// Runs [`APPEND`] with `params`; (head moved, events inserted).
    async fn append(&self, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> Result<(i64, i64), StoreError> {
        let mut live = self.live.lock().await;
        if live.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            let client = self.target.connect().await?;
            let statement = client.prepare_typed(APPEND, &APPEND_TYPES).await.map_err(super::pg_audit::pg_error)?;
            *live = Some((client, statement));
        }
        let (client, statement) = live.as_ref().expect("connected above");
        match client.query_one(statement, params).await {
            Ok(row) => Ok((row.get(0), row.get(1))),
            Err(e) => {
                // Whether it committed is unknown; a new connection next time.
                *live = None;
                Err(super::pg_audit::pg_error(e))
            }
        }
    }
}

/// One statement appends a batch: it moves the head only if it is still
/// where this replica last saw it, and inserts the events (and a checkpoint
/// when due) only if the head moved. In autocommit it is its own transaction:
/// one round trip per batch instead of five (BEGIN, lock, insert, update,
/// COMMIT), which matters over TCP. When another replica moved the head
/// meanwhile (or signed a checkpoint), nothing is written (receipts neither) and the batch is
/// sealed again after the new head.
pub(super) const APPEND: &str = concat!(
    "WITH head AS (
    UPDATE audit_head SET seq = $1, hash = $2, checkpoint_seq = $3 WHERE id = 1 AND seq = $4 AND hash = $5
        AND checkpoint_seq = $29 RETURNING 1
), events AS (
    INSERT INTO audit_events (seq, id, at, client_id, center_id, operator_id, action, subject, purpose, case_ref,
        outcome, http_status, cache, duration_ms, prev_hash, hash)
    SELECT * FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
        $13::text[], $14::text[], $15::text[], $16::text[], $17::bigint[], $18::text[], $19::bigint[], $20::text[],
        $21::text[])
    WHERE EXISTS (SELECT 1 FROM head)
    RETURNING 1
), checkpoint AS (
    INSERT INTO audit_checkpoints (seq, hash, at, prev_seq, key_id, signature)
    SELECT $22, $23, $24, $25, $26, $27 WHERE $28 AND EXISTS (SELECT 1 FROM head)
    RETURNING 1
), receipts AS (
    INSERT INTO receipts (id, client_id, kid, code, issued_at, expires_at)
    SELECT * FROM unnest($30::text[], $31::text[], $32::text[], $33::text[], $34::text[], $35::text[])
    WHERE EXISTS (SELECT 1 FROM head)
    RETURNING 1
), mismatches AS (
    INSERT INTO claim_mismatches (client_id, subject, claim, value_hash, at)
    SELECT * FROM unnest($36::text[], $37::text[], $38::text[], $39::text[], $40::text[])
    WHERE EXISTS (SELECT 1 FROM head)",
    super::guess_queries::on_conflict!(),
    "
    RETURNING 1
)
SELECT (SELECT count(*) FROM head), (SELECT count(*) FROM events)"
);

/// Optimistic attempts before falling back to locking the head.
const OPTIMISTIC_ATTEMPTS: usize = 4;

super::receipts::receipt_queries!(PgStore, sqlx::postgres::PgRow);
super::guess_queries::guess_queries!(PgStore, sqlx::postgres::PgRow);
super::queries::shared_queries!(PgStore, Postgres, sqlx::postgres::PgRow);
super::stats_queries::stats_queries!(PgStore, Postgres);
super::signal_queries::signal_queries!(PgStore, Postgres);
super::sms_queries::sms_queries!(PgStore, Postgres, sqlx::postgres::PgRow);
super::citizen_queries::citizen_queries!(PgStore, Postgres, sqlx::postgres::PgRow);

/// Held while migrating, so that replicas starting together migrate once.
const MIGRATION_LOCK: i64 = 0x6261_7761_6261; // "bawaba"

impl PgStore {
    /// Records, in one transaction, that the SMSC took these messages
    /// (`SqliteStore` has its own, `sqlite_outbox`).
    pub async fn sms_record_sent(&self, sent: &[SmsSent]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for s in sent {
            let done = sqlx::query(
                "UPDATE sms_messages SET status = 'sent', smsc_id = $1, sent_at = $2, attempts = $3, \
                 last_error = NULL WHERE id = $4 AND status = 'queued'",
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
                Self::add_history(&mut tx, &s.id, "sent", &s.at, None).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Applies delivery reports in one transaction; what each did
    /// (`SqliteStore` has its own, `sqlite_outbox`).
    pub async fn sms_deliveries(&self, reports: &[SmsDelivery]) -> Result<Vec<DeliveryEffect>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut found = Vec::with_capacity(reports.len());
        for r in reports {
            let status = if r.delivered { "delivered" } else { "undelivered" };
            let sql = format!("SELECT status FROM sms_messages WHERE id = $1{}", Self::FOR_UPDATE);
            let before: Option<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(&r.id).fetch_optional(&mut *tx).await?;
            // A report can overtake our own record of the send (a crash
            // between the SMSC's answer and our commit): it moves a
            // queued message too.
            let delivered_at = r.delivered.then_some(r.at.as_str());
            let n = sqlx::query(
                "UPDATE sms_messages SET status = $1, delivered_at = COALESCE($2, delivered_at), \
                 last_error = COALESCE($3, last_error), sent_at = COALESCE(sent_at, $4) WHERE id = $5",
            )
            .bind(status)
            .bind(delivered_at)
            .bind(&r.error)
            .bind(&r.at)
            .bind(&r.id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                Self::add_history(&mut tx, &r.id, status, &r.at, r.error.as_deref()).await?;
            }
            found.push(match before {
                _ if n != 1 => DeliveryEffect::Unknown,
                Some(s) if s == status => DeliveryEffect::Again,
                _ => DeliveryEffect::Moved,
            });
        }
        tx.commit().await?;
        Ok(found)
    }
}

impl PgStore {
    /// Accepts a batch of messages in one transaction (group commit):
    /// each is inserted with its idempotency key, unless the key was used
    /// before or its recipient opted out (`SqliteStore` has its own, `sqlite_outbox`).
    pub async fn accept_sms_batch(
        &self,
        items: &[(Option<IdempotencyKey>, SmsMessageRow)],
    ) -> Result<Vec<SmsAccept>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut outcomes = Vec::with_capacity(items.len());
        for (key, m) in items {
            // The recipient's opt-out is read in the same transaction: one
            // that lands while the message waits for its batch still counts.
            if m.kind == "notification" {
                let out: Option<i32> = sqlx::query_scalar("SELECT 1 FROM sms_opt_outs WHERE phone = $1")
                    .bind(&m.to_e164)
                    .fetch_optional(&mut *tx)
                    .await?;
                if out.is_some() {
                    outcomes.push(SmsAccept::OptedOut);
                    continue;
                }
            }
            if let Some(k) = key {
                let inserted = sqlx::query(
                    "INSERT INTO sms_idempotency (client_id, key, body_hash, message_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id, key) DO NOTHING",
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
                        "SELECT message_id, body_hash FROM sms_idempotency WHERE client_id = $1 AND key = $2",
                    )
                    .bind(&k.client_id)
                    .bind(&k.key)
                    .fetch_one(&mut *tx)
                    .await?;
                    outcomes.push(SmsAccept::Existing { message_id: row.get(0), body_hash: row.get(1) });
                    continue;
                }
            }
            let sql = format!(
                "INSERT INTO sms_messages ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                 $11, $12, $13, $14, $15, $16, $17, $18)",
                SMS_COLUMNS
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
            Self::add_history(&mut tx, &m.id, "queued", &m.created_at, None).await?;
            outcomes.push(SmsAccept::Inserted);
        }
        tx.commit().await?;
        Ok(outcomes)
    }

    const FOR_UPDATE: &str = " FOR UPDATE";
    const SKIP_LOCKED: &str = " FOR UPDATE SKIP LOCKED";
    const HISTORY_ORDER: &str = "at, n";
    /// Two replicas starting on an empty store must not both add a key.
    const LOCK_SIGNING_KEYS: &str = "LOCK TABLE signing_keys IN EXCLUSIVE MODE";
    /// The database's collation may order text otherwise (migration 6 indexes this order).
    const BYTE_ORDER: &str = r#" COLLATE "C""#;
    /// Its statement trigger adds every insert to the summary.
    const SUMMARY_UPSERT: Option<&str> = None;

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
        let audit = match super::pg_audit::PgAuditTarget::from_url(url) {
            Ok(target) => Some(Arc::new(AuditConnection { target, live: tokio::sync::Mutex::new(None) })),
            Err(why) => {
                tracing::warn!(
                    reason = %why,
                    "the audit log appends through the pool (without TCP_NODELAY): the store URL has what its own \
                     connection does not support"
                );
                None
            }
        };
        let seen = super::guess_queries::SeenReads::start(pool.clone());
        let store = PgStore { pool, head: Arc::default(), audit, seen };
        store.migrate().await?;
        Ok(store)
    }

    async fn begin_write(&self) -> Result<super::WriteTx<Postgres>, StoreError> {
        Ok(super::WriteTx { tx: self.pool.begin().await?, _turn: None })
    }

    /// Row locks serialise PostgreSQL's writers: no turns.
    async fn write_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
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
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations").fetch_one(&mut *conn).await?;
            super::refuse_newer_schema(newest, schema::POSTGRES)?;
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

    fn cached_head(&self) -> Option<ChainHead> {
        self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn cache_head(&self, head: Option<ChainHead>) {
        *self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = head;
    }

    /// Seals and commits a batch after the head, in one statement when the
    /// head is where this replica last saw it (see [`APPEND`]).
    pub async fn append_events(&self, events: &[NewEvent], sealer: &Sealer) -> Result<Vec<AuditEvent>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        for _ in 0..OPTIMISTIC_ATTEMPTS {
            let head = match self.cached_head() {
                Some(h) => h,
                None => self.recorded_head().await?.ok_or(StoreError::Unavailable)?,
            };
            let sealed = crate::audit::seal(&head, events);
            let last = sealed.last().expect("a non-empty batch");
            let checkpoint = (last.seq - head.checkpoint_seq >= sealer.every).then(|| {
                sealer.key.checkpoint(last.seq, &last.hash, &crate::audit::now_rfc3339(), head.checkpoint_seq)
            });
            let column = |f: fn(&AuditEvent) -> Option<String>| sealed.iter().map(f).collect::<Vec<_>>();
            let text = |f: fn(&AuditEvent) -> String| sealed.iter().map(f).collect::<Vec<_>>();
            let cp = checkpoint.clone().unwrap_or(crate::audit::Checkpoint {
                seq: 0,
                hash: String::new(),
                at: String::new(),
                prev_seq: 0,
                key_id: String::new(),
                signature: String::new(),
            });
            let seqs: Vec<i64> = sealed.iter().map(|e| e.seq).collect();
            let (ids, ats) = (text(|e| e.id.clone()), text(|e| e.at.clone()));
            let (clients, centers) = (column(|e| e.client_id.clone()), column(|e| e.center_id.clone()));
            let (operators, actions) = (column(|e| e.operator_id.clone()), text(|e| e.action.as_str().to_owned()));
            let (subjects, purposes) = (column(|e| e.subject.clone()), column(|e| e.purpose.clone()));
            let (case_refs, outcomes) = (column(|e| e.case_ref.clone()), text(|e| e.outcome.clone()));
            let statuses: Vec<i64> = sealed.iter().map(|e| e.http_status as i64).collect();
            let caches = text(|e| e.cache.as_str().to_owned());
            let durations: Vec<i64> = sealed.iter().map(|e| e.duration_ms as i64).collect();
            let (prevs, hashes) = (text(|e| e.prev_hash.clone()), text(|e| e.hash.clone()));
            let new_checkpoint_seq = if checkpoint.is_some() { last.seq } else { head.checkpoint_seq };
            let has_checkpoint = checkpoint.is_some();
            let receipts: Vec<&crate::receipts::StoredReceipt> =
                events.iter().filter_map(|e| e.receipt.as_ref()).collect();
            let receipt_column =
                |f: fn(&crate::receipts::StoredReceipt) -> &str| receipts.iter().map(|r| f(r)).collect::<Vec<&str>>();
            let (r_ids, r_clients) = (receipt_column(|r| &r.id), receipt_column(|r| &r.client_id));
            let (r_kids, r_codes) = (receipt_column(|r| &r.kid), receipt_column(|r| &r.code));
            let (r_issued, r_expires) = (receipt_column(|r| &r.issued_at), receipt_column(|r| &r.expires_at));
            let mismatches: Vec<&ClaimMismatchRow> = super::guess_queries::distinct_mismatches(events);
            let mismatch_column =
                |f: fn(&ClaimMismatchRow) -> &str| mismatches.iter().map(|m| f(m)).collect::<Vec<&str>>();
            let (m_clients, m_subjects) = (mismatch_column(|m| &m.client_id), mismatch_column(|m| &m.subject));
            let (m_claims, m_hashes) = (mismatch_column(|m| &m.claim), mismatch_column(|m| &m.value_hash));
            let m_ats = mismatch_column(|m| &m.at);
            let result: Result<(i64, i64), StoreError> = match &self.audit {
                Some(audit) => {
                    audit
                        .append(&[
                            &last.seq,
                            &last.hash,
                            &new_checkpoint_seq,
                            &head.seq,
                            &head.hash,
                            &seqs,
                            &ids,
                            &ats,
                            &clients,
                            &centers,
                            &operators,
                            &actions,
                            &subjects,
                            &purposes,
                            &case_refs,
                            &outcomes,
                            &statuses,
                            &caches,
                            &durations,
                            &prevs,
                            &hashes,
                            &cp.seq,
                            &cp.hash,
                            &cp.at,
                            &cp.prev_seq,
                            &cp.key_id,
                            &cp.signature,
                            &has_checkpoint,
                            &head.checkpoint_seq,
                            &r_ids,
                            &r_clients,
                            &r_kids,
                            &r_codes,
                            &r_issued,
                            &r_expires,
                            &m_clients,
                            &m_subjects,
                            &m_claims,
                            &m_hashes,
                            &m_ats,
                        ])
                        .await
                }
                None => sqlx::query(APPEND)
                    .bind(last.seq)
                    .bind(&last.hash)
                    .bind(new_checkpoint_seq)
                    .bind(head.seq)
                    .bind(&head.hash)
                    .bind(&seqs)
                    .bind(&ids)
                    .bind(&ats)
                    .bind(&clients)
                    .bind(&centers)
                    .bind(&operators)
                    .bind(&actions)
                    .bind(&subjects)
                    .bind(&purposes)
                    .bind(&case_refs)
                    .bind(&outcomes)
                    .bind(&statuses)
                    .bind(&caches)
                    .bind(&durations)
                    .bind(&prevs)
                    .bind(&hashes)
                    .bind(cp.seq)
                    .bind(&cp.hash)
                    .bind(&cp.at)
                    .bind(cp.prev_seq)
                    .bind(&cp.key_id)
                    .bind(&cp.signature)
                    .bind(has_checkpoint)
                    .bind(head.checkpoint_seq)
                    .bind(&r_ids)
                    .bind(&r_clients)
                    .bind(&r_kids)
                    .bind(&r_codes)
                    .bind(&r_issued)
                    .bind(&r_expires)
                    .bind(&m_clients)
                    .bind(&m_subjects)
                    .bind(&m_claims)
                    .bind(&m_hashes)
                    .bind(&m_ats)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(StoreError::from)
                    .and_then(|row| Ok((row.try_get(0)?, row.try_get(1)?))),
            };
            let (moved, inserted) = match result {
                Ok(counts) => counts,
                Err(e) => {
                    // The outcome is unknown: read the head afresh next time.
                    self.cache_head(None);
                    return Err(e);
                }
            };
            if moved == 1 && inserted == sealed.len() as i64 {
                let checkpoint_seq = if checkpoint.is_some() { last.seq } else { head.checkpoint_seq };
                self.cache_head(Some(ChainHead { seq: last.seq, hash: last.hash.clone(), checkpoint_seq }));
                return Ok(sealed);
            }
            // Another replica moved the head: seal again after the new one.
            self.cache_head(None);
        }
        // Under heavy contention, wait for the head's lock instead.
        let sealed = self.append_events_locked(events, sealer).await;
        self.cache_head(None);
        sealed
    }

    /// Whether a write transaction can be opened now.
    pub async fn probe(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT 1").execute(&mut *tx).await?;
        tx.rollback().await?;
        Ok(())
    }
}
