//! The property record as the real-estate registry returns it.

use serde::Serialize;

/// One property (parcel or unit) as registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyRecord {
    /// `GOV-DISTRICT-NNNNNN` in the sandbox, e.g. `SHR-ZAG-000123`.
    pub property_id: String,
    /// 14 ASCII digits.
    pub owner_national_id: String,
    pub registration_status: RegistrationStatus,
    /// Whether a mortgage, lien or seizure is recorded against the property.
    pub encumbered: bool,
}

/// Where the property stands in the registry (`registered`, `pending`,
/// `unregistered` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationStatus {
    /// Registered title (مسجل).
    Registered,
    /// A registration application is in progress.
    Pending,
    /// Known to the registry but without registered title.
    Unregistered,
}

impl RegistrationStatus {
    pub const ALL: [RegistrationStatus; 3] =
        [RegistrationStatus::Registered, RegistrationStatus::Pending, RegistrationStatus::Unregistered];

    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationStatus::Registered => "registered",
            RegistrationStatus::Pending => "pending",
            RegistrationStatus::Unregistered => "unregistered",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        RegistrationStatus::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_status_serialises_as_its_wire_string() {
        for status in RegistrationStatus::ALL {
            let json = serde_json::to_string(&status).expect("serialises");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(RegistrationStatus::from_wire(status.as_str()), Some(status));
        }
        assert_eq!(RegistrationStatus::from_wire("Registered"), None);
    }
}
