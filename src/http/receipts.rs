//! Receipts over HTTP (CONTRACT §11): the QR of a receipt for the client it
//! was issued to, the trust list, and `POST /receipts/verify` for anyone.
//! Verifying is not audited (a receipt carries no personal data); it is
//! counted in metrics and rate-limited per source address, so a flood costs
//! neither the log nor the CPU much.

use super::gate::{Caller, source_address};
use super::json::ApiJson;
use super::state::AppState;
use crate::auth::retry_after_secs;
use crate::error::ApiError;
use crate::receipts::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

/// The receipt `id` if it is the caller's and still valid; 404 otherwise
/// (another client's receipt is indistinguishable from none).
async fn own_receipt(state: &AppState, caller: &Caller, id: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(id).map_err(|_| ApiError::NotFound)?;
    let stored = state.audit.store().receipt(id).await.map_err(|_| ApiError::StoreUnavailable)?;
    let now = crate::receipts::payload::format_time(time::OffsetDateTime::now_utc().unix_timestamp());
    match stored {
        Some(r) if r.client_id == caller.0.client_id && r.expires_at > now => Ok(r.code),
        _ => Err(ApiError::NotFound),
    }
}

#[utoipa::path(
    get, path = "/v1/receipts/{id}/qr.svg", tag = "receipts", operation_id = "receipt_qr_svg",
    params(("id" = String, Path, description = "The receipt id (the verify call's request id)")),
    responses(
        (status = 200, description = "The receipt's QR code, 20 mm wide, error correction M", content_type = "image/svg+xml", body = String),
        (status = 404, description = "No such receipt of this client, or expired", body = crate::error::ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["national_id:verify"]), ("bearer" = ["commercial_register:verify"]), ("bearer" = ["real_estate:verify"]))
)]
pub async fn qr_svg(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = own_receipt(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().content_type("image/svg+xml").body(crate::receipts::qr::svg(&code)))
}

#[utoipa::path(
    get, path = "/v1/receipts/{id}/qr.png", tag = "receipts", operation_id = "receipt_qr_png",
    params(("id" = String, Path, description = "The receipt id (the verify call's request id)")),
    responses(
        (status = 200, description = "The receipt's QR code as PNG (8 px a module, sized to print 20 mm wide)", content_type = "image/png", body = Vec<u8>),
        (status = 404, description = "No such receipt of this client, or expired", body = crate::error::ProblemBody, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["national_id:verify"]), ("bearer" = ["commercial_register:verify"]), ("bearer" = ["real_estate:verify"]))
)]
pub async fn qr_png(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = own_receipt(&state, &caller, &id).await?;
    Ok(HttpResponse::Ok().content_type("image/png").body(crate::receipts::qr::png(&code, 8)))
}

#[utoipa::path(
    get, path = "/.well-known/bawaba-receipt-keys.json", tag = "receipts", operation_id = "receipt_keys",
    responses((status = 200, description = "The receipt keys (JWKS): every key still valid for an unexpired receipt"))
)]
pub async fn trust_list(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .json(state.receipts.trusted().jwks())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyReceiptRequest {
    /// The text of the QR: `BW1:` and Base45.
    pub code: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VerifyReceiptResponse {
    /// Genuine (signed by a trusted key, the format) and not expired.
    pub valid: bool,
    /// Why not: `too_long`, `not_a_receipt`, `encoding`, `structure`,
    /// `unknown_key`, `bad_signature`, `payload`, `expired`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// What the receipt says (also for an expired one, whose signature is good).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Payload>,
}

#[utoipa::path(
    post, path = "/receipts/verify", tag = "receipts", operation_id = "verify_receipt",
    request_body = VerifyReceiptRequest,
    responses(
        (status = 200, description = "Whether the receipt is genuine, why not, and what it says", body = VerifyReceiptResponse),
        (status = 400, body = crate::error::ProblemBody, content_type = "application/problem+json"),
        (status = 413, body = crate::error::ProblemBody, content_type = "application/problem+json"),
        (status = 429, description = "Too many verifications from this address", body = crate::error::ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn verify(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    // The limit comes before the body is read, so a flood is cheap to refuse.
    if let Err(not_until) = state.rate.receipt_verify_per_address.check_key(&source_address(&req)) {
        state.metrics.receipt_verifications.with_label_values(&["rate_limited"]).inc();
        return Err(ApiError::RateLimited { retry_after_secs: retry_after_secs(&not_until) });
    }
    let body = ApiJson::<VerifyReceiptRequest>::from_request(&req, &mut payload.into_inner()).await?;
    let answer = match state.receipts.verify(&body.0.code) {
        Ok(payload) => VerifyReceiptResponse { valid: true, reason: None, receipt: Some(payload) },
        Err((refusal, payload)) => {
            VerifyReceiptResponse { valid: false, reason: Some(refusal.as_str()), receipt: payload.map(|p| *p) }
        }
    };
    state.metrics.receipt_verifications.with_label_values(&[answer.reason.unwrap_or("valid")]).inc();
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(answer))
}
