//! Two `bawaba serve` processes sharing one PostgreSQL, as behind a load
//! balancer (CONTRACT §1, DESIGN "Scale-out"): they start together on an empty
//! database, accept each other's tokens, extend one verifiable audit chain,
//! and take background work (SMS dispatch, security checks and their
//! callbacks) with leases, so each item is done once.

mod common;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use common::{PgDatabase, postgres_server, verify_body};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

fn replica(port: u16, store: &str, sandbox: &str, dir: &std::path::Path) -> Child {
    common::replica_command(port, store, sandbox, dir).spawn().expect("replica starts")
}

async fn wait_healthy(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica {base} did not become ready");
}

async fn token(http: &reqwest::Client, base: &str, client: &str) -> String {
    let r = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client),
            ("client_secret", &format!("{client}-secret")),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// A center's callback endpoint, counting calls per check id.
async fn callback_receiver() -> (String, Arc<Mutex<HashMap<String, u32>>>) {
    let calls: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let seen = calls.clone();
    let server = HttpServer::new(move || {
        let seen = seen.clone();
        App::new().route(
            "/hooks/security",
            web::post().to(move |_req: HttpRequest, body: web::Json<Value>| {
                let seen = seen.clone();
                async move {
                    let id = body["id"].as_str().unwrap_or_default().to_owned();
                    *seen.lock().unwrap().entry(id).or_default() += 1;
                    HttpResponse::Ok().finish()
                }
            }),
        )
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    (format!("http://{addr}/hooks/security"), calls)
}

async fn wait_until(limit: Duration, mut done: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_chain_and_do_each_background_item_once() {
    let Some(server) = postgres_server() else {
        eprintln!("skipped: no database");
        return;
    };
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let db = PgDatabase::create(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let sandbox = connectors::sandbox::Sandbox::new(None);
    let (addr, serve) = sandbox.clone().bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve);
    let sandbox_url = format!("http://{addr}");
    let (port_a, port_b) = (common::free_port(), common::free_port());
    let (a, b) = (format!("http://127.0.0.1:{port_a}"), format!("http://127.0.0.1:{port_b}"));
    // Delivery reports reach one replica, as through a load balancer.
    sandbox.set_smsc_callback(connectors::sandbox::SmscCallback {
        gateway_base_url: b.clone(),
        secret: "smsc-demo-secret".into(),
    });
    // Both start together on an empty database: one migration, one token key.
    let _replica_a = replica(port_a, &db.url, &sandbox_url, dir.path());
    let _replica_b = replica(port_b, &db.url, &sandbox_url, dir.path());
    let http = reqwest::Client::new();
    wait_healthy(&http, &a).await;
    wait_healthy(&http, &b).await;
    let bases = [a.clone(), b.clone()];

    // A token from one replica is good at the other.
    let center = token(&http, &a, "center-demo").await;
    let r = http
        .post(format!("{b}/v1/national-id/verify"))
        .bearer_auth(&center)
        .json(&verify_body("29001011300036", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Verifications, SMS and security checks, alternately at each replica, concurrently.
    let (callback_url, callbacks) = callback_receiver().await;
    let verifications = (0..200).map(|i| {
        let (http, base, center) = (http.clone(), bases[i % 2].clone(), center.clone());
        async move {
            let r = http
                .post(format!("{base}/v1/national-id/verify"))
                .bearer_auth(&center)
                .json(&verify_body(if i % 3 == 0 { "28507150100022" } else { "29001011300036" }, json!({})))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        }
    });
    let messages = (0..100).map(|i| {
        let (http, base, center) = (http.clone(), bases[i % 2].clone(), center.clone());
        async move {
            let body = json!({"to": format!("0101{:07}", i), "template": "request_status", "lang": "ar",
                "params": {"case_ref": format!("REP-{i}"), "status": "approved", "center": "الزقازيق"},
                "context": {"operator_id": "EMP-1", "purpose": "status_notification", "case_ref": format!("REP-{i}")}});
            let r = http
                .post(format!("{base}/v1/sms"))
                .bearer_auth(&center)
                .header("Idempotency-Key", format!("rep-{i}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }
    });
    let checks = (0..10).map(|i| {
        let (http, base, center, url) = (http.clone(), bases[i % 2].clone(), center.clone(), callback_url.clone());
        async move {
            let body = json!({"national_id": "29001011300036", "check_type": "shop_license", "callback_url": url,
                "context": {"operator_id": "EMP-1", "purpose": "shop_license", "case_ref": format!("SEC-{i}")}});
            let r = http.post(format!("{base}/v1/security-checks")).bearer_auth(&center).json(&body).send().await;
            let r = r.unwrap();
            assert_eq!(r.status(), 202);
            r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
        }
    });
    let (statuses, message_ids, check_ids) = tokio::join!(
        futures::future::join_all(verifications),
        futures::future::join_all(messages),
        futures::future::join_all(checks)
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    // Every message reaches the SMSC once: one submission each, none repeated.
    let sent_once = wait_until(Duration::from_secs(60), async || {
        let r: Value = http.get(format!("{sandbox_url}/_smsc/messages")).send().await.unwrap().json().await.unwrap();
        r["messages"].as_array().map(|m| m.len()).unwrap_or(0) >= 100
    })
    .await;
    assert!(sent_once, "all 100 messages reached the SMSC");
    let stats: Value = http.get(format!("{sandbox_url}/_stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["requests"]["smsc"], 100, "one submission per message across both replicas: {stats}");
    // Each replica reads every message's state (one store).
    for (i, id) in message_ids.iter().enumerate() {
        let r = http.get(format!("{}/v1/sms/{id}", bases[(i + 1) % 2])).bearer_auth(&center).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }

    // Every check is decided and called back exactly once.
    let all_called = wait_until(Duration::from_secs(60), async || callbacks.lock().unwrap().len() >= 10).await;
    assert!(all_called, "callbacks: {:?}", callbacks.lock().unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = callbacks.lock().unwrap().clone();
    for id in &check_ids {
        assert_eq!(calls.get(id), Some(&1), "check {id} called back once: {calls:?}");
    }

    // One chain, every event once, verifiable from either replica and by the CLI.
    let auditor = token(&http, &b, "auditor-demo").await;
    for base in &bases {
        let report: Value = http
            .get(format!("{base}/v1/audit/integrity"))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(report["ok"], true, "{report}");
        assert!(report["checked"].as_u64().unwrap() >= 200 + 100 + 10 + 4, "{report}");
    }
    let export = http
        .get(format!("{a}/v1/audit/export?format=ndjson"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let seqs: Vec<i64> =
        export.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "one gap-free sequence");
    let config = dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = {}\n[audit]\ncheckpoint_key_file = {}\n",
            toml::Value::String(db.url.clone()),
            toml::Value::String(dir.path().join("checkpoint-key.pem").display().to_string())
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bawaba"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("intact"), "{text}");
}
