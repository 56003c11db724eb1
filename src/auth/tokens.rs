//! Issuing and validating the gateway's access tokens (JWT, ES256, `kid`).
//!
//! A signature check costs ~66 µs of CPU, so a validated token is remembered
//! (keyed by its SHA-256, never by the token itself) until it expires.

use super::{KeyRing, Principal, Scope};
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
    keys: KeyRing,
    issuer: String,
    audience: String,
    ttl: Duration,
    validation: Validation,
    verified: moka::sync::Cache<[u8; 32], Remembered>,
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How much clock difference between replicas is tolerated.
const LEEWAY_SECS: u64 = 5;

impl TokenService {
    pub fn new(keys: KeyRing, issuer: &str, audience: &str, ttl: Duration) -> Self {
        // Only ES256: `alg: none` and HMAC tokens (e.g. signed with the public
        // key as a secret) are refused before any key is used.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        TokenService {
            keys,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
            validation,
            verified: moka::sync::Cache::builder().max_capacity(100_000).expire_after(UntilExp).build(),
        }
    }

    pub fn jwks(&self) -> &serde_json::Value {
        &self.keys.jwks
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
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.keys.signing_kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.keys.signing)
    }

    /// Validates signature, `kid`, `iss`, `aud`, `exp` and `nbf`.
    pub fn validate(&self, token: &str) -> Option<Arc<Principal>> {
        let fingerprint: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(r) = self.verified.get(&fingerprint)
            && r.exp + LEEWAY_SECS > unix_now()
        {
            return Some(r.principal);
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::ES256 {
            return None;
        }
        let key = self.keys.verifying.get(header.kid.as_deref()?)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation).ok()?;
        let c = data.claims;
        let principal = Arc::new(Principal {
            client_id: c.sub,
            center_id: c.center_id,
            scopes: c.scope.split_whitespace().filter_map(Scope::parse).collect(),
        });
        // A token that passed nbf (with leeway) stays valid until exp.
        self.verified.insert(fingerprint, Remembered { principal: principal.clone(), exp: c.exp });
        Some(principal)
    }
}
