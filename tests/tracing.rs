//! W3C `traceparent` (CONTRACT §14), on the real binary: a valid one is
//! carried to the registry call (with the gateway's span as parent) and named
//! in the log lines of its request; a malformed or 10 KB one is ignored and a
//! new trace started; no audit event holds a trace id.
mod common;
#[path = "tracing/otlp.rs"]
mod otlp;

use serde_json::{Value, json};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const BIN: &str = env!("CARGO_BIN_EXE_bawaba");

/// A loopback TCP relay to `upstream` that keeps every byte sent through it.
async fn tap(upstream: std::net::SocketAddr) -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<u8>>> = Arc::default();
    let sink = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let sink = sink.clone();
            tokio::spawn(async move {
                let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let back = tokio::spawn(async move { tokio::io::copy(&mut sr, &mut cw).await });
                let mut buf = [0u8; 8192];
                while let Ok(n) = cr.read(&mut buf).await {
                    if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    sink.lock().unwrap().extend_from_slice(&buf[..n]);
                }
                let _ = back.await;
            });
        }
    });
    (format!("http://{addr}"), seen)
}

/// The `traceparent` values the registry received, in order.
fn received(seen: &Mutex<Vec<u8>>) -> Vec<String> {
    String::from_utf8_lossy(&seen.lock().unwrap())
        .lines()
        .filter_map(|l| l.strip_prefix("traceparent: ").map(str::to_owned))
        .collect()
}

/// `bawaba serve` on `port` with its store in `dir`, its registries in the
/// sandbox at `sandbox_url` (the national-ID registry through `relay`), logs
/// on a pipe, and `env` besides.
fn gateway(
    port: u16,
    dir: &std::path::Path,
    sandbox_url: &str,
    relay: &str,
    env: &[(&str, &str)],
) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(BIN);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    cmd.arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .env("BAWABA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("BAWABA__SANDBOX__ENABLED", "false")
        .env("BAWABA__STORE__URL", format!("sqlite://{}", dir.join("bawaba.db").display()))
        .env("BAWABA__AUDIT__CHECKPOINT_KEY_FILE", dir.join("checkpoint-key.pem"))
        .env("BAWABA__RECEIPTS__KEY_FILE", dir.join("receipt-key.pem"))
        .env("BAWABA__LOG__LEVEL", "info")
        .env("BAWABA__LOG__FORMAT", "json")
        .env("BAWABA__REGISTRIES__NATIONAL_ID__BACKOFF_MAX_ELAPSED_MS", "300")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for r in ["commercial_register", "real_estate", "security", "smsc"] {
        cmd.env(format!("BAWABA__REGISTRIES__{}__BASE_URL", r.to_uppercase()), sandbox_url);
    }
    cmd.env("BAWABA__REGISTRIES__NATIONAL_ID__BASE_URL", relay);
    cmd.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_reaches_the_registry_and_the_logs_but_never_the_audit_log() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = connectors::sandbox::Sandbox::new(None);
    let (sandbox_addr, serve) = sandbox.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve);
    let sandbox_url = format!("http://{sandbox_addr}");
    let (relay, seen) = tap(sandbox_addr).await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = gateway(port, dir.path(), &sandbox_url, &relay, &[]);
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut l = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = l.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(started.elapsed() < Duration::from_secs(30), "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = common::demo_token(&http, &base, "center-demo").await;
    let population: Value =
        http.get(format!("{sandbox_url}/_population?limit=4")).send().await.unwrap().json().await.unwrap();
    let ids: Vec<String> =
        population["national_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    let verify = |id: String, traceparent: Option<String>| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let body = json!({"national_id": id, "claims": {},
                "context": {"operator_id": "EMP-1001", "purpose": "building_permit", "case_ref": "SHR-2025-000123"}});
            let mut r = http.post(format!("{base}/v1/national-id/verify")).bearer_auth(&token).json(&body);
            if let Some(t) = traceparent {
                r = r.header("traceparent", t);
            }
            r.send().await.unwrap().status().as_u16()
        }
    };

    // A valid one: the same trace upstream, the gateway's span as parent.
    let caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    assert_eq!(verify(ids[0].clone(), Some(caller.into())).await, 200);
    let sent = received(&seen);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{sent:?}");
    assert!(sent[0].ends_with("-01") && !sent[0].contains("00f067aa0ba902b7"), "{sent:?}");

    // Malformed, and 10 KB: ignored, each call a new trace of its own.
    let huge = format!("{caller}{}", "0".repeat(10 * 1024));
    for (id, bad) in [(&ids[1], "00-not-a-trace-01".to_owned()), (&ids[2], huge)] {
        assert_eq!(verify(id.clone(), Some(bad)).await, 200);
    }
    let sent = received(&seen);
    assert_eq!(sent.len(), 3, "{sent:?}");
    for t in &sent[1..] {
        assert_eq!(t.len(), 55, "{t}");
        assert!(!t.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "a new trace: {t}");
    }
    assert_ne!(sent[1][3..35], sent[2][3..35], "two new traces");

    // The log lines of a request name its trace.
    let failing = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let fault = json!({"registry": "national_id", "error_rate": 1.0, "mode": "http_503"});
    assert!(http.post(format!("{sandbox_url}/_faults")).json(&fault).send().await.unwrap().status().is_success());
    let status = verify(ids[3].clone(), Some(failing.into())).await;
    assert!(status >= 500, "{status}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = lines.lock().unwrap().clone();
    let traced: Vec<&String> = logged
        .iter()
        .filter(|l| l.contains("registry attempt failed") && l.contains("0af7651916cd43dd8448eb211c80319c"))
        .collect();
    assert!(!traced.is_empty(), "no traced log line in {logged:#?}");

    // The audit log holds no trace id.
    let auditor: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "auditor-demo"),
            ("client_secret", "auditor-demo-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let export = http
        .get(format!("{base}/v1/audit/export?format=ndjson"))
        .bearer_auth(auditor["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(export.lines().count() >= 5, "{export}");
    for id in
        sent.iter().map(|t| &t[3..35]).chain(["4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"])
    {
        assert!(!export.contains(id), "trace id {id} in the audit log");
    }
    child.kill().await.ok();
}
