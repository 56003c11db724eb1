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

    // One governorate's centers: Sharqia is SHR-ZAG-01 and (limited-demo) SHR-HUS-02, not CAI-NSR-01.
    let limited = app.token("limited-demo").await;
    assert_eq!(app.verify(&limited, &verify_body(CITIZEN, json!({"gender": "male"}))).await.0, 200);
    let body = stats(&app, "group_by=center&action=national_id.verify&governorate=SHR").await;
    let centers: Vec<&str> =
        body["rows"].as_array().unwrap().iter().map(|r| r["group"]["center_id"].as_str().unwrap()).collect();
    assert_eq!(centers, ["SHR-HUS-02", "SHR-ZAG-01"], "{body}");
    assert_eq!(row(&body, "center_id", "SHR-ZAG-01")["total"], 7);
    let body = stats(&app, "group_by=day&governorate=CAI&action=national_id.verify").await;
    assert_eq!(body["rows"][0]["total"], 3, "{body}");
    // The same filter on the events.
    let events = app.audit_events("governorate=SHR&action=national_id.verify&limit=1000").await;
    assert_eq!(events.len(), 8);
    assert!(events.iter().all(|e| e["center_id"].as_str().unwrap().starts_with("SHR-")));
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
        ("center_id=SHR-ZAG-01", "group_by", "required"),
        ("group_by=day&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from", "at most 92 days"),
        ("group_by=day&to=2026-01-01T00:00:00Z&from=2026-02-01T00:00:00Z", "to", "must be after from"),
        ("group_by=day&limit=10", "limit", "not a parameter"),
        ("group_by=day&colour=red", "colour", "unknown parameter"),
        ("group_by=center&governorate=shr", "governorate", "must be a governorate code"),
        ("group_by=center&governorate=SHR-ZAG", "governorate", "must be a governorate code"),
        ("group_by=center&governorate=", "governorate", "must be a governorate code"),
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

fn of_kind<'a>(signals: &'a [Value], kind: &str) -> Vec<&'a Value> {
    signals.iter().filter(|s| s["kind"] == kind).collect()
}

async fn the_five_signals_are_found_with_their_events(backend: Backend) {
    let files = tempfile::tempdir().unwrap();
    let clients = common::clients_with_hours(files.path());
    let app = TestApp::spawn_on_with(backend, |s| {
        s.auth.clients_file = clients;
        s.signals.many_centers_min = 2;
    })
    .await;
    let center = app.token("center-demo").await;
    // A guessing run: five mismatches, then two stopped calls.
    for mother in ["زينب علي", "مريم حسن", "خديجة محمود", "عائشة سيد", "نفيسة عمر", "هدى سامي", "منى فؤاد"]
    {
        app.verify(&center, &verify_body(CITIZEN, json!({ "mother_name": mother }))).await;
    }
    // One operator looks up 25 citizens, without case references; two colleagues one each.
    let citizens = app.population(25).await;
    for id in &citizens {
        let body = json!({"national_id": id, "context": {"operator_id": "EMP-1001", "purpose": "building_permit"}});
        assert_eq!(app.verify(&center, &body).await.0, 200);
    }
    for operator in ["EMP-1002", "EMP-1003"] {
        let mut body = verify_body(&citizens[0], json!({}));
        body["context"]["operator_id"] = json!(operator);
        assert_eq!(app.verify(&center, &body).await.0, 200);
    }
    // Another center, within its hours, with case references, looks up the same citizen.
    let other = app.token("center2-demo").await;
    assert_eq!(app.verify(&other, &verify_body(CITIZEN, json!({"gender": "male"}))).await.0, 200);

    let auditor = app.token("auditor-demo").await;
    let r = app.get("/v1/audit/signals", &auditor).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let signals = body["signals"].as_array().unwrap();

    let guessing = of_kind(signals, "claim_guessing");
    assert_eq!(guessing.len(), 1, "{body}");
    let g = guessing[0];
    assert_eq!((g["client_id"].as_str(), g["operator_id"].as_str()), (Some("center-demo"), Some("EMP-1001")));
    assert_eq!((g["subject"].as_str(), g["count"].as_i64()), (Some(CITIZEN), Some(7)));
    // Its events, through /v1/audit/events.
    let events = app.audit_events(&format!("subject={CITIZEN}&client_id=center-demo&limit=1000")).await;
    let ids = g["event_ids"].as_array().unwrap();
    assert_eq!(ids.len(), 7);
    for id in ids {
        let e = events.iter().find(|e| &e["id"] == id).expect("a signal's event is in the log");
        assert!(e["outcome"] == "mismatch" || e["outcome"] == "too_many_mismatches", "{e}");
    }

    let no_case = of_kind(signals, "no_case_ref");
    assert_eq!(no_case.len(), 1, "{body}");
    assert_eq!((no_case[0]["operator_id"].as_str(), no_case[0]["count"].as_i64()), (Some("EMP-1001"), Some(25)));
    assert_eq!(no_case[0]["event_ids"].as_array().unwrap().len(), 25);

    let off_hours = of_kind(signals, "off_hours");
    assert!(off_hours.iter().all(|s| s["client_id"] == "center-demo"), "center2-demo works now: {body}");
    let operators: Vec<&str> = off_hours.iter().map(|s| s["operator_id"].as_str().unwrap()).collect();
    assert_eq!(operators.len(), 3, "{body}");
    let emp = off_hours.iter().find(|s| s["operator_id"] == "EMP-1001").unwrap();
    assert_eq!(emp["count"], 5 + 25, "the answered guesses and the lookups; stopped calls never reached data");

    let many = of_kind(signals, "many_subjects");
    assert_eq!(many.len(), 1, "{body}");
    assert_eq!((many[0]["operator_id"].as_str(), many[0]["count"].as_i64()), (Some("EMP-1001"), Some(26)));

    let centers = of_kind(signals, "many_centers");
    assert_eq!(centers.len(), 1, "{body}");
    assert_eq!((centers[0]["subject"].as_str(), centers[0]["count"].as_i64()), (Some(CITIZEN), Some(2)));
    assert_eq!(centers[0]["center_id"], Value::Null);

    // A window without the calls; only from and to; auditors only.
    let r = app.get("/v1/audit/signals?from=2020-01-01T00:00:00Z&to=2020-01-08T00:00:00Z", &auditor).await;
    assert_eq!(r.json::<Value>().await.unwrap()["signals"], json!([]));
    let r = app.get("/v1/audit/signals?center_id=SHR-ZAG-01", &auditor).await;
    problem(r, 400, "invalid_request").await;
    let r = app.get("/v1/audit/signals?from=2020-01-01T00:00:00Z", &auditor).await;
    problem(r, 400, "invalid_request").await;
    problem(app.get("/v1/audit/signals", &center).await, 403, "forbidden").await;
}

mod signals {
    use super::*;
    on_both_backends!(the_five_signals_are_found_with_their_events);
}

/// `bawaba audit report`, on this app's store; stdout.
fn report(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let config = app.cli_config();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bawaba"))
        .args(["audit", "report", "--config", config.to_str().unwrap()])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the binary runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

async fn the_monthly_report_ranks_the_centers(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    make_calls(&app).await;
    let month = &time::OffsetDateTime::now_utc().date().to_string()[..7];
    let (code, csv, err) = report(&app, &["--month", month, "--format", "csv"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two centers: {csv}");
    assert!(lines[0].starts_with("rank,center_id,calls,verifications,match,mismatch,not_found,"), "{csv}");
    // center-demo made 7 verifications, center2-demo 3, each after its token request.
    assert!(lines[1].starts_with("1,SHR-ZAG-01,8,7,4,2,1,"), "{csv}");
    assert!(lines[2].starts_with("2,CAI-NSR-01,4,3,3,0,0,"), "{csv}");

    let (code, html, err) = report(&app, &["--month", month, "--format", "html", "--center-id", "CAI-NSR-01"]);
    assert_eq!(code, 0, "{err}");
    assert!(html.starts_with("<!doctype html><html lang=\"ar\" dir=\"rtl\">"), "{html}");
    assert!(html.contains("<td>CAI-NSR-01</td>") && !html.contains("SHR-ZAG-01"), "{html}");
    let (code, csv, err) = report(&app, &["--month", month, "--format", "csv", "--governorate", "SHR"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(csv.lines().count(), 2, "a header and Sharqia's one center: {csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("1,SHR-ZAG-01,8,"), "{csv}");
    let (code, _, err) = report(&app, &["--month", month, "--format", "csv", "--governorate", "Sharqia"]);
    assert_eq!(code, 2);
    assert!(err.contains("--governorate must be a governorate code"), "{err}");

    let (code, _, err) = report(&app, &["--month", "2026-13", "--format", "csv"]);
    assert_eq!(code, 2);
    assert!(err.contains("--month must be YYYY-MM"), "{err}");
    let (code, _, err) = report(&app, &["--month", month, "--format", "pdf"]);
    assert_eq!(code, 2);
    assert!(err.contains("--format must be csv or html"), "{err}");
    // A month without calls: only the header.
    let (code, csv, _) = report(&app, &["--month", "2020-01", "--format", "csv"]);
    assert_eq!((code, csv.lines().count()), (0, 1));
}

mod report {
    use super::*;
    on_both_backends!(the_monthly_report_ranks_the_centers);
}
