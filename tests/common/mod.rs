//! The black-box harness: each test starts its own gateway on port 0 with its
//! own store and its own embedded sandbox, and speaks HTTP to it. The store is
//! a fresh SQLite file, or a fresh PostgreSQL database on the server named by
//! `BAWABA_TEST_DATABASE_URL` (tests written once run on both: see
//! [`on_both_backends!`]).
#![allow(dead_code)]

use bawaba::Application;
use bawaba::config::Settings;
use serde_json::{Value, json};
use std::path::PathBuf;

pub struct TestApp {
    pub base: String,
    pub sandbox: String,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub settings: Settings,
    pub backend: Backend,
    /// Dropped with the app.
    pub pg_database: Option<PgDatabase>,
}

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests may use (CI sets it).
pub fn postgres_server() -> Option<String> {
    std::env::var("BAWABA_TEST_DATABASE_URL").ok().filter(|u| !u.is_empty())
}

/// A database created for one test, dropped when the test ends.
pub struct PgDatabase {
    pub url: String,
    name: String,
    server: String,
}

impl PgDatabase {
    pub async fn create(server: &str) -> PgDatabase {
        Self::create_with(server, "").await
    }

    /// A database created with these options of `CREATE DATABASE` (a test's constant).
    pub async fn create_with(server: &str, options: &str) -> PgDatabase {
        use sqlx::Connection;
        let name = format!("bawaba_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(server).await.expect("BAWABA_TEST_DATABASE_URL connects");
        // The name is generated here from hex digits only.
        let sql = format!("CREATE DATABASE {name} {options}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let mut url = url::Url::parse(server).expect("BAWABA_TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        PgDatabase { url: url.to_string(), name, server: server.to_owned() }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // A thread of its own: Drop may run inside the test's runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&server).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            })
        })
        .join();
    }
}

/// Runs each named `async fn name(backend: Backend)` as two tests,
/// `sqlite::name` and `postgres::name`; the second says `skipped: no
/// database` and passes when `BAWABA_TEST_DATABASE_URL` is not set.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::common::postgres_server().is_none() {
                        eprintln!("skipped: no database");
                        return;
                    }
                    super::$name(super::common::Backend::Postgres).await
                }
            )*
        }
    };
}

pub fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A program of the tests' Python venv (`python`, `schemathesis`, …), made on
/// first use by `.ci/python-tools` (idempotent; reaches PyPI once), or a
/// failure that says why it could not be made.
#[allow(dead_code)]
pub fn python_tool(name: &str) -> PathBuf {
    static MADE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    if !*made {
        let out = std::process::Command::new("bash")
            .arg(repo_file(".ci/python-tools"))
            .output()
            .expect("bash runs .ci/python-tools");
        assert!(
            out.status.success(),
            "`bash .ci/python-tools` could not make target/python-venv from tests/python-requirements.txt:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        *made = true;
    }
    let path = repo_file("target/python-venv/bin").join(name);
    assert!(path.exists(), "{} is missing after `bash .ci/python-tools`", path.display());
    path
}

/// The default settings with ports 0, a fresh store and the repository's config files.
pub fn test_settings(dir: &tempfile::TempDir) -> Settings {
    let mut s = Settings::load_from(None, &[]).expect("embedded default is valid");
    s.server.listen = "127.0.0.1:0".parse().unwrap();
    s.server.workers = 2;
    s.sandbox.listen = "127.0.0.1:0".parse().unwrap();
    s.store.url = format!("sqlite://{}", dir.path().join("bawaba.db").display());
    s.audit.checkpoint_key_file = dir.path().join("audit-checkpoint-key.pem");
    s.audit.archive_dir = dir.path().join("archive");
    s.receipts.key_file = dir.path().join("receipt-key.pem");
    s.auth.clients_file = repo_file("config/clients.toml");
    s.auth.purposes_file = repo_file("config/purposes.toml");
    s.log.level = "warn".into();
    s
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
        Self::spawn_on_with(Backend::Sqlite, tweak).await
    }

    pub async fn spawn_on(backend: Backend) -> TestApp {
        Self::spawn_on_with(backend, |_| {}).await
    }

    /// Points `settings` at a fresh store of `backend`; keep the returned
    /// database as long as the store is used.
    pub async fn fresh_store(backend: Backend, settings: &mut Settings) -> Option<PgDatabase> {
        match backend {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let server = postgres_server().expect("BAWABA_TEST_DATABASE_URL is set for PostgreSQL tests");
                let db = PgDatabase::create(&server).await;
                settings.store.url = db.url.clone();
                Some(db)
            }
        }
    }

    /// A gateway on a fresh store of `backend`, with `tweak`ed settings.
    pub async fn spawn_on_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(&dir);
        let pg_database = Self::fresh_store(backend, &mut settings).await;
        tweak(&mut settings);
        let mut app = Self::spawn_settings(settings, dir).await;
        app.backend = backend;
        app.pg_database = pg_database;
        app
    }

    pub async fn spawn_settings(settings: Settings, dir: tempfile::TempDir) -> TestApp {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let app = Application::build(settings.clone()).await.expect("gateway starts");
        let base = app.base_url();
        let sandbox = app.sandbox_addr.map(|a| format!("http://{a}")).unwrap_or_default();
        tokio::spawn(app.run());
        let backend = if settings.store.url.starts_with("postgres") { Backend::Postgres } else { Backend::Sqlite };
        TestApp { base, sandbox, http: reqwest::Client::new(), dir, settings, backend, pg_database: None }
    }

    /// Runs SQL on this gateway's store from outside, as someone with
    /// database access would; returns the rows affected.
    pub async fn exec_sql(&self, sql: &str) -> u64 {
        use sqlx::Connection;
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self.backend {
            Backend::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.settings.store.url).await.unwrap();
                let n = sqlx::raw_sql(sql).execute(&mut c).await.unwrap().rows_affected();
                c.close().await.unwrap();
                n
            }
            Backend::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.settings.store.url).await.unwrap();
                let n = sqlx::raw_sql(sql).execute(&mut c).await.unwrap().rows_affected();
                c.close().await.unwrap();
                n
            }
        }
    }

    /// A configuration file for the CLI that points at this gateway's store and keys.
    pub fn cli_config(&self) -> PathBuf {
        let path = self.dir.path().join("cli.toml");
        let text = format!(
            "[store]\nurl = {}\n[audit]\ncheckpoint_key_file = {}\narchive_dir = {}\n[receipts]\nkey_file = {}\n",
            toml::Value::String(self.settings.store.url.clone()),
            toml::Value::String(self.settings.audit.checkpoint_key_file.display().to_string()),
            toml::Value::String(self.settings.audit.archive_dir.display().to_string()),
            toml::Value::String(self.settings.receipts.key_file.display().to_string()),
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A token for a demo client (`center-demo`, `auditor-demo`, …).
    pub async fn token(&self, client_id: &str) -> String {
        demo_token(&self.http, &self.base, client_id).await
    }

    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Sets a fault on the sandbox (`/_faults`).
    pub async fn fault(&self, fault: Value) {
        let r = self.http.post(format!("{}/_faults", self.sandbox)).json(&fault).send().await.unwrap();
        assert!(r.status().is_success(), "fault accepted");
    }

    pub async fn clear_faults(&self) {
        self.http.delete(format!("{}/_faults", self.sandbox)).send().await.unwrap();
    }

    /// Requests the sandbox received for `registry` so far.
    pub async fn upstream_requests(&self, registry: &str) -> u64 {
        let stats: Value =
            self.http.get(format!("{}/_stats", self.sandbox)).send().await.unwrap().json().await.unwrap();
        stats["requests"][registry].as_u64().unwrap()
    }

    /// Audit events, newest first, as the auditor sees them.
    pub async fn audit_events(&self, query: &str) -> Vec<Value> {
        let token = self.token("auditor-demo").await;
        let r = self.get(&format!("/v1/audit/events?{query}"), &token).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["events"].as_array().unwrap().clone()
    }
}

/// `bawaba serve` (the built binary) as one replica of several on `store`:
/// on `port`, its registries at `sandbox`, its checkpoint key in `dir`
/// (shared by the replicas), its output discarded, killed if dropped.
pub fn replica_command(port: u16, store: &str, sandbox: &str, dir: &std::path::Path) -> tokio::process::Command {
    use std::process::Stdio;
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bawaba"));
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    cmd.arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BAWABA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("BAWABA__SERVER__WORKERS", "2")
        .env("BAWABA__SANDBOX__ENABLED", "false")
        .env("BAWABA__STORE__URL", store)
        .env("BAWABA__AUDIT__CHECKPOINT_KEY_FILE", dir.join("checkpoint-key.pem"))
        .env("BAWABA__AUDIT__CHECKPOINT_EVERY", "50")
        .env("BAWABA__LOG__LEVEL", "error")
        .kill_on_drop(true)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for r in ["national_id", "commercial_register", "real_estate", "security", "smsc"] {
        cmd.env(format!("BAWABA__REGISTRIES__{}__BASE_URL", r.to_uppercase()), sandbox);
    }
    cmd
}

/// A port nothing listens on now, for a gateway binary a test spawns.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A token for a demo client (its secret is `<client_id>-secret`) from the
/// gateway at `base`: one started here, or a binary a test spawned.
pub async fn demo_token(http: &reqwest::Client, base: &str, client_id: &str) -> String {
    let resp = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", &format!("{client_id}-secret")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "token for {client_id}");
    resp.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// A verify body for the national-ID endpoint.
pub fn verify_body(national_id: &str, claims: Value) -> Value {
    json!({
        "national_id": national_id,
        "claims": claims,
        "context": {"operator_id": "EMP-1001", "purpose": "building_permit", "case_ref": "SHR-2025-000123"}
    })
}

/// Checks that `resp` is an RFC 9457 problem with `status` and `code`, whose
/// `request_id` is the response's `X-Request-Id`; returns the body.
pub async fn problem(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status(), status, "status of a `{code}` problem");
    let content_type = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    assert!(content_type.starts_with("application/problem+json"), "content type {content_type:?}");
    let request_id = resp.headers().get("x-request-id").expect("X-Request-Id").to_str().unwrap().to_owned();
    let body: Value = resp.json().await.expect("a problem body is JSON");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    for key in ["type", "title", "detail"] {
        assert!(body[key].as_str().is_some_and(|s| !s.is_empty()), "problem without {key}: {body}");
    }
    body
}

/// The same verify body with another purpose.
pub fn verify_body_for(national_id: &str, claims: Value, purpose: &str) -> Value {
    let mut body = verify_body(national_id, claims);
    body["context"]["purpose"] = Value::String(purpose.to_owned());
    body
}

impl TestApp {
    /// The SQLite file of this gateway's store.
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("bawaba.db")
    }

    /// `POST /v1/national-id/verify`; the status and the JSON body.
    pub async fn verify(&self, token: &str, body: &Value) -> (u16, Value) {
        let r = self.post_json("/v1/national-id/verify", token, body).await;
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// `GET /readyz`; the status and the JSON body.
    pub async fn readiness(&self) -> (u16, Value) {
        let r = self.http.get(self.url("/readyz")).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap())
    }

    /// The first `n` synthetic citizens of the sandbox (never a fixture).
    pub async fn population(&self, n: usize) -> Vec<String> {
        let r = self.http.get(format!("{}/_population?limit={n}", self.sandbox)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        body["national_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }

    /// Every audit event, newest first, read page by page with `auditor-demo`.
    pub async fn all_audit_events(&self, token: &str, query: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("{query}&limit=1000");
            if let Some(c) = &cursor {
                q.push_str(&format!("&cursor={c}"));
            }
            let r = self.get(&format!("/v1/audit/events?{}", q.trim_start_matches('&')), token).await;
            assert_eq!(r.status(), 200);
            let page: Value = r.json().await.unwrap();
            events.extend(page["events"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return events,
            }
        }
    }
}

/// A citizen's text to 5960: the sandbox SMSC calls the gateway's signed inbound callback.
pub async fn inject(app: &TestApp, from: &str, text: &str) {
    let r = app
        .http
        .post(format!("{}/_smsc/inbound", app.sandbox))
        .json(&json!({"from": from, "text": text}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "inbound injected: {}", r.status());
}

/// The demo clients file with working hours in Cairo time (the signals'
/// default time zone), every day: center-demo's exclude this moment,
/// center2-demo's include it.
pub fn clients_with_hours(dir: &std::path::Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(repo_file("config/clients.toml")).unwrap();
    let mut file: toml::Table = text.parse().unwrap();
    let now = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::get("Africa/Cairo").unwrap());
    let local = now.hour() as i64 * 60 + now.minute() as i64;
    let hhmm = |m: i64| format!("{:02}:{:02}", m.rem_euclid(1440) / 60, m.rem_euclid(1440) % 60);
    let every_day: Vec<toml::Value> =
        ["sun", "mon", "tue", "wed", "thu", "fri", "sat"].iter().map(|d| toml::Value::String((*d).into())).collect();
    for client in file["clients"].as_array_mut().unwrap() {
        let t = client.as_table_mut().unwrap();
        let hours = match t["client_id"].as_str().unwrap() {
            "center-demo" => format!("{}-{}", hhmm(local + 120), hhmm(local + 180)),
            "center2-demo" => format!("{}-{}", hhmm(local - 60), hhmm(local + 60)),
            _ => continue,
        };
        t.insert("working_hours".into(), toml::Value::String(hours));
        t.insert("working_days".into(), toml::Value::Array(every_day.clone()));
    }
    let path = dir.join("clients.toml");
    std::fs::write(&path, toml::to_string(&file).unwrap()).unwrap();
    path
}
