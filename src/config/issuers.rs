//! `[[auth.issuers]]`: external OpenID Connect issuers whose access tokens the
//! gateway accepts (CONTRACT §3, "External issuers").

use super::Problems;
use serde::{Deserialize, Serialize};

/// The signature algorithms an issuer may be configured with: never HMAC
/// (a public key must not become a shared secret) and never `none`.
pub const ISSUER_ALGORITHMS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct IssuerSettings {
    /// The exact `iss` of the tokens.
    pub issuer: String,
    /// The token's `aud` (a string or an array) must contain one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Where the issuer publishes its keys; or `discovery = true`.
    pub jwks_url: Option<String>,
    /// Find `jwks_uri` at `{issuer}/.well-known/openid-configuration`.
    #[serde(default)]
    pub discovery: bool,
    /// Any of RS256, PS256, ES256, EdDSA.
    #[serde(default)]
    pub algorithms: Vec<String>,
    /// The claim naming the client; default `azp`, then `client_id`.
    pub client_claim: Option<String>,
    /// The claim naming the center the client acts for (optional).
    pub center_claim: Option<String>,
    /// The claim naming the employee at the counter (optional).
    pub operator_claim: Option<String>,
    /// The last good keys are used through failed refreshes this long.
    #[serde(default = "default_max_stale")]
    pub jwks_max_stale_seconds: u64,
    /// A token whose `exp − iat` is longer is refused.
    #[serde(default = "default_max_lifetime")]
    pub max_token_lifetime_seconds: u64,
}

fn default_max_stale() -> u64 {
    86_400
}

fn default_max_lifetime() -> u64 {
    3_600
}

impl IssuerSettings {
    /// The discovery document's URL, when discovery is on.
    pub fn discovery_url(&self) -> Option<String> {
        self.discovery.then(|| format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/')))
    }
}

/// Whether `url` may carry keys: https, or http to a loopback host only.
pub fn is_key_url(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else { return false };
    match u.scheme() {
        "https" => u.host().is_some(),
        "http" => match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// Every problem of the issuer entries.
pub fn validate(issuers: &[IssuerSettings], p: &mut Problems) {
    let mut seen = std::collections::HashSet::new();
    for (i, s) in issuers.iter().enumerate() {
        let key = |k: &str| format!("auth.issuers[{i}].{k}");
        if s.issuer.is_empty() || !seen.insert(s.issuer.as_str()) {
            p.push(&key("issuer"), &s.issuer, "must be non-empty and unique (the exact `iss` of the tokens)");
        }
        if s.audiences.is_empty() || s.audiences.iter().any(String::is_empty) {
            p.push_fix(
                &key("audiences"),
                "[]",
                "is missing: a token's `aud` is always checked",
                "list the audience(s) the issuer puts in tokens meant for this gateway",
            );
        }
        match (&s.jwks_url, s.discovery) {
            (Some(_), true) | (None, false) => p.push_fix(
                &key("jwks_url"),
                s.jwks_url.as_deref().unwrap_or(""),
                "set either jwks_url or discovery = true",
                "one of the two says where the issuer's keys are",
            ),
            (Some(url), false) if !is_key_url(url) => {
                p.push(&key("jwks_url"), url, "must be an https:// URL (http:// only to a loopback address)")
            }
            _ => {}
        }
        if s.discovery && !is_key_url(&s.issuer) {
            p.push(
                &key("issuer"),
                &s.issuer,
                "with discovery = true, the issuer must be an https:// URL (http:// only to a loopback address)",
            );
        }
        if s.algorithms.is_empty() {
            p.push_fix(&key("algorithms"), "[]", "is empty", "list any of RS256, PS256, ES256, EdDSA");
        }
        for a in &s.algorithms {
            if !ISSUER_ALGORITHMS.contains(&a.as_str()) {
                p.push_fix(
                    &key("algorithms"),
                    a,
                    "is not an accepted algorithm (never HMAC or none)",
                    "use any of RS256, PS256, ES256, EdDSA",
                );
            }
        }
        for (k, claim) in [
            ("client_claim", &s.client_claim),
            ("center_claim", &s.center_claim),
            ("operator_claim", &s.operator_claim),
        ] {
            if claim.as_deref().is_some_and(str::is_empty) {
                p.push(&key(k), "", "must name a claim, or be left out");
            }
        }
        if s.jwks_max_stale_seconds < 60 {
            p.push(&key("jwks_max_stale_seconds"), &s.jwks_max_stale_seconds.to_string(), "must be at least 60");
        }
        if s.max_token_lifetime_seconds == 0 {
            p.push(&key("max_token_lifetime_seconds"), "0", "must be at least 1");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(toml: &str) -> IssuerSettings {
        toml::from_str(toml).unwrap()
    }

    fn problems(toml: &str) -> Vec<(String, String)> {
        let mut p = Problems::default();
        validate(&[entry(toml)], &mut p);
        p.0.into_iter().map(|p| (p.key, p.value)).collect()
    }

    #[test]
    fn a_complete_entry_has_no_problem_and_takes_the_defaults() {
        let s = entry(
            r#"issuer = "https://idp.example/realms/x"
               audiences = ["bawaba-api"]
               discovery = true
               algorithms = ["RS256", "ES256"]"#,
        );
        let mut p = Problems::default();
        validate(std::slice::from_ref(&s), &mut p);
        assert!(p.0.is_empty(), "{p}");
        assert_eq!(s.jwks_max_stale_seconds, 86_400);
        assert_eq!(s.max_token_lifetime_seconds, 3_600);
        assert_eq!(s.discovery_url().unwrap(), "https://idp.example/realms/x/.well-known/openid-configuration");
    }

    #[test]
    fn a_missing_audience_and_a_bad_algorithm_list_are_errors() {
        let found = problems(
            r#"issuer = "https://idp.example"
               jwks_url = "https://idp.example/jwks"
               algorithms = ["HS256", "none", "RS256"]"#,
        );
        assert_eq!(
            found,
            [
                ("auth.issuers[0].audiences".to_owned(), "[]".to_owned()),
                ("auth.issuers[0].algorithms".to_owned(), "HS256".to_owned()),
                ("auth.issuers[0].algorithms".to_owned(), "none".to_owned()),
            ]
        );
        assert_eq!(problems("issuer = \"https://i\"\naudiences = [\"a\"]\njwks_url = \"https://i/k\"").len(), 1);
    }

    #[test]
    fn keys_come_from_exactly_one_place_over_https_or_loopback() {
        let base = "issuer = \"https://i\"\naudiences = [\"a\"]\nalgorithms = [\"ES256\"]\n";
        assert_eq!(problems(base).len(), 1);
        assert_eq!(problems(&format!("{base}jwks_url = \"https://i/k\"\ndiscovery = true")).len(), 1);
        assert_eq!(problems(&format!("{base}jwks_url = \"http://idp.example/k\"")).len(), 1);
        assert!(problems(&format!("{base}jwks_url = \"http://127.0.0.1:9/k\"")).is_empty());
        assert!(is_key_url("http://localhost:8080/k") && is_key_url("http://[::1]:1/k"));
        assert!(!is_key_url("file:///etc/passwd") && !is_key_url("ftp://i/k"));
    }
}
