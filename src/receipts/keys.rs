//! Receipt signing keys and the trust list.
//!
//! Like the checkpoint key, the receipt key lives in a file outside the
//! database (`receipts.key_file`), generated (mode 0600) on first start, the
//! same file on every replica: whoever can write the database must not be
//! able to sign receipts. The file is a bundle of PKCS#8 PEM P-256 keys (the
//! format of the token keys): the last one signs, every one verifies. A
//! rotation appends a key; a key is withdrawn by removing it.
//!
//! A key's id (the COSE `kid`) is the first 8 bytes of SHA-256 over its public
//! point (SEC1 uncompressed), as the EU DCC does over its certificates; in the
//! JWKS it is those bytes in base64url. Ids may collide, so a verifier tries
//! every key with the id.

use crate::auth::keys::parse_pem;
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use std::path::Path;

pub type KeyId = [u8; 8];

pub fn kid_text(kid: &KeyId) -> String {
    URL_SAFE_NO_PAD.encode(kid)
}

fn kid_of(raw_public: &[u8]) -> KeyId {
    let mut kid = [0u8; 8];
    kid.copy_from_slice(&Sha256::digest(raw_public)[..8]);
    kid
}

/// The key that signs receipts now.
pub struct SigningKey {
    pub kid: KeyId,
    key: EncodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("kid", &kid_text(&self.kid)).finish_non_exhaustive()
    }
}

impl SigningKey {
    /// ES256 over `message`: the 64-byte r ‖ s of RFC 9053 §2.1.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        // jsonwebtoken signs ES256 as JWS does, fixed-width r ‖ s (aws-lc-rs).
        jsonwebtoken::crypto::sign(message, &self.key, Algorithm::ES256)
            .ok()
            .and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok())
            .unwrap_or_default()
    }
}

struct Trusted {
    kid: KeyId,
    key: DecodingKey,
    x: String,
    y: String,
}

/// Public keys a verifier accepts receipts from.
#[derive(Clone, Default)]
pub struct TrustList(std::sync::Arc<Vec<Trusted>>);

/// What checking a signature under a trust list found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    Valid,
    /// No trusted key has that id.
    UnknownKey,
    Invalid,
}

impl TrustList {
    fn new(keys: Vec<Trusted>) -> TrustList {
        TrustList(std::sync::Arc::new(keys))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn kids(&self) -> Vec<KeyId> {
        self.0.iter().map(|k| k.kid).collect()
    }

    /// Whether `signature` (r ‖ s) over `message` is valid under a trusted key with id `kid`.
    pub fn check(&self, kid: &[u8], message: &[u8], signature: &[u8]) -> SignatureCheck {
        let signature = URL_SAFE_NO_PAD.encode(signature);
        let mut known = false;
        for k in self.0.iter().filter(|k| k.kid == kid) {
            known = true;
            if jsonwebtoken::crypto::verify(&signature, message, &k.key, Algorithm::ES256).unwrap_or(false) {
                return SignatureCheck::Valid;
            }
        }
        if known { SignatureCheck::Invalid } else { SignatureCheck::UnknownKey }
    }

    /// The keys for which `keep` holds.
    pub fn only(&self, keep: impl Fn(&KeyId) -> bool) -> TrustList {
        TrustList::new(
            self.0
                .iter()
                .filter(|k| keep(&k.kid))
                .map(|k| Trusted { kid: k.kid, key: k.key.clone(), x: k.x.clone(), y: k.y.clone() })
                .collect(),
        )
    }

    /// As published at `/.well-known/bawaba-receipt-keys.json` (a JWKS).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .0
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
                    "kid": kid_text(&k.kid), "x": k.x, "y": k.y,
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// Reads a JWKS such as the published one (for offline verification).
    /// The `kid` is recomputed from the key itself, so a list cannot claim
    /// another key's id.
    pub fn from_jwks(text: &str) -> anyhow::Result<TrustList> {
        #[derive(serde::Deserialize)]
        struct Jwks {
            keys: Vec<Jwk>,
        }
        #[derive(serde::Deserialize)]
        struct Jwk {
            kty: String,
            crv: String,
            x: String,
            y: String,
        }
        let jwks: Jwks = serde_json::from_str(text).context("not a JWKS (JSON with \"keys\")")?;
        let mut keys = Vec::new();
        for (i, k) in jwks.keys.into_iter().enumerate() {
            anyhow::ensure!(k.kty == "EC" && k.crv == "P-256", "key {i}: not an EC P-256 key");
            let (xb, yb) = (URL_SAFE_NO_PAD.decode(&k.x)?, URL_SAFE_NO_PAD.decode(&k.y)?);
            anyhow::ensure!(xb.len() == 32 && yb.len() == 32, "key {i}: coordinates are not 32 bytes");
            let raw: Vec<u8> = [&[4u8][..], &xb, &yb].concat();
            let key = DecodingKey::from_ec_components(&k.x, &k.y).with_context(|| format!("key {i}"))?;
            keys.push(Trusted { kid: kid_of(&raw), key, x: k.x, y: k.y });
        }
        Ok(TrustList::new(keys))
    }
}

/// The keys of `receipts.key_file`: the last signs, all verify.
pub struct ReceiptKeys {
    pub signing: SigningKey,
    pub all: TrustList,
}

/// Appends a new key to the bundle at `path` (which must exist): it signs
/// from the gateways' next reload on, the older ones stay trusted. Its key id.
pub fn rotate_file(path: &Path) -> anyhow::Result<String> {
    let context = || format!("receipts.key_file {}", path.display());
    let mut bundle = std::fs::read_to_string(path).with_context(context)?;
    ReceiptKeys::from_bundle(&bundle).with_context(context)?;
    let pem = crate::auth::keys::generate_pem().map_err(|e| anyhow::anyhow!("{e}"))?;
    if !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(&pem);
    let keys = ReceiptKeys::from_bundle(&bundle).with_context(context)?;
    crate::audit::checkpoint::replace_private(path, bundle.as_bytes()).with_context(context)?;
    Ok(kid_text(&keys.signing.kid))
}

impl ReceiptKeys {
    /// Reads the bundle at `path`, creating it with one new key (mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> anyhow::Result<ReceiptKeys> {
        let context = || format!("receipts.key_file {}", path.display());
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_bundle(&text).with_context(context),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pem = crate::auth::keys::generate_pem().map_err(|e| anyhow::anyhow!("{e}"))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(context)?;
                }
                match crate::audit::checkpoint::write_new_private(path, pem.as_bytes()) {
                    Ok(()) => Self::from_bundle(&pem).with_context(context),
                    // Another replica created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
                    Err(e) => Err(e).with_context(context),
                }
            }
            Err(e) => Err(e).with_context(context),
        }
    }

    /// Reads only (for offline tools: never creates a key).
    pub fn read(path: &Path) -> anyhow::Result<ReceiptKeys> {
        let text = std::fs::read_to_string(path).with_context(|| format!("receipts.key_file {}", path.display()))?;
        Self::from_bundle(&text).with_context(|| format!("receipts.key_file {}", path.display()))
    }

    /// Parses a bundle of PEM blocks (anything between blocks is ignored).
    pub fn from_bundle(text: &str) -> anyhow::Result<ReceiptKeys> {
        let blocks = crate::auth::keys::pem_blocks(text);
        anyhow::ensure!(!blocks.is_empty(), "holds no PEM key");
        let mut trusted = Vec::new();
        let mut signing = None;
        for (i, pem) in blocks.iter().enumerate() {
            let parsed = parse_pem(pem).map_err(|e| anyhow::anyhow!("key {}: {e}", i + 1))?;
            let kid = kid_of(&parsed.raw);
            let key = DecodingKey::from_ec_components(&parsed.x, &parsed.y).map_err(|e| anyhow::anyhow!("{e}"))?;
            let encoding = EncodingKey::from_ec_pem(parsed.pem.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
            signing = Some(SigningKey { kid, key: encoding });
            trusted.push(Trusted { kid, key, x: parsed.x, y: parsed.y });
        }
        Ok(ReceiptKeys { signing: signing.expect("at least one block"), all: TrustList::new(trusted) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_key_of_the_bundle_signs_and_all_verify() {
        let (a, b) = (crate::auth::keys::generate_pem().unwrap(), crate::auth::keys::generate_pem().unwrap());
        let old = ReceiptKeys::from_bundle(&a).unwrap();
        let both = ReceiptKeys::from_bundle(&format!("{a}\n{b}")).unwrap();
        assert_ne!(both.signing.kid, old.signing.kid);
        let old_sig = old.signing.sign(b"m");
        assert_eq!(old_sig.len(), 64);
        assert_eq!(both.all.check(&old.signing.kid, b"m", &old_sig), SignatureCheck::Valid);
        assert_eq!(both.all.check(&old.signing.kid, b"n", &old_sig), SignatureCheck::Invalid);
        let only_new = both.all.only(|k| *k == both.signing.kid);
        assert_eq!(only_new.check(&old.signing.kid, b"m", &old_sig), SignatureCheck::UnknownKey);
    }

    #[test]
    fn a_published_list_reads_back_with_the_same_ids() {
        let keys = ReceiptKeys::from_bundle(&crate::auth::keys::generate_pem().unwrap()).unwrap();
        let text = keys.all.jwks().to_string();
        let back = TrustList::from_jwks(&text).unwrap();
        assert_eq!(back.kids(), vec![keys.signing.kid]);
        assert_eq!(back.check(&keys.signing.kid, b"m", &keys.signing.sign(b"m")), SignatureCheck::Valid);
    }

    #[test]
    fn the_key_file_is_created_once_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.pem");
        let a = ReceiptKeys::load_or_create(&path).unwrap();
        let b = ReceiptKeys::load_or_create(&path).unwrap();
        assert_eq!(a.signing.kid, b.signing.kid);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
