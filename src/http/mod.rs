//! The HTTP API: the route table and the helpers handlers share.

pub mod audit_api;
mod audit_signals;
mod audit_stats;
mod auditor_page;
pub mod body;
pub mod context;
mod context_dto;
mod docs;
mod embedded_page;
pub mod gate;
pub mod issuer_keys;
pub mod json;
mod json_objects;
pub mod openapi;
mod openapi_constraints;
mod openapi_rules;
mod ops;
mod receipts;
mod receipts_page;
mod security_checks;
pub(crate) mod sms;
pub mod smsc_wire;
pub mod state;
mod token;
pub mod trace;
mod verification;
mod verify_commercial_register;
mod verify_national_id;
mod verify_real_estate;

use crate::audit::Action;
use crate::error::ApiError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::DefaultHeaders;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use gate::gate;

/// A resource at `path` whose other methods are 405 `method_not_allowed`
/// with `Allow: allow` (inside the resource's middleware, so on `/v1` the
/// gate authenticates and records it like any call).
fn only(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || method_not_allowed(allow)))
}

async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    let mut response = ApiError::MethodNotAllowed.error_response();
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// The route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(only("/oauth/token", "POST").wrap_fn(gate(Action::TokenIssue)).route(web::post().to(token::issue)))
        .service(only("/.well-known/jwks.json", "GET").route(web::get().to(token::jwks)))
        .service(only("/healthz", "GET").route(web::get().to(ops::healthz)))
        .service(only("/readyz", "GET").route(web::get().to(ops::readyz)))
        .service(only("/metrics", "GET").route(web::get().to(ops::metrics)))
        .service(only("/openapi.json", "GET").route(web::get().to(ops::openapi)))
        .configure(auditor_page::configure)
        .configure(docs::configure)
        .service(only("/.well-known/bawaba-receipt-keys.json", "GET").route(web::get().to(receipts::trust_list)))
        .service(only("/receipts/verify", "POST").route(web::post().to(receipts::verify)))
        .configure(receipts_page::configure)
        .service(
            web::scope("/v1")
                // Every /v1 answer may carry personal data: no cache keeps it.
                .wrap(DefaultHeaders::new().add((header::CACHE_CONTROL, "no-store")))
                .service(
                    only("/national-id/verify", "POST")
                        .wrap_fn(gate(Action::NationalIdVerify))
                        .route(web::post().to(verify_national_id::verify)),
                )
                .service(
                    only("/commercial-register/verify", "POST")
                        .wrap_fn(gate(Action::CommercialRegisterVerify))
                        .route(web::post().to(verify_commercial_register::verify)),
                )
                .service(
                    only("/real-estate/verify", "POST")
                        .wrap_fn(gate(Action::RealEstateVerify))
                        .route(web::post().to(verify_real_estate::verify)),
                )
                .service(
                    only("/security-checks", "POST")
                        .wrap_fn(gate(Action::SecurityCheckSubmit))
                        .route(web::post().to(security_checks::submit)),
                )
                .service(
                    only("/security-checks/{id}", "GET")
                        .wrap_fn(gate(Action::SecurityCheckRead))
                        .route(web::get().to(security_checks::read)),
                )
                .service(only("/sms", "POST").wrap_fn(gate(Action::SmsSend)).route(web::post().to(sms::send)))
                .service(
                    only("/sms/delivery-reports", "POST")
                        .wrap_fn(gate(Action::SmsDeliveryReport))
                        .route(web::post().to(sms::delivery_report)),
                )
                .service(
                    only("/sms/inbound", "POST").wrap_fn(gate(Action::SmsInbound)).route(web::post().to(sms::inbound)),
                )
                .service(only("/sms/{id}", "GET").wrap_fn(gate(Action::SmsRead)).route(web::get().to(sms::read)))
                .service(
                    only("/receipts/{id}/qr.svg", "GET")
                        .wrap_fn(gate(Action::ReceiptQr))
                        .route(web::get().to(receipts::qr_svg)),
                )
                .service(
                    only("/receipts/{id}/qr.png", "GET")
                        .wrap_fn(gate(Action::ReceiptQr))
                        .route(web::get().to(receipts::qr_png)),
                )
                .service(
                    only("/audit/events", "GET")
                        .wrap_fn(gate(Action::AuditQuery))
                        .route(web::get().to(audit_api::events)),
                )
                .service(
                    only("/audit/export", "GET")
                        .wrap_fn(gate(Action::AuditExport))
                        .route(web::get().to(audit_api::export)),
                )
                .service(
                    only("/audit/volume", "GET")
                        .wrap_fn(gate(Action::AuditQuery))
                        .route(web::get().to(audit_api::volume)),
                )
                .service(
                    only("/audit/signals", "GET")
                        .wrap_fn(gate(Action::AuditQuery))
                        .route(web::get().to(audit_signals::signals)),
                )
                .service(
                    only("/audit/stats", "GET")
                        .wrap_fn(gate(Action::AuditQuery))
                        .route(web::get().to(audit_stats::stats)),
                )
                .service(
                    only("/audit/integrity", "GET")
                        .wrap_fn(gate(Action::AuditIntegrity))
                        .route(web::get().to(audit_api::integrity)),
                ),
        )
        .default_service(web::to(not_found));
}

/// Headers on every answer: no MIME sniffing of what the API sends, and on
/// the TLS listener, HSTS (browsers, e.g. the auditors' page, never fall
/// back to plain HTTP for this host).
pub fn security_headers(tls: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if tls { headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")) } else { headers }
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// `Cache-Control: no-cache` (or `max-age=0`) on a request asks for revalidation.
pub fn wants_revalidation(req: &HttpRequest) -> bool {
    req.headers().get_all(actix_web::http::header::CACHE_CONTROL).filter_map(|v| v.to_str().ok()).any(|v| {
        v.split(',').map(str::trim).any(|d| d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("max-age=0"))
    })
}

pub fn request_id(req: &HttpRequest) -> String {
    req.extensions().get::<context::RequestContext>().map(|c| c.id.clone()).unwrap_or_default()
}
