//! POST /v1/national-id/verify, black box: the fixtures of DOMAIN.md, local ID
//! validation, Arabic name matching and the registry cache (CONTRACT §5).

mod common;

use common::{TestApp, problem, verify_body};
use serde_json::{Value, json};

const FIRST: &str = "29001011300036";
const SECOND: &str = "28507150100022";
const THIRD: &str = "24003202100031";
const FOURTH: &str = "30102100200041";
const FIFTH: &str = "29505058800051";
const ABSENT: &str = "29001011399997";

async fn verify_ok(app: &TestApp, token: &str, id: &str, claims: Value) -> Value {
    let (status, body) = app.verify(token, &verify_body(id, claims)).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn assert_score_in_unit_interval(field: &Value) {
    let score = field["score"].as_f64().unwrap_or_else(|| panic!("a name field carries a score: {field}"));
    assert!((0.0..=1.0).contains(&score), "score {score} outside 0..1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_fixture_matches_its_three_name_claim_and_is_audited() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app
        .post_json(
            "/v1/national-id/verify",
            &token,
            &verify_body(
                "29001011300036",
                json!({"full_name": "محمد احمد علي", "birth_date": "1990-01-01", "gender": "male"}),
            ),
        )
        .await;
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["fields"]["full_name"]["match"], true);
    assert_eq!(body["facts"], json!({"alive": true, "card_status": "valid"}));
    assert_eq!(body["request_id"], request_id.as_str());
    let events = app.audit_events("subject=29001011300036").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], request_id.as_str());
    assert_eq!(events[0]["action"], "national_id.verify");
    assert_eq!(events[0]["outcome"], "match");
    assert_eq!(events[0]["cache"], "miss");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_claim_of_the_first_fixture_matches_and_each_field_says_so() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(
        &app,
        &token,
        FIRST,
        json!({"full_name": "محمد أحمد علي حسن", "birth_date": "1990-01-01", "gender": "male", "mother_name": "فاطمة حسن"}),
    )
    .await;
    assert_eq!(body["outcome"], "match");
    let fields = body["fields"].as_object().unwrap();
    assert_eq!(fields.len(), 4, "{body}");
    for (name, field) in fields {
        assert_eq!(field["match"], true, "{name}: {body}");
    }
    assert_score_in_unit_interval(&body["fields"]["full_name"]);
    assert_score_in_unit_interval(&body["fields"]["mother_name"]);
    assert!(body["fields"]["birth_date"].get("score").is_none(), "only names are scored: {body}");
    assert!(body["fields"]["gender"].get("score").is_none(), "only names are scored: {body}");
    assert_eq!(body["source"]["registry"], "national_id");
    assert_eq!(body["source"]["cached"], false);
    assert_eq!(body["source"]["stale"], false);
    assert!(body["source"]["age_seconds"].is_u64(), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_carries_match_results_and_facts_never_the_registry_record() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, FIRST, json!({"full_name": "محمد أحمد علي"})).await;
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for key in ["request_id", "outcome", "fields", "facts", "source"] {
        assert!(keys.contains(&key), "{key} missing: {body}");
    }
    let text = body.to_string();
    for private in ["حسن", "فاطمة", "1990-01-01", "male"] {
        assert!(!text.contains(private), "the record leaked {private}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fixture_reports_its_own_facts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (id, alive, card_status) in [
        (FIRST, true, "valid"),
        (SECOND, true, "valid"),
        (THIRD, false, "expired"),
        (FOURTH, true, "reported_lost"),
        (FIFTH, true, "valid"),
    ] {
        let body = verify_ok(&app, &token, id, json!({})).await;
        assert_eq!(body["outcome"], "match", "{id}: {body}");
        assert_eq!(body["facts"], json!({"alive": alive, "card_status": card_status}), "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_matches_its_full_registry_record() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (id, name, birth, gender, mother) in [
        (FIRST, "محمد أحمد علي حسن", "1990-01-01", "male", "فاطمة حسن"),
        (SECOND, "فاطمة الزهراء محمود عبد الله", "1985-07-15", "female", "زينب إبراهيم"),
        (THIRD, "إبراهيم عبد الرحمن سيد", "1940-03-20", "male", "نفيسة عمر"),
        (FOURTH, "آية مصطفى كمال الدين", "2001-02-10", "female", "هدى سامي"),
        (FIFTH, "يوسف أشرف السيد", "1995-05-05", "male", "منى فؤاد"),
    ] {
        let claims = json!({"full_name": name, "birth_date": birth, "gender": gender, "mother_name": mother});
        let body = verify_ok(&app, &token, id, claims).await;
        assert_eq!(body["outcome"], "match", "{id}: {body}");
        assert_eq!(body["fields"]["full_name"]["score"], 1.0, "an identical name scores 1: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_claims_an_existing_record_is_a_match_with_empty_fields() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, SECOND, json!({})).await;
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["fields"], json!({}));
    // `claims` may be left out altogether.
    let mut without = verify_body(SECOND, json!({}));
    without.as_object_mut().unwrap().remove("claims");
    let (status, body) = app.verify(&token, &without).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "match");
    assert_eq!(body["fields"], json!({}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_absent_fixture_is_not_found_without_fields_or_facts() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, ABSENT, json!({"full_name": "محمد أحمد علي"})).await;
    assert_eq!(body["outcome"], "not_found");
    assert!(body.get("fields").is_none(), "{body}");
    assert!(body.get("facts").is_none(), "{body}");
    assert_eq!(body["source"]["registry"], "national_id");
    let events = app.audit_events(&format!("subject={ABSENT}")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "not_found");
    assert_eq!(events[0]["http_status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_must_match_after_normalisation_do() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (id, name, why) in [
        (FIRST, "محمد احمد علي", "three names, bare alef"),
        (FIRST, "مُحَمَّد أحمد علي حسن", "diacritics"),
        (SECOND, "فاطمه الزهراء محمود عبدالله", "ta marbuta, joined compound"),
        (FOURTH, "اية مصطفي كمال الدين", "madda, alef maqsura"),
        (SECOND, "فاطمة الزهراء محمود", "the first three names"),
        (THIRD, "ابراهيم عبدالرحمن سيد", "hamza below and joined compound"),
    ] {
        let body = verify_ok(&app, &token, id, json!({"full_name": name})).await;
        assert_eq!(body["outcome"], "match", "{why}: {body}");
        assert_eq!(body["fields"]["full_name"]["match"], true, "{why}: {body}");
        assert_score_in_unit_interval(&body["fields"]["full_name"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_that_must_not_match_are_a_mismatch() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (name, why) in [
        ("محمد أحمد", "two names only"),
        ("محمود أحمد علي", "another first name"),
        ("محمد", "one name only"),
        ("أحمد علي حسن", "the names shifted by one"),
        ("محمد أحمد علي حسن إبراهيم", "a fifth name the registry does not have"),
    ] {
        let body = verify_ok(&app, &token, FIRST, json!({"full_name": name})).await;
        assert_eq!(body["outcome"], "mismatch", "{why}: {body}");
        assert_eq!(body["fields"]["full_name"]["match"], false, "{why}: {body}");
        assert_score_in_unit_interval(&body["fields"]["full_name"]);
        assert_eq!(body["facts"], json!({"alive": true, "card_status": "valid"}), "facts come with a mismatch");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_name_claim_scores_below_a_three_name_claim() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let two = verify_ok(&app, &token, FIRST, json!({"full_name": "محمد أحمد"})).await;
    let three = verify_ok(&app, &token, FIRST, json!({"full_name": "محمد أحمد علي"})).await;
    let (two, three) = (
        two["fields"]["full_name"]["score"].as_f64().unwrap(),
        three["fields"]["full_name"]["score"].as_f64().unwrap(),
    );
    assert!(two < three, "two names {two} vs three names {three}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_wrong_claim_makes_the_whole_answer_a_mismatch_and_names_the_field() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(
        &app,
        &token,
        SECOND,
        json!({"full_name": "فاطمة الزهراء محمود عبد الله", "birth_date": "1985-07-16", "gender": "female"}),
    )
    .await;
    assert_eq!(body["outcome"], "mismatch");
    assert_eq!(body["fields"]["full_name"]["match"], true);
    assert_eq!(body["fields"]["birth_date"]["match"], false);
    assert_eq!(body["fields"]["gender"]["match"], true);

    let body = verify_ok(&app, &token, SECOND, json!({"gender": "male"})).await;
    assert_eq!(body["outcome"], "mismatch");
    assert_eq!(body["fields"], json!({"gender": {"match": false}}));

    let body = verify_ok(&app, &token, SECOND, json!({"mother_name": "فاطمة حسن"})).await;
    assert_eq!(body["outcome"], "mismatch");
    assert_eq!(body["fields"]["mother_name"]["match"], false);
    assert_score_in_unit_interval(&body["fields"]["mother_name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_claims_are_invalid_requests_naming_the_claim() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (claims, field) in [
        (json!({"birth_date": "01/01/1990"}), "claims.birth_date"),
        (json!({"gender": "m"}), "claims.gender"),
        (json!({"full_name": "  "}), "claims.full_name"),
    ] {
        let r = app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, claims)).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_in_arabic_indic_digits_is_valid_and_normalised() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let body = verify_ok(&app, &token, "٢٩٠٠١٠١١٣٠٠٠٣٦", json!({"full_name": "محمد احمد علي"})).await;
    assert_eq!(body["outcome"], "match", "{body}");
    assert_eq!(body["facts"]["card_status"], "valid");
    let body = verify_ok(&app, &token, "۲۹۰۰۱۰۱۱۳۰۰۰۳۶", json!({})).await;
    assert_eq!(body["outcome"], "match", "Eastern Arabic digits: {body}");
    assert_eq!(body["source"]["cached"], true, "both forms are one cache key: {body}");
    let events = app.audit_events("action=national_id.verify").await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["subject"] == FIRST), "the subject is the ASCII form: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spaces_hyphens_and_bidi_marks_in_an_id_are_removed() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for written in ["2900 1011 3000 36", "2-900101-13-0003-6", "\u{200F}29001011300036\u{200E}", " 29001011300036 "] {
        let body = verify_ok(&app, &token, written, json!({})).await;
        assert_eq!(body["outcome"], "match", "{written:?}: {body}");
    }
    assert_eq!(app.upstream_requests("national_id").await, 1, "one normalised key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_id_is_refused_with_its_reason_and_no_registry_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for (id, reason) in [
        ("2900101130003", "length"),
        ("2900101130003X", "digits"),
        ("19001011300036", "century"),
        ("29002301300036", "birth_date"),
        ("39901011300036", "birth_date"),
        ("29001019900036", "governorate"),
    ] {
        let r = app.post_json("/v1/national-id/verify", &token, &verify_body(id, json!({}))).await;
        let body = problem(r, 400, "invalid_national_id").await;
        assert_eq!(body["errors"][0]["field"], "national_id", "{id}: {body}");
        assert_eq!(body["errors"][0]["reason"], reason, "{id}: {body}");
        assert!(!body.to_string().contains(id), "the problem does not echo the ID: {body}");
    }
    assert_eq!(app.upstream_requests("national_id").await, 0, "no invalid ID reaches the registry");
    let events = app.audit_events("action=national_id.verify&outcome=invalid_national_id").await;
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e["http_status"] == 400 && e["cache"] == "none"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_with_a_wrong_check_digit_is_still_asked_of_the_registry() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    // The first fixture with its check digit changed: a soft signal only.
    let body = verify_ok(&app, &token, "29001011300037", json!({})).await;
    assert_eq!(body["outcome"], "not_found");
    assert_eq!(app.upstream_requests("national_id").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_verify_with_other_claims_is_answered_from_the_cache() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let first = verify_ok(&app, &token, FIRST, json!({"full_name": "محمد أحمد علي"})).await;
    assert_eq!(first["source"]["cached"], false);
    let second = verify_ok(&app, &token, FIRST, json!({"birth_date": "1990-01-02", "gender": "male"})).await;
    assert_eq!(second["source"]["cached"], true);
    assert_eq!(second["source"]["stale"], false);
    assert_eq!(second["outcome"], "mismatch", "the claims are matched afresh: {second}");
    assert_eq!(second["fields"]["birth_date"]["match"], false);
    assert_eq!(app.upstream_requests("national_id").await, 1);
    let events = app.audit_events("action=national_id.verify").await;
    let caches: Vec<&str> = events.iter().map(|e| e["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["hit", "miss"], "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_shared_between_clients() {
    let app = TestApp::spawn().await;
    let one = app.token("center-demo").await;
    let two = app.token("center2-demo").await;
    verify_ok(&app, &one, FIFTH, json!({})).await;
    let body = verify_ok(&app, &two, FIFTH, json!({"full_name": "يوسف أشرف السيد"})).await;
    assert_eq!(body["source"]["cached"], true);
    assert_eq!(app.upstream_requests("national_id").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_control_no_cache_asks_the_registry_again() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    verify_ok(&app, &token, FIRST, json!({})).await;
    let r = app
        .http
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(&token)
        .header("Cache-Control", "no-cache")
        .json(&verify_body(FIRST, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["source"]["cached"], false, "{body}");
    assert_eq!(app.upstream_requests("national_id").await, 2);
    // The revalidated copy serves the next ordinary call.
    let body = verify_ok(&app, &token, FIRST, json!({})).await;
    assert_eq!(body["source"]["cached"], true);
    assert_eq!(app.upstream_requests("national_id").await, 2);
    let events = app.audit_events("action=national_id.verify").await;
    let caches: Vec<&str> = events.iter().map(|e| e["cache"].as_str().unwrap()).collect();
    assert_eq!(caches, ["hit", "miss", "miss"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_found_is_cached_too() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let first = verify_ok(&app, &token, ABSENT, json!({})).await;
    assert_eq!(first["outcome"], "not_found");
    assert_eq!(first["source"]["cached"], false);
    let second = verify_ok(&app, &token, ABSENT, json!({"gender": "male"})).await;
    assert_eq!(second["outcome"], "not_found");
    assert_eq!(second["source"]["cached"], true);
    assert_eq!(app.upstream_requests("national_id").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_id_make_exactly_one_registry_call() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    app.fault(json!({"registry": "national_id", "latency_ms": 300})).await;
    let calls = (0..20).map(|i| {
        let claims = if i % 2 == 0 { json!({"gender": "female"}) } else { json!({"birth_date": "1985-07-15"}) };
        let body = verify_body(SECOND, claims);
        let (app, token) = (&app, &token);
        async move { app.verify(token, &body).await }
    });
    let answers = futures::future::join_all(calls).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["outcome"], "match", "{body}");
    }
    assert_eq!(app.upstream_requests("national_id").await, 1, "single flight");
    let misses = answers.iter().filter(|(_, b)| b["source"]["cached"] == false).count();
    assert!(misses >= 1, "at least the leader went to the registry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_ids_are_fetched_separately() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let ids = app.population(5).await;
    assert_eq!(ids.len(), 5);
    for id in &ids {
        let body = verify_ok(&app, &token, id, json!({})).await;
        assert_eq!(body["outcome"], "match", "a synthetic citizen is found: {body}");
        assert!(body["facts"]["alive"].is_boolean());
    }
    assert_eq!(app.upstream_requests("national_id").await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verify_records_operator_purpose_and_case_ref_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body(FOURTH, json!({"gender": "male"}))).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let events = app.audit_events(&format!("subject={FOURTH}")).await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["client_id"], "center-demo");
    assert_eq!(e["center_id"], "SHR-ZAG-01");
    assert_eq!(e["operator_id"], "EMP-1001");
    assert_eq!(e["purpose"], "building_permit");
    assert_eq!(e["case_ref"], "SHR-2025-000123");
    assert_eq!(e["outcome"], "mismatch");
    assert_eq!(e["http_status"], 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_without_case_ref_is_accepted_but_a_bad_operator_id_is_not() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let mut body = verify_body(FIRST, json!({}));
    body["context"].as_object_mut().unwrap().remove("case_ref");
    let (status, answer) = app.verify(&token, &body).await;
    assert_eq!(status, 200, "case_ref is optional for verify calls: {answer}");

    let mut body = verify_body(FIRST, json!({}));
    body["context"]["operator_id"] = json!("EMP 1001; DROP");
    let r = app.post_json("/v1/national-id/verify", &token, &body).await;
    let answer = problem(r, 400, "invalid_request").await;
    assert_eq!(answer["errors"][0]["field"], "context.operator_id", "{answer}");

    let mut body = verify_body(FIRST, json!({}));
    body["context"]["case_ref"] = json!("x".repeat(65));
    let r = app.post_json("/v1/national-id/verify", &token, &body).await;
    let answer = problem(r, 400, "invalid_request").await;
    assert_eq!(answer["errors"][0]["field"], "context.case_ref", "{answer}");
    assert_eq!(app.upstream_requests("national_id").await, 1);
}
