//! Issuing and validating the gateway's access tokens (JWT, ES256, `kid`),
//! and validating, on the same path, those of the configured external
//! OpenID Connect issuers (a `kid` that is none of the gateway's; see `external`).
//!
//! A signature check costs ~66 µs of CPU, so a validated token is remembered
//! (keyed by its SHA-256, never by the token itself) until it expires.
//!
//! Whatever signed it, a token is refused when its JOSE header carries a
//! parameter the gateway does not act on and must not ignore (`crit`, RFC 7515
//! §4.1.11) or one that points at other keys (`jku`, `jwk`, `x5u`, `x5c`). Its
//! scopes are cut to its client's configured scopes and its `center_id` must
//! be the client's: a client whose scopes were cut loses them with the next
//! start, not when its tokens expire. The clients are fixed for the life of
//! the process, so the remembered principal is already the cut one (a reload
//! of the clients would have to clear `verified`).

use super::external::ExternalIssuers;
use super::{Client, ClientRegistry, KeyRing, Principal, Scope};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use moka::Expiry;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center_id: Option<String>,
    pub scope: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
}

#[derive(Clone)]
struct Remembered {
    principal: Arc<Principal>,
    exp: u64,
}

struct UntilExp;

impl Expiry<[u8; 32], Remembered> for UntilExp {
    fn expire_after_create(&self, _: &[u8; 32], v: &Remembered, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(v.exp.saturating_sub(unix_now())))
    }
}

pub struct TokenService {
    /// Replaced when the store's keys change (see `keys::RELOAD_EVERY`).
    keys: std::sync::RwLock<Arc<KeyRing>>,
    clients: ClientRegistry,
    issuer: String,
    audience: String,
    ttl: Duration,
    validation: Validation,
    verified: moka::sync::Cache<[u8; 32], Remembered>,
    /// `[[auth.issuers]]`: tokens whose `kid` is none of the gateway's.
    external: ExternalIssuers,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How much clock difference is tolerated, between replicas and with
/// external issuers (CONTRACT §3: 30 s).
pub(super) const LEEWAY_SECS: u64 = 30;

impl TokenService {
    pub fn new(keys: KeyRing, clients: ClientRegistry, issuer: &str, audience: &str, ttl: Duration) -> Self {
        // Only ES256: `alg: none` and HMAC tokens (e.g. signed with the public
        // key as a secret) are refused before any key is used.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        TokenService {
            keys: std::sync::RwLock::new(Arc::new(keys)),
            clients,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            validation,
            verified: moka::sync::Cache::builder().max_capacity(100_000).expire_after(UntilExp).build(),
            external: ExternalIssuers::default(),
        }
    }

    fn ring(&self) -> Arc<KeyRing> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Takes `ring` from now on; whether its keys differ from the ones held.
    pub fn replace_keys(&self, ring: KeyRing) -> bool {
        let mut held = self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let changed = held.kids() != ring.kids();
        *held = Arc::new(ring);
        changed
    }

    /// Accepts the tokens of these external issuers too.
    pub fn with_external(mut self, external: ExternalIssuers) -> Self {
        self.external = external;
        self
    }

    pub fn external(&self) -> &ExternalIssuers {
        &self.external
    }

    /// For a token of an external issuer not yet verified: its issuer's key
    /// cache and the `kid` it lacks (see `external::ExternalIssuers::missing_key`).
    pub fn missing_external_key(&self, token: &str) -> Option<(Arc<super::external::KeyCache>, String)> {
        if self.external.is_empty() {
            return None;
        }
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.verified.contains_key(&fingerprint) {
            return None;
        }
        self.external.missing_key(token)
    }

    pub fn jwks(&self) -> serde_json::Value {
        self.ring().jwks.clone()
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `client_id` with `scopes`.
    pub fn issue(
        &self,
        client_id: &str,
        center_id: Option<&str>,
        scopes: &[Scope],
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = unix_now();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: client_id.to_owned(),
            center_id: center_id.map(str::to_owned),
            scope: scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "),
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let ring = self.ring();
        let (kid, key) = ring.signing_at(now as i64);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, &claims, key)
    }

    /// Validates signature, `kid`, `iss`, `aud`, `exp` and `nbf`.
    pub fn validate(&self, token: &str) -> Option<Arc<Principal>> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(r) = self.verified.get(&fingerprint)
            && r.exp + LEEWAY_SECS > unix_now()
        {
            return Some(r.principal);
        }
        if !header_is_plain(token) {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        let ring = self.ring();
        let own_kid = header.kid.as_deref().is_some_and(|k| ring.verifying.contains_key(k));
        if !own_kid && !self.external.is_empty() {
            return self.validate_external(token, &header, fingerprint);
        }
        if header.alg != Algorithm::ES256 {
            return None;
        }
        let key = ring.verifying.get(header.kid.as_deref()?)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).ok()?;
        let c = data.claims;
        // A client of an external issuer gets no token of the gateway's.
        let client = self.clients.get(&c.sub).filter(|c| c.issuer.is_none())?;
        let principal = Arc::new(cut_principal(&client, c.center_id, c.scope.split_whitespace(), None)?);
        // A token that passed nbf (with leeway) stays valid until exp.
        self.verified.insert(fingerprint, Remembered { principal: principal.clone(), exp: c.exp });
        Some(principal)
    }

    /// The external path: cheap checks, key, signature, client (see `external`).
    fn validate_external(&self, token: &str, header: &Header, fingerprint: [u8; 32]) -> Option<Arc<Principal>> {
        let checked = match self.external.cheap_checks(token, header) {
            Ok(c) => c,
            Err((iss, reason)) => {
                // A token of ours whose key is gone is no external refusal.
                if iss != self.issuer {
                    self.external.refused(&iss, reason);
                }
                return None;
            }
        };
        let iss = checked.issuer.name.clone();
        let refuse = |reason| {
            self.external.refused(&iss, reason);
            None
        };
        let v = match self.external.verify(token, checked, &self.clients) {
            Ok(v) => v,
            Err(reason) => return refuse(reason),
        };
        let Some(principal) = cut_principal(&v.client, v.center_id, v.scopes.iter().map(String::as_str), v.operator_id)
        else {
            return refuse(super::external::Refusal::Center);
        };
        let principal = Arc::new(principal);
        self.verified.insert(fingerprint, Remembered { principal: principal.clone(), exp: v.exp });
        Some(principal)
    }
}

/// Whatever the issuer: the token's center must be its client's, and its
/// scopes are cut to the client's configured ones.
fn cut_principal<'a>(
    client: &Client,
    center_id: Option<String>,
    scopes: impl Iterator<Item = &'a str>,
    operator_id: Option<String>,
) -> Option<Principal> {
    if center_id != client.center_id {
        return None;
    }
    Some(Principal {
        client_id: client.client_id.clone(),
        center_id,
        scopes: scopes.filter_map(Scope::parse).filter(|s| client.scopes.contains(s)).collect(),
        operator_id,
    })
}

/// The JOSE header parameters a token must not carry (see the module comment).
#[derive(serde::Deserialize)]
struct RefusedParameters {
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// Whether the token's header is a JSON object without any refused parameter
/// (or a duplicated one). Decoded here, since `jsonwebtoken` ignores `crit`.
pub(super) fn header_is_plain(token: &str) -> bool {
    let Some((encoded, _)) = token.split_once('.') else { return false };
    if encoded.len() > 2048 {
        return false;
    }
    let Ok(json) = URL_SAFE_NO_PAD.decode(encoded) else { return false };
    match serde_json::from_slice::<RefusedParameters>(&json) {
        Ok(p) => !(p.crit || p.jku || p.jwk || p.x5u || p.x5c),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::header_is_plain;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn with_header(header: &str) -> String {
        format!("{}.e30.sig", URL_SAFE_NO_PAD.encode(header))
    }

    #[test]
    fn a_header_with_only_alg_typ_and_kid_is_plain() {
        assert!(header_is_plain(&with_header(r#"{"alg":"ES256","typ":"JWT","kid":"k1"}"#)));
    }

    #[test]
    fn a_header_with_crit_or_a_key_pointer_is_refused() {
        for extra in [
            r#""crit":["exp"]"#,
            r#""crit":null"#,
            r#""jku":"https://evil.example/jwks""#,
            r#""jwk":{"kty":"EC"}"#,
            r#""x5u":"https://evil.example/cert""#,
            r#""x5c":["MIIB"]"#,
        ] {
            let header = format!(r#"{{"alg":"ES256","kid":"k1",{extra}}}"#);
            assert!(!header_is_plain(&with_header(&header)), "{header}");
        }
    }

    #[test]
    fn a_header_that_is_not_a_json_object_is_refused() {
        assert!(!header_is_plain(&with_header(r#"["alg"]"#)));
        assert!(!header_is_plain("%%%.e30.sig"));
        assert!(!header_is_plain(&with_header(r#"{"alg":"ES256","crit":[],"crit":[]}"#)));
    }
}
