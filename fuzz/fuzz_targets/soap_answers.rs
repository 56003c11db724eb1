//! The SOAP registries' answers as the gateway reads them: any bytes with any
//! status must end in a record or an error, never a panic, a hang or a leak.
#![no_main]
mod common;

use connectors::{national_id, real_estate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = common::split(data);
    let _ = national_id::codec::parse_response(status, body);
    let _ = national_id::mobile::parse_response(status, body);
    let _ = real_estate::codec::parse_response(status, body);
});
