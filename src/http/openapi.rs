//! The OpenAPI 3.1 document: paths and bodies from the handlers' annotations,
//! then the rules every call shares (errors, headers, security: see
//! [`super::openapi_rules`]) and the constraints the parsers enforce (see
//! [`super::openapi_constraints`]), both from the same constants the server
//! uses, so the document cannot promise what the server does not do.

use super::state::AppState;
use serde_json::Value;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Bawaba",
        description = "The gateway between citizen-service centers and the national registries.\n\n\
            Every `/v1` call needs a bearer token from `POST /oauth/token` (OAuth 2.0 client credentials), \
            except the SMSC's two callbacks, which are signed with `Bawaba-Signature`. \
            Errors are `application/problem+json` (RFC 9457) with a stable `code`; every answer carries `X-Request-Id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        super::token::issue, super::token::jwks,
        super::verify_national_id::verify, super::verify_commercial_register::verify, super::verify_real_estate::verify,
        super::security_checks::submit, super::security_checks::read,
        super::sms::send, super::sms::read, super::sms::delivery_report, super::sms::inbound,
        super::audit_api::events, super::audit_api::integrity, super::audit_api::export, super::audit_api::volume,
        super::audit_stats::stats, super::audit_signals::signals,
        super::ops::healthz, super::ops::readyz, super::ops::metrics, super::ops::openapi,
        super::receipts::qr_svg, super::receipts::qr_png, super::receipts::trust_list, super::receipts::verify,
    ),
    components(schemas(crate::error::ProblemBody)),
    tags(
        (name = "auth", description = "Tokens (OAuth 2.0 client credentials) and their keys"),
        (name = "verification", description = "Match a citizen's claims against a registry; only match results and a few facts leave the gateway"),
        (name = "security", description = "Security checks by the security directorate (asynchronous)"),
        (name = "sms", description = "Status notifications on short code 5960, and the SMSC's callbacks"),
        (name = "audit", description = "The hash-chained audit log (scope audit:read)"),
        (name = "receipts", description = "Signed verification receipts: their QR codes, the keys that sign them, and checking one"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

/// What of the configuration the document states: the purposes a call may
/// name and the SMS templates and statuses that exist.
pub struct Configured {
    pub purposes: Vec<String>,
    pub templates: Vec<String>,
    pub template_params: Vec<(String, Vec<String>)>,
    pub statuses: Vec<String>,
}

impl Configured {
    pub fn of(state: &AppState) -> Configured {
        let templates = &state.sms.templates;
        Configured {
            purposes: state.policy.purposes(),
            templates: templates.templates.keys().cloned().collect(),
            template_params: templates.templates.iter().map(|(k, t)| (k.clone(), t.params.clone())).collect(),
            statuses: templates.statuses.keys().cloned().collect(),
        }
    }
}

/// The document as `/openapi.json` serves it.
pub fn document(configured: &Configured) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
    super::openapi_rules::apply(&mut doc);
    super::openapi_constraints::apply(&mut doc, configured);
    for (path, what) in [
        ("/audit", "The auditors' page (Arabic, right-to-left, with English)"),
        ("/docs/", "This reference (Swagger UI)"),
    ] {
        let op = serde_json::json!({"get": {
            "tags": ["operations"], "operationId": if path == "/audit" { "auditor_page" } else { "docs" },
            "summary": what,
            "responses": {"200": {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}},
                "headers": {"X-Request-Id": super::openapi_rules::request_id_header()}}},
        }});
        doc["paths"][path] = op;
    }
    doc
}
