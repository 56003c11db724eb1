//! The HTTP API: the route table and the helpers handlers share.

pub mod audit_api;
mod auditor_page;
pub mod context;
mod context_dto;
pub mod gate;
pub mod json;
pub mod openapi;
mod ops;
mod security_checks;
mod sms;
pub mod state;
mod token;
mod verification;
mod verify_commercial_register;
mod verify_national_id;
mod verify_real_estate;

use crate::audit::Action;
use crate::error::ApiError;
use actix_web::{HttpMessage, HttpRequest, web};
use gate::gate;

/// The route table.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/oauth/token").wrap_fn(gate(Action::TokenIssue)).route(web::post().to(token::issue)))
        .route("/.well-known/jwks.json", web::get().to(token::jwks))
        .route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/openapi.json", web::get().to(ops::openapi))
        .configure(auditor_page::configure)
        .service(
            web::scope("/v1")
                .service(
                    web::resource("/national-id/verify")
                        .wrap_fn(gate(Action::NationalIdVerify))
                        .route(web::post().to(verify_national_id::verify)),
                )
                .service(
                    web::resource("/commercial-register/verify")
                        .wrap_fn(gate(Action::CommercialRegisterVerify))
                        .route(web::post().to(verify_commercial_register::verify)),
                )
                .service(
                    web::resource("/real-estate/verify")
                        .wrap_fn(gate(Action::RealEstateVerify))
                        .route(web::post().to(verify_real_estate::verify)),
                )
                .service(
                    web::resource("/security-checks")
                        .wrap_fn(gate(Action::SecurityCheckSubmit))
                        .route(web::post().to(security_checks::submit)),
                )
                .service(
                    web::resource("/security-checks/{id}")
                        .wrap_fn(gate(Action::SecurityCheckRead))
                        .route(web::get().to(security_checks::read)),
                )
                .service(web::resource("/sms").wrap_fn(gate(Action::SmsSend)).route(web::post().to(sms::send)))
                .service(
                    web::resource("/sms/delivery-reports")
                        .wrap_fn(gate(Action::SmsDeliveryReport))
                        .route(web::post().to(sms::delivery_report)),
                )
                .service(
                    web::resource("/sms/inbound").wrap_fn(gate(Action::SmsInbound)).route(web::post().to(sms::inbound)),
                )
                .service(web::resource("/sms/{id}").wrap_fn(gate(Action::SmsRead)).route(web::get().to(sms::read)))
                .service(
                    web::resource("/audit/events")
                        .wrap_fn(gate(Action::AuditQuery))
                        .route(web::get().to(audit_api::events)),
                )
                .service(
                    web::resource("/audit/export")
                        .wrap_fn(gate(Action::AuditExport))
                        .route(web::get().to(audit_api::export)),
                )
                .service(
                    web::resource("/audit/volume")
                        .wrap_fn(gate(Action::AuditQuery))
                        .route(web::get().to(audit_api::volume)),
                )
                .service(
                    web::resource("/audit/integrity")
                        .wrap_fn(gate(Action::AuditIntegrity))
                        .route(web::get().to(audit_api::integrity)),
                ),
        )
        .default_service(web::to(not_found));
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
