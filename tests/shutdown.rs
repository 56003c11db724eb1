//! Graceful shutdown of the real binary (CONTRACT §14): SIGTERM under a load
//! of verify calls; readiness turns `not_ready` at once, every call the
//! gateway took is answered in full, every 2xx has its audit event, the chain
//! verifies, exit 0. A second SIGTERM exits at once and loses nothing committed.
mod common;

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Gateway {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
    sandbox: String,
}

impl Gateway {
    async fn start(grace: u64, drain: u64) -> Gateway {
        Self::start_with(grace, drain, &[]).await
    }

    /// [`Gateway::start`] with more `BAWABA__…` variables.
    async fn start_with(grace: u64, drain: u64, env: &[(&str, &str)]) -> Gateway {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let sandbox = connectors::sandbox::Sandbox::new(None);
        let (addr, serve) = sandbox.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        tokio::spawn(serve);
        let sandbox = format!("http://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let port = common::free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bawaba"));
        cmd.arg("serve")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("BAWABA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("BAWABA__SERVER__WORKERS", "2")
            .env("BAWABA__SERVER__SHUTDOWN_GRACE_SECONDS", grace.to_string())
            .env("BAWABA__SERVER__SHUTDOWN_DRAIN_SECONDS", drain.to_string())
            .env("BAWABA__SANDBOX__ENABLED", "false")
            .env("BAWABA__STORE__URL", format!("sqlite://{}", dir.path().join("bawaba.db").display()))
            .env("BAWABA__AUDIT__CHECKPOINT_KEY_FILE", dir.path().join("checkpoint-key.pem"))
            .env("BAWABA__RECEIPTS__KEY_FILE", dir.path().join("receipt-key.pem"))
            .env("BAWABA__LOG__LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for r in ["national_id", "commercial_register", "real_estate", "security", "smsc"] {
            cmd.env(format!("BAWABA__REGISTRIES__{}__BASE_URL", r.to_uppercase()), &sandbox);
        }
        cmd.envs(env.iter().copied());
        let child = cmd.spawn().expect("gateway starts");
        let gateway = Gateway { child, base: format!("http://127.0.0.1:{port}"), dir, sandbox };
        let http = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if http.get(format!("{}/readyz", gateway.base)).send().await.is_ok_and(|r| r.status() == 200) {
                return gateway;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("gateway did not become ready");
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").args(["-s", name, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -s {name}");
    }

    /// Waits for the process to exit (at most `limit`): its exit code.
    async fn exit_code(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(started.elapsed() < limit, "the gateway did not exit within {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn token(&self, http: &reqwest::Client) -> String {
        common::demo_token(http, &self.base, "center-demo").await
    }

    async fn population(&self, http: &reqwest::Client, n: usize) -> Vec<String> {
        let r: Value =
            http.get(format!("{}/_population?limit={n}", self.sandbox)).send().await.unwrap().json().await.unwrap();
        r["national_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    }

    async fn latency(&self, http: &reqwest::Client, ms: u64) {
        let fault = json!({"registry": "national_id", "latency_ms": ms});
        let r = http.post(format!("{}/_faults", self.sandbox)).json(&fault).send().await.unwrap();
        assert!(r.status().is_success());
    }

    /// Runs the CLI on this gateway's store (after it exited).
    fn cli(&self, args: &[&str]) -> (bool, String, String) {
        let config = self.dir.path().join("cli.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = {}\n[audit]\ncheckpoint_key_file = {}\n",
                toml::Value::String(format!("sqlite://{}", self.dir.path().join("bawaba.db").display())),
                toml::Value::String(self.dir.path().join("checkpoint-key.pem").display().to_string())
            ),
        )
        .unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_bawaba")).args(args).arg("--config").arg(&config).output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), stdout.into_owned(), stderr.into_owned())
    }

    /// The ids of the audit events in the store.
    fn event_ids(&self) -> std::collections::HashSet<String> {
        let (ok, text, errors) = self.cli(&["audit", "export", "--format", "ndjson"]);
        assert!(ok, "{errors}");
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_owned()).collect()
    }
}

/// A readiness probe: when it was sent, and its status and body if answered.
type Probe = (Instant, Option<(u16, Value)>);

/// One verify call as the client saw it.
#[derive(Debug, Clone)]
enum Call {
    /// A whole answer: its status and `X-Request-Id`, sent and answered when.
    Answered { status: u16, request_id: String, sent: Instant, answered: Instant },
    /// The connection was refused or closed before any answer.
    NotAnswered { sent: Instant, error: String },
    /// An answer began but did not arrive whole.
    Cut { error: String },
}

async fn verify(http: &reqwest::Client, base: &str, token: &str, national_id: &str) -> Call {
    let body = json!({"national_id": national_id, "claims": {},
        "context": {"operator_id": "EMP-1001", "purpose": "building_permit", "case_ref": "SHR-2025-000123"}});
    let sent = Instant::now();
    let r = match http.post(format!("{base}/v1/national-id/verify")).bearer_auth(token).json(&body).send().await {
        Ok(r) => r,
        Err(e) => return Call::NotAnswered { sent, error: format!("{e:?}") },
    };
    let status = r.status().as_u16();
    let request_id = r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    match r.json::<Value>().await {
        Ok(_) => Call::Answered { status, request_id, sent, answered: Instant::now() },
        Err(e) => Call::Cut { error: format!("{e:?}") },
    }
}

/// `clients` loops of verify calls, each stopping at its first unanswered call.
fn load(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    ids: Vec<String>,
    clients: usize,
) -> (Arc<Mutex<Vec<Call>>>, Vec<tokio::task::JoinHandle<()>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let ids = Arc::new(Mutex::new(ids));
    let tasks = (0..clients)
        .map(|_| {
            let (http, base, token, calls, ids) =
                (http.clone(), base.to_owned(), token.to_owned(), calls.clone(), ids.clone());
            tokio::spawn(async move {
                loop {
                    let Some(id) = ids.lock().unwrap().pop() else { return };
                    let call = verify(&http, &base, &token, &id).await;
                    let stop = !matches!(call, Call::Answered { .. });
                    calls.lock().unwrap().push(call);
                    if stop {
                        return;
                    }
                }
            })
        })
        .collect();
    (calls, tasks)
}

/// `clients` loops of SMS sends (outbox writes), each stopping at its first unanswered call.
fn sms_load(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    clients: usize,
) -> (Arc<Mutex<Vec<Call>>>, Vec<tokio::task::JoinHandle<()>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..clients)
        .map(|c| {
            let (http, base, token, calls) = (http.clone(), base.to_owned(), token.to_owned(), calls.clone());
            tokio::spawn(async move {
                for i in 0..10_000 {
                    let body = json!({"to": format!("010{c}{i:07}"), "template": "request_status", "lang": "en",
                        "params": {"case_ref": format!("SD-{c}-{i}"), "status": "approved", "center": "Zagazig"},
                        "context": {"operator_id": "EMP-1", "purpose": "status_notification", "case_ref": format!("SD-{c}-{i}")}});
                    let sent = Instant::now();
                    let call = match http
                        .post(format!("{base}/v1/sms"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("sd-{c}-{i}"))
                        .json(&body)
                        .send()
                        .await {
                        Err(e) => Call::NotAnswered { sent, error: format!("{e:?}") },
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let request_id =
                                r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                            match r.json::<Value>().await {
                                Ok(_) => Call::Answered { status, request_id, sent, answered: Instant::now() },
                                Err(e) => Call::Cut { error: format!("{e:?}") },
                            }
                        }
                    };
                    let stop = !matches!(call, Call::Answered { .. });
                    calls.lock().unwrap().push(call);
                    if stop {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        })
        .collect();
    (calls, tasks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_call_taken_records_each_and_exits_0() {
    let (grace, drain) = (10, 1);
    let mut gateway = Gateway::start(grace, drain).await;
    let http = reqwest::Client::new();
    let token = gateway.token(&http).await;
    let ids = gateway.population(&http, 3000).await;
    // Slow registry answers: calls are in flight when the listener closes.
    gateway.latency(&http, 700).await;
    let (calls, tasks) = load(&http, &gateway.base, &token, ids, 24);
    let (messages, sms_tasks) = sms_load(&http, &gateway.base, &token, 4);

    // Readiness, each probe on a new connection (as a kubelet's).
    let probe = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let readiness: Arc<Mutex<Vec<Probe>>> = Arc::default();
    let prober = {
        let (readiness, url) = (readiness.clone(), format!("{}/readyz", gateway.base));
        tokio::spawn(async move {
            loop {
                let sent = Instant::now();
                let answer = match probe.get(&url).send().await {
                    Ok(r) => Some((r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))),
                    Err(_) => None,
                };
                readiness.lock().unwrap().push((sent, answer));
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = calls.lock().unwrap().len();
    assert!(before > 0, "the load runs");
    let sigterm = Instant::now();
    gateway.signal("TERM");
    let code = gateway.exit_code(Duration::from_secs(grace + 5)).await;
    let took = sigterm.elapsed();
    prober.abort();
    for t in tasks.into_iter().chain(sms_tasks) {
        t.await.unwrap();
    }
    assert_eq!(code, Some(0), "a graceful shutdown exits 0");
    assert!(took < Duration::from_secs(grace), "within the grace period: {took:?}");

    let messages = messages.lock().unwrap().clone();
    let accepted: Vec<&str> = messages
        .iter()
        .filter_map(|c| match c {
            Call::Answered { status: 202, request_id, .. } => Some(request_id.as_str()),
            _ => None,
        })
        .collect();
    assert!(!accepted.is_empty(), "messages were accepted: {:?}", messages.first());
    let mut calls = calls.lock().unwrap().clone();
    calls.extend(messages.iter().filter(|c| !matches!(c, Call::Answered { status: 202, .. })).cloned());
    let cut: Vec<&str> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Cut { error } => Some(error.as_str()),
            _ => None,
        })
        .collect();
    assert!(cut.is_empty(), "no answer cut midway: {cut:?}");
    let answered: Vec<(u16, &str, Instant, Instant)> = calls
        .iter()
        .filter_map(|c| match c {
            Call::Answered { status, request_id, sent, answered } => {
                Some((*status, request_id.as_str(), *sent, *answered))
            }
            _ => None,
        })
        .collect();
    assert!(answered.iter().all(|(s, ..)| *s == 200), "every call taken is answered 200");
    // Calls in flight at the signal, and at the listener's close, were answered.
    let listener_closed = sigterm + Duration::from_secs(drain);
    assert!(
        answered.iter().any(|(_, _, sent, done)| *sent < sigterm && *done > sigterm),
        "calls in flight at the signal finished"
    );
    assert!(
        answered.iter().any(|(_, _, sent, done)| *sent < listener_closed && *done > listener_closed),
        "calls in flight when the listener closed finished"
    );
    // During the drain new calls are still served; none went unanswered before it ended.
    for c in &calls {
        if let Call::NotAnswered { sent, error } = c {
            assert!(*sent + Duration::from_millis(150) > listener_closed, "refused during the drain: {error}");
        }
    }
    // Readiness said not_ready from the signal on.
    let readiness = readiness.lock().unwrap().clone();
    let after: Vec<&Probe> = readiness.iter().filter(|(sent, _)| *sent > sigterm + Duration::from_millis(50)).collect();
    assert!(
        after.iter().any(|(_, a)| a.as_ref().is_some_and(|(s, b)| *s == 503 && b["status"] == "not_ready")),
        "readiness said not_ready during the grace period: {after:?}"
    );
    assert!(after.iter().all(|(_, a)| a.as_ref().is_none_or(|(s, _)| *s == 503)), "never ready again: {after:?}");

    // Every 2xx has its event; the chain (signed at exit) verifies.
    let ids = gateway.event_ids();
    let missing: Vec<&str> = answered
        .iter()
        .map(|(_, id, ..)| *id)
        .chain(accepted.iter().copied())
        .filter(|id| !ids.contains(*id))
        .collect();
    assert!(missing.is_empty(), "answered without an event: {missing:?}");
    let (ok, text, errors) = gateway.cli(&["audit", "verify"]);
    assert!(ok && text.contains("intact"), "{text}{errors}");
    // Every accepted message is in the outbox.
    let (ok, sms, errors) = gateway.cli(&["audit", "export", "--format", "ndjson", "--action", "sms.send"]);
    assert!(ok, "{errors}");
    assert_eq!(sms.lines().count(), accepted.len(), "one sms.send event per accepted message");
    let outbox = outbox_count(&gateway.dir.path().join("bawaba.db")).await;
    assert_eq!(outbox, accepted.len() as i64, "every accepted message is in the outbox");
}

async fn outbox_count(db: &std::path::Path) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    sqlx::query_scalar("SELECT COUNT(*) FROM sms_messages").fetch_one(&mut conn).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sigterm_exits_at_once_and_loses_nothing_committed() {
    let mut gateway = Gateway::start(30, 5).await;
    let http = reqwest::Client::new();
    let token = gateway.token(&http).await;
    let ids = gateway.population(&http, 400).await;
    // Answered calls first, then calls that hang on the registry.
    let (fast, slow) = ids.split_at(200);
    let (calls, tasks) = load(&http, &gateway.base, &token, fast.to_vec(), 8);
    for t in tasks {
        t.await.unwrap();
    }
    gateway.latency(&http, 20_000).await;
    let (hanging, hanging_tasks) = load(&http, &gateway.base, &token, slow.to_vec(), 8);
    tokio::time::sleep(Duration::from_millis(500)).await;

    gateway.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(gateway.child.try_wait().unwrap().is_none(), "still in its grace period");
    let second = Instant::now();
    gateway.signal("TERM");
    let code = gateway.exit_code(Duration::from_secs(5)).await;
    assert!(second.elapsed() < Duration::from_secs(2), "at once: {:?}", second.elapsed());
    assert_eq!(code, Some(143), "128 + SIGTERM");
    for t in hanging_tasks {
        t.await.unwrap();
    }
    assert!(
        hanging.lock().unwrap().iter().all(|c| !matches!(c, Call::Answered { status: 200, .. })),
        "the hanging calls were not answered"
    );

    let answered: Vec<String> = calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| match c {
            Call::Answered { status: 200, request_id, .. } => request_id.clone(),
            other => panic!("before the signals every call is answered: {other:?}"),
        })
        .collect();
    assert_eq!(answered.len(), 200);
    let ids = gateway.event_ids();
    assert!(answered.iter().all(|id| ids.contains(id)), "every 2xx kept its event");
    let (ok, text, errors) = gateway.cli(&["audit", "verify"]);
    assert!(ok && text.contains("intact"), "{text}{errors}");
}

/// The SMS dispatcher is not cut at SIGTERM: the round it is in finishes, so
/// a message the SMSC took is recorded as sent (an abort would leave it
/// claimed, for this or another replica to submit again after the lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_sms_dispatcher_finish_its_round_and_record_what_it_sent() {
    let mut gateway = Gateway::start_with(10, 0, &[("BAWABA__REGISTRIES__SMSC__TIMEOUT_MS", "8000")]).await;
    let http = reqwest::Client::new();
    let token = gateway.token(&http).await;
    // The SMSC takes 3 s to answer: the round is in flight when the signal comes.
    let fault = json!({"registry": "smsc", "latency_ms": 3000});
    assert!(http.post(format!("{}/_faults", gateway.sandbox)).json(&fault).send().await.unwrap().status().is_success());
    let sms = json!({"to": "01001234567", "template": "request_status", "lang": "en",
        "params": {"case_ref": "SHR-2025-000123", "status": "approved", "center": "Zagazig"},
        "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}});
    let r = http
        .post(format!("{}/v1/sms", gateway.base))
        .bearer_auth(&token)
        .header("Idempotency-Key", "in-flight")
        .json(&sms)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;

    let signalled = Instant::now();
    gateway.signal("TERM");
    assert_eq!(gateway.exit_code(Duration::from_secs(15)).await, Some(0));
    assert!(signalled.elapsed() > Duration::from_millis(1500), "it waited for the SMSC: {:?}", signalled.elapsed());

    use sqlx::Connection;
    let db = format!("sqlite://{}", gateway.dir.path().join("bawaba.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    let (status, attempts): (String, i64) = sqlx::query_as("SELECT status, attempts FROM sms_messages WHERE id = $1")
        .bind(&id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!((status.as_str(), attempts), ("sent", 1), "the submission the SMSC took is recorded");
}
