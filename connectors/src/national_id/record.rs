//! The citizen record as the national-ID registry returns it.

use serde::Serialize;

/// One citizen as registered. The registry's own spelling of names is kept:
/// normalising for comparison is the gateway's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenRecord {
    /// 14 ASCII digits.
    pub national_id: String,
    /// Four names as registered: first, father, grandfather, family.
    pub full_name: String,
    pub birth_date: time::Date,
    pub gender: Sex,
    pub mother_name: String,
    pub alive: bool,
    pub card_status: CardStatus,
}

/// Sex as registered (`male` / `female` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        match value {
            "male" => Some(Sex::Male),
            "female" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// The state of the citizen's national ID card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Valid,
    Expired,
    ReportedLost,
}

impl CardStatus {
    pub const ALL: [CardStatus; 3] = [CardStatus::Valid, CardStatus::Expired, CardStatus::ReportedLost];

    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Valid => "valid",
            CardStatus::Expired => "expired",
            CardStatus::ReportedLost => "reported_lost",
        }
    }

    /// Reads the wire form.
    pub fn from_wire(value: &str) -> Option<Self> {
        match value {
            "valid" => Some(CardStatus::Valid),
            "expired" => Some(CardStatus::Expired),
            "reported_lost" => Some(CardStatus::ReportedLost),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_status_serialises_as_its_wire_string() {
        for status in [CardStatus::Valid, CardStatus::Expired, CardStatus::ReportedLost] {
            let json = serde_json::to_string(&status).expect("serialises");
            assert_eq!(json, format!("\"{}\"", status.as_str()));
            assert_eq!(CardStatus::from_wire(status.as_str()), Some(status));
        }
    }

    #[test]
    fn sex_serialises_as_its_wire_string() {
        for sex in [Sex::Male, Sex::Female] {
            let json = serde_json::to_string(&sex).expect("serialises");
            assert_eq!(json, format!("\"{}\"", sex.as_str()));
            assert_eq!(Sex::from_wire(sex.as_str()), Some(sex));
        }
        assert_eq!(Sex::from_wire("Male"), None);
    }
}
