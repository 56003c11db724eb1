//! Authentication and authorisation (CONTRACT §2, §3): the token endpoint,
//! the JWKS, bearer tokens good and bad, scopes, purposes and rate limits.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{TestApp, problem, verify_body, verify_body_for};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sqlx::Connection;

const FIRST: &str = "29001011300036";
const ALL_CENTER_SCOPES: &str =
    "national_id:verify commercial_register:verify real_estate:verify security:check sms:send";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    app.http.post(app.url("/oauth/token")).form(form).send().await.unwrap()
}

fn decode_part(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
}

/// The header and claims of a JWT, unverified.
fn jwt_parts(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form");
    (decode_part(parts[0]), decode_part(parts[1]))
}

async fn jwks(app: &TestApp) -> Value {
    let r = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The gateway's signing key, read from its store (no HTTP call reveals it).
async fn gateway_private_pem(app: &TestApp) -> String {
    let url = format!("sqlite://{}", app.db_path().display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let pem: String = sqlx::query_scalar("SELECT private_pem FROM signing_keys ORDER BY created_at DESC LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    pem
}

/// Claims as the gateway issues them for `center-demo`, valid now.
fn good_claims() -> Value {
    let now = now();
    json!({
        "iss": "bawaba", "aud": "bawaba-api", "sub": "center-demo", "center_id": "SHR-ZAG-01",
        "scope": "national_id:verify", "iat": now, "nbf": now, "exp": now + 300,
        "jti": "0b5e8c1a-6c1f-4a53-9d0e-3f4ad2a1c001",
    })
}

fn es256_header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    header
}

async fn signed_with_gateway_key(app: &TestApp, claims: &Value) -> String {
    let pem = gateway_private_pem(app).await;
    let kid = jwks(app).await["keys"][0]["kid"].as_str().unwrap().to_owned();
    jsonwebtoken::encode(&es256_header(&kid), claims, &EncodingKey::from_ec_pem(pem.as_bytes()).unwrap()).unwrap()
}

async fn verify_with(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/v1/national-id/verify", token, &verify_body(FIRST, json!({}))).await
}

/// A 401 for a bad token: the challenge names `invalid_token`.
async fn assert_invalid_token(r: reqwest::Response, what: &str) {
    assert_eq!(r.status(), 401, "{what}");
    let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(challenge.as_deref(), Some("Bearer error=\"invalid_token\""), "{what}");
    problem(r, 401, "unauthorized").await;
}

/// The uncompressed public point (0x04 ‖ x ‖ y) of the JWKS's first key.
async fn gateway_public_point(app: &TestApp) -> Vec<u8> {
    let keys = jwks(app).await;
    let key = &keys["keys"][0];
    let mut point = vec![4u8];
    point.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap());
    point.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap());
    assert_eq!(point.len(), 65);
    point
}

/// The public key as an SPKI PEM, as an attacker would find it.
fn public_pem(point: &[u8]) -> String {
    // SubjectPublicKeyInfo prefix for an uncompressed P-256 point.
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    der.extend_from_slice(point);
    let body = STANDARD.encode(&der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
}

// ---- the token endpoint ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_in_the_form_give_a_bearer_token_with_every_scope() {
    let app = TestApp::spawn().await;
    let r = token_request(
        &app,
        &[("grant_type", "client_credentials"), ("client_id", "center-demo"), ("client_secret", "center-demo-secret")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(r.headers().contains_key("x-request-id"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], ALL_CENTER_SCOPES);
    let expires_in = body["expires_in"].as_u64().unwrap();
    assert!((1..=900).contains(&expires_in), "expires_in {expires_in}");

    let (header, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert!(matches!(header["alg"].as_str(), Some("ES256" | "EdDSA")), "{header}");
    assert!(header["kid"].is_string(), "{header}");
    assert_eq!(claims["sub"], "center-demo");
    assert_eq!(claims["center_id"], "SHR-ZAG-01");
    assert_eq!(claims["scope"], ALL_CENTER_SCOPES);
    assert!(claims["iss"].is_string() && claims["aud"].is_string() && claims["jti"].is_string(), "{claims}");
    let (iat, nbf, exp) =
        (claims["iat"].as_u64().unwrap(), claims["nbf"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
    assert!(nbf <= iat + 1 && exp > iat && exp - iat <= 900, "iat {iat} nbf {nbf} exp {exp}");
    assert!(iat.abs_diff(now()) < 60, "iat is now");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_by_http_basic_give_a_token_too() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("auditor-demo", Some("auditor-demo-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "audit:read");
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "auditor-demo");
    let r = app.get("/v1/audit/integrity", body["access_token"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200, "the token works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_may_ask_for_a_subset_of_the_clients_scopes_and_carries_only_those() {
    let app = TestApp::spawn().await;
    let r = token_request(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "center-demo"),
            ("client_secret", "center-demo-secret"),
            ("scope", "sms:send"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "sms:send");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(token).1["scope"], "sms:send");
    // Without national_id:verify in the token, verifying is forbidden.
    problem(verify_with(&app, token).await, 403, "forbidden").await;
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_the_client_does_not_have_is_invalid_scope() {
    let app = TestApp::spawn().await;
    for scope in ["audit:read", "national_id:verify audit:read", "everything"] {
        let r = token_request(
            &app,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "center-demo"),
                ("client_secret", "center-demo-secret"),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(r.status(), 400, "{scope}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{scope}: {body}");
        assert!(body.get("access_token").is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_grant_type_is_unsupported_grant_type() {
    let app = TestApp::spawn().await;
    let r = token_request(
        &app,
        &[("grant_type", "password"), ("client_id", "center-demo"), ("client_secret", "center-demo-secret")],
    )
    .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_request_without_grant_type_or_as_json_is_invalid_request() {
    let app = TestApp::spawn().await;
    let r = token_request(&app, &[("client_id", "center-demo"), ("client_secret", "center-demo-secret")]).await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": "center-demo", "client_secret": "center-demo-secret"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_or_unknown_client_is_401_invalid_client() {
    let app = TestApp::spawn().await;
    for (id, secret) in [("center-demo", "wrong-secret"), ("nobody", "center-demo-secret"), ("center-demo", "")] {
        let r =
            token_request(&app, &[("grant_type", "client_credentials"), ("client_id", id), ("client_secret", secret)])
                .await;
        assert_eq!(r.status(), 401, "{id}/{secret}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{body}");
        assert!(body.get("access_token").is_none());
    }
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("center-demo", Some("wrong-secret"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"), "a failed Basic authentication is challenged");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    let r = token_request(&app, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 401, "no credentials at all");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwks_publishes_the_key_that_signs_issued_tokens() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let (header, _) = jwt_parts(&token);
    let keys = jwks(&app).await;
    let key = keys["keys"].as_array().unwrap().iter().find(|k| k["kid"] == header["kid"]).expect("kid in the JWKS");
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert!(key.get("d").is_none(), "no private part is published: {key}");
    // Verify the signature with the published key, as a client would.
    let decoding =
        jsonwebtoken::DecodingKey::from_ec_components(key["x"].as_str().unwrap(), key["y"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
    validation.set_audience(&["bawaba-api"]);
    let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("the signature verifies");
    assert_eq!(data.claims["sub"], "center-demo");
}

// ---- bearer tokens on /v1 ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_without_a_token_is_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let r = app.http.post(app.url("/v1/national-id/verify")).json(&verify_body(FIRST, json!({}))).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthorized").await;
    let r = app.http.get(app.url("/v1/audit/events")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthorized").await;
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_crafted_with_the_gateways_own_key_and_right_claims_is_accepted() {
    // The control for the tests below: the key read from the store is the real one.
    let app = TestApp::spawn().await;
    let token = signed_with_gateway_key(&app, &good_claims()).await;
    let r = verify_with(&app, &token).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_malformed_tokens_are_invalid_token() {
    let app = TestApp::spawn().await;
    let real = app.token("center-demo").await;
    let (h, p, s) = {
        let v: Vec<&str> = real.split('.').collect();
        (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
    };
    let tampered_claims = {
        let mut claims = decode_part(&p);
        claims["scope"] = json!("national_id:verify audit:read");
        URL_SAFE_NO_PAD.encode(claims.to_string())
    };
    for (what, token) in [
        ("garbage", "not-a-token".to_owned()),
        ("three dots of garbage", "a.b.c".to_owned()),
        ("truncated signature", format!("{h}.{p}.{}", &s[..s.len() / 2])),
        ("tampered claims", format!("{h}.{tampered_claims}.{s}")),
        ("no signature", format!("{h}.{p}.")),
    ] {
        assert_invalid_token(verify_with(&app, &token).await, what).await;
    }
    let r = app
        .http
        .post(app.url("/v1/national-id/verify"))
        .header("Authorization", format!("Basic {}", STANDARD.encode("center-demo:center-demo-secret")))
        .json(&verify_body(FIRST, json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "only Bearer is accepted on /v1");
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_invalid_token() {
    let app = TestApp::spawn().await;
    let mut claims = good_claims();
    let now = now();
    claims["iat"] = json!(now - 1000);
    claims["nbf"] = json!(now - 1000);
    claims["exp"] = json!(now - 100);
    assert_invalid_token(verify_with(&app, &signed_with_gateway_key(&app, &claims).await).await, "expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_not_yet_valid_is_invalid_token() {
    let app = TestApp::spawn().await;
    let mut claims = good_claims();
    let now = now();
    claims["iat"] = json!(now + 100);
    claims["nbf"] = json!(now + 100);
    claims["exp"] = json!(now + 600);
    assert_invalid_token(verify_with(&app, &signed_with_gateway_key(&app, &claims).await).await, "not yet valid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_audience_or_from_another_issuer_is_invalid_token() {
    let app = TestApp::spawn().await;
    let mut wrong_aud = good_claims();
    wrong_aud["aud"] = json!("some-other-api");
    assert_invalid_token(verify_with(&app, &signed_with_gateway_key(&app, &wrong_aud).await).await, "audience").await;
    let mut wrong_iss = good_claims();
    wrong_iss["iss"] = json!("https://evil.example");
    assert_invalid_token(verify_with(&app, &signed_with_gateway_key(&app, &wrong_iss).await).await, "issuer").await;
    let mut no_exp = good_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(verify_with(&app, &signed_with_gateway_key(&app, &no_exp).await).await, "no exp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_signed_by_another_key_with_the_gateways_kid_is_invalid_token() {
    let app = TestApp::spawn().await;
    let kid = jwks(&app).await["keys"][0]["kid"].as_str().unwrap().to_owned();
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let key = EncodingKey::from_ec_pem(other.serialize_pem().as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&es256_header(&kid), &good_claims(), &key).unwrap();
    assert_invalid_token(verify_with(&app, &token).await, "another key").await;
    let token = jsonwebtoken::encode(&es256_header("some-other-kid"), &good_claims(), &key).unwrap();
    assert_invalid_token(verify_with(&app, &token).await, "unknown kid").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_alg_none_token_is_invalid_token() {
    let app = TestApp::spawn().await;
    let kid = jwks(&app).await["keys"][0]["kid"].as_str().unwrap().to_owned();
    let claims = URL_SAFE_NO_PAD.encode(good_claims().to_string());
    for alg in ["none", "None", "NONE"] {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT", "kid": kid}).to_string());
        assert_invalid_token(verify_with(&app, &format!("{header}.{claims}.")).await, alg).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hs256_token_keyed_with_the_gateways_public_key_is_invalid_token() {
    let app = TestApp::spawn().await;
    let kid = jwks(&app).await["keys"][0]["kid"].as_str().unwrap().to_owned();
    let point = gateway_public_point(&app).await;
    let pem = public_pem(&point);
    let jwks_text = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().bytes().await.unwrap();
    for (what, secret) in
        [("PEM", pem.into_bytes()), ("raw point", point.clone()), ("JWKS document", jwks_text.to_vec())]
    {
        for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let mut header = Header::new(alg);
            header.kid = Some(kid.clone());
            let token = jsonwebtoken::encode(&header, &good_claims(), &EncodingKey::from_secret(&secret)).unwrap();
            assert_invalid_token(verify_with(&app, &token).await, &format!("{alg:?} with the {what}")).await;
        }
    }
}

// ---- scopes, purposes, rate limits ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_scope_is_403_forbidden() {
    let app = TestApp::spawn().await;
    let limited = app.token("limited-demo").await;
    for path in ["/v1/audit/events", "/v1/audit/integrity"] {
        let r = app.get(path, &limited).await;
        assert!(!r.headers().contains_key("www-authenticate"), "a 403 is not a challenge");
        problem(r, 403, "forbidden").await;
    }
    let auditor = app.token("auditor-demo").await;
    problem(verify_with(&app, &auditor).await, 403, "forbidden").await;
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purpose_the_client_may_not_state_is_403() {
    let app = TestApp::spawn().await;
    let limited = app.token("limited-demo").await;
    let r = app.post_json("/v1/national-id/verify", &limited, &verify_body_for(FIRST, json!({}), "shop_license")).await;
    problem(r, 403, "forbidden").await;
    let (status, _) = app.verify(&limited, &verify_body_for(FIRST, json!({}), "building_permit")).await;
    assert_eq!(status, 200, "its own purpose is fine");
    assert_eq!(app.upstream_requests("national_id").await, 1, "the refused call asked no registry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_purpose_is_400_invalid_request() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    for purpose in ["curiosity", "", "BUILDING_PERMIT"] {
        let r = app.post_json("/v1/national-id/verify", &token, &verify_body_for(FIRST, json!({}), purpose)).await;
        let body = problem(r, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], "context.purpose", "{purpose:?}: {body}");
    }
    assert_eq!(app.upstream_requests("national_id").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purpose_that_does_not_allow_the_action_is_403() {
    let app = TestApp::spawn().await;
    let token = app.token("center-demo").await;
    let r = app
        .post_json("/v1/national-id/verify", &token, &verify_body_for(FIRST, json!({}), "status_notification"))
        .await;
    problem(r, 403, "forbidden").await;
    for purpose in ["building_permit", "shop_license", "reconciliation", "utility_connection", "property_services"] {
        let (status, body) = app.verify(&token, &verify_body_for(FIRST, json!({}), purpose)).await;
        assert_eq!(status, 200, "{purpose} allows national ID verification: {body}");
    }
    let events = app.audit_events("action=national_id.verify&outcome=forbidden").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["purpose"], "status_notification");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after() {
    let app = TestApp::spawn().await;
    let token = app.token("limited-demo").await;
    let body = verify_body(FIRST, json!({}));
    let calls = (0..16).map(|_| app.post_json("/v1/national-id/verify", &token, &body));
    let answers = futures::future::join_all(calls).await;
    let mut ok = 0;
    let mut limited = 0;
    for r in answers {
        match r.status().as_u16() {
            200 => ok += 1,
            429 => {
                let after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
                assert!(after >= 1, "Retry-After {after}");
                problem(r, 429, "rate_limited").await;
                limited += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    // Burst 10, then 5/s: a slow machine may let a call or two more through.
    assert!((10..=13).contains(&ok), "burst 10 (5/s): {ok} calls passed");
    assert!(limited >= 3, "{limited} calls limited");
    // Other clients are not affected.
    let other = app.token("center-demo").await;
    let (status, _) = app.verify(&other, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200);
    let events = app.audit_events("client_id=limited-demo&outcome=rate_limited").await;
    assert_eq!(events.len(), limited);
    assert!(events.iter().all(|e| e["http_status"] == 429 && e["action"] == "national_id.verify"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_endpoint_is_rate_limited_per_source_address() {
    let app = TestApp::spawn().await;
    // Cheap refusals (no secret to check): 20/s, burst 40 by default.
    let form = [("grant_type", "password")];
    let calls = (0..100).map(|_| app.http.post(app.url("/oauth/token")).form(&form).send());
    let answers = futures::future::join_all(calls).await;
    let mut limited = 0;
    let mut answered = 0;
    for r in answers {
        let r = r.unwrap();
        match r.status().as_u16() {
            400 => answered += 1,
            429 => {
                assert!(r.headers().contains_key("retry-after"));
                problem(r, 429, "rate_limited").await;
                limited += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Burst 40, then 20/s.
    assert!((40..=70).contains(&answered), "{answered} of 100 answered");
    assert!(limited >= 30, "{limited} of 100 refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_tokens_cannot_flood_the_audit_log() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        let calls = (0..25).map(|_| app.http.get(app.url("/v1/audit/integrity")).bearer_auth("junk").send());
        for r in futures::future::join_all(calls).await {
            assert_eq!(r.unwrap().status(), 401, "every junk call is still answered 401");
        }
    }
    let auditor = app.token("auditor-demo").await;
    let events = app.all_audit_events(&auditor, "action=auth.denied").await;
    // 60 a minute per address: a burst of 60, then one a second.
    assert!((60..=63).contains(&events.len()), "{} auth.denied events for 75 junk calls", events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_recorded_as_auth_denied() {
    let app = TestApp::spawn().await;
    let r = verify_with(&app, "garbage").await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.status(), 401);
    let r = app.http.get(app.url("/v1/audit/events")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let events = app.audit_events("action=auth.denied").await;
    assert_eq!(events.len(), 2, "{events:?}");
    let e = events.iter().find(|e| e["id"] == id.as_str()).expect("the event's id is the request id");
    assert_eq!(e["http_status"], 401);
    assert_eq!(e["outcome"], "unauthorized");
    assert_eq!(e["client_id"], Value::Null);
    assert_eq!(e["cache"], "none");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_is_recorded_under_the_attempted_action() {
    let app = TestApp::spawn().await;
    let auditor = app.token("auditor-demo").await;
    let r = verify_with(&app, &auditor).await;
    let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(r.status(), 403);
    let limited = app.token("limited-demo").await;
    assert_eq!(app.get("/v1/audit/integrity", &limited).await.status(), 403);

    let events = app.audit_events("outcome=forbidden").await;
    assert_eq!(events.len(), 2, "{events:?}");
    let verify = events.iter().find(|e| e["id"] == id.as_str()).unwrap();
    assert_eq!(verify["action"], "national_id.verify");
    assert_eq!(verify["client_id"], "auditor-demo");
    assert_eq!(verify["http_status"], 403);
    let integrity = events.iter().find(|e| e["action"] == "audit.integrity").unwrap();
    assert_eq!(integrity["client_id"], "limited-demo");
    assert_eq!(integrity["center_id"], "SHR-HUS-02");
    assert_eq!(integrity["http_status"], 403);
    assert!(app.audit_events("action=auth.denied").await.is_empty(), "a 403 is not auth.denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_accepted_by_a_second_gateway_sharing_the_store() {
    let first = TestApp::spawn().await;
    let token = first.token("center-demo").await;
    let db = first.db_path();
    let second = TestApp::spawn_with(|s| s.store.url = format!("sqlite://{}", db.display())).await;
    let (status, body) = second.verify(&token, &verify_body(FIRST, json!({}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(jwks(&first).await, jwks(&second).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_signs_new_tokens_and_tokens_issued_before_stay_valid() {
    let first = TestApp::spawn().await;
    let old_token = first.token("center-demo").await;
    let old_kid = jwt_parts(&old_token).0["kid"].as_str().unwrap().to_owned();

    // Rotate: a newer key in the shared store, then a (re)started replica.
    let new_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    // A key signs from its `created_at` on (`keys rotate` sets it a little ahead).
    let later = time::OffsetDateTime::now_utc();
    let created_at = later.format(&time::format_description::well_known::Rfc3339).unwrap();
    let url = format!("sqlite://{}", first.db_path().display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO signing_keys (kid, private_pem, created_at) VALUES ('rotated', ?, ?)")
        .bind(new_key.serialize_pem())
        .bind(created_at)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let db = first.db_path();
    let second = TestApp::spawn_with(|s| s.store.url = format!("sqlite://{}", db.display())).await;

    let new_token = second.token("center-demo").await;
    let new_kid = jwt_parts(&new_token).0["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid, "the newest key signs");
    let kids: Vec<String> =
        jwks(&second).await["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid), "both keys are published: {kids:?}");
    assert_eq!(verify_with(&second, &old_token).await.status(), 200, "a token from before the rotation");
    assert_eq!(verify_with(&second, &new_token).await.status(), 200);
}
