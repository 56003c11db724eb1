//! Arabic (and Latin) names as claims and as registry records: the name key
//! and the match never panic, a score stays in [0, 1] and is 1.0 exactly
//! when matched, and a name always matches itself when it has a key.
#![no_main]

use bawaba::domain::arabic_name::{match_name, name_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The claim, then a NUL, then the registry's name.
    let (claim, registry) = text.split_once('\0').unwrap_or((text, text));
    let key = name_key(claim);
    let m = match_name(claim, registry);
    assert!((0.0..=1.0).contains(&m.score), "score {}", m.score);
    assert_eq!(m.matched, m.score == 1.0);
    if !key.is_empty() {
        assert!(match_name(claim, claim).matched);
    }
});
