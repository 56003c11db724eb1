//! The gate every audited route passes: bearer authentication, the client's
//! rate limit, the action's scope, the store's health, and after the handler,
//! the audit event, durably committed before the answer leaves.
//!
//! Handlers add what only they know (subject, context, outcome, cache use) to
//! the request's [`AuditNote`].

use super::context::RequestContext;
use super::state::AppState;
use crate::audit::{Action, CacheUse, NewEvent};
use crate::auth::{Principal, retry_after_secs};
use crate::error::{ApiError, Problem};
use actix_web::body::BoxBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use futures::future::LocalBoxFuture;
use std::cell::RefCell;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

/// What the handler learned that the audit event must say.
#[derive(Debug, Default, Clone)]
pub struct AuditFacts {
    pub subject: Option<String>,
    pub operator_id: Option<String>,
    pub purpose: Option<String>,
    pub case_ref: Option<String>,
    /// For 2xx: `match`, `mismatch`, `not_found`, `accepted`; default `ok`.
    pub outcome: Option<String>,
    pub cache: Option<CacheUse>,
    /// Set by the token endpoint, which has no bearer principal.
    pub client_id: Option<String>,
    pub center_id: Option<String>,
    /// A receipt the answer carries, stored with the event.
    pub receipt: Option<crate::receipts::StoredReceipt>,
    /// The claim values that mismatched, stored with the event.
    pub claim_mismatches: Vec<crate::store::ClaimMismatchRow>,
}

/// Shared between the gate and the handler of one request.
#[derive(Debug, Clone, Default)]
pub struct AuditNote(pub Rc<RefCell<AuditFacts>>);

impl AuditNote {
    pub fn update(&self, f: impl FnOnce(&mut AuditFacts)) {
        f(&mut self.0.borrow_mut());
    }
}

impl FromRequest for AuditNote {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<AuditNote>().cloned().ok_or(ApiError::Internal))
    }
}

/// The authenticated caller, for handlers.
pub struct Caller(pub Arc<Principal>);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(req.extensions().get::<Arc<Principal>>().cloned().map(Caller).ok_or(ApiError::MissingToken))
    }
}

pub fn source_address(req: &HttpRequest) -> IpAddr {
    req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

fn bearer(req: &ServiceRequest) -> Result<&str, ApiError> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION).ok_or(ApiError::MissingToken)?;
    let value = value.to_str().map_err(|_| ApiError::InvalidToken)?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::InvalidToken)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::InvalidToken);
    }
    Ok(token.trim())
}

/// Before the handler: who is calling and may they. `Err` carries the refusal
/// and the principal (if known) to record it under.
/// A refusal, and the principal (if known) to record it under.
type Refusal = (ApiError, Option<Arc<Principal>>);

fn admit(state: &AppState, action: Action, req: &ServiceRequest) -> Result<Option<Arc<Principal>>, Refusal> {
    let Some(scopes) = action.required_scope() else {
        return Ok(None);
    };
    let token = bearer(req).map_err(|e| (e, None))?;
    let principal = state.tokens.validate(token).ok_or((ApiError::InvalidToken, None))?;
    let client = state.clients.get(&principal.client_id).ok_or((ApiError::InvalidToken, None))?;
    if let Err(not_until) = client.limiter.check() {
        return Err((ApiError::RateLimited { retry_after_secs: retry_after_secs(&not_until) }, Some(principal)));
    }
    if !scopes.iter().any(|s| principal.has(*s)) {
        return Err((
            ApiError::Forbidden { detail: "The token does not carry the scope this call needs." },
            Some(principal),
        ));
    }
    Ok(Some(principal))
}

/// Wraps a resource: `web::resource(..).wrap_fn(gate(Action::X))`.
pub fn gate<S>(
    action: Action,
) -> impl Fn(ServiceRequest, &S) -> LocalBoxFuture<'static, Result<ServiceResponse<BoxBody>, actix_web::Error>>
+ Clone
+ 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>,
    S::Future: 'static,
{
    move |req: ServiceRequest, srv: &S| {
        let state = req.app_data::<web::Data<AppState>>().cloned().expect("app state is registered");
        let ctx = req.extensions().get::<RequestContext>().cloned().expect("request context runs first");
        let note = AuditNote::default();
        req.extensions_mut().insert(note.clone());
        match admit(&state, action, &req) {
            Err((err, principal)) => {
                let unauthorized =
                    principal.is_none() && matches!(err, ApiError::MissingToken | ApiError::InvalidToken);
                let response = req.into_response(err.error_response());
                Box::pin(async move {
                    if unauthorized {
                        // 401s are recorded as auth.denied, within a quota per source address.
                        let source = source_address(response.request());
                        if state.rate.denied_audit_per_address.check_key(&source).is_err() {
                            state.metrics.auth_denied_unrecorded.inc();
                            return Ok(response);
                        }
                        return Ok(finish(&state, &ctx, Action::AuthDenied, None, &note, response).await);
                    }
                    Ok(finish(&state, &ctx, action, principal.as_deref(), &note, response).await)
                })
            }
            Ok(principal) => {
                if !state.audit.is_up() {
                    // Nothing is done that cannot be recorded.
                    let response = req.into_response(ApiError::StoreUnavailable.error_response());
                    return Box::pin(async move { Ok(response) });
                }
                if let Some(p) = &principal {
                    req.extensions_mut().insert(p.clone());
                }
                let fut = srv.call(req);
                Box::pin(async move {
                    let response = fut.await?;
                    Ok(finish(&state, &ctx, action, principal.as_deref(), &note, response).await)
                })
            }
        }
    }
}

/// Appends the event for `response`; if that fails, the answer becomes 503.
async fn finish(
    state: &AppState,
    ctx: &RequestContext,
    action: Action,
    principal: Option<&Principal>,
    note: &AuditNote,
    response: ServiceResponse<BoxBody>,
) -> ServiceResponse<BoxBody> {
    // A method the resource has no route for: actix answers a bare 405; make
    // it the problem the client will see, so the event records its code.
    let response = if response.status() == actix_web::http::StatusCode::METHOD_NOT_ALLOWED
        && response.response().extensions().get::<Problem>().is_none()
    {
        let (req, _) = response.into_parts();
        ServiceResponse::new(req, ApiError::MethodNotAllowed.error_response())
    } else {
        response
    };
    // The handler is done with the note: its facts move into the event.
    let facts = std::mem::take(&mut *note.0.borrow_mut());
    let status = response.status();
    let outcome = match response.response().extensions().get::<Problem>() {
        Some(p) => p.0.code().to_owned(),
        None => facts.outcome.clone().unwrap_or_else(|| {
            if status.is_success() {
                "ok"
            } else if status.is_server_error() {
                "internal"
            } else {
                "invalid_request"
            }
            .to_owned()
        }),
    };
    let event = NewEvent {
        id: ctx.id.clone(),
        at: crate::audit::now_rfc3339(),
        client_id: principal.map(|p| p.client_id.clone()).or(facts.client_id),
        center_id: principal.and_then(|p| p.center_id.clone()).or(facts.center_id),
        // An issuer that names the employee is believed over the body.
        operator_id: principal.and_then(|p| p.operator_id.clone()).or(facts.operator_id),
        action: Some(action),
        subject: facts.subject,
        purpose: facts.purpose,
        case_ref: facts.case_ref,
        outcome,
        http_status: status.as_u16(),
        cache: Some(facts.cache.unwrap_or(CacheUse::None)),
        duration_ms: ctx.started.elapsed().as_millis() as u64,
        receipt: facts.receipt.filter(|_| status.is_success()),
        claim_mismatches: if status.is_success() { facts.claim_mismatches } else { Vec::new() },
    };
    match state.audit.append(event).await {
        Ok(_) => response,
        Err(e) => {
            tracing::error!(action = action.as_str(), error = %e, "audit event not recorded; answering 503");
            let (req, _) = response.into_parts();
            ServiceResponse::new(req, ApiError::StoreUnavailable.error_response())
        }
    }
}
