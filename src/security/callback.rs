//! Client callbacks: only to the client's configured URL prefixes, signed with
//! `Bawaba-Signature: t=<unix>,v1=<hex hmac-sha256(secret, t + "." + body)>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The signature header value for `body` at unix time `t`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `url` may be called back: an http(s) URL without user info whose
/// normalised form starts with one of `prefixes` (no request forgery).
pub fn verify_callback_url(url: &str, prefixes: &[String]) -> Result<String, &'static str> {
    let parsed = url::Url::parse(url).map_err(|_| "not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("must be http or https");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must not carry user info");
    }
    if parsed.host_str().is_none() {
        return Err("must name a host");
    }
    let normalised = parsed.as_str();
    if prefixes.is_empty()
        || !prefixes.iter().any(|p| normalised.starts_with(p.as_str()) && url.starts_with(p.as_str()))
    {
        return Err("not under this client's callback prefixes");
    }
    Ok(normalised.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixes() -> Vec<String> {
        vec!["http://127.0.0.1:".to_owned()]
    }

    #[test]
    fn a_loopback_url_under_the_prefix_is_allowed() {
        assert!(verify_callback_url("http://127.0.0.1:9000/hook", &prefixes()).is_ok());
    }

    #[test]
    fn user_info_cannot_smuggle_another_host() {
        assert!(verify_callback_url("http://127.0.0.1:80@evil.example/x", &prefixes()).is_err());
    }

    #[test]
    fn another_host_is_refused() {
        assert!(verify_callback_url("http://10.0.0.1:9000/hook", &prefixes()).is_err());
        assert!(verify_callback_url("http://127.0.0.1.evil.example:9000/", &prefixes()).is_err());
    }

    #[test]
    fn a_client_without_prefixes_gets_no_callbacks() {
        assert!(verify_callback_url("http://127.0.0.1:9000/hook", &[]).is_err());
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_t_dot_body() {
        let s = sign("secret", 1700000000, b"{}");
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(s, sign("other", 1700000000, b"{}"));
    }
}
