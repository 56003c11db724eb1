//! What the sandbox registries read from a client (the same codecs, server
//! side): SOAP requests, JSON submissions, and the commercial register's paths.
#![no_main]

use connectors::{commercial_register, national_id, real_estate, security, smsc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = national_id::codec::parse_request(data);
    let _ = national_id::mobile::parse_request(data);
    let _ = real_estate::codec::parse_request(data);
    let _ = security::codec::parse_submission(data);
    let _ = smsc::codec::parse_submission(data);
    if let Ok(path) = std::str::from_utf8(data) {
        let _ = commercial_register::codec::parse_path(path);
    }
});
