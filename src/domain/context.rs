//! The `context` every data call carries: who is at the counter, why, and for
//! which service request.

use serde::Serialize;

/// The longest operator ID and case reference, in characters.
pub const OPERATOR_ID_MAX_CHARS: usize = 64;
pub const CASE_REF_MAX_CHARS: usize = 64;

/// The characters of an operator ID besides ASCII letters and digits.
const OPERATOR_ID_PUNCTUATION: [u8; 3] = [b'.', b'_', b'-'];

/// An operator ID as a regular expression (the OpenAPI document's pattern).
pub fn operator_id_pattern() -> String {
    let punctuation: String = OPERATOR_ID_PUNCTUATION.iter().map(|b| *b as char).collect();
    format!("^[A-Za-z0-9{punctuation}]{{1,{OPERATOR_ID_MAX_CHARS}}}$")
}

/// The employee at the counter: `[A-Za-z0-9._-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct OperatorId(String);

impl OperatorId {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        if input.is_empty() || input.len() > OPERATOR_ID_MAX_CHARS {
            return Err("length");
        }
        if !input.bytes().all(|b| b.is_ascii_alphanumeric() || OPERATOR_ID_PUNCTUATION.contains(&b)) {
            return Err("characters");
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The citizen's service-request number: 1–64 characters, no control
/// characters. Arabic-Indic digits are mapped to ASCII so that a request
/// number typed either way is the same request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CaseRef(String);

impl CaseRef {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let normalised = super::digits::to_ascii_digits(input.trim());
        let len = normalised.chars().count();
        if len == 0 || len > CASE_REF_MAX_CHARS {
            return Err("length");
        }
        if normalised.chars().any(|c| c.is_control() || super::digits::is_format_mark(c)) {
            return Err("characters");
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A purpose named in configuration (purpose limitation). Whether it exists
/// is decided by the policy, so this only carries a syntactically sane name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Purpose(String);

impl Purpose {
    pub fn new(name: &str) -> Self {
        Self(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_operator_id_with_a_space_is_rejected() {
        assert_eq!(OperatorId::parse("EMP 1"), Err("characters"));
    }

    #[test]
    fn an_operator_id_of_65_characters_is_rejected() {
        assert_eq!(OperatorId::parse(&"a".repeat(65)), Err("length"));
        assert!(OperatorId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn a_case_ref_in_arabic_indic_digits_is_the_same_as_in_ascii() {
        assert_eq!(CaseRef::parse("SHR-٢٠٢٥-٠٠٠١٢٣").unwrap(), CaseRef::parse("SHR-2025-000123").unwrap());
    }

    #[test]
    fn an_empty_case_ref_is_rejected() {
        assert_eq!(CaseRef::parse("  "), Err("length"));
    }
}
