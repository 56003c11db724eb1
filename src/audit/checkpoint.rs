//! Signed checkpoints: the gateway's Ed25519 key signs the chain head every so
//! often. The hash chain alone shows an edited, deleted or reordered row, but
//! not a log recomputed wholesale by someone with write access to the
//! database; a checkpoint signature, made with a key that lives outside the
//! database, does.
//!
//! The key file is a bundle of PKCS#8 PEM blocks: the last signs, every one
//! is trusted. `bawaba keys rotate --key checkpoint` appends a key; running
//! gateways take it up at their next key reload, and a verifier that meets a
//! checkpoint by a key it does not know yet reads the file again.

use anyhow::Context;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

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

struct Current {
    signing: SigningKey,
    id: String,
}

/// The gateway's checkpoint signing key (replaced by a reload after a rotation).
pub struct CheckpointKey {
    current: RwLock<Arc<Current>>,
}

impl std::fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointKey").field("id", &self.id()).finish_non_exhaustive()
    }
}

fn private_pem(signing: &SigningKey) -> anyhow::Result<String> {
    Ok(signing.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)?.to_string())
}

/// Every key of a bundle file, oldest first.
fn bundle_keys(text: &str) -> anyhow::Result<Vec<SigningKey>> {
    let blocks = crate::auth::keys::pem_blocks(text);
    anyhow::ensure!(!blocks.is_empty(), "holds no PEM key");
    blocks
        .iter()
        .enumerate()
        .map(|(i, pem)| {
            SigningKey::from_pkcs8_pem(pem).map_err(|e| anyhow::anyhow!("key {}: not a PKCS#8 Ed25519 key: {e}", i + 1))
        })
        .collect()
}

impl CheckpointKey {
    fn of(signing: SigningKey) -> CheckpointKey {
        let id = key_id(&signing.verifying_key());
        CheckpointKey { current: RwLock::new(Arc::new(Current { signing, id })) }
    }

    fn now(&self) -> Arc<Current> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the key bundle at `path` (the last key signs), creating it with
    /// one key (mode 0600) if absent.
    pub fn load_or_create(path: &Path) -> anyhow::Result<CheckpointKey> {
        match std::fs::read_to_string(path) {
            Ok(pem) => Self::from_pem(&pem).with_context(|| format!("audit.checkpoint_key_file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let pem = private_pem(&key.now().signing)?;
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

    /// The last key of a bundle (one PEM block or more).
    pub fn from_pem(pem: &str) -> anyhow::Result<CheckpointKey> {
        let mut keys = bundle_keys(pem)?;
        Ok(Self::of(keys.pop().expect("at least one key")))
    }

    pub fn generate() -> anyhow::Result<CheckpointKey> {
        Ok(Self::of(new_signing_key()?))
    }

    /// Reads the bundle at `path` again and signs with its last key from now
    /// on: whether that is another key than before.
    pub fn reload(&self, path: &Path) -> anyhow::Result<bool> {
        let text = std::fs::read_to_string(path)?;
        let newest = bundle_keys(&text)?.pop().expect("at least one key");
        let id = key_id(&newest.verifying_key());
        let mut current = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if current.id == id {
            return Ok(false);
        }
        *current = Arc::new(Current { signing: newest, id });
        Ok(true)
    }

    pub fn id(&self) -> String {
        self.now().id.clone()
    }

    pub fn public(&self) -> VerifyingKey {
        self.now().signing.verifying_key()
    }

    pub fn public_pem(&self) -> String {
        self.public().to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF).unwrap_or_default()
    }

    pub fn sign_bytes(&self, bytes: &[u8]) -> String {
        hex::encode(self.now().signing.sign(bytes).to_bytes())
    }

    pub fn checkpoint(&self, seq: i64, hash: &str, at: &str, prev_seq: i64) -> Checkpoint {
        // One key for the signature and the id, even if a reload happens meanwhile.
        let current = self.now();
        let payload = Checkpoint::payload(seq, hash, at, prev_seq);
        let signature = hex::encode(current.signing.sign(payload.as_bytes()).to_bytes());
        Checkpoint { seq, hash: hash.to_owned(), at: at.to_owned(), prev_seq, key_id: current.id.clone(), signature }
    }
}

fn new_signing_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Appends a new key to the bundle at `path` (which must exist): it signs
/// from the next reload on, the older ones stay trusted. Its key id.
pub fn rotate_file(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("audit.checkpoint_key_file {}", path.display()))?;
    bundle_keys(&text).with_context(|| format!("audit.checkpoint_key_file {}", path.display()))?;
    let key = new_signing_key()?;
    let id = key_id(&key.verifying_key());
    let mut bundle = text;
    if !bundle.ends_with('\n') {
        bundle.push('\n');
    }
    bundle.push_str(&private_pem(&key)?);
    replace_private(path, bundle.as_bytes())
        .with_context(|| format!("audit.checkpoint_key_file {}", path.display()))?;
    Ok(id)
}

/// Replaces `path` with `bytes` at once (a new file, owner-only, renamed over
/// it), so that a reader sees the old bundle or the new one, never half.
pub(crate) fn replace_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.rotating-{}", uuid::Uuid::new_v4().simple()));
    write_new_private(&temp, bytes)?;
    std::fs::rename(&temp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temp);
    })
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
pub struct TrustedKeys {
    keys: HashMap<String, VerifyingKey>,
    /// A key bundle read again when a signature names a key not known yet.
    watched: Option<Arc<Watched>>,
}

#[derive(Debug)]
struct Watched {
    path: PathBuf,
    found: RwLock<HashMap<String, VerifyingKey>>,
    read_at: Mutex<Option<Instant>>,
}

/// A watched bundle is read again at most this often.
const REREAD_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl TrustedKeys {
    pub fn add(&mut self, key: VerifyingKey) {
        self.keys.insert(key_id(&key), key);
    }

    /// Adds SPKI PEM public keys or the public halves of PKCS#8 private keys
    /// (one PEM block, or a bundle).
    pub fn add_pem(&mut self, pem: &str) -> anyhow::Result<()> {
        let blocks = crate::auth::keys::pem_blocks(pem);
        anyhow::ensure!(!blocks.is_empty(), "neither a public key nor a private key PEM");
        for block in blocks {
            if let Ok(public) = VerifyingKey::from_public_key_pem(&block) {
                self.add(public);
                continue;
            }
            let key = CheckpointKey::from_pem(&block).context("neither a public key nor a private key PEM")?;
            self.add(key.public());
        }
        Ok(())
    }

    /// Trusts every key of the bundle at `path`, now and as it grows (a
    /// rotation by another replica or by `keys rotate`).
    pub fn watch(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)?;
        self.add_pem(&text)?;
        self.watched = Some(Arc::new(Watched {
            path: path.to_path_buf(),
            found: RwLock::default(),
            read_at: Mutex::new(Some(Instant::now())),
        }));
        Ok(())
    }

    pub fn extend(&mut self, other: TrustedKeys) {
        self.keys.extend(other.keys);
        if other.watched.is_some() {
            self.watched = other.watched;
        }
    }

    /// A key of the watched bundle, reading it again (at most every
    /// [`REREAD_AFTER`]) if the key is not known yet.
    fn watched_key(&self, key_id: &str) -> Option<VerifyingKey> {
        let w = self.watched.as_ref()?;
        if let Some(k) = w.found.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(key_id) {
            return Some(*k);
        }
        {
            let mut read_at = w.read_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if read_at.is_some_and(|t| t.elapsed() < REREAD_AFTER) {
                return None;
            }
            *read_at = Some(Instant::now());
        }
        let mut fresh = TrustedKeys::default();
        let text = std::fs::read_to_string(&w.path).ok()?;
        fresh.add_pem(&text).ok()?;
        let key = fresh.keys.get(key_id).copied();
        *w.found.write().unwrap_or_else(std::sync::PoisonError::into_inner) = fresh.keys;
        key
    }

    /// Whether `signature` (hex) over `bytes` is valid under the trusted key `key_id`.
    pub fn verify_bytes(&self, key_id: &str, bytes: &[u8], signature: &str) -> bool {
        let Some(key) = self.keys.get(key_id).copied().or_else(|| self.watched_key(key_id)) else { return false };
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

    #[test]
    fn a_rotated_bundle_signs_with_its_new_key_and_a_watcher_trusts_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        let signer = CheckpointKey::load_or_create(&path).unwrap();
        let before = signer.checkpoint(1, "a", "t", 0);
        let mut watcher = TrustedKeys::default();
        watcher.watch(&path).unwrap();
        assert!(watcher.verify(&before));

        let new_id = rotate_file(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(signer.reload(&path).unwrap(), "the new key is taken up");
        assert!(!signer.reload(&path).unwrap(), "once");
        assert_eq!(signer.id(), new_id);
        let after = signer.checkpoint(2, "b", "t", 1);
        assert_eq!(after.key_id, new_id);
        // The watcher read the file before the rotation: it reads it again on meeting the new key.
        *watcher.watched.as_ref().unwrap().read_at.lock().unwrap() = None;
        assert!(watcher.verify(&after), "a key added to the watched bundle is trusted");
        assert!(watcher.verify(&before), "the old key still is");
        let mut forged = after.clone();
        forged.hash = "c".into();
        assert!(!watcher.verify(&forged));
    }
}
