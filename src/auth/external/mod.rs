//! Access tokens of external OpenID Connect issuers (CONTRACT §3, "External
//! issuers").
//!
//! The checks run cheapest first, so that only a token that claims a
//! configured issuer, with one of its algorithms, one of its audiences and
//! sound times, can make the gateway fetch that issuer's keys (the go-oidc
//! order): `iss` → `alg` → `aud` → `exp`/`nbf`/`iat` as numbers and the
//! lifetime → the key of `kid` → the signature (jsonwebtoken, which checks the
//! times again) → the client of the client claim, which must be a client of
//! this issuer. The header rules (`crit`, `jku`, …), the scope cut and the
//! center check are the gateway's own tokens' (see `tokens.rs`).

mod jwks;

pub use jwks::{FetchError, KeyCache, KeysState, discovered_jwks_uri, get_document, http_client};

use super::{Client, ClientRegistry};
use crate::config::IssuerSettings;
use crate::domain::context::OperatorId;
use crate::metrics::Metrics;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use super::tokens::LEEWAY_SECS;
/// The longest token payload read (base64url).
const MAX_PAYLOAD_CHARS: usize = 16 * 1024;

/// Why an external token was refused (the metric's `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Issuer,
    Algorithm,
    Audience,
    Time,
    Lifetime,
    Kid,
    UnknownKey,
    Signature,
    Client,
    Center,
    Operator,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Malformed => "malformed",
            Refusal::Issuer => "issuer",
            Refusal::Algorithm => "algorithm",
            Refusal::Audience => "audience",
            Refusal::Time => "time",
            Refusal::Lifetime => "lifetime",
            Refusal::Kid => "kid",
            Refusal::UnknownKey => "unknown_kid",
            Refusal::Signature => "signature",
            Refusal::Client => "client",
            Refusal::Center => "center",
            Refusal::Operator => "operator",
        }
    }
}

pub struct Issuer {
    pub name: String,
    audiences: Vec<String>,
    /// One jsonwebtoken validation per configured algorithm (each pins one).
    validations: HashMap<Algorithm, Validation>,
    client_claim: Option<String>,
    center_claim: Option<String>,
    operator_claim: Option<String>,
    max_lifetime: u64,
    pub keys: Arc<KeyCache>,
}

/// A token that passed the cheap checks: its issuer, `kid` and claims.
pub struct Checked<'a> {
    pub issuer: &'a Arc<Issuer>,
    pub kid: String,
    alg: Algorithm,
    claims: Map<String, Value>,
    pub exp: u64,
}

/// What a verified external token says of its caller.
pub struct Verified {
    pub client: Arc<Client>,
    /// The center claim's value, or the client's center without one.
    pub center_id: Option<String>,
    pub scopes: Vec<String>,
    pub operator_id: Option<String>,
    pub exp: u64,
}

pub struct ExternalIssuers {
    by_iss: HashMap<String, Arc<Issuer>>,
    metrics: Arc<Metrics>,
}

impl Default for ExternalIssuers {
    /// No external issuer.
    fn default() -> Self {
        ExternalIssuers { by_iss: HashMap::new(), metrics: Arc::new(Metrics::new()) }
    }
}

impl ExternalIssuers {
    pub fn new(settings: &[IssuerSettings], metrics: Arc<Metrics>) -> reqwest::Result<ExternalIssuers> {
        let http = http_client()?;
        let mut by_iss = HashMap::new();
        for s in settings {
            let algorithms: Vec<Algorithm> = s.algorithms.iter().filter_map(|a| Algorithm::from_str(a).ok()).collect();
            let validations = algorithms
                .iter()
                .map(|alg| {
                    let mut v = Validation::new(*alg);
                    v.set_issuer(&[&s.issuer]);
                    v.set_audience(&s.audiences);
                    v.validate_nbf = true;
                    v.leeway = LEEWAY_SECS;
                    v.set_required_spec_claims(&["exp", "iss", "aud"]);
                    (*alg, v)
                })
                .collect();
            let keys = Arc::new(KeyCache::new(s, algorithms, http.clone(), metrics.clone()));
            let issuer = Issuer {
                name: s.issuer.clone(),
                audiences: s.audiences.clone(),
                validations,
                client_claim: s.client_claim.clone(),
                center_claim: s.center_claim.clone(),
                operator_claim: s.operator_claim.clone(),
                max_lifetime: s.max_token_lifetime_seconds,
                keys,
            };
            by_iss.insert(s.issuer.clone(), Arc::new(issuer));
        }
        Ok(ExternalIssuers { by_iss, metrics })
    }

    pub fn is_empty(&self) -> bool {
        self.by_iss.is_empty()
    }

    pub fn issuers(&self) -> impl Iterator<Item = &Arc<Issuer>> {
        self.by_iss.values()
    }

    /// Fetches every issuer's keys once (a failure does not stop the start)
    /// and starts their background refreshes.
    pub async fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let firsts = futures::future::join_all(self.by_iss.values().map(|i| i.keys.refresh())).await;
        self.by_iss.values().zip(firsts).map(|(i, wait)| tokio::spawn(i.keys.clone().refresh_loop(wait))).collect()
    }

    /// Refreshes the key-age gauges (before `/metrics` renders).
    pub fn update_metrics(&self) {
        for i in self.by_iss.values() {
            let age = i.keys.key_age().map(|a| a as i64).unwrap_or(-1);
            self.metrics.oidc_jwks_key_age.with_label_values(&[&i.name]).set(age);
        }
    }

    pub fn refused(&self, issuer: &str, reason: Refusal) {
        let label = if self.by_iss.contains_key(issuer) { issuer } else { "(unconfigured)" };
        self.metrics.oidc_tokens_refused.with_label_values(&[label, reason.as_str()]).inc();
    }

    /// The cheap checks, before any key is looked up. `Err` carries the
    /// token's `iss` (when it has one) for the metric.
    pub fn cheap_checks(&self, token: &str, header: &Header) -> Result<Checked<'_>, (String, Refusal)> {
        let claims = payload(token).ok_or((String::new(), Refusal::Malformed))?;
        let iss = claims.get("iss").and_then(Value::as_str).unwrap_or_default().to_owned();
        let fail = |r: Refusal| (iss.clone(), r);
        let issuer = self.by_iss.get(&iss).ok_or_else(|| fail(Refusal::Issuer))?;
        if !issuer.validations.contains_key(&header.alg) {
            return Err(fail(Refusal::Algorithm));
        }
        let audience_fits = match claims.get("aud") {
            Some(Value::String(a)) => issuer.audiences.contains(a),
            Some(Value::Array(list)) => {
                list.iter().filter_map(Value::as_str).any(|a| issuer.audiences.iter().any(|x| x == a))
            }
            _ => false,
        };
        if !audience_fits {
            return Err(fail(Refusal::Audience));
        }
        let now = super::unix_now();
        let number = |name: &str| -> Result<Option<u64>, (String, Refusal)> {
            match claims.get(name) {
                None => Ok(None),
                // A NumericDate may have a fraction (RFC 7519 §2); never a string.
                Some(v) => v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| f.is_finite() && *f >= 0.0).map(|f| f as u64))
                    .map(Some)
                    .ok_or_else(|| fail(Refusal::Time)),
            }
        };
        let exp = number("exp")?.ok_or_else(|| fail(Refusal::Time))?;
        let nbf = number("nbf")?;
        let iat = number("iat")?;
        if exp.saturating_add(LEEWAY_SECS) <= now || nbf.is_some_and(|n| n > now + LEEWAY_SECS) {
            return Err(fail(Refusal::Time));
        }
        if exp.saturating_sub(iat.unwrap_or(now)) > issuer.max_lifetime {
            return Err(fail(Refusal::Lifetime));
        }
        let kid = header.kid.clone().filter(|k| !k.is_empty() && k.len() <= 256).ok_or_else(|| fail(Refusal::Kid))?;
        Ok(Checked { issuer, kid, alg: header.alg, claims, exp })
    }

    /// The issuer and `kid` whose keys a token needs but the cache lacks;
    /// None when the token is not a candidate for a refetch.
    pub fn missing_key(&self, token: &str) -> Option<(Arc<KeyCache>, String)> {
        if !super::tokens::header_is_plain(token) {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        let checked = self.cheap_checks(token, &header).ok()?;
        if checked.issuer.keys.get(&checked.kid).is_some() {
            return None;
        }
        Some((checked.issuer.keys.clone(), checked.kid))
    }

    /// Verifies a token that passed the cheap checks.
    pub fn verify(&self, token: &str, checked: Checked<'_>, clients: &ClientRegistry) -> Result<Verified, Refusal> {
        let issuer = checked.issuer;
        let key = issuer.keys.get(&checked.kid).ok_or(Refusal::UnknownKey)?;
        if !key.algorithms.contains(&checked.alg) {
            return Err(Refusal::Algorithm);
        }
        let validation = issuer.validations.get(&checked.alg).ok_or(Refusal::Algorithm)?;
        jsonwebtoken::decode::<serde::de::IgnoredAny>(token, &key.key, validation).map_err(|_| Refusal::Signature)?;
        let claims = &checked.claims;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let client_id = match &issuer.client_claim {
            Some(claim) => text(claim),
            None => text("azp").or_else(|| text("client_id")),
        }
        .ok_or(Refusal::Client)?;
        let client =
            clients.get(client_id).filter(|c| c.issuer.as_deref() == Some(&issuer.name)).ok_or(Refusal::Client)?;
        let center_id = match &issuer.center_claim {
            Some(claim) => text(claim).map(str::to_owned),
            None => client.center_id.clone(),
        };
        if center_id != client.center_id {
            return Err(Refusal::Center);
        }
        let operator_id = match &issuer.operator_claim {
            Some(claim) => {
                let value = text(claim).ok_or(Refusal::Operator)?;
                Some(OperatorId::parse(value).map_err(|_| Refusal::Operator)?.as_str().to_owned())
            }
            None => None,
        };
        Ok(Verified { client, center_id, scopes: scopes(claims), operator_id, exp: checked.exp })
    }

    /// Each issuer's key state, for `/readyz`.
    pub fn states(&self) -> Vec<(String, KeysState)> {
        self.by_iss.values().map(|i| (i.name.clone(), i.keys.state())).collect()
    }
}

/// The claims of a token, unverified (only for the cheap checks).
fn payload(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let (_, encoded, _) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || encoded.len() > MAX_PAYLOAD_CHARS {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()
}

/// `scope` (space-separated) or `scp` (an array, or space-separated).
fn scopes(claims: &Map<String, Value>) -> Vec<String> {
    let split = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    match (claims.get("scope"), claims.get("scp")) {
        (Some(Value::String(s)), _) => split(s),
        (_, Some(Value::Array(list))) => list.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        (_, Some(Value::String(s))) => split(s),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(scopes(&claims(serde_json::json!({"scope": "a b"}))), ["a", "b"]);
        assert_eq!(scopes(&claims(serde_json::json!({"scp": ["a", "b"]}))), ["a", "b"]);
        assert_eq!(scopes(&claims(serde_json::json!({"scp": "a"}))), ["a"]);
        assert!(scopes(&claims(serde_json::json!({"scope": 1}))).is_empty());
    }

    #[test]
    fn a_payload_is_three_parts_of_bounded_size() {
        let enc = |s: &str| URL_SAFE_NO_PAD.encode(s);
        assert!(payload(&format!("h.{}.s", enc(r#"{"iss":"x"}"#))).is_some());
        assert!(payload(&format!("h.{}.s.x", enc(r#"{"iss":"x"}"#))).is_none());
        assert!(payload(&format!("h.{}", enc(r#"{"iss":"x"}"#))).is_none());
        assert!(payload(&format!("h.{}.s", enc("[1]"))).is_none());
    }
}
