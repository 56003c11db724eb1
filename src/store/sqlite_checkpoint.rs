//! WAL checkpoints on a thread of their own, beside the writers.
//!
//! By default SQLite checkpoints from the connection that commits: the commit
//! that takes the WAL past 1,000 pages copies them into the database file and
//! syncs it before it returns, so every few audit batches one commit, and every
//! request waiting on it, also pays for a checkpoint (the writer's floor, the
//! same transaction on one thread, ran 1.4–1.5× faster without that:
//! BENCHMARKS.md, "WAL checkpoints off the commits"). Here
//! the store's connections never checkpoint (`wal_autocheckpoint = 0`) and this
//! thread does, every [`INTERVAL`], with a PASSIVE checkpoint: SQLite lets one
//! checkpointer copy frames into the file while writers go on appending to the
//! WAL, so the copy and the file's sync run on another core than the commits.
//!
//! The WAL starts over from its beginning only at a write that finds every
//! frame already copied, which a writer that never pauses would prevent for
//! ever; so when the WAL has grown past [`CATCH_UP_FRAMES`] the thread takes
//! the process's write turn and copies the few frames written since its last
//! pass (short: the bulk is already in the file), and the next commit restarts
//! the WAL. Another process's writes (the CLI's) may delay that; the WAL then
//! grows until it can, as it would with SQLite's own checkpoints.
//!
//! Durability does not depend on any of this: a commit is synced in the WAL
//! (`synchronous = FULL`) before it returns, whenever its pages reach the file.

use super::sqlite_audit::{WriterSettings, open_writer};
use super::{StoreError, WriteTurns};
use rusqlite::Connection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How often the thread checkpoints: a bound on how far the file lags the WAL.
const INTERVAL: Duration = Duration::from_millis(25);
/// Past this many frames in the WAL (32 MiB of 4 KiB pages) a pass takes the
/// write turn so that the WAL can start over.
const CATCH_UP_FRAMES: i64 = 8192;

/// The running thread; stopped when the store's last handle is dropped.
pub(super) struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Checkpointer {
    /// Starts checkpointing the (already migrated, WAL-mode) file at `path`,
    /// on a connection set up as the store's other writers' are (the same
    /// `synchronous`, which decides how a checkpoint syncs the file).
    pub(super) fn start(path: &str, settings: &WriterSettings, turns: WriteTurns) -> Result<Checkpointer, StoreError> {
        let conn = open_writer(path, settings, 1)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &turns, &flag))
            .map_err(|e| StoreError::Db(sqlx::Error::Io(e)))?;
        Ok(Checkpointer { stop, thread: handle.thread().clone() })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

fn run(conn: &Connection, turns: &WriteTurns, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        std::thread::park_timeout(INTERVAL);
        if stop.load(Ordering::Acquire) {
            break;
        }
        match passive(conn) {
            Ok(frames) if frames > CATCH_UP_FRAMES => {
                let _turn = turns.blocking_take();
                if let Err(e) = passive(conn) {
                    tracing::warn!(error = %e, "WAL checkpoint under the write turn failed; retried next pass");
                }
            }
            Ok(_) => {}
            // SQLITE_BUSY: another connection (another process) is checkpointing.
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == rusqlite::ErrorCode::DatabaseBusy => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retried next pass"),
        }
    }
}

/// One PASSIVE checkpoint: the WAL's size in frames when it ran.
fn passive(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file catches up with the WAL without any commit checkpointing,
    /// and a writer that never pauses still lets the WAL start over.
    #[test]
    // A plain test thread: there is no async worker to block.
    #[allow(clippy::disallowed_methods)]
    fn the_thread_copies_the_wal_and_lets_it_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db").display().to_string();
        let writer = Connection::open(&path).unwrap();
        writer.pragma_update(None, "journal_mode", "WAL").unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        writer.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        let turns = WriteTurns::default();
        let settings =
            WriterSettings { busy_timeout: Duration::from_secs(1), fsync_each_commit: true, autocheckpoint: "0" };
        let _checkpointer = Checkpointer::start(&path, &settings, turns.clone()).unwrap();
        let mut largest = 0;
        // ~52 MiB of commits, well past CATCH_UP_FRAMES, with no pause.
        for _ in 0..1600 {
            let _turn = turns.blocking_take();
            writer.execute("INSERT INTO t VALUES (zeroblob(32768))", []).unwrap();
            largest = largest.max(std::fs::metadata(format!("{path}-wal")).unwrap().len());
        }
        // The WAL started over (it never held all of it) …
        assert!(largest < 48 * 1024 * 1024, "the WAL grew to {largest} bytes");
        // … and the thread, not a commit, copied the pages into the file.
        std::thread::sleep(INTERVAL * 4);
        let file = std::fs::metadata(&path).unwrap().len();
        assert!(file > 1600 * 32768, "the database file holds {file} bytes");
    }
}
