//! One external issuer's keys: discovered and fetched with the registry
//! clients' rules (rustls, timeouts, no redirects, a size cap), refreshed in
//! the background, refetched at most once per cooldown on an unknown `kid`,
//! and kept through failed refreshes up to `jwks_max_stale_seconds`.

use crate::metrics::Metrics;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// At most one refetch per issuer this often for unknown `kid`s.
pub const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(30);
/// The largest key set or discovery document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// `Cache-Control: max-age` is honoured within these bounds; without it, this default.
const MIN_REFRESH: Duration = Duration::from_secs(60);
const MAX_REFRESH: Duration = Duration::from_secs(86_400);
const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// After a failed refresh, the next attempt comes this much sooner.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);
/// The smallest RSA modulus used.
const MIN_RSA_BITS: usize = 2048;

/// A key the issuer's tokens may be verified with, and the algorithms it fits.
pub struct UsableKey {
    pub key: DecodingKey,
    pub algorithms: Vec<Algorithm>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<UsableKey>>,
    fetched_at: Option<Instant>,
    /// Whether the last attempt (refresh or refetch) failed.
    last_failed: bool,
}

/// What `/readyz` says of an issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeysState {
    Ok,
    /// Last good keys in use; the last refresh failed.
    Stale,
    /// No usable keys (never fetched, or older than `jwks_max_stale_seconds`).
    Unavailable,
}

impl KeysState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeysState::Ok => "ok",
            KeysState::Stale => "stale",
            KeysState::Unavailable => "unavailable",
        }
    }
}

/// Why a fetch failed (the metric's `result` label).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("transport: {0}")]
    Transport(String),
    #[error("redirect ({0}) refused")]
    Redirect(u16),
    #[error("status {0}")]
    Status(u16),
    #[error("answer larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("malformed: {0}")]
    Malformed(String),
    #[error("no usable key in the key set")]
    NoUsableKey,
}

impl FetchError {
    fn label(&self) -> &'static str {
        match self {
            FetchError::Transport(_) => "transport",
            FetchError::Redirect(_) => "redirect",
            FetchError::Status(_) => "status",
            FetchError::TooLarge => "too_large",
            FetchError::Malformed(_) => "malformed",
            FetchError::NoUsableKey => "no_usable_key",
        }
    }
}

pub struct KeyCache {
    issuer: String,
    /// Configured, or found by discovery (then kept).
    jwks_url: RwLock<Option<String>>,
    discovery_url: Option<String>,
    algorithms: Vec<Algorithm>,
    max_stale: Duration,
    http: reqwest::Client,
    set: RwLock<KeySet>,
    /// The last unknown-`kid` refetch; held while one runs (single flight).
    refetch: tokio::sync::Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
}

/// The HTTP client for issuers' documents: rustls, timeouts, no redirects.
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .user_agent(concat!("bawaba/", env!("CARGO_PKG_VERSION")))
        .build()
}

impl KeyCache {
    pub fn new(
        settings: &crate::config::IssuerSettings,
        algorithms: Vec<Algorithm>,
        http: reqwest::Client,
        metrics: Arc<Metrics>,
    ) -> KeyCache {
        KeyCache {
            issuer: settings.issuer.clone(),
            jwks_url: RwLock::new(settings.jwks_url.clone()),
            discovery_url: settings.discovery_url(),
            algorithms,
            max_stale: Duration::from_secs(settings.jwks_max_stale_seconds),
            http,
            set: RwLock::new(KeySet::default()),
            refetch: tokio::sync::Mutex::new(None),
            metrics,
        }
    }

    /// The key for `kid`, while the key set is not older than the stale limit.
    pub fn get(&self, kid: &str) -> Option<Arc<UsableKey>> {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        if set.fetched_at.is_none_or(|at| at.elapsed() > self.max_stale) {
            return None;
        }
        set.keys.get(kid).cloned()
    }

    pub fn state(&self) -> KeysState {
        let set = self.set.read().unwrap_or_else(|p| p.into_inner());
        match set.fetched_at {
            Some(at) if at.elapsed() <= self.max_stale && !set.keys.is_empty() => {
                if set.last_failed {
                    KeysState::Stale
                } else {
                    KeysState::Ok
                }
            }
            _ => KeysState::Unavailable,
        }
    }

    /// Seconds since the key set in use was fetched (None: never).
    pub fn key_age(&self) -> Option<u64> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).fetched_at.map(|at| at.elapsed().as_secs())
    }

    /// An unknown `kid`: one shared refetch per cooldown. Callers that come
    /// while it runs wait for it; later ones within the cooldown do not fetch.
    pub async fn refetch_for(&self, kid: &str) {
        let mut last = self.refetch.lock().await;
        if self.get(kid).is_some() || last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_COOLDOWN) {
            return;
        }
        *last = Some(Instant::now());
        let _ = self.refresh().await;
    }

    /// Fetches the key set now; on success it replaces the one in use, on
    /// failure the last good one stays. Returns when to refresh next.
    pub async fn refresh(&self) -> Duration {
        match self.fetch().await {
            Ok((keys, max_age)) => {
                let mut set = self.set.write().unwrap_or_else(|p| p.into_inner());
                *set = KeySet { keys, fetched_at: Some(Instant::now()), last_failed: false };
                self.metrics.oidc_jwks_fetches.with_label_values(&[&self.issuer, "ok"]).inc();
                refresh_interval(max_age)
            }
            Err(e) => {
                self.set.write().unwrap_or_else(|p| p.into_inner()).last_failed = true;
                self.metrics.oidc_jwks_fetches.with_label_values(&[&self.issuer, e.label()]).inc();
                tracing::warn!(issuer = %self.issuer, error = %e, "issuer keys not refreshed; the last good keys stay");
                RETRY_AFTER_FAILURE
            }
        }
    }

    /// Refreshes for ever, at the interval the issuer's answers ask for.
    pub async fn refresh_loop(self: Arc<Self>, first_wait: Duration) {
        let mut wait = first_wait;
        loop {
            tokio::time::sleep(wait).await;
            wait = self.refresh().await;
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, Arc<UsableKey>>, Option<Duration>), FetchError> {
        let known = self.jwks_url.read().unwrap_or_else(|p| p.into_inner()).clone();
        let url = match known {
            Some(url) => url,
            None => {
                let url = self.discover().await?;
                *self.jwks_url.write().unwrap_or_else(|p| p.into_inner()) = Some(url.clone());
                url
            }
        };
        let (body, max_age) = get_document(&self.http, &url).await?;
        let keys = usable_keys(&body, &self.algorithms)?;
        Ok((keys, max_age))
    }

    /// The `jwks_uri` of the discovery document, whose `issuer` must be ours.
    async fn discover(&self) -> Result<String, FetchError> {
        let url = self.discovery_url.as_deref().ok_or(FetchError::Malformed("no key URL".into()))?;
        let (body, _) = get_document(&self.http, url).await?;
        discovered_jwks_uri(&body, &self.issuer)
    }
}

/// The `jwks_uri` of a discovery document for `issuer` (OpenID Connect
/// Discovery §4.3: its `issuer` must be exactly the configured one).
pub fn discovered_jwks_uri(body: &[u8], issuer: &str) -> Result<String, FetchError> {
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let d: Discovery = serde_json::from_slice(body).map_err(|e| FetchError::Malformed(e.to_string()))?;
    if d.issuer != issuer {
        return Err(FetchError::Malformed(format!("discovery names issuer {:?}", d.issuer)));
    }
    if !crate::config::is_key_url(&d.jwks_uri) {
        return Err(FetchError::Malformed("jwks_uri is not https (or loopback http)".into()));
    }
    Ok(d.jwks_uri)
}

/// GETs one JSON document: no redirect, 2xx only, at most the size cap.
pub async fn get_document(http: &reqwest::Client, url: &str) -> Result<(Vec<u8>, Option<Duration>), FetchError> {
    let transport = |e: reqwest::Error| FetchError::Transport(e.without_url().to_string());
    let mut response = http.get(url).header("accept", "application/json").send().await.map_err(transport)?;
    let status = response.status();
    if status.is_redirection() {
        return Err(FetchError::Redirect(status.as_u16()));
    }
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    if response.content_length().is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64) {
        return Err(FetchError::TooLarge);
    }
    let max_age = response.headers().get(reqwest::header::CACHE_CONTROL).and_then(|v| max_age(v.to_str().ok()?));
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, max_age))
}

/// `max-age` of a `Cache-Control` value (`no-store`/`no-cache`: none).
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return None;
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            age = n.trim_matches('"').parse::<u64>().ok().map(Duration::from_secs);
        }
    }
    age
}

fn refresh_interval(max_age: Option<Duration>) -> Duration {
    max_age.map(|a| a.clamp(MIN_REFRESH, MAX_REFRESH)).unwrap_or(DEFAULT_REFRESH)
}

/// The keys of a JWKS that may verify tokens with one of `allowed`: signing
/// keys (`use` absent or `sig`, `key_ops` absent or with `verify`) with a
/// `kid`, whose type and `alg` fit an allowed algorithm; RSA of 2048 bits or
/// more. A set without any is a failure (the last good keys stay).
pub fn usable_keys(body: &[u8], allowed: &[Algorithm]) -> Result<HashMap<String, Arc<UsableKey>>, FetchError> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| FetchError::Malformed(e.to_string()))?;
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else { continue };
        let Some(kid) = jwk.common.key_id.clone() else { continue };
        if let Some((key, algorithms)) = usable(&jwk, allowed) {
            keys.insert(kid, Arc::new(UsableKey { key, algorithms }));
        }
    }
    if keys.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(keys)
}

fn usable(jwk: &Jwk, allowed: &[Algorithm]) -> Option<(DecodingKey, Vec<Algorithm>)> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
        return None;
    }
    let by_type: &[Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            if rsa_bits(&rsa.n)? < MIN_RSA_BITS {
                return None;
            }
            &[Algorithm::RS256, Algorithm::PS256]
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => &[Algorithm::ES256],
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => &[Algorithm::EdDSA],
        _ => return None,
    };
    let named = match jwk.common.key_algorithm {
        None => None,
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(_) => return None,
    };
    let algorithms: Vec<Algorithm> =
        by_type.iter().copied().filter(|a| allowed.contains(a) && named.is_none_or(|n| n == *a)).collect();
    if algorithms.is_empty() {
        return None;
    }
    Some((DecodingKey::from_jwk(jwk).ok()?, algorithms))
}

/// The size of an RSA modulus (base64url, big-endian) in bits.
fn rsa_bits(n: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(n.trim_end_matches('=')).ok()?;
    let first = bytes.iter().position(|b| *b != 0)?;
    Some((bytes.len() - first) * 8 - bytes[first].leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(bits: usize, extra: &str) -> String {
        let mut n = vec![0u8; bits / 8];
        n[0] = 0xC3;
        n[bits / 8 - 1] = 1;
        format!(r#"{{"kty":"RSA","kid":"r{bits}","n":"{}","e":"AQAB"{extra}}}"#, URL_SAFE_NO_PAD.encode(&n))
    }

    const EC: &str = r#"{"kty":"EC","crv":"P-256","kid":"e1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

    #[test]
    fn rsa_under_2048_bits_and_keys_whose_use_or_alg_do_not_fit_are_ignored() {
        let all = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];
        let body = format!(
            r#"{{"keys":[{},{},{},{},{},{},{{"kty":"oct","kid":"h","k":"c2VjcmV0"}},{EC}]}}"#,
            rsa_jwk(2048, ""),
            rsa_jwk(1024, ""),
            rsa_jwk(4096, r#","use":"enc""#).replace("r4096", "enc"),
            rsa_jwk(3072, r#","alg":"RS384""#).replace("r3072", "rs384"),
            rsa_jwk(3072, r#","alg":"PS256""#).replace("r3072", "ps"),
            rsa_jwk(2048, r#","key_ops":["encrypt"]"#).replace("r2048", "ops"),
        );
        let keys = usable_keys(body.as_bytes(), &all).unwrap();
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort();
        assert_eq!(kids, ["e1", "ps", "r2048"]);
        assert_eq!(keys["ps"].algorithms, [Algorithm::PS256]);
        assert_eq!(keys["r2048"].algorithms, [Algorithm::RS256, Algorithm::PS256]);
        // Only the configured algorithms count.
        let only_es = usable_keys(body.as_bytes(), &[Algorithm::ES256]).unwrap();
        assert_eq!(only_es.len(), 1);
        assert!(matches!(usable_keys(br#"{"keys":[]}"#, &all), Err(FetchError::NoUsableKey)));
        assert!(matches!(usable_keys(b"<html>", &all), Err(FetchError::Malformed(_))));
    }

    #[test]
    fn max_age_is_honoured_within_bounds() {
        assert_eq!(refresh_interval(max_age("public, max-age=600")), Duration::from_secs(600));
        assert_eq!(refresh_interval(max_age("max-age=5")), MIN_REFRESH);
        assert_eq!(refresh_interval(max_age("max-age=9999999")), MAX_REFRESH);
        assert_eq!(refresh_interval(max_age("no-store")), DEFAULT_REFRESH);
        assert_eq!(refresh_interval(max_age("max-age=soon")), DEFAULT_REFRESH);
        assert_eq!(refresh_interval(None), DEFAULT_REFRESH);
    }

    #[test]
    fn discovery_must_name_the_configured_issuer() {
        let doc = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/jwks"}"#;
        assert_eq!(discovered_jwks_uri(doc, "https://idp.example").unwrap(), "https://idp.example/jwks");
        assert!(discovered_jwks_uri(doc, "https://idp.example/").is_err());
        let plain = br#"{"issuer":"https://i","jwks_uri":"http://evil.example/jwks"}"#;
        assert!(discovered_jwks_uri(plain, "https://i").is_err());
    }
}
