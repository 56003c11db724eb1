//! The audit append on SQLite: one connection of its own, used by one thread.
//!
//! sqlx runs every SQLite connection on a worker thread of its own and hands
//! each statement to it over a channel, so a group commit through the pool
//! crossed three threads (handler, writer task, sqlx's thread) with a wake-up
//! each way per statement. Here the writer thread owns a plain `rusqlite`
//! connection (the same bundled SQLite, `libsqlite3-sys`, as sqlx's), prepares
//! its statements once and runs a whole batch without leaving the thread.
//!
//! The transaction is the same as everywhere else: the head is read under the
//! write lock (`BEGIN IMMEDIATE`), the batch is sealed after it, the events,
//! the receipts they issued, their stats summary (`audit_summary::count_batch`),
//! a checkpoint when one is due and the new head are written, and the commit
//! returns only when SQLite has synced (`synchronous = FULL` by default).

use super::{ChainHead, StoreError, WriteTurns};
use crate::audit::{AuditEvent, NewEvent, Sealer};
use rusqlite::{Connection, OpenFlags, params};
use std::time::Duration;

const INSERT_EVENT: &str = "INSERT INTO audit_events (seq, id, at, client_id, center_id, operator_id, action, \
     subject, purpose, case_ref, outcome, http_status, cache, duration_ms, prev_hash, hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
const INSERT_CHECKPOINT: &str =
    "INSERT INTO audit_checkpoints (seq, hash, at, prev_seq, key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const READ_HEAD: &str = "SELECT seq, hash, checkpoint_seq FROM audit_head WHERE id = 1";
const WRITE_HEAD: &str = "UPDATE audit_head SET seq = ?1, hash = ?2, checkpoint_seq = ?3 WHERE id = 1";

/// How the store's writers that own a connection open it, as the pool's are.
#[derive(Clone, Copy, Debug)]
pub(super) struct WriterSettings {
    pub busy_timeout: Duration,
    pub fsync_each_commit: bool,
    /// `wal_autocheckpoint`: "0" when the checkpoint thread runs.
    pub autocheckpoint: &'static str,
}

/// A connection of a writer that owns it (the audit writer, the outbox's
/// group commit) to the store's already migrated file, with the same
/// durability settings as the pool's and a page cache of `cache_mib`.
pub(super) fn open_writer(path: &str, settings: &WriterSettings, cache_mib: i64) -> Result<Connection, StoreError> {
    let WriterSettings { busy_timeout, fsync_each_commit, autocheckpoint } = *settings;
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(busy_timeout)?;
    // journal_mode is a property of the file (WAL, set by the pool);
    // synchronous is per connection and must be set here too.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if fsync_each_commit { "FULL" } else { "NORMAL" })?;
    conn.pragma_update(None, "cache_size", -1024 * cache_mib)?;
    conn.pragma_update(None, "wal_autocheckpoint", autocheckpoint)?;
    // Room for every statement of its writer (the outbox's are nine).
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

/// A connection that appends audit batches. Not `Sync`: one thread owns it.
pub struct SqliteAppender {
    conn: Connection,
    turns: WriteTurns,
    /// Whether a batch is added to the stats summary (always, but in the
    /// benchmark's floor that measures what the summary costs).
    summary: bool,
}

impl SqliteAppender {
    /// Opens a second connection to the store's (already migrated) file with
    /// the same durability settings as the pool's.
    pub(super) fn open(path: &str, settings: &WriterSettings, turns: WriteTurns) -> Result<Self, StoreError> {
        // The writer touches the newest pages of the table and its indexes.
        let conn = open_writer(path, settings, 16)?;
        Ok(SqliteAppender { conn, turns, summary: true })
    }

    /// The appender without the stats summary, which then undercounts: only
    /// for `bench_audit --floor`, to measure what the summary costs.
    #[doc(hidden)]
    pub fn without_summary_for_benchmarks(mut self) -> Self {
        self.summary = false;
        self
    }

    /// Seals `events` after the head and commits them; durable on Ok.
    pub fn append(&mut self, events: &[NewEvent], sealer: &Sealer) -> Result<Vec<AuditEvent>, StoreError> {
        // Other writers of this process queue fairly for the same turn.
        let _turn = self.turns.blocking_take();
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let head = tx
            .prepare_cached(READ_HEAD)?
            .query_row([], |r| Ok(ChainHead { seq: r.get(0)?, hash: r.get(1)?, checkpoint_seq: r.get(2)? }))?;
        let sealed = crate::audit::seal(&head, events);
        let Some(last) = sealed.last() else { return Ok(sealed) };
        {
            let mut insert = tx.prepare_cached(INSERT_EVENT)?;
            for e in &sealed {
                insert.execute(params![
                    e.seq,
                    e.id,
                    e.at,
                    e.client_id,
                    e.center_id,
                    e.operator_id,
                    e.action.as_str(),
                    e.subject,
                    e.purpose,
                    e.case_ref,
                    e.outcome,
                    e.http_status,
                    e.cache.as_str(),
                    e.duration_ms as i64,
                    e.prev_hash,
                    e.hash,
                ])?;
            }
            let mut insert = tx.prepare_cached(super::receipts::INSERT_RECEIPT)?;
            for r in events.iter().filter_map(|e| e.receipt.as_ref()) {
                insert.execute(params![r.id, r.client_id, r.kid, r.code, r.issued_at, r.expires_at])?;
            }
            let mut insert = tx.prepare_cached(super::guess_queries::INSERT_MISMATCH)?;
            for m in events.iter().flat_map(|e| &e.claim_mismatches) {
                // Row by row, so a value the batch holds twice simply moves its time on.
                insert.execute(params![m.client_id, m.subject, m.claim, m.value_hash, m.at])?;
            }
        }
        if self.summary {
            let mut upsert = tx.prepare_cached(super::audit_summary::UPSERT_COUNTS)?;
            for c in super::audit_summary::count_batch(&sealed) {
                let [day, center, client, operator, action, outcome, cache] = c.key;
                let [b0, b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11] = c.buckets;
                upsert.execute(params![
                    day, center, client, operator, action, outcome, cache, c.n, c.max_ms, b0, b1, b2, b3, b4, b5, b6,
                    b7, b8, b9, b10, b11
                ])?;
            }
        }
        let mut checkpoint_seq = head.checkpoint_seq;
        if last.seq - head.checkpoint_seq >= sealer.every {
            let c = sealer.key.checkpoint(last.seq, &last.hash, &crate::audit::now_rfc3339(), head.checkpoint_seq);
            tx.prepare_cached(INSERT_CHECKPOINT)?.execute(params![
                c.seq,
                c.hash,
                c.at,
                c.prev_seq,
                c.key_id,
                c.signature
            ])?;
            checkpoint_seq = last.seq;
        }
        tx.prepare_cached(WRITE_HEAD)?.execute(params![last.seq, last.hash, checkpoint_seq])?;
        tx.commit()?;
        Ok(sealed)
    }
}
