//! `POST /v1/commercial-register/verify`.

use super::context_dto::{ContextDto, parse_context};
use super::gate::{AuditNote, Caller};
use super::json::ApiJson;
use super::state::AppState;
use super::verification::{lookup_and_answer, owner_claim};
use crate::audit::Action;
use crate::domain::arabic_name::match_name;
use crate::domain::registry_keys::{OfficeCode, RegistrationNumber};
use crate::error::{ApiError, FieldError};
use crate::verify::guessing::ClaimValue;
use crate::verify::{FieldMatch, Verification};
use actix_web::{HttpRequest, HttpResponse, web};
use connectors::commercial_register::{CompanyKey, CompanyStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyCompanyRequest {
    /// 1–10 digits, unique within its office.
    pub registration_number: String,
    /// The registry office, e.g. `ZAGAZIG`.
    pub office: String,
    #[serde(default)]
    pub claims: CompanyClaims,
    pub context: ContextDto,
    /// Ask for a signed receipt (CONTRACT §11) to print as a QR.
    #[serde(default)]
    pub receipt: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyClaims {
    pub trade_name: Option<String>,
    pub owner_national_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyFacts {
    #[schema(value_type = String)]
    pub status: CompanyStatus,
    #[schema(value_type = String, format = Date)]
    pub expires_on: String,
}

#[utoipa::path(
    post, path = "/v1/commercial-register/verify", tag = "verification", operation_id = "verify_commercial_register",
    request_body = VerifyCompanyRequest,
    responses((status = 200, description = "Match results and facts (`outcome` `not_found`: no record; `fields` and `facts` omitted)", body = inline(Verification<CompanyFacts>))),
)]
pub async fn verify(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    req: HttpRequest,
    body: ApiJson<VerifyCompanyRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mut errors = Vec::new();
    let context = parse_context(&body.context, &mut errors);
    note.update(|n| context.record(n));
    let number = RegistrationNumber::parse(&body.registration_number)
        .map_err(|r| errors.push(FieldError::new("registration_number", r)))
        .ok();
    let office = OfficeCode::parse(&body.office).map_err(|r| errors.push(FieldError::new("office", r))).ok();
    let owner = owner_claim(body.claims.owner_national_id.as_deref(), &mut errors);
    if let Some(name) = &body.claims.trade_name
        && (name.trim().is_empty() || name.chars().count() > 200)
    {
        errors.push(FieldError::new("claims.trade_name", "must be 1 to 200 characters"));
    }
    let (Some(number), Some(office), true) = (number, office, errors.is_empty()) else {
        return Err(ApiError::InvalidRequest { detail: None, errors });
    };
    note.update(|n| n.subject = Some(format!("{}/{}", office.as_str(), number.as_str())));
    context.authorise(&state, &caller.0, Action::CommercialRegisterVerify)?;
    let key = CompanyKey { office: office.as_str().to_owned(), registration_number: number.as_str().to_owned() };
    let trade_name = body.claims.trade_name;
    let guessable: Vec<ClaimValue> = [
        trade_name.as_deref().map(|n| ClaimValue::name("trade_name", n)),
        owner.as_ref().map(|o| ClaimValue::exact("owner_national_id", o.as_str())),
    ]
    .into_iter()
    .flatten()
    .collect();
    lookup_and_answer(&state.registries.commercial_register, &key, &req, &note, body.receipt, &guessable, |record| {
        let mut fields = BTreeMap::new();
        if let Some(claim) = &trade_name {
            fields.insert("trade_name".to_owned(), FieldMatch::scored(match_name(claim, &record.trade_name)));
        }
        if let Some(owner) = &owner {
            fields
                .insert("owner_national_id".to_owned(), FieldMatch::exact(owner.as_str() == record.owner_national_id));
        }
        let facts = CompanyFacts { status: record.status, expires_on: record.expires_on.to_string() };
        (fields, facts)
    })
    .await
}
