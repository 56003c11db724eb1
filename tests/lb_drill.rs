//! The load-balancer drill (CONTRACT §14, deploy/nginx/bawaba.conf): Debian's
//! nginx in front of three replicas of the built binary on one PostgreSQL.
//! Under a load of verify calls and token requests through nginx, one replica
//! is SIGTERMed (it drains and exits 0) and another SIGKILLed. The balancer
//! keeps answering; the only failed calls are those in flight on the killed
//! replica; every 2xx has its audit event (its id is the `X-Request-Id`);
//! `bawaba audit verify` finds the chain intact.

#[path = "common/nginx.rs"]
mod balancer;
mod common;

use balancer::Nginx;
use common::{PgDatabase, free_port, postgres_server, verify_body};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const GRACE_SECONDS: u64 = 10;
const DRAIN_SECONDS: u64 = 1;

/// One call through the balancer as the client saw it.
#[derive(Debug, Clone)]
struct Call {
    token_request: bool,
    sent: Instant,
    done: Instant,
    /// The status and `X-Request-Id` of a whole answer, or why there was none.
    answer: Result<(u16, String), String>,
}

impl Call {
    fn ok(&self) -> Option<&str> {
        match &self.answer {
            Ok((status, id)) if (200..300).contains(status) => Some(id),
            _ => None,
        }
    }
}

async fn call(http: &reqwest::Client, front: &str, token: &str, national_id: Option<&str>) -> Call {
    let sent = Instant::now();
    let request = match national_id {
        Some(id) => {
            http.post(format!("{front}/v1/national-id/verify")).bearer_auth(token).json(&verify_body(id, json!({})))
        }
        None => http.post(format!("{front}/oauth/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "center-demo"),
            ("client_secret", "center-demo-secret"),
        ]),
    };
    let answer = match request.send().await {
        Err(e) => Err(format!("{e:?}")),
        Ok(r) => {
            let status = r.status().as_u16();
            let id = r.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            // nginx's own 502 page is HTML; a gateway's answer is JSON.
            match r.bytes().await {
                Ok(body) if status >= 300 || serde_json::from_slice::<Value>(&body).is_ok() => Ok((status, id)),
                Ok(body) => Err(format!("{status}, body not JSON: {}", String::from_utf8_lossy(&body))),
                Err(e) => Err(format!("{status}, body cut: {e:?}")),
            }
        }
    };
    Call { token_request: national_id.is_none(), sent, done: Instant::now(), answer }
}

/// `clients` loops through the balancer until `stop`: verify calls, and a
/// token request every tenth call.
fn load(
    http: &reqwest::Client,
    front: &str,
    token: &str,
    ids: Arc<Vec<String>>,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<Call>>>, Vec<tokio::task::JoinHandle<()>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let tasks = (0..clients)
        .map(|c| {
            let (http, front, token, calls, ids, stop) =
                (http.clone(), front.to_owned(), token.to_owned(), calls.clone(), ids.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let id = (i % 10 != 0).then(|| ids[i % ids.len()].as_str());
                    let done = call(&http, &front, &token, id).await;
                    calls.lock().unwrap().push(done);
                    i += clients;
                }
            })
        })
        .collect();
    (calls, tasks)
}

fn signal(child: &tokio::process::Child, signal: rustix::process::Signal) {
    let pid = child.id().and_then(|id| i32::try_from(id).ok()).and_then(rustix::process::Pid::from_raw).unwrap();
    rustix::process::kill_process(pid, signal).unwrap();
}

async fn exit_code(child: &mut tokio::process::Child, limit: Duration) -> Option<i32> {
    let status = tokio::time::timeout(limit, child.wait()).await.expect("the replica exits in time").unwrap();
    status.code()
}

/// Verify calls a replica answered, from its own `/metrics`.
async fn verify_calls_served(http: &reqwest::Client, port: u16) -> u64 {
    let text = http.get(format!("http://127.0.0.1:{port}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("bawaba_http_requests_total{") && l.contains("/v1/national-id/verify"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

async fn wait_ready(http: &reqwest::Client, port: u16) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let url = format!("http://127.0.0.1:{port}/readyz");
        if http.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica on {port} did not become ready");
}

/// Runs the CLI with the replicas' store and checkpoint key.
fn cli(dir: &std::path::Path, store: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let config = dir.join("cli.toml");
    let text = format!(
        "[store]\nurl = {}\n[audit]\ncheckpoint_key_file = {}\n",
        toml::Value::String(store.to_owned()),
        toml::Value::String(dir.join("checkpoint-key.pem").display().to_string())
    );
    std::fs::write(&config, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bawaba"))
        .args(args)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), stdout.into_owned(), stderr.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_keeps_answering_through_a_sigterm_and_a_sigkill_and_every_2xx_is_audited() {
    let Some(server) = postgres_server() else {
        eprintln!("skipped: no database");
        return;
    };
    let started = Instant::now();
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let db = PgDatabase::create(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let sandbox = connectors::sandbox::Sandbox::new(None);
    let (addr, serve) = sandbox.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve);
    let sandbox = format!("http://{addr}");
    let direct = reqwest::Client::new();

    // Three replicas (the first one alone, so that it migrates the empty database).
    let ports = [free_port(), free_port(), free_port()];
    let spawn = |port: u16| {
        common::replica_command(port, &db.url, &sandbox, dir.path())
            .env("BAWABA__SERVER__SHUTDOWN_GRACE_SECONDS", GRACE_SECONDS.to_string())
            .env("BAWABA__SERVER__SHUTDOWN_DRAIN_SECONDS", DRAIN_SECONDS.to_string())
            // Every call comes from the balancer's address (deploy/nginx/bawaba.conf).
            .env("BAWABA__AUTH__TOKEN_RATE_PER_SECOND", "10000")
            .env("BAWABA__AUTH__TOKEN_RATE_BURST", "10000")
            .spawn()
            .expect("replica starts")
    };
    let mut terminated = spawn(ports[0]);
    wait_ready(&direct, ports[0]).await;
    let mut survivor = spawn(ports[1]);
    let mut killed = spawn(ports[2]);
    wait_ready(&direct, ports[1]).await;
    wait_ready(&direct, ports[2]).await;

    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let nginx = Nginx::new(&addrs.iter().map(String::as_str).collect::<Vec<_>>(), free_port(), free_port());
    let _nginx = nginx.start().await;
    let (http, front) = (nginx.client(), nginx.front());

    // Registry answers take a while, so that calls are in flight at each signal.
    let fault = json!({"registry": "national_id", "latency_ms": 150});
    assert!(direct.post(format!("{sandbox}/_faults")).json(&fault).send().await.unwrap().status().is_success());
    let ids: Value = direct.get(format!("{sandbox}/_population?limit=500")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<String> =
        ids["national_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    let token = common::demo_token(&http, &front, "center-demo").await;

    let stop = Arc::new(AtomicBool::new(false));
    let (calls, tasks) = load(&http, &front, &token, Arc::new(ids), 18, stop.clone());
    tokio::time::sleep(Duration::from_millis(2000)).await;
    for port in ports {
        assert!(verify_calls_served(&direct, port).await > 0, "the balancer sends calls to the replica on {port}");
    }

    // SIGTERM: the replica drains and exits 0 while the load goes on.
    let sigterm = Instant::now();
    signal(&terminated, rustix::process::Signal::TERM);
    let terminated_exit = tokio::spawn(async move {
        let code = exit_code(&mut terminated, Duration::from_secs(GRACE_SECONDS + 5)).await;
        (code, sigterm.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let r = probe.get(format!("http://127.0.0.1:{}/readyz", ports[0])).send().await.unwrap();
    assert_eq!(r.status(), 503, "not ready from the SIGTERM on");
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "not_ready");
    tokio::time::sleep(Duration::from_millis(2300)).await;

    // SIGKILL of another one: what it had in flight is lost, nothing else.
    let sigkill = Instant::now();
    signal(&killed, rustix::process::Signal::KILL);
    let _ = exit_code(&mut killed, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(3000)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let (code, took) = terminated_exit.await.unwrap();
    assert_eq!(code, Some(0), "the SIGTERMed replica exits 0");
    assert!(took < Duration::from_secs(GRACE_SECONDS), "within its grace period: {took:?}");

    let calls = calls.lock().unwrap().clone();
    let failed: Vec<&Call> = calls.iter().filter(|c| c.ok().is_none()).collect();
    // In flight on the killed replica: sent before the kill (or just after,
    // on a kept-alive connection nginx had not yet seen closed), answered after.
    let at_kill = |c: &Call| c.sent < sigkill + Duration::from_millis(250) && c.done >= sigkill;
    let elsewhere: Vec<(f64, &Call)> = failed
        .iter()
        .filter(|c| !at_kill(c))
        .map(|c| (c.sent.saturating_duration_since(sigterm).as_secs_f64(), *c))
        .collect();
    assert!(elsewhere.is_empty(), "failures outside the kill (seconds after the SIGTERM, call): {elsewhere:?}");
    for c in &failed {
        assert!(matches!(&c.answer, Ok((502, _))), "a lost call is nginx's 502: {c:?}");
    }
    let in_flight_at_kill = calls.iter().filter(|c| c.sent < sigkill && c.done >= sigkill).count();
    assert!(failed.len() <= in_flight_at_kill, "{} failed, {in_flight_at_kill} in flight at the kill", failed.len());
    // The balancer kept answering after each signal.
    let ok_after =
        |t: Instant| calls.iter().filter(move |c| c.sent > t + Duration::from_millis(500) && c.ok().is_some());
    assert!(ok_after(sigterm).any(|c| c.sent < sigkill), "answers between the SIGTERM and the SIGKILL");
    assert!(ok_after(sigkill).count() > 0, "answers after the SIGKILL");

    // The survivor stops gracefully too, then every 2xx has its event and the chain verifies.
    signal(&survivor, rustix::process::Signal::TERM);
    assert_eq!(exit_code(&mut survivor, Duration::from_secs(GRACE_SECONDS + 5)).await, Some(0));
    let (code, export, errors) = cli(dir.path(), &db.url, &["audit", "export", "--format", "ndjson"]);
    assert_eq!(code, Some(0), "{errors}");
    let events: HashSet<String> =
        export.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_owned()).collect();
    let answered: Vec<&Call> = calls.iter().filter(|c| c.ok().is_some()).collect();
    let missing: Vec<&&Call> = answered.iter().filter(|c| !events.contains(c.ok().unwrap())).collect();
    assert!(missing.is_empty(), "2xx answers without their audit event: {missing:?}");
    let (code, text, errors) = cli(dir.path(), &db.url, &["audit", "verify"]);
    assert_eq!(code, Some(0), "audit verify: {text}{errors}");
    assert!(text.contains("intact"), "{text}");

    eprintln!(
        "drill: {} calls ({} token requests), {} answered 2xx, {} failed, all at the SIGKILL ({} in flight then); \
         SIGTERMed replica exited 0 after {:.1} s; {} audit events; {:.1} s in all",
        calls.len(),
        calls.iter().filter(|c| c.token_request).count(),
        answered.len(),
        failed.len(),
        in_flight_at_kill,
        took.as_secs_f64(),
        events.len(),
        started.elapsed().as_secs_f64()
    );
    drop(db);
}
