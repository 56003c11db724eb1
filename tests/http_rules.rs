//! The common rules of the HTTP API (CONTRACT §4) and the operations
//! endpoints (§9): bodies, problems, languages, request ids, health, metrics
//! and the OpenAPI document.

mod common;

use common::{TestApp, problem, verify_body};
use serde_json::{Value, json};

const FIRST: &str = "29001011300036";

async fn post_raw(app: &TestApp, token: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.http
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(token)
        .header("Content-Type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Sends `body` with `Transfer-Encoding: chunked` over a raw connection
/// (no Content-Length for the gateway to trust); returns the status code.
async fn post_chunked(app: &TestApp, token: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /v1/national-id/verify HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        // The gateway may answer and close before the whole body is sent.
        if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
            || stream.write_all(chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_400_invalid_request() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for body in ["{\"national_id\": ", "not json", "", "[1, 2]", "{\"national_id\": 29001011300036}"] {
        let r = post_raw(&app, &token, "application/json", body).await;
        problem(r, 400, "invalid_request").await;
    }
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_400_and_named() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let cases = [
        ("nickname", {
            let mut b = verify_body(FIRST, json!({}));
            b["nickname"] = json!("x");
            b
        }),
        ("claims.religion", verify_body(FIRST, json!({"religion": "x"}))),
        ("context.extra", {
            let mut b = verify_body(FIRST, json!({}));
            b["context"]["extra"] = json!(1);
            b
        }),
    ];
    for (field, body) in cases {
        let r = app.post_json("/v1/national-id/verify", &token, &body).await;
        let problem = problem(r, 400, "invalid_request").await;
        let named: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        assert_eq!(named, [field], "{problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_field_is_400() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json("/v1/national-id/verify", &token, &json!({"national_id": FIRST})).await;
    let body = problem(r, 400, "invalid_request").await;
    assert!(body["errors"].to_string().contains("context"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let json_text = verify_body(FIRST, json!({})).to_string();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/xml"] {
        problem(post_raw(&app, &token, content_type, json_text.clone()).await, 415, "unsupported_media_type").await;
    }
    let r = app
        .http
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(&token)
        .body(json_text.clone())
        .send()
        .await
        .unwrap();
    problem(r, 415, "unsupported_media_type").await;
    // A charset parameter is fine.
    let r = post_raw(&app, &token, "application/json; charset=utf-8", json_text).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut body = verify_body(FIRST, json!({"full_name": "محمد"}));
    body["claims"]["full_name"] = json!("a".repeat(65 * 1024));
    let r = app.post_json("/v1/national-id/verify", &token, &body).await;
    problem(r, 413, "payload_too_large").await;
    // Also when the length is not declared up front (chunked).
    let status = post_chunked(&app, &token, body.to_string().as_bytes()).await;
    assert_eq!(status, 413, "a chunked body over the limit");
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_just_under_64_kib_is_read() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut body = verify_body(FIRST, json!({}));
    let base = body.to_string().len();
    body["context"]["padding"] = json!(" ".repeat(60 * 1024 - base));
    let r = app.post_json("/v1/national-id/verify", &token, &body).await;
    // Read and parsed: refused for its unknown field, not for its size.
    let body = problem(r, 400, "invalid_request").await;
    assert!(body["errors"].to_string().contains("padding"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_is_404_problem_json() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for path in ["/v1/nothing-here", "/nope", "/v1/national-id/verify/extra"] {
        let r = app.get(path, &token).await;
        problem(r, 404, "not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_on_a_known_route_is_405_problem_json() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.get("/v1/national-id/verify", &token).await;
    assert_eq!(r.status(), 405);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/problem+json"), "{ct}");
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], 405, "{body}");
    assert_eq!(body["request_id"], request_id.as_str());
    let events = app.audit_events("action=national_id.verify").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], request_id.as_str());
    assert_eq!(events[0]["http_status"], 405);
    assert_eq!(events[0]["outcome"], body["code"], "the audit outcome is the problem code");
    let r = app.http.get(app.url("/oauth/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_language_ar_gives_an_arabic_detail() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_body("19001011300036", json!({}));
    let english = app.post_json("/v1/national-id/verify", &token, &body).await;
    let english = problem(english, 400, "invalid_national_id").await;
    let arabic = app
        .http
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(&token)
        .header("Accept-Language", "ar")
        .json(&body)
        .send()
        .await
        .unwrap();
    let arabic = problem(arabic, 400, "invalid_national_id").await;
    let is_arabic = |s: &str| s.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c));
    assert!(is_arabic(arabic["detail"].as_str().unwrap()), "{arabic}");
    assert!(!is_arabic(english["detail"].as_str().unwrap()), "{english}");
    assert_eq!(arabic["code"], english["code"], "the code does not change with the language");
    assert_eq!(arabic["errors"], english["errors"]);

    let r = app.http.get(app.url("/v1/nothing")).header("Accept-Language", "ar-EG,en;q=0.5").send().await.unwrap();
    let body = problem(r, 404, "not_found").await;
    assert!(is_arabic(body["detail"].as_str().unwrap()), "{body}");
    let r = app.http.get(app.url("/v1/nothing")).header("Accept-Language", "en,ar;q=0.5").send().await.unwrap();
    let body = problem(r, 404, "not_found").await;
    assert!(!is_arabic(body["detail"].as_str().unwrap()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut ids = std::collections::HashSet::new();
    let responses = vec![
        app.http.get(app.url("/healthz")).send().await.unwrap(),
        app.http.get(app.url("/readyz")).send().await.unwrap(),
        app.http.get(app.url("/metrics")).send().await.unwrap(),
        app.http.get(app.url("/openapi.json")).send().await.unwrap(),
        app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap(),
        app.http.get(app.url("/nope")).send().await.unwrap(),
        app.http.post(app.url("/oauth/token")).form(&[("grant_type", "x")]).send().await.unwrap(),
        app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, json!({}))).await,
        app.post_json("/v1/national-id/verify", "bad", &verify_body(FIRST, json!({}))).await,
    ];
    for r in responses {
        let id = r.headers().get("x-request-id").unwrap_or_else(|| panic!("{} without X-Request-Id", r.url()));
        let id = id.to_str().unwrap().to_owned();
        let parsed = uuid::Uuid::parse_str(&id).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 7, "a UUIDv7: {id}");
        assert!(ids.insert(id), "request ids are unique");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_id_of_a_v1_call_is_its_audit_event_id_and_in_its_body() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let ok = app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, json!({}))).await;
    let ok_id = ok.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(ok.json::<Value>().await.unwrap()["request_id"], ok_id.as_str());
    let bad = app.post_json("/v1/national-id/verify", &token, &verify_body("123", json!({}))).await;
    let bad_id = bad.headers()["x-request-id"].to_str().unwrap().to_owned();
    problem(bad, 400, "invalid_national_id").await;
    let events = app.audit_events("action=national_id.verify").await;
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [bad_id.as_str(), ok_id.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_the_process_is_alive() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_reports_the_store_and_every_connector() {
    let app = TestApp::spawn().await;
    let (status, body) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["store"], "ok");
    let connectors = body["connectors"].as_object().unwrap();
    for name in ["national_id", "commercial_register", "real_estate", "security", "smsc"] {
        assert_eq!(connectors.get(name), Some(&json!("closed")), "{name} in {body}");
    }
    for (name, state) in connectors {
        assert!(["closed", "open", "half_open"].contains(&state.as_str().unwrap()), "{name}: {state}");
    }
}

fn metric_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_registry_calls_cache_circuit_and_audit() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for _ in 0..2 {
        let (status, _) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
        assert_eq!(status, 200);
    }
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = r.text().await.unwrap();
    let requests = metric_value(&text, "bawaba_http_requests_total", &["/v1/national-id/verify", "\"200\""]);
    assert_eq!(requests, Some(2.0), "requests by route and status:\n{text}");
    let attempts = metric_value(&text, "bawaba_registry_attempts_total", &["national_id"]);
    assert_eq!(attempts, Some(1.0), "one registry attempt:\n{text}");
    assert!(text.contains("bawaba_registry_attempt_duration_seconds"), "registry latency");
    let hits = metric_value(&text, "bawaba_cache_lookups_total", &["national_id", "hit"]);
    assert_eq!(hits, Some(1.0), "one cache hit:\n{text}");
    assert_eq!(metric_value(&text, "bawaba_circuit_state", &["national_id"]), Some(0.0), "circuit closed");
    let audited = metric_value(&text, "bawaba_audit_events_total", &[]).unwrap();
    assert!(audited >= 3.0, "token + two verifies audited: {audited}");
    assert!(text.contains("bawaba_http_request_duration_seconds"), "request latency");
    assert!(!text.contains(FIRST), "no national ID in metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_json_is_openapi_3_1_and_lists_the_api() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    for path in ["/v1/national-id/verify", "/oauth/token", "/v1/audit/events", "/v1/audit/integrity", "/readyz"] {
        assert!(paths.contains_key(path), "{path} missing from {:?}", paths.keys().collect::<Vec<_>>());
    }
    assert!(paths["/v1/national-id/verify"]["post"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_never_leaks_internals() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "malformed"})).await;
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, json!({}))).await;
    let body = problem(r, 503, "upstream_unavailable").await;
    let text = body.to_string().to_lowercase();
    for leak in ["xml", "reqwest", "hyper", "sqlx", "127.0.0.1", "panicked", "error:"] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}
