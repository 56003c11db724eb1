//! Egyptian mobile numbers, stored in E.164 form `+201XXXXXXXXX`.
//!
//! The national significant number (NSN) is `1[0125]` followed by 8 digits.
//! Numbers are portable, so the prefix is not used to tell the operator.
//! Parsing accepts the many ways people write the same number but never
//! guesses: anything that is not unambiguously an Egyptian mobile is rejected.

use serde::Serialize;

use super::digits::{ascii_digit, is_format_mark};

/// [`PhoneNumber`]'s stored form as a regular expression (the OpenAPI document's).
pub const E164_PATTERN: &str = r"^\+201[0125][0-9]{8}$";

/// An Egyptian mobile number in E.164 form: "+201" + [0125] + 8 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPhone {
    #[error("The phone number is empty.")]
    Empty,
    #[error("A phone number may contain only digits, a leading plus sign and separators.")]
    Characters,
    #[error("An Egyptian mobile number has 11 digits, such as 01012345678.")]
    Length,
    #[error("Only Egyptian mobile numbers (010, 011, 012 or 015) are accepted.")]
    NotMobile,
}

impl InvalidPhone {
    /// A stable machine-readable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::Characters => "characters",
            Self::Length => "length",
            Self::NotMobile => "not_mobile",
        }
    }
}

const COUNTRY_CODE: &str = "20";

impl PhoneNumber {
    /// Accepts every form of DOMAIN.md: 01X…, 1X…, +20…, 0020…, 20…, "+2 01…",
    /// wrongly kept trunk zero (+2001…), separators (spaces, hyphens, dots,
    /// parentheses), bidi marks, Arabic-Indic digits. Never guesses. Landlines
    /// (e.g. 02…) and unknown prefixes (013…) are NotMobile.
    pub fn parse(input: &str) -> Result<Self, InvalidPhone> {
        let (international, digits) = digits_of(input)?;
        let nsn = national_number(international, &digits)?;
        // The prefix is checked before the length so that a landline is
        // reported as such whatever its length.
        let prefix_ok = match nsn.as_bytes() {
            [b'1', second, ..] => matches!(second, b'0' | b'1' | b'2' | b'5'),
            [] | [b'1'] => true,
            _ => false,
        };
        if !prefix_ok {
            return Err(InvalidPhone::NotMobile);
        }
        if nsn.len() != 10 {
            return Err(InvalidPhone::Length);
        }
        Ok(Self(format!("+{COUNTRY_CODE}{nsn}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For logs: keeps country code, the first 3 national digits and the last
    /// 2, e.g. "+20100*****67".
    pub fn masked(&self) -> String {
        let (head, tail) = (&self.0[..6], &self.0[self.0.len() - 2..]);
        format!("{head}*****{tail}")
    }
}

/// The ASCII digits of the input, and whether it began with `+`. Separators
/// and bidi marks are dropped; any other character is an error.
fn digits_of(input: &str) -> Result<(bool, String), InvalidPhone> {
    let mut international = false;
    let mut digits = String::new();
    for c in input.chars().map(ascii_digit) {
        match c {
            '0'..='9' => digits.push(c),
            '+' if !international && digits.is_empty() => international = true,
            c if is_separator(c) => {}
            _ => return Err(InvalidPhone::Characters),
        }
    }
    if digits.is_empty() {
        return Err(InvalidPhone::Empty);
    }
    Ok((international, digits))
}

fn is_separator(c: char) -> bool {
    c.is_whitespace() || is_format_mark(c) || matches!(c, '-' | '.' | '(' | ')' | '/')
}

/// Strips the international part and one trunk zero, leaving what should be
/// the NSN.
fn national_number(international: bool, digits: &str) -> Result<&str, InvalidPhone> {
    let after_access = match digits.strip_prefix("00") {
        // "+00…" is not a way anyone writes a number.
        Some(_) if international => return Err(InvalidPhone::NotMobile),
        Some(rest) => Some(rest),
        None if international => Some(digits),
        None => None,
    };
    let rest = match after_access {
        // Dialled internationally: it must be Egypt's country code. "+2 01…"
        // lands here too, as "201…".
        Some(rest) => rest.strip_prefix(COUNTRY_CODE).ok_or(InvalidPhone::NotMobile)?,
        // No domestic form starts with 2 (a mobile NSN starts with 1 and
        // the trunk prefix is 0), so a leading "20" is the country code.
        None => digits.strip_prefix(COUNTRY_CODE).unwrap_or(digits),
    };
    // The trunk zero: "01…" domestically, or wrongly kept as in "+2001…".
    Ok(rest.strip_prefix('0').unwrap_or(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e164(input: &str) -> String {
        PhoneNumber::parse(input).expect(input).as_str().to_owned()
    }

    fn reason(input: &str) -> &'static str {
        PhoneNumber::parse(input).expect_err(input).reason()
    }

    #[test]
    fn the_valid_fixtures_have_their_e164_forms() {
        assert_eq!(e164("01001234567"), "+201001234567");
        assert_eq!(e164("+201112345678"), "+201112345678");
        assert_eq!(e164("00201298765432"), "+201298765432");
        assert_eq!(e164("٠١٥٥٠٠٠١١١١"), "+201550001111");
    }

    #[test]
    fn a_number_with_prefix_013_is_not_a_mobile() {
        assert_eq!(reason("01312345678"), "not_mobile");
    }

    #[test]
    fn a_ten_digit_mobile_is_too_short() {
        assert_eq!(reason("0100123456"), "length");
    }

    #[test]
    fn a_cairo_landline_is_not_a_mobile() {
        assert_eq!(reason("0223456789"), "not_mobile");
        assert_eq!(reason("+20 2 2345 6789"), "not_mobile");
    }

    #[test]
    fn a_twelve_digit_mobile_is_too_long() {
        assert_eq!(reason("010012345678"), "length");
    }

    #[test]
    fn every_documented_input_variant_is_accepted() {
        for input in [
            "01012345678",
            "1012345678",
            "+201012345678",
            "00201012345678",
            "201012345678",
            "+20 10 1234 5678",
            "010-1234-5678",
            "(010) 1234 5678",
            "010.1234.5678",
            "+2 01012345678",
            "+2001012345678",
            "002001012345678",
            "٠١٠١٢٣٤٥٦٧٨",
            "۰۱۰۱۲۳۴۵۶۷۸",
            "٠1٠١2٣4٥6٧8",
            "\u{200F}+20\u{200E} 101\u{2066}2345678\u{2069}",
        ] {
            assert_eq!(e164(input), "+201012345678", "{input}");
        }
    }

    #[test]
    fn all_four_mobile_prefixes_are_accepted() {
        for prefix in ["010", "011", "012", "015"] {
            assert_eq!(e164(&format!("{prefix}12345678")), format!("+2{prefix}12345678"));
        }
    }

    #[test]
    fn an_empty_input_is_rejected_as_empty() {
        assert_eq!(reason(""), "empty");
        assert_eq!(reason(" \u{200F} - "), "empty");
        assert_eq!(reason("+"), "empty");
    }

    #[test]
    fn letters_and_a_misplaced_plus_are_rejected_as_characters() {
        assert_eq!(reason("0100123456a"), "characters");
        assert_eq!(reason("010+01234567"), "characters");
        assert_eq!(reason("++201012345678"), "characters");
        assert_eq!(reason("１０１２３４５６７８"), "characters");
    }

    #[test]
    fn a_foreign_country_code_is_not_guessed_at() {
        assert_eq!(reason("+441012345678"), "not_mobile");
        assert_eq!(reason("00441012345678"), "not_mobile");
        assert_eq!(reason("+1012345678"), "not_mobile");
        assert_eq!(reason("+0201012345678"), "not_mobile");
    }

    #[test]
    fn a_short_international_number_is_rejected_for_length() {
        assert_eq!(reason("+20101234567"), "length");
        assert_eq!(reason("+20"), "length");
    }

    #[test]
    fn a_masked_number_keeps_country_code_prefix_and_last_two_digits() {
        assert_eq!(PhoneNumber::parse("01001234567").unwrap().masked(), "+20100*****67");
    }

    #[test]
    fn errors_read_as_english_sentences() {
        for error in [InvalidPhone::Empty, InvalidPhone::Characters, InvalidPhone::Length, InvalidPhone::NotMobile] {
            assert!(error.to_string().ends_with('.'));
        }
    }

    /// The ways a clerk or citizen might write the mobile whose NSN is given.
    fn written_forms(nsn: &str) -> Vec<String> {
        let (a, b, c) = (&nsn[..2], &nsn[2..6], &nsn[6..]);
        let arabic: String =
            format!("0{nsn}").chars().map(|d| char::from_u32(0x0660 + d.to_digit(10).unwrap()).unwrap()).collect();
        let persian: String =
            format!("0{nsn}").chars().map(|d| char::from_u32(0x06F0 + d.to_digit(10).unwrap()).unwrap()).collect();
        vec![
            format!("0{nsn}"),
            nsn.to_owned(),
            format!("+20{nsn}"),
            format!("0020{nsn}"),
            format!("20{nsn}"),
            format!("+2 0{nsn}"),
            format!("+200{nsn}"),
            format!("00200{nsn}"),
            format!("+20 {a} {b} {c}"),
            format!("0{a}-{b}-{c}"),
            format!("(0{a}) {b} {c}"),
            format!("0{a}.{b}.{c}"),
            format!("\u{200F}0{nsn}\u{200E}"),
            arabic,
            persian,
        ]
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = PhoneNumber::parse(&input);
        }

        #[test]
        fn parse_never_panics_on_phone_like_text(input in "[+0-9\u{0660}-\u{0669} ().-]{0,20}") {
            if let Ok(phone) = PhoneNumber::parse(&input) {
                prop_assert_eq!(phone.as_str().len(), 13);
                prop_assert_eq!(phone.masked().len(), 13);
            }
        }

        #[test]
        fn every_accepted_form_yields_the_same_e164(nsn in "1[0125][0-9]{8}") {
            let expected = format!("+20{nsn}");
            for form in written_forms(&nsn) {
                prop_assert_eq!(PhoneNumber::parse(&form).map(|p| p.0), Ok(expected.clone()), "{}", form);
            }
        }
    }
}
