//! The SMSC connector against the sandbox's SMSC, over loopback HTTP, with a
//! stand-in gateway receiving the signed delivery reports and inbound messages.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{
    FakeGateway, Received, RunningSandbox, capture_one_request, client_with_timeout, serve_sandbox, start_sandbox,
    unix_now, unreachable_base_url,
};
use connectors::UpstreamError;
use connectors::sandbox::{Sandbox, SmscCallback, UNDELIVERED_ERROR};
use connectors::smsc::{
    DeliveryReport, InboundMessage, SIGNATURE_HEADER, SmsEncoding, Smsc, Submission, SubmitAck, codec, verify,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "smsc-test-secret";
/// Long enough for a report due within 300 ms, on a busy machine.
const REPORT_WAIT: Duration = Duration::from_secs(3);

/// A fresh UUID-shaped client_ref per call.
fn client_ref() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("0190c1a2-{:04x}-7c44-9a55-{:012x}", std::process::id() & 0xffff, n)
}

fn submission(to: &str) -> Submission {
    Submission {
        client_ref: client_ref(),
        from: "5960".into(),
        to: to.into(),
        text: "طلبك رقم SHR-2026-000123: قيد المراجعة".into(),
        encoding: SmsEncoding::Ucs2,
        segments: 1,
    }
}

/// A sandbox whose SMSC calls `gateway` back, set after binding as the
/// gateway does.
async fn sandbox_calling(gateway: &FakeGateway) -> (RunningSandbox, Arc<Sandbox>) {
    let sandbox = Sandbox::new(None);
    let running = serve_sandbox(Arc::clone(&sandbox)).await;
    sandbox.set_smsc_callback(SmscCallback { gateway_base_url: gateway.base_url.clone(), secret: SECRET.into() });
    (running, sandbox)
}

/// The messages `/_smsc/messages` lists, for one number or all.
async fn listed(sandbox: &RunningSandbox, to: Option<&str>) -> Vec<Value> {
    let mut request = sandbox.http.get(sandbox.url("/_smsc/messages"));
    if let Some(to) = to {
        request = request.query(&[("to", to)]);
    }
    let response = request.send().await.expect("sandbox answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("JSON");
    body["messages"].as_array().expect("a list").clone()
}

#[track_caller]
fn assert_signed(received: &Received) {
    let signature = received.signature.as_deref().expect("a Bawaba-Signature header");
    assert!(verify(SECRET, signature, &received.body, unix_now()), "{signature} does not verify");
    assert!(!verify("another-secret", signature, &received.body, unix_now()));
    let mut tampered = received.body.clone();
    tampered.push(b' ');
    assert!(!verify(SECRET, signature, &tampered, unix_now()));
    assert_eq!(received.content_type.as_deref(), Some("application/json"));
    assert_eq!(received.method, "POST");
}

fn report_of(received: &Received) -> DeliveryReport {
    assert_eq!(received.path, "/v1/sms/delivery-reports");
    serde_json::from_slice(&received.body).expect("a delivery report")
}

#[tokio::test]
async fn a_submission_is_acknowledged_and_recorded() {
    let sandbox = start_sandbox().await;
    let message = submission("+201001234567");
    let ack = sandbox.smsc().submit(&message).await.expect("an acknowledgement");
    assert!(!ack.duplicate);
    assert!(ack.smsc_id.starts_with("SM-"), "{}", ack.smsc_id);

    let mine: Vec<Value> = listed(&sandbox, Some("+201001234567"))
        .await
        .into_iter()
        .filter(|m| m["client_ref"] == message.client_ref.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    let recorded = &mine[0];
    assert_eq!(recorded["id"], ack.smsc_id.as_str());
    assert_eq!(recorded["from"], "5960");
    assert_eq!(recorded["to"], "+201001234567");
    assert_eq!(recorded["text"], message.text.as_str());
    assert_eq!(recorded["encoding"], "ucs2");
    assert_eq!(recorded["segments"], 1);
    assert!(recorded["received_at"].as_str().expect("a time").ends_with('Z'));
    assert_eq!(sandbox.requests("smsc").await, 1);
}

#[tokio::test]
async fn a_resubmission_is_a_duplicate_recorded_and_reported_once() {
    let mut gateway = FakeGateway::start(&[]).await;
    let (sandbox, _) = sandbox_calling(&gateway).await;
    let smsc = sandbox.smsc();
    let message = submission("+201001234567");
    let first = smsc.submit(&message).await.expect("an acknowledgement");
    let again = smsc.submit(&message).await.expect("an acknowledgement");
    assert_eq!(again, SubmitAck { smsc_id: first.smsc_id.clone(), duplicate: true });
    // Idempotent on client_ref alone: what the first submission said stands.
    let changed = Submission { text: "another text".into(), ..message.clone() };
    assert_eq!(smsc.submit(&changed).await, Ok(again));

    let recorded = listed(&sandbox, None).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["text"], message.text.as_str());
    assert_eq!(sandbox.requests("smsc").await, 3);

    let report = report_of(&gateway.next(REPORT_WAIT).await);
    assert_eq!(report.smsc_id, first.smsc_id);
    assert!(gateway.receives_nothing_within(Duration::from_millis(800)).await, "a second report");
}

#[tokio::test]
async fn a_delivery_report_arrives_signed_a_moment_later() {
    let mut gateway = FakeGateway::start(&[]).await;
    let (sandbox, _) = sandbox_calling(&gateway).await;
    let message = submission("+201001234567");
    let started = Instant::now();
    let ack = sandbox.smsc().submit(&message).await.expect("an acknowledgement");
    let received = gateway.next(REPORT_WAIT).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(90), "{waited:?}");

    assert_signed(&received);
    let signature = received.signature.as_deref().expect("signed");
    assert!(signature.starts_with("t=") && signature.contains(",v1="), "{signature}");
    let report = report_of(&received);
    assert_eq!(report.smsc_id, ack.smsc_id);
    assert_eq!(report.client_ref, message.client_ref);
    assert_eq!(report.status, "delivered");
    assert_eq!(report.error, None);
    let at = time::OffsetDateTime::parse(&report.at, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
    assert_eq!(at.offset(), time::UtcOffset::UTC);
    // A signature is only good for a while.
    assert!(!verify(SECRET, signature, &received.body, unix_now() + 301));
}

#[tokio::test]
async fn a_number_ending_in_99_is_undelivered_with_an_error() {
    let mut gateway = FakeGateway::start(&[]).await;
    let (sandbox, _) = sandbox_calling(&gateway).await;
    let message = submission("+201001234599");
    sandbox.smsc().submit(&message).await.expect("an acknowledgement");
    let received = gateway.next(REPORT_WAIT).await;
    assert_signed(&received);
    let report = report_of(&received);
    assert_eq!(report.client_ref, message.client_ref);
    assert_eq!(report.status, "undelivered");
    assert_eq!(report.error.as_deref(), Some(UNDELIVERED_ERROR));
}

#[tokio::test]
async fn a_report_is_posted_again_while_the_gateway_fails_and_not_after_a_refusal() {
    let mut gateway = FakeGateway::start(&[503, 500, 204, 401]).await;
    let (sandbox, _) = sandbox_calling(&gateway).await;
    let message = submission("+201001234567");
    sandbox.smsc().submit(&message).await.expect("an acknowledgement");
    let attempts = [gateway.next(REPORT_WAIT).await, gateway.next(REPORT_WAIT).await, gateway.next(REPORT_WAIT).await];
    for received in &attempts {
        assert_signed(received);
        assert_eq!(report_of(received), report_of(&attempts[0]));
    }
    assert!(gateway.receives_nothing_within(Duration::from_millis(900)).await, "posted after a 2xx");

    // The script now answers 401: the report is not posted again.
    sandbox.smsc().submit(&submission("+201001234567")).await.expect("an acknowledgement");
    assert_signed(&gateway.next(REPORT_WAIT).await);
    assert!(gateway.receives_nothing_within(Duration::from_millis(900)).await, "posted after a 401");
}

#[tokio::test]
async fn a_report_waits_for_an_unreachable_gateway_and_goes_where_the_callback_now_points() {
    let mut gateway = FakeGateway::start(&[]).await;
    let sandbox = Sandbox::new(Some(SmscCallback { gateway_base_url: unreachable_base_url(), secret: SECRET.into() }));
    let running = serve_sandbox(Arc::clone(&sandbox)).await;
    let message = submission("+201001234567");
    running.smsc().submit(&message).await.expect("an acknowledgement");
    // Past the first attempt (at most 300 ms), within the retries.
    tokio::time::sleep(Duration::from_millis(450)).await;
    sandbox.set_smsc_callback(SmscCallback { gateway_base_url: gateway.base_url.clone(), secret: SECRET.into() });
    assert_eq!(sandbox.smsc_callback().map(|c| c.gateway_base_url), Some(gateway.base_url.clone()));
    let received = gateway.next(REPORT_WAIT).await;
    assert_signed(&received);
    assert_eq!(report_of(&received).client_ref, message.client_ref);
}

#[tokio::test]
async fn an_inbound_message_is_delivered_signed_and_the_gateways_status_reported() {
    let mut gateway = FakeGateway::start(&[200, 401]).await;
    let (sandbox, _) = sandbox_calling(&gateway).await;
    let inject = |text: &'static str| {
        sandbox.http.post(sandbox.url("/_smsc/inbound")).json(&json!({"from": "+201001234567", "text": text})).send()
    };
    let response = inject("SHR-2026-000123").await.expect("sandbox answers");
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.expect("JSON");
    assert_eq!(answer["gateway_status"], 200);

    let received = gateway.next(REPORT_WAIT).await;
    assert_signed(&received);
    assert_eq!(received.path, "/v1/sms/inbound");
    let inbound: InboundMessage = serde_json::from_slice(&received.body).expect("an inbound message");
    assert_eq!(inbound.from, "+201001234567");
    assert_eq!(inbound.to, "5960");
    assert_eq!(inbound.text, "SHR-2026-000123");
    assert_eq!(answer["smsc_id"], inbound.smsc_id.as_str());
    time::OffsetDateTime::parse(&inbound.received_at, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");

    let refused: Value = inject("إيقاف").await.expect("sandbox answers").json().await.expect("JSON");
    assert_eq!(refused["gateway_status"], 401);
    let received = gateway.next(REPORT_WAIT).await;
    assert_eq!(serde_json::from_slice::<InboundMessage>(&received.body).expect("inbound").text, "إيقاف");
    // Injected messages are not submissions.
    assert!(listed(&sandbox, None).await.is_empty());
    assert_eq!(sandbox.requests("smsc").await, 0);
}

#[tokio::test]
async fn inbound_injection_needs_a_reachable_gateway_and_a_valid_request() {
    let unconfigured = start_sandbox().await;
    let body = json!({"from": "+201001234567", "text": "STOP"});
    let response =
        unconfigured.http.post(unconfigured.url("/_smsc/inbound")).json(&body).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());

    let sandbox = Sandbox::new(Some(SmscCallback { gateway_base_url: unreachable_base_url(), secret: SECRET.into() }));
    let unreachable = serve_sandbox(sandbox).await;
    let response = unreachable.http.post(unreachable.url("/_smsc/inbound")).json(&body).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.json::<Value>().await.expect("JSON")["error"].is_string());

    for bad in [
        json!({"from": "01001234567", "text": "STOP"}),
        json!({"from": "+201001234567", "text": ""}),
        json!({"from": "+201001234567"}),
        json!({"from": "+201001234567", "text": "STOP", "to": "5960"}),
    ] {
        let response =
            unreachable.http.post(unreachable.url("/_smsc/inbound")).json(&bad).send().await.expect("answers");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let response = unreachable.http.get(unreachable.url("/_smsc/inbound")).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers().get("allow").and_then(|v| v.to_str().ok()), Some("POST"));
}

#[tokio::test]
async fn every_fault_mode_gives_its_error_and_records_nothing() {
    let mut gateway = FakeGateway::start(&[]).await;
    let (sandbox, _) = sandbox_calling(&gateway).await;
    let smsc = Smsc::new(client_with_timeout(300), &sandbox.base_url);
    let message = submission("+201001234567");
    for (mode, expected) in
        [("http_503", "Unavailable"), ("timeout", "Timeout"), ("reset", "Unavailable"), ("malformed", "Malformed")]
    {
        sandbox.set_fault(json!({"registry": "smsc", "mode": mode})).await;
        let outcome = smsc.submit(&message).await;
        let kind = match &outcome {
            Err(UpstreamError::Unavailable(_)) => "Unavailable",
            Err(UpstreamError::Timeout) => "Timeout",
            Err(UpstreamError::Malformed(_)) => "Malformed",
            _ => "something else",
        };
        assert_eq!(kind, expected, "{mode}: {outcome:?}");
        if mode == "http_503" {
            assert_eq!(outcome, Err(UpstreamError::Unavailable("HTTP 503".into())));
        }
        assert!(listed(&sandbox, None).await.is_empty(), "{mode} recorded a message");
    }
    assert_eq!(sandbox.requests("smsc").await, 4, "faulted requests are still counted");
    assert!(gateway.receives_nothing_within(Duration::from_millis(500)).await, "a report for a faulted request");

    // Nothing reached the SMSC, so the same message is new once the faults clear.
    sandbox.clear_faults().await;
    let ack = smsc.submit(&message).await.expect("an acknowledgement");
    assert!(!ack.duplicate);
    assert_eq!(listed(&sandbox, None).await.len(), 1);
    assert_eq!(report_of(&gateway.next(REPORT_WAIT).await).smsc_id, ack.smsc_id);
}

#[tokio::test]
async fn a_latency_fault_delays_but_still_accepts() {
    let sandbox = start_sandbox().await;
    sandbox.set_fault(json!({"registry": "smsc", "latency_ms": 200})).await;
    let started = Instant::now();
    let ack = sandbox.smsc().submit(&submission("+201001234567")).await.expect("an acknowledgement");
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert!(!ack.duplicate);
    assert_eq!(listed(&sandbox, None).await.len(), 1);
}

#[tokio::test]
async fn an_ill_formed_submission_is_rejected_and_not_recorded() {
    let sandbox = start_sandbox().await;
    let smsc = sandbox.smsc();
    for bad in [
        Submission { client_ref: "msg-1".into(), ..submission("+201001234567") },
        Submission { from: "5961".into(), ..submission("+201001234567") },
        submission("01001234567"),
        Submission { text: String::new(), ..submission("+201001234567") },
        Submission { segments: 0, ..submission("+201001234567") },
    ] {
        assert_eq!(
            smsc.submit(&bad).await,
            Err(UpstreamError::Rejected("registry error INVALID_REQUEST".into())),
            "{bad:?}"
        );
    }
    assert!(listed(&sandbox, None).await.is_empty());
    let response = sandbox.http.get(sandbox.url("/smsc/v1/messages")).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = sandbox.http.post(sandbox.url("/smsc/v1/other")).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.json::<Value>().await.expect("JSON")["error"]["code"], "UNKNOWN_PATH");
}

#[tokio::test]
async fn an_unreachable_smsc_is_unavailable() {
    let smsc = Smsc::new(reqwest::Client::new(), &unreachable_base_url());
    let outcome = smsc.submit(&submission("+201001234567")).await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
    assert!(outcome.expect_err("failed").is_transient());
}

#[tokio::test]
async fn the_submission_on_the_wire_is_a_json_post() {
    let message = submission("+201001234567");
    let answer = codec::build_ack_answer("SM-1", &message.client_ref, false).to_string();
    let (base_url, captured) = capture_one_request(202, "application/json", answer).await;
    let smsc = Smsc::new(reqwest::Client::new(), &format!("{base_url}/"));
    assert_eq!(smsc.submit(&message).await, Ok(SubmitAck { smsc_id: "SM-1".into(), duplicate: false }));
    let captured = captured.await.expect("captured");
    assert_eq!(captured.request_line, "POST /smsc/v1/messages HTTP/1.1");
    assert_eq!(captured.header("content-type"), Some("application/json"));
    assert_eq!(captured.header(&SIGNATURE_HEADER.to_lowercase()), None, "submissions are not signed");
    assert_eq!(codec::parse_submission(&captured.body), Ok(message));
}

#[tokio::test]
async fn answers_are_classified_by_status_and_error_code() {
    for (status, body, expected) in [
        (429, String::new(), UpstreamError::Unavailable("HTTP 429".into())),
        (502, String::new(), UpstreamError::Unavailable("HTTP 502".into())),
        (403, String::new(), UpstreamError::Rejected("HTTP 403".into())),
        (
            200,
            json!({"error": {"code": "RATE_LIMITED"}}).to_string(),
            UpstreamError::Unavailable("registry error RATE_LIMITED".into()),
        ),
        (
            400,
            json!({"error": {"code": "INVALID_REQUEST"}}).to_string(),
            UpstreamError::Rejected("registry error INVALID_REQUEST".into()),
        ),
    ] {
        let (base_url, _captured) = capture_one_request(status, "application/json", body).await;
        let smsc = Smsc::new(reqwest::Client::new(), &base_url);
        assert_eq!(smsc.submit(&submission("+201001234567")).await, Err(expected), "{status}");
    }
    let message = submission("+201001234567");
    for body in ["{}".to_owned(), codec::build_ack_answer("SM-1", &client_ref(), false).to_string()] {
        let (base_url, _captured) = capture_one_request(202, "application/json", body).await;
        let smsc = Smsc::new(reqwest::Client::new(), &base_url);
        assert!(matches!(smsc.submit(&message).await, Err(UpstreamError::Malformed(_))));
    }
}

#[tokio::test]
async fn the_listing_filters_by_number() {
    let sandbox = start_sandbox().await;
    let smsc = sandbox.smsc();
    let first = smsc.submit(&submission("+201001234567")).await.expect("an acknowledgement");
    let other = smsc.submit(&submission("+201112345678")).await.expect("an acknowledgement");
    let second = smsc.submit(&submission("+201001234567")).await.expect("an acknowledgement");

    let ids = |messages: Vec<Value>| -> Vec<String> {
        messages.iter().map(|m| m["id"].as_str().expect("an id").to_owned()).collect()
    };
    assert_eq!(ids(listed(&sandbox, None).await), [first.smsc_id.clone(), other.smsc_id, second.smsc_id.clone()]);
    assert_eq!(ids(listed(&sandbox, Some("+201001234567")).await), [first.smsc_id, second.smsc_id]);
    assert_eq!(ids(listed(&sandbox, Some("+201298765432")).await), Vec::<String>::new());
    // A `+` written as it is in the query is kept.
    let (status, raw) = sandbox.get_json("/_smsc/messages?to=+201112345678").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(raw["messages"].as_array().expect("a list").len(), 1);

    for query in ["to=01001234567", "to=", "to=%FF"] {
        let (status, body) = sandbox.get_json(&format!("/_smsc/messages?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert!(body["error"].is_string());
    }
    let response = sandbox.http.delete(sandbox.url("/_smsc/messages")).send().await.expect("answers");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = sandbox.get_json("/_smsc/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sandbox.requests("smsc").await, 3, "admin calls are not counted");
}

#[test]
fn the_smsc_is_named_smsc() {
    assert_eq!(Smsc::NAME, "smsc");
}
