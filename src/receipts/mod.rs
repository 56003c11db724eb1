//! Signed verification receipts (CONTRACT §11): a verify call may ask for a
//! receipt, which the gateway signs and the center prints as a QR on the
//! citizen's service receipt; anyone can check it offline with the gateway's
//! public keys. It says which registry was asked, the outcome, each claim's
//! yes/no, the center and the case reference: never who the citizen is.
//!
//! `payload` (what is signed), `code` (COSE_Sign1, Base45, `BW1:`), `keys`
//! (the signing keys and the trust list), `qr` (SVG, PNG). The HTTP side is
//! `http::receipts`; the rows (for the QR endpoints) are in `store::receipts`.

pub mod cleanup;
pub mod code;
pub mod keys;
pub mod payload;
pub mod qr;

pub use code::Refusal;
pub use keys::{ReceiptKeys, TrustList};
pub use payload::Payload;

use std::sync::{Arc, Mutex, RwLock};

/// A receipt as the store keeps it, for `GET /v1/receipts/{id}/qr.*`. It is
/// written in the transaction of its verify call's audit event, so there is
/// never a receipt without its event nor an event that promised a missing one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    pub id: String,
    pub client_id: String,
    /// The signing key's id (base64url), so the trust list can keep a key
    /// while a receipt it signed is unexpired.
    pub kid: String,
    pub code: String,
    /// RFC 3339 UTC, whole seconds (text order is time order).
    pub issued_at: String,
    pub expires_at: String,
}

/// What a verify answer carries under `receipt`.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct IssuedReceipt {
    pub id: String,
    /// `BW1:` and Base45 (RFC 9285) of a COSE_Sign1: print this as a QR.
    pub code: String,
    pub expires_at: String,
}

/// The receipt service of one gateway: signs, and knows which keys to publish.
pub struct Receipts {
    /// The key file's keys; replaced when the file gains a key (a rotation).
    keys: RwLock<Arc<ReceiptKeys>>,
    /// `receipts.key_file`, read again by [`Receipts::reload`].
    key_file: Option<std::path::PathBuf>,
    read_at: Mutex<Option<std::time::Instant>>,
    valid_seconds: i64,
    /// The keys still valid for an unexpired receipt: the signing key and
    /// every older key of the file that signed one (see [`Receipts::refresh`]).
    published: RwLock<TrustList>,
}

/// An unknown key makes a verifier read the key file again at most this often.
const REREAD_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl Receipts {
    pub fn new(keys: ReceiptKeys, valid_days: u32) -> Receipts {
        let signing = keys.signing.kid;
        let published = RwLock::new(keys.all.only(|k| *k == signing));
        Receipts {
            keys: RwLock::new(Arc::new(keys)),
            key_file: None,
            read_at: Mutex::new(None),
            valid_seconds: i64::from(valid_days) * 86_400,
            published,
        }
    }

    /// Receipts whose keys are read again from `path` after a rotation.
    pub fn from_file(path: &std::path::Path, valid_days: u32) -> anyhow::Result<Receipts> {
        let mut receipts = Receipts::new(ReceiptKeys::load_or_create(path)?, valid_days);
        receipts.key_file = Some(path.to_path_buf());
        Ok(receipts)
    }

    fn keys(&self) -> Arc<ReceiptKeys> {
        self.keys.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Reads the key file again: its last key signs from now on, and is
    /// published beside the keys published so far. Whether the signing key changed.
    pub fn reload(&self) -> anyhow::Result<bool> {
        let Some(path) = &self.key_file else { return Ok(false) };
        *self.read_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(std::time::Instant::now());
        let fresh = ReceiptKeys::read(path)?;
        let signing = fresh.signing.kid;
        let mut held = self.keys.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if held.signing.kid == signing && held.all.kids() == fresh.all.kids() {
            return Ok(false);
        }
        let mut published = self.published.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = published.kids();
        *published = fresh.all.only(|k| *k == signing || before.contains(k));
        let changed = held.signing.kid != signing;
        *held = Arc::new(fresh);
        Ok(changed)
    }

    /// Signs a receipt for `payload` (its times are set here) on behalf of `client_id`.
    pub fn issue(&self, mut payload: Payload, client_id: &str) -> (IssuedReceipt, StoredReceipt) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        payload.issued_at = now;
        payload.expires_at = now + self.valid_seconds;
        let keys = self.keys();
        let code = code::sign(&payload, &keys.signing);
        let expires_at = payload::format_time(payload.expires_at);
        let id = payload.id.to_string();
        let stored = StoredReceipt {
            id: id.clone(),
            client_id: client_id.to_owned(),
            kid: keys::kid_text(&keys.signing.kid),
            code: code.clone(),
            issued_at: payload::format_time(now),
            expires_at: expires_at.clone(),
        };
        (IssuedReceipt { id, code, expires_at }, stored)
    }

    /// The trust list this gateway publishes and verifies against.
    pub fn trusted(&self) -> TrustList {
        self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Publishes the signing key and the keys (base64url ids) that signed a
    /// receipt which has not expired yet; a key rotated out longer ago than
    /// receipts live drops out by itself.
    pub fn refresh(&self, kids_in_use: &[String]) {
        let held = self.keys();
        let signing = held.signing.kid;
        let list = held.all.only(|k| *k == signing || kids_in_use.contains(&keys::kid_text(k)));
        *self.published.write().unwrap_or_else(std::sync::PoisonError::into_inner) = list;
    }

    /// Verifies `code` now against the published keys.
    /// A receipt by a key not known yet (rotated in at another replica) makes
    /// the key file be read again, at most every [`REREAD_AFTER`].
    pub fn verify(&self, code: &str) -> Result<Payload, (Refusal, Option<Box<Payload>>)> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match code::verify(code, &self.trusted(), now) {
            Err((Refusal::UnknownKey, _)) if self.may_reread() && self.reload().is_ok() => {
                code::verify(code, &self.trusted(), now)
            }
            other => other,
        }
    }

    fn may_reread(&self) -> bool {
        self.key_file.is_some()
            && self
                .read_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none_or(|t| t.elapsed() >= REREAD_AFTER)
    }
}
