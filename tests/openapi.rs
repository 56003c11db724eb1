//! The OpenAPI document: valid OpenAPI 3.1, committed as
//! `schemas/openapi.json`, good enough to generate a working client from,
//! and true to the server under a fuzzer. The Python tools run from the venv
//! `.ci/python-tools` makes (pinned in `tests/python-requirements.txt`),
//! run by the first test that needs it; a tool that cannot be made fails the
//! test, it never skips it.

mod common;

use common::{TestApp, repo_file};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

fn tool(name: &str) -> PathBuf {
    common::python_tool(name)
}

/// Runs a command to its end (the gateway keeps serving meanwhile) and
/// fails with its output if it fails.
async fn run(cmd: &mut tokio::process::Command, what: &str, limit: Duration) -> String {
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(limit, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {limit:?}"))
        .unwrap_or_else(|e| panic!("{what} could not start: {e}"));
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed ({}):\n{text}", output.status);
    text
}

async fn served(app: &TestApp) -> Value {
    let resp = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn pretty(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).unwrap() + "\n"
}

#[tokio::test(flavor = "multi_thread")]
async fn document_is_committed() {
    let app = TestApp::spawn().await;
    let doc = pretty(&served(&app).await);
    let committed = repo_file("schemas/openapi.json");
    if std::env::var_os("BAWABA_WRITE_OPENAPI").is_some() {
        std::fs::write(&committed, &doc).unwrap();
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        on_disk == doc,
        "schemas/openapi.json differs from /openapi.json; regenerate it with \
         `BAWABA_WRITE_OPENAPI=1 cargo test --test openapi document_is_committed` and review the diff"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn document_is_valid_openapi_3_1() {
    let app = TestApp::spawn().await;
    let doc = served(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let file = app.dir.path().join("openapi.json");
    std::fs::write(&file, pretty(&doc)).unwrap();
    let out = run(
        tokio::process::Command::new(tool("openapi-spec-validator")).arg(&file),
        "openapi-spec-validator",
        Duration::from_secs(120),
    )
    .await;
    assert!(out.contains(": OK"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_operation_documents_its_problems_as_problem_json() {
    let app = TestApp::spawn().await;
    let doc = served(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                assert!(response["headers"].get("X-Request-Id").is_some(), "{method} {path} {status}");
                let oauth = path == "/oauth/token" && (status == "400" || status == "401");
                if status.starts_with('4') && !oauth {
                    assert!(
                        response["content"].get("application/problem+json").is_some(),
                        "{method} {path} {status} is problem+json"
                    );
                }
            }
        }
    }
    let verify = &doc["paths"]["/v1/national-id/verify"]["post"]["responses"];
    for status in ["200", "400", "401", "403", "413", "415", "429", "503", "504"] {
        assert!(verify.get(status).is_some(), "verify documents {status}");
    }
    assert!(verify["401"]["headers"].get("WWW-Authenticate").is_some());
    assert!(verify["429"]["headers"].get("Retry-After").is_some());
}

/// The README's tour, through a client generated from the document by
/// openapi-python-client: token, verify, SMS, security check, audit query.
#[tokio::test(flavor = "multi_thread")]
async fn a_generated_client_runs_the_readme_tour() {
    let app = TestApp::spawn().await;
    let doc = served(&app).await;
    let dir = app.dir.path();
    let spec = dir.join("openapi.json");
    std::fs::write(&spec, pretty(&doc)).unwrap();
    let client_dir = dir.join("bawaba_client");
    run(
        tokio::process::Command::new(tool("openapi-python-client"))
            .args(["generate", "--meta", "none", "--config"])
            .arg(repo_file("tests/openapi/client-config.yml"))
            .arg("--path")
            .arg(&spec)
            .arg("--output-path")
            .arg(&client_dir),
        "openapi-python-client generate",
        Duration::from_secs(180),
    )
    .await;
    let out = run(
        tokio::process::Command::new(tool("python"))
            .arg(repo_file("tests/openapi/tour.py"))
            .arg(&app.base)
            .env("PYTHONPATH", dir),
        "the tour through the generated client",
        Duration::from_secs(120),
    )
    .await;
    assert!(out.contains("tour: done"), "{out}");
}

/// Schemathesis with every check (its default; exclusions with their reasons
/// in tests/openapi/schemathesis.toml), as a center and as an auditor, the SMSC's
/// callbacks signed by a hook: nothing found.
#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing() {
    let app = TestApp::spawn().await;
    let center = app.token("center-demo").await;
    let auditor = app.token("auditor-demo").await;
    for (who, token, include) in [
        (
            "center",
            &center,
            "^/(v1/(national-id|commercial-register|real-estate|security-checks|sms)|oauth|\\.well-known|healthz|readyz|metrics|openapi|docs|audit$)",
        ),
        ("auditor", &auditor, "^/v1/audit/"),
    ] {
        let out = run(
            tokio::process::Command::new(tool("st"))
                // Its caches (and Hypothesis's) go to the test's own directory, so a run never replays another's.
                .current_dir(app.dir.path())
                .arg("--config-file")
                .arg(repo_file("tests/openapi/schemathesis.toml"))
                .args(["run", "--max-examples", "25", "--seed", "1"])
                .args(["--include-path-regex", include])
                .args(["--header", &format!("Authorization: Bearer {token}")])
                .args(["--url", &app.base])
                .arg(app.url("/openapi.json"))
                .env("SCHEMATHESIS_HOOKS", "hooks")
                .env("PYTHONPATH", repo_file("tests/openapi"))
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .env("BAWABA_SMSC_SECRET", &app.settings.sms.smsc_secret),
            &format!("schemathesis as the {who}"),
            Duration::from_secs(300),
        )
        .await;
        println!("{out}");
    }
}

/// `/docs/`: Swagger UI from assets inside the binary, over `/openapi.json`.
#[tokio::test(flavor = "multi_thread")]
async fn the_reference_page_is_served_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("https://"), "no asset from elsewhere: {html}");
    let init = app.http.get(app.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    let trace = app.http.request(reqwest::Method::TRACE, app.url("/docs/")).send().await.unwrap();
    assert_eq!(trace.status(), 405);
    assert_eq!(trace.headers()["allow"], "GET");
    let trace = app.http.request(reqwest::Method::TRACE, app.url("/audit")).send().await.unwrap();
    assert_eq!(trace.status(), 405);
}
