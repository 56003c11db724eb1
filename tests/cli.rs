//! The command line (CONTRACT §1): `check-config`, the hardening rules of
//! `serve`, and `clients hash-secret`.

use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

const BIN: &str = env!("CARGO_BIN_EXE_bawaba");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the binary in the repository root (where `config/` lives) with the
/// given environment, feeding `stdin`; kills it after 30 s.
async fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Run {
    let mut cmd = tokio::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, _) in std::env::vars().filter(|(k, _)| k.starts_with("BAWABA__")) {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the binary starts");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
        drop(pipe);
    }
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("the command finishes within 30 s")
        .unwrap();
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_accepts_the_default_configuration() {
    let r = run(&["check-config"], &[], None).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let r = run(&["check-config", "--config", "config/bawaba.toml"], &[], None).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_prints_every_problem_naming_its_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
[store]
url = "mysql://db/bawaba"
max_batch = 0

[auth]
token_ttl_seconds = 3600

[log]
format = "xml"

[registries.national_id]
max_attempts = 0
timeout_ms = 0

[signals]
time_zone = "Egypt/Zagazig"
"#,
    )
    .unwrap();
    let r = run(&["check-config", "--config", path.to_str().unwrap()], &[], None).await;
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let out = format!("{}{}", r.stdout, r.stderr);
    for key in [
        "store.url",
        "store.max_batch",
        "auth.token_ttl_seconds",
        "log.format",
        "registries.national_id.max_attempts",
        "registries.national_id.timeout_ms",
        "signals.time_zone",
    ] {
        assert!(out.lines().any(|l| l.contains(key)), "{key} not reported:\n{out}");
    }
    assert!(out.contains("mysql://db/bawaba") && out.contains("xml"), "values are shown:\n{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_names_every_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typos.toml");
    std::fs::write(&path, "[server]\nlisten_addr = \"127.0.0.1:1\"\n\n[store]\nurll = \"sqlite://x\"\n").unwrap();
    let r = run(&["check-config", "--config", path.to_str().unwrap()], &[], None).await;
    assert_eq!(r.code, 2);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("server.listen_addr") && out.contains("store.urll"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_unknown_keys_and_bad_values_together() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.toml");
    std::fs::write(&path, "[server]\nlisten_addr = \"x\"\n\n[log]\nformat = \"xml\"\n").unwrap();
    let r = run(&["check-config", "--config", path.to_str().unwrap()], &[], None).await;
    assert_eq!(r.code, 2);
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(out.contains("server.listen_addr") && out.contains("log.format"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reads_environment_overrides() {
    let r = run(&["check-config"], &[("BAWABA__LOG__FORMAT", "yaml")], None).await;
    assert_eq!(r.code, 2);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("log.format"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_on_a_missing_file_exits_2() {
    let r = run(&["check-config", "--config", "no/such/file.toml"], &[], None).await;
    assert_eq!(r.code, 2);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("no/such/file.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_public_address_without_tls_with_the_sandbox_and_demo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("bawaba.db").display());
    let r = run(&["serve"], &[("BAWABA__SERVER__LISTEN", "0.0.0.0:0"), ("BAWABA__STORE__URL", &store)], None).await;
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {:?}", r.stderr);
    let line = lines[0].to_lowercase();
    for reason in ["tls", "sandbox", "demo secret"] {
        assert!(line.contains(reason), "{reason} not named: {line}");
    }
    assert!(!dir.path().join("bawaba.db").exists(), "nothing was started");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_the_hardening_problems_of_a_public_address() {
    let r = run(&["check-config"], &[("BAWABA__SERVER__LISTEN", "0.0.0.0:8443")], None).await;
    assert_eq!(r.code, 2);
    let out = format!("{}{}", r.stdout, r.stderr).to_lowercase();
    assert!(out.contains("server.listen") && out.contains("tls"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_secret_prints_an_argon2_hash_of_the_secret_on_stdin() {
    let secret = "a-long-enough-secret-for-a-client";
    let r = run(&["clients", "hash-secret"], &[], Some(&format!("{secret}\n"))).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let hash = r.stdout.trim();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret), "the secret is not echoed");
    assert!(bawaba::auth::verify_secret_hash(hash, secret), "the hash verifies the secret");
    assert!(!bawaba::auth::verify_secret_hash(hash, "another-secret-of-some-length"));
    let again = run(&["clients", "hash-secret"], &[], Some(secret)).await;
    assert_ne!(again.stdout.trim(), hash, "a fresh salt each time");
    assert!(bawaba::auth::verify_secret_hash(again.stdout.trim(), secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_secret_refuses_a_short_secret() {
    let r = run(&["clients", "hash-secret"], &[], Some("short\n")).await;
    assert_ne!(r.code, 0);
    assert!(r.stdout.trim().is_empty(), "no hash printed: {}", r.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_with_tls_on_a_public_address_still_refuses_the_sandbox_and_demo_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let store = format!("sqlite://{}", dir.path().join("bawaba.db").display());
    let env = [
        ("BAWABA__SERVER__LISTEN", "0.0.0.0:0"),
        ("BAWABA__SERVER__TLS_CERT", cert.to_str().unwrap()),
        ("BAWABA__SERVER__TLS_KEY", key.to_str().unwrap()),
        ("BAWABA__STORE__URL", &store),
    ];
    let r = run(&["serve"], &env, None).await;
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one clear line: {:?}", r.stderr);
    let line = lines[0].to_lowercase();
    assert!(line.contains("sandbox") && line.contains("demo secret"), "{line}");
    assert!(!line.contains("tls_cert"), "TLS is configured, so it is not a reason: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_on_an_empty_store_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let url = toml::Value::String(format!("sqlite://{}", dir.path().join("empty.db").display()));
    let config = dir.path().join("bawaba.toml");
    std::fs::write(&config, format!("[store]\nurl = {url}\n")).unwrap();
    let r = run(&["audit", "verify", "--config", config.to_str().unwrap()], &[], None).await;
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("intact"), "{}", r.stdout);
}
