//! Digit and identifier normalisation shared by the national-ID, phone and
//! name modules.
//!
//! Citizens and clerks type identifiers on Arabic keyboards, paste them from
//! right-to-left documents and group them with spaces or hyphens. Every
//! identifier is therefore normalised to plain ASCII before it is validated.

/// Maps Arabic-Indic (U+0660–0669) and Eastern Arabic (U+06F0–06F9) digits to
/// ASCII; other chars unchanged.
pub fn to_ascii_digits(s: &str) -> String {
    s.chars().map(ascii_digit).collect()
}

/// The ASCII form of one Arabic-Indic or Eastern Arabic digit; any other char
/// is returned unchanged. Digits of other scripts are deliberately left alone
/// so that validators reject them instead of silently guessing.
pub fn ascii_digit(c: char) -> char {
    let zero = match c {
        '\u{0660}'..='\u{0669}' => '\u{0660}',
        '\u{06F0}'..='\u{06F9}' => '\u{06F0}',
        _ => return c,
    };
    char::from(b'0' + (c as u32 - zero as u32) as u8)
}

/// to_ascii_digits, then removes spaces (any Unicode whitespace), hyphens and
/// bidi/format marks (U+200E, U+200F, U+061C, U+202A–202E, U+2066–2069,
/// U+200B–200D, U+FEFF).
pub fn normalize_identifier(s: &str) -> String {
    let mut id = to_ascii_digits(s);
    id.retain(|c| !(c.is_whitespace() || is_hyphen(c) || is_format_mark(c)));
    id
}

/// Bidi controls and zero-width format characters. They are invisible, so
/// text copied from right-to-left documents often carries them unnoticed.
pub fn is_format_mark(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// ASCII hyphen-minus plus the Unicode hyphens a word processor substitutes
/// for it (U+2010 HYPHEN, U+2011 NON-BREAKING HYPHEN).
fn is_hyphen(c: char) -> bool {
    matches!(c, '-' | '\u{2010}' | '\u{2011}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arabic_indic_digits_become_ascii() {
        assert_eq!(to_ascii_digits("٠١٢٣٤٥٦٧٨٩"), "0123456789");
    }

    #[test]
    fn eastern_arabic_digits_become_ascii() {
        assert_eq!(to_ascii_digits("۰۱۲۳۴۵۶۷۸۹"), "0123456789");
    }

    #[test]
    fn other_characters_are_left_unchanged() {
        assert_eq!(to_ascii_digits("a1 ب-٣"), "a1 ب-3");
        // Full-width digits belong to another script and are not guessed at.
        assert_eq!(to_ascii_digits("１"), "１");
    }

    #[test]
    fn an_identifier_loses_spaces_hyphens_and_bidi_marks() {
        let input = "\u{200F}٢٩٠ ٠١٠١-١٣\u{00A0}0003\u{2066}6\u{FEFF}\u{200B}\u{061C}\u{202B}";
        assert_eq!(normalize_identifier(input), "29001011300036");
    }

    #[test]
    fn every_listed_format_mark_is_removed() {
        let marks = [
            '\u{200E}', '\u{200F}', '\u{061C}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}',
            '\u{2067}', '\u{2068}', '\u{2069}', '\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}',
        ];
        for mark in marks {
            assert_eq!(normalize_identifier(&format!("1{mark}2")), "12", "{mark:?}");
        }
    }

    #[test]
    fn letters_and_punctuation_other_than_hyphens_survive_normalisation() {
        assert_eq!(normalize_identifier("12.3/X"), "12.3/X");
    }
}
