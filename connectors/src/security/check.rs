//! What the gateway submits to the security directorate and what it learns back.

use serde::Serialize;

/// One security check to submit. `Debug` never prints the national ID.
#[derive(Clone, PartialEq, Eq)]
pub struct Submission {
    /// The gateway's check id (a UUID). The directorate is idempotent on it:
    /// submitting the same reference again returns the same ticket.
    pub reference: String,
    /// 14 ASCII digits, already validated by the gateway.
    pub national_id: String,
    pub check_type: CheckType,
}

impl std::fmt::Debug for Submission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Submission")
            .field("reference", &self.reference)
            .field("national_id", &"<redacted>")
            .field("check_type", &self.check_type)
            .finish()
    }
}

/// Why the check is asked for (`shop_license`, `employment`, `general` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckType {
    ShopLicense,
    Employment,
    General,
}

impl CheckType {
    pub const ALL: [CheckType; 3] = [CheckType::ShopLicense, CheckType::Employment, CheckType::General];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckType::ShopLicense => "shop_license",
            CheckType::Employment => "employment",
            CheckType::General => "general",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        CheckType::ALL.into_iter().find(|t| t.as_str() == value)
    }
}

/// The directorate's handle on one submitted check: an opaque string, kept
/// by the gateway to ask for the decision.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ticket(pub String);

impl Ticket {
    /// Whether a ticket can be sent back as it is: 1–128 characters from
    /// RFC 3986's unreserved set (`A–Z a–z 0–9 - . _ ~`).
    pub fn is_well_formed(&self) -> bool {
        (1..=128).contains(&self.0.len())
            && self.0.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    }
}

/// Where a check stands (`pending`, `cleared`, `not_cleared` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Not decided yet: ask again later.
    Pending,
    Cleared,
    NotCleared,
}

impl Decision {
    pub const ALL: [Decision; 3] = [Decision::Pending, Decision::Cleared, Decision::NotCleared];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Pending => "pending",
            Decision::Cleared => "cleared",
            Decision::NotCleared => "not_cleared",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        Decision::ALL.into_iter().find(|d| d.as_str() == value)
    }

    /// Whether this is the final answer.
    pub fn is_final(self) -> bool {
        self != Decision::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_types_and_decisions_serialise_as_their_wire_strings() {
        for check_type in CheckType::ALL {
            assert_eq!(serde_json::to_string(&check_type).expect("serialises"), format!("\"{}\"", check_type.as_str()));
            assert_eq!(CheckType::from_wire(check_type.as_str()), Some(check_type));
        }
        for decision in Decision::ALL {
            assert_eq!(serde_json::to_string(&decision).expect("serialises"), format!("\"{}\"", decision.as_str()));
            assert_eq!(Decision::from_wire(decision.as_str()), Some(decision));
        }
        assert_eq!(CheckType::from_wire("shop-license"), None);
        assert_eq!(Decision::from_wire("Cleared"), None);
        assert!(!Decision::Pending.is_final() && Decision::NotCleared.is_final());
    }

    #[test]
    fn a_submission_never_prints_the_national_id() {
        let submission = Submission {
            reference: "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c".into(),
            national_id: "29505058800051".into(),
            check_type: CheckType::General,
        };
        assert!(!format!("{submission:?}").contains("29505058800051"));
    }

    #[test]
    fn tickets_are_well_formed_only_with_unreserved_characters() {
        assert!(Ticket("SEC-00ff".into()).is_well_formed());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(!Ticket(bad.into()).is_well_formed(), "{bad:?}");
        }
    }
}
