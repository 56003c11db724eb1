//! POST /v1/commercial-register/verify, black box: the fixtures of DOMAIN.md,
//! key validation (registration number and office), trade-name and owner
//! claims, the purpose policy, the cache, upstream failures and the audit
//! event (CONTRACT §4, §5, §8, §9, §10).

mod common;

use common::{TestApp, problem};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PATH: &str = "/v1/commercial-register/verify";
const REGISTRY: &str = "commercial_register";

/// The owners of the fixtures (DOMAIN.md, national-ID registry).
const FIRST: &str = "29001011300036";
const SECOND: &str = "28507150100022";
const FIFTH: &str = "29505058800051";

/// A verify body under `shop_license`, the purpose that allows this action.
fn company_body(number: &str, office: &str, claims: Value) -> Value {
    json!({
        "registration_number": number,
        "office": office,
        "claims": claims,
        "context": {"operator_id": "EMP-1001", "purpose": "shop_license", "case_ref": "SHR-2025-000456"}
    })
}

fn company_body_for(number: &str, office: &str, claims: Value, purpose: &str) -> Value {
    let mut body = company_body(number, office, claims);
    body["context"]["purpose"] = Value::String(purpose.to_owned());
    body
}

async fn verify(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let r = app.post_json(PATH, token, body).await;
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn verify_ok(app: &TestApp, token: &str, number: &str, office: &str, claims: Value) -> Value {
    let (status, body) = verify(app, token, &company_body(number, office, claims)).await;
    assert_eq!(status, 200, "{office}/{number}: {body}");
    body
}

async fn verify_response(app: &TestApp, token: &str, number: &str, office: &str) -> reqwest::Response {
    app.post_json(PATH, token, &company_body(number, office, json!({}))).await
}

async fn verify_no_cache(app: &TestApp, token: &str, number: &str, office: &str) -> reqwest::Response {
    app.http
        .post(app.url(PATH))
        .bearer_auth(token)
        .header("Cache-Control", "no-cache")
        .json(&company_body(number, office, json!({})))
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

fn assert_unit_score(field: &Value) -> f64 {
    let score = field["score"].as_f64().unwrap_or_else(|| panic!("a trade name carries a score: {field}"));
    assert!((0.0..=1.0).contains(&score), "score {score} outside 0..1");
    score
}

/// The first `n` synthetic companies of the sandbox, as (office, number).
async fn synthetic_companies(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let url = format!("{}/_population?registry=commercial_register&limit={n}", app.sandbox);
    let r = app.http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let companies = body["companies"].as_array().expect("companies");
    assert_eq!(companies.len(), n, "{body}");
    companies
        .iter()
        .map(|c| (c["office"].as_str().unwrap().to_owned(), c["registration_number"].as_str().unwrap().to_owned()))
        .collect()
}

/// The owner of a registration, read from the sandbox registry itself (its
/// own REST protocol, `schemas/upstream/sandbox-admin.md`): the gateway never
/// gives it out.
async fn owner_in_registry(app: &TestApp, office: &str, number: &str) -> String {
    let url = format!("{}/commercial-register/v1/offices/{office}/registrations/{number}", app.sandbox);
    let r = app.http.get(url).header("Accept", "application/json").send().await.unwrap();
    assert_eq!(r.status(), 200, "{office}/{number} is registered");
    let body: Value = r.json().await.unwrap();
    body["registration"]["owner_national_id"].as_str().expect("an owner").to_owned()
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fixture_without_claims_is_a_match_with_its_own_facts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (number, office, status, expires_on) in [
        ("123456", "ZAGAZIG", "active", "2028-06-30"),
        ("654321", "CAIRO", "struck_off", "2020-01-01"),
        ("777001", "GIZA", "suspended", "2027-03-31"),
    ] {
        let body = verify_ok(&app, &token, number, office, json!({})).await;
        assert_eq!(body["outcome"], "match", "{office}/{number}: {body}");
        assert_eq!(body["fields"], json!({}), "no claims, no fields: {body}");
        assert_eq!(body["facts"], json!({"status": status, "expires_on": expires_on}), "{office}/{number}");
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
    let mut body = company_body("777001", "GIZA", json!({}));
    body.as_object_mut().unwrap().remove("claims");
    let (status, body) = verify(&app, &token, &body).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["fields"], json!({}));
    assert_eq!(body["facts"], json!({"status": "suspended", "expires_on": "2027-03-31"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_matches_its_trade_name_and_owner() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (number, office, trade_name, owner) in [
        ("123456", "ZAGAZIG", "مخبز النور", FIRST),
        ("654321", "CAIRO", "شركة الأمل للتجارة", SECOND),
        ("777001", "GIZA", "ورشة يوسف للنجارة", FIFTH),
    ] {
        let claims = json!({"trade_name": trade_name, "owner_national_id": owner});
        let body = verify_ok(&app, &token, number, office, claims).await;
        assert_eq!(body["outcome"], "match", "{office}/{number}: {body}");
        let fields = body["fields"].as_object().unwrap();
        assert_eq!(fields.len(), 2, "one field per claim: {body}");
        assert_eq!(body["fields"]["trade_name"]["match"], true, "{body}");
        assert_eq!(body["fields"]["trade_name"]["score"], 1.0, "an identical trade name scores 1: {body}");
        assert_eq!(body["fields"]["owner_national_id"], json!({"match": true}), "an ID is not scored: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_carries_match_results_and_facts_never_the_registry_record() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json(PATH, &token, &company_body("123456", "ZAGAZIG", json!({"trade_name": "مخبز النور"}))).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["request_id"], request_id.as_str());
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for key in ["request_id", "outcome", "fields", "facts", "source"] {
        assert!(keys.contains(&key), "{key} missing: {body}");
    }
    let source: Vec<&str> = body["source"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(source.len(), 4, "{source:?}");
    // The owner was not claimed, so it must not leave the gateway.
    assert!(!body.to_string().contains(FIRST), "the owner leaked: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trade_names_match_after_arabic_normalisation() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (number, office, claim, why) in [
        ("123456", "ZAGAZIG", "مخبز  النُّور", "a doubled space and diacritics"),
        ("123456", "ZAGAZIG", " مخبز النور ", "surrounding spaces"),
        ("123456", "ZAGAZIG", "مخبز النـور", "a tatweel"),
        ("654321", "CAIRO", "شركه الامل للتجاره", "bare alef and ta marbuta as ha"),
        ("777001", "GIZA", "ورشه يوسف للنجاره", "ta marbuta as ha"),
    ] {
        let body = verify_ok(&app, &token, number, office, json!({"trade_name": claim})).await;
        assert_eq!(body["outcome"], "match", "{why}: {body}");
        assert_eq!(body["fields"]["trade_name"]["match"], true, "{why}: {body}");
        assert_eq!(assert_unit_score(&body["fields"]["trade_name"]), 1.0, "{why}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_trade_name_or_owner_is_a_mismatch_naming_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let facts = json!({"status": "active", "expires_on": "2028-06-30"});

    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({"trade_name": "مخبز الأمل"})).await;
    assert_eq!(body["outcome"], "mismatch", "{body}");
    assert_eq!(body["fields"]["trade_name"]["match"], false);
    let score = assert_unit_score(&body["fields"]["trade_name"]);
    assert!(score < 1.0, "a mismatch never scores 1: {body}");
    assert_eq!(body["facts"], facts, "facts come with a mismatch");

    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({"owner_national_id": SECOND})).await;
    assert_eq!(body["outcome"], "mismatch", "{body}");
    assert_eq!(body["fields"], json!({"owner_national_id": {"match": false}}));
    assert_eq!(body["facts"], facts);

    let claims = json!({"trade_name": "مخبز النور", "owner_national_id": FIFTH});
    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", claims).await;
    assert_eq!(body["outcome"], "mismatch", "one wrong claim is enough: {body}");
    assert_eq!(body["fields"]["trade_name"]["match"], true);
    assert_eq!(body["fields"]["owner_national_id"]["match"], false);

    // Another fixture's trade name: each registration is itself.
    let body = verify_ok(&app, &token, "654321", "CAIRO", json!({"trade_name": "مخبز النور"})).await;
    assert_eq!(body["outcome"], "mismatch", "{body}");
    assert_eq!(body["facts"], json!({"status": "struck_off", "expires_on": "2020-01-01"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_claim_in_arabic_indic_digits_is_normalised() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({"owner_national_id": "٢٩٠٠١٠١١٣٠٠٠٣٦"})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["fields"]["owner_national_id"]["match"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_absent_fixture_is_not_found_without_fields_or_facts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let claims = json!({"trade_name": "مخبز النور", "owner_national_id": FIRST});
    let body = verify_ok(&app, &token, "999999", "ZAGAZIG", claims).await;
    assert_eq!(body["outcome"], "not_found", "{body}");
    assert!(body.get("fields").is_none(), "{body}");
    assert!(body.get("facts").is_none(), "{body}");
    assert_eq!(body["source"]["registry"], REGISTRY);
    assert_eq!(body["source"]["cached"], false);

    let events = app.audit_events("subject=ZAGAZIG/999999").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "commercial_register.verify");
    assert_eq!(events[0]["outcome"], "not_found");
    assert_eq!(events[0]["http_status"], 200);
    assert_eq!(events[0]["cache"], "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_is_unique_only_within_its_office() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "123456", "CAIRO", json!({})).await;
    assert_eq!(body["outcome"], "not_found", "ZAGAZIG's 123456 is not CAIRO's: {body}");
    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({})).await;
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["source"]["cached"], false, "office and number together are the cache key: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_office_is_case_insensitive_and_arabic_indic_digits_are_accepted() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "123456", "zagazig", json!({"trade_name": "مخبز النور"})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["facts"]["status"], "active");
    assert_eq!(body["source"]["cached"], false);

    for (number, office) in [("١٢٣٤٥٦", "ZAGAZIG"), ("۱۲۳۴۵۶", "Zagazig"), ("123456", " ZAGAZIG ")] {
        let body = verify_ok(&app, &token, number, office, json!({"owner_national_id": FIRST})).await;
        assert_eq!(body["outcome"], "match", "{office:?}/{number}: {body}");
        assert_eq!(body["source"]["cached"], true, "every form is one cache key: {body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);
    let events = app.audit_events("action=commercial_register.verify").await;
    assert_eq!(events.len(), 4);
    assert!(events.iter().all(|e| e["subject"] == "ZAGAZIG/123456"), "the subject is normalised: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_companies_match_their_owners() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (office, number) in synthetic_companies(&app, 3).await {
        let owner = owner_in_registry(&app, &office, &number).await;
        let body = verify_ok(&app, &token, &number, &office, json!({"owner_national_id": owner})).await;
        assert_eq!(body["outcome"], "match", "{office}/{number}: {body}");
        assert_eq!(body["fields"], json!({"owner_national_id": {"match": true}}));
        let status = body["facts"]["status"].as_str().unwrap();
        assert!(["active", "suspended", "struck_off"].contains(&status), "{body}");
        let expires_on = body["facts"]["expires_on"].as_str().unwrap();
        assert!(time::Date::parse(expires_on, time::macros::format_description!("[year]-[month]-[day]")).is_ok());
        // A fixture citizen owns no synthetic company.
        let body = verify_ok(&app, &token, &number, &office, json!({"owner_national_id": FIRST})).await;
        assert_eq!(body["outcome"], "mismatch", "{office}/{number}: {body}");
        assert_eq!(body["source"]["cached"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_office_with_a_space_or_hyphen_is_asked_of_the_register() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for office in ["new cairo", "KAFR-EL-SHEIKH", "SIXTH_OF_OCTOBER"] {
        let body = verify_ok(&app, &token, "123456", office, json!({})).await;
        assert_eq!(body["outcome"], "not_found", "{office}: {body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 3);
    let events = app.audit_events("subject=NEW%20CAIRO/123456").await;
    assert_eq!(events.len(), 1, "the office is upper-cased in the subject: {events:?}");
}

// ---------------------------------------------------------------------------
// Validation: precise 400s, never a registry call
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_keys_are_refused_precisely_without_a_registry_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let cases = [
        ("", "ZAGAZIG", "registration_number", "empty"),
        ("12345678901", "ZAGAZIG", "registration_number", "eleven digits"),
        ("12A456", "ZAGAZIG", "registration_number", "a letter"),
        ("ABCDEF", "ZAGAZIG", "registration_number", "letters"),
        ("123456", "", "office", "empty office"),
        ("123456", "   ", "office", "a blank office"),
        ("123456", "الزقازيق", "office", "an Arabic office"),
    ];
    for (number, office, field, why) in cases {
        let r = app.post_json(PATH, &token, &company_body(number, office, json!({}))).await;
        let body = problem(r, 400, "invalid_request").await;
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("{why}: errors listed: {body}"));
        assert_eq!(errors.len(), 1, "{why}: {body}");
        assert_eq!(errors[0]["field"], field, "{why}: {body}");
        assert!(errors[0]["reason"].as_str().is_some_and(|r| !r.is_empty()), "{why}: {body}");
    }
    // Both wrong at once: both named.
    let r = app.post_json(PATH, &token, &company_body("12345678901", "القاهرة", json!({}))).await;
    let body = problem(r, 400, "invalid_request").await;
    let mut named: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    named.sort_unstable();
    assert_eq!(named, ["office", "registration_number"], "{body}");

    assert_eq!(app.upstream_requests(REGISTRY).await, 0, "no malformed key reaches the registry");
    let events = app.audit_events("action=commercial_register.verify").await;
    assert_eq!(events.len(), cases.len() + 1);
    for e in &events {
        assert_eq!(e["outcome"], "invalid_request", "{e}");
        assert_eq!(e["http_status"], 400, "{e}");
        assert_eq!(e["cache"], "none", "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_digits_and_one_digit_are_valid_numbers() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for number in ["1", "1234567890"] {
        let body = verify_ok(&app, &token, number, "ZAGAZIG", json!({})).await;
        assert_eq!(body["outcome"], "not_found", "{number}: {body}");
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_owner_claim_is_refused_naming_the_claim() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (owner, reason) in [("2900101130003", "length"), ("2900101130003X", "digits"), ("19001011300036", "century")] {
        let r =
            app.post_json(PATH, &token, &company_body("123456", "ZAGAZIG", json!({"owner_national_id": owner}))).await;
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
    let r = app.post_json(PATH, &token, &company_body("123456", "ZAGAZIG", json!({"trade_name": "  "}))).await;
    let body = problem(r, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "claims.trade_name", "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_are_refused_and_named() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut top = company_body("123456", "ZAGAZIG", json!({}));
    top["tax_number"] = json!("123456789");
    let mut in_context = company_body("123456", "ZAGAZIG", json!({}));
    in_context["context"]["center"] = json!("SHR-ZAG-01");
    for (body, field) in [
        (top, "tax_number"),
        (company_body("123456", "ZAGAZIG", json!({"full_name": "محمد أحمد علي"})), "claims.full_name"),
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
    let r = app.post_json(PATH, &token, &json!({"registration_number": "123456", "office": "ZAGAZIG"})).await;
    let body = problem(r, 400, "invalid_request").await;
    assert!(body["errors"].to_string().contains("context"), "{body}");

    let mut bad_operator = company_body("123456", "ZAGAZIG", json!({}));
    bad_operator["context"]["operator_id"] = json!("EMP 1001");
    let body = problem(app.post_json(PATH, &token, &bad_operator).await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "context.operator_id", "{body}");

    let unknown_purpose = company_body_for("123456", "ZAGAZIG", json!({}), "curiosity");
    let body = problem(app.post_json(PATH, &token, &unknown_purpose).await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "context.purpose", "{body}");

    let r = app
        .post_json(
            PATH,
            &token,
            &json!({"office": "ZAGAZIG", "context": {"operator_id": "E1", "purpose": "shop_license"}}),
        )
        .await;
    let body = problem(r, 400, "invalid_request").await;
    assert!(body["errors"].to_string().contains("registration_number"), "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
}

// ---------------------------------------------------------------------------
// Purpose policy and scopes
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purpose_that_does_not_allow_the_register_is_403() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for purpose in ["building_permit", "reconciliation", "property_services", "status_notification"] {
        let body = company_body_for("123456", "ZAGAZIG", json!({}), purpose);
        problem(app.post_json(PATH, &token, &body).await, 403, "forbidden").await;
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 0, "a refused call asks no registry");
    let events = app.audit_events("action=commercial_register.verify").await;
    assert_eq!(events.len(), 4);
    for e in &events {
        assert_eq!(e["outcome"], "forbidden", "{e}");
        assert_eq!(e["http_status"], 403, "{e}");
        assert_eq!(e["cache"], "none", "{e}");
        assert_eq!(e["client_id"], "center-demo", "{e}");
    }
    assert_eq!(events[3]["purpose"], "building_permit");
    assert_eq!(events[3]["subject"], "ZAGAZIG/123456");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_without_the_scope_is_403_whatever_the_purpose() {
    let app = TestApp::spawn().await;
    let token = app.token("limited-demo").await;
    for purpose in ["building_permit", "shop_license"] {
        let body = company_body_for("123456", "ZAGAZIG", json!({}), purpose);
        problem(app.post_json(PATH, &token, &body).await, 403, "forbidden").await;
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 0);
    let events = app.audit_events("action=commercial_register.verify&client_id=limited-demo").await;
    assert_eq!(events.len(), 2, "a 403 is recorded under the action attempted: {events:?}");
    assert!(events.iter().all(|e| e["outcome"] == "forbidden" && e["http_status"] == 403), "{events:?}");
}

// ---------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_call_with_other_claims_is_answered_from_the_cache() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let first = verify_ok(&app, &token, "654321", "CAIRO", json!({"trade_name": "شركة الأمل للتجارة"})).await;
    assert_eq!(first["source"]["cached"], false);
    assert_eq!(first["outcome"], "match");
    let second = verify_ok(&app, &token, "654321", "CAIRO", json!({"owner_national_id": FIRST})).await;
    assert_eq!(second["source"]["cached"], true, "{second}");
    assert_eq!(second["source"]["stale"], false);
    assert_eq!(second["outcome"], "mismatch", "the claims are matched afresh: {second}");
    assert_eq!(second["fields"], json!({"owner_national_id": {"match": false}}));
    assert_eq!(second["facts"], json!({"status": "struck_off", "expires_on": "2020-01-01"}));
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);

    // Another client shares the cache.
    let other = app.token("center2-demo").await;
    let third = verify_ok(&app, &other, "654321", "CAIRO", json!({})).await;
    assert_eq!(third["source"]["cached"], true);
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);

    let events = app.audit_events("action=commercial_register.verify").await;
    let caches: Vec<&str> = events.iter().map(|e| e["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["hit", "hit", "miss"], "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_no_cache_asks_the_registry_again() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    verify_ok(&app, &token, "123456", "ZAGAZIG", json!({})).await;
    let r = verify_no_cache(&app, &token, "123456", "ZAGAZIG").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["cached"], false, "{body}");
    assert_eq!(body["outcome"], "match");
    assert_eq!(app.upstream_requests(REGISTRY).await, 2);
    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({})).await;
    assert_eq!(body["source"]["cached"], true, "the revalidated copy serves the next call: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 2);
    let events = app.audit_events("action=commercial_register.verify").await;
    let caches: Vec<&str> = events.iter().map(|e| e["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["hit", "miss", "miss"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_cached_too() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let first = verify_ok(&app, &token, "999999", "ZAGAZIG", json!({})).await;
    assert_eq!(first["outcome"], "not_found");
    assert_eq!(first["source"]["cached"], false);
    let second = verify_ok(&app, &token, "999999", "zagazig", json!({"trade_name": "مخبز النور"})).await;
    assert_eq!(second["outcome"], "not_found");
    assert_eq!(second["source"]["cached"], true);
    assert_eq!(app.upstream_requests(REGISTRY).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_registration_make_one_registry_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "latency_ms": 300})).await;
    let calls = (0..10).map(|i| {
        let claims = if i % 2 == 0 {
            json!({"trade_name": "ورشة يوسف للنجارة"})
        } else {
            json!({"owner_national_id": FIFTH})
        };
        let body = company_body("777001", "GIZA", claims);
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

/// A gateway whose commercial register gives up quickly.
async fn impatient_app() -> TestApp {
    TestApp::spawn_with(|s| {
        let r = s.registries.get_mut(REGISTRY).unwrap();
        r.timeout_ms = 200;
        r.backoff_max_elapsed_ms = 600;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_answering_503_is_503_upstream_unavailable_with_retry_after() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    let r = verify_response(&app, &token, "123456", "ZAGAZIG").await;
    assert!(retry_after(&r) >= 1);
    let body = problem(r, 503, "upstream_unavailable").await;
    assert!(!body.to_string().contains("HTTP 503"), "no internals leak: {body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "max_attempts = 3");
    assert_eq!(app.upstream_requests("national_id").await, 0, "the other registries are untouched");
    let events = app.audit_events("action=commercial_register.verify").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "upstream_unavailable");
    assert_eq!(events[0]["http_status"], 503);
    assert_eq!(events[0]["subject"], "ZAGAZIG/123456");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_that_never_answers_is_504_upstream_timeout() {
    let app = impatient_app().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "timeout"})).await;
    let started = Instant::now();
    let r = verify_response(&app, &token, "123456", "ZAGAZIG").await;
    let took = started.elapsed();
    problem(r, 504, "upstream_timeout").await;
    assert!(took < Duration::from_millis(2000), "the whole retry budget is 600 ms, took {took:?}");
    let attempts = app.upstream_requests(REGISTRY).await;
    assert!((1..=3).contains(&attempts), "{attempts} attempts");
    let events = app.audit_events("action=commercial_register.verify").await;
    assert_eq!(events[0]["outcome"], "upstream_timeout");
    assert_eq!(events[0]["http_status"], 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_that_resets_the_connection_is_503_after_retries() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "reset"})).await;
    let r = verify_response(&app, &token, "123456", "ZAGAZIG").await;
    assert!(retry_after(&r) >= 1);
    problem(r, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "a reset is transient and retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_register_answering_malformed_json_is_503() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "malformed"})).await;
    let r = verify_response(&app, &token, "123456", "ZAGAZIG").await;
    assert!(retry_after(&r) >= 1);
    let body = problem(r, 503, "upstream_unavailable").await;
    let text = body.to_string();
    assert!(!text.contains("registration") && !text.contains("مخبز"), "no fragment of the answer leaks: {text}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 3, "a malformed answer is transient and retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_register_recovering_ends_the_failure() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    problem(verify_response(&app, &token, "777001", "GIZA").await, 503, "upstream_unavailable").await;
    app.clear_faults().await;
    let body = verify_ok(&app, &token, "777001", "GIZA", json!({})).await;
    assert_eq!(body["outcome"], "match", "a failure is not cached: {body}");
    assert_eq!(body["source"]["cached"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_copy_is_served_stale_when_the_register_fails() {
    let app = TestApp::spawn_with(|s| s.registries.get_mut(REGISTRY).unwrap().cache_ttl_seconds = 1).await;
    let token = app.token("center-demo").await;
    let warm = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({"trade_name": "مخبز النور"})).await;
    assert_eq!(warm["source"]["cached"], false);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    let body = verify_ok(&app, &token, "123456", "ZAGAZIG", json!({"owner_national_id": FIRST})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["fields"], json!({"owner_national_id": {"match": true}}));
    assert_eq!(body["facts"], json!({"status": "active", "expires_on": "2028-06-30"}));
    assert_eq!(body["source"]["registry"], REGISTRY);
    assert_eq!(body["source"]["cached"], true);
    assert_eq!(body["source"]["stale"], true);
    assert!(body["source"]["age_seconds"].as_u64().unwrap() >= 1, "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 1 + 3, "the register was asked (and retried) first");
    let events = app.audit_events("action=commercial_register.verify").await;
    assert_eq!(events[0]["cache"], "stale");
    assert_eq!(events[0]["outcome"], "match");
    assert_eq!(events[0]["http_status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_cache_request_is_served_stale_when_the_register_fails() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    verify_ok(&app, &token, "123456", "ZAGAZIG", json!({})).await;
    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    let r = verify_no_cache(&app, &token, "123456", "ZAGAZIG").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["stale"], true, "{body}");
    assert_eq!(body["source"]["cached"], true, "{body}");
    assert_eq!(app.upstream_requests(REGISTRY).await, 1 + 3);
    // Without any copy, no-cache or not, a failing register is 503.
    let r = verify_no_cache(&app, &token, "654321", "CAIRO").await;
    problem(r, 503, "upstream_unavailable").await;
}

// ---------------------------------------------------------------------------
// Audit and readiness
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_makes_one_audit_event_with_office_and_number_as_subject() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json(PATH, &token, &company_body("123456", "zagazig", json!({"trade_name": "مخبز النور"}))).await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let r2 =
        app.post_json(PATH, &token, &company_body("١٢٣٤٥٦", "ZAGAZIG", json!({"owner_national_id": SECOND}))).await;
    assert_eq!(r2.status(), 200);
    let second_id = r2.headers()["x-request-id"].to_str().unwrap().to_owned();

    let events = app.audit_events("subject=ZAGAZIG/123456").await;
    assert_eq!(events.len(), 2, "one event a call: {events:?}");
    let (newer, older) = (&events[0], &events[1]);
    assert_eq!(older["id"], request_id.as_str(), "X-Request-Id is the event id");
    assert_eq!(newer["id"], second_id.as_str());
    for (e, outcome, cache) in [(older, "match", "miss"), (newer, "mismatch", "hit")] {
        assert_eq!(e["action"], "commercial_register.verify", "{e}");
        assert_eq!(e["subject"], "ZAGAZIG/123456", "{e}");
        assert_eq!(e["client_id"], "center-demo", "{e}");
        assert_eq!(e["center_id"], "SHR-ZAG-01", "{e}");
        assert_eq!(e["operator_id"], "EMP-1001", "{e}");
        assert_eq!(e["purpose"], "shop_license", "{e}");
        assert_eq!(e["case_ref"], "SHR-2025-000456", "{e}");
        assert_eq!(e["outcome"], outcome, "{e}");
        assert_eq!(e["http_status"], 200, "{e}");
        assert_eq!(e["cache"], cache, "{e}");
    }
    // The event names the registration, never the claims.
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("مخبز") && !text.contains(SECOND), "claims leaked into the audit log: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_lists_the_register_and_its_circuit_opens_alone() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "ready");
    for name in ["national_id", "commercial_register", "real_estate", "security"] {
        assert_eq!(ready["connectors"][name], "closed", "{name}: {ready}");
    }

    app.fault(json!({"registry": REGISTRY, "mode": "http_503"})).await;
    for (office, number) in synthetic_companies(&app, 5).await {
        problem(verify_response(&app, &token, &number, &office).await, 503, "upstream_unavailable").await;
    }
    assert_eq!(app.upstream_requests(REGISTRY).await, 15);
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200, "an open circuit keeps the replica in the load balancer");
    assert_eq!(ready["status"], "degraded");
    assert_eq!(ready["connectors"]["commercial_register"], "open", "{ready}");
    assert_eq!(ready["connectors"]["real_estate"], "closed", "{ready}");
    assert_eq!(ready["connectors"]["national_id"], "closed", "{ready}");

    let r = verify_response(&app, &token, "123456", "ZAGAZIG").await;
    assert!(retry_after(&r) >= 1);
    problem(r, 503, "upstream_unavailable").await;
    assert_eq!(app.upstream_requests(REGISTRY).await, 15, "an open circuit makes no registry request");
}
