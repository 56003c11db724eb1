//! JSON/REST plumbing shared by the REST registries (commercial register,
//! security directorate): building request paths from untrusted segments,
//! and recognising the error envelope `{"error": {"code": "…", "message": "…"}}`
//! whatever the HTTP status it comes with (some registries answer errors with
//! a 200).
//!
//! Errors carry fixed texts and at most an error code that looks like a code:
//! never the `message`, which registries fill with free text (sometimes
//! personal data).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde::Deserialize;

use crate::UpstreamError;

/// The content type of JSON requests and answers.
pub const CONTENT_TYPE: &str = "application/json";

/// Characters left as they are in a path segment: RFC 3986's unreserved set.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one path segment. `None` for a segment that a URL parser
/// would drop or reinterpret (empty, `.` or `..`, also when percent-encoded):
/// such a key cannot be asked for, and the request is not sent.
pub fn path_segment(value: &str) -> Option<String> {
    if value.is_empty() || value.bytes().all(|b| b == b'.') {
        return None;
    }
    Some(utf8_percent_encode(value, SEGMENT).to_string())
}

/// What an error code means to the caller, as each registry's table says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The thing asked for does not exist: an answer, not a failure.
    NotFound,
    /// The request itself was refused: retrying cannot help.
    Rejected,
    /// The registry failed or is overloaded: the same request may succeed later.
    Transient,
}

/// The error codes every REST registry of the sandbox family shares.
pub fn common_error_class(code: &str) -> Option<ErrorClass> {
    match code {
        "INVALID_REQUEST" | "UNKNOWN_PATH" | "METHOD_NOT_ALLOWED" => Some(ErrorClass::Rejected),
        "INTERNAL_ERROR" | "UNAVAILABLE" | "RATE_LIMITED" => Some(ErrorClass::Transient),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Envelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
}

/// The error code of a body that is an error envelope, `None` for any other
/// body. A code that does not look like one (upper-case letters, digits and
/// `_`, at most 64) is read as `Some("")`: the body is still an error, but
/// its code is never repeated.
pub fn error_code(body: &[u8]) -> Option<String> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let code = envelope.error.code;
    let looks_like_a_code = (1..=64).contains(&code.len())
        && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    Some(if looks_like_a_code { code } else { String::new() })
}

/// Classifies an error envelope by its code (`table` first, then the common
/// codes). An unknown code is classified by the HTTP status, and is
/// `Malformed` in a 2xx (an error the protocol does not define).
pub fn classify_error(
    status: StatusCode,
    code: &str,
    table: impl Fn(&str) -> Option<ErrorClass>,
) -> Result<ErrorClass, UpstreamError> {
    let class = table(code).or_else(|| common_error_class(code));
    // Only a code of the registry's table goes into messages and logs.
    let shown = if class.is_some() { code } else { crate::error::UNRECOGNISED };
    match class {
        // A "not found" that comes with a 5xx contradicts itself: the status,
        // which calls for another attempt, wins over caching an absence.
        Some(ErrorClass::NotFound) if status.is_success() || status == StatusCode::NOT_FOUND => {
            Ok(ErrorClass::NotFound)
        }
        Some(ErrorClass::NotFound) => Err(UpstreamError::from_status(status)),
        Some(ErrorClass::Rejected) => Err(UpstreamError::Rejected(format!("registry error {shown}"))),
        Some(ErrorClass::Transient) => Err(UpstreamError::Unavailable(format!("registry error {shown}"))),
        None if status.is_success() => Err(UpstreamError::Malformed(format!("error {shown} in a success answer"))),
        None => Err(UpstreamError::from_status(status)),
    }
}

/// Builds an error envelope (sandbox side).
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(path_segment("ZAGAZIG").as_deref(), Some("ZAGAZIG"));
        assert_eq!(path_segment("a/b?c#d e").as_deref(), Some("a%2Fb%3Fc%23d%20e"));
        assert_eq!(path_segment("مخبز").as_deref(), Some("%D9%85%D8%AE%D8%A8%D8%B2"));
        assert_eq!(path_segment("SEC-1.2_3~").as_deref(), Some("SEC-1.2_3~"));
    }

    #[test]
    fn segments_a_url_parser_would_reinterpret_are_refused() {
        for segment in ["", ".", "..", "..."] {
            assert_eq!(path_segment(segment), None, "{segment:?}");
        }
    }

    #[test]
    fn an_error_envelope_is_recognised_and_other_bodies_are_not() {
        assert_eq!(error_code(br#"{"error": {"code": "NOT_FOUND", "message": "x"}}"#).as_deref(), Some("NOT_FOUND"));
        assert_eq!(error_code(br#"{"error": {"code": "citizen 2900 blocked"}}"#).as_deref(), Some(""));
        assert_eq!(error_code(br#"{"error": "plain text"}"#), None);
        assert_eq!(error_code(br#"{"registration": {}}"#), None);
        assert_eq!(error_code(b"<html/>"), None);
    }

    #[test]
    fn error_codes_are_classified_by_code_then_by_status() {
        let none = |_: &str| None;
        let not_found = |code: &str| (code == "NOT_FOUND").then_some(ErrorClass::NotFound);
        assert_eq!(classify_error(StatusCode::NOT_FOUND, "NOT_FOUND", not_found), Ok(ErrorClass::NotFound));
        assert_eq!(classify_error(StatusCode::OK, "NOT_FOUND", not_found), Ok(ErrorClass::NotFound));
        assert!(matches!(
            classify_error(StatusCode::SERVICE_UNAVAILABLE, "NOT_FOUND", not_found),
            Err(UpstreamError::Unavailable(_))
        ));
        assert_eq!(
            classify_error(StatusCode::OK, "INTERNAL_ERROR", none),
            Err(UpstreamError::Unavailable("registry error INTERNAL_ERROR".into()))
        );
        assert_eq!(
            classify_error(StatusCode::BAD_REQUEST, "INVALID_REQUEST", none),
            Err(UpstreamError::Rejected("registry error INVALID_REQUEST".into()))
        );
        assert!(matches!(classify_error(StatusCode::OK, "TEAPOT", none), Err(UpstreamError::Malformed(_))));
        assert!(matches!(classify_error(StatusCode::BAD_GATEWAY, "TEAPOT", none), Err(UpstreamError::Unavailable(_))));
        assert!(matches!(classify_error(StatusCode::CONFLICT, "", none), Err(UpstreamError::Rejected(_))));
        assert_eq!(
            classify_error(StatusCode::OK, "CITIZEN_29001011300036", none),
            Err(UpstreamError::Malformed("error unrecognised in a success answer".into()))
        );
    }
}
