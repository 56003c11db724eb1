//! What an operator installs from (`deploy/`), each file checked by the tool
//! made for it: the Prometheus rules by `promtool` (syntax and unit tests),
//! every metric name in the rules and the dashboard against a running
//! gateway's `/metrics`, the dashboard's queries by `promtool`, the systemd
//! unit by `systemd-analyze`, the Kubernetes manifests against the
//! Kubernetes schemas, the nginx example by `nginx -t`. A missing tool is a
//! failure, not a skip (`.ci/run` installs them).

#[path = "deploy/alert_metrics.rs"]
mod alert_metrics;
#[path = "common/nginx.rs"]
mod balancer;
mod common;
#[path = "deploy/configs.rs"]
mod configs;
#[path = "deploy/kubernetes.rs"]
mod kubernetes;
#[path = "deploy/nginx.rs"]
mod nginx;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bawaba::config::IssuerSettings;
use common::{TestApp, repo_file, verify_body};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs `program args…` to its end; its output, or a failure that says what
/// to install when the program is missing.
fn run(program: &str, args: &[&str], package: &str) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("`{program}` cannot run ({e}): install Debian's `{package}` (see .ci/run)"))
}

/// Like [`run`], and fails with the tool's output unless it succeeds.
fn check(program: &str, args: &[&str], package: &str) -> String {
    let out = run(program, args, package);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "`{program} {}` failed:\n{text}", args.join(" "));
    text
}

fn path(rel: &str) -> String {
    repo_file(rel).display().to_string()
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn promtool_checks_the_alert_rules_and_their_unit_tests_pass() {
    let out = check("promtool", &["check", "rules", &path("deploy/prometheus/alerts.yml")], "prometheus");
    assert!(out.contains("SUCCESS"), "{out}");
    let out = check("promtool", &["test", "rules", &path("deploy/prometheus/alerts_test.yml")], "prometheus");
    assert!(out.contains("SUCCESS"), "{out}");
}

/// Every alert of the rules file is exercised by its unit tests.
#[test]
fn every_alert_has_a_unit_test() {
    let rules = read("deploy/prometheus/alerts.yml");
    let tests = read("deploy/prometheus/alerts_test.yml");
    let alerts: Vec<&str> = rules.lines().filter_map(|l| l.trim().strip_prefix("- alert: ")).collect();
    assert!(alerts.len() >= 8, "{alerts:?}");
    for alert in alerts {
        let tested = tests.lines().filter(|l| l.trim() == format!("alertname: {alert}")).count();
        assert!(tested >= 1, "{alert} has no test in alerts_test.yml");
    }
}

/// The dashboard's queries, with Grafana's variables replaced, are valid PromQL.
#[test]
fn promtool_parses_every_dashboard_query() {
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 17, "{} queries", exprs.len());
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let e = e.replace("$__rate_interval", "5m").replace("$instance", ".*");
            json!({"record": format!("dashboard:query_{i}"), "expr": e})
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard-queries.yml");
    // JSON is YAML.
    std::fs::write(&file, json!({"groups": [{"name": "dashboard", "rules": rules}]}).to_string()).unwrap();
    let out = check("promtool", &["check", "rules", &file.display().to_string()], "prometheus");
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}

fn dashboard() -> Value {
    serde_json::from_str(&read("deploy/grafana/bawaba.json")).expect("the dashboard is JSON")
}

fn dashboard_exprs() -> Vec<String> {
    let d = dashboard();
    let mut exprs = Vec::new();
    for panel in d["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("a target has an expr").to_owned());
        }
    }
    exprs
}

/// The `bawaba_…` metric names a text mentions.
fn metric_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("bawaba_").map(|i| i + from) {
        let starts = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        let end = text[i..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .map_or(text.len(), |e| e + i);
        if starts {
            names.insert(text[i..end].to_owned());
        }
        from = end;
    }
    names
}

/// The families `src/metrics.rs` declares (`…::new("name", …)`), prefixed.
fn declared_families() -> BTreeSet<String> {
    let src = read("src/metrics.rs");
    let mut names = BTreeSet::new();
    for (i, _) in src.match_indices("new(") {
        let rest = src[i + 4..].trim_start();
        if let Some(lit) = rest.strip_prefix('"')
            && let Some(end) = lit.find('"')
            && lit[..end].chars().all(|c| c.is_ascii_lowercase() || c == '_')
        {
            names.insert(format!("bawaba_{}", &lit[..end]));
        }
    }
    names
}

/// A gateway that has done a bit of everything: a verification with a
/// receipt (registry attempt, cache lookup, check digit, receipt issued), a
/// receipt check, an SMS handed to the SMSC, a malformed request, and an
/// external issuer whose key server is down (its fetches, key age and a
/// refused token).
async fn busy_gateway() -> TestApp {
    let down = format!("http://127.0.0.1:{}", common::free_port());
    let issuer = down.clone();
    let app = TestApp::spawn_with(move |s| {
        s.auth.issuers.push(IssuerSettings {
            issuer: issuer.clone(),
            audiences: vec![s.auth.audience.clone()],
            jwks_url: Some(format!("{issuer}/jwks")),
            discovery: false,
            algorithms: vec!["ES256".into()],
            client_claim: None,
            center_claim: None,
            operator_claim: None,
            jwks_max_stale_seconds: 86_400,
            max_token_lifetime_seconds: 3_600,
        })
    })
    .await;
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let external = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "ES256", "typ": "JWT", "kid": "none-yet"})),
        b64(
            json!({"iss": down, "aud": app.settings.auth.audience, "azp": "center-demo", "iat": now, "exp": now + 300})
        ),
    );
    let r = app.http.get(app.url("/v1/audit/events")).bearer_auth(&external).send().await.unwrap();
    assert_eq!(r.status(), 401, "a token of an issuer without keys");
    let token = app.token("center-demo").await;
    let mut body = verify_body("29001011300036", json!({"full_name": "محمد أحمد علي"}));
    body["receipt"] = json!(true);
    let (status, answer) = app.verify(&token, &body).await;
    assert_eq!(status, 200, "{answer}");
    let code = answer["receipt"]["code"].as_str().expect("a receipt code");
    let r = app.http.post(app.url("/receipts/verify")).json(&json!({ "code": code })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let sms = json!({"to": "01001234567", "template": "request_status", "lang": "en",
        "params": {"case_ref": "SHR-2025-000123", "status": "received", "center": "Zagazig"},
        "context": {"operator_id": "EMP-1001", "purpose": "status_notification", "case_ref": "SHR-2025-000123"}});
    let r = app
        .http
        .post(app.url("/v1/sms"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "deploy-1")
        .json(&sms)
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 202);
    let r = app
        .http
        .post(app.url("/v1/national-id/verify"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await;
    assert_eq!(r.unwrap().status(), 400);
    // The SMS leaves through the dispatcher, a moment later.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !scrape(&app).await.contains("bawaba_registry_attempts_total{registry=\"smsc\"") {
        assert!(Instant::now() < deadline, "the SMS never reached the SMSC");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app
}

async fn scrape(app: &TestApp) -> String {
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// What `/metrics` exports: the sample names, and the families by kind.
fn exported(text: &str) -> (BTreeSet<String>, Vec<(String, String)>) {
    let samples = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l[..l.find(['{', ' ']).unwrap_or(l.len())].to_owned())
        .collect();
    let families = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(n, k)| (n.to_owned(), k.to_owned()))
        .collect();
    (samples, families)
}

/// The family a sample name belongs to (`x_bucket` → `x` for a histogram).
fn family_of(name: &str, histograms: &BTreeSet<String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && histograms.contains(base)
        {
            return base.to_owned();
        }
    }
    name.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_rules_and_the_dashboard_use_is_exported_and_every_family_has_a_panel() {
    let app = busy_gateway().await;
    let (samples, families) = exported(&scrape(&app).await);
    let histograms: BTreeSet<String> =
        families.iter().filter(|(_, k)| k == "histogram").map(|(n, _)| n.clone()).collect();

    // A sample name (`x_bucket`), or a family's (`x`, as a description names it).
    let known: BTreeSet<&String> = samples.iter().chain(families.iter().map(|(n, _)| n)).collect();
    for file in ["deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml", "deploy/grafana/bawaba.json"] {
        let used = metric_names(&read(file));
        assert!(!used.is_empty(), "{file} uses no bawaba_ metric");
        let unknown: Vec<&String> = used.iter().filter(|n| !known.contains(n)).collect();
        assert!(unknown.is_empty(), "{file} uses metrics /metrics does not export: {unknown:?}");
    }

    // Every family: those /metrics shows now and those src/metrics.rs declares.
    let mut all: BTreeSet<String> = families.iter().map(|(n, _)| n.clone()).collect();
    let declared = declared_families();
    assert!(declared.len() >= 16, "{declared:?}");
    all.extend(declared);
    let in_dashboard: BTreeSet<String> =
        metric_names(&dashboard_exprs().join("\n")).iter().map(|n| family_of(n, &histograms)).collect();
    let missing: Vec<&String> = all.iter().filter(|f| !in_dashboard.contains(*f)).collect();
    assert!(missing.is_empty(), "families without a dashboard panel: {missing:?}");
}

#[test]
fn metric_names_are_found_whole() {
    let names = metric_names("job=\"bawaba\" BawabaStoreDown rate(bawaba_http_requests_total{x=\"1\"}[5m]) xbawaba_no");
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["bawaba_http_requests_total"]);
}

/// The unit with the built binary in place of /usr/local/bin/bawaba (verify
/// checks that the commands exist).
fn unit_with_binary(dir: &Path) -> String {
    let unit = read("deploy/systemd/bawaba.service").replace("/usr/local/bin/bawaba", env!("CARGO_BIN_EXE_bawaba"));
    let file = dir.join("bawaba.service");
    std::fs::write(&file, unit).unwrap();
    file.display().to_string()
}

#[test]
fn systemd_analyze_verifies_the_unit_and_rates_its_exposure_below_2() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_with_binary(dir.path());
    let out = run("systemd-analyze", &["verify", &unit], "systemd");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.trim().is_empty(), "systemd-analyze verify:\n{text}");

    let out = run("systemd-analyze", &["security", "--offline=true", "--no-pager", &unit], "systemd");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let level = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for bawaba.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{text}{}", String::from_utf8_lossy(&out.stderr)));
    assert!(level < 2.0, "exposure {level}:\n{text}");
    // The same bound as systemd's own gate (exposure × 10).
    let gate =
        run("systemd-analyze", &["security", "--offline=true", "--threshold=19", "--no-pager", &unit], "systemd");
    assert!(gate.status.success(), "above the threshold:\n{text}");
}

/// The unit's user, made by systemd-sysusers from deploy/systemd/bawaba.sysusers
/// (in a scratch root), with the home the unit works in and no login shell.
#[test]
fn systemd_sysusers_makes_the_units_user() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let root_arg = format!("--root={}", root.path().display());
    check("systemd-sysusers", &[&root_arg, &path("deploy/systemd/bawaba.sysusers")], "systemd");
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let user = passwd.lines().find(|l| l.starts_with("bawaba:")).unwrap_or_else(|| panic!("no bawaba user:\n{passwd}"));
    assert!(user.contains(":/var/lib/bawaba:") && user.ends_with("nologin"), "{user}");
    let unit = read("deploy/systemd/bawaba.service");
    assert!(unit.contains("\nUser=bawaba\n") && unit.contains("\nGroup=bawaba\n"));
}
