//! The HTTP edge against clients the project did not write (CONTRACT §3,
//! §4): slow bodies, tokens with JOSE headers the gateway must refuse, scopes
//! and centers a client no longer has, arrays where objects belong, oversized
//! and schema-breaking callbacks, malformed requests, other methods, and the
//! headers every answer carries.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{TestApp, problem, verify_body};
use serde_json::{Value, json};
use sqlx::Connection;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FIRST: &str = "29001011300036";
const SMSC_SECRET: &str = "smsc-demo-secret";

fn host(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Sends `head` and then `body` one byte every 200 ms on a raw connection;
/// returns what the gateway answered, when, and whether it closed.
async fn drip(app: &TestApp, head: String, body: Vec<u8>) -> (String, Duration, bool) {
    let stream = tokio::net::TcpStream::connect(host(app)).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let started = Instant::now();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        for byte in body {
            tokio::time::sleep(Duration::from_millis(200)).await;
            write.write_all(&[byte]).await?;
        }
        Ok::<_, std::io::Error>(write)
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let mut closed = false;
    let mut answered = None;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), read.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => {
                answered.get_or_insert_with(|| started.elapsed());
                answer.extend_from_slice(&buf[..n]);
            }
            Err(_) => {}
        }
    }
    writer.abort();
    (String::from_utf8_lossy(&answer).into_owned(), answered.unwrap_or(Duration::MAX), closed)
}

fn status_of(answer: &str) -> u16 {
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_is_cut_off_with_408_and_the_connection_closed() {
    let app = TestApp::spawn_with(|s| s.server.client_request_timeout_ms = 1000).await;
    let token = app.token("center-demo").await;
    let verify = serde_json::to_vec(&verify_body(FIRST, json!({}))).unwrap();
    let form = b"grant_type=client_credentials&client_id=center-demo&client_secret=center-demo-secret".to_vec();
    let h = host(&app);
    let cases = [
        (
            format!(
                "POST /v1/national-id/verify HTTP/1.1\r\nHost: {h}\r\nAuthorization: Bearer {token}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                verify.len()
            ),
            verify,
        ),
        (
            format!(
                "POST /oauth/token HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n",
                form.len()
            ),
            form,
        ),
    ];
    for (head, body) in cases {
        let path = head.split(' ').nth(1).unwrap().to_owned();
        let (answer, after, closed) = drip(&app, head, body).await;
        assert_eq!(status_of(&answer), 408, "{path}: {answer}");
        assert!(answer.contains("application/problem+json") && answer.contains("request_timeout"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("x-request-id"), "{answer}");
        assert!(after >= Duration::from_millis(900) && after < Duration::from_millis(2500), "{path}: {after:?}");
        assert!(closed, "{path}: the connection is closed after a 408");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_body_nobody_reads_does_not_hold_the_connection() {
    let app = TestApp::spawn_with(|s| s.server.client_request_timeout_ms = 1000).await;
    let h = host(&app);
    let head = format!(
        "POST /v1/national-id/verify HTTP/1.1\r\nHost: {h}\r\nAuthorization: Bearer not-a-token\r\n\
         Content-Type: application/json\r\nContent-Length: 200\r\n\r\n"
    );
    let (answer, _, closed) = drip(&app, head, vec![b' '; 200]).await;
    assert_eq!(status_of(&answer), 401, "{answer}");
    assert!(closed, "the connection does not stay open for the rest of the body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_in_time_is_answered_as_usual() {
    let app = TestApp::spawn_with(|s| s.server.client_request_timeout_ms = 1000).await;
    let h = host(&app);
    let form = b"grant_type=client_credentials&client_id=x".to_vec();
    let head = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        form.len() + 4
    );
    let mut stream = tokio::net::TcpStream::connect(&h).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&form).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(b"&a=b").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer)).await.unwrap().unwrap();
    // Read whole and refused for its content (no secret), not for its pace.
    assert_eq!(status_of(&answer), 401, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_keep_alive_seconds() {
    let app = TestApp::spawn_with(|s| s.server.keep_alive_seconds = 1).await;
    let h = host(&app);
    let mut stream = tokio::net::TcpStream::connect(&h).await.unwrap();
    stream.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {h}\r\n\r\n").as_bytes()).await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the idle connection was closed");
    assert_eq!(status_of(&String::from_utf8_lossy(&answer)), 200);
    assert!(started.elapsed() >= Duration::from_millis(800), "kept for a while: {:?}", started.elapsed());
}

// ---- tokens ----

/// The gateway's signing key, read from its store (no HTTP call reveals it).
async fn gateway_private_pem(app: &TestApp) -> String {
    let url = format!("sqlite://{}", app.db_path().display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let pem: String = sqlx::query_scalar("SELECT private_pem FROM signing_keys ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    pem
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn claims(sub: &str, center_id: Option<&str>, scope: &str) -> Value {
    let now = now();
    let mut c = json!({
        "iss": "bawaba", "aud": "bawaba-api", "sub": sub, "scope": scope,
        "iat": now, "nbf": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string(),
    });
    if let Some(center) = center_id {
        c["center_id"] = json!(center);
    }
    c
}

/// A compact JWS with exactly `header` (which `jsonwebtoken::Header` could
/// not carry: it has no `crit`), signed ES256 with the gateway's own key.
async fn signed(app: &TestApp, header: &Value, claims: &Value) -> String {
    let pem = gateway_private_pem(app).await;
    let key = jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap())
    );
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::ES256).unwrap();
    format!("{input}.{signature}")
}

async fn kid(app: &TestApp) -> String {
    let jwks: Value = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_owned()
}

async fn verify_status(app: &TestApp, token: &str) -> u16 {
    app.post_json("/v1/national-id/verify", token, &verify_body(FIRST, json!({}))).await.status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_whose_header_carries_crit_or_points_at_other_keys_is_refused() {
    let app = TestApp::spawn().await;
    let _ = app.token("center-demo").await; // the signing key exists from the first token on
    let kid = kid(&app).await;
    let c = claims("center-demo", Some("SHR-ZAG-01"), "national_id:verify");
    let plain = signed(&app, &json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &c).await;
    assert_eq!(verify_status(&app, &plain).await, 200, "the same token without the parameter is good");
    for (name, value) in [
        ("crit", json!(["exp"])),
        ("crit", json!(["bawaba-unknown"])),
        ("jku", json!("https://attacker.example/jwks.json")),
        ("x5u", json!("https://attacker.example/cert.pem")),
        ("jwk", json!({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"})),
        ("x5c", json!(["MIIBszCCAVmgAwIBAgIU"])),
    ] {
        let mut header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
        header[name] = value.clone();
        if name == "crit" {
            header["bawaba-unknown"] = json!(true);
        }
        let token = signed(&app, &header, &c).await;
        let r = app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, json!({}))).await;
        assert_eq!(r.status(), 401, "{name}: {value}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"", "{name}");
        problem(r, 401, "unauthorized").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_never_carries_more_than_its_clients_scopes_nor_another_center() {
    let app = TestApp::spawn().await;
    let _ = app.token("center-demo").await;
    let kid = kid(&app).await;
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
    // limited-demo may verify national IDs only: a token that says more is cut to that.
    let limited =
        signed(&app, &header, &claims("limited-demo", Some("SHR-HUS-02"), "national_id:verify audit:read")).await;
    let r = app.get("/v1/audit/events", &limited).await;
    problem(r, 403, "forbidden").await;
    // Another center than the client's: not this client's token.
    let elsewhere = signed(&app, &header, &claims("center-demo", Some("CAI-NSR-01"), "national_id:verify")).await;
    assert_eq!(verify_status(&app, &elsewhere).await, 401);
    let no_center = signed(&app, &header, &claims("center-demo", None, "national_id:verify")).await;
    assert_eq!(verify_status(&app, &no_center).await, 401);
    let auditor_with_center = signed(&app, &header, &claims("auditor-demo", Some("SHR-ZAG-01"), "audit:read")).await;
    assert_eq!(app.get("/v1/audit/events", &auditor_with_center).await.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_scopes_were_cut_loses_them_before_its_tokens_expire() {
    let first = TestApp::spawn().await;
    let token = first.token("center-demo").await;
    let sms = json!({"to": "01001234567", "template": "request_status", "lang": "ar",
        "params": {"case_ref": "SHR-2025-000123", "status": "received", "center": "Zagazig"},
        "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}});
    // The same store (so the same signing key), restarted with center-demo cut to national_id:verify.
    let dir = tempfile::tempdir().unwrap();
    let clients = std::fs::read_to_string(common::repo_file("config/clients.toml")).unwrap().replacen(
        r#"scopes = ["national_id:verify", "commercial_register:verify", "real_estate:verify", "security:check", "sms:send"]"#,
        r#"scopes = ["national_id:verify"]"#,
        1,
    );
    let clients_path = dir.path().join("clients.toml");
    std::fs::write(&clients_path, clients).unwrap();
    let mut settings = common::test_settings(&dir);
    settings.store.url = first.settings.store.url.clone();
    settings.auth.clients_file = clients_path;
    let cut = TestApp::spawn_settings(settings, dir).await;
    assert_eq!(verify_status(&cut, &token).await, 200, "what it still has, it keeps");
    let r = cut.http.post(cut.url("/v1/sms")).bearer_auth(&token).header("Idempotency-Key", "k1").json(&sms).send();
    problem(r.await.unwrap(), 403, "forbidden").await;
}

// ---- JSON: objects only ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_array_where_an_object_belongs_is_400_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let context = json!({"operator_id": "EMP-1001", "purpose": "building_permit", "case_ref": "SHR-2025-000123"});
    let positional = json!([FIRST, {"full_name": "x"}, context]);
    let r = app.post_json("/v1/national-id/verify", &token, &positional).await;
    let body = problem(r, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "body", "{body}");
    assert_eq!(body["errors"][0]["reason"], "wrong type, expected an object", "{body}");

    let cases = [
        ("/v1/national-id/verify", json!({"national_id": FIRST, "claims": [null, null], "context": context}), "claims"),
        (
            "/v1/national-id/verify",
            json!({"national_id": FIRST, "claims": {}, "context": ["EMP-1001", "building_permit"]}),
            "context",
        ),
        (
            "/v1/commercial-register/verify",
            json!({"registration_number": "123456", "office": "ZAGAZIG", "claims": [], "context": context}),
            "claims",
        ),
        (
            "/v1/real-estate/verify",
            json!({"property_id": "SHR-ZAG-000001", "claims": {}, "context": ["EMP-1001", "building_permit"]}),
            "context",
        ),
        (
            "/v1/security-checks",
            json!({"national_id": FIRST, "check_type": "general", "context": ["EMP-1001", "shop_license"]}),
            "context",
        ),
    ];
    for (path, body, field) in cases {
        let r = app.post_json(path, &token, &body).await;
        let problem_body = problem(r, 400, "invalid_request").await;
        assert_eq!(problem_body["errors"][0]["field"], field, "{path}: {problem_body}");
    }
    let sms = json!({"to": "01001234567", "template": "request_status", "lang": "ar",
        "params": {"case_ref": "SHR-2025-000123", "status": "received", "center": "Zagazig"},
        "context": ["EMP-1001", "status_notification", "SHR-2025-000123"]});
    let r = app.http.post(app.url("/v1/sms")).bearer_auth(&token).header("Idempotency-Key", "a1").json(&sms).send();
    let body = problem(r.await.unwrap(), 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "context", "{body}");
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

// ---- body limits and the SMSC's callbacks ----

async fn callback(app: &TestApp, path: &str, body: &[u8], signature: Option<String>) -> reqwest::Response {
    let mut req = app.http.post(app.url(path)).header("Content-Type", "application/json").body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("Bawaba-Signature", s);
    }
    req.send().await.unwrap()
}

fn sign(body: &[u8]) -> String {
    connectors::smsc::sign(SMSC_SECRET, now(), body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_past_a_routes_limit_are_413_problem_json() {
    let app = TestApp::spawn().await;
    let form = format!("grant_type=client_credentials&client_id=center-demo&pad={}", "a".repeat(9 * 1024));
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    problem(r, 413, "payload_too_large").await;
    let big = format!(r#"{{"smsc_id":"MO-1","pad":"{}"}}"#, "a".repeat(20 * 1024));
    for path in ["/v1/sms/inbound", "/v1/sms/delivery-reports"] {
        let r = callback(&app, path, big.as_bytes(), Some(sign(big.as_bytes()))).await;
        problem(r, 413, "payload_too_large").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_401_without_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let body =
        br#"{"smsc_id":"MO-1","from":"+201001234567","to":"5960","text":"STOP","received_at":"2026-01-05T08:00:00Z"}"#;
    for signature in
        [None, Some("t=1,v1=00".to_owned()), Some(connectors::smsc::sign("another-secret-000", now(), body))]
    {
        for path in ["/v1/sms/inbound", "/v1/sms/delivery-reports"] {
            let r = callback(&app, path, body, signature.clone()).await;
            assert!(r.headers().get("www-authenticate").is_none(), "{path}: no bearer challenge");
            let p = problem(r, 401, "unauthorized").await;
            assert!(!p["detail"].as_str().unwrap().to_lowercase().contains("bearer"), "{p}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_inbound_message_outside_the_schema_is_400_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let good = json!({"smsc_id": "MO-1", "from": "+201001234567", "to": "5960", "text": "STOP",
        "received_at": "2026-01-05T08:00:00Z"});
    let mut cases = Vec::new();
    let mut unknown = good.clone();
    unknown["note"] = json!("x");
    cases.push((unknown, "note"));
    for (field, value) in [
        ("text", json!("")),
        ("to", json!("5961")),
        ("received_at", json!("yesterday")),
        ("from", json!("01001234567")),
    ] {
        let mut body = good.clone();
        body[field] = value;
        cases.push((body, field));
    }
    for (body, field) in cases {
        let bytes = serde_json::to_vec(&body).unwrap();
        let r = callback(&app, "/v1/sms/inbound", &bytes, Some(sign(&bytes))).await;
        let p = problem(r, 400, "invalid_request").await;
        assert!(p["errors"].to_string().contains(field), "{field}: {p}");
    }
    // None of them was a STOP: the number still gets its notifications.
    let token = app.token("center-demo").await;
    let sms = json!({"to": "+201001234567", "template": "request_status", "lang": "ar",
        "params": {"case_ref": "SHR-2025-000123", "status": "received", "center": "Zagazig"},
        "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}});
    let r = app.http.post(app.url("/v1/sms")).bearer_auth(&token).header("Idempotency-Key", "s1").json(&sms).send();
    assert_eq!(r.await.unwrap().status(), 202);
    let bytes = serde_json::to_vec(&good).unwrap();
    assert_eq!(callback(&app, "/v1/sms/inbound", &bytes, Some(sign(&bytes))).await.status(), 200);
}

// ---- 405 ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_path_does_not_serve_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let auditor = app.token("auditor-demo").await;
    let id = uuid::Uuid::now_v7();
    let cases = [
        ("/healthz", "POST", "GET"),
        ("/readyz", "DELETE", "GET"),
        ("/metrics", "PUT", "GET"),
        ("/.well-known/jwks.json", "POST", "GET"),
        ("/openapi.json", "POST", "GET"),
        ("/oauth/token", "GET", "POST"),
        ("/v1/national-id/verify", "GET", "POST"),
        ("/v1/commercial-register/verify", "PUT", "POST"),
        ("/v1/real-estate/verify", "DELETE", "POST"),
        ("/v1/security-checks", "GET", "POST"),
        (&format!("/v1/security-checks/{id}"), "POST", "GET"),
        ("/v1/sms", "GET", "POST"),
        (&format!("/v1/sms/{id}"), "DELETE", "GET"),
        ("/v1/sms/delivery-reports", "GET", "POST"),
        ("/v1/sms/inbound", "GET", "POST"),
        ("/v1/audit/events", "POST", "GET"),
        ("/v1/audit/export", "POST", "GET"),
        ("/v1/audit/volume", "POST", "GET"),
        ("/v1/audit/integrity", "POST", "GET"),
    ];
    for (path, method, allow) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let token = if path.starts_with("/v1/audit") { &auditor } else { &token };
        let r = app.http.request(method.clone(), app.url(path)).bearer_auth(token).send().await.unwrap();
        assert_eq!(
            r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned()).as_deref(),
            Some(allow),
            "{method} {path}"
        );
        problem(r, 405, "method_not_allowed").await;
    }
}

// ---- headers ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_answers_are_not_sniffed_and_personal_data_is_not_cached() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let ok = app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, json!({}))).await;
    let bad = app.post_json("/v1/national-id/verify", &token, &verify_body("123", json!({}))).await;
    for r in [ok, bad] {
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert!(r.headers().get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
    }
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

// ---- malformed requests ----

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_are_counted_and_at_most_a_rare_warning() {
    let log = Captured::default();
    let writer = log.clone();
    bawaba::telemetry::init_with_writer("info", "json", move || writer.clone());
    let app = TestApp::spawn().await;
    let h = host(&app);
    let heads = [
        format!("GET /healthz HTTP/1.1\r\nHost: {h}\r\nX-Bad: a\0b\r\n\r\n"),
        format!("GET /healthz HTTP/1.1\r\nHost: {h}\r\nX-Big: {}\r\n\r\n", "a".repeat(200 * 1024)),
        "GARBAGE\r\n\r\n".to_owned(),
        format!("GET /healthz HTTP/1.1\r\nHost: {h}\r\nContent-Length: x\r\n\r\n"),
    ];
    for _ in 0..5 {
        for head in &heads {
            let mut stream = tokio::net::TcpStream::connect(&h).await.unwrap();
            let _ = stream.write_all(head.as_bytes()).await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
            let status = status_of(&String::from_utf8_lossy(&answer));
            assert!(matches!(status, 400 | 431), "{status}: {}", String::from_utf8_lossy(&answer));
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = String::from_utf8_lossy(&log.0.lock().unwrap()).into_owned();
    let lines: Vec<Value> = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let errors: Vec<&Value> = lines.iter().filter(|l| l["level"] == "ERROR").collect();
    assert!(errors.is_empty(), "no ERROR line for a client's mistake: {errors:?}");
    let warnings = lines.iter().filter(|l| l["message"].as_str().is_some_and(|m| m.contains("malformed"))).count();
    assert!((1..=2).contains(&warnings), "{warnings} warnings for 20 malformed requests:\n{text}");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let count: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bawaba_malformed_requests_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no malformed-request counter:\n{metrics}"));
    assert!(count >= 15, "counted {count}");
}

// ---- check-config ----

/// Runs the binary in the repository root with only `env` as BAWABA__ variables.
fn bawaba(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bawaba"));
    cmd.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).stdin(std::process::Stdio::null());
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("the binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn line_of<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} not reported:\n{out}"))
}

#[test]
fn check_config_reports_every_wrong_value_in_one_run_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
[server]
workers = "many"
listen = "nowhere"
[store]
max_batch = -1
[sandbox]
enabled = "yes"
[log]
format = "xml"
[registries.national_id]
timeout_ms = "2s"
[registries.smsc]
max_attempts = 1.5
"#,
    )
    .unwrap();
    let (code, out) =
        bawaba(&["check-config", "--config", path.to_str().unwrap()], &[("BAWABA__AUTH__TOKEN_TTL_SECONDS", "soon")]);
    assert_eq!(code, 2, "{out}");
    assert!(line_of(&out, "server.workers").contains("expected a positive integer"), "{out}");
    assert!(line_of(&out, "server.listen").contains("IP address and a port"), "{out}");
    assert!(line_of(&out, "store.max_batch").contains("expected a positive integer"), "{out}");
    assert!(line_of(&out, "sandbox.enabled").contains("true or false"), "{out}");
    let timeout = line_of(&out, "registries.national_id.timeout_ms");
    assert!(timeout.contains("\"2s\"") && timeout.contains("expected a positive integer"), "{timeout}");
    assert!(line_of(&out, "registries.smsc.max_attempts").contains("expected a positive integer"), "{out}");
    let ttl = line_of(&out, "auth.token_ttl_seconds");
    assert!(ttl.contains("BAWABA__AUTH__TOKEN_TTL_SECONDS") && ttl.contains("soon"), "{ttl}");
    // And the checks on values go on beside the type errors.
    assert!(line_of(&out, "log.format").contains("xml"), "{out}");
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.contains(';') || line.contains("must"), "each problem says how to fix it: {line}");
    }
}

#[test]
fn check_config_refuses_missing_or_invalid_referenced_files_as_serve_does() {
    let dir = tempfile::tempdir().unwrap();
    let purposes = dir.path().join("purposes.toml");
    std::fs::write(&purposes, "[purposes]\nbuilding_permit = \"national_id.verify\"\nshop = [\"no.such\"]\n").unwrap();
    let templates = dir.path().join("templates.toml");
    std::fs::write(&templates, "[templates.request_status\nar = 1\n").unwrap();
    let clients = dir.path().join("clients.toml");
    std::fs::write(
        &clients,
        "[[clients]]\nclient_id = \"a\"\nsecret_hash = \"x\"\nscopes = \"all\"\nrate_per_second = \"fast\"\nrate_burst = 1\ncolour = 1\n",
    )
    .unwrap();
    let config = dir.path().join("bawaba.toml");
    let store = format!("sqlite://{}", dir.path().join("bawaba.db").display());
    let text = format!(
        "[auth]\nclients_file = {:?}\npurposes_file = {:?}\n[sms]\ntemplates_file = {:?}\n[store]\nurl = {store:?}\n",
        clients.display().to_string(),
        purposes.display().to_string(),
        templates.display().to_string(),
    );
    std::fs::write(&config, &text).unwrap();
    let (code, out) = bawaba(&["check-config", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(!out.contains("configuration ok"), "{out}");
    let clients_shown = clients.display().to_string();
    for needle in ["clients[0].scopes", "clients[0].rate_per_second", "clients[0].colour"] {
        assert!(out.lines().any(|l| l.starts_with(&clients_shown) && l.contains(needle)), "{needle}:\n{out}");
    }
    assert!(out.contains("purposes.building_permit") && out.contains("expected an array"), "{out}");
    assert!(out.contains(&templates.display().to_string()) && out.contains("unclosed table"), "{out}");
    // serve refuses the same configuration, before it opens anything.
    let (code, served) = bawaba(&["serve", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{served}");
    assert!(served.contains("clients[0].rate_per_second") && served.contains("unclosed table"), "{served}");
    assert!(!dir.path().join("bawaba.db").exists(), "nothing was started");

    // A clients file that is not there at all.
    let missing = text.replace(&clients.display().to_string(), &dir.path().join("gone.toml").display().to_string());
    std::fs::write(&config, missing).unwrap();
    let (code, out) = bawaba(&["check-config", "--config", config.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{out}");
    assert!(line_of(&out, "auth.clients_file").contains("cannot be read"), "{out}");
}
