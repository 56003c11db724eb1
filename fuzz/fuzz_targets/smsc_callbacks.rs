//! The SMSC's two callbacks as the gateway reads them: the signature header,
//! then the body against the SMSC's schema. Never a panic; a forged signature
//! never passes.
#![no_main]

use bawaba::http::json;
use bawaba::http::smsc_wire::{DeliveryReport, InboundMessage};
use connectors::smsc as signature;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz-smsc-secret";
const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    // The `Bawaba-Signature` header, a NUL, then the body.
    let (header, body) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&[][..], data),
    };
    if let Ok(header) = std::str::from_utf8(header) {
        let passed = signature::verify(SECRET, header, body, NOW);
        // Only a header made with the secret passes: a fuzzer does not find HMAC-SHA256 tags.
        if passed {
            let t: u64 = header.split(',').find_map(|p| p.strip_prefix("t=")).and_then(|t| t.parse().ok()).unwrap();
            assert!(signature::verify(SECRET, &signature::sign(SECRET, t, body), body, NOW));
        }
    }
    if let Ok(report) = json::parse::<DeliveryReport>(body) {
        let _ = report.check();
    }
    if let Ok(message) = json::parse::<InboundMessage>(body) {
        let _ = message.check();
    }
});
