//! The key and the record of the commercial register.

use serde::Serialize;

/// A registration is unique only within its registry office (Law 34 of 1976),
/// so the office is part of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CompanyKey {
    /// The registry office's code in upper-case Latin letters, e.g. `ZAGAZIG`.
    pub office: String,
    /// 1–10 ASCII digits, as given (no leading zeros added or removed).
    pub registration_number: String,
}

/// One registration as the commercial register returns it. The trade name
/// is kept in the registry's own spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyRecord {
    pub registration_number: String,
    pub office: String,
    pub trade_name: String,
    /// 14 ASCII digits.
    pub owner_national_id: String,
    pub status: CompanyStatus,
    /// The day the registration expires unless renewed.
    pub expires_on: time::Date,
}

/// The state of a registration (`active`, `suspended`, `struck_off` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompanyStatus {
    Active,
    Suspended,
    /// Removed from the register (شطب).
    StruckOff,
}

impl CompanyStatus {
    pub const ALL: [CompanyStatus; 3] = [CompanyStatus::Active, CompanyStatus::Suspended, CompanyStatus::StruckOff];

    pub fn as_str(self) -> &'static str {
        match self {
            CompanyStatus::Active => "active",
            CompanyStatus::Suspended => "suspended",
            CompanyStatus::StruckOff => "struck_off",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        CompanyStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_status_serialises_as_its_wire_string() {
        for status in CompanyStatus::ALL {
            let json = serde_json::to_string(&status).expect("serialises");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(CompanyStatus::from_wire(status.as_str()), Some(status));
        }
        assert_eq!(CompanyStatus::from_wire("Active"), None);
        assert_eq!(CompanyStatus::from_wire("struck-off"), None);
    }
}
