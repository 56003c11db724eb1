//! The whole gateway in one process for load tests (driven by wrk from
//! `benches/run_audit.sh`), on a given listen address and store, with the real
//! audit log or with a sink that keeps nothing: the baseline that says what
//! the audit store costs a request. The no-op sink exists only here, never as
//! a setting of the product.
//!
//! ```sh
//! cargo run --release --example bench_gateway -- --listen 127.0.0.1:18480 --sandbox 127.0.0.1:18490 \
//!     --audit real|none [--store sqlite://PATH | --store postgres://SERVER/DB [--fresh-db]] [--workers 2] [--dir DIR]
//! ```
//!
//! Runs until SIGINT/SIGTERM. `--store` defaults to a SQLite file in a
//! temporary directory (under `--dir`, default the system temp directory),
//! which also holds the checkpoint key and is removed at exit. `--fresh-db`
//! creates a scratch database on the PostgreSQL server of `--store` and drops
//! it at exit. Every other setting is the embedded default's.

use bawaba::Application;
use bawaba::audit::AuditSink;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/noop_sink.rs"]
mod noop_sink;
use noop_sink::NoopSink;

struct Args {
    listen: std::net::SocketAddr,
    sandbox: std::net::SocketAddr,
    store: Option<String>,
    fresh_db: bool,
    audit_real: bool,
    workers: usize,
    dir: std::path::PathBuf,
}

const USAGE: &str = "bench_gateway --listen ADDR [--sandbox ADDR] --audit real|none \
                     [--store URL [--fresh-db]] [--workers 2] [--dir DIR]";

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        listen: "127.0.0.1:18480".parse()?,
        sandbox: "127.0.0.1:0".parse()?,
        store: None,
        fresh_db: false,
        audit_real: true,
        workers: 2,
        dir: std::env::temp_dir(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value; usage: {USAGE}"));
        match flag.as_str() {
            "--listen" => a.listen = value()?.parse()?,
            "--sandbox" => a.sandbox = value()?.parse()?,
            "--store" => a.store = Some(value()?),
            "--fresh-db" => a.fresh_db = true,
            "--audit" => {
                a.audit_real = match value()?.as_str() {
                    "real" => true,
                    "none" => false,
                    other => anyhow::bail!("--audit {other}: expected real or none"),
                }
            }
            "--workers" => a.workers = value()?.parse()?,
            "--dir" => a.dir = value()?.into(),
            other => anyhow::bail!("unknown argument {other}; usage: {USAGE}"),
        }
    }
    Ok(a)
}

/// Creates a scratch database on the server of `url`; returns its URL and name.
async fn create_db(url: &str) -> anyhow::Result<(String, String)> {
    use sqlx::Connection;
    let name = format!("bawaba_bench_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(url).await?;
    // The name is made here of hex digits only.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await?;
    conn.close().await?;
    let mut db = url::Url::parse(url)?;
    db.set_path(&name);
    Ok((db.to_string(), name))
}

async fn drop_db(server: &str, name: &str) {
    use sqlx::Connection;
    match sqlx::PgConnection::connect(server).await {
        Ok(mut conn) => {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await {
                eprintln!("bench_gateway: could not drop {name}: {e}");
            }
            let _ = conn.close().await;
        }
        Err(e) => eprintln!("bench_gateway: could not drop {name}: {e}"),
    }
}

/// How the store is reached, for the benchmark's table: for PostgreSQL, as the
/// server sees the connection (transport, TLS or not, `synchronous_commit`).
async fn describe_store(url: &str, sqlite_synchronous: &str) -> anyhow::Result<String> {
    use sqlx::Connection;
    if !url.starts_with("postgres") {
        return Ok(format!("SQLite (file, synchronous={})", sqlite_synchronous.to_uppercase()));
    }
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let (sync, tls): (String, bool) = sqlx::query_as(
        "SELECT current_setting('synchronous_commit'), \
         COALESCE((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
    )
    .fetch_one(&mut conn)
    .await?;
    conn.close().await?;
    let socket = url::Url::parse(url)?.query_pairs().any(|(k, v)| k == "host" && v.starts_with('/'));
    Ok(format!(
        "PostgreSQL over {}, {} (synchronous_commit={sync})",
        if socket { "Unix socket" } else { "TCP" },
        if tls { "TLS" } else { "no TLS" }
    ))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let args = parse_args()?;
    let dir = tempfile::Builder::new().prefix("bench-gateway-").tempdir_in(&args.dir)?;
    let mut settings = bawaba::config::Settings::load_from(None, &[]).map_err(|p| anyhow::anyhow!("{p}"))?;
    settings.server.listen = args.listen;
    settings.server.workers = args.workers;
    settings.sandbox.listen = args.sandbox;
    settings.audit.checkpoint_key_file = dir.path().join("audit-checkpoint-key.pem");
    settings.audit.archive_dir = dir.path().join("archive");
    settings.log.level = "warn".into();
    let mut scratch = None;
    settings.store.url = match (&args.store, args.fresh_db) {
        (None, _) => format!("sqlite://{}", dir.path().join("bawaba.db").display()),
        (Some(url), false) => url.clone(),
        (Some(url), true) => {
            let (db_url, name) = create_db(url).await?;
            scratch = Some((url.clone(), name));
            db_url
        }
    };
    bawaba::telemetry::init(&settings.log.level, &settings.log.format);
    let sink: Option<Arc<dyn AuditSink>> =
        if args.audit_real { None } else { Some(Arc::new(NoopSink { seq: AtomicI64::new(0) })) };
    let result = match Application::build_with(settings.clone(), sink).await {
        Ok(app) => {
            println!(
                "bench_gateway: {} sandbox {} audit {}",
                app.base_url(),
                app.sandbox_addr.map(|a| format!("http://{a}")).unwrap_or_else(|| "-".into()),
                if args.audit_real { "real" } else { "none" },
            );
            match describe_store(&settings.store.url, &settings.store.sqlite_synchronous).await {
                Ok(label) => println!("bench_gateway store: {label}"),
                Err(e) => eprintln!("bench_gateway: could not describe the store: {e}"),
            }
            app.run().await.map_err(anyhow::Error::from)
        }
        Err(e) => Err(e),
    };
    if let Some((server, name)) = scratch {
        drop_db(&server, &name).await;
    }
    result
}
