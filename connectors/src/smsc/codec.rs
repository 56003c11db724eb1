//! The SMSC's HTTP API on the wire (JSON, documented in
//! `schemas/upstream/smsc.schema.json`), both sides.
//!
//! ```text
//! POST /smsc/v1/messages
//! Content-Type: application/json
//! {"client_ref": "0190c1a2-…", "from": "5960", "to": "+201001234567",
//!  "text": "…", "encoding": "ucs2", "segments": 1}
//!
//! 202 {"smsc_id": "SM-…", "client_ref": "0190c1a2-…", "duplicate": false}   accepted, will be sent
//! 200 {"smsc_id": "SM-…", "client_ref": "0190c1a2-…", "duplicate": true}    already had it: not sent again
//! ```
//! Error codes: `INVALID_REQUEST` (400), `UNKNOWN_PATH` (404),
//! `METHOD_NOT_ALLOWED` (405) are rejected requests; `RATE_LIMITED` (429),
//! `INTERNAL_ERROR`, `UNAVAILABLE` are transient. An error envelope is
//! classified by its code whatever the status, a 200 included.
//!
//! The SMSC posts [`DeliveryReport`](super::DeliveryReport)s and
//! [`InboundMessage`](super::InboundMessage)s to the gateway as JSON bodies
//! signed with [`super::SIGNATURE_HEADER`].

use reqwest::StatusCode;
use serde::Deserialize;

use super::message::{SmsEncoding, Submission, SubmitAck};
use crate::UpstreamError;
use crate::rest;

/// Where submissions go, under the SMSC's base URL.
pub const MESSAGES_PATH: &str = "/smsc/v1/messages";
/// The short code the gateway sends from and citizens write to.
pub const SHORT_CODE: &str = "5960";
/// Where the SMSC posts delivery reports, under the gateway's base URL.
pub const DELIVERY_REPORTS_PATH: &str = "/v1/sms/delivery-reports";
/// Where the SMSC posts inbound messages, under the gateway's base URL.
pub const INBOUND_PATH: &str = "/v1/sms/inbound";
/// The most characters (Unicode scalar values) a message's text may have.
pub const MAX_TEXT_CHARS: usize = 1_600;
/// The most parts a concatenated message may have (an 8-bit reference).
pub const MAX_SEGMENTS: u32 = 255;

/// Whether `number` is written in E.164: `+`, then 8 to 15 digits, the first
/// not 0. (The SMSC does not know which numbers exist: that is the network's.)
pub fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// Whether a text can be carried: 1 to [`MAX_TEXT_CHARS`] characters, none of
/// them NUL.
pub fn text_is_acceptable(text: &str) -> bool {
    !text.is_empty() && !text.contains('\0') && text.chars().count() <= MAX_TEXT_CHARS
}

/// Whether an SMSC message id can be kept and repeated as it is: 1–128
/// characters from RFC 3986's unreserved set.
pub fn smsc_id_is_well_formed(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The submit request's body.
pub fn build_submission(submission: &Submission) -> serde_json::Value {
    serde_json::json!({
        "client_ref": submission.client_ref,
        "from": submission.from,
        "to": submission.to,
        "text": submission.text,
        "encoding": submission.encoding.as_str(),
        "segments": submission.segments,
    })
}

/// Why the sandbox refuses a submit request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidSubmission;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireSubmission {
    client_ref: String,
    from: String,
    to: String,
    text: String,
    encoding: String,
    segments: u32,
}

/// Reads a submit request (sandbox side): a UUID `client_ref`, the short
/// code as sender, an E.164 recipient, an acceptable text, a known encoding
/// and 1 to [`MAX_SEGMENTS`] segments, nothing else. The SMSC does not count
/// the segments again: what the sender declares is what it bills.
pub fn parse_submission(body: &[u8]) -> Result<Submission, InvalidSubmission> {
    let wire: WireSubmission = serde_json::from_slice(body).map_err(|_| InvalidSubmission)?;
    let encoding = SmsEncoding::from_wire(&wire.encoding).ok_or(InvalidSubmission)?;
    let valid = crate::security::codec::reference_is_well_formed(&wire.client_ref)
        && wire.from == SHORT_CODE
        && is_e164(&wire.to)
        && text_is_acceptable(&wire.text)
        && (1..=MAX_SEGMENTS).contains(&wire.segments);
    if !valid {
        return Err(InvalidSubmission);
    }
    Ok(Submission {
        client_ref: wire.client_ref,
        from: wire.from,
        to: wire.to,
        text: wire.text,
        encoding,
        segments: wire.segments,
    })
}

/// The submit answer's body (sandbox side).
pub fn build_ack_answer(smsc_id: &str, client_ref: &str, duplicate: bool) -> serde_json::Value {
    serde_json::json!({ "smsc_id": smsc_id, "client_ref": client_ref, "duplicate": duplicate })
}

#[derive(Deserialize)]
struct WireAck {
    smsc_id: String,
    client_ref: String,
    duplicate: bool,
}

/// Reads the answer to a submit (connector side): the acknowledgement of
/// this `client_ref`. An error envelope is classified by its code whatever
/// the status; without one, a non-2xx by its status.
pub fn parse_submit_response(status: StatusCode, body: &[u8], client_ref: &str) -> Result<SubmitAck, UpstreamError> {
    if let Some(code) = rest::error_code(body) {
        return Err(match rest::classify_error(status, &code, |_| None) {
            Err(err) => err,
            Ok(_) => UpstreamError::Malformed("unexpected error code".into()),
        });
    }
    if !status.is_success() {
        return Err(UpstreamError::from_status(status));
    }
    let wire: WireAck = serde_json::from_slice(body)
        .map_err(|_| UpstreamError::Malformed("answer is not a submission acknowledgement".into()))?;
    if !smsc_id_is_well_formed(&wire.smsc_id) {
        return Err(UpstreamError::Malformed("answer has an invalid message id".into()));
    }
    if wire.client_ref != client_ref {
        return Err(UpstreamError::Malformed("answer is about another message".into()));
    }
    Ok(SubmitAck { smsc_id: wire.smsc_id, duplicate: wire.duplicate })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_REF: &str = "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c";

    fn submission() -> Submission {
        Submission {
            client_ref: CLIENT_REF.into(),
            from: SHORT_CODE.into(),
            to: "+201001234567".into(),
            text: "طلبك رقم SHR-2026-000123: قيد المراجعة".into(),
            encoding: SmsEncoding::Ucs2,
            segments: 1,
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
            ("client_ref", serde_json::json!("msg-1")),
            ("from", serde_json::json!("5961")),
            ("to", serde_json::json!("01001234567")),
            ("to", serde_json::json!("+2001001234567890")),
            ("to", serde_json::json!("+0201001234567")),
            ("text", serde_json::json!("")),
            ("text", serde_json::json!("a".repeat(MAX_TEXT_CHARS + 1))),
            ("encoding", serde_json::json!("utf8")),
            ("segments", serde_json::json!(0)),
            ("segments", serde_json::json!(256)),
            ("segments", serde_json::json!("1")),
            ("extra", serde_json::json!(true)),
        ] {
            let mut bad = good.clone();
            bad[field] = value;
            assert_eq!(parse_submission(&body(&bad)), Err(InvalidSubmission), "{field}");
        }
        assert_eq!(parse_submission(b"{"), Err(InvalidSubmission));
    }

    #[test]
    fn e164_numbers_are_a_plus_and_8_to_15_digits() {
        for good in ["+201001234567", "+12025550123", "+20100123"] {
            assert!(is_e164(good), "{good}");
        }
        for bad in ["", "+", "201001234567", "+20 100 123 4567", "+0201001234567", "+2010012", "+٢٠١٠٠١٢٣٤٥٦٧"]
        {
            assert!(!is_e164(bad), "{bad}");
        }
    }

    #[test]
    fn an_ack_reads_back_for_its_client_ref_only() {
        let answer = body(&build_ack_answer("SM-0123", CLIENT_REF, false));
        assert_eq!(
            parse_submit_response(StatusCode::ACCEPTED, &answer, CLIENT_REF),
            Ok(SubmitAck { smsc_id: "SM-0123".into(), duplicate: false })
        );
        let again = body(&build_ack_answer("SM-0123", CLIENT_REF, true));
        assert_eq!(
            parse_submit_response(StatusCode::OK, &again, CLIENT_REF),
            Ok(SubmitAck { smsc_id: "SM-0123".into(), duplicate: true })
        );
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, &answer, "0190c1a2-0000-7c44-9a55-0d1e2f3a4b5c"),
            Err(UpstreamError::Malformed(_))
        ));
        let bad_id = body(&build_ack_answer("SM 1/2", CLIENT_REF, false));
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, &bad_id, CLIENT_REF),
            Err(UpstreamError::Malformed(_))
        ));
        let no_flag = body(&serde_json::json!({"smsc_id": "SM-1", "client_ref": CLIENT_REF}));
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, &no_flag, CLIENT_REF),
            Err(UpstreamError::Malformed(_))
        ));
    }

    #[test]
    fn failures_are_transient_or_rejected_as_the_status_or_code_says() {
        let envelope = |code: &str| body(&rest::error_body(code, "+201001234567"));
        assert_eq!(
            parse_submit_response(StatusCode::BAD_REQUEST, &envelope("INVALID_REQUEST"), CLIENT_REF),
            Err(UpstreamError::Rejected("registry error INVALID_REQUEST".into()))
        );
        assert_eq!(
            parse_submit_response(StatusCode::TOO_MANY_REQUESTS, &envelope("RATE_LIMITED"), CLIENT_REF),
            Err(UpstreamError::Unavailable("registry error RATE_LIMITED".into()))
        );
        assert_eq!(
            parse_submit_response(StatusCode::OK, &envelope("UNAVAILABLE"), CLIENT_REF),
            Err(UpstreamError::Unavailable("registry error UNAVAILABLE".into()))
        );
        assert!(matches!(
            parse_submit_response(StatusCode::OK, &envelope("NOT_FOUND"), CLIENT_REF),
            Err(UpstreamError::Malformed(_))
        ));
        for (status, expected) in [
            (StatusCode::SERVICE_UNAVAILABLE, UpstreamError::Unavailable("HTTP 503".into())),
            (StatusCode::INTERNAL_SERVER_ERROR, UpstreamError::Unavailable("HTTP 500".into())),
            (StatusCode::TOO_MANY_REQUESTS, UpstreamError::Unavailable("HTTP 429".into())),
            (StatusCode::UNAUTHORIZED, UpstreamError::Rejected("HTTP 401".into())),
            (StatusCode::UNPROCESSABLE_ENTITY, UpstreamError::Rejected("HTTP 422".into())),
        ] {
            assert_eq!(parse_submit_response(status, b"", CLIENT_REF), Err(expected), "{status}");
        }
        assert!(matches!(
            parse_submit_response(StatusCode::ACCEPTED, b"{\"smsc_id\": ", CLIENT_REF),
            Err(UpstreamError::Malformed(_))
        ));
    }
}
