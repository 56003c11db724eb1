//! The rules of CONTRACT §3–4 that every operation shares, written into the
//! OpenAPI document from the code that enforces them: which errors an
//! operation can answer (statuses and codes from [`ApiError`]), the headers
//! every answer carries, and who may call (scopes from [`Action`], the gate's
//! own table).

use super::body::{CALLBACK_LIMIT, FORM_LIMIT, JSON_LIMIT};
use crate::audit::Action;
use crate::auth::Scope;
use crate::error::{ApiError, PROBLEM_JSON};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The security scheme of bearer tokens, and of the SMSC's signature.
pub const OAUTH2: &str = "oauth2";
pub const SMSC_SIGNATURE: &str = "smscSignature";
pub const CLIENT_BASIC: &str = "clientBasic";

/// How an operation takes its body, which decides the body errors it can answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    Nothing,
    Json,
    /// JSON signed by the SMSC (`Bawaba-Signature`), not a bearer token.
    SignedJson,
    /// The token endpoint's form; its own errors are RFC 6749's.
    TokenForm,
}

struct Operation {
    /// The gate's action: its scope is the operation's security, and a gated
    /// call can answer 503 `store_unavailable` (nothing is done unrecorded).
    action: Option<Action>,
    takes: Takes,
    /// Errors of the operation itself, beyond those of its kind.
    errors: Vec<ApiError>,
}

fn invalid() -> ApiError {
    ApiError::InvalidRequest { detail: None, errors: vec![] }
}

fn forbidden() -> ApiError {
    ApiError::Forbidden { detail: "" }
}

fn registry_failures() -> [ApiError; 2] {
    [ApiError::UpstreamUnavailable { retry_after_secs: 1 }, ApiError::UpstreamTimeout]
}

/// Every operation by `operationId`. A missing one fails the document's test.
fn operation(id: &str) -> Option<Operation> {
    use Action as A;
    let op = |action, takes, errors| Some(Operation { action, takes, errors });
    let nid = || ApiError::InvalidNationalId { reason: "length" };
    // The claim-guessing stop (CONTRACT §13).
    let guessing = || ApiError::TooManyMismatches { retry_after_secs: 1 };
    match id {
        "issue_token" => op(Some(A::TokenIssue), Takes::TokenForm, vec![]),
        "verify_national_id" => op(
            Some(A::NationalIdVerify),
            Takes::Json,
            [vec![nid(), forbidden(), guessing()], registry_failures().into()].concat(),
        ),
        "verify_commercial_register" => op(
            Some(A::CommercialRegisterVerify),
            Takes::Json,
            [vec![forbidden(), guessing()], registry_failures().into()].concat(),
        ),
        "verify_real_estate" => op(
            Some(A::RealEstateVerify),
            Takes::Json,
            [vec![forbidden(), guessing()], registry_failures().into()].concat(),
        ),
        "submit_security_check" => op(Some(A::SecurityCheckSubmit), Takes::Json, vec![nid(), forbidden()]),
        "read_security_check" => op(Some(A::SecurityCheckRead), Takes::Nothing, vec![ApiError::NotFound]),
        "send_sms" => op(
            Some(A::SmsSend),
            Takes::Json,
            vec![
                ApiError::InvalidPhone { reason: "length" },
                forbidden(),
                ApiError::IdempotencyConflict,
                ApiError::RecipientOptedOut,
            ],
        ),
        "read_sms" => op(Some(A::SmsRead), Takes::Nothing, vec![ApiError::NotFound]),
        "sms_delivery_report" => op(Some(A::SmsDeliveryReport), Takes::SignedJson, vec![ApiError::NotFound]),
        "sms_inbound" => op(Some(A::SmsInbound), Takes::SignedJson, vec![ApiError::InvalidPhone { reason: "length" }]),
        "query_audit_events" | "audit_volume" | "audit_stats" | "audit_signals" => {
            op(Some(A::AuditQuery), Takes::Nothing, vec![invalid()])
        }
        "export_audit_events" => op(Some(A::AuditExport), Takes::Nothing, vec![invalid()]),
        "audit_integrity" => op(Some(A::AuditIntegrity), Takes::Nothing, vec![]),
        "receipt_qr_svg" | "receipt_qr_png" => op(Some(A::ReceiptQr), Takes::Nothing, vec![ApiError::NotFound]),
        // Public, limited per source address; never audited.
        "verify_receipt" => op(None, Takes::Json, vec![ApiError::RateLimited { retry_after_secs: 1 }]),
        "receipt_keys" | "jwks" | "healthz" | "readyz" | "metrics" | "openapi" | "auditor_page" | "docs" => {
            op(None, Takes::Nothing, vec![])
        }
        _ => None,
    }
}

/// The errors `op` can answer, in the order of the contract's list.
fn errors_of(op: &Operation) -> Vec<ApiError> {
    let mut errors = Vec::new();
    match op.takes {
        Takes::Json | Takes::SignedJson => {
            errors.extend([invalid(), ApiError::PayloadTooLarge, ApiError::UnsupportedMediaType])
        }
        Takes::TokenForm => errors.push(ApiError::PayloadTooLarge),
        Takes::Nothing => {}
    }
    let bearer = op.action.and_then(Action::required_scope).is_some();
    if bearer {
        errors.extend([ApiError::MissingToken, ApiError::InvalidToken, forbidden()]);
        errors.push(ApiError::RateLimited { retry_after_secs: 1 });
    }
    if op.takes == Takes::SignedJson {
        errors.push(ApiError::BadSignature);
    }
    if op.takes == Takes::TokenForm {
        // Limited per source address.
        errors.push(ApiError::RateLimited { retry_after_secs: 1 });
    }
    errors.extend(op.errors.iter().cloned());
    if op.action.is_some() {
        errors.push(ApiError::StoreUnavailable);
    }
    let mut seen = std::collections::HashSet::new();
    errors.retain(|e| seen.insert((e.code(), e.status().as_u16(), challenge(e).is_some())));
    errors
}

/// The `WWW-Authenticate` challenge an error carries, as `error_response` sends it.
fn challenge(e: &ApiError) -> Option<&'static str> {
    match e {
        ApiError::MissingToken => Some("`Bearer`"),
        ApiError::InvalidToken => Some("`Bearer error=\"invalid_token\"`"),
        _ => None,
    }
}

fn header(description: &str, schema: Value) -> Value {
    json!({"description": description, "schema": schema})
}

pub fn request_id_header() -> Value {
    header("The request's id; for `/v1` calls, the id of its audit event.", json!({"type": "string", "format": "uuid"}))
}

/// The problem responses of `errors`, one per status.
fn problem_responses(errors: &[ApiError], v1: bool) -> BTreeMap<String, Value> {
    let mut by_status: BTreeMap<u16, Vec<&ApiError>> = BTreeMap::new();
    for e in errors {
        by_status.entry(e.status().as_u16()).or_default().push(e);
    }
    by_status
        .into_iter()
        .map(|(status, errors)| {
            let mut codes: Vec<&str> = errors.iter().map(|e| e.code()).collect();
            codes.dedup();
            let mut description = format!(
                "`application/problem+json` with `code` {}.",
                codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(" or ")
            );
            let mut headers = Map::new();
            if errors.iter().any(|e| e.retry_after().is_some()) {
                headers.insert(
                    "Retry-After".into(),
                    header("Seconds to wait before retrying.", json!({"type": "integer", "minimum": 1})),
                );
            }
            let challenges: Vec<&str> = errors.iter().filter_map(|e| challenge(e)).collect();
            if !challenges.is_empty() {
                headers.insert(
                    "WWW-Authenticate".into(),
                    header(
                        &format!("{} (RFC 6750).", challenges.join(" for a missing token, ")),
                        json!({"type": "string"}),
                    ),
                );
            }
            if errors.iter().any(|e| matches!(e, ApiError::BadSignature)) {
                description.push_str(" A missing or wrong `Bawaba-Signature` carries no challenge.");
            }
            if v1 {
                headers.insert("Cache-Control".into(), no_store());
            }
            let response = json!({
                "description": description,
                "headers": headers,
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}},
            });
            (status.to_string(), response)
        })
        .collect()
}

fn no_store() -> Value {
    header("`no-store`: the answer may carry personal data.", json!({"type": "string", "const": "no-store"}))
}

/// The token endpoint's own errors (RFC 6749 §5.2), sent as `application/json`.
fn token_errors(responses: &mut Map<String, Value>) {
    let content = json!({"application/json": {"schema": {"$ref": "#/components/schemas/OAuthError"}}});
    let cache = header("`no-store`.", json!({"type": "string", "const": "no-store"}));
    responses.insert(
        "400".into(),
        json!({"description": "`invalid_request`, `unsupported_grant_type` or `invalid_scope` (RFC 6749 §5.2).",
               "headers": {"Cache-Control": cache}, "content": content}),
    );
    responses.insert(
        "401".into(),
        json!({"description": "`invalid_client`: unknown client or wrong secret.",
               "headers": {"Cache-Control": cache,
                           "WWW-Authenticate": header("`Basic realm=\"bawaba\"` when the client authenticated with HTTP Basic, else `Bearer`.", json!({"type": "string"}))},
               "content": content}),
    );
}

/// Writes the shared rules into every operation of `doc`.
pub fn apply(doc: &mut Value) {
    let paths = doc["paths"].as_object_mut().expect("the document has paths");
    for (path, item) in paths.iter_mut() {
        let v1 = path.starts_with("/v1/");
        for (_method, op) in item.as_object_mut().expect("a path item is an object").iter_mut() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            let rules = operation(&id).unwrap_or_else(|| panic!("no rules for operation `{id}` of {path}"));
            let op = op.as_object_mut().expect("an operation is an object");
            let responses = op.entry("responses").or_insert_with(|| json!({}));
            let responses = responses.as_object_mut().expect("responses is an object");
            for (status, response) in problem_responses(&errors_of(&rules), v1) {
                responses.insert(status, response);
            }
            if rules.takes == Takes::TokenForm {
                token_errors(responses);
            }
            for (status, response) in responses.iter_mut() {
                let response = response.as_object_mut().expect("a response is an object");
                let headers = response.entry("headers").or_insert_with(|| json!({}));
                let headers = headers.as_object_mut().expect("headers is an object");
                headers.insert("X-Request-Id".into(), request_id_header());
                if v1 && status.starts_with('2') {
                    headers.insert("Cache-Control".into(), no_store());
                }
            }
            let scope = rules.action.and_then(Action::required_scope);
            match (scope, rules.takes) {
                // Any one of the scopes: one requirement each (OpenAPI ORs them).
                (Some(scopes), _) => {
                    let any: Vec<_> = scopes.iter().map(|scope| json!({ OAUTH2: [scope.as_str()] })).collect();
                    op.insert("security".into(), json!(any));
                }
                (None, Takes::SignedJson) => {
                    op.insert("security".into(), json!([{ SMSC_SIGNATURE: [] }]));
                }
                (None, Takes::TokenForm) => {
                    op.insert("security".into(), json!([{}, { CLIENT_BASIC: [] }]));
                }
                (None, _) => {}
            }
            if let Some(limit) = match rules.takes {
                Takes::Json => Some(JSON_LIMIT),
                Takes::SignedJson => Some(CALLBACK_LIMIT),
                Takes::TokenForm => Some(FORM_LIMIT),
                Takes::Nothing => None,
            } && let Some(body) = op.get_mut("requestBody")
            {
                let text = body["description"].as_str().map(|d| format!("{d} ")).unwrap_or_default();
                body["description"] = json!(format!("{text}At most {} KiB.", limit / 1024));
            }
        }
    }
    let components = doc["components"].as_object_mut().expect("the document has components");
    components.insert("securitySchemes".into(), security_schemes());
    let schemas = components.entry("schemas").or_insert_with(|| json!({}));
    schemas["OAuthError"] = json!({
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {
            "error": {"type": "string", "enum": ["invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope"]},
            "error_description": {"type": "string"},
        },
    });
    let codes: Vec<&str> = {
        let mut codes: Vec<&str> = ApiError::examples().iter().map(|e| e.code()).collect();
        codes.dedup();
        codes
    };
    schemas["ProblemBody"]["properties"]["code"]["enum"] = json!(codes);
    schemas["ProblemBody"]["properties"]["code"]["description"] = json!("Stable and machine-readable (CONTRACT §4).");
    schemas["ProblemBody"]["properties"]["detail"]["description"] =
        json!("In English, or Arabic when the request says `Accept-Language: ar`.");
}

fn security_schemes() -> Value {
    let scopes: Map<String, Value> = Scope::ALL
        .iter()
        .map(|s| {
            let what = match s {
                Scope::NationalIdVerify => "Verify claims against the national-ID registry",
                Scope::CommercialRegisterVerify => "Verify claims against the commercial register",
                Scope::RealEstateVerify => "Verify claims against the real-estate registry",
                Scope::SecurityCheck => "Submit and read security checks",
                Scope::SmsSend => "Send and read SMS status notifications",
                Scope::AuditRead => "Read, export and verify the audit log",
            };
            (s.as_str().to_owned(), json!(what))
        })
        .collect();
    json!({
        OAUTH2: {
            "type": "oauth2",
            "description": "A JWT from `POST /oauth/token` as `Authorization: Bearer <token>`. A missing token is 401 with `WWW-Authenticate: Bearer`, a bad one 401 with `Bearer error=\"invalid_token\"`, a token without the scope 403 `forbidden`.",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": scopes}},
        },
        CLIENT_BASIC: {
            "type": "http", "scheme": "basic",
            "description": "The client's id and secret for `POST /oauth/token`, instead of the form fields.",
        },
        SMSC_SIGNATURE: {
            "type": "apiKey", "in": "header", "name": "Bawaba-Signature",
            "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + \".\" + body)>` with the SMSC's shared secret, over the raw body.",
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_call_with_a_token_documents_every_common_error() {
        let op = operation("verify_real_estate").unwrap();
        let statuses: Vec<u16> = errors_of(&op).iter().map(|e| e.status().as_u16()).collect();
        for status in [400, 401, 403, 413, 415, 429, 503, 504] {
            assert!(statuses.contains(&status), "{status} in {statuses:?}");
        }
    }

    #[test]
    fn the_smsc_callbacks_document_a_401_without_a_challenge() {
        let responses = problem_responses(&errors_of(&operation("sms_inbound").unwrap()), true);
        assert!(responses["401"]["headers"].get("WWW-Authenticate").is_none());
        assert!(!responses.contains_key("403"));
    }
}
