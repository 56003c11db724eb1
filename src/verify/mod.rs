//! Matching citizens' claims against registry records, and the shape of a
//! verification answer (match results and a few facts, never the record).

pub mod guessing;
pub mod national_id;

use crate::audit::CacheUse;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Match,
    Mismatch,
    NotFound,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Match => "match",
            Outcome::Mismatch => "mismatch",
            Outcome::NotFound => "not_found",
        }
    }

    /// `match` when every field matched (or there were none), else `mismatch`.
    pub fn of(fields: &BTreeMap<String, FieldMatch>) -> Outcome {
        if fields.values().all(|f| f.matched) { Outcome::Match } else { Outcome::Mismatch }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldMatch {
    #[serde(rename = "match")]
    pub matched: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl FieldMatch {
    pub fn exact(matched: bool) -> Self {
        FieldMatch { matched, score: None }
    }
    pub fn scored(m: crate::domain::arabic_name::NameMatch) -> Self {
        FieldMatch { matched: m.matched, score: Some(m.score) }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Source {
    pub registry: &'static str,
    pub cached: bool,
    pub age_seconds: u64,
    pub stale: bool,
}

impl Source {
    pub fn new(registry: &'static str, cache: CacheUse, age: std::time::Duration) -> Self {
        Source {
            registry,
            cached: matches!(cache, CacheUse::Hit | CacheUse::Stale),
            age_seconds: age.as_secs(),
            stale: cache == CacheUse::Stale,
        }
    }
}

/// The answer of every verification endpoint.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Verification<F: Serialize + utoipa::ToSchema> {
    pub request_id: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, FieldMatch>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facts: Option<F>,
    pub source: Source,
    /// Only when the request asked for one (`"receipt": true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<crate::receipts::IssuedReceipt>,
}
