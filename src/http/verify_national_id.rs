//! `POST /v1/national-id/verify`.

use super::context_dto::{ContextDto, parse_context};
use super::gate::{AuditNote, Caller};
use super::json::ApiJson;
use super::state::AppState;
use crate::audit::Action;
use crate::domain::national_id::{CheckDigit, Gender, NationalId};
use crate::error::{ApiError, FieldError, with_key_field};
use crate::verify::Verification;
use crate::verify::national_id::{Claims, Facts, facts, match_claims};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyNationalIdRequest {
    /// 14 digits; Arabic-Indic digits, spaces and hyphens are accepted.
    pub national_id: String,
    #[serde(default)]
    pub claims: ClaimsDto,
    pub context: ContextDto,
    /// Ask for a signed receipt (CONTRACT §11) to print as a QR.
    #[serde(default)]
    pub receipt: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimsDto {
    pub full_name: Option<String>,
    /// YYYY-MM-DD.
    pub birth_date: Option<String>,
    /// `male` or `female`.
    pub gender: Option<String>,
    pub mother_name: Option<String>,
}

fn parse_claims(dto: ClaimsDto, errors: &mut Vec<FieldError>) -> Claims {
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    let birth_date = dto.birth_date.and_then(|d| {
        time::Date::parse(&crate::domain::digits::to_ascii_digits(&d), date_format)
            .map_err(|_| errors.push(FieldError::new("claims.birth_date", "not a date (YYYY-MM-DD)")))
            .ok()
    });
    let gender = dto.gender.and_then(|g| match g.as_str() {
        "male" => Some(Gender::Male),
        "female" => Some(Gender::Female),
        _ => {
            errors.push(FieldError::new("claims.gender", "must be male or female"));
            None
        }
    });
    for (field, value) in [("claims.full_name", &dto.full_name), ("claims.mother_name", &dto.mother_name)] {
        if value.as_ref().is_some_and(|v| v.trim().is_empty() || v.chars().count() > 200) {
            errors.push(FieldError::new(field, "must be 1 to 200 characters"));
        }
    }
    Claims { full_name: dto.full_name, birth_date, gender, mother_name: dto.mother_name }
}

#[utoipa::path(
    post, path = "/v1/national-id/verify", tag = "verification", operation_id = "verify_national_id",
    request_body = VerifyNationalIdRequest,
    responses((status = 200, description = "Match results and facts (`outcome` `not_found`: no record; `fields` and `facts` omitted)", body = inline(Verification<Facts>))),
)]
pub async fn verify(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    req: HttpRequest,
    body: ApiJson<VerifyNationalIdRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mut errors = Vec::new();
    let context = parse_context(&body.context, &mut errors);
    note.update(|n| context.record(n));
    let claims = parse_claims(body.claims, &mut errors);
    let national_id = NationalId::parse(&body.national_id, time::OffsetDateTime::now_utc().date());
    let national_id = with_key_field(
        national_id.map_err(|e| {
            (ApiError::InvalidNationalId { reason: e.reason() }, FieldError::new("national_id", e.reason()))
        }),
        errors,
    )?;
    note.update(|n| n.subject = Some(national_id.as_str().to_owned()));
    context.authorise(&state, &caller.0, Action::NationalIdVerify)?;

    let signal = match national_id.check_digit() {
        CheckDigit::Consistent => "consistent",
        CheckDigit::Inconsistent => "inconsistent",
        CheckDigit::Undetermined => "undetermined",
    };
    state.metrics.check_digit.with_label_values(&[signal]).inc();

    // Citizens who texted NOTIFY hear of this call (CONTRACT §12).
    state.citizens.data_called();
    super::verification::lookup_and_answer(
        &state.registries.national_id,
        &national_id.as_str().to_owned(),
        &req,
        &note,
        body.receipt,
        &claims.guessable(),
        |record| (match_claims(&claims, record), facts(record)),
    )
    .await
}
