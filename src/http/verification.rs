//! The tail every verification handler shares: the claim-guessing stop, look
//! the key up through the registry's resilience stack, match, count the claim
//! values that mismatched, sign a receipt when asked, record, answer.

use super::gate::AuditNote;
use crate::error::ApiError;
use crate::resilience::Resilient;
use crate::verify::guessing::ClaimValue;
use crate::verify::{FieldMatch, Outcome, Source, Verification};
use actix_web::{HttpMessage, HttpRequest, HttpResponse};
use connectors::{Lookup, Registry};
use serde::Serialize;
use std::collections::BTreeMap;

pub async fn lookup_and_answer<R: Registry, F: Serialize + utoipa::ToSchema>(
    registry: &Resilient<R>,
    key: &R::Key,
    req: &HttpRequest,
    note: &AuditNote,
    receipt: bool,
    claims: &[ClaimValue],
    evaluate: impl FnOnce(&R::Record) -> (BTreeMap<String, FieldMatch>, F),
) -> Result<HttpResponse, ApiError> {
    let state = req.app_data::<actix_web::web::Data<super::state::AppState>>().ok_or(ApiError::Internal)?.clone();
    let client = req.extensions().get::<std::sync::Arc<crate::auth::Principal>>().map(|p| p.client_id.clone());
    let client = client.ok_or(ApiError::Internal)?;
    let subject = note.0.borrow().subject.clone().unwrap_or_default();
    // Before the cache: a stopped claim is answered from nowhere.
    state.guessing.check(&client, &subject, claims).await?;
    let answer = registry.get(key, super::wants_revalidation(req)).await?;
    note.update(|n| n.cache = Some(answer.cache));
    let source = Source::new(R::NAME, answer.cache, answer.age());
    let request_id = super::request_id(req);
    let mut response: Verification<F> = match &answer.entry.lookup {
        Lookup::NotFound => {
            Verification { request_id, outcome: Outcome::NotFound, fields: None, facts: None, source, receipt: None }
        }
        Lookup::Found(record) => {
            let (fields, facts) = evaluate(record);
            let outcome = Outcome::of(&fields);
            let mismatched: Vec<&ClaimValue> =
                claims.iter().filter(|c| fields.get(c.claim).is_some_and(|f| !f.matched)).collect();
            let rows = state.guessing.rows(&client, &subject, &mismatched);
            note.update(|n| n.claim_mismatches = rows);
            Verification { request_id, outcome, fields: Some(fields), facts: Some(facts), source, receipt: None }
        }
    };
    if receipt {
        response.receipt = Some(issue_receipt(req, note, R::NAME, &response)?);
    }
    note.update(|n| n.outcome = Some(response.outcome.as_str().to_owned()));
    Ok(HttpResponse::Ok().json(response))
}

/// Signs the receipt of `answer`. Its row goes to the note: the gate stores
/// it with the audit event, in one transaction, or not at all.
fn issue_receipt<F: Serialize + utoipa::ToSchema>(
    req: &HttpRequest,
    note: &AuditNote,
    registry: &str,
    answer: &Verification<F>,
) -> Result<crate::receipts::IssuedReceipt, ApiError> {
    let state = req.app_data::<actix_web::web::Data<super::state::AppState>>().ok_or(ApiError::Internal)?;
    let principal = req.extensions().get::<std::sync::Arc<crate::auth::Principal>>().cloned();
    let principal = principal.ok_or(ApiError::Internal)?;
    let id = uuid::Uuid::parse_str(&answer.request_id).map_err(|_| ApiError::Internal)?;
    let fields = answer.fields.as_ref().map(|f| f.iter().map(|(k, v)| (k.clone(), v.matched)).collect::<Vec<_>>());
    let case_ref = note.0.borrow().case_ref.clone();
    let payload = crate::receipts::Payload::of_verification(
        id,
        (0, 0),
        registry,
        answer.outcome.as_str(),
        fields,
        principal.center_id.clone(),
        case_ref,
    )
    .map_err(|e| {
        tracing::error!(error = %e, registry, "a verification answer the receipt format cannot say");
        ApiError::Internal
    })?;
    let (issued, stored) = state.receipts.issue(payload, &principal.client_id);
    note.update(|n| n.receipt = Some(stored));
    state.metrics.receipts_issued.inc();
    Ok(issued)
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
