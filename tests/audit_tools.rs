//! The auditors' tools (CONTRACT §1, §8): the streamed export and the daily
//! volume with every filter of `/v1/audit/events`, tamper evidence (the hash
//! chain and the signed checkpoints, through `bawaba audit verify`), the CLI
//! export, and retention by signed archive. Each runs on SQLite and PostgreSQL.

mod common;

use bawaba::audit::{AuditEvent, event_hash};
use common::{Backend, TestApp, problem, verify_body};
use serde_json::{Value, json};
use std::time::Duration;

const FIRST: &str = "29001011300036";
const SECOND: &str = "28507150100022";

/// Runs the `bawaba` binary with `args` against this app's store; the exit code and all output.
async fn cli(app: &TestApp, args: &[&str]) -> (i32, String) {
    let config = app.cli_config();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_bawaba"));
    cmd.args(args).arg("--config").arg(&config).current_dir(app.dir.path()).kill_on_drop(true);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output()).await.expect("the CLI finishes").unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().expect("an exit code"), text)
}

/// The number after "at seq " in the CLI's report of a broken log.
fn bad_seq(out: &str) -> i64 {
    let rest = out.split("BROKEN at seq ").nth(1).unwrap_or_else(|| panic!("no BROKEN line: {out}"));
    rest.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
}

async fn export(app: &TestApp, token: &str, query: &str) -> reqwest::Response {
    app.get(&format!("/v1/audit/export?{query}"), token).await
}

async fn verifications(app: &TestApp, ids: &[&str]) {
    let center = app.token("center-demo").await;
    for id in ids {
        let (status, body) = app.verify(&center, &verify_body(id, json!({}))).await;
        assert_eq!(status, 200, "{body}");
    }
}

async fn exports_stream_every_matching_event_as_csv_and_ndjson(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    verifications(&app, &[FIRST, SECOND, FIRST, SECOND, FIRST]).await;
    let auditor = app.token("auditor-demo").await;

    let r = export(&app, &auditor, &format!("format=ndjson&subject={FIRST}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".ndjson"));
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines.iter().all(|e| e["subject"] == FIRST && e["action"] == "national_id.verify"));
    let seqs: Vec<i64> = lines.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "chain order: {seqs:?}");
    // The same events as the query API, which pages newest first.
    let mut listed = app.audit_events(&format!("subject={FIRST}")).await;
    listed.reverse();
    assert_eq!(lines, listed);

    let r = export(&app, &auditor, &format!("format=csv&subject={SECOND}&action=national_id.verify")).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(
        rows[0],
        "id,seq,at,client_id,center_id,operator_id,action,subject,purpose,case_ref,outcome,http_status,cache,\
         duration_ms,prev_hash,hash"
    );
    assert_eq!(rows.len(), 3, "a header and two events: {text}");
    assert!(rows[1..].iter().all(|r| r.contains(SECOND) && r.split(',').count() == 16), "{text}");

    // Unfiltered: everything recorded before the export began, each once.
    let all = app.all_audit_events(&auditor, "").await;
    let text = export(&app, &auditor, "format=ndjson").await.text().await.unwrap();
    let exported: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(exported.len() >= all.len(), "{} exported, {} listed before", exported.len(), all.len());
    let ids: std::collections::HashSet<_> = exported.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), exported.len(), "no event twice");

    let exports = app.audit_events("action=audit.export").await;
    assert_eq!(exports.len(), 3, "each export is itself audited");
    assert!(exports.iter().all(|e| e["client_id"] == "auditor-demo" && e["outcome"] == "ok"));
}

async fn an_export_of_more_than_one_page_is_complete_and_in_order(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    // 1,000 events is one page of the store's reader: cross it.
    let center = app.token("center-demo").await;
    let calls = (0..1100).map(|_| {
        let (app, center) = (&app, &center);
        async move { app.verify(center, &verify_body(FIRST, json!({}))).await.0 }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200));
    let auditor = app.token("auditor-demo").await;
    let text = export(&app, &auditor, &format!("format=csv&subject={FIRST}")).await.text().await.unwrap();
    let seqs: Vec<i64> = text.lines().skip(1).map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(seqs.len(), 1100);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

async fn export_and_volume_refuse_bad_input_precisely(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let auditor = app.token("auditor-demo").await;
    for (query, field) in [
        ("subject=1", "format"),
        ("format=xml", "format"),
        ("format=csv&limit=10", "limit"),
        ("format=csv&cursor=abc", "cursor"),
        ("format=csv&action=national_id.delete", "action"),
        ("format=csv&from=yesterday", "from"),
        ("format=csv&from=2026-11-22T10:00:00Z&to=2026-11-22T09:00:00Z", "to"),
        ("format=csv&format=ndjson", "format"),
        ("format=csv&subjekt=1", "subjekt"),
    ] {
        let body = problem(export(&app, &auditor, query).await, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    for (query, field) in [("limit=5", "limit"), ("format=csv", "format"), ("to=never", "to")] {
        let r = app.get(&format!("/v1/audit/volume?{query}"), &auditor).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], field, "{query}: {body}");
    }
    // Only auditors export; the refusal is itself recorded.
    let center = app.token("center-demo").await;
    problem(export(&app, &center, "format=csv").await, 403, "forbidden").await;
    problem(app.get("/v1/audit/volume", &center).await, 403, "forbidden").await;
    let r = app.http.get(app.url("/v1/audit/export?format=csv")).send().await.unwrap();
    problem(r, 401, "unauthorized").await;
    let denied = app.audit_events("action=audit.export&outcome=forbidden").await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["client_id"], "center-demo");
}

async fn sql_metacharacters_in_every_filter_of_export_and_volume_match_nothing(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    verifications(&app, &[FIRST, SECOND]).await;
    let auditor = app.token("auditor-demo").await;
    let nasty = ["' OR '1'='1", "\"; DROP TABLE audit_events; --", "%", "_", "\\", "1) OR (1=1", "$1", "?"];
    for field in ["subject", "client_id", "center_id", "operator_id", "outcome"] {
        for value in nasty {
            let q = url::form_urlencoded::Serializer::new(String::new()).append_pair(field, value).finish();
            let r = export(&app, &auditor, &format!("format=ndjson&{q}")).await;
            assert_eq!(r.status(), 200, "{field}={value}");
            assert_eq!(r.text().await.unwrap(), "", "{field}={value} matches nothing");
            let r = app.get(&format!("/v1/audit/volume?{q}"), &auditor).await;
            assert_eq!(r.status(), 200, "{field}={value}");
            assert_eq!(r.json::<Value>().await.unwrap()["days"], json!([]), "{field}={value}");
        }
    }
    let report: Value = app.get("/v1/audit/integrity", &auditor).await.json().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(app.audit_events(&format!("subject={FIRST}")).await.len(), 1, "the table is intact");
}

async fn the_daily_volume_counts_the_filtered_events_per_day(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    verifications(&app, &[FIRST, SECOND, FIRST, FIRST]).await;
    let auditor = app.token("auditor-demo").await;
    let today = &bawaba::audit::now_rfc3339()[..10];
    let r = app.get(&format!("/v1/audit/volume?subject={FIRST}"), &auditor).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"days": [{"day": today, "count": 3}]}));
    let r = app.get("/v1/audit/volume?action=national_id.verify&from=2099-01-01T00:00:00Z", &auditor).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"days": []}));
    let volume: Value = app.get("/v1/audit/volume", &auditor).await.json().await.unwrap();
    let total: i64 = volume["days"].as_array().unwrap().iter().map(|d| d["count"].as_i64().unwrap()).sum();
    assert!(total >= 4 + 2, "verifications and token requests: {volume}");
}

/// Every event, oldest first, straight from the API.
async fn chain(app: &TestApp) -> Vec<AuditEvent> {
    let auditor = app.token("auditor-demo").await;
    let mut events: Vec<AuditEvent> =
        app.all_audit_events(&auditor, "").await.into_iter().map(|e| serde_json::from_value(e).unwrap()).collect();
    events.reverse();
    events
}

fn update_row(e: &AuditEvent) -> String {
    format!(
        "UPDATE audit_events SET outcome = '{}', prev_hash = '{}', hash = '{}' WHERE seq = {}",
        e.outcome, e.prev_hash, e.hash, e.seq
    )
}

async fn edited_deleted_reordered_or_rewritten_rows_are_each_caught(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.audit.checkpoint_every = 5).await;
    verifications(&app, &[FIRST; 20]).await;
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");

    // An edited row: its own hash no longer matches.
    assert_eq!(app.exec_sql("UPDATE audit_events SET outcome = 'mismatch' WHERE seq = 7").await, 1);
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!((code, bad_seq(&out)), (1, 7), "{out}");
    app.exec_sql("UPDATE audit_events SET outcome = 'match' WHERE seq = 7").await;
    assert_eq!(cli(&app, &["audit", "verify"]).await.0, 0, "restored");

    // Two rows swapped: the sequence number is part of what is hashed.
    app.exec_sql("UPDATE audit_events SET seq = -8 WHERE seq = 8").await;
    app.exec_sql("UPDATE audit_events SET seq = 8 WHERE seq = 9").await;
    app.exec_sql("UPDATE audit_events SET seq = 9 WHERE seq = -8").await;
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!((code, bad_seq(&out)), (1, 8), "{out}");
    app.exec_sql("UPDATE audit_events SET seq = -8 WHERE seq = 8").await;
    app.exec_sql("UPDATE audit_events SET seq = 8 WHERE seq = 9").await;
    app.exec_sql("UPDATE audit_events SET seq = 9 WHERE seq = -8").await;
    assert_eq!(cli(&app, &["audit", "verify"]).await.0, 0, "restored");

    // A wholesale rewrite: one outcome changed and every later hash
    // recomputed, as someone with write access could. The chain alone is
    // consistent again; the signed checkpoints are not.
    let original = chain(&app).await;
    let mut forged = original.clone();
    let from = 12usize;
    forged[from - 1].outcome = "mismatch".into();
    for i in from - 1..forged.len() {
        if i > 0 {
            forged[i].prev_hash = forged[i - 1].hash.clone();
        }
        forged[i].hash = event_hash(&forged[i]);
    }
    for e in &forged[from - 1..] {
        app.exec_sql(&update_row(e)).await;
    }
    let head = forged.last().unwrap();
    app.exec_sql(&format!("UPDATE audit_head SET hash = '{}' WHERE seq = {}", head.hash, head.seq)).await;
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("signed checkpoint"), "{out}");
    let first_bad = bad_seq(&out);
    assert!((1..=from as i64).contains(&first_bad), "named at or before the forged event: {out}");
    let auditor = app.token("auditor-demo").await;
    let report: Value = app.get("/v1/audit/integrity", &auditor).await.json().await.unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["first_bad_seq"], first_bad);
    for e in &original[from - 1..] {
        app.exec_sql(&update_row(e)).await;
    }
    let head = original.last().unwrap();
    app.exec_sql(&format!("UPDATE audit_head SET hash = '{}' WHERE seq = {}", head.hash, head.seq)).await;
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!(code, 0, "restored: {out}");

    // A checkpoint signed with another key is not trusted.
    let other = bawaba::audit::CheckpointKey::generate().unwrap();
    let forged_key = app.dir.path().join("other.pub.pem");
    std::fs::write(&forged_key, other.public_pem()).unwrap();
    let (code, out) = cli(&app, &["audit", "verify", "--public-key", forged_key.to_str().unwrap()]).await;
    assert_eq!(code, 1, "{out}");

    // A deleted row: named by the sequence number where it was expected.
    app.exec_sql("DELETE FROM audit_events WHERE seq = 4").await;
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!((code, bad_seq(&out)), (1, 4), "{out}");
}

async fn the_last_events_deleted_are_caught_too(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.audit.checkpoint_every = 3).await;
    verifications(&app, &[FIRST; 8]).await;
    let head = chain(&app).await.last().unwrap().seq;
    app.exec_sql(&format!("DELETE FROM audit_events WHERE seq >= {}", head - 1)).await;
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!((code, bad_seq(&out)), (1, head - 1), "{out}");
}

async fn archiving_moves_old_events_to_a_signed_file_and_what_remains_still_verifies(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.audit.checkpoint_every = 5).await;
    verifications(&app, &[FIRST; 12]).await;
    let before = chain(&app).await;
    let (code, out) = cli(&app, &["audit", "archive", "--older-than-days", "0"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("archived events 1..="), "{out}");
    let archive = std::fs::read_dir(app.dir.path().join("archive")).unwrap().next().unwrap().unwrap().path();
    let through: i64 = out.split("..=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(through >= 5, "{out}");

    let after = chain(&app).await;
    assert_eq!(after.first().unwrap().seq, through + 1, "the archived events left the live store");
    assert!(after.iter().all(|e| e.seq > through));
    assert!(before.iter().filter(|e| e.seq > through).all(|e| after.contains(e)), "the rest is untouched");
    let (code, out) = cli(&app, &["audit", "verify"]).await;
    assert_eq!(code, 0, "the live log still verifies: {out}");
    let archive_arg = archive.to_str().unwrap();
    let (code, out) = cli(&app, &["audit", "verify", "--archive", archive_arg]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("archive {archive_arg} intact: {through} events")), "{out}");

    // Traffic goes on after archiving.
    verifications(&app, &[SECOND; 3]).await;
    assert_eq!(cli(&app, &["audit", "verify", "--archive", archive_arg]).await.0, 0);

    // An edited archive is caught.
    let text = std::fs::read_to_string(&archive).unwrap();
    std::fs::write(&archive, text.replacen("\"outcome\":\"match\"", "\"outcome\":\"mismatch\"", 1)).unwrap();
    let (code, out) = cli(&app, &["audit", "verify", "--archive", archive_arg]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("seal"), "{out}");
}

async fn the_cli_exports_with_the_filters_of_the_api(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    verifications(&app, &[FIRST, SECOND, FIRST]).await;
    let file = app.dir.path().join("out.csv");
    let (code, out) =
        cli(&app, &["audit", "export", "--format", "csv", "--subject", FIRST, "--output", file.to_str().unwrap()])
            .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("exported 2 events"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
    let (code, out) = cli(&app, &["audit", "export", "--format", "ndjson", "--action", "national_id.verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with('{')).count(), 3, "to stdout: {out}");
    let (code, out) = cli(&app, &["audit", "export", "--format", "csv", "--action", "bogus"]).await;
    assert_eq!(code, 2);
    assert!(out.contains("--action: unknown action"), "{out}");
    let (code, out) = cli(&app, &["audit", "export", "--format", "xml"]).await;
    assert_eq!(code, 2, "{out}");
}

/// `audit verify` without the checkpoint key: fine for a log that holds no
/// checkpoint yet, refused (exit 2, saying why) once signatures exist.
async fn verify_without_the_key_says_so_once_checkpoints_exist(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.audit.checkpoint_every = 2).await;
    verifications(&app, &[FIRST; 3]).await;
    let config = app.dir.path().join("no-key.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = {}\n[audit]\ncheckpoint_key_file = {}\n",
            toml::Value::String(app.settings.store.url.clone()),
            toml::Value::String(app.dir.path().join("missing.pem").display().to_string())
        ),
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_bawaba"))
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .current_dir(app.dir.path())
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("missing.pem") && text.contains("--public-key"), "{text}");
}

on_both_backends!(
    exports_stream_every_matching_event_as_csv_and_ndjson,
    an_export_of_more_than_one_page_is_complete_and_in_order,
    export_and_volume_refuse_bad_input_precisely,
    sql_metacharacters_in_every_filter_of_export_and_volume_match_nothing,
    the_daily_volume_counts_the_filtered_events_per_day,
    edited_deleted_reordered_or_rewritten_rows_are_each_caught,
    the_last_events_deleted_are_caught_too,
    archiving_moves_old_events_to_a_signed_file_and_what_remains_still_verifies,
    the_cli_exports_with_the_filters_of_the_api,
    verify_without_the_key_says_so_once_checkpoints_exist,
);
