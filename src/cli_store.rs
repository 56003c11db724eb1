//! `bawaba store backup`: a consistent online copy of a SQLite store.
//!
//! SQLite's `VACUUM INTO` copies the database as one read transaction sees
//! it, so the copy is a single consistent state while the gateway goes on
//! writing (WAL readers do not block writers). The copy is written beside the
//! output under a temporary name, checked, synced, and only then linked to
//! the output name, which must not exist: a backup never overwrites, and a
//! failed one leaves nothing behind. The live store is opened read-only.
//! PostgreSQL is backed up with its own tools (`pg_dump`, see the README).

use crate::app::load_settings;
use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::str::FromStr;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("bawaba: {message}");
    ExitCode::from(2)
}

pub async fn backup(config: Option<PathBuf>, output: PathBuf) -> ExitCode {
    let settings = match load_settings(config.as_deref()) {
        Ok(s) => s,
        Err(p) => return fail(format!("invalid configuration:\n{p}")),
    };
    let url = &settings.store.url;
    let Some(source) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) else {
        return fail(format!(
            "store.url {} is PostgreSQL: back it up with pg_dump, and restore with pg_restore \
             (README, \"Backing up and restoring\"); `store backup` copies SQLite stores only",
            crate::config::redacted(url)
        ));
    };
    match copy(Path::new(source), &output).await {
        Ok(bytes) => {
            println!("backup written to {} ({bytes} bytes); check it with `bawaba audit verify`", output.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("backup to {} failed: {e}; the live store is untouched", output.display())),
    }
}

/// Removes the temporary copy unless it was kept.
struct Partial(Option<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Copies the SQLite database at `source` to `output`: its size in bytes.
pub async fn copy(source: &Path, output: &Path) -> Result<u64, String> {
    if output.exists() {
        return Err("the output file exists (a backup never overwrites one): give a new path".into());
    }
    if !source.exists() {
        return Err(format!("the store {} does not exist", source.display()));
    }
    let dir = match output.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(format!("the directory {} does not exist", dir.display()));
    }
    let name = output.file_name().ok_or("the output names no file")?.to_string_lossy().into_owned();
    let partial = Partial(Some(dir.join(format!(".{name}.partial-{}", uuid::Uuid::new_v4().simple()))));
    let temp = partial.0.clone().expect("set above");
    // Fails early, and clearly, on a destination that cannot be written. The
    // copy holds what the store holds: readable by its owner only.
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp).map_err(|e| destination(&e))?;

    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", source.display()))
        .map_err(|e| e.to_string())?
        .read_only(true)
        .create_if_missing(false)
        .busy_timeout(std::time::Duration::from_secs(5));
    let mut conn = options.connect().await.map_err(|e| format!("cannot open the store: {e}"))?;
    let into = temp.to_str().ok_or("the output path is not UTF-8")?;
    sqlx::query("VACUUM INTO ?").bind(into).execute(&mut conn).await.map_err(|e| sqlite_error(&e))?;
    drop(conn);

    let mut copy = SqliteConnectOptions::from_str(&format!("sqlite://{into}"))
        .map_err(|e| e.to_string())?
        .read_only(true)
        .connect()
        .await
        .map_err(|e| format!("cannot open the copy: {e}"))?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut copy)
        .await
        .map_err(|e| format!("cannot check the copy: {e}"))?;
    drop(copy);
    if check != "ok" {
        return Err(format!("the copy failed SQLite's check: {check}"));
    }
    let file = std::fs::File::open(&temp).map_err(|e| destination(&e))?;
    file.sync_all().map_err(|e| destination(&e))?;
    let bytes = file.metadata().map_err(|e| e.to_string())?.len();
    // A hard link fails if the output appeared meanwhile: never overwritten.
    std::fs::hard_link(&temp, output).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => "the output file appeared meanwhile: give a new path".to_owned(),
        _ => destination(&e),
    })?;
    if let Ok(d) = std::fs::File::open(&dir) {
        let _ = d.sync_all();
    }
    drop(partial);
    Ok(bytes)
}

fn destination(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(28) | Some(27) => format!("the destination is full ({e})"),
        Some(30) => format!("the destination is read-only ({e})"),
        _ if e.kind() == std::io::ErrorKind::PermissionDenied => format!("the destination is not writable ({e})"),
        _ => format!("cannot write the destination: {e}"),
    }
}

fn sqlite_error(e: &sqlx::Error) -> String {
    let text = e.to_string();
    // The store is opened read-only: a failed write is the destination's.
    // SQLITE_FULL (13), or SQLITE_IOERR_WRITE (778) where the file system
    // refused a write short of ENOSPC (a file size limit, a quota).
    match e.as_database_error().and_then(|d| d.code()).as_deref() {
        Some("13") => format!("the destination is full ({text})"),
        Some("778") => format!("the destination is full or refuses writes ({text})"),
        Some("8") => format!("the destination is read-only ({text})"),
        _ => format!("the copy failed: {text}"),
    }
}
