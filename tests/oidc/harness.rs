//! The harness of tests/oidc.rs: the OpenID provider process, the test's
//! own key server, hand-made tokens, and a gateway that trusts them.

use crate::common::{TestApp, repo_file, test_settings, verify_body};
use actix_web::{HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bawaba::auth::KeyRing;
use bawaba::config::IssuerSettings;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

pub const FIRST: &str = "29001011300036";
pub const AUDIENCE: &str = "bawaba-api";

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// Installs the provider once per test binary (`.ci/oidc-provider`, idempotent).
pub fn install_provider() {
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
pub struct Provider {
    pub issuer: String,
    pub _child: Child,
    pub stdin: ChildStdin,
    pub lines: Lines<BufReader<ChildStdout>>,
    pub http: reqwest::Client,
}

impl Provider {
    pub async fn start() -> Provider {
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

    pub async fn command(&mut self, command: &str) -> Value {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.unwrap();
        loop {
            // The provider's own notices may come between the answers.
            let line = self.lines.next_line().await.unwrap().expect("the provider answers");
            if let Ok(answer) = serde_json::from_str(&line) {
                return answer;
            }
        }
    }

    pub async fn jwks_fetches(&mut self) -> u64 {
        self.command("stats").await["jwks"].as_u64().unwrap()
    }

    /// An access token by the client-credentials grant.
    pub async fn token(&self, client_id: &str, scope: &str) -> String {
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

    pub fn settings(&self) -> IssuerSettings {
        IssuerSettings {
            discovery: true,
            center_claim: Some("center_id".into()),
            operator_claim: Some("employee_id".into()),
            ..issuer_settings(&self.issuer, None, &["RS256"])
        }
    }
}

pub fn issuer_settings(issuer: &str, jwks_url: Option<String>, algorithms: &[&str]) -> IssuerSettings {
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
pub type Hits = Arc<Mutex<HashMap<String, u32>>>;

pub struct KeyServer {
    pub base: String,
    pub hits: Hits,
    pub key: EncodingKey,
    pub kid: String,
    /// The Ed25519 key, published as `ed-1`.
    pub ed_key: EncodingKey,
}

impl KeyServer {
    pub async fn start() -> KeyServer {
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
        let (kid, key) = ring.signing_at(i64::MAX);
        KeyServer { base, hits, key: key.clone(), kid: kid.to_owned(), ed_key }
    }

    pub fn hits(&self, mode: &str) -> u32 {
        self.hits.lock().unwrap().get(mode).copied().unwrap_or(0)
    }

    /// The issuer whose keys are at `/{mode}/jwks`.
    pub fn issuer(&self, mode: &str) -> String {
        format!("{}/{mode}", self.base)
    }

    pub fn settings(&self, mode: &str) -> IssuerSettings {
        issuer_settings(&self.issuer(mode), Some(format!("{}/{mode}/jwks", self.base)), &["ES256"])
    }

    /// A token of the `mode` issuer for `client`, with `kid`.
    pub fn token(&self, mode: &str, client: &str, kid: &str) -> String {
        let claims = claims(&self.issuer(mode), client);
        jwt(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), &claims, &self.key, Algorithm::ES256)
    }
}

pub async fn serve_keys(mode: web::Path<String>, state: web::Data<(Value, Hits)>) -> HttpResponse {
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

pub fn claims(iss: &str, client: &str) -> Value {
    let now = now();
    json!({"iss": iss, "aud": [AUDIENCE], "azp": client, "scope": "national_id:verify",
           "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string()})
}

/// A JWT with exactly this header and these claims, signed with `key`.
pub fn jwt(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

pub fn part(token: &str, i: usize) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(i).unwrap()).unwrap()).unwrap()
}

/// A gateway that accepts these issuers, with the demo clients and one
/// client per issuer entry (`(client_id, issuer, center)`).
pub async fn gateway(issuers: Vec<IssuerSettings>, clients: &[(&str, &str, &str)]) -> TestApp {
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

pub fn body_by(operator: &str) -> Value {
    let mut body = verify_body(FIRST, json!({}));
    body["context"]["operator_id"] = json!(operator);
    body
}

pub async fn metric(app: &TestApp, name: &str, labels: &[&str]) -> f64 {
    let text = app.http.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}
