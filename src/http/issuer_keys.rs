//! Before the gate (which is synchronous): a bearer token of a configured
//! external issuer whose `kid` the key cache lacks, and which passed the
//! cheap checks, waits for that issuer's one shared refetch (at most one per
//! cooldown; see `auth::external`). The gate then verifies it as any token.

use super::state::AppState;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, web};

pub async fn await_issuer_keys(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let missing = req.app_data::<web::Data<AppState>>().and_then(|state| {
        let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        state.tokens.missing_external_key(token.trim())
    });
    if let Some((keys, kid)) = missing {
        keys.refetch_for(&kid).await;
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}
