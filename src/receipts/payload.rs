//! The signed payload of a receipt: a CBOR map with small integer keys and
//! enumerated values, so that a receipt stays near 160 bytes and its QR small
//! enough to print at 2 cm. `schemas/receipt.md` is the format's definition
//! (CDDL); this file and that one change together.
//!
//! What is never in it: the national ID, a name, or any registry data. Only
//! which registry was asked, the outcome and each claim's yes/no.

use ciborium::Value;
use serde::Serialize;
use std::collections::BTreeMap;

/// Map keys of the payload.
mod key {
    pub const VERSION: i64 = 0;
    pub const ID: i64 = 1;
    pub const ISSUED_AT: i64 = 2;
    pub const EXPIRES_AT: i64 = 3;
    pub const REGISTRY: i64 = 4;
    pub const OUTCOME: i64 = 5;
    pub const FIELDS: i64 = 6;
    pub const CENTER_ID: i64 = 7;
    pub const CASE_REF: i64 = 8;
}

/// The payload format's version (key 0).
pub const VERSION: i64 = 1;

/// Registries by code (key 4).
pub const REGISTRIES: [(i64, &str); 3] = [(1, "national_id"), (2, "commercial_register"), (3, "real_estate")];
/// Outcomes by code (key 5).
pub const OUTCOMES: [(i64, &str); 3] = [(1, "match"), (2, "mismatch"), (3, "not_found")];
/// Claims by code (keys of the map under key 6).
pub const CLAIMS: [(i64, &str); 6] = [
    (1, "full_name"),
    (2, "birth_date"),
    (3, "gender"),
    (4, "mother_name"),
    (5, "trade_name"),
    (6, "owner_national_id"),
];

/// Longest text field (`center_id`, `case_ref`) a payload may carry.
const MAX_TEXT: usize = 64;

fn code_of(table: &[(i64, &'static str)], name: &str) -> Option<i64> {
    table.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
}

fn name_of(table: &[(i64, &'static str)], code: i64) -> Option<&'static str> {
    table.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// What a receipt says. Serialises as the `receipt` of `POST /receipts/verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Payload {
    /// The receipt id: the request id (and audit event id) of the verify call.
    pub id: uuid::Uuid,
    /// RFC 3339 UTC, whole seconds.
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String)]
    pub issued_at: i64,
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String)]
    pub expires_at: i64,
    /// `national_id`, `commercial_register` or `real_estate`.
    pub registry: &'static str,
    /// `match`, `mismatch` or `not_found`.
    pub outcome: &'static str,
    /// Each claim's result (absent for `not_found`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<&'static str, ClaimResult>>,
    pub center_id: Option<String>,
    pub case_ref: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClaimResult {
    #[serde(rename = "match")]
    pub matched: bool,
}

fn rfc3339<S: serde::Serializer>(t: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// Unix seconds as RFC 3339 UTC (`2026-12-03T06:00:00Z`).
pub fn format_time(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(t).ok().and_then(|t| t.format(format).ok()).unwrap_or_default()
}

/// Why bytes under a valid signature are not a receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a receipt payload: {0}")]
pub struct PayloadError(pub &'static str);

impl Payload {
    /// A payload of a verification answer; names the gateway does not know
    /// how to encode (a new registry or claim) are an error, never dropped.
    pub fn of_verification(
        id: uuid::Uuid,
        (issued_at, expires_at): (i64, i64),
        registry: &str,
        outcome: &str,
        fields: Option<impl IntoIterator<Item = (String, bool)>>,
        center_id: Option<String>,
        case_ref: Option<String>,
    ) -> Result<Payload, PayloadError> {
        let registry = name_of(&REGISTRIES, code_of(&REGISTRIES, registry).ok_or(PayloadError("registry"))?)
            .ok_or(PayloadError("registry"))?;
        let outcome = name_of(&OUTCOMES, code_of(&OUTCOMES, outcome).ok_or(PayloadError("outcome"))?)
            .ok_or(PayloadError("outcome"))?;
        let fields = match fields {
            None => None,
            Some(fields) => {
                let mut map = BTreeMap::new();
                for (name, matched) in fields {
                    let code = code_of(&CLAIMS, &name).ok_or(PayloadError("claim"))?;
                    map.insert(name_of(&CLAIMS, code).ok_or(PayloadError("claim"))?, ClaimResult { matched });
                }
                Some(map)
            }
        };
        Ok(Payload { id, issued_at, expires_at, registry, outcome, fields, center_id, case_ref })
    }

    /// Deterministic CBOR (RFC 8949 §4.2: keys in ascending order, shortest forms).
    pub fn to_cbor(&self) -> Vec<u8> {
        let int = |i: i64| Value::Integer(i.into());
        let mut entries = vec![
            (int(key::VERSION), int(VERSION)),
            (int(key::ID), Value::Bytes(self.id.as_bytes().to_vec())),
            (int(key::ISSUED_AT), int(self.issued_at)),
            (int(key::EXPIRES_AT), int(self.expires_at)),
            (int(key::REGISTRY), int(code_of(&REGISTRIES, self.registry).unwrap_or_default())),
            (int(key::OUTCOME), int(code_of(&OUTCOMES, self.outcome).unwrap_or_default())),
        ];
        if let Some(fields) = &self.fields {
            let mut claims: Vec<(i64, bool)> =
                fields.iter().map(|(n, r)| (code_of(&CLAIMS, n).unwrap_or_default(), r.matched)).collect();
            claims.sort_unstable();
            entries.push((
                int(key::FIELDS),
                Value::Map(claims.into_iter().map(|(c, m)| (int(c), Value::Bool(m))).collect()),
            ));
        }
        if let Some(center) = &self.center_id {
            entries.push((int(key::CENTER_ID), Value::Text(center.clone())));
        }
        if let Some(case_ref) = &self.case_ref {
            entries.push((int(key::CASE_REF), Value::Text(case_ref.clone())));
        }
        let mut out = Vec::with_capacity(96);
        ciborium::into_writer(&Value::Map(entries), &mut out).expect("writing to a Vec cannot fail");
        out
    }

    /// Parses the payload strictly: every key known, each once, of its type;
    /// anything else is not a receipt, whoever signed it.
    pub fn from_cbor(bytes: &[u8]) -> Result<Payload, PayloadError> {
        let value: Value = ciborium::from_reader(bytes).map_err(|_| PayloadError("not CBOR"))?;
        // ciborium stops after one item: bytes after it are not the format.
        let mut again = Vec::with_capacity(bytes.len());
        ciborium::into_writer(&value, &mut again).map_err(|_| PayloadError("not CBOR"))?;
        if again.len() != bytes.len() {
            return Err(PayloadError("not one CBOR item in shortest form"));
        }
        let Value::Map(entries) = value else { return Err(PayloadError("not a map")) };
        let mut seen = BTreeMap::new();
        for (k, v) in entries {
            let k =
                k.as_integer().and_then(|i| i64::try_from(i).ok()).ok_or(PayloadError("a key is not an integer"))?;
            if seen.insert(k, v).is_some() {
                return Err(PayloadError("a key appears twice"));
            }
        }
        let int = |v: &Value| v.as_integer().and_then(|i| i64::try_from(i).ok());
        let text = |v: &Value, what: &'static str| match v {
            Value::Text(t) if !t.is_empty() && t.chars().count() <= MAX_TEXT => Ok(t.clone()),
            _ => Err(PayloadError(what)),
        };
        let mut take = |k: i64| seen.remove(&k);
        if take(key::VERSION).as_ref().and_then(int) != Some(VERSION) {
            return Err(PayloadError("version"));
        }
        let id = match take(key::ID) {
            Some(Value::Bytes(b)) => uuid::Uuid::from_slice(&b).map_err(|_| PayloadError("id"))?,
            _ => return Err(PayloadError("id")),
        };
        let issued_at =
            take(key::ISSUED_AT).as_ref().and_then(int).filter(|t| *t > 0).ok_or(PayloadError("issued_at"))?;
        let expires_at = take(key::EXPIRES_AT)
            .as_ref()
            .and_then(int)
            .filter(|t| *t > issued_at)
            .ok_or(PayloadError("expires_at"))?;
        let registry = take(key::REGISTRY)
            .as_ref()
            .and_then(int)
            .and_then(|c| name_of(&REGISTRIES, c))
            .ok_or(PayloadError("registry"))?;
        let outcome = take(key::OUTCOME)
            .as_ref()
            .and_then(int)
            .and_then(|c| name_of(&OUTCOMES, c))
            .ok_or(PayloadError("outcome"))?;
        let fields = match take(key::FIELDS) {
            None => None,
            Some(Value::Map(claims)) => {
                let mut map = BTreeMap::new();
                for (c, m) in claims {
                    let name = int(&c).and_then(|c| name_of(&CLAIMS, c)).ok_or(PayloadError("claim"))?;
                    let Value::Bool(matched) = m else { return Err(PayloadError("claim result")) };
                    if map.insert(name, ClaimResult { matched }).is_some() {
                        return Err(PayloadError("a claim appears twice"));
                    }
                }
                Some(map)
            }
            Some(_) => return Err(PayloadError("fields")),
        };
        if (outcome == "not_found") != fields.is_none() {
            return Err(PayloadError("fields"));
        }
        let center_id = take(key::CENTER_ID).map(|v| text(&v, "center_id")).transpose()?;
        let case_ref = take(key::CASE_REF).map(|v| text(&v, "case_ref")).transpose()?;
        if !seen.is_empty() {
            return Err(PayloadError("unknown key"));
        }
        Ok(Payload { id, issued_at, expires_at, registry, outcome, fields, center_id, case_ref })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Payload {
        Payload::of_verification(
            uuid::Uuid::now_v7(),
            (1_790_000_000, 1_790_000_000 + 365 * 86_400),
            "national_id",
            "mismatch",
            Some([("full_name".to_owned(), true), ("mother_name".to_owned(), false)]),
            Some("SHR-ZAG-01".into()),
            Some("SHR-2025-000123".into()),
        )
        .unwrap()
    }

    #[test]
    fn a_payload_reads_back_as_written() {
        let p = sample();
        assert_eq!(Payload::from_cbor(&p.to_cbor()).unwrap(), p);
    }

    #[test]
    fn a_payload_is_small() {
        assert!(sample().to_cbor().len() < 80, "{} bytes", sample().to_cbor().len());
    }

    #[test]
    fn an_unknown_key_is_not_the_format() {
        let mut bytes = sample().to_cbor();
        // Map header 0xa8 (8 entries) → 0xa9 with one more entry 9: 0.
        bytes[0] += 1;
        bytes.extend([0x09, 0x00]);
        assert_eq!(Payload::from_cbor(&bytes), Err(PayloadError("unknown key")));
    }

    #[test]
    fn trailing_bytes_are_not_the_format() {
        let mut bytes = sample().to_cbor();
        bytes.push(0);
        assert!(Payload::from_cbor(&bytes).is_err());
    }

    #[test]
    fn junk_is_not_the_format() {
        assert!(Payload::from_cbor(b"hello").is_err());
        assert!(Payload::from_cbor(&[0xa0]).is_err());
    }

    #[test]
    fn an_unknown_claim_is_refused_when_signing() {
        let none: Option<Vec<(String, bool)>> = None;
        assert!(Payload::of_verification(uuid::Uuid::nil(), (1, 2), "tax", "match", none, None, None).is_err());
        assert!(
            Payload::of_verification(
                uuid::Uuid::nil(),
                (1, 2),
                "national_id",
                "match",
                Some([("shoe_size".to_owned(), true)]),
                None,
                None
            )
            .is_err()
        );
    }
}
