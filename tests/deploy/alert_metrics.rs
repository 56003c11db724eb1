//! The metrics behind `BawabaCheckpointOverdue` and `BawabaSmsUndelivered`,
//! black box: they are on `/metrics` from the start and move with what the
//! gateway does.

use super::common::{TestApp, verify_body};
use super::scrape;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The value of one sample (`name{labels}` exactly as exported, or a bare name).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A series and what its value must satisfy.
type Want<'a> = (&'a str, fn(f64) -> bool);

/// Scrapes until every `(series, want)` holds, or fails after `within`, naming what it saw.
async fn wait_for(app: &TestApp, want: &[Want<'_>], within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let text = scrape(app).await;
        if want.iter().all(|(s, ok)| sample(&text, s).is_some_and(ok)) {
            return text;
        }
        if Instant::now() > deadline {
            let seen: Vec<_> = want.iter().map(|(s, _)| (s, sample(&text, s))).collect();
            panic!("the metrics never got there: {seen:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const UNSIGNED: &str = "bawaba_audit_unsigned_events";
const AGE: &str = "bawaba_audit_unsigned_age_seconds";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signing_lag_grows_with_unsigned_events_and_falls_to_zero_at_a_checkpoint() {
    // A checkpoint every 3 events, and no ticker within the test.
    let app = TestApp::spawn_with(|s| {
        s.audit.checkpoint_every = 3;
        s.audit.checkpoint_interval_seconds = 3600;
    })
    .await;
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "bawaba_audit_checkpoint_interval_seconds"), Some(3600.0), "{text}");
    assert_eq!(sample(&text, UNSIGNED), Some(0.0), "a fresh store");
    assert_eq!(sample(&text, AGE), Some(0.0));

    // Two events (a token, a verification): unsigned, and ageing.
    let token = app.token("center-demo").await;
    let (status, answer) =
        app.verify(&token, &verify_body("29001011300036", json!({"full_name": "محمد أحمد علي"}))).await;
    assert_eq!(status, 200, "{answer}");
    wait_for(&app, &[(UNSIGNED, |v| v == 2.0), (AGE, |v| v >= 2.0)], Duration::from_secs(10)).await;

    // The third event is signed with its commit: nothing waits any more.
    let (status, _) = app.verify(&token, &verify_body("29001011300036", json!({"full_name": "محمد أحمد علي"}))).await;
    assert_eq!(status, 200);
    wait_for(&app, &[(UNSIGNED, |v| v == 0.0), (AGE, |v| v == 0.0)], Duration::from_secs(5)).await;
}

fn sms_body(to: &str) -> Value {
    json!({"to": to, "template": "request_status", "lang": "en",
        "params": {"case_ref": "SHR-2025-000123", "status": "received", "center": "Zagazig"},
        "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}})
}

async fn send(app: &TestApp, token: &str, key: &str, to: &str) -> String {
    let r = app
        .http
        .post(app.url("/v1/sms"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&sms_body(to))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned()
}

fn final_series(status: &str) -> String {
    format!("bawaba_sms_final_total{{status=\"{status}\"}}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_are_counted_once_under_the_final_status_they_reach() {
    let app = TestApp::spawn_with(|s| {
        s.sms.give_up_after_seconds = 1;
        let r = s.registries.get_mut("smsc").unwrap();
        r.timeout_ms = 200;
        r.backoff_max_elapsed_ms = 300;
    })
    .await;
    let text = scrape(&app).await;
    for status in ["delivered", "undelivered", "failed", "opted_out"] {
        assert_eq!(sample(&text, &final_series(status)), Some(0.0), "{status} is exported from the start:\n{text}");
    }
    let (delivered, undelivered, failed) =
        (final_series("delivered"), final_series("undelivered"), final_series("failed"));

    // The sandbox SMSC reports a number ending in 99 undelivered, others delivered.
    let token = app.token("center-demo").await;
    send(&app, &token, "m-1", "01001234567").await;
    let lost = send(&app, &token, "m-2", "01001234599").await;
    wait_for(&app, &[(&delivered, |v| v == 1.0), (&undelivered, |v| v == 1.0)], Duration::from_secs(15)).await;

    // The SMSC repeats a report: applied, not counted again.
    let report = json!({"smsc_id": "repeat-1", "client_ref": lost, "status": "undelivered",
        "at": "2026-12-01T10:00:00Z", "error": "ABSENT_SUBSCRIBER"})
    .to_string();
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signature = connectors::smsc::sign(&app.settings.sms.smsc_secret, t, report.as_bytes());
    let r = app
        .http
        .post(app.url("/v1/sms/delivery-reports"))
        .header("content-type", "application/json")
        .header("Bawaba-Signature", signature)
        .body(report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A message the SMSC never takes fails once sms.give_up_after_seconds has passed.
    app.fault(json!({"registry": "smsc", "mode": "http_503"})).await;
    let never = send(&app, &token, "m-3", "01001234568").await;
    let text = wait_for(&app, &[(&failed, |v| v == 1.0)], Duration::from_secs(15)).await;
    assert_eq!(sample(&text, &undelivered), Some(1.0), "the repeated report is not counted twice");
    assert_eq!(sample(&text, &delivered), Some(1.0));
    let view: Value = app.get(&format!("/v1/sms/{never}"), &token).await.json().await.unwrap();
    assert_eq!(view["status"], "failed", "{view}");
}
