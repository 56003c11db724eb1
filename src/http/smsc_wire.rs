//! The SMSC's two callbacks as `schemas/upstream/smsc.schema.json` defines
//! them (`delivery_report`, `inbound_message`): a body outside the schema (an
//! unknown field, an empty text, a `to` other than the short code, a time
//! that is not RFC 3339, …) is 400 naming every field that breaks it, and
//! changes nothing. The signature has been checked before.

use crate::error::{ApiError, FieldError};
use serde::Deserialize;

/// The schema's `text.maxLength`.
const MAX_TEXT_CHARS: usize = 1_600;

// The patterns below are those of the check functions, as the SMSC's schema states them.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryReport {
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,128}$")]
    pub smsc_id: String,
    /// The gateway's message id.
    #[schema(format = Uuid)]
    pub client_ref: String,
    #[schema(pattern = "^(delivered|undelivered)$")]
    pub status: String,
    #[schema(format = DateTime)]
    pub at: String,
    /// Given only, and always, when `undelivered`.
    #[serde(default)]
    #[schema(pattern = "^[A-Z][A-Z0-9_]{0,63}$")]
    pub error: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,128}$")]
    pub smsc_id: String,
    #[schema(pattern = "^\\+[1-9][0-9]{7,14}$")]
    pub from: String,
    #[schema(pattern = "^5960$")]
    pub to: String,
    #[schema(min_length = 1, max_length = 1600)]
    pub text: String,
    #[schema(format = DateTime)]
    pub received_at: String,
}

/// `^[A-Za-z0-9._~-]{1,128}$`
fn is_smsc_id(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b))
}

/// `^\+[1-9][0-9]{7,14}$`
fn is_e164(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// `^[A-Z][A-Z0-9_]{0,63}$`
fn is_error_code(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_uppercase())
        && s.len() <= 64
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

fn is_rfc3339(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// The schema's UUID pattern: 8-4-4-4-12 hex digits.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if [8, 13, 18, 23].contains(&i) { b == b'-' } else { b.is_ascii_hexdigit() })
}

fn refuse(errors: Vec<FieldError>) -> Result<(), ApiError> {
    if errors.is_empty() { Ok(()) } else { Err(ApiError::InvalidRequest { detail: None, errors }) }
}

impl DeliveryReport {
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if !is_smsc_id(&self.smsc_id) {
            errors.push(FieldError::new("smsc_id", "must be 1 to 128 of A-Z a-z 0-9 . _ ~ -"));
        }
        if !is_uuid(&self.client_ref) {
            errors.push(FieldError::new("client_ref", "must be a UUID"));
        }
        let undelivered = match self.status.as_str() {
            connectors::smsc::DELIVERED => false,
            connectors::smsc::UNDELIVERED => true,
            _ => {
                errors.push(FieldError::new("status", "must be delivered or undelivered"));
                false
            }
        };
        if !is_rfc3339(&self.at) {
            errors.push(FieldError::new("at", "must be an RFC 3339 time"));
        }
        match &self.error {
            Some(code) if !is_error_code(code) => {
                errors.push(FieldError::new("error", "must be an upper-case code ([A-Z][A-Z0-9_]{0,63})"))
            }
            Some(_) if !undelivered => errors.push(FieldError::new("error", "is given only when undelivered")),
            None if undelivered => errors.push(FieldError::new("error", "is required when undelivered")),
            _ => {}
        }
        refuse(errors)
    }
}

impl InboundMessage {
    pub fn check(&self) -> Result<(), ApiError> {
        let mut errors = Vec::new();
        if !is_smsc_id(&self.smsc_id) {
            errors.push(FieldError::new("smsc_id", "must be 1 to 128 of A-Z a-z 0-9 . _ ~ -"));
        }
        if !is_e164(&self.from) {
            errors.push(FieldError::new("from", "must be an E.164 number (+ and 8 to 15 digits)"));
        }
        if self.to != connectors::smsc::SHORT_CODE {
            errors.push(FieldError::new("to", "must be the short code 5960"));
        }
        let chars = self.text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS || self.text.contains('\0') {
            errors.push(FieldError::new("text", "must be 1 to 1600 characters, without NUL"));
        }
        if !is_rfc3339(&self.received_at) {
            errors.push(FieldError::new("received_at", "must be an RFC 3339 time"));
        }
        refuse(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound(to: &str, text: &str, received_at: &str) -> InboundMessage {
        InboundMessage {
            smsc_id: "MO-1".into(),
            from: "+201001234567".into(),
            to: to.into(),
            text: text.into(),
            received_at: received_at.into(),
        }
    }

    fn fields(r: Result<(), ApiError>) -> Vec<String> {
        r.unwrap_err().field_errors().into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_well_formed_inbound_message_passes() {
        assert!(inbound("5960", "STOP", "2026-01-05T08:00:01.5Z").check().is_ok());
    }

    #[test]
    fn every_field_outside_the_schema_is_named() {
        assert_eq!(fields(inbound("5961", "", "yesterday").check()), ["to", "text", "received_at"]);
        assert_eq!(fields(inbound("5960", "a\0b", "2026-01-05T08:00:00Z").check()), ["text"]);
    }

    #[test]
    fn an_undelivered_report_needs_its_code_and_a_delivered_one_has_none() {
        let report = |status: &str, error: Option<&str>| DeliveryReport {
            smsc_id: "SM-1".into(),
            client_ref: "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c".into(),
            status: status.into(),
            at: "2026-01-05T08:00:00.25Z".into(),
            error: error.map(str::to_owned),
        };
        assert!(report("delivered", None).check().is_ok());
        assert!(report("undelivered", Some("ABSENT_SUBSCRIBER")).check().is_ok());
        assert_eq!(fields(report("undelivered", None).check()), ["error"]);
        assert_eq!(fields(report("delivered", Some("X")).check()), ["error"]);
        assert_eq!(fields(report("undelivered", Some("not a code")).check()), ["error"]);
    }
}
