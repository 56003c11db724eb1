//! The bearer-token path: any string in `Authorization`, and tokens whose
//! header and claims are any JSON but whose ES256 signature is genuine (what
//! a stolen key or a confused issuer would produce). Never a panic; a token is
//! accepted only with the gateway's issuer and audience, a known client and
//! that client's center, and never with more scopes than the client has.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bawaba::auth::{ClientRegistry, KeyRing, TokenService, unix_now};
use bawaba::config::{ClientsFile, parse_file};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

const CLIENTS: &str = r#"
[[clients]]
client_id = "center-giza-01"
secret_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0000000000000000000000000000000000000000000"
scopes = ["national_id:verify"]
purposes = ["*"]
center_id = "giza-01"
rate_per_second = 10
rate_burst = 10
"#;

struct Fixture {
    service: TokenService,
    keys: KeyRing,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap().serialize_pem();
        let clients: ClientsFile = parse_file(CLIENTS, "clients file").unwrap();
        let service = TokenService::new(
            KeyRing::from_pems(std::slice::from_ref(&pem)).unwrap(),
            ClientRegistry::new(&clients.clients),
            "https://bawaba.test",
            "bawaba",
            Duration::from_secs(900),
        );
        Fixture { service, keys: KeyRing::from_pems(&[pem]).unwrap() }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let token = if mode % 2 == 0 {
        text.to_owned()
    } else {
        // header JSON, a NUL, claims JSON; signed with the gateway's own key.
        let (header, claims) = text.split_once('\0').unwrap_or((r#"{"alg":"ES256","typ":"JWT"}"#, text));
        let (kid, key) = f.keys.signing_at(i64::MAX);
        let header = header.replace("$KID", kid);
        let claims = claims.replace("$NOW", &unix_now().to_string());
        let message = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let Ok(signature) =
            jsonwebtoken::crypto::sign(message.as_bytes(), key, jsonwebtoken::Algorithm::ES256)
        else {
            return;
        };
        format!("{message}.{signature}")
    };
    if let Some(principal) = f.service.validate(&token) {
        assert_eq!(principal.client_id, "center-giza-01");
        assert_eq!(principal.center_id.as_deref(), Some("giza-01"));
        assert!(principal.scopes.iter().all(|s| s.as_str() == "national_id:verify"));
    }
});
