//! Upgrades (README "Operating"): migrations go forward only and are tested
//! from the previous release's schema. A store is built from the committed
//! fixture of that release (`tests/upgrade/`: its schema, verbatim from git,
//! and rows its gateway wrote: a signed audit chain, SMS, a security check),
//! then the current gateway starts on it: the missing migrations apply,
//! `bawaba audit verify` accepts the chain, the old events and messages read
//! through the API as they were, and new calls extend the same chain. A store
//! migrated past what this binary knows is refused. On SQLite and PostgreSQL.

mod common;

use common::{Backend, TestApp, repo_file, test_settings, verify_body};
use serde_json::{Value, json};
use std::time::Duration;

/// What the fixture holds (tests/upgrade/rows.sql).
const OLD_EVENTS: i64 = 9;
const OLD_SUBJECT: &str = "29001011300036";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(repo_file(&format!("tests/upgrade/{name}"))).unwrap()
}

/// Runs `sql` (several statements) on the store at `url`.
async fn run_sql(url: &str, sql: &str) {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    if url.starts_with("sqlite") {
        use std::str::FromStr;
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).unwrap().create_if_missing(true);
        let mut c = sqlx::SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
        c.close().await.unwrap();
    }
}

async fn versions(url: &str) -> Vec<i64> {
    use sqlx::Connection;
    let q = "SELECT version FROM schema_migrations ORDER BY version";
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(q).fetch_all(&mut c).await.unwrap()
    }
}

/// Settings on a store of `backend` at the previous release's schema, with its rows.
async fn old_store(
    backend: Backend,
    dir: &tempfile::TempDir,
) -> (bawaba::config::Settings, Option<common::PgDatabase>) {
    let mut settings = test_settings(dir);
    let pg = TestApp::fresh_store(backend, &mut settings).await;
    let schema = match backend {
        Backend::Sqlite => "schema-a9c7a11.sqlite.sql",
        Backend::Postgres => "schema-a9c7a11.postgres.sql",
    };
    run_sql(&settings.store.url, &fixture(schema)).await;
    run_sql(&settings.store.url, &fixture("rows.sql")).await;
    // The old release's checkpoint key, kept trusted for what it signed (its
    // public half only: the new gateway signs with a key of its own).
    settings.audit.trusted_public_keys = vec![repo_file("tests/upgrade/checkpoint-public.pem")];
    (settings, pg)
}

/// `bawaba audit verify` on `app`'s store, trusting the old release's key: exit code and output.
async fn audit_verify(app: &TestApp) -> (i32, String) {
    let config = app.dir.path().join("verify.toml");
    let text = format!(
        "[store]\nurl = {}\n[audit]\ncheckpoint_key_file = {}\ntrusted_public_keys = [{}]\n",
        toml::Value::String(app.settings.store.url.clone()),
        toml::Value::String(app.settings.audit.checkpoint_key_file.display().to_string()),
        toml::Value::String(repo_file("tests/upgrade/checkpoint-public.pem").display().to_string()),
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bawaba"));
    cmd.args(["audit", "verify", "--config"]).arg(&config).current_dir(app.dir.path()).kill_on_drop(true);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("the CLI finishes").unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().expect("an exit code"), text)
}

async fn an_old_store_is_migrated_verified_read_and_extended(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (settings, pg) = old_store(backend, &dir).await;
    let url = settings.store.url.clone();
    let before = versions(&url).await;
    assert_eq!(before, (1..=before.len() as i64).collect::<Vec<_>>(), "the fixture's migrations");

    let mut app = TestApp::spawn_settings(settings, dir).await;
    app.pg_database = pg;

    // The missing migrations applied, in order, after the old ones.
    let after = versions(&url).await;
    assert_eq!(after, (1..=after.len() as i64).collect::<Vec<_>>(), "{after:?}");
    assert!(after.len() > before.len(), "this release adds migrations: {before:?} → {after:?}");
    assert_eq!(app.exec_sql("DELETE FROM citizen_watches").await, 0, "a table of a new migration exists, empty");

    let (code, out) = audit_verify(&app).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");

    // The old events, as the old release wrote them, and after them the new ones.
    let auditor = app.token("auditor-demo").await;
    let old = app.all_audit_events(&auditor, &format!("subject={OLD_SUBJECT}")).await;
    assert!(old.len() >= 2, "{old:?}");
    assert!(old.iter().all(|e| e["seq"].as_i64().unwrap() <= OLD_EVENTS), "{old:?}");
    let integrity: Value = app.get("/v1/audit/integrity", &auditor).await.json().await.unwrap();
    assert_eq!(integrity["ok"], true, "{integrity}");
    assert!(integrity["head_seq"].as_i64().unwrap() > OLD_EVENTS, "{integrity}");

    // The old events' whole UTC day is counted from the stats summary, which
    // a migration of a later release filled from the events already logged.
    let day = "from=2026-12-03T00:00:00Z&to=2026-12-04T00:00:00Z&group_by=center&action=national_id.verify";
    let stats: Value = app.get(&format!("/v1/audit/stats?{day}"), &auditor).await.json().await.unwrap();
    assert_eq!(stats["rows"].as_array().map(Vec::len), Some(1), "{stats}");
    assert_eq!(stats["rows"][0]["group"]["center_id"], "SHR-ZAG-01", "{stats}");
    assert_eq!(stats["rows"][0]["outcomes"], json!({"match": 1, "mismatch": 1}), "{stats}");

    // An old SMS, with its history.
    let center = app.token("center-demo").await;
    let sms: Value = app.get(&format!("/v1/sms/{}", old_sms_id()), &center).await.json().await.unwrap();
    assert_eq!(sms["status"], "delivered", "{sms}");
    assert_eq!(sms["to"], "+201001234567", "{sms}");
    let history: Vec<&str> = sms["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(history, ["queued", "sent", "delivered"], "{sms}");

    // New calls extend the same chain: the first new event follows the old head.
    let (status, answer) = app.verify(&center, &verify_body(OLD_SUBJECT, json!({"full_name": "محمد أحمد علي"}))).await;
    assert_eq!(status, 200, "{answer}");
    let all = app.all_audit_events(&auditor, "").await;
    let at = |seq: i64| all.iter().find(|e| e["seq"] == seq).unwrap_or_else(|| panic!("no event {seq}"));
    assert_eq!(at(OLD_EVENTS + 1)["prev_hash"], at(OLD_EVENTS)["hash"], "{all:?}");
    let newest = app.all_audit_events(&auditor, &format!("subject={OLD_SUBJECT}")).await;
    assert_eq!(newest.len(), old.len() + 1);
    assert!(newest[0]["seq"].as_i64().unwrap() > OLD_EVENTS + 1, "{:?}", newest[0]);
    let (code, out) = audit_verify(&app).await;
    assert_eq!(code, 0, "{out}");
}

/// The one SMS the fixture holds.
fn old_sms_id() -> String {
    let rows = fixture("rows.sql");
    let at = rows.find("INSERT INTO sms_messages").expect("an SMS in the fixture");
    let rest = &rows[at..];
    let start = rest.find("VALUES ('").unwrap() + "VALUES ('".len();
    rest[start..start + 36].to_owned()
}

async fn a_store_migrated_by_a_newer_release_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (settings, _pg) = old_store(backend, &dir).await;
    run_sql(&settings.store.url, "INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'later')").await;
    let before = versions(&settings.store.url).await;
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let refused = bawaba::Application::build(settings.clone()).await.err().expect("the gateway does not start");
    let message = format!("{refused:#}");
    assert!(message.starts_with("store.url: "), "{message}");
    assert!(message.contains("migration 999, newer than this binary knows"), "{message}");
    assert_eq!(versions(&settings.store.url).await, before, "no migration was applied to it");
}

on_both_backends!(an_old_store_is_migrated_verified_read_and_extended, a_store_migrated_by_a_newer_release_is_refused);
