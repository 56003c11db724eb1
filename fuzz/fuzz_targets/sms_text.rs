//! SMS text both ways: segmenting what the gateway sends (the parts put back
//! together are the text, each within its encoding's limit) and reading what
//! citizens text to 5960 (a keyword, a request number or nothing, never a panic).
#![no_main]

use bawaba::domain::sms_encoding::segment;
use bawaba::sms::inbound;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let s = segment(text);
    assert_eq!(s.parts.concat(), text);
    assert_eq!(s.segments() == 0, text.is_empty());
    if s.segments() > 1 {
        for part in &s.parts {
            assert!(!part.is_empty());
            // Counted in the whole text's encoding (a part alone might fit another).
            let units: usize = part.chars().map(|c| s.encoding.cost(c)).sum();
            assert!(units <= s.encoding.part_limit(), "a part of {units} units");
        }
    }
    let _ = inbound::parse(text);
    let key = inbound::case_key(text);
    assert!(key.chars().all(|c| !c.is_whitespace()));
});
