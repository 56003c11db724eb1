//! `POST /v1/security-checks` and `GET /v1/security-checks/{id}`.

use super::context_dto::{ContextDto, parse_context};
use super::gate::{AuditNote, Caller};
use super::json::ApiJson;
use super::state::AppState;
use crate::audit::{Action, now_rfc3339};
use crate::domain::national_id::NationalId;
use crate::error::{ApiError, FieldError, with_key_field};
use crate::security::{CheckView, verify_callback_url};
use crate::store::SecurityCheckRow;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitCheckRequest {
    pub national_id: String,
    /// `shop_license`, `employment` or `general`.
    pub check_type: String,
    pub context: ContextDto,
    /// Called with the decision, signed with `Bawaba-Signature`; must start
    /// with one of the client's configured callback prefixes.
    pub callback_url: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: String,
    pub status: &'static str,
    pub request_id: String,
}

#[utoipa::path(
    post, path = "/v1/security-checks", tag = "security", operation_id = "submit_security_check",
    request_body = SubmitCheckRequest,
    responses(
        (status = 202, description = "Accepted; poll `Location`, or wait for the callback", body = Accepted,
            headers(("Location" = String, description = "`/v1/security-checks/{id}`"))),
    ),
)]
pub async fn submit(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    req: HttpRequest,
    body: ApiJson<SubmitCheckRequest>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let mut errors = Vec::new();
    let context = parse_context(&body.context, &mut errors);
    note.update(|n| context.record(n));
    if !crate::security::CHECK_TYPES.contains(&body.check_type.as_str()) {
        errors.push(FieldError::new("check_type", "must be shop_license, employment or general"));
    }
    let client = state.clients.get(&caller.0.client_id).ok_or(ApiError::InvalidToken)?;
    let callback_url = body.callback_url.as_deref().and_then(|url| {
        verify_callback_url(url, &client.callback_prefixes)
            .map_err(|r| errors.push(FieldError::new("callback_url", r)))
            .ok()
    });
    let national_id = NationalId::parse(&body.national_id, time::OffsetDateTime::now_utc().date());
    let national_id = with_key_field(
        national_id.map_err(|e| {
            (ApiError::InvalidNationalId { reason: e.reason() }, FieldError::new("national_id", e.reason()))
        }),
        errors,
    )?;
    note.update(|n| n.subject = Some(national_id.as_str().to_owned()));
    context.authorise(&state, &caller.0, Action::SecurityCheckSubmit)?;

    let id = super::request_id(&req);
    let now = now_rfc3339();
    let row = SecurityCheckRow {
        id: id.clone(),
        client_id: caller.0.client_id.clone(),
        national_id: national_id.as_str().to_owned(),
        check_type: body.check_type,
        status: "pending".into(),
        ticket: None,
        submitted_at: now.clone(),
        decided_at: None,
        next_poll_at: now,
        attempts: 0,
        callback_url,
        callback_state: None,
        callback_attempts: 0,
        next_callback_at: None,
    };
    // Stored before the 202: from here the worker owns it, across restarts.
    state.audit.store().insert_security_check(&row).await?;
    note.update(|n| n.outcome = Some("accepted".into()));
    Ok(HttpResponse::Accepted().insert_header((header::LOCATION, format!("/v1/security-checks/{id}"))).json(Accepted {
        id: id.clone(),
        status: "pending",
        request_id: id,
    }))
}

#[utoipa::path(
    get, path = "/v1/security-checks/{id}", tag = "security", operation_id = "read_security_check",
    params(("id" = String, Path, description = "The id of the 202 (another client's check is 404)")),
    responses((status = 200, description = "The check's state", body = CheckView)),
)]
pub async fn read(
    state: web::Data<AppState>,
    caller: Caller,
    note: AuditNote,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if uuid::Uuid::parse_str(&id).is_err() {
        return Err(ApiError::NotFound);
    }
    let row = state.audit.store().security_check(&id).await?;
    // Another client's check is indistinguishable from one that does not exist.
    let row = row.filter(|r| r.client_id == caller.0.client_id).ok_or(ApiError::NotFound)?;
    note.update(|n| n.subject = Some(row.national_id.clone()));
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(CheckView::from(&row)))
}
