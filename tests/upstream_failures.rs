//! When the national-ID registry fails: retries, 503/504 problems, stale
//! copies (stale-if-error) and the circuit breaker (CONTRACT §5 "Caching and
//! upstream failure", §9 `/readyz`).

mod common;

use common::{TestApp, problem, verify_body};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const FIRST: &str = "29001011300036";

/// A gateway whose national-ID registry gives up quickly.
async fn impatient_app() -> TestApp {
    TestApp::spawn_with(|s| {
        let r = s.registries.get_mut("national_id").unwrap();
        r.timeout_ms = 200;
        r.backoff_max_elapsed_ms = 1000;
    })
    .await
}

async fn verify_response(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.post_json("/v1/national-id/verify", token, &verify_body(id, json!({}))).await
}

async fn verify_no_cache(app: &TestApp, token: &str, id: &str) -> reqwest::Response {
    app.http
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(token)
        .header("Cache-Control", "no-cache")
        .json(&verify_body(id, json!({})))
        .send()
        .await
        .unwrap()
}

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_answering_503_is_503_upstream_unavailable_with_retry_after() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let r = verify_response(&app, &token, FIRST).await;
    let after = retry_after(&r);
    assert!(after >= 1, "Retry-After {after}");
    let body = problem(r, 503, "upstream_unavailable").await;
    let text = body.to_string();
    assert!(!text.contains("503 ") && !text.to_lowercase().contains("soap"), "no internals leak: {text}");
    let events = app.audit_events("action=national_id.verify").await;
    assert_eq!(events[0]["outcome"], "upstream_unavailable");
    assert_eq!(events[0]["http_status"], 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_verify_makes_exactly_max_attempts_registry_requests() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "http_503", "error_rate": 1.0})).await;
    let r = verify_response(&app, &token, FIRST).await;
    problem(r, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests("national_id").await, 3, "max_attempts = 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_id_share_one_failing_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "http_503", "latency_ms": 200})).await;
    let body = verify_body(FIRST, json!({}));
    let calls = (0..10).map(|_| app.post_json("/v1/national-id/verify", &token, &body));
    for r in futures::future::join_all(calls).await {
        problem(r, 503, "upstream_unavailable").await;
    }
    assert_eq!(app.upstream_requests("national_id").await, 3, "one call of three attempts, shared by all");
    assert_eq!(app.readiness().await.1["connectors"]["national_id"], "closed", "one failure, not ten");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_never_answers_is_504_upstream_timeout() {
    let app = impatient_app().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "timeout"})).await;
    let started = Instant::now();
    let r = verify_response(&app, &token, FIRST).await;
    let took = started.elapsed();
    problem(r, 504, "upstream_timeout").await;
    assert!(took < Duration::from_millis(2500), "the whole retry budget is 1 s, took {took:?}");
    let attempts = app.upstream_requests("national_id").await;
    assert!((1..=3).contains(&attempts), "{attempts} attempts");
    let events = app.audit_events("action=national_id.verify").await;
    assert_eq!(events[0]["outcome"], "upstream_timeout");
    assert_eq!(events[0]["http_status"], 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_resets_the_connection_is_503() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "reset"})).await;
    let r = verify_response(&app, &token, FIRST).await;
    assert!(retry_after(&r) >= 1);
    problem(r, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests("national_id").await, 3, "a reset is transient and retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_answering_malformed_xml_is_503() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "malformed"})).await;
    let r = verify_response(&app, &token, FIRST).await;
    assert!(retry_after(&r) >= 1);
    let body = problem(r, 503, "upstream_unavailable").await;
    assert!(!body.to_string().contains('<'), "no XML fragment leaks: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_recover_from_a_registry_that_fails_half_the_time() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let ids = app.population(12).await;
    app.fault(json!({"registry": "national_id", "mode": "http_503", "error_rate": 0.5})).await;
    let mut ok = 0;
    for id in &ids {
        let (status, body) = app.verify(&token, &verify_body(id, json!({}))).await;
        match status {
            200 => {
                assert_eq!(body["outcome"], "match", "{body}");
                ok += 1;
            }
            503 => assert_eq!(body["code"], "upstream_unavailable", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let requests = app.upstream_requests("national_id").await;
    // One attempt in two fails, so without retries about 6 of 12 would; with
    // three attempts about one in eight.
    assert!(ok >= 9, "only {ok} of 12 succeeded");
    assert!(requests > 12, "some calls were retried ({requests} requests)");
    assert!(requests <= 36, "at most three attempts each ({requests} requests)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_copy_is_served_stale_when_the_registry_fails() {
    let app = TestApp::spawn_with(|s| s.registries.get_mut("national_id").unwrap().cache_ttl_seconds = 1).await;
    let token = app.token("center-demo").await;
    let (status, warm) = app.verify(&token, &verify_body(FIRST, json!({"full_name": "محمد أحمد علي"}))).await;
    assert_eq!(status, 200);
    assert_eq!(warm["source"]["cached"], false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let (status, body) = app.verify(&token, &verify_body(FIRST, json!({"full_name": "محمد أحمد علي"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["source"]["cached"], true);
    assert_eq!(body["source"]["stale"], true);
    assert!(body["source"]["age_seconds"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(app.upstream_requests("national_id").await, 1 + 3, "the registry was asked (and retried) first");
    let events = app.audit_events("action=national_id.verify").await;
    assert_eq!(events[0]["cache"], "stale");
    assert_eq!(events[0]["outcome"], "match");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_cache_request_is_served_stale_when_the_registry_fails() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let (status, _) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200);
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let r = verify_no_cache(&app, &token, FIRST).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["stale"], true, "{body}");
    assert_eq!(body["source"]["cached"], true, "{body}");
    assert_eq!(app.upstream_requests("national_id").await, 1 + 3);
    let events = app.audit_events("action=national_id.verify").await;
    assert_eq!(events[0]["cache"], "stale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_timing_out_is_answered_from_a_stale_copy_too() {
    let app = impatient_app().await;
    let token = app.token("center-demo").await;
    let (status, _) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200);
    app.fault(json!({"registry": "national_id", "mode": "timeout"})).await;
    let r = verify_no_cache(&app, &token, FIRST).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["stale"], true, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cached_copy_a_failing_registry_is_503_even_for_no_cache() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    problem(verify_no_cache(&app, &token, FIRST).await, 503, "upstream_unavailable").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_recovering_ends_the_failure() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    problem(verify_response(&app, &token, FIRST).await, 503, "upstream_unavailable").await;
    app.clear_faults().await;
    let (status, body) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200, "a failure is not cached: {body}");
    assert_eq!(body["source"]["cached"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_five_failed_calls_the_circuit_opens_and_calls_fail_fast() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(ready["connectors"]["national_id"], "closed");
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    for i in 0..5 {
        problem(verify_response(&app, &token, FIRST).await, 503, "upstream_unavailable").await;
        if i < 4 {
            assert_eq!(app.readiness().await.1["connectors"]["national_id"], "closed", "after {} calls", i + 1);
        }
    }
    assert_eq!(app.upstream_requests("national_id").await, 15);

    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200, "an open circuit keeps the replica in the load balancer");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["store"], "ok");
    assert_eq!(ready["connectors"]["national_id"], "open");

    let started = Instant::now();
    let r = verify_response(&app, &token, FIRST).await;
    let took = started.elapsed();
    assert!(retry_after(&r) >= 1);
    problem(r, 503, "upstream_unavailable").await;
    assert!(took < Duration::from_millis(500), "fails fast, took {took:?}");
    assert_eq!(app.upstream_requests("national_id").await, 15, "an open circuit makes no registry request");

    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("bawaba_circuit_state") && l.contains("national_id") && l.ends_with(" 2")),
        "the circuit gauge says open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_circuit_still_serves_cached_copies() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let (status, _) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200);
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    let others = app.population(5).await;
    for id in &others {
        problem(verify_response(&app, &token, id).await, 503, "upstream_unavailable").await;
    }
    assert_eq!(app.readiness().await.1["connectors"]["national_id"], "open");
    let (status, body) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200);
    assert_eq!(body["source"]["cached"], true, "a fresh copy is a plain hit: {body}");
    assert_eq!(body["source"]["stale"], false);
    let r = verify_no_cache(&app, &token, FIRST).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["stale"], true, "revalidation fails on the open circuit: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_open_pause_one_probe_closes_the_circuit_again() {
    let app = TestApp::spawn_with(|s| s.registries.get_mut("national_id").unwrap().circuit_open_ms = 400).await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "mode": "http_503"})).await;
    for _ in 0..5 {
        problem(verify_response(&app, &token, FIRST).await, 503, "upstream_unavailable").await;
    }
    assert_eq!(app.readiness().await.1["connectors"]["national_id"], "open");
    app.clear_faults().await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(app.readiness().await.1["connectors"]["national_id"], "half_open");
    let before = app.upstream_requests("national_id").await;
    let (status, body) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.upstream_requests("national_id").await, before + 1);
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(ready["connectors"]["national_id"], "closed");
    assert_eq!(ready["status"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_found_answer_does_not_count_against_the_circuit() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    // Seven distinct absent IDs (serials 9990–9999 are never used).
    for serial in 0..7 {
        let id = format!("290010113999{serial}1");
        let (status, body) = app.verify(&token, &verify_body(&id, json!({}))).await;
        assert_eq!(status, 200, "{id}: {body}");
        assert_eq!(body["outcome"], "not_found");
    }
    assert_eq!(app.readiness().await.1["connectors"]["national_id"], "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_failure_mode_answers_a_problem_and_the_gateway_stays_healthy() {
    let app = impatient_app().await;
    let token = app.token("center-demo").await;
    let ids = app.population(4).await;
    for (mode, id) in ["http_503", "reset", "malformed", "timeout"].into_iter().zip(&ids) {
        app.fault(json!({"registry": "national_id", "mode": mode})).await;
        let r = verify_response(&app, &token, id).await;
        let (status, code) = if mode == "timeout" { (504, "upstream_timeout") } else { (503, "upstream_unavailable") };
        problem(r, status, code).await;
    }
    app.clear_faults().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let (status, _) = app.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200, "the gateway still answers after every failure mode");
}
