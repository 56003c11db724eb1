//! POST /v1/real-estate/verify, black box: the fixtures of DOMAIN.md,
//! property-ID validation, the owner claim, the purpose policy, the cache,
//! upstream failures (SOAP faults included) and the audit event (CONTRACT §4,
//! §5, §8, §9, §10).

mod common;

use common::{TestApp, problem};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PATH: &str = "/v1/real-estate/verify";
const REGISTRY: &str = "real_estate";

/// The owners of the fixtures (DOMAIN.md, national-ID registry).
const FIRST: &str = "29001011300036";
const SECOND: &str = "28507150100022";
const THIRD: &str = "24003202100031";

/// A well-formed ID the sandbox answers with a `soap:Server` fault.
const SERVER_FAULT: &str = "TST-SRV-000001";

/// A verify body under `building_permit`, a purpose that allows this action.
fn property_body(property_id: &str, claims: Value) -> Value {
    json!({
        "property_id": property_id,
        "claims": claims,
        "context": {"operator_id": "EMP-2002", "purpose": "building_permit", "case_ref": "SHR-2025-000789"}
    })
}

fn property_body_for(property_id: &str, claims: Value, purpose: &str) -> Value {
    let mut body = property_body(property_id, claims);
    body["context"]["purpose"] = Value::String(purpose.to_owned());
    body
}

async fn verify(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let r = app.post_json(PATH, token, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn verify_ok(app: &TestApp, token: &str, property_id: &str, claims: Value) -> Value {
    let (status, body) = verify(app, token, &property_body(property_id, claims)).await;
    assert_eq!(status, 200, "{property_id}: {body}");
    body
}

async fn verify_response(app: &TestApp, token: &str, property_id: &str) -> reqwest::Response {
    app.post_json(PATH, token, &property_body(property_id, json!({}))).await
}

async fn verify_no_cache(app: &TestApp, token: &str, property_id: &str) -> reqwest::Response {
    app.http
        .post(app.url(PATH))
        .bearer_auth(token)
        .header("Cache-Control", "no-cache")
        .json(&property_body(property_id, json!({})))
        .send()
        .await
        .unwrap()
}

fn retry_after(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is whole seconds")
}

/// The first `n` synthetic properties of the sandbox.
async fn synthetic_properties(app: &TestApp, n: usize) -> Vec<String> {
    let url = format!("{}/_population?registry=real_estate&limit={n}", app.sandbox);
    let r = app.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let ids: Vec<String> =
        body["property_ids"].as_array().expect("property_ids").iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), n, "{body}");
    ids
}

/// The owner of a property, asked of the sandbox registry itself in its own
/// SOAP protocol (`schemas/upstream/sandbox-admin.md`): the gateway never gives
/// it out.
async fn owner_in_registry(app: &TestApp, property_id: &str) -> String {
    let envelope = format!(
        concat!(
            r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" "#,
            r#"xmlns:re="urn:bawaba:sandbox:real-estate"><soap:Body><re:GetPropertyRequest>"#,
            r#"<re:PropertyId>{}</re:PropertyId></re:GetPropertyRequest></soap:Body></soap:Envelope>"#
        ),
        property_id
    );
    let r = app
        .http
        .post(format!("{}/real-estate/soap", app.sandbox))
        .header("Content-Type", "text/xml; charset=utf-8")
        .header("SOAPAction", "\"urn:bawaba:sandbox:real-estate#GetProperty\"")
        .body(envelope)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{property_id} is registered");
    let xml = r.text().await.unwrap();
    let start = xml.find("OwnerNationalId>").map(|i| i + "OwnerNationalId>".len()).expect("an owner element");
    let owner: String = xml[start..].chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(owner.len(), 14, "{xml}");
    owner
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fixture_without_claims_is_a_match_with_its_own_facts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (property_id, registration_status, encumbered) in [
        ("SHR-ZAG-000123", "registered", false),
        ("CAI-NSR-004567", "registered", true),
        ("GIZ-DOK-000777", "pending", false),
    ] {
        let body = verify_ok(&app, &token, property_id, json!({})).await;
        assert_eq!(body["outcome"], "match", "{property_id}: {body}");
        assert_eq!(body["fields"], json!({}), "no claims, no fields: {body}");
        assert_eq!(
            body["facts"],
            json!({"registration_status": registration_status, "encumbered": encumbered}),
            "{property_id}"
        );
        assert_eq!(body["source"]["registry"], REGISTRY);
        assert_eq!(body["source"]["cached"], false);
        assert_eq!(body["source"]["stale"], false);
        assert!(body["source"]["age_seconds"].is_u64(), "{body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_may_be_left_out_altogether() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut body = property_body("CAI-NSR-004567", json!({}));
    body.as_object_mut().unwrap().remove("claims");
    let (status, body) = verify(&app, &token, &body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["fields"], json!({}));
    assert_eq!(body["facts"], json!({"registration_status": "registered", "encumbered": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_matches_its_owner_and_no_other() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let fixtures = [("SHR-ZAG-000123", FIRST), ("CAI-NSR-004567", SECOND), ("GIZ-DOK-000777", THIRD)];
    for (property_id, owner) in fixtures {
        let body = verify_ok(&app, &token, property_id, json!({"owner_national_id": owner})).await;
        assert_eq!(body["outcome"], "match", "{property_id}: {body}");
        assert_eq!(body["fields"], json!({"owner_national_id": {"match": true}}), "an ID is not scored: {body}");
        for (_, other) in fixtures.iter().filter(|(_, o)| *o != owner) {
            let body = verify_ok(&app, &token, property_id, json!({"owner_national_id": other})).await;
            assert_eq!(body["outcome"], "mismatch", "{property_id} is not {other}'s: {body}");
            assert_eq!(body["fields"], json!({"owner_national_id": {"match": false}}));
            assert!(body["facts"].is_object(), "facts come with a mismatch: {body}");
        }
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "the owner claims are matched against cached records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_carries_match_results_and_facts_never_the_registry_record() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json(PATH, &token, &property_body("GIZ-DOK-000777", json!({}))).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], request_id.as_str());
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for key in ["request_id", "outcome", "fields", "facts", "source"] {
        assert!(keys.contains(&key), "{key} missing: {body}");
    }
    assert!(!body.to_string().contains(THIRD), "the owner leaked: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_claim_in_arabic_indic_digits_is_normalised() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "CAI-NSR-004567", json!({"owner_national_id": "٢٨٥٠٧١٥٠١٠٠٠٢٢"})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["fields"]["owner_national_id"]["match"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_absent_fixture_is_not_found_without_fields_or_facts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "SHR-ZAG-999999", json!({"owner_national_id": FIRST})).await;
    assert_eq!(body["outcome"], "not_found", "{body}");
    assert!(body.get("fields").is_none(), "{body}");
    assert!(body.get("facts").is_none(), "{body}");
    assert_eq!(body["source"]["registry"], REGISTRY);
    assert_eq!(body["source"]["cached"], false);

    let events = app.audit_events("subject=SHR-ZAG-999999").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "real_estate.verify");
    assert_eq!(events[0]["outcome"], "not_found");
    assert_eq!(events[0]["http_status"], 200);
    assert_eq!(events[0]["cache"], "miss");
    assert_eq!(app.readiness().await.1["connectors"]["real_estate"], "closed", "not_found is no failure");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lower_case_and_arabic_indic_digits_are_one_property() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "shr-zag-000123", json!({"owner_national_id": FIRST})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["source"]["cached"], false);
    for id in ["SHR-ZAG-٠٠٠١٢٣", "Shr-Zag-۰۰۰۱۲۳", " SHR-ZAG-000123 "] {
        let body = verify_ok(&app, &token, id, json!({})).await;
        assert_eq!(body["outcome"], "match", "{id:?}: {body}");
        assert_eq!(body["facts"], json!({"registration_status": "registered", "encumbered": false}));
        assert_eq!(body["source"]["cached"], true, "every form is one cache key: {body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);
    let events = app.audit_events("action=real_estate.verify").await;
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["subject"] == "SHR-ZAG-000123"), "the subject is normalised: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_properties_match_their_owners() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for property_id in synthetic_properties(&app, 3).await {
        let owner = owner_in_registry(&app, &property_id).await;
        let body = verify_ok(&app, &token, &property_id, json!({"owner_national_id": owner})).await;
        assert_eq!(body["outcome"], "match", "{property_id}: {body}");
        assert_eq!(body["fields"], json!({"owner_national_id": {"match": true}}));
        let status = body["facts"]["registration_status"].as_str().unwrap();
        assert!(["registered", "pending", "unregistered"].contains(&status), "{body}");
        assert!(body["facts"]["encumbered"].is_boolean(), "{body}");
        // A fixture citizen owns no synthetic property.
        let body = verify_ok(&app, &token, &property_id, json!({"owner_national_id": FIRST})).await;
        assert_eq!(body["outcome"], "mismatch", "{property_id}: {body}");
        assert_eq!(body["source"]["cached"], true);
    }
}

// ---------------------------------------------------------------------------
// Validation: precise 400s, never a registry call
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_property_ids_are_refused_precisely_without_a_registry_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let cases = [
        "SHR-ZAG-12345",
        "SHRZAG000123",
        "SHR-ZAG-00012X",
        "",
        "SHR-ZAG-0001234",
        "S-ZAG-000123",
        "SHR-ZAG-000123-1",
        "شرق-زقز-000123",
        "SHR ZAG 000123",
    ];
    for id in cases {
        let r = app.post_json(PATH, &token, &property_body(id, json!({}))).await;
        let body = problem(r, 400, "invalid_request").await;
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{id:?}: errors listed: {body}"));
        assert_eq!(errors.len(), 1, "{id:?}: {body}");
        assert_eq!(errors[0]["field"], "property_id", "{id:?}: {body}");
        assert!(errors[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{id:?}: {body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 0, "no malformed ID reaches the registry");
    let events = app.audit_events("action=real_estate.verify").await;
    assert_eq!(events.len(), cases.len());
    for e in &events {
        assert_eq!(e["outcome"], "invalid_request", "{e}");
        assert_eq!(e["http_status"], 400, "{e}");
        assert_eq!(e["cache"], "none", "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_owner_claim_is_refused_naming_the_claim() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (owner, reason) in [
        ("2900101130003", "length"),
        ("2900101130003X", "digits"),
        ("29002301300036", "birth_date"),
        ("29001019900036", "governorate"),
    ] {
        let r =
            app.post_json(PATH, &token, &property_body("SHR-ZAG-000123", json!({"owner_national_id": owner}))).await;
        assert_eq!(r.status(), 400, "{owner}");
        let body: Value = r.json().await.unwrap();
        // CONTRACT §4 lists both codes; a claim is a field of the request.
        let code = body["code"].as_str().unwrap();
        assert!(["invalid_request", "invalid_national_id"].contains(&code), "{owner}: {body}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{body}");
        assert_eq!(errors[0]["field"], "claims.owner_national_id", "{body}");
        assert_eq!(errors[0]["reason"], reason, "{owner}: {body}");
        assert!(!body.to_string().contains(owner), "the problem does not echo the ID: {body}");
    }
    // A bad ID and a bad claim together: both named.
    let r = app.post_json(PATH, &token, &property_body("SHRZAG000123", json!({"owner_national_id": "123"}))).await;
    let body = problem(r, 400, "invalid_request").await;
    let mut named: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    named.sort_unstable();
    assert_eq!(named, ["claims.owner_national_id", "property_id"], "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_and_named() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut top = property_body("SHR-ZAG-000123", json!({}));
    top["parcel_area"] = json!(120);
    let mut in_context = property_body("SHR-ZAG-000123", json!({}));
    in_context["context"]["center"] = json!("SHR-ZAG-01");
    for (body, field) in [
        (top, "parcel_area"),
        (property_body("SHR-ZAG-000123", json!({"trade_name": "مخبز النور"})), "claims.trade_name"),
        (property_body("SHR-ZAG-000123", json!({"encumbered": false})), "claims.encumbered"),
        (in_context, "context.center"),
    ] {
        let r = app.post_json(PATH, &token, &body).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
        let last = field.rsplit('.').next().unwrap();
        assert!(body["errors"][0]["reason"].as_str().unwrap().contains(last), "{body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_without_context_or_with_a_bad_context_is_refused() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json(PATH, &token, &json!({"property_id": "SHR-ZAG-000123"})).await;
    let body = problem(r, 400, "invalid_request").await;
    assert!(body["errors"].to_string().contains("context"), "{body}");

    let mut bad_case = property_body("SHR-ZAG-000123", json!({}));
    bad_case["context"]["case_ref"] = json!("x".repeat(65));
    let body = problem(app.post_json(PATH, &token, &bad_case).await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "context.case_ref", "{body}");

    let unknown_purpose = property_body_for("SHR-ZAG-000123", json!({}), "curiosity");
    let body = problem(app.post_json(PATH, &token, &unknown_purpose).await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "context.purpose", "{body}");

    let r = app.post_json(PATH, &token, &json!({"context": {"operator_id": "E1", "purpose": "building_permit"}})).await;
    let body = problem(r, 400, "invalid_request").await;
    assert!(body["errors"].to_string().contains("property_id"), "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
}

// ---------------------------------------------------------------------------
// Purpose policy and scopes
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_property_purpose_is_allowed() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for purpose in ["building_permit", "reconciliation", "utility_connection", "property_services"] {
        let (status, body) = verify(&app, &token, &property_body_for("SHR-ZAG-000123", json!({}), purpose)).await;
        assert_eq!(status, 200, "{purpose}: {body}");
        assert_eq!(body["outcome"], "match");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purpose_that_does_not_allow_the_registry_is_403() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for purpose in ["shop_license", "status_notification"] {
        let body = property_body_for("SHR-ZAG-000123", json!({}), purpose);
        problem(app.post_json(PATH, &token, &body).await, 403, "forbidden").await;
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 0, "a refused call asks no registry");
    let events = app.audit_events("action=real_estate.verify").await;
    assert_eq!(events.len(), 2);
    for e in &events {
        assert_eq!(e["outcome"], "forbidden", "{e}");
        assert_eq!(e["http_status"], 403, "{e}");
        assert_eq!(e["cache"], "none", "{e}");
        assert_eq!(e["subject"], "SHR-ZAG-000123", "{e}");
    }
    assert_eq!(events[1]["purpose"], "shop_license");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_scope_is_403_even_with_its_own_purpose() {
    let app = TestApp::spawn().await;
    let token = app.token("limited-demo").await;
    // building_permit is limited-demo's one purpose and allows real estate,
    // but the client lacks the scope.
    for purpose in ["building_permit", "reconciliation"] {
        let body = property_body_for("SHR-ZAG-000123", json!({}), purpose);
        problem(app.post_json(PATH, &token, &body).await, 403, "forbidden").await;
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
    let events = app.audit_events("action=real_estate.verify&client_id=limited-demo").await;
    assert_eq!(events.len(), 2, "a 403 is recorded under the action attempted: {events:?}");
    assert!(events.iter().all(|e| e["outcome"] == "forbidden" && e["center_id"] == "SHR-HUS-02"), "{events:?}");
}

// ---------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_with_other_claims_is_answered_from_the_cache() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let first = verify_ok(&app, &token, "CAI-NSR-004567", json!({"owner_national_id": SECOND})).await;
    assert_eq!(first["source"]["cached"], false);
    assert_eq!(first["outcome"], "match");
    let second = verify_ok(&app, &token, "CAI-NSR-004567", json!({"owner_national_id": FIRST})).await;
    assert_eq!(second["source"]["cached"], true, "{second}");
    assert_eq!(second["source"]["stale"], false);
    assert_eq!(second["outcome"], "mismatch", "the claims are matched afresh: {second}");
    assert_eq!(second["facts"], json!({"registration_status": "registered", "encumbered": true}));
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);

    let other = app.token("center2-demo").await;
    let third = verify_ok(&app, &other, "CAI-NSR-004567", json!({})).await;
    assert_eq!(third["source"]["cached"], true, "the cache is shared between clients: {third}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);

    let events = app.audit_events("action=real_estate.verify").await;
    let caches: Vec<&str> = events.iter().map(|e| e["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["hit", "hit", "miss"], "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_no_cache_asks_the_registry_again() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    verify_ok(&app, &token, "GIZ-DOK-000777", json!({})).await;
    let r = verify_no_cache(&app, &token, "GIZ-DOK-000777").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["cached"], false, "{body}");
    assert_eq!(body["facts"], json!({"registration_status": "pending", "encumbered": false}));
    assert_eq!(app.upstream_requests(REGISTRY).await, 2);
    let body = verify_ok(&app, &token, "GIZ-DOK-000777", json!({})).await;
    assert_eq!(body["source"]["cached"], true, "the revalidated copy serves the next call: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 2);
    let events = app.audit_events("action=real_estate.verify").await;
    let caches: Vec<&str> = events.iter().map(|e| e["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["hit", "miss", "miss"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_cached_too() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let first = verify_ok(&app, &token, "SHR-ZAG-999999", json!({})).await;
    assert_eq!(first["outcome"], "not_found");
    assert_eq!(first["source"]["cached"], false);
    let second = verify_ok(&app, &token, "shr-zag-999999", json!({"owner_national_id": FIRST})).await;
    assert_eq!(second["outcome"], "not_found");
    assert_eq!(second["source"]["cached"], true);
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_not_found_answer_expires_sooner_than_a_record() {
    let app = TestApp::spawn_with(|s| s.registries.get_mut(REGISTRY).unwrap().not_found_ttl_seconds = 1).await;
    let token = app.token("center-demo").await;
    assert_eq!(verify_ok(&app, &token, "SHR-ZAG-999999", json!({})).await["outcome"], "not_found");
    assert_eq!(verify_ok(&app, &token, "SHR-ZAG-000123", json!({})).await["outcome"], "match");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let body = verify_ok(&app, &token, "SHR-ZAG-999999", json!({})).await;
    assert_eq!(body["outcome"], "not_found");
    assert_eq!(body["source"]["cached"], false, "an expired absence is asked again: {body}");
    let body = verify_ok(&app, &token, "SHR-ZAG-000123", json!({})).await;
    assert_eq!(body["source"]["cached"], true, "a record keeps its own TTL: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_property_make_one_registry_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "latency_ms": 300})).await;
    let calls = (0..10).map(|i| {
        let claims = if i % 2 == 0 { json!({"owner_national_id": THIRD}) } else { json!({}) };
        let body = property_body("GIZ-DOK-000777", claims);
        let (app, token) = (&app, &token);
        async move { verify(app, token, &body).await }
    });
    for (status, body) in futures::future::join_all(calls).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outcome"], "match", "{body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 1, "single flight");
}

// ---------------------------------------------------------------------------
// Upstream failures
// ---------------------------------------------------------------------------

/// A gateway whose real-estate registry gives up quickly.
async fn impatient_app() -> TestApp {
    TestApp::spawn_with(|s| {
        let r = s.registries.get_mut(REGISTRY).unwrap();
        r.timeout_ms = 200;
        r.backoff_max_elapsed_ms = 600;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_answering_503_is_503_upstream_unavailable_with_retry_after() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    let r = verify_response(&app, &token, "SHR-ZAG-000123").await;
    assert!(retry_after(&r) >= 1);
    let body = problem(r, 503, "upstream_unavailable").await;
    assert!(!body.to_string().to_lowercase().contains("soap"), "no internals leak: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "max_attempts = 3");
    assert_eq!(app.upstream_requests("commercial_register").await, 0, "the other registries are untouched");
    let events = app.audit_events("action=real_estate.verify").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "upstream_unavailable");
    assert_eq!(events[0]["http_status"], 503);
    assert_eq!(events[0]["subject"], "SHR-ZAG-000123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_never_answers_is_504_upstream_timeout() {
    let app = impatient_app().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "timeout"})).await;
    let started = Instant::now();
    let r = verify_response(&app, &token, "SHR-ZAG-000123").await;
    let took = started.elapsed();
    problem(r, 504, "upstream_timeout").await;
    assert!(took < Duration::from_millis(2000), "the whole retry budget is 600 ms, took {took:?}");
    let attempts = app.upstream_requests(REGISTRY).await;
    assert!((1..=3).contains(&attempts), "{attempts} attempts");
    let events = app.audit_events("action=real_estate.verify").await;
    assert_eq!(events[0]["outcome"], "upstream_timeout");
    assert_eq!(events[0]["http_status"], 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_resets_the_connection_is_503_after_retries() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "reset"})).await;
    let r = verify_response(&app, &token, "SHR-ZAG-000123").await;
    assert!(retry_after(&r) >= 1);
    problem(r, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "a reset is transient and retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_answering_malformed_xml_is_503() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "malformed"})).await;
    let r = verify_response(&app, &token, "SHR-ZAG-000123").await;
    assert!(retry_after(&r) >= 1);
    let body = problem(r, 503, "upstream_unavailable").await;
    assert!(!body.to_string().contains('<'), "no XML fragment leaks: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "a malformed answer is transient and retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soap_server_fault_is_503_after_three_attempts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json(PATH, &token, &property_body(SERVER_FAULT, json!({"owner_national_id": FIRST}))).await;
    assert!(retry_after(&r) >= 1);
    let body = problem(r, 503, "upstream_unavailable").await;
    let text = body.to_string();
    assert!(!text.contains('<') && !text.contains("INTERNAL_ERROR"), "no fault detail leaks: {text}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "a server fault is transient and retried");
    let events = app.audit_events(&format!("subject={SERVER_FAULT}")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "upstream_unavailable");
    assert_eq!(events[0]["http_status"], 503);
    // A server fault is no answer: nothing is cached, the next call asks again.
    let lower = SERVER_FAULT.to_ascii_lowercase();
    problem(verify_response(&app, &token, &lower).await, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests(REGISTRY).await, 6);
    // The registry still answers other properties.
    let body = verify_ok(&app, &token, "SHR-ZAG-000123", json!({})).await;
    assert_eq!(body["outcome"], "match");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_recovering_ends_the_failure() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    problem(verify_response(&app, &token, "GIZ-DOK-000777").await, 503, "upstream_unavailable").await;
    app.clear_faults().await;
    let body = verify_ok(&app, &token, "GIZ-DOK-000777", json!({})).await;
    assert_eq!(body["outcome"], "match", "a failure is not cached: {body}");
    assert_eq!(body["source"]["cached"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_copy_is_served_stale_when_the_registry_fails() {
    let app = TestApp::spawn_with(|s| s.registries.get_mut(REGISTRY).unwrap().cache_ttl_seconds = 1).await;
    let token = app.token("center-demo").await;
    let warm = verify_ok(&app, &token, "CAI-NSR-004567", json!({})).await;
    assert_eq!(warm["source"]["cached"], false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    let body = verify_ok(&app, &token, "CAI-NSR-004567", json!({"owner_national_id": SECOND})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["fields"], json!({"owner_national_id": {"match": true}}));
    assert_eq!(body["facts"], json!({"registration_status": "registered", "encumbered": true}));
    assert_eq!(body["source"]["registry"], REGISTRY);
    assert_eq!(body["source"]["cached"], true);
    assert_eq!(body["source"]["stale"], true);
    assert!(body["source"]["age_seconds"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 1 + 3, "the registry was asked (and retried) first");
    let events = app.audit_events("action=real_estate.verify").await;
    assert_eq!(events[0]["cache"], "stale");
    assert_eq!(events[0]["outcome"], "match");
    assert_eq!(events[0]["http_status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_cache_request_is_served_stale_when_the_registry_fails() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    verify_ok(&app, &token, "SHR-ZAG-000123", json!({})).await;
    app.fault(json!({"registry": REGISTRY, "mode": "malformed"})).await;
    let r = verify_no_cache(&app, &token, "SHR-ZAG-000123").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["stale"], true, "{body}");
    assert_eq!(body["source"]["cached"], true, "{body}");
    assert_eq!(body["outcome"], "match");
    assert_eq!(app.upstream_requests(REGISTRY).await, 1 + 3);
    let r = verify_no_cache(&app, &token, "CAI-NSR-004567").await;
    problem(r, 503, "upstream_unavailable").await;
}

// ---------------------------------------------------------------------------
// Audit and readiness
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_makes_one_audit_event_with_the_property_as_subject() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json(PATH, &token, &property_body("giz-dok-000777", json!({"owner_national_id": THIRD}))).await;
    assert_eq!(r.status(), 200);
    let first_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let r = app.post_json(PATH, &token, &property_body("GIZ-DOK-٠٠٠٧٧٧", json!({"owner_national_id": FIRST}))).await;
    assert_eq!(r.status(), 200);
    let second_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();

    let events = app.audit_events("subject=GIZ-DOK-000777").await;
    assert_eq!(events.len(), 2, "one event a call: {events:?}");
    let (newer, older) = (&events[0], &events[1]);
    assert_eq!(older["id"], first_id.as_str(), "X-Request-Id is the event id");
    assert_eq!(newer["id"], second_id.as_str());
    for (e, outcome, cache) in [(older, "match", "miss"), (newer, "mismatch", "hit")] {
        assert_eq!(e["action"], "real_estate.verify", "{e}");
        assert_eq!(e["subject"], "GIZ-DOK-000777", "{e}");
        assert_eq!(e["client_id"], "center-demo", "{e}");
        assert_eq!(e["center_id"], "SHR-ZAG-01", "{e}");
        assert_eq!(e["operator_id"], "EMP-2002", "{e}");
        assert_eq!(e["purpose"], "building_permit", "{e}");
        assert_eq!(e["case_ref"], "SHR-2025-000789", "{e}");
        assert_eq!(e["outcome"], outcome, "{e}");
        assert_eq!(e["http_status"], 200, "{e}");
        assert_eq!(e["cache"], cache, "{e}");
    }
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(THIRD) && !text.contains(FIRST), "claims leaked into the audit log: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_lists_the_registry_and_its_circuit_opens_alone() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready");
    for name in ["national_id", "commercial_register", "real_estate", "security"] {
        assert_eq!(ready["connectors"][name], "closed", "{name}: {ready}");
    }

    // Five server faults in a row: five failed calls open the circuit.
    for n in 1..=5 {
        let id = format!("TST-SRV-00000{n}");
        problem(verify_response(&app, &token, &id).await, 503, "upstream_unavailable").await;
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 15);
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200, "an open circuit keeps the replica in the load balancer");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["connectors"]["real_estate"], "open", "{ready}");
    assert_eq!(ready["connectors"]["commercial_register"], "closed", "{ready}");
    assert_eq!(ready["connectors"]["national_id"], "closed", "{ready}");

    let r = verify_response(&app, &token, "SHR-ZAG-000123").await;
    assert!(retry_after(&r) >= 1);
    problem(r, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests(REGISTRY).await, 15, "an open circuit makes no registry request");
}
