//! National IDs and phone numbers as clients type them (any digits, any
//! spacing): a value or an error, never a panic; what parses is already
//! normalised (parsing it again gives the same value), and a masked phone
//! number never shows the subscriber's digits.
#![no_main]

use bawaba::domain::digits::{normalize_identifier, to_ascii_digits};
use bawaba::domain::national_id::NationalId;
use bawaba::domain::phone::PhoneNumber;
use libfuzzer_sys::fuzz_target;
use time::macros::date;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let today = date!(2026 - 12 - 03);
    let _ = to_ascii_digits(text);
    let _ = normalize_identifier(text);
    if let Ok(id) = NationalId::parse(text, today) {
        assert_eq!(id.as_str().len(), 14);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(NationalId::parse(id.as_str(), today).as_ref(), Ok(&id));
        assert!(id.birth_date() <= today);
        let _ = (id.gender(), id.governorate_code(), id.check_digit());
    }
    if let Ok(phone) = PhoneNumber::parse(text) {
        assert!(phone.as_str().starts_with("+20"));
        assert_eq!(PhoneNumber::parse(phone.as_str()).as_ref(), Ok(&phone));
        let masked = phone.masked();
        assert!(!masked.contains(&phone.as_str()[5..]), "masked {masked} shows the subscriber's digits");
    }
});
