//! Signed verification receipts (CONTRACT §11), through HTTP: a verify call
//! with `"receipt": true`, its QR for its client only, the trust list,
//! `POST /receipts/verify` with every tampering refused for its reason, the
//! rate limit without audit events, key rotation, and the clean-up of expired
//! receipts; on SQLite and PostgreSQL.

mod common;

use bawaba::receipts::{Payload, ReceiptKeys, code};
use common::{Backend, TestApp, problem, verify_body};
use serde_json::{Value, json};

const CITIZEN: &str = "29001011300036";

fn with_receipt(mut body: Value) -> Value {
    body["receipt"] = json!(true);
    body
}

/// A national-ID verify with a receipt, as center-demo: the answer.
async fn verified_with_receipt(app: &TestApp, token: &str) -> Value {
    let body = with_receipt(verify_body(CITIZEN, json!({"full_name": "محمد أحمد علي", "mother_name": "هدى"})));
    let (status, answer) = app.verify(token, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

async fn check(app: &TestApp, code: &str) -> Value {
    let r = app.http.post(app.url("/receipts/verify")).json(&json!({ "code": code })).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get("cache-control").unwrap(), "no-store");
    r.json().await.unwrap()
}

async fn refusal(app: &TestApp, code: &str) -> String {
    let answer = check(app, code).await;
    assert_eq!(answer["valid"], false, "{answer}");
    answer["reason"].as_str().expect("a reason").to_owned()
}

async fn a_receipt_is_signed_and_verifies_and_reveals_no_one(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let answer = verified_with_receipt(&app, &token).await;
    let receipt = &answer["receipt"];
    assert_eq!(receipt["id"], answer["request_id"]);
    let code = receipt["code"].as_str().unwrap();
    assert!(code.starts_with("BW1:"), "{code}");
    assert!(code.len() < 300, "a receipt stays small: {} chars", code.len());
    let expires = time::OffsetDateTime::parse(
        receipt["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let days = (expires - time::OffsetDateTime::now_utc()).whole_days();
    assert!((364..=365).contains(&days), "receipts.valid_days defaults to 365: {days}");

    let checked = check(&app, code).await;
    assert_eq!(checked["valid"], true, "{checked}");
    assert!(checked.get("reason").is_none());
    let said = &checked["receipt"];
    assert_eq!(said["id"], answer["request_id"]);
    assert_eq!(said["registry"], "national_id");
    assert_eq!(said["outcome"], "mismatch");
    assert_eq!(said["fields"], json!({"full_name": {"match": true}, "mother_name": {"match": false}}));
    assert_eq!(said["center_id"], "SHR-ZAG-01");
    assert_eq!(said["case_ref"], "SHR-2025-000123");
    assert_eq!(said["expires_at"], receipt["expires_at"]);

    // Nothing about the citizen is in the code or in what it says.
    let bytes = base45::decode(&code[4..]).unwrap();
    for secret in [CITIZEN, "محمد", "فاطمة", "حسن"] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()), "{secret} in the code");
        assert!(!said.to_string().contains(secret), "{secret} in {said}");
    }

    // The receipt is the verify call's audit event.
    let events = app.audit_events(&format!("subject={CITIZEN}")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["id"], answer["request_id"]);
    assert_eq!(events[0]["action"], "national_id.verify");

    // Without the option there is no receipt.
    let (status, plain) = app.verify(&token, &verify_body(CITIZEN, json!({}))).await;
    assert_eq!(status, 200);
    assert!(plain.get("receipt").is_none(), "{plain}");
    let r = app.get(&format!("/v1/receipts/{}/qr.svg", plain["request_id"].as_str().unwrap()), &token).await;
    problem(r, 404, "not_found").await;
}

async fn receipts_of_the_other_registries_and_of_not_found(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let context = json!({"operator_id": "EMP-2002", "purpose": "shop_license"});
    let cases = [
        (
            "/v1/commercial-register/verify",
            json!({"registration_number": "123456", "office": "ZAGAZIG", "claims": {"trade_name": "مخبز النور"},
                   "context": context, "receipt": true}),
            "commercial_register",
            "match",
        ),
        (
            "/v1/real-estate/verify",
            json!({"property_id": "SHR-ZAG-999999", "context": {"operator_id": "EMP-2002", "purpose": "building_permit"},
                   "receipt": true}),
            "real_estate",
            "not_found",
        ),
    ];
    for (path, body, registry, outcome) in cases {
        let r = app.post_json(path, &token, &body).await;
        assert_eq!(r.status(), 200, "{path}");
        let answer: Value = r.json().await.unwrap();
        let checked = check(&app, answer["receipt"]["code"].as_str().unwrap()).await;
        assert_eq!(checked["valid"], true, "{checked}");
        assert_eq!(checked["receipt"]["registry"], registry);
        assert_eq!(checked["receipt"]["outcome"], outcome);
        assert_eq!(checked["receipt"]["case_ref"], Value::Null, "no case_ref was given");
        if outcome == "not_found" {
            assert!(checked["receipt"].get("fields").is_none(), "{checked}");
        }
    }
    // `receipt` must be a boolean.
    let mut body = verify_body(CITIZEN, json!({}));
    body["receipt"] = json!("yes");
    problem(app.post_json("/v1/national-id/verify", &token, &body).await, 400, "invalid_request").await;
}

async fn the_qr_is_for_its_client_only_and_audited(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let answer = verified_with_receipt(&app, &token).await;
    let id = answer["receipt"]["id"].as_str().unwrap();

    let svg = app.get(&format!("/v1/receipts/{id}/qr.svg"), &token).await;
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers().get("content-type").unwrap(), "image/svg+xml");
    assert_eq!(svg.headers().get("cache-control").unwrap(), "no-store");
    let text = svg.text().await.unwrap();
    assert!(text.contains("<svg") && text.contains(r#"width="20mm""#), "{}", &text[..200.min(text.len())]);
    let png = app.get(&format!("/v1/receipts/{id}/qr.png"), &token).await;
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers().get("content-type").unwrap(), "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..8], b"\x89PNG\r\n\x1a\n");

    // Another client's receipt is not there for them; nor is an unknown id.
    let other = app.token("center2-demo").await;
    problem(app.get(&format!("/v1/receipts/{id}/qr.png"), &other).await, 404, "not_found").await;
    problem(app.get(&format!("/v1/receipts/{id}/qr.svg"), &other).await, 404, "not_found").await;
    let unknown = uuid::Uuid::now_v7();
    problem(app.get(&format!("/v1/receipts/{unknown}/qr.svg"), &token).await, 404, "not_found").await;
    problem(app.get("/v1/receipts/not-an-id/qr.svg", &token).await, 404, "not_found").await;
    // A token without a verify scope may not ask at all.
    problem(app.get(&format!("/v1/receipts/{id}/qr.svg"), &app.token("auditor-demo").await).await, 403, "forbidden")
        .await;

    let events = app.audit_events("action=receipt.qr").await;
    let outcomes: Vec<(&str, &str)> =
        events.iter().map(|e| (e["client_id"].as_str().unwrap(), e["outcome"].as_str().unwrap())).rev().collect();
    assert_eq!(
        outcomes,
        vec![
            ("center-demo", "ok"),
            ("center-demo", "ok"),
            ("center2-demo", "not_found"),
            ("center2-demo", "not_found"),
            ("center-demo", "not_found"),
            ("center-demo", "not_found"),
            ("auditor-demo", "forbidden"),
        ]
    );
}

/// The text of `code` with the Base45 triple `group` (after the prefix)
/// changed by one, which keeps it valid Base45 but changes two bytes.
fn one_character_changed(code: &str, group: usize) -> String {
    const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";
    let mut chars: Vec<char> = code.chars().collect();
    let at = 4 + 3 * group;
    let i = ALPHABET.find(chars[at]).unwrap();
    chars[at] = ALPHABET.chars().nth(if i == 0 { 1 } else { i - 1 }).unwrap();
    chars.into_iter().collect()
}

async fn every_tampering_is_refused_with_its_reason(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let token = app.token("center-demo").await;
    let answer = verified_with_receipt(&app, &token).await;
    let code = answer["receipt"]["code"].as_str().unwrap().to_owned();
    let groups = (code.len() - 4) / 3;

    // One character changed: in the signature, and in the signed content.
    assert_eq!(refusal(&app, &one_character_changed(&code, groups - 5)).await, "bad_signature");
    assert_eq!(refusal(&app, &one_character_changed(&code, groups / 2)).await, "bad_signature");
    // Cut short.
    for keep in [code.len() - 1, code.len() - 3, code.len() / 2, 10] {
        let reason = refusal(&app, &code[..keep]).await;
        assert!(["encoding", "structure"].contains(&reason.as_str()), "cut at {keep}: {reason}");
    }
    assert_eq!(refusal(&app, &code.replacen("BW1:", "HC1:", 1)).await, "not_a_receipt");
    assert_eq!(refusal(&app, "BW1:%%%%").await, "encoding");

    // Signed by a key the gateway does not know.
    let stranger = ReceiptKeys::from_bundle(&test_key_pem()).unwrap();
    let forged = code::sign(&sample_payload(i64::MAX / 2), &stranger.signing);
    assert_eq!(refusal(&app, &forged).await, "unknown_key");

    // Signed with the gateway's own key (a test key, as a key file given to
    // it): an expired receipt says what it was; junk under a good signature is
    // not a receipt.
    let own = ReceiptKeys::read(&app.settings.receipts.key_file).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expired = check(&app, &code::sign(&sample_payload(now - 60), &own.signing)).await;
    assert_eq!((expired["valid"].clone(), expired["reason"].clone()), (json!(false), json!("expired")), "{expired}");
    assert_eq!(expired["receipt"]["registry"], "real_estate");
    assert_eq!(refusal(&app, &signed_junk(&own)).await, "payload");

    // Far too long: refused whole, before any decoding.
    assert_eq!(refusal(&app, &format!("BW1:{}", "A".repeat(5000))).await, "too_long");
    let huge = json!({ "code": format!("BW1:{}", "A".repeat(100 * 1024)) });
    let r = app.http.post(app.url("/receipts/verify")).json(&huge).send().await.unwrap();
    problem(r, 413, "payload_too_large").await;
    // Bad requests are problems too.
    let r = app.http.post(app.url("/receipts/verify")).json(&json!({"code": code, "x": 1})).send().await.unwrap();
    problem(r, 400, "invalid_request").await;
    let r = app.http.post(app.url("/receipts/verify")).body("code").send().await.unwrap();
    problem(r, 415, "unsupported_media_type").await;
    let r = app.http.get(app.url("/receipts/verify")).send().await.unwrap();
    assert_eq!(r.status(), 405);

    // The genuine code is still genuine.
    assert_eq!(check(&app, &code).await["valid"], true);
}

fn test_key_pem() -> String {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem()
}

fn sample_payload(expires_at: i64) -> Payload {
    Payload::of_verification(
        uuid::Uuid::now_v7(),
        (1_700_000_000, expires_at),
        "real_estate",
        "match",
        Some([("owner_national_id".to_owned(), true)]),
        Some("SHR-ZAG-01".into()),
        None,
    )
    .unwrap()
}

/// A COSE_Sign1 whose signature is good, over a payload that is not the format.
fn signed_junk(keys: &ReceiptKeys) -> String {
    use coset::TaggedCborSerializable;
    let protected =
        coset::HeaderBuilder::new().algorithm(coset::iana::Algorithm::ES256).key_id(keys.signing.kid.to_vec()).build();
    let sign1 = coset::CoseSign1Builder::new()
        .protected(protected)
        .payload(b"\xa2\x00\x01\x01\x63abc".to_vec())
        .create_signature(b"", |tbs| keys.signing.sign(tbs))
        .build();
    format!("BW1:{}", base45::encode(sign1.to_tagged_vec().unwrap()))
}

async fn the_trust_list_publishes_the_signing_key(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let r = app.http.get(app.url("/.well-known/bawaba-receipt-keys.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let jwks: Value = r.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(
        (keys[0]["kty"].clone(), keys[0]["crv"].clone(), keys[0]["alg"].clone()),
        (json!("EC"), json!("P-256"), json!("ES256"))
    );
    let own = ReceiptKeys::read(&app.settings.receipts.key_file).unwrap();
    assert_eq!(keys[0]["kid"], bawaba::receipts::keys::kid_text(&own.signing.kid));
    assert!(keys[0].get("d").is_none(), "no private part is published");
}

/// A rotation appends a key to the file: the new key signs, the old one
/// stays published and trusted while a receipt it signed is unexpired;
/// a key removed from the file is trusted no more.
async fn a_rotated_key_keeps_its_receipts_valid_until_withdrawn(backend: Backend) {
    let first = TestApp::spawn_on(backend).await;
    let token = first.token("center-demo").await;
    let old_code = verified_with_receipt(&first, &token).await["receipt"]["code"].as_str().unwrap().to_owned();
    let old_pem = std::fs::read_to_string(&first.settings.receipts.key_file).unwrap();
    let new_pem = test_key_pem();

    // A second gateway on the same store, after the rotation.
    let rotated_file = first.dir.path().join("rotated.pem");
    std::fs::write(&rotated_file, format!("{old_pem}\n{new_pem}")).unwrap();
    let mut settings = first.settings.clone();
    settings.receipts.key_file = rotated_file;
    let rotated = TestApp::spawn_settings(settings.clone(), tempfile::tempdir().unwrap()).await;
    assert_eq!(check(&rotated, &old_code).await["valid"], true);
    let jwks: Value = rotated
        .http
        .get(rotated.url("/.well-known/bawaba-receipt-keys.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");
    let token = rotated.token("center-demo").await;
    let new_code = verified_with_receipt(&rotated, &token).await["receipt"]["code"].as_str().unwrap().to_owned();
    let new_kid = ReceiptKeys::from_bundle(&new_pem).unwrap().signing.kid;
    let trust = bawaba::receipts::TrustList::from_jwks(&jwks.to_string()).unwrap();
    let only_new = trust.only(|k| *k == new_kid);
    assert!(code::verify(&new_code, &only_new, 0).is_ok(), "the new key signs");

    // The old key withdrawn: its receipts are refused, the new ones are not.
    let withdrawn_file = first.dir.path().join("withdrawn.pem");
    std::fs::write(&withdrawn_file, &new_pem).unwrap();
    settings.receipts.key_file = withdrawn_file;
    let withdrawn = TestApp::spawn_settings(settings, tempfile::tempdir().unwrap()).await;
    assert_eq!(refusal(&withdrawn, &old_code).await, "unknown_key");
    assert_eq!(check(&withdrawn, &new_code).await["valid"], true);
}

async fn expired_receipts_are_deleted(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| s.receipts.cleanup_interval_seconds = 1).await;
    let token = app.token("center-demo").await;
    let keep = verified_with_receipt(&app, &token).await["receipt"]["id"].as_str().unwrap().to_owned();
    let expire = verified_with_receipt(&app, &token).await["receipt"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        app.exec_sql(&format!("UPDATE receipts SET expires_at = '2000-01-01T00:00:00Z' WHERE id = '{expire}'")).await,
        1
    );
    // Expired is gone at once for the QR, and from the store at the next round.
    problem(app.get(&format!("/v1/receipts/{expire}/qr.svg"), &token).await, 404, "not_found").await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.exec_sql(&format!("UPDATE receipts SET code = code WHERE id = '{expire}'")).await != 0 {
        assert!(std::time::Instant::now() < deadline, "the expired receipt was not deleted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.exec_sql(&format!("UPDATE receipts SET code = code WHERE id = '{keep}'")).await, 1);
    assert_eq!(app.get(&format!("/v1/receipts/{keep}/qr.svg"), &token).await.status(), 200);
}

async fn a_flood_of_verifications_is_limited_and_never_audited(backend: Backend) {
    let app = TestApp::spawn_on_with(backend, |s| {
        s.receipts.verify_rate_per_second = 1;
        s.receipts.verify_rate_burst = 5;
    })
    .await;
    let token = app.token("center-demo").await;
    let code = verified_with_receipt(&app, &token).await["receipt"]["code"].as_str().unwrap().to_owned();
    let auditor = app.token("auditor-demo").await;
    let before = app.all_audit_events(&auditor, "").await.len();
    let mut limited = 0;
    for _ in 0..40 {
        let r = app.http.post(app.url("/receipts/verify")).json(&json!({ "code": code })).send().await.unwrap();
        if r.status() == 429 {
            assert!(r.headers().get("retry-after").is_some());
            problem(r, 429, "rate_limited").await;
            limited += 1;
        } else {
            assert_eq!(r.status(), 200);
        }
    }
    assert!(limited >= 30, "only {limited} of 40 limited");
    // Only the two audit queries of this test were recorded meanwhile.
    let after = app.all_audit_events(&auditor, "").await.len();
    assert_eq!(after, before + 1, "verifying receipts made audit events");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("bawaba_receipt_verifications_total{result=\"rate_limited\"}"), "{metrics}");
    assert!(metrics.contains("bawaba_receipt_verifications_total{result=\"valid\"}"));
    assert!(metrics.contains("bawaba_receipts_issued_total 1"));
}

on_both_backends!(
    a_receipt_is_signed_and_verifies_and_reveals_no_one,
    receipts_of_the_other_registries_and_of_not_found,
    the_qr_is_for_its_client_only_and_audited,
    every_tampering_is_refused_with_its_reason,
    the_trust_list_publishes_the_signing_key,
    a_rotated_key_keeps_its_receipts_valid_until_withdrawn,
    expired_receipts_are_deleted,
    a_flood_of_verifications_is_limited_and_never_audited,
);
