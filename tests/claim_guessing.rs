//! The claim-guessing stop (CONTRACT §13), black box on both stores: one
//! client trying value after value of one claim about one citizen is stopped
//! with 429 `too_many_mismatches` before the registry is asked; typos,
//! repeats, other claims and ordinary mismatches over many citizens are not.

mod common;

use common::{Backend, TestApp, problem, verify_body};
use serde_json::{Value, json};

const CITIZEN: &str = "29001011300036";

/// Twenty mothers' names, none of them the registry's (فاطمة حسن).
const GUESSES: [&str; 20] = [
    "زينب علي",
    "مريم حسن",
    "خديجة محمود",
    "عائشة سيد",
    "نفيسة عمر",
    "هدى سامي",
    "منى فؤاد",
    "سعاد ابراهيم",
    "نادية كمال",
    "سميرة عادل",
    "ليلى يوسف",
    "سلوى احمد",
    "رشا مصطفى",
    "هالة فتحي",
    "نجلاء رضا",
    "امل جمال",
    "وفاء حمدي",
    "سحر عثمان",
    "عفاف طه",
    "ثريا عزت",
];

async fn guess(app: &TestApp, token: &str, id: &str, mother: &str) -> reqwest::Response {
    app.post_json("/v1/national-id/verify", token, &verify_body(id, json!({ "mother_name": mother }))).await
}

async fn ok_outcome(resp: reqwest::Response) -> String {
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["outcome"].as_str().unwrap().to_owned()
}

async fn a_guessing_run_is_stopped_at_the_sixth_value(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    for (i, mother) in GUESSES.iter().enumerate().take(5) {
        assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, mother).await).await, "mismatch", "guess {}", i + 1);
    }
    let upstream_before = app.upstream_requests("national_id").await;
    let mut stopped_ids = Vec::new();
    for mother in &GUESSES[5..] {
        let resp = guess(&app, &token, CITIZEN, mother).await;
        let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((3000..=3601).contains(&retry_after), "until the window has passed: {retry_after}");
        let body = problem(resp, 429, "too_many_mismatches").await;
        stopped_ids.push(body["request_id"].as_str().unwrap().to_owned());
    }
    // The right answer is stopped too: a guesser must not learn it either.
    let resp = guess(&app, &token, CITIZEN, "فاطمة حسن").await;
    problem(resp, 429, "too_many_mismatches").await;
    assert_eq!(app.upstream_requests("national_id").await, upstream_before, "no registry call after the stop");

    let events = app.audit_events(&format!("subject={CITIZEN}&outcome=too_many_mismatches&limit=100")).await;
    assert_eq!(events.len(), 16, "every stopped call is audited with that outcome");
    for e in &events {
        assert_eq!(e["http_status"], 429);
        assert_eq!(e["cache"], "none", "no registry record was looked up");
        assert_eq!(e["client_id"], "center-demo");
    }
    assert!(stopped_ids.iter().all(|id| events.iter().any(|e| e["id"] == id.as_str())));

    // The store keeps no value in clear: only hashes, bound to their citizen.
    let sql = "SELECT COUNT(*) FROM claim_mismatches WHERE value_hash LIKE '%زينب%' OR length(value_hash) <> 64";
    assert_eq!(scalar(&app, sql).await, 0);
    assert_eq!(scalar(&app, "SELECT COUNT(DISTINCT value_hash) FROM claim_mismatches").await, 5);
}

/// One number from the gateway's store, read from outside.
async fn scalar(app: &TestApp, sql: &str) -> i64 {
    use sqlx::Connection;
    let sql = sqlx::AssertSqlSafe(sql.to_owned());
    match app.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&app.settings.store.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&app.settings.store.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
        }
    }
}

async fn calls_without_the_stopped_claim_go_on(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    for mother in &GUESSES[..5] {
        assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, mother).await).await, "mismatch");
    }
    problem(guess(&app, &token, CITIZEN, GUESSES[5]).await, 429, "too_many_mismatches").await;
    // The same citizen without a mother's name claim.
    let (status, body) = app.verify(&token, &verify_body(CITIZEN, json!({"full_name": "محمد أحمد علي"}))).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("match")), "{body}");
    let (status, body) = app.verify(&token, &verify_body(CITIZEN, json!({}))).await;
    assert_eq!((status, body["outcome"].as_str()), (200, Some("match")), "{body}");
    // Another client is not stopped by this one's guesses.
    let other = app.token("center2-demo").await;
    assert_eq!(ok_outcome(guess(&app, &other, CITIZEN, "فاطمة حسن").await).await, "match");
    // Nor is another citizen.
    assert_eq!(ok_outcome(guess(&app, &token, "28507150100022", "زينب إبراهيم").await).await, "match");
}

async fn a_repeated_value_and_a_corrected_typo_do_not_count(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    // Four different wrong values, each asked many times, and spellings that
    // normalise to one of them (ة/ه, hamza, extra spaces).
    for _ in 0..5 {
        for mother in &GUESSES[..4] {
            assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, mother).await).await, "mismatch");
        }
    }
    for variant in ["خديجه محمود", "  خديجة   محمود ", "عائشه سيد"] {
        assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, variant).await).await, "mismatch");
    }
    // The right name still answers.
    assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, "فاطمة حسن").await).await, "match");
    // A not_found does not count either: an absent citizen, many names.
    for mother in &GUESSES {
        assert_eq!(ok_outcome(guess(&app, &token, "29001011399997", mother).await).await, "not_found");
    }
}

async fn ordinary_mismatches_over_many_citizens_never_stop(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let citizens = app.population(60).await;
    // Each citizen gets two wrong values (a typo, then another), all day long.
    for id in &citizens {
        for mother in &GUESSES[..2] {
            let resp = guess(&app, &token, id, mother).await;
            assert_eq!(resp.status(), 200, "ordinary mismatches are never stopped");
        }
    }
    let stopped = app.audit_events("outcome=too_many_mismatches").await;
    assert!(stopped.is_empty());
}

async fn the_stop_lifts_when_the_window_has_passed(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    for mother in &GUESSES[..5] {
        assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, mother).await).await, "mismatch");
    }
    problem(guess(&app, &token, CITIZEN, GUESSES[5]).await, 429, "too_many_mismatches").await;
    // An hour passes for the oldest guess only (the store's clock is text:
    // the rows are moved back, as time would).
    let oldest = "UPDATE claim_mismatches SET at = '2000-01-01T00:00:00.000000Z' WHERE at = \
                  (SELECT MIN(at) FROM claim_mismatches)";
    assert_eq!(app.exec_sql(oldest).await, 1);
    // Four values are left in the window: one more may be tried, and counts.
    assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, GUESSES[5]).await).await, "mismatch");
    problem(guess(&app, &token, CITIZEN, GUESSES[6]).await, 429, "too_many_mismatches").await;
    // The whole window passes: every value left it.
    app.exec_sql("UPDATE claim_mismatches SET at = '2000-01-01T00:00:00.000000Z'").await;
    assert_eq!(ok_outcome(guess(&app, &token, CITIZEN, "فاطمة حسن").await).await, "match");
}

/// Claims of the other registries are counted the same way.
async fn owner_guessing_on_a_property_is_stopped(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.verify.max_mismatches = 3).await;
    let token = app.token("center-demo").await;
    let owners = app.population(10).await;
    let body = |owner: &str| {
        json!({"property_id": "SHR-ZAG-000123", "claims": {"owner_national_id": owner},
               "context": {"operator_id": "EMP-1001", "purpose": "building_permit"}})
    };
    let mut mismatches = 0;
    for owner in &owners {
        let resp = app.post_json("/v1/real-estate/verify", &token, &body(owner)).await;
        if resp.status() == 429 {
            problem(resp, 429, "too_many_mismatches").await;
            assert_eq!(mismatches, 3, "stopped after the third different owner");
            return;
        }
        let b: Value = resp.json().await.unwrap();
        if b["outcome"] == "mismatch" {
            mismatches += 1;
        }
    }
    panic!("never stopped after {mismatches} mismatching owners");
}

on_both_backends!(
    a_guessing_run_is_stopped_at_the_sixth_value,
    calls_without_the_stopped_claim_go_on,
    a_repeated_value_and_a_corrected_typo_do_not_count,
    ordinary_mismatches_over_many_citizens_never_stop,
    the_stop_lifts_when_the_window_has_passed,
    owner_guessing_on_a_property_is_stopped,
);
