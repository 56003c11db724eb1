//! The configured clients, their argon2-hashed secrets and rate limiters.

use super::Scope;
use crate::config::ClientConfig;
use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordVerifier};
use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

pub struct Client {
    pub client_id: String,
    secret_hash: String,
    pub scopes: Vec<Scope>,
    /// None means every configured purpose.
    pub purposes: Option<Vec<String>>,
    pub center_id: Option<String>,
    pub limiter: DefaultDirectRateLimiter,
    pub callback_prefixes: Vec<String>,
    pub callback_secret: Option<String>,
    /// The external issuer whose tokens name this client (it has no secret).
    pub issuer: Option<String>,
}

impl Client {
    /// Whether `secret` is this client's (constant-time within argon2).
    pub fn secret_matches(&self, secret: &str) -> bool {
        verify_hash(&self.secret_hash, secret)
    }

    pub fn may_state(&self, purpose: &str) -> bool {
        self.purposes.as_ref().is_none_or(|list| list.iter().any(|p| p == purpose))
    }
}

pub fn verify_hash(hash: &str, secret: &str) -> bool {
    PasswordHash::new(hash).map(|h| Argon2::default().verify_password(secret.as_bytes(), &h).is_ok()).unwrap_or(false)
}

/// A hash that matches no secret, verified for unknown client ids so that an
/// unknown id costs as long as a wrong secret.
const DECOY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$8Ps+sm/DpEvXrFiyyV5ruw$e2Zf7/c9sNxTQLn4V9EIiAqW4k4OPyy0q0x94gWNR0Q";

#[derive(Clone)]
pub struct ClientRegistry {
    clients: Arc<HashMap<String, Arc<Client>>>,
}

impl ClientRegistry {
    pub fn new(configs: &[ClientConfig]) -> ClientRegistry {
        let clients = configs
            .iter()
            .map(|c| {
                let quota = Quota::per_second(NonZeroU32::new(c.rate_per_second).unwrap_or(NonZeroU32::MIN))
                    .allow_burst(NonZeroU32::new(c.rate_burst).unwrap_or(NonZeroU32::MIN));
                let client = Client {
                    client_id: c.client_id.clone(),
                    secret_hash: c.secret_hash.clone(),
                    scopes: c.scopes.iter().filter_map(|s| Scope::parse(s)).collect(),
                    purposes: if c.purposes.iter().any(|p| p == "*") { None } else { Some(c.purposes.clone()) },
                    center_id: c.center_id.clone(),
                    limiter: governor::RateLimiter::direct(quota),
                    callback_prefixes: c.callback_prefixes.clone(),
                    callback_secret: c.callback_secret.clone(),
                    issuer: c.issuer.clone(),
                };
                (c.client_id.clone(), Arc::new(client))
            })
            .collect();
        ClientRegistry { clients: Arc::new(clients) }
    }

    pub fn get(&self, client_id: &str) -> Option<Arc<Client>> {
        self.clients.get(client_id).cloned()
    }

    /// Checks credentials; blocking (argon2), so call it off the async threads.
    pub fn authenticate(&self, client_id: &str, secret: &str) -> Option<Arc<Client>> {
        match self.clients.get(client_id) {
            Some(c) if c.issuer.is_none() && c.secret_matches(secret) => Some(c.clone()),
            Some(c) if c.issuer.is_none() => None,
            _ => {
                // Unknown, or a client of an external issuer (no secret):
                // as long as a wrong secret.
                let _ = verify_hash(DECOY_HASH, secret);
                None
            }
        }
    }

    pub fn all(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }
}
