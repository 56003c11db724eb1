//! Tokens of external OpenID Connect issuers (CONTRACT §3, "External
//! issuers"), against a real OpenID provider: panva's `oidc-provider` on the
//! machine's Node.js (tests/oidc/, installed by `.ci/oidc-provider` on first
//! use). Hand-made and hostile cases use a key server of the test's own on
//! loopback, whose signing key the test holds.

mod common;
#[path = "oidc/harness.rs"]
mod harness;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{problem, repo_file, verify_body};
use harness::*;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_tokens_act_for_their_client_center_and_employee() {
    let provider = Provider::start().await;
    let iss = provider.issuer.clone();
    let app = gateway(
        vec![provider.settings()],
        &[
            ("center-idp", &iss, "SHR-ZAG-01"),
            ("other-center-idp", &iss, "SHR-ZAG-01"),
            ("bad-operator-idp", &iss, "SHR-ZAG-01"),
        ],
    )
    .await;
    let (status, ready) = app.readiness().await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("ready")), "{ready}");
    assert_eq!(ready["issuers"], json!({ &iss: "ok" }));

    let token = provider.token("center-idp", "national_id:verify sms:send").await;
    assert_eq!(part(&token, 1)["aud"], AUDIENCE, "a JWT access token for the gateway");
    let (status, body) = app.verify(&token, &body_by("EMP-2001")).await;
    assert_eq!(status, 200, "{body}");
    let events = app.audit_events("client_id=center-idp").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["center_id"], "SHR-ZAG-01");
    assert_eq!(events[0]["operator_id"], "EMP-2001", "the employee the provider names");

    // The body may not speak for another employee.
    let r = app.post_json("/v1/national-id/verify", &token, &body_by("EMP-1001")).await;
    problem(r, 403, "forbidden").await;
    let events = app.audit_events("client_id=center-idp&outcome=forbidden").await;
    assert_eq!(events[0]["operator_id"], "EMP-2001", "{events:?}");

    // sms:send is the provider's, not the client's: cut.
    problem(app.post_json("/v1/sms", &token, &json!({})).await, 403, "forbidden").await;

    // A client the clients file lacks, one without this issuer, a center
    // the client may not act for, an employee claim that is no operator id.
    for (client, reason) in [
        ("ghost-idp", "client"),
        ("center-demo", "client"),
        ("other-center-idp", "center"),
        ("bad-operator-idp", "operator"),
    ] {
        let token = provider.token(client, "national_id:verify").await;
        let r = app.post_json("/v1/national-id/verify", &token, &body_by("EMP-2001")).await;
        assert_eq!(r.status(), 401, "{client}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");
        assert!(metric(&app, "bawaba_oidc_tokens_refused_total", &[&format!("reason=\"{reason}\"")]).await >= 1.0);
    }
    assert_eq!(metric(&app, "bawaba_oidc_jwks_fetches_total", &["result=\"ok\""]).await, 1.0);
    assert!(metric(&app, "bawaba_oidc_jwks_key_age_seconds", &[]).await >= 0.0);
    // A client of the issuer has no secret: the gateway issues it no token.
    let r = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", "center-idp"), ("client_secret", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // The gateway's own tokens work beside them.
    let own = app.token("center-demo").await;
    assert_eq!(app.verify(&own, &verify_body(FIRST, json!({}))).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_provider_rotates_its_keys_and_old_and_new_tokens_are_accepted_without_a_restart() {
    let mut provider = Provider::start().await;
    let iss = provider.issuer.clone();
    let app = gateway(vec![provider.settings()], &[("center-idp", &iss, "SHR-ZAG-01")]).await;
    let old = provider.token("center-idp", "national_id:verify").await;
    let old_unused = provider.token("center-idp", "national_id:verify").await;
    assert_eq!(app.verify(&old, &body_by("EMP-2001")).await.0, 200);
    let fetches = provider.jwks_fetches().await;

    let rotated = provider.command("rotate").await;
    let new = provider.token("center-idp", "national_id:verify").await;
    assert_eq!(part(&new, 0)["kid"], rotated["rotated"]);
    assert_ne!(part(&new, 0)["kid"], part(&old, 0)["kid"]);
    assert_eq!(app.verify(&new, &body_by("EMP-2001")).await.0, 200, "the new key is fetched at once");
    assert_eq!(app.verify(&old_unused, &body_by("EMP-2001")).await.0, 200, "the old key still verifies");
    assert_eq!(app.verify(&old, &body_by("EMP-2001")).await.0, 200);
    assert_eq!(provider.jwks_fetches().await, fetches + 1, "one refetch for the new kid");
    assert_eq!(app.readiness().await.1["issuers"][&iss], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tokens_with_random_kids_make_at_most_one_fetch() {
    let mut provider = Provider::start().await;
    let iss = provider.issuer.clone();
    let app = gateway(vec![provider.settings()], &[("center-idp", &iss, "SHR-ZAG-01")]).await;
    let before = provider.jwks_fetches().await;
    let body = body_by("EMP-2001");
    let started = Instant::now();
    let forged: Vec<String> = (0..1000)
        .map(|_| {
            let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": uuid::Uuid::new_v4().to_string()});
            let mut claims = claims(&iss, "center-idp");
            claims["client_id"] = json!("center-idp");
            format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string()),
                URL_SAFE_NO_PAD.encode([7u8; 256])
            )
        })
        .collect();
    let statuses: Vec<u16> = futures::future::join_all(
        forged.iter().map(|t| async { app.post_json("/v1/national-id/verify", t, &body).await.status().as_u16() }),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(statuses.iter().all(|s| *s == 401), "every forged token is refused");
    let fetched = provider.jwks_fetches().await - before;
    assert!(fetched <= 1, "{fetched} fetches for 1,000 unknown kids in {elapsed:?}");
    eprintln!("1,000 random kids in {elapsed:?}: {fetched} key set fetch(es) at the provider");
    // The real tokens still work.
    let token = provider.token("center-idp", "national_id:verify").await;
    assert_eq!(app.verify(&token, &body_by("EMP-2001")).await.0, 200);
    assert!(metric(&app, "bawaba_oidc_tokens_refused_total", &["reason=\"unknown_kid\""]).await >= 999.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_tokens_that_break_a_rule_are_refused() {
    let provider = Provider::start().await;
    let keys = KeyServer::start().await;
    let iss = provider.issuer.clone();
    let hand = keys.issuer("good");
    let app = gateway(
        vec![provider.settings(), keys.settings("good")],
        &[("center-idp", &iss, "SHR-ZAG-01"), ("hand-client", &hand, "SHR-ZAG-01")],
    )
    .await;
    let body = verify_body(FIRST, json!({}));
    let es256 = |header: Value, claims: Value| jwt(&header, &claims, &keys.key, Algorithm::ES256);
    let header = json!({"alg": "ES256", "typ": "JWT", "kid": keys.kid});
    let good = claims(&hand, "hand-client");
    let (status, answer) = app.verify(&es256(header.clone(), good.clone()), &body).await;
    assert_eq!(status, 200, "the well-made token passes: {answer}");
    // aud as a plain string works too.
    let mut single = claims(&hand, "hand-client");
    single["aud"] = json!(AUDIENCE);
    assert_eq!(app.verify(&es256(header.clone(), single), &body).await.0, 200);

    let with = |key: &str, value: Value| {
        let mut c = claims(&hand, "hand-client");
        c[key] = value;
        c
    };
    let now = now();
    let mut cases: Vec<(&str, String)> = vec![
        ("unconfigured issuer", es256(header.clone(), with("iss", json!("https://idp.elsewhere.example")))),
        ("wrong audience", es256(header.clone(), with("aud", json!(["another-gateway"])))),
        ("exp as a string", es256(header.clone(), with("exp", json!((now + 300).to_string())))),
        ("exp beyond any clock", es256(header.clone(), with("exp", json!(u64::MAX)))),
        ("nbf as a string", es256(header.clone(), with("nbf", json!(now.to_string())))),
        ("expired", es256(header.clone(), with("exp", json!(now - 120)))),
        ("exp − iat over the maximum", es256(header.clone(), with("iat", json!(now - 3_500)))),
        ("client of another issuer", es256(header.clone(), with("azp", json!("center-idp")))),
        ("client of no one", es256(header.clone(), with("azp", json!("nobody")))),
        ("an own client", es256(header.clone(), with("azp", json!("center-demo")))),
    ];
    // exp − iat: 3,500 s ago to 300 s ahead is 3,800 s > 3,600 s.
    for extra in [
        json!({"crit": ["exp"]}),
        json!({"jku": format!("{}/good/jwks", keys.base)}),
        json!({"x5u": "https://evil.example/cert.pem"}),
        json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
        json!({"x5c": ["MIIB"]}),
    ] {
        let mut h = header.clone();
        h.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        cases.push(("a refused header parameter", es256(h, good.clone())));
    }
    // alg none, and the provider's RSA public key used as an HMAC secret.
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": keys.kid}).to_string()),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    cases.push(("alg none", unsigned));
    let jwks: Value = reqwest::get(format!("{iss}/jwks")).await.unwrap().json().await.unwrap();
    let rsa = &jwks["keys"][0];
    let mut confused = claims(&iss, "center-idp");
    confused["client_id"] = json!("center-idp");
    confused["center_id"] = json!("SHR-ZAG-01");
    confused["employee_id"] = json!("EMP-1001");
    for secret in [rsa.to_string(), rsa["n"].as_str().unwrap().to_owned()] {
        let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa["kid"]});
        let token = jwt(&header, &confused, &EncodingKey::from_secret(secret.as_bytes()), Algorithm::HS256);
        cases.push(("RS256 key as an HS256 secret", token));
    }
    for (case, token) in cases {
        let r = app.post_json("/v1/national-id/verify", &token, &body).await;
        assert_eq!(r.status(), 401, "{case}");
    }
    for reason in ["issuer", "audience", "time", "lifetime", "client", "algorithm"] {
        let n = metric(&app, "bawaba_oidc_tokens_refused_total", &[&format!("reason=\"{reason}\"")]).await;
        assert!(n >= 1.0, "{reason}: {n}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eddsa_keys_verify_only_for_an_issuer_configured_with_eddsa() {
    let keys = KeyServer::start().await;
    let (both, es_only) = (keys.issuer("good"), keys.issuer("es-only"));
    let mut with_ed = keys.settings("good");
    with_ed.algorithms.push("EdDSA".into());
    let app = gateway(
        vec![with_ed, keys.settings("es-only")],
        &[("both-client", &both, "SHR-ZAG-01"), ("es-client", &es_only, "SHR-ZAG-01")],
    )
    .await;
    let body = verify_body(FIRST, json!({}));
    let ed = |iss: &str, client: &str, kid: &str| {
        jwt(&json!({"alg": "EdDSA", "kid": kid}), &claims(iss, client), &keys.ed_key, Algorithm::EdDSA)
    };
    assert_eq!(app.verify(&ed(&both, "both-client", "ed-1"), &body).await.0, 200);
    assert_eq!(app.verify(&keys.token("good", "both-client", &keys.kid), &body).await.0, 200, "ES256 beside it");
    assert_eq!(app.verify(&ed(&es_only, "es-client", "ed-1"), &body).await.0, 401, "EdDSA is not configured");
    assert_eq!(
        app.verify(&ed(&both, "both-client", &keys.kid), &body).await.0,
        401,
        "an EdDSA header on the P-256 key"
    );
    assert_eq!(keys.hits("good") + keys.hits("es-only"), 2, "no refetch for any of these");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_whose_keys_are_down_at_start_does_not_stop_the_gateway() {
    let keys = KeyServer::start().await;
    let down = keys.issuer("down");
    let app = gateway(vec![keys.settings("down")], &[("down-client", &down, "SHR-ZAG-01")]).await;
    let (status, ready) = app.readiness().await;
    assert_eq!(status, 200);
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["issuers"][&down], "unavailable");
    let token = keys.token("down", "down-client", &keys.kid);
    let r = app.post_json("/v1/national-id/verify", &token, &verify_body(FIRST, json!({}))).await;
    problem(r, 401, "unauthorized").await;
    let own = app.token("center-demo").await;
    assert_eq!(app.verify(&own, &verify_body(FIRST, json!({}))).await.0, 200, "the gateway's own tokens work");
    assert!(keys.hits("down") >= 1);
    assert!(metric(&app, "bawaba_oidc_jwks_fetches_total", &["result=\"status\""]).await >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuer_whose_keys_arrive_after_the_start_is_accepted_then_without_a_restart() {
    let keys = KeyServer::start().await;
    let late = keys.issuer("late");
    let app = gateway(vec![keys.settings("late")], &[("late-client", &late, "SHR-ZAG-01")]).await;
    let body = verify_body(FIRST, json!({}));
    assert_eq!(app.readiness().await.1["issuers"][&late], "unavailable");
    let token = keys.token("late", "late-client", &keys.kid);
    assert_eq!(app.verify(&token, &body).await.0, 401, "no keys yet: the refetch fails too");
    assert_eq!(keys.hits("late"), 2, "the start, and one refetch");
    assert_eq!(app.verify(&token, &body).await.0, 401);
    assert_eq!(keys.hits("late"), 2, "no second refetch within the cooldown");
    // After the 30 s cooldown, the next token's refetch brings the keys.
    tokio::time::sleep(std::time::Duration::from_secs(31)).await;
    assert_eq!(app.verify(&token, &body).await.0, 200);
    assert_eq!(keys.hits("late"), 3);
    assert_eq!(app.readiness().await.1["issuers"][&late], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_key_set_answers_keep_the_last_good_keys() {
    let keys = KeyServer::start().await;
    let modes = ["500", "garbage", "redirect", "big"];
    let issuers = modes.iter().map(|m| keys.settings(m)).collect();
    let clients: Vec<(String, String)> = modes.iter().map(|m| (format!("client-{m}"), keys.issuer(m))).collect();
    let clients: Vec<(&str, &str, &str)> =
        clients.iter().map(|(c, i)| (c.as_str(), i.as_str(), "SHR-ZAG-01")).collect();
    let app = gateway(issuers, &clients).await;
    assert_eq!(app.readiness().await.1["status"], "ready");
    let body = verify_body(FIRST, json!({}));
    for mode in modes {
        let client = format!("client-{mode}");
        let good = keys.token(mode, &client, &keys.kid);
        assert_eq!(app.verify(&good, &body).await.0, 200, "{mode}: the first key set is good");
        // An unknown kid makes the one refetch, which meets the hostile answer.
        let unknown = keys.token(mode, &client, "rotated-away");
        assert_eq!(app.verify(&unknown, &body).await.0, 401, "{mode}");
        assert_eq!(keys.hits(mode), 2, "{mode}: start and one refetch");
        // The last good keys stay.
        let again = keys.token(mode, &client, &keys.kid);
        assert_eq!(app.verify(&again, &body).await.0, 200, "{mode}: the last good keys are kept");
    }
    let (status, ready) = app.readiness().await;
    assert_eq!((status, ready["status"].as_str()), (200, Some("degraded")), "{ready}");
    for mode in modes {
        assert_eq!(ready["issuers"][keys.issuer(mode)], "stale", "{mode}: {ready}");
    }
    for result in ["status", "malformed", "redirect", "too_large"] {
        let n = metric(&app, "bawaba_oidc_jwks_fetches_total", &[&format!("result=\"{result}\"")]).await;
        assert_eq!(n, 1.0, "{result}");
    }
}

#[test]
fn check_config_warns_of_an_unreachable_issuer_and_refuses_a_bad_entry() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, issuer_entry: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("[[auth.issuers]]\n{issuer_entry}")).unwrap();
        path
    };
    let check = |path: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_bawaba"))
            .args(["check-config", "--config"])
            .arg(path)
            .current_dir(repo_file(""))
            .output()
            .unwrap()
    };
    // Nothing listens on port 9 of loopback.
    let unreachable = write(
        "unreachable.toml",
        "issuer = \"http://127.0.0.1:9/realms/x\"\naudiences = [\"bawaba-api\"]\ndiscovery = true\nalgorithms = [\"RS256\"]\n",
    );
    let out = check(&unreachable);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: auth.issuers[0].discovery"), "{stderr}");

    let bad = write(
        "bad.toml",
        "issuer = \"https://idp.example\"\njwks_url = \"https://idp.example/k\"\nalgorithms = [\"HS256\"]\n",
    );
    let out = check(&bad);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("auth.issuers[0].audiences") && stderr.contains("auth.issuers[0].algorithms"), "{stderr}");

    // A client of an issuer no entry configures, and one with a secret.
    let clients = dir.path().join("clients.toml");
    std::fs::write(
        &clients,
        "[[clients]]\nclient_id = \"a\"\nissuer = \"https://nowhere.example\"\nscopes = []\n\
         rate_per_second = 1\nrate_burst = 1\n\
         [[clients]]\nclient_id = \"b\"\nissuer = \"http://127.0.0.1:9/realms/x\"\nsecret_hash = \"x\"\n\
         scopes = []\nrate_per_second = 1\nrate_burst = 1\n",
    )
    .unwrap();
    let mut text = std::fs::read_to_string(&unreachable).unwrap();
    text = format!("[auth]\nclients_file = {:?}\n{text}", clients.display().to_string());
    std::fs::write(&unreachable, text).unwrap();
    let out = check(&unreachable);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("clients[0].issuer") && stderr.contains("no [[auth.issuers]] entry"), "{stderr}");
    assert!(stderr.contains("clients[1].secret_hash"), "{stderr}");
}
