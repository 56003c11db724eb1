//! The constraints the parsers enforce, written into the OpenAPI document's
//! schemas from the parsers' own constants (patterns, lengths, enums,
//! bounds), and an example from the sandbox's fixtures on each request body.
//! Rules a schema cannot say (a birth date that exists, a cursor of the same
//! query) stay in the descriptions.

use super::audit_api::{FILTERS, LIMIT_DEFAULT, LIMIT_MAX, QUERY_VALUE_MAX_CHARS};
use super::openapi::Configured;
use crate::audit::Action;
use crate::audit::export::Format;
use crate::domain::context::{CASE_REF_MAX_CHARS, OPERATOR_ID_MAX_CHARS, operator_id_pattern};
use crate::sms::{ENCODINGS, IDEMPOTENCY_KEY_MAX, Lang, MESSAGE_STATUSES};
use connectors::commercial_register::CompanyStatus;
use connectors::national_id::CardStatus;
use connectors::real_estate::RegistrationStatus;
use serde_json::{Value, json};

/// Merges `patch` into property `prop` of component schema `schema`; a
/// schema or property that does not exist (renamed in the code) panics, so
/// the document's test catches the drift.
fn set(doc: &mut Value, schema: &str, prop: &str, patch: Value) {
    let target = doc
        .pointer_mut(&format!("/components/schemas/{schema}/properties/{prop}"))
        .unwrap_or_else(|| panic!("no property {prop} in schema {schema}"));
    merge(target, patch);
}

/// Merges `patch` into fact `fact` of the 200 answer of the verification at `path`.
fn set_fact(doc: &mut Value, path: &str, fact: &str, patch: Value) {
    let pointer = format!(
        "/paths/{}/post/responses/200/content/application~1json/schema/properties/facts/properties/{fact}",
        path.replace('/', "~1")
    );
    merge(doc.pointer_mut(&pointer).unwrap_or_else(|| panic!("no fact {fact} in the answer of {path}")), patch);
}

fn merge(target: &mut Value, patch: Value) {
    let (Some(target), Value::Object(patch)) = (target.as_object_mut(), patch) else {
        panic!("only objects are merged")
    };
    for (k, v) in patch {
        target.insert(k, v);
    }
}

fn schema_mut<'a>(doc: &'a mut Value, schema: &str) -> &'a mut Value {
    doc.pointer_mut(&format!("/components/schemas/{schema}")).unwrap_or_else(|| panic!("no schema {schema}"))
}

/// Every property of `schema` is always sent (a null, not an absence).
fn all_required(doc: &mut Value, schema: &str) {
    let s = schema_mut(doc, schema);
    let names: Vec<Value> = s["properties"].as_object().expect("properties").keys().map(|k| json!(k)).collect();
    s["required"] = Value::Array(names);
}

fn enumeration<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Value {
    json!({"enum": values.into_iter().map(|v| v.as_ref().to_owned()).collect::<Vec<_>>()})
}

fn national_id() -> Value {
    json!({
        "type": "string",
        "pattern": crate::domain::national_id::pattern(),
        "description": "14 digits: century (2 or 3), a birth date YYMMDD that exists and is not in the future, \
            a governorate code, a serial and a check digit. Arabic-Indic or Eastern Arabic digits, spaces and hyphens \
            are accepted and normalised; a failure is 400 `invalid_national_id` with the reason.",
        "examples": ["29001011300036"],
    })
}

fn context(doc: &mut Value, configured: &Configured) {
    set(
        doc,
        "ContextDto",
        "operator_id",
        json!({"pattern": operator_id_pattern(), "minLength": 1, "maxLength": OPERATOR_ID_MAX_CHARS}),
    );
    set(
        doc,
        "ContextDto",
        "purpose",
        json!({"enum": configured.purposes, "description": "A configured purpose (CONTRACT §2): one this client may state and that allows the action, else 403 `forbidden`."}),
    );
    // Spaces are trimmed, so the first and last characters are not spaces;
    // control and invisible format characters are refused.
    let visible = r"[^\s\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]";
    let inner = r"[^\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]";
    set(
        doc,
        "ContextDto",
        "case_ref",
        json!({"minLength": 1, "maxLength": CASE_REF_MAX_CHARS, "pattern": format!("^{visible}({inner}*{visible})?$")}),
    );
}

fn verification(doc: &mut Value) {
    set(doc, "VerifyNationalIdRequest", "national_id", national_id());
    *doc.pointer_mut("/components/schemas/ClaimsDto/properties/gender").expect("a gender claim") = json!({
        "anyOf": [{"type": "string", "enum": ["male", "female"]}, {"type": "null"}],
    });
    set(doc, "ClaimsDto", "birth_date", json!({"format": "date"}));
    for (schema, prop) in [("ClaimsDto", "full_name"), ("ClaimsDto", "mother_name"), ("CompanyClaims", "trade_name")] {
        set(doc, schema, prop, json!({"minLength": 1, "maxLength": 200, "pattern": r"\S"}));
    }
    for schema in ["CompanyClaims", "PropertyClaims"] {
        let mut owner = national_id();
        owner["type"] = json!(["string", "null"]);
        set(doc, schema, "owner_national_id", owner);
    }
    set(
        doc,
        "VerifyCompanyRequest",
        "registration_number",
        json!({"pattern": "^[0-9]{1,10}$", "examples": ["123456"]}),
    );
    set(
        doc,
        "VerifyCompanyRequest",
        "office",
        json!({"pattern": "^[A-Za-z][A-Za-z _-]{0,31}$", "examples": ["ZAGAZIG"]}),
    );
    set(
        doc,
        "VerifyPropertyRequest",
        "property_id",
        json!({"pattern": "^[A-Za-z]{2,5}-[A-Za-z]{2,5}-[0-9]{6}$", "examples": ["SHR-ZAG-000123"]}),
    );
    set_fact(doc, "/v1/commercial-register/verify", "status", enumeration(CompanyStatus::ALL.map(|s| s.as_str())));
    set_fact(
        doc,
        "/v1/real-estate/verify",
        "registration_status",
        enumeration(RegistrationStatus::ALL.map(|s| s.as_str())),
    );
    set_fact(doc, "/v1/national-id/verify", "card_status", enumeration(CardStatus::ALL.map(|s| s.as_str())));
    set(doc, "FieldMatch", "score", json!({"minimum": 0, "maximum": 1}));
}

fn security_checks(doc: &mut Value) {
    set(doc, "SubmitCheckRequest", "national_id", national_id());
    set(doc, "SubmitCheckRequest", "check_type", enumeration(crate::security::CHECK_TYPES));
    set(doc, "SubmitCheckRequest", "callback_url", json!({"format": "uri"}));
    set(doc, "Accepted", "status", json!({"const": "pending"}));
    set(doc, "CheckView", "status", enumeration(crate::security::CHECK_STATUSES));
}

fn sms(doc: &mut Value, configured: &Configured) {
    set(
        doc,
        "SendSmsRequest",
        "to",
        json!({"pattern": r"^(\+20|0020|20)?0?1[0125][0-9]{8}$", "examples": ["01001234567", "+201001234567"],
               "description": "An Egyptian mobile number in any common form (010…, +2010…, 002010…, Arabic-Indic digits, separators); stored as E.164. Else 400 `invalid_phone`."}),
    );
    set(doc, "SendSmsRequest", "template", json!({"enum": configured.templates}));
    // SMS needs the case reference (a citizen may ask for its status by text).
    let mut sms_context = schema_mut(doc, "ContextDto").clone();
    sms_context["required"] = json!(["operator_id", "purpose", "case_ref"]);
    sms_context["properties"]["case_ref"]["type"] = json!("string");
    sms_context["description"] = json!("The context of a data call; `case_ref` is required for SMS.");
    doc["components"]["schemas"]["SmsContext"] = sms_context;
    set(doc, "SendSmsRequest", "context", json!({"$ref": "#/components/schemas/SmsContext"}));
    set(doc, "SendSmsRequest", "lang", enumeration(Lang::ALL.map(Lang::as_str)));
    let params: Vec<String> = configured
        .template_params
        .iter()
        .map(|(t, p)| format!("`{t}`: {}", p.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")))
        .collect();
    let statuses = json!({"type": "string", "enum": configured.statuses});
    let shapes: Vec<Value> = configured
        .template_params
        .iter()
        .map(|(_, params)| {
            let properties: serde_json::Map<String, Value> = params
                .iter()
                .map(|p| {
                    (
                        p.clone(),
                        if p == "status" {
                            statuses.clone()
                        } else {
                            // Not blank, no control characters; the text must still fit the segments allowed.
                            json!({"type": "string", "maxLength": crate::sms::templates::PARAM_MAX_CHARS,
                           "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"})
                        },
                    )
                })
                .collect();
            json!({"type": "object", "properties": properties, "required": params, "additionalProperties": false})
        })
        .collect();
    let required = schema_mut(doc, "SendSmsRequest")["required"].as_array_mut().expect("required fields");
    required.push(json!("params"));
    let shape = if shapes.len() == 1 { shapes[0].clone() } else { json!({"oneOf": shapes}) };
    *doc.pointer_mut("/components/schemas/SendSmsRequest/properties/params").expect("SMS params") = shape;
    set(
        doc,
        "SendSmsRequest",
        "params",
        json!({"description": format!("Exactly the template's parameters ({}); `status` is one of {}.", params.join("; "),
            configured.statuses.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))}),
    );
    // A report of a delivery carries no error code; one of a failure must.
    schema_mut(doc, "DeliveryReport")["oneOf"] = json!([
        {"properties": {"status": {"const": connectors::smsc::DELIVERED}, "error": {"type": "null"}}},
        {"properties": {"status": {"const": connectors::smsc::UNDELIVERED}, "error": {"type": "string"}}, "required": ["error"]},
    ]);
    // The SMSC's wire allows any E.164 sender; the gateway answers only Egyptian mobiles.
    set(doc, "InboundMessage", "from", json!({"pattern": crate::domain::phone::E164_PATTERN}));
    set(doc, "SmsAccepted", "status", json!({"const": "queued"}));
    for schema in ["SmsAccepted", "SmsView"] {
        set(doc, schema, "encoding", enumeration(ENCODINGS));
        set(doc, schema, "segments", json!({"minimum": 1}));
        set(doc, schema, "to", json!({"pattern": crate::domain::phone::E164_PATTERN}));
    }
    set(doc, "SmsView", "status", enumeration(MESSAGE_STATUSES));
    set(doc, "HistoryEntry", "status", enumeration(MESSAGE_STATUSES));
}

fn audit(doc: &mut Value) {
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    all_required(doc, "AuditEvent");
    all_required(doc, "VerifyReport");
    for prop in ["hash", "prev_hash"] {
        set(doc, "AuditEvent", prop, json!({"pattern": "^[0-9a-f]{64}$"}));
    }
    set(doc, "AuditEvent", "at", json!({"format": "date-time"}));
    set(
        doc,
        "EventsPage",
        "next_cursor",
        json!({"description": "Pass as `cursor` with the same filters for the next page; null on the last."}),
    );
    let paths = doc["paths"].as_object_mut().expect("paths");
    let groupings = crate::audit::stats::GroupBy::ALL.map(|g| g.as_str()).join("|");
    for path in ["/v1/audit/events", "/v1/audit/export", "/v1/audit/volume", "/v1/audit/stats", "/v1/audit/signals"] {
        let params = paths[path]["get"]["parameters"].as_array_mut().expect("the audit reads take parameters");
        for p in params.iter_mut() {
            let name = p["name"].as_str().unwrap_or_default().to_owned();
            let schema = &mut p["schema"];
            schema["maxLength"] = json!(QUERY_VALUE_MAX_CHARS);
            match name.as_str() {
                "action" => schema["enum"] = json!(actions),
                "from" | "to" => schema["format"] = json!("date-time"),
                "governorate" => schema["pattern"] = json!("^[A-Z0-9]{1,8}$"),
                "limit" => {
                    *schema = json!({"type": "integer", "minimum": 1, "maximum": LIMIT_MAX, "default": LIMIT_DEFAULT})
                }
                "format" => *schema = enumeration(Format::ALL.map(Format::extension)),
                "group_by" => {
                    schema["pattern"] = json!(format!(
                        "^({groupings})(,({groupings})){{0,{}}}$",
                        crate::audit::stats::MAX_GROUPINGS - 1
                    ))
                }
                other => assert!(FILTERS.contains(&other) || other == "cursor", "unknown audit parameter {other}"),
            }
            if let Some(obj) = schema.as_object_mut()
                && obj.contains_key("enum")
            {
                obj.insert("type".into(), json!("string"));
                obj.remove("maxLength");
            }
        }
    }
    // The export's formats, each its own media type.
    let ok = &mut paths["/v1/audit/export"]["get"]["responses"]["200"];
    ok["content"] = Format::ALL
        .iter()
        .map(|f| (f.media_type().to_owned(), json!({"schema": {"type": "string"}})))
        .collect::<serde_json::Map<_, _>>()
        .into();
}

fn examples(doc: &mut Value, configured: &Configured) {
    let purpose = |p: &str| if configured.purposes.iter().any(|c| c == p) { p.to_owned() } else { String::new() };
    let ctx = |p: &str| json!({"operator_id": "EMP-1001", "purpose": purpose(p), "case_ref": "SHR-2025-000123"});
    let bodies = [
        (
            "/v1/national-id/verify",
            json!({"national_id": "29001011300036",
                   "claims": {"full_name": "محمد أحمد علي", "birth_date": "1990-01-01", "gender": "male", "mother_name": "فاطمة حسن"},
                   "context": ctx("building_permit")}),
        ),
        (
            "/v1/commercial-register/verify",
            json!({"registration_number": "123456", "office": "ZAGAZIG", "claims": {}, "context": ctx("shop_license")}),
        ),
        (
            "/v1/real-estate/verify",
            json!({"property_id": "SHR-ZAG-000123", "claims": {"owner_national_id": "29001011300036"}, "context": ctx("building_permit")}),
        ),
        (
            "/v1/security-checks",
            json!({"national_id": "29001011300036", "check_type": "shop_license", "context": ctx("shop_license")}),
        ),
        (
            "/v1/sms",
            json!({"to": "01001234567", "template": "request_status", "lang": "ar",
                   "params": {"case_ref": "SHR-2025-000123", "status": "in_review", "center": "SHR-ZAG-01"},
                   "context": ctx("status_notification")}),
        ),
    ];
    for (path, example) in bodies {
        let content = doc
            .pointer_mut(&format!("/paths/{}/post/requestBody/content/application~1json", path.replace('/', "~1")))
            .unwrap_or_else(|| panic!("{path} takes JSON"));
        content["examples"] = json!({"fixture": {"summary": "A fixture of the sandbox (DOMAIN.md)", "value": example}});
    }
}

/// Writes the constraints into `doc`.
pub fn apply(doc: &mut Value, configured: &Configured) {
    context(doc, configured);
    verification(doc);
    security_checks(doc);
    sms(doc, configured);
    audit(doc);
    examples(doc, configured);
    if let Some(p) = doc.pointer_mut("/paths/~1v1~1sms/post/parameters/0/schema") {
        merge(
            p,
            json!({"minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX, "pattern": r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"}),
        );
    }
}
