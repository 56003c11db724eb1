//! `Bawaba-Signature`: how the SMSC signs what it posts to the gateway.
//!
//! ```text
//! Bawaba-Signature: t=1767600000,v1=5f0c…(64 hex digits)
//! ```
//! `t` is the signing time in Unix seconds; `v1` is the lower-case hex
//! HMAC-SHA256, keyed with the shared secret, of `t`, a `.`, and the raw
//! request body exactly as sent. A receiver accepts the request when one `v1`
//! matches (compared in constant time) and `t` is within
//! [`MAX_SIGNATURE_AGE_SECS`] of its own clock, either way.

use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The header the signature travels in.
pub const SIGNATURE_HEADER: &str = "Bawaba-Signature";
/// How far the signing time may be from the receiver's clock, in seconds.
pub const MAX_SIGNATURE_AGE_SECS: u64 = 300;

fn mac(secret: &str, t: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Bawaba-Signature` header value for `body` signed at `t` (Unix seconds).
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let tag = mac(secret, t, body).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Whether `header` is a valid signature of `body` with `secret`, made
/// within [`MAX_SIGNATURE_AGE_SECS`] of `now` (Unix seconds).
///
/// The header is a comma-separated list of `key=value` items in any order:
/// exactly one `t` (decimal digits); one or more `v1` (64 hex digits, any one
/// may match, which allows rotating secrets); other keys are ignored. An
/// empty secret never verifies (anyone could compute that HMAC).
pub fn verify(secret: &str, header: &str, body: &[u8], now: u64) -> bool {
    if secret.is_empty() {
        return false;
    }
    let mut t = None;
    let mut candidates = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            return false;
        };
        match key {
            "t" => {
                let well_formed = (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit());
                match (t, well_formed.then(|| value.parse::<u64>().ok()).flatten()) {
                    (None, Some(parsed)) => t = Some(parsed),
                    _ => return false,
                }
            }
            "v1" => {
                let mut tag = [0u8; 32];
                if hex::decode_to_slice(value, &mut tag).is_err() {
                    return false;
                }
                candidates.push(tag);
            }
            _ => {}
        }
    }
    let Some(t) = t else {
        return false;
    };
    if now.abs_diff(t) > MAX_SIGNATURE_AGE_SECS || candidates.is_empty() {
        return false;
    }
    let expected = mac(secret, t, body);
    // Every candidate is checked, so the time taken does not tell which matched.
    candidates.iter().fold(false, |matched, tag| expected.clone().verify_slice(tag).is_ok() | matched)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "smsc-demo-secret";
    const BODY: &[u8] = br#"{"smsc_id":"SM-1","client_ref":"r","status":"delivered","at":"2026-01-05T08:00:00Z"}"#;
    const T: u64 = 1_767_600_000;

    #[test]
    fn a_signature_has_the_documented_shape_and_is_deterministic() {
        let header = sign(SECRET, T, BODY);
        let (t, v1) = header.split_once(',').expect("two items");
        assert_eq!(t, "t=1767600000");
        let hex = v1.strip_prefix("v1=").expect("v1");
        assert_eq!(hex.len(), 64);
        assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(sign(SECRET, T, BODY), header);
        assert_ne!(sign(SECRET, T + 1, BODY), header);
    }

    #[test]
    fn the_signature_matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2: the MAC in use is the standard HMAC-SHA256…
        let tag = <HmacSha256 as KeyInit>::new_from_slice(b"Jefe")
            .expect("key")
            .chain_update(b"what do ya want for nothing?")
            .finalize()
            .into_bytes();
        assert_eq!(hex::encode(tag), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        // …over "<t>.<body>".
        let header = sign("Jefe", 7, b"body");
        let manual = <HmacSha256 as KeyInit>::new_from_slice(b"Jefe")
            .expect("key")
            .chain_update(b"7.body")
            .finalize()
            .into_bytes();
        assert_eq!(header, format!("t=7,v1={}", hex::encode(manual)));
    }

    #[test]
    fn a_fresh_signature_verifies() {
        let header = sign(SECRET, T, BODY);
        assert!(verify(SECRET, &header, BODY, T));
        assert!(verify(SECRET, &header, BODY, T + MAX_SIGNATURE_AGE_SECS));
        assert!(verify(SECRET, &header, BODY, T - MAX_SIGNATURE_AGE_SECS));
    }

    #[test]
    fn a_tampered_body_does_not_verify() {
        let header = sign(SECRET, T, BODY);
        let tampered = String::from_utf8_lossy(BODY).replace("delivered", "undelivered");
        assert!(!verify(SECRET, &header, tampered.as_bytes(), T));
        assert!(!verify(SECRET, &header, b"", T));
    }

    #[test]
    fn a_signature_made_with_another_secret_does_not_verify() {
        let header = sign("another-secret", T, BODY);
        assert!(!verify(SECRET, &header, BODY, T));
    }

    #[test]
    fn a_stale_or_future_timestamp_does_not_verify() {
        let header = sign(SECRET, T, BODY);
        assert!(!verify(SECRET, &header, BODY, T + MAX_SIGNATURE_AGE_SECS + 1));
        assert!(!verify(SECRET, &header, BODY, T - MAX_SIGNATURE_AGE_SECS - 1));
    }

    #[test]
    fn a_replaced_timestamp_does_not_verify() {
        let header = sign(SECRET, T, BODY);
        let moved = header.replace("t=1767600000", "t=1767600100");
        assert!(!verify(SECRET, &moved, BODY, T + 100));
    }

    #[test]
    fn an_empty_secret_never_verifies() {
        assert!(!verify("", &sign("", T, BODY), BODY, T));
    }

    #[test]
    fn items_may_come_in_any_order_with_spaces_and_several_v1() {
        let header = sign(SECRET, T, BODY);
        let v1 = header.split_once(',').expect("two items").1;
        assert!(verify(SECRET, &format!("{v1}, t={T}"), BODY, T));
        let old = sign("old-secret", T, BODY);
        let old_v1 = old.split_once(',').expect("two items").1;
        assert!(verify(SECRET, &format!("t={T},{old_v1},{v1},v0=ignored"), BODY, T));
        assert!(verify("old-secret", &format!("t={T},{old_v1},{v1}"), BODY, T));
    }

    #[test]
    fn ill_formed_headers_do_not_verify() {
        let header = sign(SECRET, T, BODY);
        let v1 = header.split_once(',').expect("two items").1;
        let upper = format!("t={T},{}", v1.to_uppercase().replace("V1=", "v1="));
        assert!(verify(SECRET, &upper, BODY, T), "hex digits in upper case are still hex");
        for bad in [
            String::new(),
            v1.to_owned(),
            format!("t={T}"),
            format!("t={T},t={T},{v1}"),
            format!("t=+{T},{v1}"),
            format!("t=-1,{v1}"),
            format!("t=,{v1}"),
            format!("t=99999999999999999999999,{v1}"),
            format!("t={T},{}", &v1[..v1.len() - 2]),
            format!("t={T},{v1}00"),
            format!("t={T},v1=zz{}", &v1[5..]),
            format!("t={T};{v1}"),
            format!("t={T},{v1},garbage"),
        ] {
            assert!(!verify(SECRET, &bad, BODY, T), "{bad:?} verified");
        }
    }
}
