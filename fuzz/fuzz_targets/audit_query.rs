//! The audit log's query strings (filters, limit, cursor, format) as any
//! client sends them: a parsed query or a 400 naming the fields, never a panic.
#![no_main]

use bawaba::http::audit_api::{Allow, LIMIT_MAX, parse_query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else { return };
    for allow in [Allow::Paging, Allow::Format, Allow::FiltersOnly] {
        if let Ok((q, format)) = parse_query(query, allow) {
            assert!((1..=LIMIT_MAX).contains(&q.limit));
            if allow != Allow::Format {
                assert!(format.is_none());
            }
            if let (Some(from), Some(to)) = (&q.filter.from, &q.filter.to) {
                assert!(from < to);
            }
        }
    }
});
