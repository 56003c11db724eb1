//! The audit log (CONTRACT §8): one event per call, the hash chain, the
//! auditor's queries and paging, `bawaba audit verify`, and a store that is
//! down.

mod common;

use common::{Backend, TestApp, problem, verify_body};
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const FIRST: &str = "29001011300036";
const SECOND: &str = "28507150100022";

const EVENT_FIELDS: [&str; 16] = [
    "id",
    "seq",
    "at",
    "client_id",
    "center_id",
    "operator_id",
    "action",
    "subject",
    "purpose",
    "case_ref",
    "outcome",
    "http_status",
    "cache",
    "duration_ms",
    "prev_hash",
    "hash",
];

/// One page of `/v1/audit/events`.
async fn page(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app.get(&format!("/v1/audit/events?{query}"), token).await;
    assert_eq!(r.status(), 200, "query {query}");
    r.json().await.unwrap()
}

async fn events(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    page(app, token, query).await["events"].as_array().unwrap().clone()
}

async fn integrity(app: &TestApp, token: &str) -> Value {
    let r = app.get("/v1/audit/integrity", token).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn with_operator(id: &str, operator: &str) -> Value {
    let mut body = verify_body(id, json!({}));
    body["context"]["operator_id"] = json!(operator);
    body
}

fn is_lower_hex_sha256(s: &Value) -> bool {
    s.as_str().is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)))
}

async fn audit_verify_cli(app: &TestApp) -> (i32, String) {
    let config = app.cli_config();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bawaba"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .current_dir(app.dir.path())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("the CLI finishes").unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().expect("an exit code"), text)
}

fn numbers_in(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).filter_map(|s| s.parse().ok()).collect()
}

async fn every_call_and_every_token_request_makes_exactly_one_event(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    let r = app.post_json("/v1/national-id/verify", &center, &verify_body(FIRST, json!({}))).await;
    let verify_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.status(), 200);
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "center-demo"), ("client_secret", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let auditor = app.token("auditor-demo").await;

    let all = events(&app, &auditor, "").await;
    let actions: Vec<&str> = all.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["token.issue", "token.issue", "national_id.verify", "token.issue"], "newest first");
    let seqs: Vec<i64> = all.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, [4, 3, 2, 1]);

    let issued = &all[3];
    assert_eq!(issued["subject"], "center-demo");
    assert_eq!(issued["client_id"], "center-demo");
    assert_eq!(issued["center_id"], "SHR-ZAG-01");
    assert_eq!(issued["outcome"], "ok");
    assert_eq!(issued["http_status"], 200);
    assert_eq!(issued["cache"], "none");
    let refused = &all[1];
    assert_eq!(refused["subject"], "center-demo", "the client id tried");
    assert_eq!(refused["http_status"], 401);
    assert_ne!(refused["outcome"], "ok");
    assert_eq!(all[2]["id"], verify_id.as_str());
    assert_eq!(all[0]["subject"], "auditor-demo");
}

async fn every_event_carries_the_fields_of_the_contract(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    app.verify(&center, &verify_body(FIRST, json!({"gender": "female"}))).await;
    app.verify(&center, &verify_body(FIRST, json!({}))).await;
    let auditor = app.token("auditor-demo").await;
    let all = events(&app, &auditor, "").await;
    assert_eq!(all.len(), 4);
    for e in &all {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        for field in EVENT_FIELDS {
            assert!(keys.contains(&field), "{field} missing: {e}");
        }
        assert_eq!(keys.len(), EVENT_FIELDS.len(), "no other fields: {keys:?}");
        let id = uuid::Uuid::parse_str(e["id"].as_str().unwrap()).expect("id is a UUID");
        assert_eq!(id.get_version_num(), 7);
        let at = e["at"].as_str().unwrap();
        let at = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).expect("RFC 3339");
        assert_eq!(at.offset(), time::UtcOffset::UTC);
        assert!(is_lower_hex_sha256(&e["hash"]), "{e}");
        assert!(is_lower_hex_sha256(&e["prev_hash"]), "{e}");
        assert!(e["duration_ms"].is_u64());
        assert!(["hit", "miss", "stale", "none"].contains(&e["cache"].as_str().unwrap()));
    }
    // Newest first; each event's prev_hash is the hash of the one before it.
    for pair in all.windows(2) {
        assert_eq!(pair[0]["prev_hash"], pair[1]["hash"]);
        assert_eq!(pair[0]["seq"].as_i64().unwrap(), pair[1]["seq"].as_i64().unwrap() + 1);
    }
    let (hit, miss) = (&all[1], &all[2]);
    assert_eq!((miss["outcome"].as_str(), miss["cache"].as_str()), (Some("mismatch"), Some("miss")));
    assert_eq!((hit["outcome"].as_str(), hit["cache"].as_str()), (Some("match"), Some("hit")));
    assert_eq!(hit["subject"], FIRST);
    assert_eq!(hit["purpose"], "building_permit");
    assert_eq!(hit["case_ref"], "SHR-2025-000123");
    assert_eq!(hit["operator_id"], "EMP-1001");
}

async fn the_integrity_check_walks_the_whole_chain(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for id in [FIRST, SECOND, "123"] {
        app.verify(&center, &verify_body(id, json!({}))).await;
    }
    let auditor = app.token("auditor-demo").await;
    // token, three verifies, token: five events before the check.
    let report = integrity(&app, &auditor).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["checked"], 5);
    assert_eq!(report["head_seq"], 5);
    assert_eq!(report["first_bad_seq"], Value::Null);
    let all = events(&app, &auditor, "").await;
    assert_eq!(all.len(), 6, "the check itself is audited");
    assert_eq!(all[0]["action"], "audit.integrity");
    assert_eq!(report["head_hash"], all[1]["hash"]);
    let again = integrity(&app, &auditor).await;
    assert_eq!(again["head_seq"], 7, "integrity + query since");
}

async fn auditor_queries_are_audited_too(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let auditor = app.token("auditor-demo").await;
    let r = app.get("/v1/audit/events?subject=29001011300036", &auditor).await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.status(), 200);
    let all = events(&app, &auditor, "action=audit.query").await;
    assert_eq!(all.len(), 1);
    let e = &all[0];
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["client_id"], "auditor-demo");
    assert_eq!(e["subject"], Value::Null, "no subject for a query");
    assert_eq!(e["outcome"], "ok");
    assert_eq!(e["http_status"], 200);
    assert_eq!(e["cache"], "none");
}

async fn the_filters_select_by_subject_client_operator_action_and_outcome(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    let center2 = app.token("center2-demo").await;
    app.verify(&center, &with_operator(FIRST, "EMP-1001")).await;
    app.verify(&center, &with_operator(SECOND, "EMP-2002")).await;
    app.verify(&center2, &with_operator(FIRST, "EMP-3003")).await;
    app.verify(&center2, &with_operator("19001011300036", "EMP-3003")).await;
    let auditor = app.token("auditor-demo").await;

    let subjects =
        |list: &[Value]| list.iter().map(|e| e["subject"].as_str().unwrap_or("-").to_owned()).collect::<Vec<_>>();
    let by_subject = events(&app, &auditor, &format!("subject={FIRST}")).await;
    assert_eq!(by_subject.len(), 2);
    assert!(by_subject.iter().all(|e| e["subject"] == FIRST));
    // The subject filter takes Arabic-Indic digits like the API does.
    let by_arabic = events(&app, &auditor, "subject=٢٨٥٠٧١٥٠١٠٠٠٢٢").await;
    assert_eq!(subjects(&by_arabic), [SECOND]);

    let by_client = events(&app, &auditor, "client_id=center2-demo").await;
    assert_eq!(by_client.len(), 3, "a token and two verifies: {by_client:?}");
    assert!(by_client.iter().all(|e| e["client_id"] == "center2-demo"));
    let by_center = events(&app, &auditor, "center_id=CAI-NSR-01").await;
    assert_eq!(by_center.len(), 3);

    let by_operator = events(&app, &auditor, "operator_id=EMP-3003").await;
    assert_eq!(by_operator.len(), 2);
    assert!(by_operator.iter().all(|e| e["operator_id"] == "EMP-3003"));

    let by_action = events(&app, &auditor, "action=token.issue").await;
    assert_eq!(by_action.len(), 3);
    let by_outcome = events(&app, &auditor, "outcome=invalid_national_id").await;
    assert_eq!(by_outcome.len(), 1);
    assert_eq!(by_outcome[0]["operator_id"], "EMP-3003");

    let combined =
        events(&app, &auditor, &format!("subject={FIRST}&client_id=center-demo&action=national_id.verify")).await;
    assert_eq!(combined.len(), 1);
    assert_eq!(combined[0]["operator_id"], "EMP-1001");
    assert!(events(&app, &auditor, "client_id=nobody").await.is_empty());
}

async fn from_is_inclusive_and_to_is_exclusive(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for _ in 0..4 {
        app.verify(&center, &verify_body(FIRST, json!({}))).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let auditor = app.token("auditor-demo").await;
    let all = events(&app, &auditor, "action=national_id.verify").await;
    assert_eq!(all.len(), 4);
    // The second-oldest event.
    let pivot = all[2]["at"].as_str().unwrap().to_owned();
    let encoded: String = url::form_urlencoded::byte_serialize(pivot.as_bytes()).collect();
    let from = events(&app, &auditor, &format!("action=national_id.verify&from={encoded}")).await;
    assert_eq!(from.len(), 3, "from includes the pivot");
    assert_eq!(from[2]["id"], all[2]["id"]);
    let to = events(&app, &auditor, &format!("action=national_id.verify&to={encoded}")).await;
    assert_eq!(to.len(), 1, "to excludes the pivot");
    assert_eq!(to[0]["id"], all[3]["id"]);
    let later = events(&app, &auditor, "action=national_id.verify&from=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
    let r = app.get("/v1/audit/events?from=yesterday", &auditor).await;
    let body = problem(r, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "from");
    let r = app.get("/v1/audit/events?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", &auditor).await;
    problem(r, 400, "invalid_request").await;
}

async fn the_limit_must_be_between_1_and_1000(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for _ in 0..3 {
        app.verify(&center, &verify_body(FIRST, json!({}))).await;
    }
    let auditor = app.token("auditor-demo").await;
    for limit in ["0", "1001", "-1", "ten", "1.5", ""] {
        let r = app.get(&format!("/v1/audit/events?limit={limit}"), &auditor).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], "limit", "{limit:?}: {body}");
    }
    let one = page(&app, &auditor, "limit=1").await;
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    assert!(one["next_cursor"].is_string());
    let max = page(&app, &auditor, "limit=1000").await;
    assert!(max["next_cursor"].is_null());
    assert!(max["events"].as_array().unwrap().len() >= 5);
    let default = page(&app, &auditor, "").await;
    assert!(default["next_cursor"].is_null(), "fewer than the default 100 events");
}

async fn an_unknown_parameter_or_action_is_400(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let auditor = app.token("auditor-demo").await;
    let r = app.get("/v1/audit/events?subjekt=1", &auditor).await;
    let body = problem(r, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "subjekt");
    let r = app.get("/v1/audit/events?action=national_id.delete", &auditor).await;
    let body = problem(r, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "action");
}

async fn paging_through_250_events_yields_each_once_newest_first(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    let ids = app.population(5).await;
    let mut expected = HashSet::new();
    for round in 0..25 {
        let calls = (0..10).map(|i| {
            let body = with_operator(&ids[(round + i) % ids.len()], "EMP-PAGING");
            let app = &app;
            let center = &center;
            async move {
                let r = app.post_json("/v1/national-id/verify", center, &body).await;
                assert_eq!(r.status(), 200);
                r.headers()["x-request-id"].to_str().unwrap().to_owned()
            }
        });
        expected.extend(futures::future::join_all(calls).await);
    }
    assert_eq!(expected.len(), 250);
    let auditor = app.token("auditor-demo").await;

    let mut seen = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = "operator_id=EMP-PAGING&limit=100".to_owned();
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let p = page(&app, &auditor, &query).await;
        let list = p["events"].as_array().unwrap();
        pages.push(list.len());
        seen.extend(list.iter().cloned());
        // A new event between pages does not disturb the walk.
        app.verify(&center, &with_operator(FIRST, "EMP-PAGING")).await;
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages.len() < 10, "paging does not end");
    }
    assert_eq!(pages, [100, 100, 50]);
    let seen_ids: Vec<String> = seen.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    let unique: HashSet<String> = seen_ids.iter().cloned().collect();
    assert_eq!(unique.len(), 250, "each event once");
    assert_eq!(unique, expected, "every event of the walk");
    let seqs: Vec<i64> = seen.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first across pages");
}

async fn a_cursor_used_with_other_filters_or_malformed_is_400(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for _ in 0..3 {
        app.verify(&center, &verify_body(FIRST, json!({}))).await;
    }
    let auditor = app.token("auditor-demo").await;
    let first = page(&app, &auditor, &format!("subject={FIRST}&limit=1")).await;
    let cursor = first["next_cursor"].as_str().expect("more pages").to_owned();
    let next = page(&app, &auditor, &format!("subject={FIRST}&limit=1&cursor={cursor}")).await;
    assert_eq!(next["events"].as_array().unwrap().len(), 1);
    assert!(next["events"][0]["seq"].as_i64() < first["events"][0]["seq"].as_i64());
    // The limit may change between pages; the filters may not.
    let wider = page(&app, &auditor, &format!("subject={FIRST}&limit=50&cursor={cursor}")).await;
    assert_eq!(wider["events"].as_array().unwrap().len(), 2);

    for query in [
        format!("subject={SECOND}&limit=1&cursor={cursor}"),
        format!("limit=1&cursor={cursor}"),
        format!("subject={FIRST}&action=national_id.verify&limit=1&cursor={cursor}"),
    ] {
        let r = app.get(&format!("/v1/audit/events?{query}"), &auditor).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], "cursor", "{query}: {body}");
    }
    for bad in ["garbage", "eyJzIjoxfQ", "%00%01", "AAAA"] {
        let r = app.get(&format!("/v1/audit/events?subject={FIRST}&cursor={bad}"), &auditor).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], "cursor", "{bad}: {body}");
    }
}

async fn sql_metacharacters_in_filters_match_nothing_and_break_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    app.verify(&center, &verify_body(FIRST, json!({}))).await;
    let auditor = app.token("auditor-demo").await;
    let attacks = ["' OR 1=1 --", "\" OR \"\"=\"", "x'; DROP TABLE audit_events; --", "%' OR '%'='", "1) OR (1=1"];
    for attack in attacks {
        let encoded: String = url::form_urlencoded::byte_serialize(attack.as_bytes()).collect();
        for field in ["subject", "client_id", "center_id", "operator_id", "outcome"] {
            let list = events(&app, &auditor, &format!("{field}={encoded}")).await;
            assert!(list.is_empty(), "{field}={attack} matched {list:?}");
        }
    }
    let report = integrity(&app, &auditor).await;
    assert_eq!(report["ok"], true);
    assert!(!events(&app, &auditor, "action=national_id.verify").await.is_empty(), "the table is still there");
}

async fn the_audit_verify_command_finds_the_chain_intact_then_names_a_tampered_event(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for id in [FIRST, SECOND, FIRST, "123"] {
        app.verify(&center, &verify_body(id, json!({}))).await;
    }
    let (code, out) = audit_verify_cli(&app).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
    assert!(numbers_in(&out).contains(&5), "it says how far it checked: {out}");

    let changed = app.exec_sql("UPDATE audit_events SET outcome = 'mismatch' WHERE seq = 3").await;
    assert_eq!(changed, 1);

    let (code, out) = audit_verify_cli(&app).await;
    assert_eq!(code, 1, "{out}");
    assert!(numbers_in(&out).contains(&3), "the first bad sequence number is printed: {out}");
    assert!(!out.contains("intact"), "{out}");

    let auditor = app.token("auditor-demo").await;
    let report = integrity(&app, &auditor).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad_seq"], 3);
    assert_eq!(report["checked"], 2);
}

async fn a_deleted_event_breaks_the_chain_at_its_sequence_number(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let center = app.token("center-demo").await;
    for id in [FIRST, SECOND, FIRST] {
        app.verify(&center, &verify_body(id, json!({}))).await;
    }
    app.exec_sql("DELETE FROM audit_events WHERE seq = 2").await;
    let (code, out) = audit_verify_cli(&app).await;
    assert_eq!(code, 1, "{out}");
    assert!(numbers_in(&out).contains(&2), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_store_down_calls_are_503_and_no_registry_is_asked() {
    let app = TestApp::spawn_with(|s| s.store.busy_timeout_ms = 200).await;
    let center = app.token("center-demo").await;
    let (status, _) = app.verify(&center, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200);
    let before = app.upstream_requests("national_id").await;

    // Hold the write lock from outside, as a stuck writer or full disk would.
    let url = format!("sqlite://{}", app.db_path().display());
    let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
    let mut blocker =
        sqlx::SqliteConnection::connect_with(&options.busy_timeout(Duration::from_secs(5))).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE").execute(&mut blocker).await.unwrap();

    let started = Instant::now();
    loop {
        let (status, body) = app.readiness().await;
        if body["store"] == "down" {
            assert_eq!(status, 503, "{body}");
            assert_eq!(body["status"], "not_ready");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the store never showed down: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let r = app.post_json("/v1/national-id/verify", &center, &verify_body(SECOND, json!({}))).await;
    let after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(after >= 1);
    problem(r, 503, "store_unavailable").await;
    assert_eq!(app.upstream_requests("national_id").await, before, "no registry call that cannot be recorded");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "center-demo"),
            ("client_secret", "center-demo-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "no token is issued unaudited");

    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    blocker.close().await.unwrap();
    let started = Instant::now();
    loop {
        let (status, body) = app.readiness().await;
        if status == 200 && body["store"] == "ok" {
            assert_eq!(body["status"], "ready");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the store never came back: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = app.verify(&center, &verify_body(SECOND, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.upstream_requests("national_id").await, before + 1);
    let auditor = app.token("auditor-demo").await;
    let report = integrity(&app, &auditor).await;
    assert_eq!(report["ok"], true, "the chain survives the outage: {report}");
}

on_both_backends!(
    every_call_and_every_token_request_makes_exactly_one_event,
    every_event_carries_the_fields_of_the_contract,
    the_integrity_check_walks_the_whole_chain,
    auditor_queries_are_audited_too,
    the_filters_select_by_subject_client_operator_action_and_outcome,
    from_is_inclusive_and_to_is_exclusive,
    the_limit_must_be_between_1_and_1000,
    an_unknown_parameter_or_action_is_400,
    paging_through_250_events_yields_each_once_newest_first,
    a_cursor_used_with_other_filters_or_malformed_is_400,
    sql_metacharacters_in_filters_match_nothing_and_break_nothing,
    the_audit_verify_command_finds_the_chain_intact_then_names_a_tampered_event,
    a_deleted_event_breaks_the_chain_at_its_sequence_number,
);
