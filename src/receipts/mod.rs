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

use std::sync::RwLock;

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
    keys: ReceiptKeys,
    valid_seconds: i64,
    /// The keys still valid for an unexpired receipt: the signing key and
    /// every older key of the file that signed one (see [`Receipts::refresh`]).
    published: RwLock<TrustList>,
}

impl Receipts {
    pub fn new(keys: ReceiptKeys, valid_days: u32) -> Receipts {
        let signing = keys.signing.kid;
        let published = RwLock::new(keys.all.only(|k| *k == signing));
        Receipts { keys, valid_seconds: i64::from(valid_days) * 86_400, published }
    }

    /// Signs a receipt for `payload` (its times are set here) on behalf of `client_id`.
    pub fn issue(&self, mut payload: Payload, client_id: &str) -> (IssuedReceipt, StoredReceipt) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        payload.issued_at = now;
        payload.expires_at = now + self.valid_seconds;
        let code = code::sign(&payload, &self.keys.signing);
        let expires_at = payload::format_time(payload.expires_at);
        let id = payload.id.to_string();
        let stored = StoredReceipt {
            id: id.clone(),
            client_id: client_id.to_owned(),
            kid: keys::kid_text(&self.keys.signing.kid),
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
        let signing = self.keys.signing.kid;
        let list = self.keys.all.only(|k| *k == signing || kids_in_use.contains(&keys::kid_text(k)));
        *self.published.write().unwrap_or_else(std::sync::PoisonError::into_inner) = list;
    }

    /// Verifies `code` now against the published keys.
    pub fn verify(&self, code: &str) -> Result<Payload, (Refusal, Option<Box<Payload>>)> {
        code::verify(code, &self.trusted(), time::OffsetDateTime::now_utc().unix_timestamp())
    }
}
