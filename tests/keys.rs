//! `bawaba keys rotate` (CONTRACT §14) while the gateway runs: the token key
//! (kept in the store), the checkpoint key and the receipt key (bundle files).
//! A new key signs from then on; what the old keys signed still verifies; the
//! JWKS publishes a new token key before any token is signed with it; two
//! replicas on one PostgreSQL refuse no token across a rotation.

mod common;

use common::{Backend, TestApp, postgres_server, verify_body};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_bawaba");

fn rotate(app: &TestApp, args: &[&str]) -> String {
    let config = app.cli_config();
    let out = Command::new(BIN)
        .args(["keys", "rotate", "--config", config.to_str().unwrap()])
        .args(args)
        .output()
        .expect("the binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn verify_ok(app: &TestApp, token: &str) -> bool {
    app.verify(token, &verify_body("29001011300036", json!({}))).await.0 == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_token_key_is_published_before_it_signs_and_old_tokens_still_verify() {
    let app = TestApp::spawn().await;
    let old = app.token("center-demo").await;
    let old_kid = kid_of(&old);
    assert_eq!(jwks_kids(&app).await, vec![old_kid.clone()]);

    let said = rotate(&app, &["--activate-after-seconds", "7"]);
    assert!(said.contains("signs from"), "{said}");
    let started = Instant::now();
    let mut published_at = None;
    let new_kid = loop {
        assert!(started.elapsed() < Duration::from_secs(20), "the new key never signed");
        let kids = jwks_kids(&app).await;
        let token = app.token("center-demo").await;
        let kid = kid_of(&token);
        if kids.len() == 2 && published_at.is_none() {
            published_at = Some(started.elapsed());
        }
        if kid != old_kid {
            // Published first: the JWKS read before this token already listed its key.
            assert!(kids.contains(&kid), "signed with {kid} before publishing it: {kids:?}");
            assert!(verify_ok(&app, &token).await, "a new token is accepted");
            break kid;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let published_at = published_at.expect("published");
    assert!(published_at < Duration::from_secs(7), "published within a reload: {published_at:?}");
    assert!(started.elapsed() >= Duration::from_secs(6), "signs only from its activation: {:?}", started.elapsed());
    let kids = jwks_kids(&app).await;
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid), "the JWKS lists both: {kids:?}");
    assert!(verify_ok(&app, &old).await, "a token of the old key verifies until it expires");

    // A key kept in a file is the operator's: rotation refuses and says how.
    let file = app.dir.path().join("token-key.pem");
    std::fs::write(&file, bawaba::auth::generate_pem().unwrap()).unwrap();
    let config = app.dir.path().join("file-key.toml");
    std::fs::write(
        &config,
        format!("{}[auth]\nsigning_key_file = {:?}\n", std::fs::read_to_string(app.cli_config()).unwrap(), file),
    )
    .unwrap();
    let out = Command::new(BIN).args(["keys", "rotate", "--config", config.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("append a new PEM key"));
}

/// The public half of each key of a checkpoint key bundle.
fn checkpoint_publics(path: &std::path::Path) -> Vec<std::path::PathBuf> {
    let text = std::fs::read_to_string(path).unwrap();
    let blocks: Vec<&str> = text.split_inclusive("-----END PRIVATE KEY-----\n").collect();
    blocks
        .iter()
        .filter(|b| b.contains("BEGIN"))
        .enumerate()
        .map(|(i, b)| {
            let key = bawaba::audit::CheckpointKey::from_pem(b).unwrap();
            let out = path.with_file_name(format!("checkpoint-public-{i}.pem"));
            std::fs::write(&out, key.public_pem()).unwrap();
            out
        })
        .collect()
}

fn audit_verify(app: &TestApp, public_keys: &[&std::path::Path]) -> (bool, String) {
    let config = app.cli_config();
    let mut cmd = Command::new(BIN);
    cmd.args(["audit", "verify", "--config", config.to_str().unwrap()]);
    for k in public_keys {
        cmd.arg("--public-key").arg(k);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_signed_before_and_after_a_checkpoint_key_rotation_all_verify() {
    let app = TestApp::spawn_with(|s| s.audit.checkpoint_every = 1).await;
    let token = app.token("center-demo").await;
    for _ in 0..5 {
        assert!(verify_ok(&app, &token).await);
    }
    let said = rotate(&app, &["--key", "checkpoint"]);
    assert!(said.contains("appended"), "{said}");
    let publics = checkpoint_publics(&app.settings.audit.checkpoint_key_file);
    assert_eq!(publics.len(), 2, "the bundle holds the old key and the new");
    // The gateway signs with the new key within a reload.
    let started = Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(15), "the new checkpoint key never signed");
        assert!(verify_ok(&app, &token).await);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Trusting only the old key fails once a checkpoint is signed by the new one.
        if !audit_verify(&app, &[&publics[0]]).0 {
            break;
        }
    }
    let (ok, text) = audit_verify(&app, &[&publics[1]]);
    assert!(!ok, "the checkpoints before the rotation are the old key's: {text}");
    let (ok, text) = audit_verify(&app, &[&publics[0], &publics[1]]);
    assert!(ok && text.contains("intact"), "{text}");
    let (ok, text) = audit_verify(&app, &[]);
    assert!(ok && text.contains("intact"), "the configured bundle trusts both: {text}");
    let auditor = app.token("auditor-demo").await;
    let report: Value = app.get("/v1/audit/integrity", &auditor).await.json().await.unwrap();
    assert_eq!(report["ok"], true, "{report}");
}

async fn receipt_code(app: &TestApp, token: &str) -> String {
    let mut body = verify_body("29001011300036", json!({}));
    body["receipt"] = json!(true);
    let (status, answer) = app.verify(token, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer["receipt"]["code"].as_str().unwrap().to_owned()
}

async fn receipt_valid(app: &TestApp, code: &str) -> bool {
    let r = app.http.post(app.url("/receipts/verify")).json(&json!({ "code": code })).send().await.unwrap();
    r.json::<Value>().await.unwrap()["valid"] == true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_signed_before_and_after_a_receipt_key_rotation_all_verify() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let old = receipt_code(&app, &token).await;
    let before: Value =
        app.http.get(app.url("/.well-known/bawaba-receipt-keys.json")).send().await.unwrap().json().await.unwrap();
    let old_kid = before["keys"][0]["kid"].as_str().unwrap().to_owned();
    rotate(&app, &["--key", "receipt"]);
    let started = Instant::now();
    let new = loop {
        assert!(started.elapsed() < Duration::from_secs(15), "the new receipt key never signed");
        let code = receipt_code(&app, &token).await;
        let keys: Value =
            app.http.get(app.url("/.well-known/bawaba-receipt-keys.json")).send().await.unwrap().json().await.unwrap();
        if keys["keys"].as_array().unwrap().len() == 2 && code != old {
            let kids: Vec<&str> = keys["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
            assert!(kids.contains(&old_kid.as_str()), "the old key stays published: {kids:?}");
            break code;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(receipt_valid(&app, &old).await, "a receipt of the old key verifies");
    assert!(receipt_valid(&app, &new).await, "a receipt of the new key verifies");
    // Offline, with the configured bundle.
    for code in [&old, &new] {
        let out = Command::new(BIN)
            .args(["receipt", "verify", code, "--config", app.cli_config().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
}

/// Two replicas on one PostgreSQL: tokens from each, used at the other, all
/// the way through a token key rotation; none is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_refuse_no_token_across_a_rotation() {
    if postgres_server().is_none() {
        eprintln!("skipped: BAWABA_TEST_DATABASE_URL is not set");
        return;
    }
    let a = TestApp::spawn_on(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let b = TestApp::spawn_settings(a.settings.clone(), dir).await;
    let replicas = [&a, &b];
    let old_kid = kid_of(&a.token("center-demo").await);
    rotate(&a, &["--activate-after-seconds", "6"]);
    let started = Instant::now();
    let (mut calls, mut refused, mut new_kids) = (0, 0, 0);
    while started.elapsed() < Duration::from_secs(14) {
        for (i, j) in [(0, 1), (1, 0)] {
            let token = replicas[i].token("center-demo").await;
            if kid_of(&token) != old_kid {
                new_kids += 1;
            }
            calls += 1;
            if !verify_ok(replicas[j], &token).await {
                refused += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused, 0, "{refused} of {calls} tokens refused at the other replica");
    assert!(new_kids > 0, "the new key signed at some point");
    let (ka, kb) = (jwks_kids(&a).await, jwks_kids(&b).await);
    assert_eq!(ka.len(), 2);
    assert_eq!(ka, kb, "both replicas publish the same keys");
}
