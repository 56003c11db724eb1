//! National-ID claims: names after Arabic normalisation (with scores), birth
//! date, gender, mother's name.

use super::FieldMatch;
use super::guessing::ClaimValue;
use crate::domain::arabic_name::match_name;
use crate::domain::national_id::Gender;
use connectors::national_id::{CardStatus, CitizenRecord, Sex};
use serde::Serialize;
use std::collections::BTreeMap;

/// Claims after parsing.
#[derive(Debug, Clone, Default)]
pub struct Claims {
    pub full_name: Option<String>,
    pub birth_date: Option<time::Date>,
    pub gender: Option<Gender>,
    pub mother_name: Option<String>,
}

impl Claims {
    /// The claims as the guessing stop compares them.
    pub fn guessable(&self) -> Vec<ClaimValue> {
        let mut values = Vec::new();
        if let Some(name) = &self.full_name {
            values.push(ClaimValue::name("full_name", name));
        }
        if let Some(date) = self.birth_date {
            values.push(ClaimValue::exact("birth_date", date.to_string()));
        }
        if let Some(gender) = self.gender {
            values.push(ClaimValue::exact("gender", format!("{gender:?}")));
        }
        if let Some(name) = &self.mother_name {
            values.push(ClaimValue::name("mother_name", name));
        }
        values
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Facts {
    pub alive: bool,
    #[schema(value_type = String)]
    pub card_status: CardStatus,
}

pub fn facts(record: &CitizenRecord) -> Facts {
    Facts { alive: record.alive, card_status: record.card_status }
}

pub fn match_claims(claims: &Claims, record: &CitizenRecord) -> BTreeMap<String, FieldMatch> {
    let mut fields = BTreeMap::new();
    if let Some(name) = &claims.full_name {
        fields.insert("full_name".into(), FieldMatch::scored(match_name(name, &record.full_name)));
    }
    if let Some(date) = claims.birth_date {
        fields.insert("birth_date".into(), FieldMatch::exact(date == record.birth_date));
    }
    if let Some(gender) = claims.gender {
        let registry = match record.gender {
            Sex::Male => Gender::Male,
            Sex::Female => Gender::Female,
        };
        fields.insert("gender".into(), FieldMatch::exact(gender == registry));
    }
    if let Some(name) = &claims.mother_name {
        fields.insert("mother_name".into(), FieldMatch::scored(match_name(name, &record.mother_name)));
    }
    fields
}
