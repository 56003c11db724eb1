//! `GET /v1/audit/signals?from&to` (scope `audit:read`, audited as
//! `audit.query`): leads for inspectors (CONTRACT §13), never verdicts.

use super::audit_api::{Allow, parse_query};
use super::audit_stats::bound_window;
use super::state::AppState;
use crate::audit::signals::{Signal, find};
use crate::error::{ApiError, FieldError};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignalsReport {
    /// The window searched (RFC 3339; `from` inclusive, `to` exclusive).
    pub from: String,
    pub to: String,
    pub signals: Vec<Signal>,
}

#[utoipa::path(
    get, path = "/v1/audit/signals", tag = "audit", operation_id = "audit_signals",
    description = "Accesses an inspector should review (CONTRACT §13): `claim_guessing`, `no_case_ref`, `off_hours`, \
        `many_subjects`, `many_centers`, with thresholds in `[signals]`. Each lists its first events (at most 100), \
        retrievable through /v1/audit/events. The window defaults to the 31 days before `to` (default now) and may not \
        exceed 92 days. A signal is a lead to review, never a verdict.",
    params(
        ("from" = Option<String>, Query, description = "RFC 3339, inclusive"), ("to" = Option<String>, Query, description = "RFC 3339, exclusive")
    ),
    responses((status = 200, description = "The signals of the window", body = SignalsReport)),
)]
pub async fn signals(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let (q, _) = parse_query(req.query_string(), Allow::FiltersOnly)?;
    let mut filter = q.filter;
    let extra: Vec<FieldError> = filter
        .equalities()
        .into_iter()
        .map(|(k, _)| FieldError::new(k, "not a parameter of this endpoint (only from and to)"))
        .collect();
    if !extra.is_empty() {
        return Err(ApiError::InvalidRequest { detail: None, errors: extra });
    }
    bound_window(&mut filter)?;
    let (from, to) = (filter.from.unwrap_or_default(), filter.to.unwrap_or_default());
    let signals = find(state.audit.store(), &state.signals, &from, &to).await?;
    Ok(HttpResponse::Ok().json(SignalsReport { from, to, signals }))
}
