//! GET /v1/audit/stats (CONTRACT §13), black box on both stores: counts per
//! group and outcome, shares and percentiles from calls really made, and the
//! bad input of issue 16 (unknown or too many groupings, windows of years,
//! SQL in filters, a caller without audit:read).

mod common;

use common::{Backend, TestApp, problem, verify_body};
use serde_json::{Value, json};

const CITIZEN: &str = "29001011300036";

async fn stats(app: &TestApp, query: &str) -> Value {
    let token = app.token("auditor-demo").await;
    let r = app.get(&format!("/v1/audit/stats?{query}"), &token).await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

fn row<'a>(body: &'a Value, key: &str, value: &str) -> &'a Value {
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"][key] == value)
        .unwrap_or_else(|| panic!("no row {key}={value}: {body}"))
}

/// center-demo: 6 verifications of one citizen (1 miss, then hits; 2 of
/// them mismatches) and 1 not_found; center2-demo: 3 matches.
async fn make_calls(app: &TestApp) {
    let center = app.token("center-demo").await;
    for claims in [
        json!({"full_name": "محمد أحمد علي"}),
        json!({"full_name": "محمد أحمد علي"}),
        json!({"birth_date": "1990-01-01"}),
        json!({"gender": "male"}),
        json!({"mother_name": "زينب علي"}),
        json!({"birth_date": "1991-01-01"}),
    ] {
        assert_eq!(app.verify(&center, &verify_body(CITIZEN, claims)).await.0, 200);
    }
    assert_eq!(app.verify(&center, &verify_body("29001011399997", json!({}))).await.1["outcome"], "not_found");
    let other = app.token("center2-demo").await;
    for _ in 0..3 {
        let (status, body) = app.verify(&other, &verify_body(CITIZEN, json!({"gender": "male"}))).await;
        assert_eq!((status, body["outcome"].as_str()), (200, Some("match")));
    }
}

async fn rows_per_center_count_outcomes_shares_and_durations(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    make_calls(&app).await;
    let body = stats(&app, "group_by=center&action=national_id.verify").await;
    assert_eq!(body["group_by"], json!(["center"]));
    assert_eq!(body["rows"].as_array().unwrap().len(), 2, "{body}");
    let shr = row(&body, "center_id", "SHR-ZAG-01");
    assert_eq!(shr["total"], 7);
    assert_eq!(shr["verifications"], 7);
    assert_eq!(shr["outcomes"], json!({"match": 4, "mismatch": 2, "not_found": 1}));
    assert_eq!(shr["mismatch_share"], 0.2857);
    // Lookups: 2 misses (the citizen, the absent one), 5 hits.
    assert_eq!(shr["cache_hit_share"], 0.7143);
    assert_eq!(shr["cache_stale_share"], 0.0);
    let (p50, p95) = (shr["duration_ms_p50"].as_i64().unwrap(), shr["duration_ms_p95"].as_i64().unwrap());
    assert!(0 <= p50 && p50 <= p95, "{shr}");
    let cai = row(&body, "center_id", "CAI-NSR-01");
    assert_eq!(cai["outcomes"], json!({"match": 3}));
    assert_eq!(cai["mismatch_share"], 0.0);
    assert_eq!(cai["cache_hit_share"], 1.0);

    // Several groupings; the day is the events' UTC day.
    let today = &time::OffsetDateTime::now_utc().date().to_string();
    let body = stats(&app, "group_by=center,operator,day&action=national_id.verify&center_id=SHR-ZAG-01").await;
    let rows = body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{body}");
    assert_eq!(rows[0]["group"], json!({"center_id": "SHR-ZAG-01", "operator_id": "EMP-1001", "day": today}));
    assert_eq!(rows[0]["total"], 7);

    // Every action, by action: the token requests and the earlier stats queries are there too.
    let body = stats(&app, "group_by=action").await;
    assert_eq!(row(&body, "action", "national_id.verify")["total"], 10);
    assert!(row(&body, "action", "token.issue")["total"].as_i64().unwrap() >= 3);
    let queries = row(&body, "action", "audit.query");
    assert_eq!(queries["outcomes"]["ok"], 2, "stats calls are audited as audit.query: {body}");
    assert_eq!(queries["verifications"], 0);
    assert_eq!(queries["mismatch_share"], Value::Null);
    assert_eq!(queries["cache_hit_share"], Value::Null);

    // A window that holds none of the calls.
    let body = stats(&app, "group_by=center&from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z").await;
    assert_eq!(body["rows"], json!([]));
    assert_eq!(body["from"], "2020-01-01T00:00:00.000000Z");
}

async fn bad_queries_are_refused_with_their_reason(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    make_calls(&app).await;
    let token = app.token("auditor-demo").await;
    let get = |q: &'static str| {
        let (app, token) = (&app, token.clone());
        async move { app.get(&format!("/v1/audit/stats?{q}"), &token).await }
    };
    for (query, field, reason) in [
        ("group_by=centre", "group_by", "unknown grouping"),
        ("group_by=center%3B%20DROP%20TABLE%20audit_events", "group_by", "unknown grouping"),
        ("group_by=center,day,action,client", "group_by", "at most 3 groupings"),
        ("group_by=day,day", "group_by", "a grouping given twice"),
        ("center_id=SHR-ZAG-01", "group_by", "required"),
        ("group_by=day&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from", "at most 92 days"),
        ("group_by=day&to=2026-01-01T00:00:00Z&from=2026-02-01T00:00:00Z", "to", "must be after from"),
        ("group_by=day&limit=10", "limit", "not a parameter"),
        ("group_by=day&colour=red", "colour", "unknown parameter"),
    ] {
        let body = problem(get(query).await, 400, "invalid_request").await;
        let errors = body["errors"].as_array().unwrap();
        assert!(
            errors.iter().any(|e| e["field"] == field && e["reason"].as_str().unwrap().contains(reason)),
            "{query}: {body}"
        );
    }
    // SQL in a filter is a value like any other: bound, never spliced.
    for value in ["SHR-ZAG-01' OR '1'='1", "x'; DELETE FROM audit_events; --", "%", "SHR-ZAG-01\" OR 1=1 --"] {
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("group_by", "center")
            .append_pair("center_id", value)
            .finish();
        let body = stats(&app, &q).await;
        assert_eq!(body["rows"], json!([]), "{value}: {body}");
    }
    assert_eq!(stats(&app, "group_by=center&action=national_id.verify").await["rows"].as_array().unwrap().len(), 2);

    // A caller without audit:read.
    let center = app.token("center-demo").await;
    let r = app.get("/v1/audit/stats?group_by=center", &center).await;
    let body = problem(r, 403, "forbidden").await;
    let events = app.audit_events("client_id=center-demo&action=audit.query").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["outcome"], "forbidden");
    assert_eq!(events[0]["id"], body["request_id"]);
    // No token at all.
    let r = app.http.get(app.url("/v1/audit/stats?group_by=center")).send().await.unwrap();
    problem(r, 401, "unauthorized").await;
}

on_both_backends!(rows_per_center_count_outcomes_shares_and_durations, bad_queries_are_refused_with_their_reason);
