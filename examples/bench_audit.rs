//! Durable audit events per second with group commit, on SQLite (a file,
//! `synchronous = FULL`: the default store options) and on PostgreSQL, beside
//! a baseline measured in the same run: the same appenders into a sink that
//! keeps nothing (defined here, never a setting of the product). The ratio is
//! what durability costs; the baseline is the harness's own ceiling.
//!
//! N concurrent tasks each append one event at a time through the product's
//! writer (`AuditLog::start`: one writer batches whatever queued and commits it
//! in one transaction) and wait until it is durable, for D seconds after a
//! one-second warm-up.
//!
//! ```sh
//! cargo run --release --example bench_audit -- [--seconds 5] [--tasks 64,512] \
//!     [--pg URL]... [--no-pg] [--dir DIR] [--without-summary]
//! ```
//!
//! `--without-summary` measures every PostgreSQL store a second time with the
//! stats summary's triggers dropped (`store::audit_summary`): the writer as it
//! was before the summary, a variant that exists only here, never a setting.
//! (SQLite's appender adds each batch to the summary itself; `--floor` shows
//! what that costs.)
//!
//! `--floor` measures instead what the SQLite store's transaction itself
//! takes, with no writer, channel or task around it: one thread calls the
//! product's `SqliteAppender::append` (the audit writer's own transaction)
//! with ready-made batches of 32 and 256 events, timing only the calls; then
//! the same with the summary kept by a row trigger (as before migration 10),
//! without the summary, without the secondary indexes too, and with
//! `synchronous = NORMAL` (variants that exist only here). It
//! is the ceiling of any writer in front of this schema on this disk.
//!
//! `--pg URL` names a PostgreSQL server (default: `$BAWABA_BENCH_DATABASE_URL`,
//! else `postgres://postgres@127.0.0.1:5432/test`); each measurement creates a
//! scratch database there and drops it afterwards. Give `--pg` again to measure
//! more ways of reaching a server (e.g. the same URL with `?sslmode=disable`);
//! each row says how its connection went (TCP or Unix socket, TLS or not, as
//! the server reports it). The SQLite files go under `--dir` (default: the
//! system temp directory; pass a directory on the disk you mean to measure)
//! and are removed at the end.

use bawaba::audit::{Action, AuditLog, CacheUse, CheckpointKey, NewEvent, Sealer, now_rfc3339};
use bawaba::metrics::Metrics;
use bawaba::store::{Store, StoreOptions};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/test";
const WARMUP: Duration = Duration::from_secs(1);

#[path = "support/noop_sink.rs"]
mod noop_sink;
use noop_sink::NoopSink;

/// splitmix64: enough randomness for synthetic events, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// An event as a national-ID verification (cache hit) records it.
fn event(rng: &mut Rng) -> NewEvent {
    let citizen = rng.below(100_000);
    NewEvent {
        id: uuid::Uuid::now_v7().to_string(),
        at: now_rfc3339(),
        client_id: Some("center-demo".into()),
        center_id: Some("SHR-ZAG-01".into()),
        operator_id: Some(format!("EMP-{}", 1000 + rng.below(400))),
        action: Some(Action::NationalIdVerify),
        subject: Some(format!("{}", 20_000_000_000_000 + (citizen * 1_000_003_917) % 10_000_000_000_000)),
        purpose: Some("building_permit".into()),
        case_ref: Some(format!("SHR-2025-{:06}", rng.below(1_000_000))),
        outcome: "match".into(),
        http_status: 200,
        cache: Some(CacheUse::Hit),
        duration_ms: 1,
        receipt: None,
        claim_mismatches: Vec::new(),
    }
}

struct Measured {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: u64,
    /// Mean events per commit and mean commit time (real writer only).
    batch: Option<(f64, f64)>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Runs `tasks` appenders for WARMUP + `seconds`; counts the appends that
/// completed inside the measured window.
async fn drive(log: AuditLog, tasks: usize, seconds: Duration, metrics: Option<Arc<Metrics>>) -> Measured {
    let start = Instant::now() + WARMUP;
    let end = start + seconds;
    let mut handles = Vec::with_capacity(tasks);
    for t in 0..tasks {
        let log = log.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng(t as u64 * 7919 + 1);
            let mut latencies: Vec<u32> = Vec::with_capacity(4096);
            let mut failures = 0u64;
            loop {
                let began = Instant::now();
                if began >= end {
                    break;
                }
                let ok = log.append(event(&mut rng)).await.is_ok();
                let done = Instant::now();
                // The no-op sink answers at once: let the other appenders run
                // (the real writer's answer always suspends the task anyway).
                tokio::task::yield_now().await;
                if !ok {
                    failures += 1;
                } else if done >= start && done <= end {
                    latencies.push((done - began).as_micros().min(u32::MAX as u128) as u32);
                }
            }
            (latencies, failures)
        }));
    }
    let snapshot = |m: &Option<Arc<Metrics>>| {
        m.as_ref().map(|m| {
            (
                m.audit_batch_size.get_sample_count(),
                m.audit_batch_size.get_sample_sum(),
                m.audit_commit_seconds.get_sample_sum(),
            )
        })
    };
    tokio::time::sleep_until(start.into()).await;
    let before = snapshot(&metrics);
    tokio::time::sleep_until(end.into()).await;
    let after = snapshot(&metrics);
    let mut all = Vec::new();
    let mut failures = 0;
    for h in handles {
        let (l, f) = h.await.expect("appender task");
        all.extend(l);
        failures += f;
    }
    all.sort_unstable();
    let batch = match (before, after) {
        (Some((c0, e0, s0)), Some((c1, e1, s1))) if c1 > c0 => {
            let commits = (c1 - c0) as f64;
            Some(((e1 - e0) / commits, 1000.0 * (s1 - s0) / commits))
        }
        _ => None,
    };
    Measured {
        events_per_s: all.len() as f64 / seconds.as_secs_f64(),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        failures,
        batch,
    }
}

/// A PostgreSQL database made for one measurement, dropped by `drop_db`.
struct ScratchDb {
    server: String,
    name: String,
    url: String,
}

impl ScratchDb {
    async fn create(server: &str) -> anyhow::Result<ScratchDb> {
        use sqlx::Connection;
        let name = format!("bawaba_bench_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(server).await?;
        // The name is made here of hex digits only.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
        conn.close().await?;
        let mut url = url::Url::parse(server)?;
        url.set_path(&name);
        Ok(ScratchDb { server: server.to_owned(), url: url.to_string(), name })
    }

    /// How this database is reached, as the server sees the connection: the
    /// transport, TLS or not, and `synchronous_commit`.
    async fn describe(&self) -> anyhow::Result<String> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.url).await?;
        let (sync, tls): (String, bool) = sqlx::query_as(
            "SELECT current_setting('synchronous_commit'), \
             COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await?;
        let socket = url::Url::parse(&self.url)?.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
        Ok(format!(
            "PostgreSQL over {}, {} (synchronous_commit={sync})",
            if socket { "Unix socket" } else { "TCP" },
            if tls { "TLS" } else { "no TLS" }
        ))
    }

    async fn drop_db(self) {
        use sqlx::Connection;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.server).await {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                eprintln!("could not drop {}: {e}", self.name);
            }
            let _ = conn.close().await;
        }
    }
}

/// PostgreSQL's summary triggers, dropped (the variant without the summary).
async fn drop_summary_triggers(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql("DROP TRIGGER audit_summary_add ON audit_events; DROP TRIGGER audit_summary_remove ON audit_events")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

/// SQL run on a SQLite store's file before a floor variant.
async fn sqlite_sql(url: &str, sql: String) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
    conn.close().await?;
    Ok(())
}

/// One measurement through the product's writer on a fresh store (with or
/// without the summary's triggers).
async fn real(url: &str, tasks: usize, seconds: Duration, summary: bool) -> anyhow::Result<Measured> {
    let settings = bawaba::config::Settings::load_from(None, &[]).map_err(|p| anyhow::anyhow!("{p}"))?;
    let store = Store::open(url, &StoreOptions::default()).await?;
    if !summary {
        drop_summary_triggers(url).await?;
    }
    let sealer = Sealer { key: Arc::new(CheckpointKey::generate()?), every: settings.audit.checkpoint_every };
    let metrics = Arc::new(Metrics::new());
    let (log, writer_tasks) = AuditLog::start(
        store,
        settings.store.max_batch,
        sealer,
        Duration::from_secs(settings.audit.checkpoint_interval_seconds),
        metrics.clone(),
    )?;
    let measured = drive(log, tasks, seconds, Some(metrics)).await;
    for t in writer_tasks {
        t.abort();
        let _ = t.await;
    }
    Ok(measured)
}

async fn noop(store: Store, tasks: usize, seconds: Duration) -> Measured {
    let log = AuditLog::with_sink(store, Arc::new(NoopSink { seq: AtomicI64::new(0) }));
    drive(log, tasks, seconds, None).await
}

struct Args {
    seconds: Duration,
    tasks: Vec<usize>,
    pg: Vec<String>,
    dir: std::path::PathBuf,
    without_summary: bool,
    floor: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        seconds: Duration::from_secs(5),
        tasks: vec![64, 512],
        pg: vec![std::env::var("BAWABA_BENCH_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.into())],
        dir: std::env::temp_dir(),
        without_summary: false,
        floor: false,
    };
    let mut it = std::env::args().skip(1);
    let mut given_pg = false;
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = Duration::from_secs_f64(value()?.parse()?),
            "--tasks" => a.tasks = value()?.split(',').map(|t| t.trim().parse()).collect::<Result<_, _>>()?,
            "--pg" => {
                let url = value()?;
                if !given_pg {
                    a.pg.clear();
                    given_pg = true;
                }
                a.pg.push(url);
            }
            "--no-pg" => {
                a.pg.clear();
                given_pg = true;
            }
            "--dir" => a.dir = value()?.into(),
            "--without-summary" => a.without_summary = true,
            "--floor" => a.floor = true,
            other => anyhow::bail!(
                "unknown argument {other}; usage: bench_audit [--seconds 5] [--tasks 64,512] [--pg URL]... [--no-pg] \
                 [--dir DIR] [--without-summary] [--floor]"
            ),
        }
    }
    Ok(a)
}

fn cell(v: f64) -> String {
    if v.is_nan() { "–".into() } else { format!("{v:.3}") }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let dir = tempfile::Builder::new().prefix("bench-audit-").tempdir_in(&args.dir)?;
    eprintln!(
        "bench_audit: {} s per measurement (+{} s warm-up), appenders {:?}, SQLite under {}",
        args.seconds.as_secs_f64(),
        WARMUP.as_secs(),
        args.tasks,
        dir.path().display()
    );
    if args.floor {
        return floor(dir.path(), args.seconds).await;
    }
    // The baseline's store is never written: the no-op sink keeps nothing.
    let idle_store =
        Store::open(&format!("sqlite://{}", dir.path().join("idle.db").display()), &StoreOptions::default()).await?;
    println!(
        "| store | appenders | durable events/s | mean batch | mean commit ms | append p50 ms | append p99 ms | failures \
         | baseline: no-op sink events/s | p50 ms | p99 ms | ratio |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (i, &tasks) in args.tasks.iter().enumerate() {
        eprintln!("  {tasks} appenders: no-op sink");
        let base = noop(idle_store.clone(), tasks, args.seconds).await;
        let variants: &[bool] = if args.without_summary { &[true, false] } else { &[true] };
        for (v, &summary) in variants.iter().enumerate() {
            let suffix = if summary { "" } else { ", without the stats summary (bench only)" };
            if summary {
                eprintln!("  {tasks} appenders: SQLite");
                let url = format!("sqlite://{}", dir.path().join(format!("audit-{i}-{v}.db")).display());
                let sqlite = real(&url, tasks, args.seconds, true).await?;
                print_row("SQLite (file, synchronous=FULL)", tasks, &sqlite, &base);
            }
            for server in &args.pg {
                eprintln!(
                    "  {tasks} appenders: PostgreSQL at {}{suffix}",
                    server.split('@').next_back().unwrap_or(server)
                );
                let db = ScratchDb::create(server).await?;
                let result = match db.describe().await {
                    Ok(label) => real(&db.url, tasks, args.seconds, summary).await.map(|m| (label, m)),
                    Err(e) => Err(e),
                };
                db.drop_db().await;
                let (label, measured) = result?;
                print_row(&format!("{label}{suffix}"), tasks, &measured, &base);
            }
        }
    }
    Ok(())
}

fn print_row(name: &str, tasks: usize, m: &Measured, b: &Measured) {
    let (batch, commit) = m.batch.map_or(("–".into(), "–".into()), |(b, c)| (format!("{b:.1}"), format!("{c:.2}")));
    println!(
        "| {name} | {tasks} | {:.0} | {batch} | {commit} | {} | {} | {} | {:.0} | {} | {} | {:.3}× |",
        m.events_per_s,
        cell(m.p50_ms),
        cell(m.p99_ms),
        m.failures,
        b.events_per_s,
        cell(b.p50_ms),
        cell(b.p99_ms),
        m.events_per_s / b.events_per_s
    );
}

/// What a variant of `--floor` takes away from the store.
#[derive(Clone, Copy, PartialEq)]
enum Stripped {
    Nothing,
    /// The WAL checkpoints of the commits themselves, not of their own thread.
    Checkpoints,
    /// The summary kept by a row trigger, one upsert per event (as before).
    RowTrigger,
    Summary,
    /// These secondary indexes too.
    Indexes(&'static [&'static str]),
}

const SECONDARY: [&str; 5] = ["subject", "client", "operator", "center", "at"];

/// `--floor`: the SQLite store's transaction alone (see the module's comment).
async fn floor(dir: &std::path::Path, seconds: Duration) -> anyhow::Result<()> {
    println!(
        "| the store's transaction alone (one thread, SqliteAppender::append) | events per commit | durable events/s | mean commit ms |"
    );
    println!("|---|---|---|---|");
    let variants = [
        ("as the product has it (synchronous=FULL)", Stripped::Nothing, true),
        (
            "as the product has it, checkpoints by the committing connection (SQLite's default)",
            Stripped::Checkpoints,
            true,
        ),
        ("the stats summary by a row trigger, an upsert per event (before migration 10)", Stripped::RowTrigger, true),
        ("without the stats summary", Stripped::Summary, true),
        ("without the summary and the subject index", Stripped::Indexes(&["subject"]), true),
        ("without the summary and the client, operator and center indexes", Stripped::Indexes(&SECONDARY[1..4]), true),
        ("without the summary and the five secondary indexes", Stripped::Indexes(&SECONDARY), true),
        ("as the product has it, synchronous=NORMAL (no fsync per commit)", Stripped::Nothing, false),
    ];
    for (i, (name, stripped, fsync)) in variants.into_iter().enumerate() {
        for batch in [32usize, 256] {
            let url = format!("sqlite://{}", dir.join(format!("floor-{i}-{batch}.db")).display());
            let options = StoreOptions {
                fsync_each_commit: fsync,
                background_checkpoints: stripped != Stripped::Checkpoints,
                ..StoreOptions::default()
            };
            let store = Store::open(&url, &options).await?;
            if stripped == Stripped::RowTrigger {
                sqlite_sql(&url, bawaba::store::audit_summary::SQLITE_ROW_TRIGGER.into()).await?;
            }
            if let Stripped::Indexes(indexes) = stripped {
                let drops: Vec<String> = indexes.iter().map(|i| format!("DROP INDEX audit_events_{i};")).collect();
                sqlite_sql(&url, drops.concat()).await?;
            }
            let Store::Sqlite(sqlite) = &store else { unreachable!("a sqlite:// URL") };
            let mut appender = sqlite.audit_appender()?;
            if !matches!(stripped, Stripped::Nothing | Stripped::Checkpoints) {
                appender = appender.without_summary_for_benchmarks();
            }
            let sealer = Sealer { key: Arc::new(CheckpointKey::generate()?), every: 1000 };
            let (events, took, commits) = std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let mut rng = Rng(batch as u64);
                        let (mut events, mut took, mut commits) = (0usize, Duration::ZERO, 0u32);
                        let began = Instant::now();
                        while began.elapsed() < WARMUP + seconds {
                            let ready: Vec<NewEvent> = (0..batch).map(|_| event(&mut rng)).collect();
                            let t = Instant::now();
                            appender.append(&ready, &sealer).expect("append");
                            if began.elapsed() >= WARMUP {
                                took += t.elapsed();
                                events += batch;
                                commits += 1;
                            }
                        }
                        (events, took, commits)
                    })
                    .join()
                    .expect("the floor's thread")
            });
            drop((appender, store));
            println!(
                "| {name} | {batch} | {:.0} | {:.2} |",
                events as f64 / took.as_secs_f64(),
                1000.0 * took.as_secs_f64() / commits.max(1) as f64
            );
        }
    }
    Ok(())
}
