//! Tokens of external OpenID Connect issuers (CONTRACT §3, "External
//! issuers"), against a real OpenID provider: panva's `oidc-provider` on the
//! machine's Node.js (tests/oidc/, installed by `.ci/oidc-provider` on first
//! use). Hand-made and hostile cases use a key server of the test's own on
//! loopback, whose signing key the test holds.

mod common;

use actix_web::{HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bawaba::auth::KeyRing;
use bawaba::config::IssuerSettings;
use common::{TestApp, problem, repo_file, test_settings, verify_body};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

const FIRST: &str = "29001011300036";
const AUDIENCE: &str = "bawaba-api";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Installs the provider once per test binary (`.ci/oidc-provider`, idempotent).
fn install_provider() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if !*done {
        let out = std::process::Command::new("bash").arg(repo_file(".ci/oidc-provider")).output().unwrap();
        assert!(
            out.status.success(),
            "`bash .ci/oidc-provider` could not install tests/oidc/package-lock.json:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        *done = true;
    }
}

/// The OpenID provider, in its own process (killed when dropped).
struct Provider {
    issuer: String,
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    http: reqwest::Client,
}

impl Provider {
    async fn start() -> Provider {
        install_provider();
        let mut child = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .current_dir(repo_file("target/oidc-provider"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first: Value =
            serde_json::from_str(&lines.next_line().await.unwrap().expect("the provider starts")).unwrap();
        let issuer = first["issuer"].as_str().unwrap().to_owned();
        Provider { issuer, _child: child, stdin, lines, http: reqwest::Client::new() }
    }

    async fn command(&mut self, command: &str) -> Value {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        loop {
            // The provider's own notices may come between the answers.
            let line = self.lines.next_line().await.unwrap().expect("the provider answers");
            if let Ok(answer) = serde_json::from_str(&line) {
                return answer;
            }
        }
    }

    async fn jwks_fetches(&mut self) -> u64 {
        self.command("stats").await["jwks"].as_u64().unwrap()
    }

    /// An access token by the client-credentials grant.
    async fn token(&self, client_id: &str, scope: &str) -> String {
        let r = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(client_id, Some(format!("{client_id}-secret")))
            .form(&[("grant_type", "client_credentials"), ("scope", scope)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "token for {client_id}");
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    fn settings(&self) -> IssuerSettings {
        IssuerSettings {
            discovery: true,
            center_claim: Some("center_id".into()),
            operator_claim: Some("employee_id".into()),
            ..issuer_settings(&self.issuer, None, &["RS256"])
        }
    }
}

fn issuer_settings(issuer: &str, jwks_url: Option<String>, algorithms: &[&str]) -> IssuerSettings {
    IssuerSettings {
        issuer: issuer.to_owned(),
        audiences: vec!["another-api".into(), AUDIENCE.into()],
        jwks_url,
        discovery: false,
        algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
        client_claim: None,
        center_claim: None,
        operator_claim: None,
        jwks_max_stale_seconds: 86_400,
        max_token_lifetime_seconds: 3_600,
    }
}

/// A key server of the test's own: `GET /{mode}/jwks` answers its key set
/// the first time; after that `good` still does, while `500`, `garbage`,
/// `redirect` and `big` (the key set padded to 10 MB) turn hostile; `down`
/// always answers 500, and `late` twice before it answers its key set. Each mode's requests are counted.
type Hits = Arc<Mutex<HashMap<String, u32>>>;

struct KeyServer {
    base: String,
    hits: Hits,
    key: EncodingKey,
    kid: String,
    /// The Ed25519 key, published as `ed-1`.
    ed_key: EncodingKey,
}

impl KeyServer {
    async fn start() -> KeyServer {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let ring = KeyRing::from_pems(&[pair.serialize_pem()]).unwrap();
        // And an Ed25519 key beside the P-256 one.
        let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let mut jwks = ring.jwks.clone();
        jwks["keys"].as_array_mut().unwrap().push(json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "kid": "ed-1",
            "x": URL_SAFE_NO_PAD.encode(ed.public_key_raw()),
        }));
        let hits: Hits = Arc::default();
        let state = web::Data::new((jwks, hits.clone()));
        let server = HttpServer::new(move || {
            actix_web::App::new().app_data(state.clone()).route("/{mode}/jwks", web::get().to(serve_keys))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let base = format!("http://{}", server.addrs()[0]);
        tokio::spawn(server.run());
        let ed_key = EncodingKey::from_ed_pem(ed.serialize_pem().as_bytes()).unwrap();
        KeyServer { base, hits, key: ring.signing, kid: ring.signing_kid, ed_key }
    }

    fn hits(&self, mode: &str) -> u32 {
        self.hits.lock().unwrap().get(mode).copied().unwrap_or(0)
    }

    /// The issuer whose keys are at `/{mode}/jwks`.
    fn issuer(&self, mode: &str) -> String {
        format!("{}/{mode}", self.base)
    }

    fn settings(&self, mode: &str) -> IssuerSettings {
        issuer_settings(&self.issuer(mode), Some(format!("{}/{mode}/jwks", self.base)), &["ES256"])
    }

    /// A token of the `mode` issuer for `client`, with `kid`.
    fn token(&self, mode: &str, client: &str, kid: &str) -> String {
        let claims = claims(&self.issuer(mode), client);
        jwt(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &claims, &self.key, Algorithm::ES256)
    }
}

async fn serve_keys(mode: web::Path<String>, state: web::Data<(Value, Hits)>) -> HttpResponse {
    let (jwks, hits) = state.get_ref();
    let n = {
        let mut hits = hits.lock().unwrap();
        let n = hits.entry(mode.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let good = || HttpResponse::Ok().insert_header(("cache-control", "max-age=600")).json(jwks);
    if n == 1 && !["down", "late"].contains(&mode.as_str()) {
        return good();
    }
    match mode.as_str() {
        "good" => good(),
        "late" if n > 2 => good(),
        "garbage" => HttpResponse::Ok().content_type("application/json").body("<html>maintenance</html>"),
        "redirect" => HttpResponse::Found().insert_header(("location", "/good/jwks")).finish(),
        "big" => {
            let keys = jwks["keys"].to_string();
            let padded = format!("{{\"keys\":{keys}{}}}", " ".repeat(10 << 20));
            HttpResponse::Ok().content_type("application/json").body(padded)
        }
        _ => HttpResponse::InternalServerError().finish(),
    }
}

fn claims(iss: &str, client: &str) -> Value {
    let now = now();
    json!({"iss": iss, "aud": [AUDIENCE], "azp": client, "scope": "national_id:verify",
           "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string()})
}

/// A JWT with exactly this header and these claims, signed with `key`.
fn jwt(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

fn part(token: &str, i: usize) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// A gateway that accepts these issuers, with the demo clients and one
/// client per issuer entry (`(client_id, issuer, center)`).
async fn gateway(issuers: Vec<IssuerSettings>, clients: &[(&str, &str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(&dir);
    let mut text = std::fs::read_to_string(repo_file("config/clients.toml")).unwrap();
    for (client_id, issuer, center) in clients {
        text.push_str(&format!(
            "\n[[clients]]\nclient_id = \"{client_id}\"\nissuer = \"{issuer}\"\n\
             scopes = [\"national_id:verify\", \"commercial_register:verify\"]\npurposes = [\"*\"]\n\
             center_id = \"{center}\"\nrate_per_second = 1000\nrate_burst = 1000\n"
        ));
    }
    let path = dir.path().join("clients.toml");
    std::fs::write(&path, text).unwrap();
    settings.auth.clients_file = path;
    settings.auth.issuers = issuers;
    TestApp::spawn_settings(settings, dir).await
}

fn body_by(operator: &str) -> Value {
    let mut body = verify_body(FIRST, json!({}));
    body["context"]["operator_id"] = json!(operator);
    body
}

async fn metric(app: &TestApp, name: &str, labels: &[&str]) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

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
