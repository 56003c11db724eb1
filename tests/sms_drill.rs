//! The reliability drill: accept 1,000 messages, SIGKILL the gateway process
//! twice while it dispatches, start it again each time; at the end every
//! accepted message reached the SMSC exactly once.
mod common;

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn start_gateway(port: u16, db: &str, sandbox: &str) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bawaba"));
    cmd.arg("serve")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("BAWABA__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("BAWABA__SERVER__WORKERS", "2")
        .env("BAWABA__SANDBOX__ENABLED", "false")
        .env("BAWABA__STORE__URL", format!("sqlite://{db}"))
        .env("BAWABA__AUDIT__CHECKPOINT_KEY_FILE", format!("{db}.checkpoint-key.pem"))
        // A killed gateway's claim on queued messages lapses after this.
        .env("BAWABA__STORE__LEASE_SECONDS", "5")
        .env("BAWABA__SMS__MESSAGES_PER_SECOND", "250")
        .env("BAWABA__LOG__LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for r in ["national_id", "commercial_register", "real_estate", "security", "smsc"] {
        cmd.env(format!("BAWABA__REGISTRIES__{}__BASE_URL", r.to_uppercase()), sandbox);
    }
    cmd.spawn().expect("gateway starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("gateway did not become healthy");
}

async fn smsc_count(http: &reqwest::Client, sandbox: &str) -> Vec<Value> {
    let r: Value = http.get(format!("{sandbox}/_smsc/messages")).send().await.unwrap().json().await.unwrap();
    r["messages"].as_array().cloned().unwrap_or_default()
}

async fn wait_for_count(http: &reqwest::Client, sandbox: &str, n: usize, limit: Duration) -> usize {
    let started = Instant::now();
    loop {
        let c = smsc_count(http, sandbox).await.len();
        if c >= n || started.elapsed() > limit {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_accepted_message_reaches_the_smsc_exactly_once_across_two_sigkills() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let sandbox = connectors::sandbox::Sandbox::new(None);
    let (addr, serve) = sandbox.clone().bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve);
    let sandbox_url = format!("http://{addr}");
    let port = common::free_port();
    let base = format!("http://127.0.0.1:{port}");
    sandbox.set_smsc_callback(connectors::sandbox::SmscCallback {
        gateway_base_url: base.clone(),
        secret: "smsc-demo-secret".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("drill.db").display().to_string();
    let http = reqwest::Client::new();

    let mut gateway = start_gateway(port, &db, &sandbox_url);
    wait_healthy(&http, &base).await;
    let token = common::demo_token(&http, &base, "center-demo").await;

    // 1,000 messages, each to its own number so the SMSC's record shows duplicates.
    let accepted = futures::future::join_all((0..1000).map(|i| {
        let (http, base, token) = (http.clone(), base.clone(), token.clone());
        async move {
            let body = json!({"to": format!("0100{:07}", i), "template": "request_status", "lang": "en",
                "params": {"case_ref": format!("DRILL-{i}"), "status": "approved", "center": "Zagazig"},
                "context": {"operator_id": "EMP-1", "purpose": "status_notification", "case_ref": format!("DRILL-{i}")}});
            let r = http.post(format!("{base}/v1/sms")).bearer_auth(&token).header("Idempotency-Key", format!("drill-{i}")).json(&body).send().await;
            r.map(|r| r.status().as_u16()).unwrap_or(0)
        }
    }))
    .await;
    // Only messages the API accepted (202) must arrive; the drill needs them all.
    assert!(accepted.iter().all(|s| *s == 202), "all 1,000 accepted");

    for kill_at in [250, 550] {
        let seen = wait_for_count(&http, &sandbox_url, kill_at, Duration::from_secs(60)).await;
        assert!(seen >= kill_at, "dispatch progressed to {kill_at} (saw {seen})");
        gateway.kill().expect("SIGKILL");
        gateway.wait().unwrap();
        let at_kill = smsc_count(&http, &sandbox_url).await.len();
        assert!(at_kill < 1000, "killed while dispatching ({at_kill} sent)");
        gateway = start_gateway(port, &db, &sandbox_url);
        wait_healthy(&http, &base).await;
    }

    let total = wait_for_count(&http, &sandbox_url, 1000, Duration::from_secs(90)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let messages = smsc_count(&http, &sandbox_url).await;
    gateway.kill().ok();
    gateway.wait().ok();
    assert_eq!(total, 1000);
    assert_eq!(messages.len(), 1000, "no message more than once");
    let mut numbers: Vec<&str> = messages.iter().map(|m| m["to"].as_str().unwrap()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 1000, "each number exactly once");
}
