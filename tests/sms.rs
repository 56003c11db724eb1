//! SMS on short code 5960, black box: POST /v1/sms, the outbox, delivery
//! reports, inbound messages, opt-outs.

mod common;

use common::{Backend, TestApp};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn sms_body(to: &str, status: &str) -> Value {
    json!({"to": to, "template": "request_status", "lang": "ar",
           "params": {"case_ref": "SHR-2025-000123", "status": status, "center": "مركز الزقازيق"},
           "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}})
}

async fn send(app: &TestApp, token: &str, key: &str, body: &Value) -> reqwest::Response {
    app.http.post(app.url("/v1/sms")).bearer_auth(token).header("Idempotency-Key", key).json(body).send().await.unwrap()
}

async fn smsc_messages(app: &TestApp, to: &str) -> Vec<Value> {
    let r: Value = app
        .http
        .get(format!("{}/_smsc/messages?to={}", app.sandbox, to.replace('+', "%2B")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["messages"].as_array().cloned().unwrap_or_default()
}

async fn wait_status(app: &TestApp, token: &str, id: &str, want: &str) -> Value {
    let started = Instant::now();
    loop {
        let body: Value = app.get(&format!("/v1/sms/{id}"), token).await.json().await.unwrap();
        if body["status"] == want || started.elapsed() > Duration::from_secs(30) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sign(secret: &str, body: &str) -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn a_notification_is_queued_sent_once_and_delivered(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let r = send(&app, &token, "k-1", &sms_body("٠١٥٥٠٠٠١١١١", "in_review")).await;
    assert_eq!(r.status(), 202);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "queued");
    assert_eq!(body["to"], "+201550001111");
    assert_eq!(body["encoding"], "ucs2");
    assert!(body["segments"].as_i64().unwrap() <= 2);
    let id = body["id"].as_str().unwrap().to_owned();

    let view = wait_status(&app, &token, &id, "delivered").await;
    assert_eq!(view["status"], "delivered", "{view}");
    assert_eq!(view["attempts"], 1);
    assert!(view["sent_at"].is_string() && view["delivered_at"].is_string());
    let history: Vec<&str> =
        view["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
    assert_eq!(history, ["queued", "sent", "delivered"]);

    let received = smsc_messages(&app, "+201550001111").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["from"], "5960");
    assert!(received[0]["text"].as_str().unwrap().contains("قيد المراجعة"));

    let sends = app.audit_events("action=sms.send").await;
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["subject"], "+201550001111");
    assert_eq!(sends[0]["outcome"], "accepted");
    assert!(!app.audit_events("action=sms.delivery_report").await.is_empty());
}

async fn the_same_key_and_body_return_the_first_answer_and_another_body_conflicts(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let first: Value = send(&app, &token, "same", &sms_body("01001234567", "received")).await.json().await.unwrap();
    let again = send(&app, &token, "same", &sms_body("01001234567", "received")).await;
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let other = send(&app, &token, "same", &sms_body("01001234567", "approved")).await;
    assert_eq!(other.status(), 409);
    assert_eq!(other.json::<Value>().await.unwrap()["code"], "idempotency_conflict");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(smsc_messages(&app, "+201001234567").await.len(), 1);
}

async fn bad_messages_are_refused_precisely(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    for (to, reason) in [("01312345678", "not_mobile"), ("0100123456", "length"), ("0223456789", "not_mobile")] {
        let r = send(&app, &token, to, &sms_body(to, "received")).await;
        assert_eq!(r.status(), 400, "{to}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "invalid_phone", "{to}");
        assert_eq!(p["errors"][0]["reason"], reason, "{to}");
    }
    let cases = [
        (json!({"template": "free_text"}), "template"),
        (json!({"params": {"case_ref": "A", "status": "received"}}), "params.center"),
        (json!({"params": {"case_ref": "A", "status": "received", "center": "x", "extra": "y"}}), "params.extra"),
        (json!({"params": {"case_ref": "A", "status": "lost", "center": "x"}}), "params.status"),
        (json!({"params": {"case_ref": "ر".repeat(100), "status": "received", "center": "م".repeat(100)}}), "params"),
        (json!({"lang": "fr"}), "lang"),
        (json!({"context": {"operator_id": "EMP-1", "purpose": "status_notification"}}), "context.case_ref"),
    ];
    for (i, (patch, field)) in cases.into_iter().enumerate() {
        let mut body = sms_body("01001234567", "received");
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = send(&app, &token, &format!("bad-{i}"), &body).await;
        assert_eq!(r.status(), 400, "{field}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "invalid_request", "{field}");
        assert!(p["errors"].as_array().unwrap().iter().any(|e| e["field"] == field), "{field}: {p}");
    }
    let r = app
        .http
        .post(app.url("/v1/sms"))
        .bearer_auth(&token)
        .json(&sms_body("01001234567", "received"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["errors"][0]["field"], "Idempotency-Key");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.upstream_requests("smsc").await, 0, "nothing refused reached the SMSC");
}

async fn callbacks_without_a_valid_signature_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let id = send(&app, &token, "k", &sms_body("01001234567", "received")).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_status(&app, &token, &id, "delivered").await;
    let report = json!({"smsc_id": "x", "client_ref": id, "status": "undelivered", "at": "2026-11-22T10:00:00Z", "error": "forged"}).to_string();
    for sig in [None, Some("t=1,v1=00".to_owned()), Some(sign("wrong-secret-wrong", &report))] {
        let mut rb = app
            .http
            .post(app.url("/v1/sms/delivery-reports"))
            .header("Content-Type", "application/json")
            .body(report.clone());
        if let Some(s) = sig {
            rb = rb.header("Bawaba-Signature", s);
        }
        assert_eq!(rb.send().await.unwrap().status(), 401);
    }
    assert_eq!(wait_status(&app, &token, &id, "delivered").await["status"], "delivered");
    // Signed, but for an unknown message.
    let unknown = json!({"smsc_id": "x", "client_ref": uuid::Uuid::now_v7().to_string(), "status": "delivered", "at": "2026-11-22T10:00:00Z"}).to_string();
    let r = app
        .http
        .post(app.url("/v1/sms/delivery-reports"))
        .header("Content-Type", "application/json")
        .header("Bawaba-Signature", sign("smsc-demo-secret", &unknown))
        .body(unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let inbound = json!({"smsc_id": "m1", "from": "+201001234567", "to": "5960", "text": "STOP", "received_at": "2026-11-22T10:00:00Z"}).to_string();
    let r = app
        .http
        .post(app.url("/v1/sms/inbound"))
        .header("Content-Type", "application/json")
        .body(inbound)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(send(&app, &token, "k2", &sms_body("01001234567", "approved")).await.status(), 202, "not opted out");
}

async fn wait_for_texts(app: &TestApp, to: &str, n: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let msgs = smsc_messages(app, to).await;
        if msgs.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return msgs.iter().map(|m| m["text"].as_str().unwrap().to_owned()).collect();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_citizen_who_texts_the_request_number_gets_its_latest_status_and_a_stranger_learns_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let id = send(&app, &token, "a", &sms_body("01001234567", "in_review")).await.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_status(&app, &token, &id, "delivered").await;
    let id = send(&app, &token, "b", &sms_body("01001234567", "ready_for_pickup")).await.json::<Value>().await.unwrap()
        ["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_status(&app, &token, &id, "delivered").await;

    common::inject(&app, "+201001234567", "shr ٢٠٢٥ ٠٠٠١٢٣").await;
    let texts = wait_for_texts(&app, "+201001234567", 3).await;
    assert_eq!(texts.len(), 3);
    assert!(texts[2].contains("جاهز للاستلام"), "{}", texts[2]);

    common::inject(&app, "+201112345678", "SHR-2025-000123").await;
    let stranger = wait_for_texts(&app, "+201112345678", 1).await;
    assert_eq!(stranger.len(), 1);
    assert!(!stranger[0].contains("SHR-2025-000123") && !stranger[0].contains("جاهز"), "{}", stranger[0]);
    assert!(!app.audit_events("action=sms.inbound").await.is_empty());
}

async fn stop_opts_a_number_out_and_start_back_in(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    common::inject(&app, "+201298765432", "إيقاف").await;
    let started = Instant::now();
    let mut status = 0;
    while started.elapsed() < Duration::from_secs(5) {
        status =
            send(&app, &token, &format!("s{}", started.elapsed().as_millis()), &sms_body("00201298765432", "approved"))
                .await
                .status()
                .as_u16();
        if status == 422 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 422);
    common::inject(&app, "+201298765432", "Start").await;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        status =
            send(&app, &token, &format!("t{}", started.elapsed().as_millis()), &sms_body("00201298765432", "approved"))
                .await
                .status()
                .as_u16();
        if status == 202 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 202);
}

async fn a_message_waits_through_an_smsc_outage_and_is_sent_once_after_it(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| {
        let r = s.registries.get_mut("smsc").unwrap();
        r.timeout_ms = 200;
        r.backoff_max_elapsed_ms = 400;
    })
    .await;
    let token = app.token("center-demo").await;
    for mode in ["http_503", "timeout", "reset"] {
        app.fault(json!({"registry": "smsc", "mode": mode})).await;
        let to = "01001234567";
        let id = send(&app, &token, mode, &sms_body(to, "approved")).await.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        tokio::time::sleep(Duration::from_millis(900)).await;
        let view: Value = app.get(&format!("/v1/sms/{id}"), &token).await.json().await.unwrap();
        assert_eq!(view["status"], "queued", "{mode}: {view}");
        assert!(view["attempts"].as_i64().unwrap() >= 1, "{mode}");
        assert!(view["last_error"].is_string(), "{mode}");
        app.clear_faults().await;
        assert_eq!(wait_status(&app, &token, &id, "delivered").await["status"], "delivered", "{mode}");
    }
    assert_eq!(smsc_messages(&app, "+201001234567").await.len(), 3, "each message reached the SMSC exactly once");
}

async fn a_notification_still_queued_when_the_citizen_texts_stop_is_not_sent(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| {
        let r = s.registries.get_mut("smsc").unwrap();
        r.timeout_ms = 200;
        r.backoff_max_elapsed_ms = 300;
    })
    .await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "smsc", "mode": "http_503"})).await;
    let id = send(&app, &token, "before-stop", &sms_body("01001234567", "approved"))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // "Still queued": its first dispatch (with its retries) has ended in
    // failure. A STOP that lands during a dispatch's own retries is not
    // seen by that dispatch (README: the outbox).
    let started = Instant::now();
    loop {
        let view: Value = app.get(&format!("/v1/sms/{id}"), &token).await.json().await.unwrap();
        if view["last_error"].is_string() || started.elapsed() > Duration::from_secs(10) {
            assert_eq!(view["status"], "queued", "{view}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::inject(&app, "+201001234567", "stop").await;
    app.clear_faults().await;
    let view = wait_status(&app, &token, &id, "failed").await;
    assert_eq!(view["status"], "failed", "{view}");
    assert_eq!(view["last_error"], "recipient opted out");
    // Only the STOP confirmation reached the number.
    let texts = wait_for_texts(&app, "+201001234567", 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smsc_messages(&app, "+201001234567").await.len(), 1, "{texts:?}");
}

/// The outbox's writes after acceptance, at the store (each backend has its
/// own, one transaction per batch): the SMSC's acceptance moves only a queued
/// message; a delivery report moves its message, a repeated report is told
/// apart (so it is not counted twice), an unknown one changes nothing,
/// and a report that overtakes our record of the send still moves the message.
async fn the_outbox_records_sends_and_reports_once_each(backend: Backend) {
    use bawaba::store::{DeliveryEffect, SmsDelivery, SmsMessageRow, SmsSent, Store, StoreOptions};
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::test_settings(&dir);
    let _pg = TestApp::fresh_store(backend, &mut settings).await;
    let store = Store::open(&settings.store.url, &StoreOptions::default()).await.unwrap();
    let message = |id: &str| SmsMessageRow {
        id: id.into(),
        client_id: "center-demo".into(),
        kind: "notification".into(),
        to_e164: "+201001234567".into(),
        case_ref: Some("SHR-2025-000123".into()),
        lang: "ar".into(),
        status_key: Some("received".into()),
        text: "تم استلام طلبكم".into(),
        encoding: "ucs2".into(),
        segments: 1,
        status: "queued".into(),
        attempts: 0,
        created_at: "2026-12-07T10:00:00.000000Z".into(),
        sent_at: None,
        delivered_at: None,
        last_error: None,
        next_attempt_at: "2026-12-07T10:00:00.000000Z".into(),
        smsc_id: None,
    };
    let (sent_id, overtaken_id) = (uuid::Uuid::now_v7().to_string(), uuid::Uuid::now_v7().to_string());
    store.accept_sms_batch(vec![(None, message(&sent_id)), (None, message(&overtaken_id))]).await.unwrap();
    let sent = |at: &str| SmsSent { id: sent_id.clone(), smsc_id: "smsc-1".into(), at: at.into(), attempts: 1 };
    store.sms_record_sent(&[sent("2026-12-07T10:00:01.000000Z")]).await.unwrap();
    // Once sent, a second record of the send (a retried batch) changes nothing.
    store.sms_record_sent(&[sent("2026-12-07T10:00:09.000000Z")]).await.unwrap();
    let report = |id: &str, delivered: bool| SmsDelivery {
        id: id.into(),
        delivered,
        at: "2026-12-07T10:00:02.000000Z".into(),
        error: (!delivered).then(|| "absent subscriber".into()),
    };
    let effects = store
        .sms_deliveries(&[
            report(&sent_id, true),
            report(&sent_id, true),
            report(&uuid::Uuid::now_v7().to_string(), true),
            report(&overtaken_id, false),
        ])
        .await
        .unwrap();
    assert_eq!(effects, [DeliveryEffect::Moved, DeliveryEffect::Again, DeliveryEffect::Unknown, DeliveryEffect::Moved]);

    let first = store.sms_message(&sent_id).await.unwrap().unwrap();
    assert_eq!(first.status, "delivered");
    assert_eq!((first.attempts, first.smsc_id.as_deref()), (1, Some("smsc-1")));
    assert_eq!(first.sent_at.as_deref(), Some("2026-12-07T10:00:01.000000Z"));
    assert_eq!(first.delivered_at.as_deref(), Some("2026-12-07T10:00:02.000000Z"));
    let history = |rows: Vec<bawaba::store::SmsHistoryRow>| rows.into_iter().map(|h| h.status).collect::<Vec<_>>();
    // The history keeps each report the SMSC sent, the repeated one too.
    assert_eq!(history(store.sms_history(&sent_id).await.unwrap()), ["queued", "sent", "delivered", "delivered"]);
    let second = store.sms_message(&overtaken_id).await.unwrap().unwrap();
    assert_eq!(second.status, "undelivered");
    assert_eq!(second.sent_at.as_deref(), Some("2026-12-07T10:00:02.000000Z"), "the report's time stands for the send");
    assert_eq!(second.last_error.as_deref(), Some("absent subscriber"));
    assert_eq!(history(store.sms_history(&overtaken_id).await.unwrap()), ["queued", "undelivered"]);
    assert!(store.sms_message(&uuid::Uuid::now_v7().to_string()).await.unwrap().is_none());
}

on_both_backends!(
    the_outbox_records_sends_and_reports_once_each,
    a_notification_is_queued_sent_once_and_delivered,
    the_same_key_and_body_return_the_first_answer_and_another_body_conflicts,
    bad_messages_are_refused_precisely,
    callbacks_without_a_valid_signature_are_refused_and_change_nothing,
    a_citizen_who_texts_the_request_number_gets_its_latest_status_and_a_stranger_learns_nothing,
    stop_opts_a_number_out_and_start_back_in,
    a_message_waits_through_an_smsc_outage_and_is_sent_once_after_it,
    a_notification_still_queued_when_the_citizen_texts_stop_is_not_sent,
);
