//! The registration lookup on the wire (JSON over HTTP, documented in
//! `schemas/upstream/commercial_register.schema.json`), both sides: the
//! connector builds paths and reads answers; the sandbox reads paths and
//! builds answers.
//!
//! ```text
//! GET /commercial-register/v1/offices/ZAGAZIG/registrations/123456
//! Accept: application/json
//!
//! 200 {"registration": {"registration_number": "123456", "office": "ZAGAZIG",
//!      "trade_name": "مخبز النور", "owner_national_id": "29001011300036",
//!      "status": "active", "expires_on": "2028-06-30"}}
//! 404 {"error": {"code": "NOT_FOUND", "message": "…"}}
//! ```
//! Error codes: `NOT_FOUND` (no such registration in that office),
//! `INVALID_REQUEST`, `UNKNOWN_PATH`, `METHOD_NOT_ALLOWED` (rejected),
//! `INTERNAL_ERROR`, `UNAVAILABLE`, `RATE_LIMITED` (transient). The envelope
//! is classified by its code whatever the status, a 200 included.

use reqwest::StatusCode;
use serde::Deserialize;

use super::record::{CompanyKey, CompanyRecord, CompanyStatus};
use crate::rest::{self, ErrorClass};
use crate::{Lookup, UpstreamError};

/// The API's root under the registry's base URL.
pub const API_ROOT: &str = "/commercial-register/v1/";
/// The error code of an unknown registration.
pub const NOT_FOUND: &str = "NOT_FOUND";

/// The codes this registry adds to [`rest::common_error_class`].
fn error_class(code: &str) -> Option<ErrorClass> {
    (code == NOT_FOUND).then_some(ErrorClass::NotFound)
}

/// `/commercial-register/v1/offices/{office}/registrations/{number}`, each
/// segment percent-encoded; `None` when a segment cannot be put in a path.
pub fn path(key: &CompanyKey) -> Option<String> {
    let office = rest::path_segment(&key.office)?;
    let number = rest::path_segment(&key.registration_number)?;
    Some(format!("{API_ROOT}offices/{office}/registrations/{number}"))
}

/// What the sandbox makes of a path under [`API_ROOT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A registration lookup, segments percent-decoded.
    Lookup(CompanyKey),
    /// The segments are not valid UTF-8 once decoded.
    BadSegment,
    /// Anything else under the API root.
    Unknown,
}

/// Reads a request path (sandbox side).
pub fn parse_path(path: &str) -> Route {
    let Some(rest) = path.strip_prefix(API_ROOT).and_then(|p| p.strip_prefix("offices/")) else {
        return Route::Unknown;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let [office, "registrations", number] = parts[..] else {
        return Route::Unknown;
    };
    let decode =
        |segment: &str| percent_encoding::percent_decode_str(segment).decode_utf8().ok().map(|s| s.into_owned());
    match (decode(office), decode(number)) {
        (Some(office), Some(registration_number)) => Route::Lookup(CompanyKey { office, registration_number }),
        _ => Route::BadSegment,
    }
}

/// Whether the sandbox accepts a key's shape: an office of 1–40 characters
/// from `A–Z 0–9 _ -` and space, starting with a letter, and a number of 1–10
/// ASCII digits. A well-shaped key that is not registered is `NOT_FOUND`.
pub fn key_is_well_formed(key: &CompanyKey) -> bool {
    let office = key.office.as_bytes();
    let number = key.registration_number.as_bytes();
    (1..=40).contains(&office.len())
        && office[0].is_ascii_uppercase()
        && office.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b' '))
        && (1..=10).contains(&number.len())
        && number.iter().all(u8::is_ascii_digit)
}

/// The answer carrying one registration (sandbox side).
pub fn build_response(record: &CompanyRecord) -> serde_json::Value {
    serde_json::json!({
        "registration": {
            "registration_number": record.registration_number,
            "office": record.office,
            "trade_name": record.trade_name,
            "owner_national_id": record.owner_national_id,
            "status": record.status.as_str(),
            "expires_on": crate::format_date(record.expires_on),
        }
    })
}

#[derive(Deserialize)]
struct Answer {
    registration: WireRegistration,
}

/// Members the connector does not know are ignored (room for additions).
#[derive(Deserialize)]
struct WireRegistration {
    registration_number: String,
    office: String,
    trade_name: String,
    owner_national_id: String,
    status: String,
    expires_on: String,
}

/// Reads the registry's answer (connector side) and classifies it: an error
/// envelope by its code (`NOT_FOUND` is [`Lookup::NotFound`]), else a
/// non-2xx by its status, else the body must be a complete registration.
pub fn parse_response(status: StatusCode, body: &[u8]) -> Result<Lookup<CompanyRecord>, UpstreamError> {
    if let Some(code) = rest::error_code(body) {
        return rest::classify_error(status, &code, error_class).map(|_| Lookup::NotFound);
    }
    if !status.is_success() {
        return Err(UpstreamError::from_status(status));
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|_| UpstreamError::Malformed("answer is not a registration".into()))?;
    read_registration(answer.registration).map(Lookup::Found)
}

fn read_registration(wire: WireRegistration) -> Result<CompanyRecord, UpstreamError> {
    let invalid = |name: &'static str| UpstreamError::Malformed(format!("registration has an invalid {name}"));
    let digits = |value: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(&wire.registration_number, 1..=10) {
        return Err(invalid("registration_number"));
    }
    if wire.office.is_empty() {
        return Err(invalid("office"));
    }
    if wire.trade_name.trim().is_empty() {
        return Err(invalid("trade_name"));
    }
    if !digits(&wire.owner_national_id, 14..=14) {
        return Err(invalid("owner_national_id"));
    }
    let status = CompanyStatus::from_wire(&wire.status).ok_or_else(|| invalid("status"))?;
    let expires_on = crate::parse_date(&wire.expires_on).ok_or_else(|| invalid("expires_on"))?;
    Ok(CompanyRecord {
        registration_number: wire.registration_number,
        office: wire.office,
        trade_name: wire.trade_name,
        owner_national_id: wire.owner_national_id,
        status,
        expires_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn record() -> CompanyRecord {
        CompanyRecord {
            registration_number: "123456".into(),
            office: "ZAGAZIG".into(),
            trade_name: "مخبز النور".into(),
            owner_national_id: "29001011300036".into(),
            status: CompanyStatus::Active,
            expires_on: date!(2028 - 06 - 30),
        }
    }

    fn key(office: &str, number: &str) -> CompanyKey {
        CompanyKey { office: office.into(), registration_number: number.into() }
    }

    fn body(value: &serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(value).expect("serialises")
    }

    #[test]
    fn the_path_names_office_and_number_and_reads_back() {
        let path = path(&key("ZAGAZIG", "123456")).expect("a path");
        assert_eq!(path, "/commercial-register/v1/offices/ZAGAZIG/registrations/123456");
        assert_eq!(parse_path(&path), Route::Lookup(key("ZAGAZIG", "123456")));
    }

    #[test]
    fn path_segments_are_percent_encoded_so_a_key_cannot_change_the_path() {
        let sneaky = key("ZAGAZIG/registrations/1?x=", "12 3");
        let path = path(&sneaky).expect("a path");
        assert_eq!(path, "/commercial-register/v1/offices/ZAGAZIG%2Fregistrations%2F1%3Fx%3D/registrations/12%203");
        assert_eq!(parse_path(&path), Route::Lookup(sneaky));
        assert_eq!(super::path(&key("..", "1")), None);
        assert_eq!(super::path(&key("CAIRO", "")), None);
    }

    #[test]
    fn other_paths_are_unknown() {
        for path in [
            "/commercial-register/v1/offices/ZAGAZIG",
            "/commercial-register/v1/offices/ZAGAZIG/registrations",
            "/commercial-register/v1/offices/ZAGAZIG/registrations/1/extra",
            "/commercial-register/v1/offices/ZAGAZIG/companies/1",
            "/commercial-register/v2/offices/ZAGAZIG/registrations/1",
        ] {
            assert_eq!(parse_path(path), Route::Unknown, "{path}");
        }
        assert_eq!(parse_path("/commercial-register/v1/offices/%FF/registrations/1"), Route::BadSegment);
    }

    #[test]
    fn well_formed_keys_are_told_from_ill_formed_ones() {
        assert!(key_is_well_formed(&key("ZAGAZIG", "123456")));
        assert!(key_is_well_formed(&key("KAFR_EL_SHEIKH", "0000000001")));
        assert!(key_is_well_formed(&key("KAFR EL SHEIKH", "1")));
        for (office, number) in [
            ("zagazig", "1"),
            ("", "1"),
            ("ZAGAZIG", ""),
            ("ZAGAZIG", "12345678901"),
            ("ZAGAZIG", "12a"),
            ("9CITY", "1"),
        ] {
            assert!(!key_is_well_formed(&key(office, number)), "{office} {number}");
        }
    }

    #[test]
    fn a_built_response_reads_back_as_the_same_record() {
        let original = record();
        let json = body(&build_response(&original));
        assert_eq!(parse_response(StatusCode::OK, &json), Ok(Lookup::Found(original)));
    }

    #[test]
    fn unknown_members_are_ignored() {
        let mut value = build_response(&record());
        value["registration"]["capital_egp"] = 50_000.into();
        value["served_by"] = "node-3".into();
        assert!(matches!(parse_response(StatusCode::OK, &body(&value)), Ok(Lookup::Found(_))));
    }

    #[test]
    fn a_not_found_envelope_is_a_not_found_lookup_with_404_or_inside_a_200() {
        let json = body(&rest::error_body("NOT_FOUND", "no registration 999999 in ZAGAZIG"));
        assert_eq!(parse_response(StatusCode::NOT_FOUND, &json), Ok(Lookup::NotFound));
        assert_eq!(parse_response(StatusCode::OK, &json), Ok(Lookup::NotFound));
        assert!(matches!(parse_response(StatusCode::INTERNAL_SERVER_ERROR, &json), Err(UpstreamError::Unavailable(_))));
    }

    #[test]
    fn a_404_without_the_envelope_is_a_rejection_not_an_absence() {
        let outcome = parse_response(StatusCode::NOT_FOUND, b"<html>Not Found</html>");
        assert_eq!(outcome, Err(UpstreamError::Rejected("HTTP 404".into())));
    }

    #[test]
    fn error_envelopes_are_classified_by_code_even_inside_a_200() {
        let envelope = |code: &str| body(&rest::error_body(code, "محمد 29001011300036"));
        for status in [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE] {
            assert_eq!(
                parse_response(status, &envelope("UNAVAILABLE")),
                Err(UpstreamError::Unavailable("registry error UNAVAILABLE".into()))
            );
        }
        let err = parse_response(StatusCode::OK, &envelope("INVALID_REQUEST")).unwrap_err();
        assert_eq!(err, UpstreamError::Rejected("registry error INVALID_REQUEST".into()));
        assert!(!err.to_string().contains("2900") && !err.to_string().contains("محمد"));
        assert!(matches!(parse_response(StatusCode::OK, &envelope("BOGUS")), Err(UpstreamError::Malformed(_))));
    }

    #[test]
    fn statuses_without_an_envelope_are_classified_by_status() {
        assert_eq!(
            parse_response(StatusCode::SERVICE_UNAVAILABLE, b"busy"),
            Err(UpstreamError::Unavailable("HTTP 503".into()))
        );
        assert_eq!(
            parse_response(StatusCode::TOO_MANY_REQUESTS, b""),
            Err(UpstreamError::Unavailable("HTTP 429".into()))
        );
        assert_eq!(parse_response(StatusCode::FORBIDDEN, b"{}"), Err(UpstreamError::Rejected("HTTP 403".into())));
    }

    #[test]
    fn a_200_that_is_not_a_registration_is_malformed_without_quoting_it() {
        let good = build_response(&record());
        let mut cases: Vec<serde_json::Value> =
            vec![serde_json::json!({}), serde_json::json!([]), serde_json::json!(null)];
        for (field, value) in [
            ("registration_number", serde_json::json!("12345678901")),
            ("registration_number", serde_json::json!(123456)),
            ("owner_national_id", serde_json::json!("2900101130003")),
            ("status", serde_json::json!("closed")),
            ("expires_on", serde_json::json!("30/06/2028")),
            ("expires_on", serde_json::json!("2028-02-30")),
            ("trade_name", serde_json::json!(" ")),
        ] {
            let mut bad = good.clone();
            bad["registration"][field] = value;
            cases.push(bad);
        }
        let mut missing = good.clone();
        missing["registration"].as_object_mut().expect("object").remove("status");
        cases.push(missing);
        for case in cases {
            let err = parse_response(StatusCode::OK, &body(&case)).unwrap_err();
            assert!(matches!(err, UpstreamError::Malformed(_)), "{case}");
            assert!(!err.to_string().contains("2900") && !err.to_string().contains("2028"), "{err}");
        }
        assert!(matches!(parse_response(StatusCode::OK, b"{\"registration\": {"), Err(UpstreamError::Malformed(_))));
    }
}
