//! The gateway's token signing keys (ES256, P-256).
//!
//! The newest key signs; every known key verifies and is published in the
//! JWKS, so a rotation does not reject tokens issued before it. Keys come from
//! `auth.signing_key_file`, or are generated once and kept in the store, where
//! every replica finds the same ones.

use crate::store::{Store, StoreError, StoredKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub struct KeyRing {
    pub signing_kid: String,
    pub signing: EncodingKey,
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

impl KeyRing {
    pub async fn load(store: &Store, key_file: Option<&std::path::Path>) -> Result<KeyRing, KeyError> {
        let mut pems: Vec<String> = Vec::new();
        if let Some(path) = key_file {
            let pem =
                std::fs::read_to_string(path).map_err(|e| KeyError::File(path.display().to_string(), e.to_string()))?;
            pems.push(pem);
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
            pems.extend(stored.into_iter().map(|k| k.private_pem));
        }
        Self::from_pems(&pems)
    }

    /// The last PEM signs; all verify.
    pub fn from_pems(pems: &[String]) -> Result<KeyRing, KeyError> {
        let parsed: Vec<Parsed> = pems.iter().map(|p| parse_pem(p)).collect::<Result<_, _>>()?;
        let newest = parsed.last().ok_or_else(|| KeyError::Invalid("no signing key".into()))?;
        let signing = EncodingKey::from_ec_pem(newest.pem.as_bytes()).map_err(|e| KeyError::Invalid(e.to_string()))?;
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for p in &parsed {
            let key = DecodingKey::from_ec_components(&p.x, &p.y).map_err(|e| KeyError::Invalid(e.to_string()))?;
            verifying.insert(p.kid.clone(), key);
            jwks.push(serde_json::json!({
                "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                "kid": p.kid, "x": p.x, "y": p.y,
            }));
        }
        Ok(KeyRing { signing_kid: newest.kid.clone(), signing, verifying, jwks: serde_json::json!({ "keys": jwks }) })
    }
}
