//! Point reads on the request path, run on the calling thread.
//!
//! A read through sqlx's pool is a hand-off to the connection's own thread and
//! a wake-up back: two context switches and a channel for a read that SQLite
//! answers from its page cache in a few microseconds. The claim-guessing check
//! runs such a read on every verification that carries claims, so it takes a
//! read-only `rusqlite` connection from here instead and runs on the worker
//! thread that asked. In WAL mode a reader never waits for the writer; it can
//! only meet `SQLITE_BUSY` during WAL recovery, so its busy timeout is short
//! and the caller falls back to the pool when it is hit (a slow path, never a
//! different answer).

use super::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::sync::Mutex;
use std::time::Duration;

/// How long a request-path read waits for a busy file before giving up (and
/// the caller going through the pool instead).
const BUSY: Duration = Duration::from_millis(20);
/// Idle connections kept; more are opened when needed and closed after use.
const MAX_IDLE: usize = 8;

pub(super) struct SqliteReaders {
    path: String,
    idle: Mutex<Vec<Connection>>,
}

impl SqliteReaders {
    pub(super) fn new(path: &str) -> SqliteReaders {
        SqliteReaders { path: path.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )?;
        conn.busy_timeout(BUSY)?;
        // Small: these connections read a few index pages; the file's pages are
        // shared through the OS page cache (memory-mapped, as the pool's are).
        conn.pragma_update(None, "cache_size", -1024)?;
        conn.pragma_update(None, "mmap_size", 268_435_456)?;
        conn.set_prepared_statement_cache_capacity(8);
        Ok(conn)
    }

    /// Runs `read` on an idle connection (or a new one); `Err` if SQLite
    /// refused or was busy, for the caller to take the pool's path instead.
    pub(super) fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match idle {
            Some(c) => c,
            None => self.open()?,
        };
        let result = read(&conn);
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        Ok(result?)
    }
}
