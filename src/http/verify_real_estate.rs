//! `POST /v1/real-estate/verify`.

use super::context_dto::{ContextDto, parse_context};
use super::gate::{AuditNote, Caller};
use super::json::ApiJson;
use super::state::AppState;
use super::verification::{lookup_and_answer, owner_claim};
use crate::audit::Action;
use crate::domain::registry_keys::PropertyId;
use crate::error::{ApiError, FieldError};
use crate::verify::{FieldMatch, Verification};
use actix_web::{HttpRequest, HttpResponse, web};
use connectors::real_estate::RegistrationStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyPropertyRequest {
    /// `GOV-DISTRICT-NNNNNN`, e.g. `SHR-ZAG-000123`.
    pub property_id: String,
    #[serde(default)]
    pub claims: PropertyClaims,
    pub context: ContextDto,
    /// Ask for a signed receipt (CONTRACT §11) to print as a QR.
    #[serde(default)]
    pub receipt: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PropertyClaims {
    pub owner_national_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PropertyFacts {
    #[schema(value_type = String)]
    pub registration_status: RegistrationStatus,
    pub encumbered: bool,
}

#[utoipa::path(
    post, path = "/v1/real-estate/verify", tag = "verification", operation_id = "verify_real_estate",
    request_body = VerifyPropertyRequest,
    responses((status = 200, description = "Match results and facts (`outcome` `not_found`: no record; `fields` and `facts` omitted)", body = inline(Verification<PropertyFacts>))),
)]
pub async fn verify(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    req: HttpRequest,
    body: ApiJson<VerifyPropertyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mut errors = Vec::new();
    let context = parse_context(&body.context, &mut errors);
    note.update(|n| context.record(n));
    let property =
        PropertyId::parse(&body.property_id).map_err(|r| errors.push(FieldError::new("property_id", r))).ok();
    let owner = owner_claim(body.claims.owner_national_id.as_deref(), &mut errors);
    let (Some(property), true) = (property, errors.is_empty()) else {
        return Err(ApiError::InvalidRequest { detail: None, errors });
    };
    note.update(|n| n.subject = Some(property.as_str().to_owned()));
    context.authorise(&state, &caller.0, Action::RealEstateVerify)?;
    lookup_and_answer(
        &state.registries.real_estate,
        &property.as_str().to_owned(),
        &req,
        &note,
        body.receipt,
        &owner
            .iter()
            .map(|o| crate::verify::guessing::ClaimValue::exact("owner_national_id", o.as_str()))
            .collect::<Vec<_>>(),
        |record| {
            let mut fields = BTreeMap::new();
            if let Some(owner) = &owner {
                fields.insert(
                    "owner_national_id".to_owned(),
                    FieldMatch::exact(owner.as_str() == record.owner_national_id),
                );
            }
            (fields, PropertyFacts { registration_status: record.registration_status, encumbered: record.encumbered })
        },
    )
    .await
}
