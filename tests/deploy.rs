//! What an operator installs from (`deploy/`), each file checked by the tool
//! made for it: the Prometheus rules by `promtool` (syntax and unit tests),
//! every metric name in the rules and the dashboard against a running
//! gateway's `/metrics`, the dashboard's queries by `promtool`, the systemd
//! unit by `systemd-analyze`, the Kubernetes manifests against the
//! Kubernetes schemas, the nginx example by `nginx -t`. A missing tool is a
//! failure, not a skip (`.ci/run` installs them).

mod common;

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
/// receipt check, an SMS handed to the SMSC, a malformed request.
async fn busy_gateway() -> TestApp {
    let app = TestApp::spawn().await;
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

/// The manifests of deploy/kubernetes/, as JSON (PyYAML of the validator's venv).
fn kubernetes_documents() -> Vec<Value> {
    let python = common::python_tool("python");
    let script = "import json, sys, yaml\n\
        docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d]\n\
        print(json.dumps(docs))";
    let files = kubernetes_files();
    let mut args = vec!["-c", script];
    args.extend(files.iter().map(String::as_str));
    serde_json::from_str(&check(&python.display().to_string(), &args, "python3-venv")).unwrap()
}

fn kubernetes_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(repo_file("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    files
}

#[test]
fn the_kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let validator = common::python_tool("kubernetes-validate").display().to_string();
    let files = kubernetes_files();
    assert!(files.len() >= 5, "{files:?}");
    let mut args = vec!["--strict"];
    args.extend(files.iter().map(String::as_str));
    let out = check(&validator, &args, "python3-venv");
    assert!(!out.contains("ERROR") && !out.contains("WARN"), "{out}");
    // And a broken one does not.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, read("deploy/kubernetes/deployment.yaml").replace("replicas: 2", "replicas: two")).unwrap();
    let out = run(&validator, &["--strict", &broken.display().to_string()], "python3-venv");
    assert!(!out.status.success(), "the validator let a string replica count through");
}

fn kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in deploy/kubernetes"))
}

/// What the validator cannot know: the replicas, probes, grace period and
/// lock-down the gateway needs, and that every mounted Secret and ConfigMap exists.
#[test]
fn the_deployment_runs_two_locked_down_replicas_with_probes_and_files_from_secrets() {
    let docs = kubernetes_documents();
    let deployment = kind(&docs, "Deployment", "bawaba");
    let spec = &deployment["spec"];
    assert!(spec["replicas"].as_u64().unwrap() >= 2);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pod = &spec["template"]["spec"];
    // Above server.shutdown_grace_seconds (default 10).
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() > 10);
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["automountServiceAccountToken"], false);
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["startupProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]));
    assert!(container["resources"]["requests"]["cpu"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    let config = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect::<Vec<_>>();
    assert_eq!(config[..2], ["serve", "--config"]);

    for volume in pod["volumes"].as_array().unwrap() {
        if let Some(secret) = volume["secret"]["secretName"].as_str() {
            kind(&docs, "Secret", secret);
        }
        if let Some(map) = volume["configMap"]["name"].as_str() {
            kind(&docs, "ConfigMap", map);
        }
    }
    // The PodDisruptionBudget and the Service select these pods.
    let labels = &spec["template"]["metadata"]["labels"];
    for (k, v) in kind(&docs, "PodDisruptionBudget", "bawaba")["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&labels[k], v);
    }
    assert!(kind(&docs, "PodDisruptionBudget", "bawaba")["spec"]["minAvailable"].as_u64().unwrap() >= 1);
    for (k, v) in kind(&docs, "Service", "bawaba")["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[k], v);
    }
    // The policy ConfigMap holds the defaults as they are in config/.
    let policy = &kind(&docs, "ConfigMap", "bawaba-policy")["data"];
    assert_eq!(policy["purposes.toml"], read("config/purposes.toml").as_str());
    assert_eq!(policy["sms_templates.toml"], read("config/sms_templates.toml").as_str());
}

/// A place that looks like the target machine: `/etc/bawaba`, `/var/lib/bawaba`
/// and `/etc/bawaba/…/` under a temp dir, with a TLS certificate, a clients
/// file with a real (non-demo) secret, and the policy files.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new(etc_files: &[(&str, &str)]) -> Machine {
        let dir = tempfile::tempdir().unwrap();
        let m = Machine { dir };
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let mut hash = Command::new(env!("CARGO_BIN_EXE_bawaba"))
            .args(["clients", "hash-secret"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        hash.stdin.take().unwrap().write_all(b"a-long-production-secret-not-a-demo-one").unwrap();
        let hash = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap();
        let clients = format!(
            "[[clients]]\nclient_id = \"center-zagazig-01\"\nsecret_hash = \"{}\"\nscopes = [\"national_id:verify\"]\npurposes = [\"*\"]\ncenter_id = \"SHR-ZAG-01\"\nrate_per_second = 50\nrate_burst = 100\n",
            hash.trim()
        );
        let (cert, key) = (certified.cert.pem(), certified.signing_key.serialize_pem());
        let purposes = read("config/purposes.toml");
        let templates = read("config/sms_templates.toml");
        for (rel, text) in etc_files {
            let text = match *text {
                "cert" => cert.as_str(),
                "key" => key.as_str(),
                "clients" => clients.as_str(),
                "purposes" => purposes.as_str(),
                "templates" => templates.as_str(),
                other => other,
            };
            let path = m.root().join(rel.trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(m.root().join("var/lib/bawaba")).unwrap();
        m
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration with its absolute paths moved under this machine.
    fn config(&self, text: &str) -> std::path::PathBuf {
        let root = self.root().display().to_string();
        let text = text
            .replace("\"/etc/bawaba/", &format!("\"{root}/etc/bawaba/"))
            .replace("sqlite:///var/lib/bawaba", &format!("sqlite://{root}/var/lib/bawaba"));
        let text = text.replace("\"/var/lib/bawaba", &format!("\"{root}/var/lib/bawaba"));
        let path = self.root().join("bawaba.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// `bawaba check-config` on `config` with `env`: its exit code and output.
    fn check_config(&self, config: &Path, env: &[(&str, &str)]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_bawaba"))
            .args(["check-config", "--config", &config.display().to_string()])
            .current_dir(self.root().join("var/lib/bawaba"))
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    }
}

#[test]
fn the_systemd_configuration_passes_check_config() {
    let m = Machine::new(&[
        ("etc/bawaba/clients.toml", "clients"),
        ("etc/bawaba/purposes.toml", "purposes"),
        ("etc/bawaba/sms_templates.toml", "templates"),
    ]);
    let config = m.config(&read("deploy/systemd/bawaba.toml"));
    let (code, out) = m.check_config(&config, &[("BAWABA__SMS__SMSC_SECRET", "the-operators-smsc-secret")]);
    assert_eq!(code, 0, "{out}");
    // The unit gives it the same file, as the same user's working directory.
    let unit = read("deploy/systemd/bawaba.service");
    assert!(unit.contains("ExecStart=/usr/local/bin/bawaba serve --config /etc/bawaba/bawaba.toml"));
    assert!(unit.contains("WorkingDirectory=/var/lib/bawaba") && unit.contains("StateDirectory=bawaba"));
}

#[test]
fn the_image_configuration_passes_check_config_once_the_smsc_secret_is_given() {
    let m = Machine::new(&[
        ("etc/bawaba/tls/tls.crt", "cert"),
        ("etc/bawaba/tls/tls.key", "key"),
        ("etc/bawaba/clients.toml", "clients"),
    ]);
    let config = m.config(&read("deploy/container/bawaba.toml"));
    let (code, out) = m.check_config(&config, &[]);
    assert_eq!(code, 2, "the demo SMSC secret on a public address is refused: {out}");
    assert!(out.contains("smsc_secret"), "{out}");
    let (code, out) = m.check_config(&config, &[("BAWABA__SMS__SMSC_SECRET", "the-operators-smsc-secret")]);
    assert_eq!(code, 0, "{out}");
    // The image copies this file where its command reads it.
    let containerfile = read("deploy/container/Containerfile");
    assert!(containerfile.contains("COPY deploy/container/bawaba.toml /out/etc/bawaba/bawaba.toml"));
    assert!(containerfile.contains(r#"CMD ["serve", "--config", "/etc/bawaba/bawaba.toml"]"#));
}

#[test]
fn the_kubernetes_configuration_passes_check_config_with_its_mounted_files() {
    let docs = kubernetes_documents();
    let toml = kind(&docs, "Secret", "bawaba-config")["stringData"]["bawaba.toml"].as_str().unwrap().to_owned();
    let policy = &kind(&docs, "ConfigMap", "bawaba-policy")["data"];
    let (purposes, templates) =
        (policy["purposes.toml"].as_str().unwrap(), policy["sms_templates.toml"].as_str().unwrap());
    let m = Machine::new(&[
        ("etc/bawaba/tls/tls.crt", "cert"),
        ("etc/bawaba/tls/tls.key", "key"),
        ("etc/bawaba/clients/clients.toml", "clients"),
        ("etc/bawaba/policy/purposes.toml", purposes),
        ("etc/bawaba/policy/sms_templates.toml", templates),
    ]);
    let config = m.config(&toml);
    // Its placeholders do not pass: the SMSC secret must be set.
    let (code, out) = m.check_config(&config, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("sms.smsc_secret"), "{out}");
    let (code, out) = m.check_config(&config, &[("BAWABA__SMS__SMSC_SECRET", "the-operators-smsc-secret")]);
    assert_eq!(code, 0, "{out}");
    assert!(toml.contains("url = \"postgres://"), "the replicas share a PostgreSQL store");
    // The mounts are where the configuration looks.
    let deployment = read("deploy/kubernetes/deployment.yaml");
    for dir in
        ["/etc/bawaba/config", "/etc/bawaba/clients", "/etc/bawaba/keys", "/etc/bawaba/tls", "/etc/bawaba/policy"]
    {
        assert!(deployment.contains(&format!("mountPath: {dir}\n")), "{dir} is not mounted");
    }
}

/// The build stage copies the whole workspace: cargo resolves it from those
/// paths alone, offline and locked.
#[test]
fn the_containerfile_copies_everything_the_build_needs() {
    let containerfile = read("deploy/container/Containerfile");
    let build = containerfile.split("\nFROM ").nth(1).expect("a build stage");
    let dir = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for line in build.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from")) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let (sources, dest) = (&parts[1..parts.len() - 1], parts[parts.len() - 1]);
        if dest.starts_with('/') {
            continue; // the runtime files, checked above
        }
        for src in sources {
            let from = repo_file(src);
            let to = dir.path().join(if dest == "./" { *src } else { dest });
            let status = Command::new("cp").arg("-r").arg(&from).arg(&to).status().unwrap();
            assert!(status.success(), "{line}: {src} is not in the repository");
            copied += 1;
        }
    }
    assert!(copied >= 5, "{copied} sources copied");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--locked", "--offline", "--format-version", "1", "--no-deps"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo cannot read the copied workspace: {text}");
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let targets: Vec<String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .filter(|t| t["kind"] == json!(["bin"]))
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(targets.contains(&"bawaba".to_owned()), "{targets:?}");
    // And what the sources embed (`include_str!`, `include_bytes!`) was copied too.
    let mut embedded = 0;
    for root in ["src", "connectors/src"] {
        for file in rust_files(&dir.path().join(root)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for (i, _) in text.match_indices("include_").filter(|(i, _)| !text[..*i].ends_with("//! ")) {
                let Some(rest) =
                    text[i..].strip_prefix("include_str!(\"").or(text[i..].strip_prefix("include_bytes!(\""))
                else {
                    continue;
                };
                let rel = &rest[..rest.find('"').unwrap()];
                let target = file.parent().unwrap().join(rel);
                assert!(target.exists(), "{} embeds {rel}, which the image build does not copy", file.display());
                embedded += 1;
            }
        }
    }
    assert!(embedded >= 4, "{embedded} embedded files");
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// deploy/nginx/bawaba.conf in a main configuration of its own, its paths and
/// addresses moved to `dir` and the given ports, as `nginx -t -c` wants it.
struct Nginx {
    dir: tempfile::TempDir,
    cert_pem: String,
}

impl Nginx {
    fn new(replicas: [&str; 2], http: u16, https: u16) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let certified =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        std::fs::write(dir.path().join("bawaba.crt"), certified.cert.pem()).unwrap();
        std::fs::write(dir.path().join("bawaba.key"), certified.signing_key.serialize_pem()).unwrap();
        let example = read("deploy/nginx/bawaba.conf");
        for needed in ["server 127.0.0.1:8080 ", "server 127.0.0.1:8081 ", "listen 80;", "listen 443 ssl http2;"] {
            assert!(example.contains(needed), "the example no longer has `{needed}`");
        }
        let conf = example
            .replace("/etc/nginx/tls/", &format!("{d}/"))
            .replace("server 127.0.0.1:8080 ", &format!("server {} ", replicas[0]))
            .replace("server 127.0.0.1:8081 ", &format!("server {} ", replicas[1]))
            .replace("listen 80;", &format!("listen 127.0.0.1:{http};"))
            .replace("listen 443 ssl http2;", &format!("listen 127.0.0.1:{https} ssl http2;"))
            .lines()
            .filter(|l| !l.contains("listen [::]"))
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(dir.path().join("bawaba.conf"), conf).unwrap();
        let main = format!(
            "daemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
             client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/bawaba.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).unwrap();
        Nginx { dir, cert_pem: certified.cert.pem() }
    }

    fn args(&self) -> Vec<String> {
        let d = self.dir.path().display().to_string();
        vec!["-p".into(), d.clone(), "-e".into(), format!("{d}/error.log"), "-c".into(), format!("{d}/nginx.conf")]
    }
}

#[test]
fn nginx_accepts_the_load_balancer_example() {
    let nginx = Nginx::new(["127.0.0.1:8080", "127.0.0.1:8081"], 8000, 8443);
    let mut args = nginx.args();
    args.insert(0, "-t".into());
    let out = check("nginx", &args.iter().map(String::as_str).collect::<Vec<_>>(), "nginx");
    assert!(out.contains("test is successful"), "{out}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The example in front of two gateways: TLS terminated, both replicas
/// answering, a POST passed through, plain HTTP redirected, /metrics kept
/// for the monitoring network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_example_balances_two_replicas_behind_tls() {
    let (a, b) = (TestApp::spawn().await, TestApp::spawn().await);
    let addr = |app: &TestApp| app.base.trim_start_matches("http://").to_owned();
    let (http, https) = (free_port(), free_port());
    let nginx = Nginx::new([&addr(&a), &addr(&b)], http, https);
    let mut child =
        Running(Command::new("nginx").args(nginx.args()).spawn().expect("nginx runs (Debian's nginx, see .ci/run)"));
    let cert = reqwest::Certificate::from_pem(nginx.cert_pem.as_bytes()).unwrap();
    let client =
        reqwest::Client::builder().tls_certs_only([cert]).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let front = format!("https://127.0.0.1:{https}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.get(format!("{front}/healthz")).send().await.is_err() {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!(
                "nginx exited ({status}): {}",
                std::fs::read_to_string(nginx.dir.path().join("error.log")).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "nginx does not answer on {front}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    for _ in 0..20 {
        let r = client.get(format!("{front}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["status"], "ready", "{body}");
    }
    // Both replicas took a share.
    for app in [&a, &b] {
        let metrics = scrape(app).await;
        let line =
            metrics.lines().find(|l| l.starts_with("bawaba_http_requests_total{route=\"/readyz\",status=\"200\"}"));
        let n: u64 = line.and_then(|l| l.rsplit(' ').next()).and_then(|n| n.parse().ok()).unwrap_or(0);
        assert!(n >= 1, "replica {} got no call", app.base);
    }
    // A POST with a form body goes through, and the gateway's headers come back.
    let r = client
        .post(format!("{front}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "center-demo"),
            ("client_secret", "center-demo-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));
    assert!(r.headers().get("strict-transport-security").is_some());
    assert!(r.json::<Value>().await.unwrap()["access_token"].is_string());
    // A problem+json answer passes as it is.
    let r = client.post(format!("{front}/v1/national-id/verify")).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    // /metrics is not published through the balancer.
    assert_eq!(client.get(format!("{front}/metrics")).send().await.unwrap().status(), 404);
    // Plain HTTP is sent to HTTPS.
    let r = client.get(format!("http://127.0.0.1:{http}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 301);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("https://"));
}

/// nginx's master, stopped with its workers when the test ends (even by a
/// panic): SIGTERM makes the master stop them, a SIGKILL would orphan them.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(pid) = i32::try_from(self.0.id()).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
