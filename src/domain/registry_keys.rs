//! Keys of the commercial register and the real-estate registry.

use super::digits::normalize_identifier;

/// A commercial registration number: 1–10 digits (no national format is
/// published; a number is unique only within its registry office).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationNumber(String);

impl RegistrationNumber {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = normalize_identifier(input);
        if s.is_empty() || s.len() > 10 {
            return Err("must be 1 to 10 digits");
        }
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err("must be digits only");
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A commercial-registry office code, e.g. `ZAGAZIG`: Latin letters (spaces,
/// hyphens and underscores allowed inside), upper-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeCode(String);

impl OfficeCode {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s = input.trim().to_ascii_uppercase();
        if s.is_empty() || s.len() > 32 {
            return Err("must be 1 to 32 characters");
        }
        if !s.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
            || !s.bytes().all(|b| b.is_ascii_uppercase() || matches!(b, b' ' | b'-' | b'_'))
        {
            return Err("must be Latin letters");
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A property ID `GOV-DISTRICT-NNNNNN` (e.g. `SHR-ZAG-000123`): two segments of
/// 2–5 Latin letters and a 6-digit parcel number; upper-cased, Arabic-Indic
/// digits accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyId(String);

impl PropertyId {
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let s: String = super::digits::to_ascii_digits(input.trim())
            .chars()
            .filter(|c| !super::digits::is_format_mark(*c))
            .collect::<String>()
            .to_ascii_uppercase();
        let parts: Vec<&str> = s.split('-').collect();
        let letters = |p: &str| (2..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_uppercase());
        match parts.as_slice() {
            [gov, district, number]
                if letters(gov)
                    && letters(district)
                    && number.len() == 6
                    && number.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(Self(s))
            }
            _ => Err("must look like GOV-DISTRICT-NNNNNN"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_registration_number_in_arabic_indic_digits_is_accepted() {
        assert_eq!(RegistrationNumber::parse("١٢٣٤٥٦").unwrap().as_str(), "123456");
    }

    #[test]
    fn an_eleven_digit_registration_number_is_refused() {
        assert!(RegistrationNumber::parse("12345678901").is_err());
        assert!(RegistrationNumber::parse("12a").is_err());
        assert!(RegistrationNumber::parse("").is_err());
    }

    #[test]
    fn an_office_is_upper_cased() {
        assert_eq!(OfficeCode::parse("zagazig").unwrap().as_str(), "ZAGAZIG");
        assert!(OfficeCode::parse("الزقازيق").is_err());
        assert!(OfficeCode::parse("1CAIRO").is_err());
    }

    #[test]
    fn property_ids_follow_gov_district_number() {
        assert_eq!(PropertyId::parse("shr-zag-000123").unwrap().as_str(), "SHR-ZAG-000123");
        assert_eq!(PropertyId::parse("SHR-ZAG-٠٠٠١٢٣").unwrap().as_str(), "SHR-ZAG-000123");
        assert_eq!(PropertyId::parse("\u{200F}SHR-ZAG-000123").unwrap().as_str(), "SHR-ZAG-000123");
        for bad in
            ["SHR-ZAG-12345", "SHR-ZAG-0001234", "SHRZAG000123", "S-ZAG-000123", "SHR-ZAG-00012X", "SHR-ZAG-000123-1"]
        {
            assert!(PropertyId::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,40}") {
            let _ = RegistrationNumber::parse(&s);
            let _ = OfficeCode::parse(&s);
            let _ = PropertyId::parse(&s);
        }

        #[test]
        fn a_parsed_property_id_parses_to_itself(gov in "[A-Z]{2,5}", d in "[A-Z]{2,5}", n in "[0-9]{6}") {
            let id = PropertyId::parse(&format!("{gov}-{d}-{n}")).unwrap();
            prop_assert_eq!(PropertyId::parse(id.as_str()).unwrap(), id);
        }
    }
}
