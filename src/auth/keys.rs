//! The gateway's token signing keys (ES256, P-256).
//!
//! The newest active key signs; every known key verifies and is published in
//! the JWKS, so a rotation does not reject tokens issued before it. Keys come
//! from `auth.signing_key_file` (a bundle of PEM blocks, the last signs), or
//! are generated once and kept in the store, where every replica finds the
//! same ones.
//!
//! A rotation (`bawaba keys rotate`) adds a key to the store that becomes
//! active a little later (its `created_at`): every replica reloads the store's
//! keys every [`RELOAD_EVERY`], so each one knows, and publishes, the new key
//! before any of them signs with it, and no token is refused anywhere.

use crate::store::{Store, StoreError, StoredKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// How often a gateway reloads the store's token keys.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// How long after `keys rotate` a new token key starts signing by default:
/// longer than a reload, with room for replicas' clocks.
pub const ACTIVATE_AFTER: std::time::Duration = std::time::Duration::from_secs(15);

pub struct KeyRing {
    /// Oldest first, with the time (unix seconds) each starts signing.
    signers: Vec<(i64, String, EncodingKey)>,
    pub verifying: HashMap<String, DecodingKey>,
    pub jwks: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("signing key file {0}: {1}")]
    File(String, String),
    #[error("invalid signing key: {0}")]
    Invalid(String),
}

/// A P-256 key pair read from PKCS#8 PEM: its token `kid`, the PEM as
/// rcgen writes it, the public point (SEC1 uncompressed) and its JWK coordinates.
pub(crate) struct Parsed {
    pub kid: String,
    pub pem: String,
    pub raw: Vec<u8>,
    pub x: String,
    pub y: String,
}

/// Reads one PKCS#8 PEM P-256 key (the format of every ES256 key of the gateway).
pub(crate) fn parse_pem(pem: &str) -> Result<Parsed, KeyError> {
    let pair = rcgen::KeyPair::from_pem(pem).map_err(|e| KeyError::Invalid(e.to_string()))?;
    if !pair.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
        return Err(KeyError::Invalid("the signing key must be an ECDSA P-256 key".into()));
    }
    let raw = pair.public_key_raw();
    // Uncompressed SEC1 point: 0x04 ‖ x (32) ‖ y (32).
    if raw.len() != 65 || raw[0] != 4 {
        return Err(KeyError::Invalid("unexpected public key encoding".into()));
    }
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(raw)[..12]);
    Ok(Parsed {
        kid,
        pem: pair.serialize_pem(),
        x: URL_SAFE_NO_PAD.encode(&raw[1..33]),
        y: URL_SAFE_NO_PAD.encode(&raw[33..65]),
        raw: raw.to_vec(),
    })
}

/// A new P-256 key as PKCS#8 PEM.
pub fn generate_pem() -> Result<String, KeyError> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map(|k| k.serialize_pem())
        .map_err(|e| KeyError::Invalid(e.to_string()))
}

/// The PEM blocks of a bundle file, in order (anything between them is ignored).
pub fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("-----BEGIN ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
            if line.starts_with("-----END ") {
                blocks.extend(current.take());
            }
        }
    }
    blocks
}

fn unix_seconds(rfc3339: &str) -> i64 {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .unwrap_or(0)
}

impl KeyRing {
    pub async fn load(store: &Store, key_file: Option<&std::path::Path>) -> Result<KeyRing, KeyError> {
        let mut pems: Vec<String> = Vec::new();
        if let Some(path) = key_file {
            let text =
                std::fs::read_to_string(path).map_err(|e| KeyError::File(path.display().to_string(), e.to_string()))?;
            pems.extend(pem_blocks(&text));
            if pems.is_empty() {
                return Err(KeyError::File(path.display().to_string(), "holds no PEM key".into()));
            }
        } else {
            let mut stored = store.signing_keys().await?;
            if stored.is_empty() {
                let pem = generate_pem()?;
                let parsed = parse_pem(&pem)?;
                // Another replica may be doing the same: the store keeps one
                // key, and every replica uses whatever it holds.
                stored = store
                    .first_signing_key(&StoredKey {
                        kid: parsed.kid,
                        private_pem: pem,
                        created_at: crate::audit::now_rfc3339(),
                    })
                    .await?;
            }
            return Self::from_stored(&stored);
        }
        Self::from_pems(&pems)
    }

    /// The store's keys as they are now (no key generated): what a reload reads.
    pub async fn reload(store: &Store) -> Result<KeyRing, KeyError> {
        Self::from_stored(&store.signing_keys().await?)
    }

    /// Keys kept in the store: each signs from its `created_at` on.
    fn from_stored(stored: &[StoredKey]) -> Result<KeyRing, KeyError> {
        let keys: Vec<(i64, String)> =
            stored.iter().map(|k| (unix_seconds(&k.created_at), k.private_pem.clone())).collect();
        Self::from_timed(keys)
    }

    /// The last PEM signs; all verify.
    pub fn from_pems(pems: &[String]) -> Result<KeyRing, KeyError> {
        Self::from_timed(pems.iter().map(|p| (0, p.clone())).collect())
    }

    fn from_timed(mut keys: Vec<(i64, String)>) -> Result<KeyRing, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Invalid("no signing key".into()));
        }
        // Stable: keys of one time keep their order (the last signs).
        keys.sort_by_key(|(at, _)| *at);
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        let mut signers = Vec::new();
        for (at, pem) in &keys {
            let p = parse_pem(pem)?;
            let signing = EncodingKey::from_ec_pem(p.pem.as_bytes()).map_err(|e| KeyError::Invalid(e.to_string()))?;
            signers.push((*at, p.kid.clone(), signing));
            let key = DecodingKey::from_ec_components(&p.x, &p.y).map_err(|e| KeyError::Invalid(e.to_string()))?;
            verifying.insert(p.kid.clone(), key);
            jwks.push(serde_json::json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                "kid": p.kid, "x": p.x, "y": p.y,
            }));
        }
        Ok(KeyRing { signers, verifying, jwks: serde_json::json!({ "keys": jwks }) })
    }

    /// The key that signs at `now` (unix seconds): the newest active one (the
    /// oldest when none is active yet).
    pub fn signing_at(&self, now: i64) -> (&str, &EncodingKey) {
        let (_, kid, key) = self.signers.iter().rev().find(|(at, ..)| *at <= now).unwrap_or_else(|| &self.signers[0]);
        (kid, key)
    }

    /// The key ids, oldest first.
    pub fn kids(&self) -> Vec<&str> {
        self.signers.iter().map(|(_, kid, _)| kid.as_str()).collect()
    }
}

/// Adds a new key to the store that signs from `activate_after` on: its kid
/// and activation time (RFC 3339).
pub async fn rotate_stored(store: &Store, activate_after: std::time::Duration) -> Result<(String, String), KeyError> {
    let pem = generate_pem()?;
    let parsed = parse_pem(&pem)?;
    let at = time::OffsetDateTime::now_utc() + activate_after;
    let created_at = crate::audit::format_rfc3339(at);
    store
        .add_signing_key(&StoredKey { kid: parsed.kid.clone(), private_pem: pem, created_at: created_at.clone() })
        .await?;
    Ok((parsed.kid, created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_active_key_signs_and_every_key_verifies() {
        let (a, b) = (generate_pem().unwrap(), generate_pem().unwrap());
        let ring = KeyRing::from_timed(vec![(100, a.clone()), (200, b.clone())]).unwrap();
        let (ka, kb) = (parse_pem(&a).unwrap().kid, parse_pem(&b).unwrap().kid);
        assert_eq!(ring.signing_at(150).0, ka);
        assert_eq!(ring.signing_at(200).0, kb);
        assert_eq!(ring.signing_at(50).0, ka, "none active yet: the oldest");
        assert!(ring.verifying.contains_key(&ka) && ring.verifying.contains_key(&kb));
        assert_eq!(ring.jwks["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_bundle_file_yields_every_block_in_order() {
        let (a, b) = (generate_pem().unwrap(), generate_pem().unwrap());
        let blocks = pem_blocks(&format!("# first\n{a}\n# rotated\n{b}"));
        assert_eq!(blocks.len(), 2);
        let ring = KeyRing::from_pems(&blocks).unwrap();
        assert_eq!(ring.signing_at(0).0, parse_pem(&b).unwrap().kid, "the last signs");
    }
}
