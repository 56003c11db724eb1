//! `POST /oauth/token`: OAuth 2.0 client credentials (RFC 6749 §4.4), with
//! errors as RFC 6749 §5.2.

use super::body::{Body, FORM_LIMIT};
use super::gate::{AuditNote, source_address};
use super::state::AppState;
use crate::auth::{Scope, retry_after_secs};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use std::collections::HashMap;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    #[schema(pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds.
    pub expires_in: u64,
    pub scope: String,
}

fn oauth_error(status: u16, error: &'static str, description: &str, basic: bool) -> HttpResponse {
    let mut b = HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("valid status"));
    b.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == 401 {
        b.insert_header((header::WWW_AUTHENTICATE, if basic { "Basic realm=\"bawaba\"" } else { "Bearer" }));
    }
    b.json(serde_json::json!({ "error": error, "error_description": description }))
}

/// The client's credentials from HTTP Basic, if sent that way.
fn basic_credentials(req: &HttpRequest) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    // RFC 6749 §2.3.1: both are form-urlencoded before Basic encoding.
    let unescape =
        |s: &str| url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((unescape(id)?, unescape(secret)?))
}

/// The form of `POST /oauth/token` (RFC 6749 §4.4).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // Read field by field from the form; this is its schema.
pub struct TokenRequest {
    #[schema(value_type = String, pattern = "^client_credentials$")]
    grant_type: String,
    /// Omitted when the client authenticates with HTTP Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Space-separated subset of the client's scopes; all of them when omitted.
    scope: Option<String>,
}

#[utoipa::path(
    post, path = "/oauth/token", tag = "auth", operation_id = "issue_token",
    description = "OAuth 2.0 client credentials (RFC 6749 §4.4): the client's id and secret as form fields or HTTP Basic, not both.",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "A token (a JWT, at most 15 minutes)", body = TokenResponse,
        headers(("Cache-Control" = String, description = "`no-store`"))))
)]
pub async fn issue(
    state: web::Data<AppState>,
    note: AuditNote,
    req: HttpRequest,
    body: Body<FORM_LIMIT>,
) -> Result<HttpResponse, ApiError> {
    let body = body.0;
    let source = source_address(&req);
    if let Err(not_until) = state.rate.token_per_address.check_key(&source) {
        return Err(ApiError::RateLimited { retry_after_secs: retry_after_secs(&not_until) });
    }
    let fail = |outcome: &str, resp: HttpResponse| {
        note.update(|n| n.outcome = Some(outcome.to_owned()));
        Ok(resp)
    };
    let form_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !form_type {
        return fail(
            "invalid_request",
            oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded", false),
        );
    }
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(&body) {
        if params.insert(k.into_owned(), v.into_owned()).is_some() {
            return fail(
                "invalid_request",
                oauth_error(400, "invalid_request", "a parameter was given more than once", false),
            );
        }
    }
    match params.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(_) => {
            return fail(
                "invalid_request",
                oauth_error(400, "unsupported_grant_type", "only client_credentials is supported", false),
            );
        }
        None => return fail("invalid_request", oauth_error(400, "invalid_request", "grant_type is required", false)),
    }
    let basic = basic_credentials(&req);
    let via_basic = basic.is_some();
    let credentials = match (basic, params.get("client_id"), params.get("client_secret")) {
        (Some(_), _, Some(_)) => {
            return fail(
                "invalid_request",
                oauth_error(400, "invalid_request", "use one authentication method", false),
            );
        }
        (Some(pair), _, None) => Some(pair),
        (None, Some(id), Some(secret)) => Some((id.clone(), secret.clone())),
        _ => None,
    };
    let Some((client_id, secret)) = credentials else {
        return fail(
            "unauthorized",
            oauth_error(401, "invalid_client", "client authentication is required", via_basic),
        );
    };
    if client_id.len() <= 128 {
        note.update(|n| n.subject = Some(client_id.clone()));
    }
    let registry = state.clients.clone();
    let id = client_id.clone();
    // argon2 is deliberately slow: keep it off the async workers.
    let client = web::block(move || registry.authenticate(&id, &secret)).await.map_err(|_| ApiError::Internal)?;
    let Some(client) = client else {
        return fail("unauthorized", oauth_error(401, "invalid_client", "unknown client or wrong secret", via_basic));
    };
    note.update(|n| {
        n.client_id = Some(client.client_id.clone());
        n.center_id = client.center_id.clone();
    });
    let scopes: Vec<Scope> = match params.get("scope") {
        None => client.scopes.clone(),
        Some(requested) => {
            let mut scopes = Vec::new();
            for s in requested.split_whitespace() {
                match Scope::parse(s) {
                    Some(scope) if client.scopes.contains(&scope) => scopes.push(scope),
                    _ => {
                        return fail(
                            "invalid_request",
                            oauth_error(
                                400,
                                "invalid_scope",
                                "a requested scope is not allowed for this client",
                                false,
                            ),
                        );
                    }
                }
            }
            if scopes.is_empty() {
                return fail("invalid_request", oauth_error(400, "invalid_scope", "the scope is empty", false));
            }
            scopes
        }
    };
    let token = state.tokens.issue(&client.client_id, client.center_id.as_deref(), &scopes).map_err(|e| {
        tracing::error!(error = %e, "token signing failed");
        ApiError::Internal
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(TokenResponse {
            access_token: token,
            token_type: "Bearer",
            expires_in: state.tokens.ttl().as_secs(),
            scope: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
        }))
}

/// A JSON Web Key Set (RFC 7517).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // The keys are built as JSON by the token service; this is their schema.
pub struct Jwks {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<serde_json::Value>,
}

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", operation_id = "jwks",
    responses((status = 200, description = "The gateway's token verification keys (JWKS)", body = Jwks,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")))))]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=300")).json(state.tokens.jwks())
}
