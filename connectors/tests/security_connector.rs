//! The security-directorate connector against the sandbox, over loopback HTTP.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{capture_one_request, client_with_timeout, start_sandbox, unreachable_base_url};
use connectors::UpstreamError;
use connectors::security::{CheckType, Decision, SecurityDirectorate, Submission, Ticket, codec};
use serde_json::json;

/// A fresh UUID-shaped reference per call (tests share no state otherwise).
fn reference() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    format!("0190c1a2-{:04x}-7c44-9a55-{:012x}", pid & 0xffff, n)
}

fn submission(national_id: &str) -> Submission {
    Submission { reference: reference(), national_id: national_id.into(), check_type: CheckType::ShopLicense }
}

/// Polls with short sleeps until the decision is final, at most 4 s.
async fn wait_for_decision(directorate: &SecurityDirectorate, ticket: &Ticket) -> (Decision, Duration) {
    let started = Instant::now();
    loop {
        let decision = directorate.status(ticket).await.expect("a status");
        if decision.is_final() {
            return (decision, started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(4), "no decision within 4 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_check_is_pending_then_cleared_and_29505058800051_is_not_cleared() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let cleared = submission("29001011300036");
    let not_cleared = submission("29505058800051");
    let cleared_ticket = directorate.submit(&cleared).await.expect("a ticket");
    let not_cleared_ticket = directorate.submit(&not_cleared).await.expect("a ticket");
    assert_eq!(directorate.status(&cleared_ticket).await, Ok(Decision::Pending));
    assert_eq!(directorate.status(&not_cleared_ticket).await, Ok(Decision::Pending));

    let (first, second) = tokio::join!(
        wait_for_decision(&directorate, &cleared_ticket),
        wait_for_decision(&directorate, &not_cleared_ticket)
    );
    assert_eq!(first.0, Decision::Cleared);
    assert_eq!(second.0, Decision::NotCleared);
    for (_, waited) in [first, second] {
        assert!(waited >= Duration::from_millis(800) && waited <= Duration::from_millis(3_500), "{waited:?}");
    }
    // A final decision stays final.
    assert_eq!(directorate.status(&cleared_ticket).await, Ok(Decision::Cleared));
}

#[tokio::test]
async fn every_other_fixture_is_cleared() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let mut tickets = Vec::new();
    for id in ["28507150100022", "24003202100031", "30102100200041"] {
        tickets.push(directorate.submit(&submission(id)).await.expect("a ticket"));
    }
    let decisions = decisions_of(&directorate, &tickets).await;
    assert_eq!(decisions, vec![Decision::Cleared; 3]);
}

async fn decisions_of(directorate: &SecurityDirectorate, tickets: &[Ticket]) -> Vec<Decision> {
    let mut decisions = Vec::new();
    for ticket in tickets {
        decisions.push(wait_for_decision(directorate, ticket).await.0);
    }
    decisions
}

#[tokio::test]
async fn submitting_the_same_reference_again_returns_the_same_ticket() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let check = submission("29001011300036");
    let first = directorate.submit(&check).await.expect("a ticket");
    let again = directorate.submit(&check).await.expect("a ticket");
    assert_eq!(first, again);
    let other = directorate.submit(&submission("29001011300036")).await.expect("a ticket");
    assert_ne!(first, other, "another reference is another check");
}

#[tokio::test]
async fn the_same_reference_with_other_content_is_rejected() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let check = submission("29001011300036");
    directorate.submit(&check).await.expect("a ticket");
    let conflicting = Submission { check_type: CheckType::Employment, ..check.clone() };
    assert_eq!(
        directorate.submit(&conflicting).await,
        Err(UpstreamError::Rejected("registry error REFERENCE_CONFLICT".into()))
    );
    let other_person = Submission { national_id: "28507150100022".into(), ..check };
    assert!(matches!(directorate.submit(&other_person).await, Err(UpstreamError::Rejected(_))));
}

#[tokio::test]
async fn an_unknown_ticket_is_rejected() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    for ticket in ["SEC-00000000000000000000000000000000", "does-not-exist", "a/b c"] {
        assert!(
            matches!(directorate.status(&Ticket(ticket.into())).await, Err(UpstreamError::Rejected(_))),
            "{ticket}"
        );
    }
    assert_eq!(
        directorate.status(&Ticket("does-not-exist".into())).await,
        Err(UpstreamError::Rejected("registry error TICKET_NOT_FOUND".into()))
    );
}

#[tokio::test]
async fn an_ill_formed_submission_is_rejected() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let not_a_uuid = Submission { reference: "check-1".into(), ..submission("29001011300036") };
    assert_eq!(
        directorate.submit(&not_a_uuid).await,
        Err(UpstreamError::Rejected("registry error INVALID_REQUEST".into()))
    );
    assert!(matches!(directorate.submit(&submission("2900101130003")).await, Err(UpstreamError::Rejected(_))));
}

#[tokio::test]
async fn a_ticket_is_still_answered_by_a_restarted_sandbox() {
    let first = start_sandbox().await;
    let ticket = first.security().submit(&submission("29505058800051")).await.expect("a ticket");
    let restarted = start_sandbox().await;
    let (decision, _) = wait_for_decision(&restarted.security(), &ticket).await;
    assert_eq!(decision, Decision::NotCleared);
}

#[tokio::test]
async fn the_submission_on_the_wire_is_a_json_post() {
    let check = submission("29001011300036");
    let answer = codec::build_ticket_answer(&Ticket("SEC-1".into()), &check.reference).to_string();
    let (base_url, captured) = capture_one_request(202, "application/json", answer).await;
    let directorate = SecurityDirectorate::new(reqwest::Client::new(), &base_url);
    assert_eq!(directorate.submit(&check).await, Ok(Ticket("SEC-1".into())));
    let captured = captured.await.expect("captured");
    assert_eq!(captured.request_line, "POST /security/v1/checks HTTP/1.1");
    assert_eq!(captured.header("content-type"), Some("application/json"));
    assert_eq!(codec::parse_submission(&captured.body), Ok(check));
}

#[tokio::test]
async fn the_status_request_percent_encodes_the_ticket() {
    let ticket = Ticket("a b/c".into());
    let answer = json!({"ticket": "a b/c", "status": "pending"}).to_string();
    let (base_url, captured) = capture_one_request(200, "application/json", answer).await;
    let directorate = SecurityDirectorate::new(reqwest::Client::new(), &base_url);
    assert_eq!(directorate.status(&ticket).await, Ok(Decision::Pending));
    assert_eq!(captured.await.expect("captured").request_line, "GET /security/v1/checks/a%20b%2Fc HTTP/1.1");
}

#[tokio::test]
async fn an_error_envelope_inside_a_200_is_classified_by_its_code() {
    let answer = json!({"error": {"code": "RATE_LIMITED"}}).to_string();
    let (base_url, _captured) = capture_one_request(200, "application/json", answer).await;
    let directorate = SecurityDirectorate::new(reqwest::Client::new(), &base_url);
    assert_eq!(
        directorate.submit(&submission("29001011300036")).await,
        Err(UpstreamError::Unavailable("registry error RATE_LIMITED".into()))
    );
}

#[tokio::test]
async fn http_503_makes_the_directorate_unavailable_for_both_calls() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let ticket = directorate.submit(&submission("29001011300036")).await.expect("a ticket");
    sandbox.set_fault(json!({"registry": "security", "mode": "http_503"})).await;
    assert_eq!(
        directorate.submit(&submission("29001011300036")).await,
        Err(UpstreamError::Unavailable("HTTP 503".into()))
    );
    assert_eq!(directorate.status(&ticket).await, Err(UpstreamError::Unavailable("HTTP 503".into())));
}

#[tokio::test]
async fn a_timeout_fault_ends_in_the_callers_timeout() {
    let sandbox = start_sandbox().await;
    let ticket = sandbox.security().submit(&submission("29001011300036")).await.expect("a ticket");
    sandbox.set_fault(json!({"registry": "security", "mode": "timeout"})).await;
    let directorate = SecurityDirectorate::new(client_with_timeout(300), &sandbox.base_url);
    let started = Instant::now();
    assert_eq!(directorate.submit(&submission("29001011300036")).await, Err(UpstreamError::Timeout));
    assert_eq!(directorate.status(&ticket).await, Err(UpstreamError::Timeout));
    assert!(started.elapsed() >= Duration::from_millis(600));
}

#[tokio::test]
async fn a_reset_connection_makes_the_directorate_unavailable() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let ticket = directorate.submit(&submission("29001011300036")).await.expect("a ticket");
    sandbox.set_fault(json!({"registry": "security", "mode": "reset"})).await;
    let outcome = directorate.submit(&submission("29001011300036")).await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
    let outcome = directorate.status(&ticket).await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_malformed_answer_is_reported_as_malformed() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let ticket = directorate.submit(&submission("29001011300036")).await.expect("a ticket");
    sandbox.set_fault(json!({"registry": "security", "mode": "malformed"})).await;
    let outcome = directorate.submit(&submission("29001011300036")).await;
    assert!(matches!(outcome, Err(UpstreamError::Malformed(_))), "{outcome:?}");
    let outcome = directorate.status(&ticket).await;
    assert!(matches!(outcome, Err(UpstreamError::Malformed(_))), "{outcome:?}");
}

#[tokio::test]
async fn an_unreachable_directorate_is_unavailable() {
    let directorate = SecurityDirectorate::new(reqwest::Client::new(), &unreachable_base_url());
    let outcome = directorate.submit(&submission("29001011300036")).await;
    assert!(matches!(outcome, Err(UpstreamError::Unavailable(_))), "{outcome:?}");
}

#[tokio::test]
async fn every_call_is_exactly_one_request_counted_for_security() {
    let sandbox = start_sandbox().await;
    let directorate = sandbox.security();
    let ticket = directorate.submit(&submission("29001011300036")).await.expect("a ticket");
    let _ = directorate.status(&ticket).await;
    sandbox.set_fault(json!({"registry": "security", "mode": "http_503"})).await;
    let _ = directorate.status(&ticket).await;
    assert_eq!(sandbox.requests("security").await, 3);
    assert_eq!(sandbox.requests("commercial_register").await, 0);
}

#[test]
fn the_directorate_is_named_security() {
    assert_eq!(SecurityDirectorate::NAME, "security");
}
