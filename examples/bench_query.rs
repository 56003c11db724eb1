//! "All accesses to one citizen" on a large audit log, on SQLite and on
//! PostgreSQL, beside a baseline measured in the same run: the same queries on
//! a 100,000-event log with the same number of events per citizen (so the
//! ratio is what the size of the log costs, not a bigger answer).
//!
//! The logs are generated as fast as each backend takes them (multi-row
//! inserts into SQLite, `COPY` into PostgreSQL) into a store made by
//! `Store::open`, so the product's schema and indexes are used (the non-unique
//! indexes are dropped during the load and rebuilt from their own definitions
//! afterwards). Rows look real: ~100,000 citizens (14-digit national IDs),
//! 300 centers with one client each, 800 operators, the product's actions,
//! outcomes and cache uses in plausible proportions, `at` increasing with
//! `seq`. The chain hashes are random hex, not a valid chain. Then, through
//! the product's `Store`, for random citizens: `query_events(subject,
//! newest first, limit 1000)` and `count_events(subject)`.
//!
//! ```sh
//! cargo run --release --example bench_query -- [--events 10000000] [--baseline-events 100000] \
//!     [--citizens 100000] [--queries 200] [--backends sqlite,postgres] [--pg URL] [--dir DIR] \
//!     [--sqlite PATH] [--pg-db NAME]
//! ```
//!
//! Re-runs: `--sqlite PATH` keeps the large SQLite log at PATH and `--pg-db
//! NAME` keeps the large PostgreSQL log in database NAME on the `--pg` server
//! (default `$BAWABA_BENCH_DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`); a later run with the same flags
//! and `--events`/`--citizens` reuses them instead of generating again. Without
//! them the large logs are temporary (a file under `--dir`, a scratch
//! database) and removed at the end. 10M events take ~5.3 GB in SQLite and ~6.8 GB in PostgreSQL.

use bawaba::audit::{AuditFilter, format_rfc3339};
use bawaba::store::{Page, Store, StoreOptions};
use sqlx::{Connection, QueryBuilder};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The end of a generated log, the same for both stores (their connection
/// types differ, hence a macro): the product's indexes rebuilt from their own
/// definitions, the chain head at the last event, and the log's size recorded.
macro_rules! finish_log {
    ($conn:ident, $indexes:ident, $triggers:ident, $last:ident, $events:ident, $citizens:ident, $label:literal) => {
        for (name, sql) in &$indexes {
            let t = Instant::now();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut $conn).await?;
            if $events >= 1_000_000 {
                eprintln!("    {} index {name} rebuilt in {:.1} s", $label, t.elapsed().as_secs_f64());
            }
        }
        // The stats' summary as the migration makes it from a log, then its triggers again.
        let t = Instant::now();
        sqlx::raw_sql(bawaba::store::audit_summary::BACKFILL).execute(&mut $conn).await?;
        if $events >= 1_000_000 {
            eprintln!("    {} summary backfilled in {:.1} s", $label, t.elapsed().as_secs_f64());
        }
        for (_, sql) in &$triggers {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut $conn).await?;
        }
        if let Some((seq, hash)) = $last {
            // The chain head at the last generated event, as the writer would have left it.
            sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, checkpoint_seq = $1 WHERE id = 1")
                .bind(seq)
                .bind(hash)
                .execute(&mut $conn)
                .await?;
        }
        sqlx::query("INSERT INTO bench_query_meta (events, citizens) VALUES ($1, $2)")
            .bind($events as i64)
            .bind($citizens as i64)
            .execute(&mut $conn)
            .await?;
    };
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const COLUMNS: &str = "seq, id, at, client_id, center_id, operator_id, action, subject, purpose, case_ref, outcome, \
                       http_status, cache, duration_ms, prev_hash, hash";
/// Seconds between consecutive events (10M events span about eleven months).
const STEP_US: i64 = 3_000_000;
const CENTERS: u64 = 300;
const OPERATORS: u64 = 800;
const QUERY_LIMIT: u32 = 1000;
const WARMUP_QUERIES: usize = 20;

// ---------------------------------------------------------------- generator

/// splitmix64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The national ID of citizen `k`: 14 digits, distinct for distinct `k`.
fn national_id(k: u64) -> String {
    format!("{}", 20_000_000_000_000 + (k.wrapping_mul(1_000_003_917)) % 10_000_000_000_000)
}

const GOVERNORATES: [&str; 27] = [
    "CAI", "GIZ", "ALX", "SHR", "DAK", "BEH", "QAL", "MNF", "GHR", "KFS", "DAM", "SUE", "ISM", "PTS", "FAY", "BNS",
    "MIN", "AST", "SOH", "QEN", "LXR", "ASW", "RED", "WAD", "MAT", "NSI", "SSI",
];
const OFFICES: [&str; 8] = ["ZAGAZIG", "CAIRO", "GIZA", "ALEXANDRIA", "MANSOURA", "TANTA", "ASYUT", "ISMAILIA"];
const PURPOSES: [&str; 5] =
    ["building_permit", "shop_license", "reconciliation", "utility_connection", "property_services"];

fn center_id(c: u64) -> String {
    format!("{}-{:02}-{:02}", GOVERNORATES[(c % 27) as usize], c / 27 + 1, c % 7 + 1)
}

/// One event row, every column as text or integer.
struct EventRow {
    seq: i64,
    id: String,
    at: String,
    client_id: Option<String>,
    center_id: Option<String>,
    operator_id: Option<String>,
    action: &'static str,
    subject: Option<String>,
    purpose: Option<&'static str>,
    case_ref: Option<String>,
    outcome: &'static str,
    http_status: i64,
    cache: &'static str,
    duration_ms: i64,
    prev_hash: String,
    hash: String,
}

/// A deterministic log: row `seq` is the same in every run and backend.
struct Generator {
    citizens: u64,
    start_us: i64,
    centers: Vec<String>,
    prev_hash: String,
}

impl Generator {
    fn new(events: u64, citizens: u64, first_seq: i64) -> Generator {
        // The log ends about now.
        let now_us = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000) as i64;
        let start_us = now_us - events as i64 * STEP_US;
        let prev_hash = if first_seq <= 1 { "0".repeat(64) } else { Self::hash(first_seq - 1) };
        Generator { citizens, start_us, centers: (0..CENTERS).map(center_id).collect(), prev_hash }
    }

    fn hash(seq: i64) -> String {
        let s = seq as u64;
        format!("{:016x}{:016x}{:016x}{:016x}", mix(s), mix(s ^ (1 << 62)), mix(s ^ (2 << 61)), mix(s ^ (3 << 60)))
    }

    fn row(&mut self, seq: i64) -> EventRow {
        let mut r = Rng(mix(seq as u64 ^ 0x5eed));
        let at_us = self.start_us + seq * STEP_US + r.below(STEP_US as u64) as i64;
        let at = format_rfc3339(
            time::OffsetDateTime::from_unix_timestamp_nanos(at_us as i128 * 1000).expect("time in range"),
        );
        let ms = (at_us / 1000) as u64;
        let id = format!(
            "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
            ms >> 16,
            ms & 0xffff,
            r.below(0x1000),
            0x8000 | r.below(0x4000),
            seq as u64 & 0xffff_ffff_ffff
        );
        let operator = r.below(OPERATORS);
        let center = operator % CENTERS;
        let center_id = self.centers[center as usize].clone();
        let client_id = format!("center-{}", center_id.to_lowercase());
        let gov = &center_id[..3];
        let case_ref = format!("{gov}-2025-{:06}", r.below(1_000_000));
        let citizen = national_id(r.below(self.citizens));
        let roll = r.below(100);
        // (action, subject, purpose, with operator and case)
        let (action, subject, purpose, context) = match roll {
            0..55 => ("national_id.verify", Some(citizen), Some(PURPOSES[r.below(5) as usize]), true),
            55..67 => (
                "real_estate.verify",
                Some(format!("{gov}-{}-{:06}", &center_id[4..6], r.below(1_000_000))),
                Some(["property_services", "building_permit"][r.below(2) as usize]),
                true,
            ),
            67..75 => (
                "commercial_register.verify",
                Some(format!("{}/{:06}", OFFICES[r.below(8) as usize], r.below(1_000_000))),
                Some("shop_license"),
                true,
            ),
            75..78 => ("security_check.submit", Some(citizen), Some("shop_license"), true),
            78..82 => ("security_check.read", Some(citizen), None, false),
            82..92 => {
                ("sms.send", Some(format!("+2010{:08}", r.below(100_000_000))), Some("status_notification"), true)
            }
            92..98 => ("token.issue", Some(client_id.clone()), None, false),
            98 => ("audit.query", None, None, false),
            _ => ("auth.denied", None, None, false),
        };
        let verify = action.ends_with(".verify");
        let o = r.below(100);
        let (outcome, http_status) = match action {
            _ if verify => match o {
                0..80 => ("match", 200),
                80..90 => ("mismatch", 200),
                90..95 => ("not_found", 200),
                95..97 => ("invalid_request", 400),
                97..99 => ("upstream_unavailable", 503),
                _ => ("forbidden", 403),
            },
            "security_check.submit" | "sms.send" => ("accepted", 202),
            "token.issue" if o >= 98 => ("invalid_client", 401),
            "auth.denied" => ("unauthorized", 401),
            _ => ("ok", 200),
        };
        let cache = if verify && http_status == 200 {
            match r.below(100) {
                0..70 => "hit",
                70..97 => "miss",
                _ => "stale",
            }
        } else {
            "none"
        };
        let duration_ms = match cache {
            "hit" => r.below(3),
            "miss" | "stale" => 15 + r.below(400),
            _ => r.below(5),
        } as i64;
        let (client_id, center_id) = match action {
            "auth.denied" => (None, None),
            "audit.query" => (Some(format!("auditor-{}", center % 4 + 1)), None),
            _ => (Some(client_id), Some(center_id)),
        };
        let hash = Self::hash(seq);
        let prev_hash = std::mem::replace(&mut self.prev_hash, hash.clone());
        EventRow {
            seq,
            id,
            at,
            client_id,
            center_id,
            operator_id: context.then(|| format!("EMP-{:04}", 1000 + operator)),
            action,
            subject,
            purpose,
            case_ref: context.then_some(case_ref),
            outcome,
            http_status,
            cache,
            duration_ms,
            prev_hash,
            hash,
        }
    }
}

/// Rows `1..=events` in batches of `batch`, produced on a blocking thread
/// (so that generation overlaps the database's work on the other core).
fn generate(events: u64, citizens: u64, batch: usize) -> tokio::sync::mpsc::Receiver<Vec<EventRow>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::task::spawn_blocking(move || {
        let mut g = Generator::new(events, citizens, 1);
        let mut seq = 1i64;
        while seq <= events as i64 {
            let end = (seq + batch as i64 - 1).min(events as i64);
            let rows: Vec<EventRow> = (seq..=end).map(|s| g.row(s)).collect();
            if tx.blocking_send(rows).is_err() {
                return;
            }
            seq = end + 1;
        }
    });
    rx
}

// ---------------------------------------------------------------- loading

/// What a finished log records about itself, so that a re-run can reuse it.
const META_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS bench_query_meta (events BIGINT NOT NULL, citizens BIGINT NOT NULL)";

enum Prepared {
    Reused,
    Empty,
}

fn check_meta(meta: Option<(i64, i64)>, rows: i64, events: u64, citizens: u64, what: &str) -> anyhow::Result<Prepared> {
    match meta {
        Some((e, c)) if e == events as i64 && c == citizens as i64 => Ok(Prepared::Reused),
        None if rows == 0 => Ok(Prepared::Empty),
        Some((e, c)) => {
            anyhow::bail!(
                "{what} holds a log of {e} events / {c} citizens, not {events} / {citizens}: remove it or name another"
            )
        }
        None => anyhow::bail!("{what} holds audit events but no finished bench_query log: remove it or name another"),
    }
}

fn progress(what: &str, done: u64, total: u64, started: Instant) {
    if total >= 1_000_000 {
        eprintln!(
            "    {what}: {done}/{total} rows ({:.0} rows/s)",
            done as f64 / started.elapsed().as_secs_f64().max(1e-9)
        );
    }
}

/// Fills the SQLite log at `path` unless a finished one of this shape is there.
async fn load_sqlite(path: &Path, events: u64, citizens: u64) -> anyhow::Result<Option<Duration>> {
    let url = format!("sqlite://{}", path.display());
    drop(Store::open(&url, &StoreOptions::default()).await?);
    // The loader's own connection: no fsync while loading, a large cache for the index builds.
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)?
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .pragma("cache_size", "-1048576")
        .pragma("temp_store", "memory");
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    sqlx::raw_sql(META_TABLE).execute(&mut conn).await?;
    let meta: Option<(i64, i64)> =
        sqlx::query_as("SELECT events, citizens FROM bench_query_meta").fetch_optional(&mut conn).await?;
    let rows: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events LIMIT 1)").fetch_one(&mut conn).await?;
    if let Prepared::Reused = check_meta(meta, rows, events, citizens, &path.display().to_string())? {
        conn.close().await?;
        return Ok(None);
    }
    let started = Instant::now();
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND sql IS NOT NULL",
    )
    .fetch_all(&mut conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut conn).await?;
    }
    // The summary's triggers too: it is made from the whole log at the end.
    let triggers: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'")
            .fetch_all(&mut conn)
            .await?;
    for (name, _) in &triggers {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER {name}"))).execute(&mut conn).await?;
    }
    let mut rx = generate(events, citizens, 1000);
    let mut done = 0u64;
    let mut tx = conn.begin().await?;
    let mut last = None;
    while let Some(batch) = rx.recv().await {
        done += batch.len() as u64;
        last = batch.last().map(|r| (r.seq, r.hash.clone()));
        let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(format!("INSERT INTO audit_events ({COLUMNS}) "));
        qb.push_values(batch, |mut b, e| {
            b.push_bind(e.seq)
                .push_bind(e.id)
                .push_bind(e.at)
                .push_bind(e.client_id)
                .push_bind(e.center_id)
                .push_bind(e.operator_id)
                .push_bind(e.action)
                .push_bind(e.subject)
                .push_bind(e.purpose)
                .push_bind(e.case_ref)
                .push_bind(e.outcome)
                .push_bind(e.http_status)
                .push_bind(e.cache)
                .push_bind(e.duration_ms)
                .push_bind(e.prev_hash)
                .push_bind(e.hash);
        });
        qb.build().execute(&mut *tx).await?;
        if done.is_multiple_of(500_000) {
            tx.commit().await?;
            progress("SQLite insert", done, events, started);
            tx = conn.begin().await?;
        }
    }
    tx.commit().await?;
    finish_log!(conn, indexes, triggers, last, events, citizens, "SQLite");
    sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut conn).await?;
    conn.close().await?;
    Ok(Some(started.elapsed()))
}

fn copy_line(out: &mut Vec<u8>, e: &EventRow) {
    use std::io::Write;
    fn opt(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("\\N")
    }
    // No value contains a tab, newline or backslash: COPY's text format needs no escaping.
    let _ = writeln!(
        out,
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        e.seq,
        e.id,
        e.at,
        opt(&e.client_id),
        opt(&e.center_id),
        opt(&e.operator_id),
        e.action,
        opt(&e.subject),
        e.purpose.unwrap_or("\\N"),
        opt(&e.case_ref),
        e.outcome,
        e.http_status,
        e.cache,
        e.duration_ms,
        e.prev_hash,
        e.hash
    );
}

/// Fills the PostgreSQL log at `url` unless a finished one of this shape is there.
async fn load_postgres(url: &str, events: u64, citizens: u64) -> anyhow::Result<Option<Duration>> {
    drop(Store::open(url, &StoreOptions::default()).await?);
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(META_TABLE).execute(&mut conn).await?;
    let meta: Option<(i64, i64)> =
        sqlx::query_as("SELECT events, citizens FROM bench_query_meta").fetch_optional(&mut conn).await?;
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM (SELECT 1 FROM audit_events LIMIT 1) AS one")
        .fetch_one(&mut conn)
        .await?;
    if let Prepared::Reused = check_meta(meta, rows, events, citizens, url)? {
        conn.close().await?;
        return Ok(None);
    }
    let started = Instant::now();
    // The loader's session only: the load is redone if the machine fails meanwhile.
    sqlx::raw_sql("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'").execute(&mut conn).await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() \
         AND tablename = 'audit_events' AND indexdef NOT LIKE 'CREATE UNIQUE %'",
    )
    .fetch_all(&mut conn)
    .await?;
    for (name, _) in &indexes {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP INDEX {name}"))).execute(&mut conn).await?;
    }
    let triggers: Vec<(String, String)> = sqlx::query_as(
        "SELECT tgname::text, pg_get_triggerdef(oid) FROM pg_trigger \
         WHERE tgrelid = 'audit_events'::regclass AND NOT tgisinternal",
    )
    .fetch_all(&mut conn)
    .await?;
    for (name, _) in &triggers {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP TRIGGER {name} ON audit_events"))).execute(&mut conn).await?;
    }
    let mut rx = generate(events, citizens, 2000);
    let mut done = 0u64;
    let mut last = None;
    let copy = format!("COPY audit_events ({COLUMNS}) FROM STDIN");
    let mut buf = Vec::with_capacity(1 << 20);
    while let Some(first) = rx.recv().await {
        // One COPY per million rows, so that progress shows.
        let mut copy_in = conn.copy_in_raw(&copy).await?;
        let mut batch = Some(first);
        let mut in_this_copy = 0u64;
        while let Some(rows) = batch.take() {
            buf.clear();
            for e in &rows {
                copy_line(&mut buf, e);
            }
            copy_in.send(buf.as_slice()).await?;
            done += rows.len() as u64;
            in_this_copy += rows.len() as u64;
            last = rows.last().map(|r| (r.seq, r.hash.clone()));
            if in_this_copy < 1_000_000 {
                batch = rx.recv().await;
            }
        }
        copy_in.finish().await?;
        progress("PostgreSQL COPY", done, events, started);
    }
    finish_log!(conn, indexes, triggers, last, events, citizens, "PostgreSQL");
    // What autovacuum would have done by the time the log is this large:
    // statistics for the planner and a visibility map for index-only counts.
    sqlx::raw_sql("VACUUM ANALYZE audit_events, audit_summary").execute(&mut conn).await?;
    conn.close().await?;
    Ok(Some(started.elapsed()))
}

// ---------------------------------------------------------------- PostgreSQL databases

struct PgDb {
    server: String,
    name: String,
    url: String,
    /// Dropped at the end (scratch) or kept for re-runs.
    scratch: bool,
}

impl PgDb {
    /// Database `name` on `server` (created when absent), or a scratch one.
    async fn open(server: &str, name: Option<&str>) -> anyhow::Result<PgDb> {
        let (name, scratch) = match name {
            Some(n) => {
                anyhow::ensure!(
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "--pg-db {n}: use lower-case letters, digits and _"
                );
                (n.to_owned(), false)
            }
            None => (format!("bawaba_bench_{}", uuid::Uuid::new_v4().simple()), true),
        };
        let mut conn = sqlx::PgConnection::connect(server).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut conn)
            .await?;
        if exists.is_none() {
            // The name is checked above (or made here of hex digits).
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        }
        conn.close().await?;
        let mut url = url::Url::parse(server)?;
        url.set_path(&name);
        Ok(PgDb { server: server.to_owned(), url: url.to_string(), name, scratch })
    }

    async fn size(&self) -> anyhow::Result<i64> {
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(&mut conn).await?;
        conn.close().await?;
        Ok(size)
    }

    async fn finish(self) {
        if !self.scratch {
            return;
        }
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                eprintln!("could not drop {}: {e}", self.name);
            }
            let _ = conn.close().await;
        }
    }
}

/// How the database is reached, as the server sees the connection.
async fn describe_pg(url: &str) -> anyhow::Result<String> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let tls: bool =
        sqlx::query_scalar("SELECT COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)")
            .fetch_one(&mut conn)
            .await?;
    conn.close().await?;
    let socket = url::Url::parse(url)?.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
    Ok(format!("PostgreSQL ({}, {})", if socket { "Unix socket" } else { "TCP" }, if tls { "TLS" } else { "no TLS" }))
}

// ---------------------------------------------------------------- measuring

#[derive(Default)]
struct Latencies {
    ms: Vec<f64>,
    rows: u64,
}

impl Latencies {
    fn p(&self, q: f64) -> f64 {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return f64::NAN;
        }
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    }
    fn mean_rows(&self) -> f64 {
        self.rows as f64 / self.ms.len().max(1) as f64
    }
}

struct Measured {
    list: Latencies,
    count: Latencies,
}

/// One citizen's accesses, as the auditor page asks for them.
async fn one(store: &Store, citizen: u64, m: Option<&mut Measured>) -> anyhow::Result<()> {
    let filter = AuditFilter { subject: Some(national_id(citizen)), ..AuditFilter::default() };
    let t = Instant::now();
    let rows = store.query_events(&filter, Page::NewestFirst { before: None }, QUERY_LIMIT).await?;
    let list_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let count = store.count_events(&filter).await?;
    let count_ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(rows.iter().all(|e| e.subject == filter.subject), "query returned another subject");
    anyhow::ensure!(
        rows.len() as i64 == count.min(QUERY_LIMIT as i64),
        "count {count} disagrees with {} rows",
        rows.len()
    );
    if let Some(m) = m {
        m.list.ms.push(list_ms);
        m.list.rows += rows.len() as u64;
        m.count.ms.push(count_ms);
        m.count.rows += count as u64;
    }
    Ok(())
}

/// The queries on the large log and on the baseline, alternated so that both
/// meet the same machine.
async fn measure(
    big: &Store,
    big_citizens: u64,
    base: &Store,
    base_citizens: u64,
    queries: usize,
) -> anyhow::Result<(Measured, Measured)> {
    let mut rng = Rng(42);
    for _ in 0..WARMUP_QUERIES {
        one(big, rng.below(big_citizens), None).await?;
        one(base, rng.below(base_citizens), None).await?;
    }
    let new = || Measured { list: Latencies::default(), count: Latencies::default() };
    let (mut b, mut s) = (new(), new());
    for _ in 0..queries {
        one(big, rng.below(big_citizens), Some(&mut b)).await?;
        one(base, rng.below(base_citizens), Some(&mut s)).await?;
    }
    Ok((b, s))
}

// ---------------------------------------------------------------- main

struct Args {
    events: u64,
    baseline_events: u64,
    citizens: u64,
    queries: usize,
    sqlite: bool,
    postgres: bool,
    pg: String,
    dir: PathBuf,
    keep_sqlite: Option<PathBuf>,
    keep_pg: Option<String>,
}

const USAGE: &str = "bench_query [--events 10000000] [--baseline-events 100000] [--citizens 100000] [--queries 200] \
                     [--backends sqlite,postgres] [--pg URL] [--dir DIR] [--sqlite PATH] [--pg-db NAME]";

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        events: 10_000_000,
        baseline_events: 100_000,
        citizens: 100_000,
        queries: 200,
        sqlite: true,
        postgres: true,
        pg: std::env::var("BAWABA_BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into()),
        dir: std::env::temp_dir(),
        keep_sqlite: None,
        keep_pg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value; usage: {USAGE}"));
        match flag.as_str() {
            "--events" => a.events = value()?.replace('_', "").parse()?,
            "--baseline-events" => a.baseline_events = value()?.replace('_', "").parse()?,
            "--citizens" => a.citizens = value()?.replace('_', "").parse()?,
            "--queries" => a.queries = value()?.parse()?,
            "--backends" => {
                let v = value()?;
                a.sqlite = v.split(',').any(|b| b.trim() == "sqlite");
                a.postgres = v.split(',').any(|b| b.trim() == "postgres");
            }
            "--pg" => a.pg = value()?,
            "--dir" => a.dir = value()?.into(),
            "--sqlite" => a.keep_sqlite = Some(value()?.into()),
            "--pg-db" => a.keep_pg = Some(value()?),
            other => anyhow::bail!("unknown argument {other}; usage: {USAGE}"),
        }
    }
    anyhow::ensure!(a.events > 0 && a.baseline_events > 0 && a.citizens > 0, "sizes must be positive");
    Ok(a)
}

fn gb(bytes: u64) -> String {
    format!("{:.2} GB", bytes as f64 / 1e9)
}

fn file_size(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    [path.to_path_buf(), wal].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

struct Report {
    backend: String,
    big: Measured,
    base: Measured,
    generated: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    // The baseline has the same number of events per citizen as the large log.
    let base_citizens = (args.citizens * args.baseline_events / args.events).max(1);
    let dir = tempfile::Builder::new().prefix("bench-query-").tempdir_in(&args.dir)?;
    eprintln!(
        "bench_query: {} events / {} citizens against {} events / {base_citizens} citizens, {} queries each",
        args.events, args.citizens, args.baseline_events, args.queries
    );
    let mut reports = Vec::new();
    if args.sqlite {
        let big_path = args.keep_sqlite.clone().unwrap_or_else(|| dir.path().join("big.db"));
        let base_path = dir.path().join("baseline.db");
        eprintln!("  SQLite: {} events at {}", args.events, big_path.display());
        let took = load_sqlite(&big_path, args.events, args.citizens).await?;
        load_sqlite(&base_path, args.baseline_events, base_citizens).await?;
        let generated = match took {
            Some(t) => format!("generated in {:.0} s", t.as_secs_f64()),
            None => "reused".into(),
        };
        let generated = format!("{generated}, {}", gb(file_size(&big_path)));
        eprintln!("  SQLite: {generated}; querying");
        let options = StoreOptions::default();
        let big = Store::open(&format!("sqlite://{}", big_path.display()), &options).await?;
        let base = Store::open(&format!("sqlite://{}", base_path.display()), &options).await?;
        let (b, s) = measure(&big, args.citizens, &base, base_citizens, args.queries).await?;
        reports.push(Report { backend: "SQLite".into(), big: b, base: s, generated });
    }
    if args.postgres {
        let big_db = PgDb::open(&args.pg, args.keep_pg.as_deref()).await?;
        let base_db = PgDb::open(&args.pg, None).await?;
        let result = async {
            eprintln!("  PostgreSQL: {} events in database {}", args.events, big_db.name);
            let took = load_postgres(&big_db.url, args.events, args.citizens).await?;
            load_postgres(&base_db.url, args.baseline_events, base_citizens).await?;
            let generated = match took {
                Some(t) => format!("generated in {:.0} s", t.as_secs_f64()),
                None => "reused".into(),
            };
            let generated = format!("{generated}, {}", gb(big_db.size().await? as u64));
            eprintln!("  PostgreSQL: {generated}; querying");
            let options = StoreOptions::default();
            let big = Store::open(&big_db.url, &options).await?;
            let base = Store::open(&base_db.url, &options).await?;
            let (b, s) = measure(&big, args.citizens, &base, base_citizens, args.queries).await?;
            let backend = describe_pg(&big_db.url).await?;
            Ok::<_, anyhow::Error>(Report { backend, big: b, base: s, generated })
        }
        .await;
        big_db.finish().await;
        base_db.finish().await;
        reports.push(result?);
    }
    println!(
        "| store | query (one citizen; {} random citizens) | {} events: p50 ms | p95 ms | p99 ms | rows (mean) \
         | baseline, {} events: p50 ms | p95 ms | p99 ms | rows (mean) | p50 ratio |",
        args.queries, args.events, args.baseline_events
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        for (query, big, base) in [
            ("query_events, newest first, limit 1000", &r.big.list, &r.base.list),
            ("count_events", &r.big.count, &r.base.count),
        ] {
            println!(
                "| {} | {query} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2}× |",
                r.backend,
                big.p(0.50),
                big.p(0.95),
                big.p(0.99),
                big.mean_rows(),
                base.p(0.50),
                base.p(0.95),
                base.p(0.99),
                base.mean_rows(),
                big.p(0.50) / base.p(0.50)
            );
        }
    }
    println!();
    for r in &reports {
        println!("{} log of {} events: {}.", r.backend, args.events, r.generated);
    }
    Ok(())
}
