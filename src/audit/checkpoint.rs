//! Signed checkpoints: the gateway's Ed25519 key signs the chain head every so
//! often. The hash chain alone shows an edited, deleted or reordered row, but
//! not a log recomputed wholesale by someone with write access to the
//! database; a checkpoint signature, made with a key that lives outside the
//! database, does.

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;

/// A signed statement "the chain's event `seq` has hash `hash`".
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    /// The sequence number of the checkpoint before this one (0: none), so that
    /// a checkpoint removed from the middle is noticed.
    pub prev_seq: i64,
    pub key_id: String,
    /// Ed25519 signature over [`Checkpoint::payload`], lowercase hex.
    pub signature: String,
}

impl Checkpoint {
    /// The signed bytes: versioned, one field per line.
    pub fn payload(seq: i64, hash: &str, at: &str, prev_seq: i64) -> String {
        format!("bawaba-audit-checkpoint/1\nseq={seq}\nhash={hash}\nat={at}\nprev_seq={prev_seq}\n")
    }
}

/// The key id: the first 16 hex digits of SHA-256 over the raw public key.
pub fn key_id(public: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(public.as_bytes())[..8])
}

/// The gateway's checkpoint signing key.
pub struct CheckpointKey {
    signing: SigningKey,
    id: String,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey").field("id", &self.id).finish_non_exhaustive()
    }
}

impl CheckpointKey {
    /// Reads the PKCS#8 PEM key at `path`, creating it (mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> anyhow::Result<CheckpointKey> {
        match std::fs::read_to_string(path) {
            Ok(pem) => Self::from_pem(&pem).with_context(|| format!("audit.checkpoint_key_file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let pem = key.signing.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?;
                match write_new_private(path, pem.as_bytes()) {
                    Ok(()) => Ok(key),
                    // Another replica created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
                    Err(e) => Err(e).with_context(|| format!("audit.checkpoint_key_file {}", path.display())),
                }
            }
            Err(e) => Err(e).with_context(|| format!("audit.checkpoint_key_file {}", path.display())),
        }
    }

    pub fn from_pem(pem: &str) -> anyhow::Result<CheckpointKey> {
        let signing = SigningKey::from_pkcs8_pem(pem).map_err(|e| anyhow::anyhow!("not a PKCS#8 Ed25519 key: {e}"))?;
        let id = key_id(&signing.verifying_key());
        Ok(CheckpointKey { signing, id })
    }

    pub fn generate() -> anyhow::Result<CheckpointKey> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let signing = SigningKey::from_bytes(&seed);
        let id = key_id(&signing.verifying_key());
        Ok(CheckpointKey { signing, id })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn public_pem(&self) -> String {
        self.public().to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap_or_default()
    }

    pub fn sign_bytes(&self, bytes: &[u8]) -> String {
        hex::encode(self.signing.sign(bytes).to_bytes())
    }

    pub fn checkpoint(&self, seq: i64, hash: &str, at: &str, prev_seq: i64) -> Checkpoint {
        let signature = self.sign_bytes(Checkpoint::payload(seq, hash, at, prev_seq).as_bytes());
        Checkpoint { seq, hash: hash.to_owned(), at: at.to_owned(), prev_seq, key_id: self.id.clone(), signature }
    }
}

/// Creates `path` with `bytes`, readable by the owner only; fails if it exists.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The public keys a verifier trusts, by key id.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(HashMap<String, VerifyingKey>);

impl TrustedKeys {
    pub fn add(&mut self, key: VerifyingKey) {
        self.0.insert(key_id(&key), key);
    }

    /// Adds an SPKI PEM public key (or the public half of a PKCS#8 private key).
    pub fn add_pem(&mut self, pem: &str) -> anyhow::Result<()> {
        if let Ok(public) = VerifyingKey::from_public_key_pem(pem) {
            self.add(public);
            return Ok(());
        }
        let key = CheckpointKey::from_pem(pem).context("neither a public key nor a private key PEM")?;
        self.add(key.public());
        Ok(())
    }

    pub fn extend(&mut self, other: TrustedKeys) {
        self.0.extend(other.0);
    }

    /// Whether `signature` (hex) over `bytes` is valid under the trusted key `key_id`.
    pub fn verify_bytes(&self, key_id: &str, bytes: &[u8], signature: &str) -> bool {
        let Some(key) = self.0.get(key_id) else { return false };
        let Ok(raw) = hex::decode(signature) else { return false };
        let Ok(sig) = Signature::from_slice(&raw) else { return false };
        key.verify(bytes, &sig).is_ok()
    }

    pub fn verify(&self, c: &Checkpoint) -> bool {
        self.verify_bytes(&c.key_id, Checkpoint::payload(c.seq, &c.hash, &c.at, c.prev_seq).as_bytes(), &c.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_verifies_under_its_key_only() {
        let key = CheckpointKey::generate().unwrap();
        let other = CheckpointKey::generate().unwrap();
        let c = key.checkpoint(10, &"ab".repeat(32), "2026-11-22T10:00:00.000000Z", 0);
        let mut trusted = TrustedKeys::default();
        trusted.add(key.public());
        assert!(trusted.verify(&c));
        let mut forged = c.clone();
        forged.hash = "cd".repeat(32);
        assert!(!trusted.verify(&forged));
        let mut only_other = TrustedKeys::default();
        only_other.add(other.public());
        assert!(!only_other.verify(&c));
    }

    #[test]
    fn the_key_file_is_created_once_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let a = CheckpointKey::load_or_create(&path).unwrap();
        let b = CheckpointKey::load_or_create(&path).unwrap();
        assert_eq!(a.id(), b.id());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut trusted = TrustedKeys::default();
        trusted.add_pem(&a.public_pem()).unwrap();
        assert!(trusted.verify(&b.checkpoint(1, "x", "t", 0)));
    }
}
