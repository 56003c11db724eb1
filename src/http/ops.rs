//! Operations endpoints: `/healthz`, `/readyz`, `/metrics`, `/openapi.json`.

use super::state::AppState;
use crate::resilience::CircuitState;
use actix_web::{HttpResponse, web};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Liveness {
    #[schema(pattern = "^ok$")]
    pub status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, `degraded` (a circuit is open, or an issuer's keys are not ok; still 200) or
    /// `not_ready` (the store is down, or the gateway is shutting down; 503).
    pub status: &'static str,
    pub store: &'static str,
    pub connectors: BTreeMap<&'static str, &'static str>,
    /// Each external issuer's keys: `ok`, `stale` (the last good keys, a
    /// refresh failed) or `unavailable` (its tokens are refused); not ok → `degraded`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub issuers: BTreeMap<String, &'static str>,
}

#[utoipa::path(get, path = "/healthz", tag = "operations", operation_id = "healthz",
    responses((status = 200, description = "The process is alive", body = Liveness)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Liveness { status: "ok" })
}

#[utoipa::path(get, path = "/readyz", tag = "operations", operation_id = "readyz",
    responses((status = 200, description = "Ready, or degraded (a circuit is open): keep routing", body = Readiness),
        (status = 503, description = "Not ready: the store is down, or the gateway is shutting down", body = Readiness,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying")))))]
pub async fn readyz(state: web::Data<AppState>, drain: web::Data<crate::shutdown::Drain>) -> HttpResponse {
    let store_up = state.audit.is_up();
    let draining = drain.is_draining();
    let states: Vec<(&'static str, CircuitState)> =
        state.registries.circuits().into_iter().map(|(name, c)| (name, c.state())).collect();
    let any_open = states.iter().any(|(_, s)| *s != CircuitState::Closed);
    let connectors: BTreeMap<&'static str, &'static str> = states.into_iter().map(|(n, s)| (n, s.as_str())).collect();
    let issuers: BTreeMap<String, &'static str> =
        state.tokens.external().states().into_iter().map(|(name, s)| (name, s.as_str())).collect();
    let any_open = any_open || issuers.values().any(|s| *s != "ok");
    let status = match (store_up && !draining, any_open) {
        (false, _) => "not_ready",
        (true, true) => "degraded",
        (true, false) => "ready",
    };
    let body = Readiness { status, store: if store_up && !draining { "ok" } else { "down" }, connectors, issuers };
    if store_up && !draining {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().insert_header(("Retry-After", "1")).json(body)
    }
}

#[utoipa::path(get, path = "/metrics", tag = "operations", operation_id = "metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    state.tokens.external().update_metrics();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
}

#[utoipa::path(get, path = "/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object)))]
pub async fn openapi(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(super::openapi::document(&super::openapi::Configured::of(&state)))
}
