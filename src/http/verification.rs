//! The tail every verification handler shares: look the key up through the
//! registry's resilience stack, match, record, answer.

use super::gate::AuditNote;
use crate::error::ApiError;
use crate::resilience::Resilient;
use crate::verify::{FieldMatch, Outcome, Source, Verification};
use actix_web::{HttpRequest, HttpResponse};
use connectors::{Lookup, Registry};
use serde::Serialize;
use std::collections::BTreeMap;

pub async fn lookup_and_answer<R: Registry, F: Serialize + utoipa::ToSchema>(
    registry: &Resilient<R>,
    key: &R::Key,
    req: &HttpRequest,
    note: &AuditNote,
    evaluate: impl FnOnce(&R::Record) -> (BTreeMap<String, FieldMatch>, F),
) -> Result<HttpResponse, ApiError> {
    let answer = registry.get(key, super::wants_revalidation(req)).await?;
    note.update(|n| n.cache = Some(answer.cache));
    let source = Source::new(R::NAME, answer.cache, answer.age());
    let request_id = super::request_id(req);
    let response: Verification<F> = match &answer.entry.lookup {
        Lookup::NotFound => Verification { request_id, outcome: Outcome::NotFound, fields: None, facts: None, source },
        Lookup::Found(record) => {
            let (fields, facts) = evaluate(record);
            Verification { request_id, outcome: Outcome::of(&fields), fields: Some(fields), facts: Some(facts), source }
        }
    };
    note.update(|n| n.outcome = Some(response.outcome.as_str().to_owned()));
    Ok(HttpResponse::Ok().json(response))
}

/// Parses an optional national-ID claim (`claims.owner_national_id`).
pub fn owner_claim(
    value: Option<&str>,
    errors: &mut Vec<crate::error::FieldError>,
) -> Option<crate::domain::national_id::NationalId> {
    let value = value?;
    crate::domain::national_id::NationalId::parse(value, time::OffsetDateTime::now_utc().date())
        .map_err(|e| errors.push(crate::error::FieldError::new("claims.owner_national_id", e.reason())))
        .ok()
}
