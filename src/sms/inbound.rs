//! What a citizen's text to 5960 means: stop, start, a request number, or
//! a citizen asking who looked at their data (`سجل`/`HISTORY` + national ID)
//! or to be told each time (`تنبيه`/`NOTIFY` + national ID).

use crate::domain::digits::{is_format_mark, to_ascii_digits};
use crate::domain::national_id::NationalId;
use crate::sms::templates::Lang;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Stop,
    Start,
    /// `سجل <id>` (Arabic) or `HISTORY <id>` (English); `None` when what
    /// follows the keyword is not a valid national ID.
    History {
        lang: Lang,
        national_id: Option<NationalId>,
    },
    /// `تنبيه <id>` or `NOTIFY <id>`.
    Notify {
        lang: Lang,
        national_id: Option<NationalId>,
    },
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

/// What a citizen asks about their own data: the keyword's kind, its
/// language, and the rest of the text.
fn citizen_request(text: &str) -> Option<(bool, Lang, &str)> {
    let text = text.trim_start_matches(|c: char| c.is_whitespace() || is_format_mark(c));
    // The keyword is the leading run of letters (and marks, tatweel, format
    // characters); the ID may follow with or without spaces.
    let end = text
        .char_indices()
        .find(|(_, c)| !(c.is_alphabetic() || is_format_mark(*c) || *c == 'ـ' || ('\u{064B}'..='\u{065F}').contains(c)))
        .map_or(text.len(), |(i, _)| i);
    let (word, rest) = text.split_at(end);
    match keyword(word).as_str() {
        "سجل" => Some((true, Lang::Ar, rest)),
        "history" => Some((true, Lang::En, rest)),
        "تنبيه" => Some((false, Lang::Ar, rest)),
        "notify" => Some((false, Lang::En, rest)),
        _ => None,
    }
}

pub fn parse(text: &str) -> Intent {
    parse_at(text, time::OffsetDateTime::now_utc().date())
}

/// [`parse`] with the day national IDs' birth dates are checked against.
pub fn parse_at(text: &str, today: time::Date) -> Intent {
    if let Some((history, lang, rest)) = citizen_request(text) {
        let rest: String = rest.nfkc().collect();
        let national_id = NationalId::parse(rest.trim_end_matches(['.', '!', '؟', '?']), today).ok();
        return if history { Intent::History { lang, national_id } } else { Intent::Notify { lang, national_id } };
    }
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

    fn id(s: &str) -> Option<NationalId> {
        Some(NationalId::parse(s, time::macros::date!(2026 - 12 - 03)).unwrap())
    }

    fn at(text: &str) -> Intent {
        parse_at(text, time::macros::date!(2026 - 12 - 03))
    }

    #[test]
    fn a_history_request_is_understood_in_any_case_digits_and_spacing() {
        let ar = Intent::History { lang: Lang::Ar, national_id: id("29001011300036") };
        for t in [
            "سجل 29001011300036",
            "سجل29001011300036",
            "  سجل   2900 1011 3000 36 ",
            "سجل ٢٩٠٠١٠١١٣٠٠٠٣٦",
            "سجل ٢٩٠٠١٠11٣٠٠٠36",
            "\u{200F}سجل \u{200E}29001011300036",
            "سـجـل 2900-1011-3000-36",
            "سجل ۲۹۰۰۱۰۱۱۳۰۰۰۳۶",
        ] {
            assert_eq!(at(t), ar, "{t:?}");
        }
        let en = Intent::History { lang: Lang::En, national_id: id("29001011300036") };
        for t in
            ["HISTORY 29001011300036", "history 29001011300036", "History٢٩٠٠١٠١١٣٠٠٠٣٦", " hIsToRy 29001011300036."]
        {
            assert_eq!(at(t), en, "{t:?}");
        }
    }

    #[test]
    fn a_history_request_without_a_valid_id_is_still_a_history_request() {
        for t in ["سجل", "HISTORY", "سجل 2900101130003", "HISTORY 29002301300036", "سجل محمد", "history 2900101130003X"]
        {
            assert!(matches!(at(t), Intent::History { national_id: None, .. }), "{t:?}");
        }
    }

    #[test]
    fn a_notify_request_is_understood_in_both_languages() {
        assert_eq!(at("تنبيه 29001011300036"), Intent::Notify { lang: Lang::Ar, national_id: id("29001011300036") });
        assert_eq!(at("NOTIFY ٢٩٠٠١٠١١٣٠٠٠٣٦"), Intent::Notify { lang: Lang::En, national_id: id("29001011300036") });
        assert_eq!(at("notify"), Intent::Notify { lang: Lang::En, national_id: None });
    }

    #[test]
    fn words_that_only_start_like_a_keyword_are_not_one() {
        assert_eq!(at("HISTORYX 29001011300036"), Intent::CaseRef("HISTORYX29001011300036".into()));
        assert_eq!(at("سجلات"), Intent::Unknown);
        assert_eq!(at("SHR-2025-000123"), Intent::CaseRef("SHR2025000123".into()));
        assert_eq!(at("STOP"), Intent::Stop);
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

        #[test]
        fn a_valid_id_after_either_keyword_is_read_however_it_is_spaced(
            arabic_digits in proptest::collection::vec(any::<bool>(), 14),
            spaces in proptest::collection::vec(0usize..3, 15),
            english in any::<bool>(),
            upper in any::<bool>(),
        ) {
            let ascii = "29001011300036";
            let mut text = String::from(match (english, upper) {
                (true, true) => "HISTORY",
                (true, false) => "history",
                _ => "سجل",
            });
            for (i, c) in ascii.chars().enumerate() {
                text.push_str(&" ".repeat(spaces[i]));
                text.push(if arabic_digits[i] {
                    char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap()
                } else {
                    c
                });
            }
            text.push_str(&" ".repeat(spaces[14]));
            let lang = if english { Lang::En } else { Lang::Ar };
            prop_assert_eq!(at(&text), Intent::History { lang, national_id: id(ascii) });
        }
    }
}
