//! The Egyptian national ID number (الرقم القومي): 14 digits laid out as
//! century, YYMMDD birth date, governorate of birth, serial (whose last digit
//! gives the gender) and a check digit.
//!
//! Structure, date and governorate are hard checks. The check digit is only a
//! soft signal: its algorithm is not published, and a false rejection would
//! lock a citizen out, so the national registry stays the authority.

use serde::Serialize;
use time::{Date, Month};

use super::digits::normalize_identifier;

/// A structurally valid national ID: always 14 ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct NationalId(String);

/// Why an input is not a national ID. The order of the variants is the order
/// in which the checks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidNationalId {
    #[error("A national ID has exactly 14 digits.")]
    Length,
    #[error("A national ID contains only digits.")]
    Digits,
    #[error("The first digit of a national ID must be 2 (born 1900–1999) or 3 (born 2000–2099).")]
    Century,
    #[error("Digits 2 to 7 of a national ID must be a real birth date (YYMMDD) that is not in the future.")]
    BirthDate,
    #[error("Digits 8 and 9 of a national ID must be a known governorate-of-birth code.")]
    Governorate,
}

impl InvalidNationalId {
    /// A stable machine-readable reason code.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Length => "length",
            Self::Digits => "digits",
            Self::Century => "century",
            Self::BirthDate => "birth_date",
            Self::Governorate => "governorate",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

/// How the 14th digit compares with the candidate mod-11 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDigit {
    Consistent,
    Inconsistent,
    /// r = 1: the public implementations disagree, so no digit can be judged.
    Undetermined,
}

/// Governorate-of-birth codes; 88 means born outside Egypt.
pub const GOVERNORATES: [&str; 28] = [
    "01", "02", "03", "04", // Cairo, Alexandria, Port Said, Suez
    "11", "12", "13", "14", "15", "16", "17", "18", "19", // Delta and canal
    "21", "22", "23", "24", "25", "26", "27", "28", "29", // Upper Egypt
    "31", "32", "33", "34", "35", // frontier governorates
    "88",
];

/// A national ID in its canonical form (14 ASCII digits) as a regular
/// expression: century, a plausible YYMMDD and a known governorate. Whether the
/// day exists and is not in the future is checked by [`NationalId::parse`] only.
pub fn pattern() -> String {
    format!("^[23][0-9]{{2}}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])({})[0-9]{{5}}$", GOVERNORATES.join("|"))
}

/// Weights of the candidate check-digit rule over digits 1–13.
const WEIGHTS: [u32; 13] = [2, 7, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

impl NationalId {
    /// normalize_identifier first; then: any non-digit -> Digits; len != 14 ->
    /// Length; century digit not 2/3 -> Century; YYMMDD not a real day, or
    /// after `today` -> BirthDate; governorate not in the DOMAIN.md list ->
    /// Governorate.
    pub fn parse(input: &str, today: Date) -> Result<Self, InvalidNationalId> {
        let id = normalize_identifier(input);
        if !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InvalidNationalId::Digits);
        }
        if id.len() != 14 {
            return Err(InvalidNationalId::Length);
        }
        if !matches!(id.as_bytes()[0], b'2' | b'3') {
            return Err(InvalidNationalId::Century);
        }
        match decode_birth_date(&id) {
            Some(born) if born <= today => {}
            _ => return Err(InvalidNationalId::BirthDate),
        }
        if !GOVERNORATES.contains(&&id[7..9]) {
            return Err(InvalidNationalId::Governorate);
        }
        Ok(Self(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> Date {
        decode_birth_date(&self.0).expect("the birth date was validated by parse")
    }

    /// The 13th digit (last of the serial): odd is male, even (including 0) female.
    pub fn gender(&self) -> Gender {
        if digit(&self.0, 12) % 2 == 1 { Gender::Male } else { Gender::Female }
    }

    /// Digits 8–9, the governorate of birth (not of residence or issue).
    pub fn governorate_code(&self) -> &str {
        &self.0[7..9]
    }

    pub fn check_digit(&self) -> CheckDigit {
        let first13: [u8; 13] = self.0.as_bytes()[..13].try_into().expect("a national ID has 14 digits");
        match candidate_check_digit(&first13) {
            None => CheckDigit::Undetermined,
            Some(expected) if expected == digit(&self.0, 13) => CheckDigit::Consistent,
            Some(_) => CheckDigit::Inconsistent,
        }
    }
}

/// The candidate check digit for 13 leading digits (None when r == 1). Public
/// so the sandbox generator's tests can cross-check.
///
/// Each element is a digit value 0–9; ASCII digits (`b'0'..=b'9'`, as in
/// `id.as_bytes()`) are accepted too, since the two ranges cannot be confused.
/// Rule: weights 2,7,6,5,4,3,2,7,6,5,4,3,2; r = sum mod 11; 11 − r for r ≥ 2,
/// 1 for r = 0, unknown for r = 1.
pub fn candidate_check_digit(first13: &[u8; 13]) -> Option<u8> {
    let sum: u32 = first13.iter().zip(WEIGHTS).map(|(&d, w)| u32::from(d.checked_sub(b'0').unwrap_or(d)) * w).sum();
    match sum % 11 {
        0 => Some(1),
        1 => None,
        r => Some((11 - r) as u8),
    }
}

/// The value of the ASCII digit at `index`.
fn digit(id: &str, index: usize) -> u8 {
    id.as_bytes()[index] - b'0'
}

/// The birth date encoded in digits 1–7 of a 14-digit string, if it is a real
/// calendar day (`time` knows 1900 is not a leap year and 2000 is).
fn decode_birth_date(id: &str) -> Option<Date> {
    let century = match id.as_bytes()[0] {
        b'2' => 1900,
        b'3' => 2000,
        _ => return None,
    };
    let two = |at: usize| id[at..at + 2].parse::<u8>().ok();
    let year = century + i32::from(two(1)?);
    let month = Month::try_from(two(3)?).ok()?;
    Date::from_calendar_date(year, month, two(5)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 22);

    fn parse(input: &str) -> Result<NationalId, InvalidNationalId> {
        NationalId::parse(input, TODAY)
    }

    fn reason(input: &str) -> &'static str {
        parse(input).expect_err(input).reason()
    }

    #[test]
    fn every_registry_fixture_parses_and_decodes() {
        let fixtures = [
            ("29001011300036", date!(1990 - 01 - 01), Gender::Male, "13"),
            ("28507150100022", date!(1985 - 07 - 15), Gender::Female, "01"),
            ("24003202100031", date!(1940 - 03 - 20), Gender::Male, "21"),
            ("30102100200041", date!(2001 - 02 - 10), Gender::Female, "02"),
            ("29505058800051", date!(1995 - 05 - 05), Gender::Male, "88"),
            ("29001011399997", date!(1990 - 01 - 01), Gender::Male, "13"),
        ];
        for (input, born, gender, governorate) in fixtures {
            let id = parse(input).expect(input);
            assert_eq!(id.as_str(), input);
            assert_eq!(id.birth_date(), born, "{input}");
            assert_eq!(id.gender(), gender, "{input}");
            assert_eq!(id.governorate_code(), governorate, "{input}");
        }
    }

    #[test]
    fn every_registry_fixture_has_a_consistent_check_digit() {
        for input in
            ["29001011300036", "28507150100022", "24003202100031", "30102100200041", "29505058800051", "29001011399997"]
        {
            assert_eq!(parse(input).unwrap().check_digit(), CheckDigit::Consistent, "{input}");
        }
    }

    #[test]
    fn a_13_digit_id_is_rejected_for_length() {
        assert_eq!(reason("2900101130003"), "length");
    }

    #[test]
    fn a_15_digit_id_is_rejected_for_length() {
        assert_eq!(reason("290010101000170"), "length");
    }

    #[test]
    fn an_id_with_a_letter_is_rejected_for_digits() {
        assert_eq!(reason("2900101130003X"), "digits");
        assert_eq!(reason("2900101010001O"), "digits");
    }

    #[test]
    fn an_empty_input_is_rejected_for_length() {
        assert_eq!(reason(""), "length");
        assert_eq!(reason(" \u{200F} "), "length");
    }

    #[test]
    fn an_id_with_century_digit_1_is_rejected() {
        assert_eq!(reason("19001011300036"), "century");
    }

    #[test]
    fn an_id_with_century_digit_4_is_rejected() {
        assert_eq!(reason("49001010100017"), "century");
    }

    #[test]
    fn an_id_born_on_30_february_is_rejected() {
        assert_eq!(reason("29002301300036"), "birth_date");
    }

    #[test]
    fn an_id_born_in_the_future_is_rejected() {
        assert_eq!(reason("39901011300036"), "birth_date");
        assert_eq!(reason("39901010100017"), "birth_date");
    }

    #[test]
    fn an_id_born_today_is_accepted_and_tomorrow_is_not() {
        // 2026-11-22, Cairo, serial 0001; the check digit is irrelevant here.
        assert!(parse("32611220100010").is_ok());
        assert_eq!(reason("32611230100010"), "birth_date");
    }

    #[test]
    fn an_id_with_month_13_or_31_april_is_rejected() {
        assert_eq!(reason("29013010100017"), "birth_date");
        assert_eq!(reason("29004310100017"), "birth_date");
    }

    #[test]
    fn the_29th_of_february_1900_is_rejected_and_of_2000_accepted() {
        assert_eq!(reason("20002291600074"), "birth_date");
        assert_eq!(parse("30002291600074").unwrap().birth_date(), date!(2000 - 02 - 29));
        assert_eq!(parse("31602290200448").unwrap().birth_date(), date!(2016 - 02 - 29));
    }

    #[test]
    fn an_id_with_governorate_99_is_rejected() {
        assert_eq!(reason("29001019900036"), "governorate");
    }

    #[test]
    fn an_id_with_governorate_20_or_36_is_rejected() {
        assert_eq!(reason("29001012000017"), "governorate");
        assert_eq!(reason("29001013600017"), "governorate");
    }

    #[test]
    fn the_first_fixture_in_arabic_indic_digits_is_valid() {
        assert_eq!(parse("٢٩٠٠١٠١١٣٠٠٠٣٦").unwrap().as_str(), "29001011300036");
    }

    #[test]
    fn an_id_with_spaces_hyphens_and_bidi_marks_is_valid() {
        let id = parse("\u{200F}2 900101-1300036\u{200E}").unwrap();
        assert_eq!(id.as_str(), "29001011300036");
    }

    #[test]
    fn the_constructed_ids_decode_as_documented() {
        let id = parse("28512318800134").unwrap();
        assert_eq!(id.birth_date(), date!(1985 - 12 - 31));
        assert_eq!(id.governorate_code(), "88");
        assert_eq!(id.gender(), Gender::Male);
        let id = parse("30507152100223").unwrap();
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.check_digit(), CheckDigit::Consistent);
    }

    #[test]
    fn a_remainder_of_zero_gives_check_digit_1() {
        assert_eq!(parse("29506140100731").unwrap().check_digit(), CheckDigit::Consistent);
    }

    #[test]
    fn a_remainder_of_one_leaves_the_check_digit_undetermined() {
        assert_eq!(parse("29506140101630").unwrap().check_digit(), CheckDigit::Undetermined);
        assert_eq!(candidate_check_digit(b"2950614010163"), None);
    }

    #[test]
    fn a_wrong_check_digit_is_inconsistent_but_still_parses() {
        let id = parse("29001010100018").unwrap();
        assert_eq!(id.check_digit(), CheckDigit::Inconsistent);
    }

    #[test]
    fn candidate_check_digit_accepts_values_and_ascii_alike() {
        let values = [2, 9, 0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 1];
        assert_eq!(candidate_check_digit(&values), Some(7));
        assert_eq!(candidate_check_digit(b"2900101010001"), Some(7));
    }

    #[test]
    fn errors_read_as_english_sentences() {
        let message = InvalidNationalId::Length.to_string();
        assert!(message.starts_with('A') && message.ends_with('.'));
    }

    /// A valid ID built from its parts, with the candidate check digit (any
    /// digit when the rule is undetermined).
    fn valid_id() -> impl Strategy<Value = (String, Date, u16)> {
        let first = date!(1900 - 01 - 01).to_julian_day();
        (first..=TODAY.to_julian_day(), prop::sample::select(GOVERNORATES.to_vec()), 0u16..10_000, 0u8..10).prop_map(
            |(day, governorate, serial, spare)| {
                let born = Date::from_julian_day(day).unwrap();
                let century = if born.year() < 2000 { 2 } else { 3 };
                let first13 = format!(
                    "{century}{:02}{:02}{:02}{governorate}{serial:04}",
                    born.year() % 100,
                    u8::from(born.month()),
                    born.day()
                );
                let check = candidate_check_digit(first13.as_bytes().try_into().unwrap()).unwrap_or(spare);
                (format!("{first13}{check}"), born, serial)
            },
        )
    }

    proptest! {
        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = parse(&input);
        }

        #[test]
        fn parse_never_panics_on_digit_strings(input in "[0-9\u{0660}-\u{0669} -]{0,20}") {
            let _ = parse(&input);
        }

        #[test]
        fn a_generated_valid_id_round_trips((input, born, serial) in valid_id()) {
            let id = parse(&input).unwrap();
            prop_assert_eq!(id.as_str(), input.as_str());
            prop_assert_eq!(id.birth_date(), born);
            let gender = if serial % 2 == 1 { Gender::Male } else { Gender::Female };
            prop_assert_eq!(id.gender(), gender);
            prop_assert_ne!(id.check_digit(), CheckDigit::Inconsistent);
            let arabic: String = input
                .chars()
                .map(|c| char::from_u32(0x0660 + c.to_digit(10).unwrap()).unwrap())
                .collect();
            prop_assert_eq!(parse(&arabic).unwrap(), id);
        }
    }
}
