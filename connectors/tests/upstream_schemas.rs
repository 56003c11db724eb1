//! The sandbox's answers and the connectors' requests validate against the
//! published schemas of `schemas/upstream/`: JSON Schema 2020-12 (with the
//! `jsonschema` crate, formats checked) and XSD (with `xmllint`, which must be
//! on PATH: Debian's package libxml2-utils).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{FakeGateway, RunningSandbox, serve_sandbox, start_sandbox};
use connectors::sandbox::{Sandbox, SmscCallback};
use connectors::security::{CheckType, Submission};
use connectors::{national_id, real_estate, security, smsc};
use serde_json::{Value, json};

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("schemas").join("upstream")
}

fn load_schema(name: &str) -> Value {
    let path = schemas_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|err| panic!("{name} is not JSON: {err}"));
    if let Err(err) = jsonschema::meta::validate(&schema) {
        panic!("{name} is not a valid JSON Schema: {err}");
    }
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
    schema
}

/// A validator for one `$defs` entry of a schema file (the file's own
/// references keep resolving against its root).
fn validator(file: &str, definition: &str) -> jsonschema::Validator {
    let mut schema = load_schema(file);
    let root = schema.as_object_mut().expect("an object");
    assert!(root.get("$defs").and_then(|d| d.get(definition)).is_some(), "{file} lacks $defs/{definition}");
    root.remove("oneOf");
    root.insert("$ref".into(), Value::String(format!("#/$defs/{definition}")));
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap_or_else(|err| panic!("{file}#{definition}: {err}"))
}

#[track_caller]
fn assert_valid(validator: &jsonschema::Validator, instance: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not validate: {errors:?}\n{instance}");
}

async fn get(sandbox: &RunningSandbox, path: &str) -> (reqwest::StatusCode, Value) {
    let response = sandbox.http.get(sandbox.url(path)).send().await.expect("answers");
    let status = response.status();
    assert_eq!(
        response.headers().get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "{path}"
    );
    (status, response.json().await.expect("JSON"))
}

#[test]
fn the_json_schemas_are_valid_2020_12_schemas_whose_examples_validate() {
    for (file, definitions) in [
        ("commercial_register.schema.json", &["registration_answer", "error_answer"][..]),
        ("security.schema.json", &["submit_request", "submit_response", "status_response", "error_answer"][..]),
        (
            "smsc.schema.json",
            &[
                "submit_request",
                "submit_response",
                "error_answer",
                "delivery_report",
                "inbound_message",
                "signature_header",
                "sandbox_messages_answer",
                "sandbox_inbound_request",
                "sandbox_inbound_answer",
            ][..],
        ),
    ] {
        let schema = load_schema(file);
        for definition in definitions {
            let validator = validator(file, definition);
            let examples = schema["$defs"][definition]["examples"].as_array().expect("examples");
            for example in examples {
                assert_valid(&validator, example, &format!("{file}#{definition} example"));
            }
        }
    }
}

#[test]
fn the_json_schemas_refuse_what_the_protocols_do_not_allow() {
    let found = validator("commercial_register.schema.json", "registration_answer");
    let good = json!({"registration": {"registration_number": "123456", "office": "ZAGAZIG", "trade_name": "مخبز النور",
        "owner_national_id": "29001011300036", "status": "active", "expires_on": "2028-06-30"}});
    assert_valid(&found, &good, "the fixture");
    for (field, value) in [
        ("expires_on", json!("2028-02-30")),
        ("status", json!("closed")),
        ("registration_number", json!("12345678901")),
        ("owner_national_id", json!(29001011300036u64)),
        ("office", json!("zagazig")),
    ] {
        let mut bad = good.clone();
        bad["registration"][field] = value;
        assert!(!found.is_valid(&bad), "{field}");
    }
    let status = validator("security.schema.json", "status_response");
    assert!(!status.is_valid(&json!({"ticket": "SEC-1", "status": "cleared"})), "a decision without decided_at");
    assert!(!status.is_valid(&json!({"ticket": "SEC-1", "status": "pending", "decided_at": "2026-01-05T08:00:02Z"})));
    assert!(!status.is_valid(&json!({"ticket": "SEC-1", "status": "cleared", "decided_at": "yesterday"})));
    let request = validator("security.schema.json", "submit_request");
    assert!(!request.is_valid(&json!({"reference": "x", "national_id": "29001011300036", "check_type": "general"})));
}

#[tokio::test]
async fn commercial_register_answers_validate() {
    let sandbox = start_sandbox().await;
    let found = validator("commercial_register.schema.json", "registration_answer");
    let error = validator("commercial_register.schema.json", "error_answer");
    let whole = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&load_schema("commercial_register.schema.json"))
        .expect("the whole schema");

    let (_, listed) = sandbox.get_json("/_population?registry=commercial_register&limit=200").await;
    let mut paths: Vec<String> = listed["companies"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| format!("{}/{}", c["office"].as_str().expect("office"), c["registration_number"].as_str().expect("n")))
        .collect();
    paths.extend(["ZAGAZIG/123456", "CAIRO/654321", "GIZA/777001"].map(String::from));
    for key in &paths {
        let (office, number) = key.split_once('/').expect("a key");
        let (status, body) =
            get(&sandbox, &format!("/commercial-register/v1/offices/{office}/registrations/{number}")).await;
        assert_eq!(status, 200, "{key}");
        assert_valid(&found, &body, key);
        assert_valid(&whole, &body, key);
    }
    for (path, expected) in [
        ("/commercial-register/v1/offices/ZAGAZIG/registrations/999999", 404),
        ("/commercial-register/v1/offices/ZAGAZIG/registrations/12a", 400),
        ("/commercial-register/v1/offices/ZAGAZIG", 404),
    ] {
        let (status, body) = get(&sandbox, path).await;
        assert_eq!(status, expected, "{path}");
        assert_valid(&error, &body, path);
        assert_valid(&whole, &body, path);
    }
}

#[tokio::test]
async fn security_requests_and_answers_validate() {
    let sandbox = start_sandbox().await;
    let request = validator("security.schema.json", "submit_request");
    let submitted = validator("security.schema.json", "submit_response");
    let status = validator("security.schema.json", "status_response");
    let error = validator("security.schema.json", "error_answer");

    for (national_id, check_type) in
        [("29001011300036", CheckType::ShopLicense), ("29505058800051", CheckType::Employment)]
    {
        let check = Submission {
            reference: format!("0190c1a2-7b3e-7c44-9a55-{national_id:0>12}")[..36].to_owned(),
            national_id: national_id.into(),
            check_type,
        };
        let body = security::codec::build_submission(&check);
        assert_valid(&request, &body, "the connector's submission");

        for expected in [202, 200] {
            let response =
                sandbox.http.post(sandbox.url("/security/v1/checks")).json(&body).send().await.expect("answers");
            assert_eq!(response.status(), expected);
            let answer: Value = response.json().await.expect("JSON");
            assert_valid(&submitted, &answer, "a submit answer");
        }
        let ticket = sandbox.security().submit(&check).await.expect("a ticket");
        let (code, pending) = get(&sandbox, &format!("/security/v1/checks/{}", ticket.0)).await;
        assert_eq!(code, 200);
        assert_eq!(pending["status"], "pending");
        assert_valid(&status, &pending, "a pending status");
    }

    // A decided check (the ticket of a sandbox-sealed check decided long ago
    // cannot be forged, so wait for a real one).
    let check = Submission {
        reference: "0190c1a2-7b3e-7c44-9a55-000000000001".into(),
        national_id: "29505058800051".into(),
        check_type: CheckType::General,
    };
    let ticket = sandbox.security().submit(&check).await.expect("a ticket");
    let started = std::time::Instant::now();
    let decided = loop {
        let (_, answer) = get(&sandbox, &format!("/security/v1/checks/{}", ticket.0)).await;
        if answer["status"] != "pending" {
            break answer;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(4));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(decided["status"], "not_cleared");
    assert_valid(&status, &decided, "a decided status");

    let conflicting = json!({"reference": check.reference, "national_id": "29001011300036", "check_type": "general"});
    let response =
        sandbox.http.post(sandbox.url("/security/v1/checks")).json(&conflicting).send().await.expect("answers");
    assert_eq!(response.status(), 409);
    assert_valid(&error, &response.json().await.expect("JSON"), "a conflict");
    let response = sandbox.http.post(sandbox.url("/security/v1/checks")).body("{}").send().await.expect("answers");
    assert_eq!(response.status(), 400);
    assert_valid(&error, &response.json().await.expect("JSON"), "an invalid request");
    let (code, unknown) = get(&sandbox, "/security/v1/checks/SEC-nothing").await;
    assert_eq!(code, 404);
    assert_valid(&error, &unknown, "an unknown ticket");
}

#[test]
fn the_smsc_schema_refuses_what_the_protocol_does_not_allow() {
    let request = validator("smsc.schema.json", "submit_request");
    let good = json!({"client_ref": "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c", "from": "5960", "to": "+201001234567",
        "text": "received", "encoding": "gsm7", "segments": 1});
    assert_valid(&request, &good, "a submission");
    for (field, value) in [
        ("client_ref", json!("msg-1")),
        ("from", json!("5961")),
        ("to", json!("01001234567")),
        ("to", json!("+0201001234567")),
        ("text", json!("")),
        ("text", json!("a\u{0}b")),
        ("encoding", json!("utf8")),
        ("segments", json!(0)),
        ("segments", json!(1.5)),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        assert!(!request.is_valid(&bad), "{field}: {bad}");
    }
    let report = validator("smsc.schema.json", "delivery_report");
    let delivered = json!({"smsc_id": "SM-1", "client_ref": "0190c1a2-7b3e-7c44-9a55-0d1e2f3a4b5c",
        "status": "delivered", "at": "2026-01-05T08:00:00Z"});
    assert_valid(&report, &delivered, "a delivered report");
    let mut with_error = delivered.clone();
    with_error["error"] = json!("ABSENT_SUBSCRIBER");
    assert!(!report.is_valid(&with_error), "a delivered report with an error");
    let mut undelivered = delivered.clone();
    undelivered["status"] = json!("undelivered");
    assert!(!report.is_valid(&undelivered), "an undelivered report without an error");
    undelivered["error"] = json!("absent subscriber +201001234567");
    assert!(!report.is_valid(&undelivered), "an error that is not a code");
    let mut late = delivered.clone();
    late["at"] = json!("yesterday");
    assert!(!report.is_valid(&late));
    let signature = validator("smsc.schema.json", "signature_header");
    assert_valid(&signature, &json!(smsc::sign("secret", 1_767_600_000, b"{}")), "a signature");
    assert!(!signature.is_valid(&json!("t=1767600000,v1=abc")));
}

#[tokio::test]
async fn smsc_requests_answers_and_callbacks_validate() {
    let whole = jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&load_schema("smsc.schema.json"))
        .expect("the whole schema");
    let request = validator("smsc.schema.json", "submit_request");
    let acknowledged = validator("smsc.schema.json", "submit_response");
    let error = validator("smsc.schema.json", "error_answer");
    let report = validator("smsc.schema.json", "delivery_report");
    let inbound = validator("smsc.schema.json", "inbound_message");
    let signature = validator("smsc.schema.json", "signature_header");
    let messages = validator("smsc.schema.json", "sandbox_messages_answer");
    let inject = validator("smsc.schema.json", "sandbox_inbound_request");
    let injected = validator("smsc.schema.json", "sandbox_inbound_answer");

    let mut gateway = FakeGateway::start(&[]).await;
    let sandbox_state = Sandbox::new(None);
    let sandbox = serve_sandbox(std::sync::Arc::clone(&sandbox_state)).await;
    sandbox_state.set_smsc_callback(SmscCallback { gateway_base_url: gateway.base_url.clone(), secret: "s".into() });

    let wait = std::time::Duration::from_secs(3);
    for (i, (to, text, encoding)) in [
        ("+201001234567", "طلبك رقم SHR-2026-000123: قيد المراجعة", smsc::SmsEncoding::Ucs2),
        ("+201001234599", "Request SHR-2026-000123: approved", smsc::SmsEncoding::Gsm7),
    ]
    .into_iter()
    .enumerate()
    {
        let message = smsc::Submission {
            client_ref: format!("0190c1a2-7b3e-7c44-9a55-{i:012}"),
            from: smsc::SHORT_CODE.into(),
            to: to.into(),
            text: text.into(),
            encoding,
            segments: 1,
        };
        let body = smsc::codec::build_submission(&message);
        assert_valid(&request, &body, "the connector's submission");
        assert_valid(&whole, &body, "the connector's submission");
        for expected in [202, 200] {
            let response =
                sandbox.http.post(sandbox.url(smsc::codec::MESSAGES_PATH)).json(&body).send().await.expect("answers");
            assert_eq!(response.status(), expected);
            let answer: Value = response.json().await.expect("JSON");
            assert_valid(&acknowledged, &answer, "a submit answer");
            assert_valid(&whole, &answer, "a submit answer");
        }
        let received = gateway.next(wait).await;
        let sent: Value = serde_json::from_slice(&received.body).expect("JSON");
        assert_valid(&report, &sent, "a delivery report");
        assert_valid(&whole, &sent, "a delivery report");
        assert_valid(&signature, &json!(received.signature.expect("signed")), "a report's signature");
    }

    let (status, listed) = get(&sandbox, "/_smsc/messages").await;
    assert_eq!(status, 200);
    assert_eq!(listed["messages"].as_array().expect("a list").len(), 2);
    assert_valid(&messages, &listed, "the messages listing");

    let body = json!({"from": "+201001234567", "text": "إيقاف"});
    assert_valid(&inject, &body, "an injection");
    let response = sandbox.http.post(sandbox.url("/_smsc/inbound")).json(&body).send().await.expect("answers");
    assert_eq!(response.status(), 200);
    assert_valid(&injected, &response.json().await.expect("JSON"), "an injection's answer");
    let received = gateway.next(wait).await;
    let sent: Value = serde_json::from_slice(&received.body).expect("JSON");
    assert_valid(&inbound, &sent, "an inbound message");
    assert_valid(&whole, &sent, "an inbound message");
    assert_valid(&signature, &json!(received.signature.expect("signed")), "an inbound message's signature");

    for (method, path, body, expected) in [
        ("POST", smsc::codec::MESSAGES_PATH, "{}", 400),
        ("GET", smsc::codec::MESSAGES_PATH, "", 405),
        ("POST", "/smsc/v1/nothing", "", 404),
    ] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = sandbox.http.request(method, sandbox.url(path)).body(body).send().await.expect("answers");
        assert_eq!(response.status(), expected, "{path}");
        let answer: Value = response.json().await.expect("JSON");
        assert_valid(&error, &answer, path);
        assert_valid(&whole, &answer, path);
    }
}

// ---------------------------------------------------------------------------
// XSD, with xmllint
// ---------------------------------------------------------------------------

/// Validates whole SOAP messages against `soap-envelope.xsd` together with a
/// registry's schema, through a driver schema that imports both.
struct XsdValidator {
    dir: tempfile::TempDir,
    driver: PathBuf,
}

impl XsdValidator {
    fn new(registry_namespace: &str, registry_schema: &str) -> XsdValidator {
        match Command::new("xmllint").arg("--version").output() {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
                "xmllint is not on PATH, so the XSDs of schemas/upstream cannot be checked: \
                 install it (Debian/Ubuntu: apt-get install -y libxml2-utils)"
            ),
            Err(err) => panic!("xmllint could not be started: {err}"),
        }
        let schemas = schemas_dir().canonicalize().expect("schemas/upstream exists");
        let location = |file: &str| {
            let path = schemas.join(file);
            assert!(path.is_file(), "{} is missing", path.display());
            path.to_string_lossy().into_owned()
        };
        let driver_text = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:import namespace="{}" schemaLocation="{}"/>
  <xs:import namespace="{registry_namespace}" schemaLocation="{}"/>
</xs:schema>
"#,
            connectors::soap::ENVELOPE_NS,
            location("soap-envelope.xsd"),
            location(registry_schema),
        );
        let dir = tempfile::tempdir().expect("a temporary directory");
        let driver = dir.path().join("driver.xsd");
        std::fs::write(&driver, driver_text).expect("driver written");
        XsdValidator { dir, driver }
    }

    #[track_caller]
    fn assert_valid(&self, document: &str, what: &str) {
        let file = self.dir.path().join("document.xml");
        std::fs::write(&file, document).expect("document written");
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--nonet")
            .arg("--schema")
            .arg(&self.driver)
            .arg(&file)
            .output()
            .expect("xmllint runs");
        assert!(
            output.status.success(),
            "{what} does not validate:\n{}\n{document}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[track_caller]
    fn assert_invalid(&self, document: &str, what: &str) {
        let file = self.dir.path().join("document.xml");
        std::fs::write(&file, document).expect("document written");
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--nonet")
            .arg("--schema")
            .arg(&self.driver)
            .arg(&file)
            .output()
            .expect("xmllint runs");
        assert!(!output.status.success(), "{what} validates but should not:\n{document}");
    }
}

async fn soap_post(sandbox: &RunningSandbox, path: &str, action: &str, body: String) -> (reqwest::StatusCode, String) {
    let response = sandbox
        .http
        .post(sandbox.url(path))
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", action)
        .body(body)
        .send()
        .await
        .expect("answers");
    (response.status(), response.text().await.expect("text"))
}

#[tokio::test]
async fn real_estate_requests_answers_and_faults_validate() {
    use real_estate::codec;
    let xsd = XsdValidator::new(codec::NAMESPACE, "real_estate.xsd");
    let sandbox = start_sandbox().await;

    let (_, listed) = sandbox.get_json("/_population?registry=real_estate&limit=20").await;
    let mut ids: Vec<String> =
        listed["property_ids"].as_array().expect("a list").iter().map(|v| v.as_str().expect("id").to_owned()).collect();
    ids.extend(["SHR-ZAG-000123", "CAI-NSR-004567", "GIZ-DOK-000777"].map(String::from));
    for id in &ids {
        let request = codec::build_request(id);
        xsd.assert_valid(&request, &format!("the connector's request for {id}"));
        let (status, answer) = soap_post(&sandbox, codec::PATH, codec::SOAP_ACTION_HEADER, request).await;
        assert_eq!(status, 200, "{id}");
        xsd.assert_valid(&answer, &format!("the answer for {id}"));
    }
    for (id, action, code) in [
        ("SHR-ZAG-999999", codec::SOAP_ACTION_HEADER, "PROPERTY_NOT_FOUND"),
        ("TST-SRV-000001", codec::SOAP_ACTION_HEADER, "INTERNAL_ERROR"),
        ("bad id", codec::SOAP_ACTION_HEADER, "INVALID_REQUEST"),
        ("SHR-ZAG-000123", "urn:nothing", "UNSUPPORTED_OPERATION"),
    ] {
        let (status, answer) = soap_post(&sandbox, codec::PATH, action, codec::build_request(id)).await;
        assert_eq!(status, 500, "{id}");
        assert!(answer.contains(code), "{answer}");
        xsd.assert_valid(&answer, &format!("the {code} fault"));
    }
    // The validation has teeth.
    let answer = codec::build_response(&real_estate::PropertyRecord {
        property_id: "SHR-ZAG-000123".into(),
        owner_national_id: "29001011300036".into(),
        registration_status: real_estate::RegistrationStatus::Registered,
        encumbered: false,
    });
    xsd.assert_invalid(&answer.replace(">registered<", ">owned<"), "an unknown status");
    xsd.assert_invalid(&answer.replace("<re:Encumbered>false</re:Encumbered>", ""), "a missing element");
    xsd.assert_invalid(&codec::build_request("shr-zag-1"), "a lower-case ID");
}

#[tokio::test]
async fn national_id_requests_answers_and_faults_validate() {
    use national_id::codec;
    let xsd = XsdValidator::new(codec::NAMESPACE, "national_id.xsd");
    let sandbox = start_sandbox().await;
    let (_, listed) = sandbox.get_json("/_population?limit=10").await;
    let mut ids: Vec<String> =
        listed["national_ids"].as_array().expect("a list").iter().map(|v| v.as_str().expect("id").to_owned()).collect();
    ids.push("29001011300036".into());
    for id in &ids {
        let request = codec::build_request(id);
        xsd.assert_valid(&request, &format!("the connector's request for {id}"));
        let (status, answer) = soap_post(&sandbox, codec::PATH, codec::SOAP_ACTION_HEADER, request).await;
        assert_eq!(status, 200, "{id}");
        xsd.assert_valid(&answer, &format!("the answer for {id}"));
    }
    let (status, fault) =
        soap_post(&sandbox, codec::PATH, codec::SOAP_ACTION_HEADER, codec::build_request("29001011399997")).await;
    assert_eq!(status, 500);
    xsd.assert_valid(&fault, "the NOT_FOUND fault");
}

#[tokio::test]
async fn national_id_mobile_requests_answers_and_faults_validate() {
    use national_id::{codec, mobile};
    let xsd = XsdValidator::new(codec::NAMESPACE, "national_id_mobile.xsd");
    let sandbox = start_sandbox().await;
    let (_, listed) = sandbox.get_json("/_population?limit=10").await;
    let mut ids: Vec<String> =
        listed["national_ids"].as_array().expect("a list").iter().map(|v| v.as_str().expect("id").to_owned()).collect();
    ids.extend(["29001011300036", "24003202100031"].map(String::from));
    for id in &ids {
        let request = mobile::build_request(id);
        xsd.assert_valid(&request, &format!("the connector's mobile request for {id}"));
        let (status, answer) = soap_post(&sandbox, codec::PATH, mobile::SOAP_ACTION_HEADER, request).await;
        assert_eq!(status, 200, "{id}");
        xsd.assert_valid(&answer, &format!("the mobile answer for {id}"));
    }
    let (status, fault) =
        soap_post(&sandbox, codec::PATH, mobile::SOAP_ACTION_HEADER, mobile::build_request("29001011399997")).await;
    assert_eq!(status, 500);
    assert!(fault.contains("NOT_FOUND"));
    xsd.assert_valid(&fault, "the NOT_FOUND fault");
    // The validation has teeth.
    let answer = mobile::build_response(&national_id::RegisteredMobile {
        national_id: "29001011300036".into(),
        mobile: Some("+201001234567".into()),
    });
    xsd.assert_invalid(&answer.replace("+201001234567", "01001234567"), "a number not in E.164");
    xsd.assert_invalid(
        &answer.replace("</nid:MobileNumber>", "</nid:MobileNumber><nid:MobileNumber>+201112345678</nid:MobileNumber>"),
        "a repeated number",
    );
}
