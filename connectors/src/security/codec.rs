//! The security directorate's check API on the wire (JSON over HTTP,
//! documented in `schemas/upstream/security.schema.json`), both sides.
//!
//! ```text
//! POST /security/v1/checks
//! Content-Type: application/json
//! {"reference": "0190c1a2-…", "national_id": "29001011300036", "check_type": "shop_license"}
//!
//! 202 {"ticket": "SEC-…", "reference": "0190c1a2-…"}     a new check
//! 200 {"ticket": "SEC-…", "reference": "0190c1a2-…"}     the same reference again: the same ticket
//!
//! GET /security/v1/checks/SEC-…
//! 200 {"ticket": "SEC-…", "status": "pending"}
//! 200 {"ticket": "SEC-…", "status": "cleared", "decided_at": "2026-01-05T10:00:02.5Z"}
//! ```
//! Error codes: `INVALID_REQUEST` (400), `REFERENCE_CONFLICT` (409: the
//! reference was submitted with another national ID or check type),
//! `TICKET_NOT_FOUND` (404), `UNKNOWN_PATH`, `METHOD_NOT_ALLOWED` (all
//! rejected); `INTERNAL_ERROR`, `UNAVAILABLE`, `RATE_LIMITED` (transient).
//! The envelope is classified by its code whatever the status, a 200 included.

use reqwest::StatusCode;
use serde::Deserialize;

use super::check::{CheckType, Decision, Submission, Ticket};
use crate::UpstreamError;
use crate::rest::{self, ErrorClass};

/// The collection of checks under the directorate's base URL.
pub const CHECKS_PATH: &str = "/security/v1/checks";
/// The error code of a ticket the directorate does not know.
pub const TICKET_NOT_FOUND: &str = "TICKET_NOT_FOUND";
/// The error code of a reference submitted again with other content.
pub const REFERENCE_CONFLICT: &str = "REFERENCE_CONFLICT";

fn error_class(code: &str) -> Option<ErrorClass> {
    matches!(code, TICKET_NOT_FOUND | REFERENCE_CONFLICT).then_some(ErrorClass::Rejected)
}

/// `/security/v1/checks/{ticket}`, the ticket percent-encoded; `None` when
/// it cannot be put in a path.
pub fn status_path(ticket: &Ticket) -> Option<String> {
    Some(format!("{CHECKS_PATH}/{}", rest::path_segment(&ticket.0)?))
}

/// The submit request's body.
pub fn build_submission(submission: &Submission) -> serde_json::Value {
    serde_json::json!({
        "reference": submission.reference,
        "national_id": submission.national_id,
        "check_type": submission.check_type.as_str(),
    })
}

/// Why the sandbox refuses a submit request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSubmission;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSubmission {
    reference: String,
    national_id: String,
    check_type: String,
}

/// Whether a reference looks like a UUID (8-4-4-4-12 hex digits, any case).
pub fn reference_is_well_formed(reference: &str) -> bool {
    let groups: Vec<&str> = reference.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Reads a submit request (sandbox side): a UUID reference, 14 ASCII digits
/// and a known check type, nothing else.
pub fn parse_submission(body: &[u8]) -> Result<Submission, InvalidSubmission> {
    let wire: WireSubmission = serde_json::from_slice(body).map_err(|_| InvalidSubmission)?;
    let check_type = CheckType::from_wire(&wire.check_type).ok_or(InvalidSubmission)?;
    let id_ok = wire.national_id.len() == 14 && wire.national_id.bytes().all(|b| b.is_ascii_digit());
    if !id_ok || !reference_is_well_formed(&wire.reference) {
        return Err(InvalidSubmission);
    }
    Ok(Submission { reference: wire.reference, national_id: wire.national_id, check_type })
}

/// The submit answer's body (sandbox side).
pub fn build_ticket_answer(ticket: &Ticket, reference: &str) -> serde_json::Value {
    serde_json::json!({ "ticket": ticket.0, "reference": reference })
}

/// The status answer's body (sandbox side); `decided_at` (RFC 3339) only
/// with a final decision.
pub fn build_status_answer(ticket: &Ticket, decision: Decision, decided_at: Option<&str>) -> serde_json::Value {
    let mut answer = serde_json::json!({ "ticket": ticket.0, "status": decision.as_str() });
    if let (Some(at), true) = (decided_at, decision.is_final()) {
        answer["decided_at"] = at.into();
    }
    answer
}

/// An error envelope is classified by its code (none of this API's codes
/// means "not found": an unknown ticket is a rejected request), else a
/// non-2xx by its status. `Ok` means the body is to be read as a success.
fn classify(status: StatusCode, body: &[u8]) -> Result<(), UpstreamError> {
    if let Some(code) = rest::error_code(body) {
        return Err(match rest::classify_error(status, &code, error_class) {
            Err(err) => err,
            Ok(_) => UpstreamError::Malformed("unexpected error code".into()),
        });
    }
    if !status.is_success() {
        return Err(UpstreamError::from_status(status));
    }
    Ok(())
}

#[derive(Deserialize)]
struct WireTicket {
    ticket: String,
    reference: String,
}

/// Reads the answer to a submit (connector side): the ticket, for this
/// reference.
pub fn parse_submit_response(status: StatusCode, body: &[u8], reference: &str) -> Result<Ticket, UpstreamError> {
    classify(status, body)?;
    let wire: WireTicket =
        serde_json::from_slice(body).map_err(|_| UpstreamError::Malformed("answer is not a ticket".into()))?;
    let ticket = Ticket(wire.ticket);
    if !ticket.is_well_formed() {
        return Err(UpstreamError::Malformed("answer has an invalid ticket".into()));
    }
    if wire.reference != reference {
        return Err(UpstreamError::Malformed("answer is about another reference".into()));
    }
    Ok(ticket)
}

#[derive(Deserialize)]
struct WireStatus {
    ticket: String,
    status: String,
}

/// Reads the answer to a status request (connector side).
pub fn parse_status_response(status: StatusCode, body: &[u8], ticket: &Ticket) -> Result<Decision, UpstreamError> {
    classify(status, body)?;
    let wire: WireStatus =
        serde_json::from_slice(body).map_err(|_| UpstreamError::Malformed("answer is not a check status".into()))?;
    if wire.ticket != ticket.0 {
        return Err(UpstreamError::Malformed("answer is about another ticket".into()));
    }
    Decision::from_wire(&wire.status).ok_or_else(|| UpstreamError::Malformed("answer has an invalid status".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c";

    fn submission() -> Submission {
        Submission {
            reference: REFERENCE.into(),
            national_id: "29001011300036".into(),
            check_type: CheckType::ShopLicense,
        }
    }

    fn body(value: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(value).expect("serialises")
    }

    #[test]
    fn a_built_submission_reads_back() {
        let original = submission();
        assert_eq!(parse_submission(&body(&build_submission(&original))), Ok(original));
    }

    #[test]
    fn ill_formed_submissions_are_refused() {
        let good = build_submission(&submission());
        for (field, value) in [
            ("reference", serde_json::json!("not-a-uuid")),
            ("reference", serde_json::json!("0190c1a27b3e7c449a550d1e2f3a4b5c")),
            ("national_id", serde_json::json!("2900101130003")),
            ("national_id", serde_json::json!(29001011300036u64)),
            ("check_type", serde_json::json!("driving")),
            ("extra", serde_json::json!(true)),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert_eq!(parse_submission(&body(&bad)), Err(InvalidSubmission), "{field}");
        }
        assert_eq!(parse_submission(b"{"), Err(InvalidSubmission));
    }

    #[test]
    fn the_status_path_percent_encodes_the_ticket() {
        assert_eq!(status_path(&Ticket("SEC-ab12".into())).as_deref(), Some("/security/v1/checks/SEC-ab12"));
        assert_eq!(status_path(&Ticket("a/b c".into())).as_deref(), Some("/security/v1/checks/a%2Fb%20c"));
        assert_eq!(status_path(&Ticket("..".into())), None);
    }

    #[test]
    fn a_ticket_answer_reads_back_for_its_reference_only() {
        let ticket = Ticket("SEC-0123".into());
        let answer = body(&build_ticket_answer(&ticket, REFERENCE));
        for status in [StatusCode::OK, StatusCode::ACCEPTED] {
            assert_eq!(parse_submit_response(status, &answer, REFERENCE), Ok(ticket.clone()));
        }
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, &answer, "0190c1a2-0000-7c44-9a55-0d1e2f3a4b5c"),
            Err(UpstreamError::Malformed(_))
        ));
        let bad_ticket = body(&build_ticket_answer(&Ticket("a b".into()), REFERENCE));
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, &bad_ticket, REFERENCE),
            Err(UpstreamError::Malformed(_))
        ));
    }

    #[test]
    fn status_answers_read_back_as_decisions() {
        let ticket = Ticket("SEC-0123".into());
        for decision in Decision::ALL {
            let answer = body(&build_status_answer(&ticket, decision, Some("2026-01-05T10:00:02Z")));
            assert_eq!(parse_status_response(StatusCode::OK, &answer, &ticket), Ok(decision));
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&answer).unwrap().get("decided_at").is_some(),
                decision.is_final()
            );
        }
        let other = body(&build_status_answer(&Ticket("SEC-9".into()), Decision::Cleared, None));
        assert!(matches!(parse_status_response(StatusCode::OK, &other, &ticket), Err(UpstreamError::Malformed(_))));
        let unknown = body(&serde_json::json!({"ticket": "SEC-0123", "status": "maybe"}));
        assert!(matches!(parse_status_response(StatusCode::OK, &unknown, &ticket), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn error_envelopes_are_rejections_or_transient_by_code_even_inside_a_200() {
        let ticket = Ticket("SEC-0123".into());
        let envelope = |code: &str| body(&rest::error_body(code, "29505058800051"));
        assert_eq!(
            parse_status_response(StatusCode::NOT_FOUND, &envelope(TICKET_NOT_FOUND), &ticket),
            Err(UpstreamError::Rejected("registry error TICKET_NOT_FOUND".into()))
        );
        assert_eq!(
            parse_submit_response(StatusCode::CONFLICT, &envelope(REFERENCE_CONFLICT), REFERENCE),
            Err(UpstreamError::Rejected("registry error REFERENCE_CONFLICT".into()))
        );
        assert_eq!(
            parse_submit_response(StatusCode::OK, &envelope("UNAVAILABLE"), REFERENCE),
            Err(UpstreamError::Unavailable("registry error UNAVAILABLE".into()))
        );
        assert!(matches!(
            parse_status_response(StatusCode::OK, &envelope("NOT_FOUND"), &ticket),
            Err(UpstreamError::Malformed(_))
        ));
        assert_eq!(
            parse_status_response(StatusCode::NOT_FOUND, b"", &ticket),
            Err(UpstreamError::Rejected("HTTP 404".into()))
        );
        assert_eq!(
            parse_submit_response(StatusCode::BAD_GATEWAY, b"", REFERENCE),
            Err(UpstreamError::Unavailable("HTTP 502".into()))
        );
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, b"{\"ticket\": ", REFERENCE),
            Err(UpstreamError::Malformed(_))
        ));
    }
}
