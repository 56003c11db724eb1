//! The receipt code: `BW1:` then the Base45 text (RFC 9285) of a tagged
//! COSE_Sign1 (RFC 9052) with ES256, the signer's `kid` in the protected
//! header, and the payload of [`super::payload`]. No compression: signatures
//! and ids do not compress (a 160-byte receipt only grows under zlib).

use super::keys::{SignatureCheck, SigningKey, TrustList};
use super::payload::Payload;
use coset::{CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, TaggedCborSerializable, iana};

/// Marks the text as a Bawaba receipt of format 1 (as `HC1:` marks an EU DCC).
pub const PREFIX: &str = "BW1:";
/// The longest code a verifier reads; a real one is a few hundred characters.
pub const MAX_CODE_CHARS: usize = 1024;

/// Why a code is not a genuine, current receipt. The names are the API's `reason`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// More than [`MAX_CODE_CHARS`].
    TooLong,
    /// Does not start with `BW1:`.
    Prefix,
    /// Not Base45 (a changed or cut character often lands here).
    Encoding,
    /// Not a tagged COSE_Sign1 with ES256 and a `kid`.
    Structure,
    /// Signed by a key that is not (or no longer) in the trust list.
    UnknownKey,
    /// The signature does not match the content.
    Signature,
    /// Validly signed, but the payload is not the receipt format.
    Payload,
    /// Genuine, and past its expiry.
    Expired,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::TooLong => "too_long",
            Refusal::Prefix => "not_a_receipt",
            Refusal::Encoding => "encoding",
            Refusal::Structure => "structure",
            Refusal::UnknownKey => "unknown_key",
            Refusal::Signature => "bad_signature",
            Refusal::Payload => "payload",
            Refusal::Expired => "expired",
        }
    }

    /// One line for people (the CLI, logs).
    pub fn explain(self) -> &'static str {
        match self {
            Refusal::TooLong => "the code is far longer than any receipt",
            Refusal::Prefix => "the code does not start with BW1: (not a Bawaba receipt)",
            Refusal::Encoding => "the code is not valid Base45 (a character changed, or it was cut)",
            Refusal::Structure => "the code is not a COSE_Sign1 signed with ES256",
            Refusal::UnknownKey => "signed by a key the gateway does not trust (unknown or rotated out)",
            Refusal::Signature => "the signature does not match: the receipt was altered",
            Refusal::Payload => "the signed content is not a receipt",
            Refusal::Expired => "the receipt is genuine but has expired",
        }
    }
}

/// Signs `payload` and returns its code.
pub fn sign(payload: &Payload, key: &SigningKey) -> String {
    let protected = HeaderBuilder::new().algorithm(iana::Algorithm::ES256).key_id(key.kid.to_vec()).build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .payload(payload.to_cbor())
        .create_signature(b"", |tbs| key.sign(tbs))
        .build();
    let bytes = sign1.to_tagged_vec().expect("a COSE_Sign1 of our own serialises");
    format!("{PREFIX}{}", base45::encode(bytes))
}

/// Checks `code` against `trust` at `now` (Unix seconds). An expired receipt
/// is refused with its payload, so the verifier can say what it was.
pub fn verify(code: &str, trust: &TrustList, now: i64) -> Result<Payload, (Refusal, Option<Box<Payload>>)> {
    // Scanners and copy-paste add line breaks and tabs (around and within).
    // A space is a Base45 character, so only leading ones (before `BW1:`) go.
    let code: String = code.chars().filter(|c| !c.is_whitespace() || *c == ' ').collect();
    let code = code.trim_start_matches(' ');
    if code.len() > MAX_CODE_CHARS {
        return Err((Refusal::TooLong, None));
    }
    let body = code.strip_prefix(PREFIX).ok_or((Refusal::Prefix, None))?;
    let bytes = base45::decode(body).map_err(|_| (Refusal::Encoding, None))?;
    let sign1 = CoseSign1::from_tagged_slice(&bytes)
        .or_else(|_| CoseSign1::from_slice(&bytes))
        .map_err(|_| (Refusal::Structure, None))?;
    let alg_ok =
        sign1.protected.header.alg == Some(coset::RegisteredLabelWithPrivate::Assigned(iana::Algorithm::ES256));
    // The kid counts only from the protected header (it is signed there).
    let kid = sign1.protected.header.key_id.clone();
    if !alg_ok || kid.is_empty() || sign1.payload.is_none() || sign1.signature.len() != 64 {
        return Err((Refusal::Structure, None));
    }
    let mut check = SignatureCheck::Invalid;
    let _ = sign1.verify_signature(b"", |sig, tbs| {
        check = trust.check(&kid, tbs, sig);
        Ok::<(), ()>(())
    });
    match check {
        SignatureCheck::Valid => {}
        SignatureCheck::UnknownKey => return Err((Refusal::UnknownKey, None)),
        SignatureCheck::Invalid => return Err((Refusal::Signature, None)),
    }
    let payload =
        Payload::from_cbor(sign1.payload.as_deref().unwrap_or_default()).map_err(|_| (Refusal::Payload, None))?;
    if payload.expires_at <= now {
        return Err((Refusal::Expired, Some(Box::new(payload))));
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipts::keys::ReceiptKeys;

    fn keys() -> ReceiptKeys {
        ReceiptKeys::from_bundle(&crate::auth::keys::generate_pem().unwrap()).unwrap()
    }

    fn payload(expires_at: i64) -> Payload {
        Payload::of_verification(
            uuid::Uuid::now_v7(),
            (1_000, expires_at),
            "real_estate",
            "match",
            Some([("owner_national_id".to_owned(), true)]),
            Some("SHR-ZAG-01".into()),
            Some("SHR-2025-000123".into()),
        )
        .unwrap()
    }

    #[test]
    fn a_signed_receipt_verifies_and_says_what_was_signed() {
        let k = keys();
        let p = payload(10_000);
        let code = sign(&p, &k.signing);
        assert!(code.starts_with("BW1:"));
        assert!(code.len() < 260, "{} chars", code.len());
        assert_eq!(verify(&code, &k.all, 5_000), Ok(p));
    }

    #[test]
    fn every_tampering_has_its_reason() {
        let k = keys();
        let code = sign(&payload(10_000), &k.signing);
        let refusal = |c: &str| verify(c, &k.all, 5_000).err().map(|e| e.0);
        for cut in [1, 2, 3, 7] {
            let r = refusal(&code[..code.len() - cut]);
            assert!(matches!(r, Some(Refusal::Encoding | Refusal::Structure)), "cut {cut}: {r:?}");
        }
        assert_eq!(refusal(&"A".repeat(MAX_CODE_CHARS + 1)), Some(Refusal::TooLong));
        assert_eq!(refusal("HC1:ABC"), Some(Refusal::Prefix));
        assert_eq!(refusal("BW1:Ä"), Some(Refusal::Encoding));
        assert_eq!(refusal(&format!("{PREFIX}{}", base45::encode(b"junk"))), Some(Refusal::Structure));
        assert_eq!(verify(&code, &keys().all, 5_000).err().map(|e| e.0), Some(Refusal::UnknownKey));
        assert_eq!(verify(&code, &k.all, 10_000).err().map(|e| e.0), Some(Refusal::Expired));
    }

    #[test]
    fn a_changed_signature_byte_is_a_bad_signature() {
        let k = keys();
        let code = sign(&payload(10_000), &k.signing);
        let mut bytes = base45::decode(&code[PREFIX.len()..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = format!("{PREFIX}{}", base45::encode(bytes));
        assert_eq!(verify(&tampered, &k.all, 5_000).err().map(|e| e.0), Some(Refusal::Signature));
    }

    #[test]
    fn a_valid_signature_over_junk_is_not_a_receipt() {
        let k = keys();
        let protected = HeaderBuilder::new().algorithm(iana::Algorithm::ES256).key_id(k.signing.kid.to_vec()).build();
        let junk = CoseSign1Builder::new()
            .protected(protected)
            .payload(b"\xa1\x00\x02".to_vec())
            .create_signature(b"", |tbs| k.signing.sign(tbs))
            .build();
        let code = format!("{PREFIX}{}", base45::encode(junk.to_tagged_vec().unwrap()));
        assert_eq!(verify(&code, &k.all, 5_000).err().map(|e| e.0), Some(Refusal::Payload));
    }
}
