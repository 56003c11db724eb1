//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Bawaba", description = "The gateway between citizen-service centers and the national registries."),
    paths(
        super::token::issue, super::token::jwks,
        super::verify_national_id::verify, super::verify_commercial_register::verify, super::verify_real_estate::verify,
        super::security_checks::submit, super::security_checks::read,
        super::sms::send, super::sms::read, super::sms::delivery_report, super::sms::inbound,
        super::audit_api::events, super::audit_api::integrity, super::audit_api::export, super::audit_api::volume,
        super::ops::healthz, super::ops::readyz, super::ops::metrics,
        super::receipts::qr_svg, super::receipts::qr_png, super::receipts::trust_list, super::receipts::verify,
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
