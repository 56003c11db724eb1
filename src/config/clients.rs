//! The clients file: who may ask for tokens, with which scopes, purposes,
//! center and rate.

use super::Problems;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientsFile {
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// An argon2 PHC string; empty for a client of an external issuer.
    #[serde(default)]
    pub secret_hash: String,
    /// The `[[auth.issuers]]` issuer whose tokens name this client: it has
    /// no secret and gets no token from `/oauth/token`.
    pub issuer: Option<String>,
    pub scopes: Vec<String>,
    /// Purpose names, or `*` for every configured purpose.
    #[serde(default)]
    pub purposes: Vec<String>,
    pub center_id: Option<String>,
    pub rate_per_second: u32,
    pub rate_burst: u32,
    /// URL prefixes a security-check callback may start with.
    #[serde(default)]
    pub callback_prefixes: Vec<String>,
    /// HMAC key for signing callbacks to this client.
    pub callback_secret: Option<String>,
}

impl std::fmt::Debug for ClientConfig {
    // Secrets never print.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("purposes", &self.purposes)
            .field("center_id", &self.center_id)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ClientsFile {
    pub fn parse(text: &str, origin: &str) -> Result<ClientsFile, Problems> {
        Self::parse_for(text, origin, None)
    }

    /// Also checks that each client's `issuer` is one of `issuers`.
    pub fn parse_for(
        text: &str,
        origin: &str,
        issuers: Option<&[super::IssuerSettings]>,
    ) -> Result<ClientsFile, Problems> {
        let mut problems = Problems::default();
        let file: ClientsFile = super::parse_file(text, origin)?;
        let mut seen = std::collections::HashSet::new();
        for (i, c) in file.clients.iter().enumerate() {
            let key = |k: &str| format!("{origin}: clients[{i}].{k}");
            if c.client_id.is_empty() || !seen.insert(c.client_id.clone()) {
                problems.push(&key("client_id"), &c.client_id, "must be non-empty and unique");
            }
            if let (Some(issuer), Some(issuers)) = (&c.issuer, issuers)
                && !issuers.iter().any(|s| &s.issuer == issuer)
            {
                problems.push_fix(
                    &key("issuer"),
                    issuer,
                    "no [[auth.issuers]] entry has this issuer",
                    "configure the issuer, or correct the name",
                );
            }
            if c.issuer.is_some() {
                if !c.secret_hash.is_empty() {
                    problems.push(
                        &key("secret_hash"),
                        "(hidden)",
                        "a client of an external issuer has no secret; remove secret_hash or issuer",
                    );
                }
            } else if argon2::password_hash::phc::PasswordHash::new(&c.secret_hash).is_err() {
                problems.push(
                    &key("secret_hash"),
                    "(hidden)",
                    "is not an argon2 hash; make one with `bawaba clients hash-secret`",
                );
            }
            for s in &c.scopes {
                if !crate::auth::Scope::ALL.iter().any(|k| k.as_str() == s) {
                    problems.push(&key("scopes"), s, "unknown scope");
                }
            }
            if c.rate_per_second == 0 || c.rate_burst == 0 {
                problems.push(&key("rate_per_second"), "0", "rates must be at least 1");
            }
            if c.callback_prefixes.iter().any(|p| reqwest::Url::parse(p).is_err() && !p.ends_with(':')) {
                problems.push(&key("callback_prefixes"), "", "each prefix must start like a URL (scheme://host…)");
            }
        }
        problems.into_result().map(|()| file)
    }
}
