//! What a citizen's text to 5960 means: stop, start, or a request number.

use crate::domain::digits::{is_format_mark, to_ascii_digits};
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Stop,
    Start,
    /// A request number, as a comparison key (see [`case_key`]).
    CaseRef(String),
    /// Nothing we can act on.
    Unknown,
}

/// The comparison key of a request number: ASCII digits, upper case, without
/// spaces, hyphens, underscores, slashes or dots (people type them every way).
pub fn case_key(s: &str) -> String {
    to_ascii_digits(&s.nfkc().collect::<String>())
        .chars()
        .filter(|c| !c.is_whitespace() && !is_format_mark(*c) && !matches!(c, '-' | '_' | '/' | '.' | '‐' | '‑'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// Letters only, folded: Latin lower case, Arabic alef forms unified, marks and tatweel dropped.
fn keyword(s: &str) -> String {
    s.nfkc()
        .filter(|c| !is_format_mark(*c) && *c != 'ـ' && !('\u{064B}'..='\u{065F}').contains(c))
        .filter(|c| c.is_alphabetic())
        .map(|c| match c {
            'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
            'ى' | 'ی' => 'ي',
            'ة' => 'ه',
            c => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

pub fn parse(text: &str) -> Intent {
    let word = keyword(text);
    match word.as_str() {
        "stop" | "ايقاف" | "توقف" | "الغاء" | "وقف" => return Intent::Stop,
        "start" | "تفعيل" | "تشغيل" => return Intent::Start,
        _ => {}
    }
    let key = case_key(text);
    let looks_like_case = !key.is_empty()
        && key.len() <= 64
        && key.chars().any(|c| c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_alphanumeric());
    if looks_like_case { Intent::CaseRef(key) } else { Intent::Unknown }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn stop_is_understood_however_it_is_typed() {
        for t in ["STOP", "stop", " Stop ", "stop.", "إيقاف", "ايقاف", "أيقاف", "إيـقـاف", "\u{200F}إيقاف"]
        {
            assert_eq!(parse(t), Intent::Stop, "{t:?}");
        }
    }

    #[test]
    fn start_is_understood_however_it_is_typed() {
        for t in ["START", "start", "Start!", "تفعيل", " تفعيل "] {
            assert_eq!(parse(t), Intent::Start, "{t:?}");
        }
    }

    #[test]
    fn a_request_number_in_arabic_indic_digits_or_lower_case_is_the_same_request() {
        let expected = Intent::CaseRef("SHR2025000123".into());
        for t in ["SHR-2025-000123", "shr-2025-000123", "SHR ٢٠٢٥ ٠٠٠١٢٣", " SHR-2025-000123 "] {
            assert_eq!(parse(t), expected, "{t:?}");
        }
    }

    #[test]
    fn chatter_is_unknown() {
        assert_eq!(parse("السلام عليكم"), Intent::Unknown);
        assert_eq!(parse(""), Intent::Unknown);
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = parse(&s);
        }
    }
}
