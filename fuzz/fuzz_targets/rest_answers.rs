//! The JSON registries' answers (commercial register, security directorate,
//! SMSC) as the gateway reads them.
#![no_main]
mod common;

use connectors::security::Ticket;
use connectors::{commercial_register, security, smsc};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (status, body) = common::split(data);
    let _ = commercial_register::codec::parse_response(status, body);
    let _ = security::codec::parse_submit_response(status, body, "SHR-2025-000123");
    let _ = security::codec::parse_status_response(status, body, &Ticket("T-1".into()));
    let _ = smsc::codec::parse_submit_response(status, body, "01a23a9c-a95d-76a5-9094-9e7e9bf54c94");
});
