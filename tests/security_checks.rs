//! POST/GET /v1/security-checks: asynchronous checks that survive restarts,
//! never cached, with signed callbacks only to allowed URLs.

mod common;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bawaba::Application;
use common::{Backend, TestApp, test_settings};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn check_body(national_id: &str) -> Value {
    json!({"national_id": national_id, "check_type": "shop_license",
           "context": {"operator_id": "EMP-1001", "purpose": "shop_license", "case_ref": "SHR-2025-000777"}})
}

async fn wait_for_decision(app: &TestApp, token: &str, id: &str, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        let r = app.get(&format!("/v1/security-checks/{id}"), token).await;
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        if body["status"] != "pending" || started.elapsed() > limit {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_check_is_accepted_then_decided_as_the_directorate_says(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let r = app.post_json("/v1/security-checks", &token, &check_body("29505058800051")).await;
    assert_eq!(r.status(), 202);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "pending");
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/security-checks/{id}"));
    assert_eq!(body["request_id"], id.as_str());

    let decided = wait_for_decision(&app, &token, &id, Duration::from_secs(8)).await;
    assert_eq!(decided["status"], "not_cleared");
    assert!(decided["decided_at"].is_string());
    assert!(decided["submitted_at"].is_string());

    let r = app.post_json("/v1/security-checks", &token, &check_body("29001011300036")).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    assert_eq!(wait_for_decision(&app, &token, &id, Duration::from_secs(8)).await["status"], "cleared");

    let events = app.audit_events("action=security_check.submit").await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["outcome"], "accepted");
    assert_eq!(events[0]["http_status"], 202);
    assert_eq!(events[0]["subject"], "29001011300036");
    assert_eq!(events[0]["cache"], "none");
    let reads = app.audit_events("action=security_check.read").await;
    assert!(!reads.is_empty());
}

async fn another_clients_check_is_not_found(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let mine = app.token("center-demo").await;
    let theirs = app.token("center2-demo").await;
    let r = app.post_json("/v1/security-checks", &mine, &check_body("29001011300036")).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/v1/security-checks/{id}"), &theirs).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    let r = app.get("/v1/security-checks/not-a-uuid", &mine).await;
    assert_eq!(r.status(), 404);
}

async fn bad_submissions_are_refused_precisely(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let mut body = check_body("29001011300036");
    body["check_type"] = json!("criminal_record");
    let r = app.post_json("/v1/security-checks", &token, &body).await;
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_request");
    assert_eq!(problem["errors"][0]["field"], "check_type");

    for url in ["http://10.1.2.3:9000/hook", "http://127.0.0.1:80@evil.example/x", "ftp://127.0.0.1:21/x", "nonsense"] {
        let mut body = check_body("29001011300036");
        body["callback_url"] = json!(url);
        let r = app.post_json("/v1/security-checks", &token, &body).await;
        assert_eq!(r.status(), 400, "{url}");
        assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["field"], "callback_url");
    }

    let r = app.post_json("/v1/security-checks", &token, &check_body("29002301300036")).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "invalid_national_id");

    // building_permit does not allow a security check.
    let mut body = check_body("29001011300036");
    body["context"]["purpose"] = json!("building_permit");
    assert_eq!(app.post_json("/v1/security-checks", &token, &body).await.status(), 403);
    assert_eq!(app.upstream_requests("security").await, 0);
}

type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A client's callback receiver: records signature header and body.
async fn callback_receiver(status: u16) -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let server = HttpServer::new(move || {
        let store = store.clone();
        App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
            let store = store.clone();
            async move {
                let sig =
                    req.headers().get("bawaba-signature").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
                store.lock().unwrap().push((sig, String::from_utf8_lossy(&body).into_owned()));
                HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap()).finish()
            }
        }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let addr = server.addrs()[0];
    tokio::spawn(server.run());
    (format!("http://{addr}/hooks/security"), received)
}

fn signature_is_valid(header: &str, body: &str, secret: &str) -> bool {
    let mut parts = header.split(',');
    let t = parts.next().and_then(|p| p.strip_prefix("t=")).unwrap_or_default();
    let v1 = parts.next().and_then(|p| p.strip_prefix("v1=")).unwrap_or_default();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}

async fn the_decision_is_called_back_signed_and_retried_until_accepted(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let (url, received) = callback_receiver(200).await;
    let mut body = check_body("29001011300036");
    body["callback_url"] = json!(url);
    let r = app.post_json("/v1/security-checks", &token, &body).await;
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    while received.lock().unwrap().is_empty() && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = received.lock().unwrap().clone();
    assert_eq!(calls.len(), 1, "one callback");
    let (sig, payload) = &calls[0];
    assert!(signature_is_valid(sig, payload, "center-demo-callback-secret"), "{sig}");
    assert!(!signature_is_valid(sig, payload, "another-secret"));
    let payload: Value = serde_json::from_str(payload).unwrap();
    assert_eq!(payload["id"], id.as_str());
    assert_eq!(payload["status"], "cleared");

    // A receiver that fails is tried again.
    let (url, received) = callback_receiver(503).await;
    let mut body = check_body("29001011300036");
    body["callback_url"] = json!(url);
    app.post_json("/v1/security-checks", &token, &body).await;
    let started = Instant::now();
    while received.lock().unwrap().len() < 2 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(received.lock().unwrap().len() >= 2, "retried after a 503");
}

async fn a_check_pending_when_the_gateway_stops_is_finished_after_it_starts_again(backend: Backend) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    // The directorate outlives the gateway, as a real one would.
    let sandbox = connectors::sandbox::Sandbox::new(None);
    let (sandbox_addr, serve) = sandbox.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    tokio::spawn(serve);
    let sandbox_url = format!("http://{sandbox_addr}");
    let http = reqwest::Client::new();
    // The directorate is unreachable in time while the first gateway runs.
    http.post(format!("{sandbox_url}/_faults"))
        .json(&json!({"registry": "security", "mode": "timeout"}))
        .send()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    let _database = TestApp::fresh_store(backend, &mut settings).await;
    let settings = {
        let mut s = settings;
        // The stopped gateway's claim on the check lapses after this.
        s.store.lease_seconds = 5;
        s.sandbox.enabled = false;
        for r in s.registries.values_mut() {
            r.base_url = Some(sandbox_url.clone());
        }
        let sec = s.registries.get_mut("security").unwrap();
        sec.timeout_ms = 200;
        sec.backoff_max_elapsed_ms = 400;
        s
    };
    let first = Application::build(settings.clone()).await.unwrap();
    let base = first.base_url();
    let stop = first.stop_handle();
    tokio::spawn(first.run());
    let token_for = |base: String| {
        let http = http.clone();
        async move {
            let r = http
                .post(format!("{base}/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "center-demo"),
                    ("client_secret", "center-demo-secret"),
                ])
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let token = token_for(base.clone()).await;
    let r = http
        .post(format!("{base}/v1/security-checks"))
        .bearer_auth(&token)
        .json(&check_body("29505058800051"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = http.get(format!("{base}/v1/security-checks/{id}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "pending");
    stop.kill().await;

    // The directorate recovers; a new gateway process on the same store finishes the check.
    http.delete(format!("{sandbox_url}/_faults")).send().await.unwrap();
    let second = Application::build(settings).await.unwrap();
    let base = second.base_url();
    tokio::spawn(second.run());
    let token = token_for(base.clone()).await;
    let started = Instant::now();
    let status = loop {
        let r = http.get(format!("{base}/v1/security-checks/{id}")).bearer_auth(&token).send().await.unwrap();
        let body: Value = r.json().await.unwrap();
        if body["status"] != "pending" || started.elapsed() > Duration::from_secs(20) {
            break body["status"].clone();
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    assert_eq!(status, "not_cleared");
}

on_both_backends!(
    a_check_is_accepted_then_decided_as_the_directorate_says,
    another_clients_check_is_not_found,
    bad_submissions_are_refused_precisely,
    the_decision_is_called_back_signed_and_retried_until_accepted,
    a_check_pending_when_the_gateway_stops_is_finished_after_it_starts_again,
);
