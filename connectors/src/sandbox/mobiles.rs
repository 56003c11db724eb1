//! The mobile numbers the sandbox's national-ID registry has registered:
//! the fixtures' of DOMAIN.md, and a deterministic number of their own for
//! every synthetic citizen.

use super::population::{SplitMix64, population};

/// DOMAIN.md: the fixtures that have a registered mobile; the other fixtures have none.
const FIXTURE_MOBILES: [(&str, &str); 3] =
    [("29001011300036", "+201001234567"), ("28507150100022", "+201112345678"), ("29505058800051", "+201298765432")];

/// Mobile prefixes after `+20` (DOMAIN.md: 010, 011, 012, 015).
const PREFIXES: [&str; 4] = ["10", "11", "12", "15"];

/// What the registry answers about `national_id`'s mobile: `None` for an
/// unknown ID, `Some(None)` for a citizen without a registered number.
pub fn registered_mobile(national_id: &str) -> Option<Option<String>> {
    let people = population();
    if !people.contains(national_id) {
        return None;
    }
    if people.is_fixture(national_id) {
        return Some(FIXTURE_MOBILES.iter().find(|(id, _)| *id == national_id).map(|(_, m)| (*m).to_owned()));
    }
    Some(Some(synthetic_mobile(national_id)))
}

/// A synthetic citizen's number: a function of the ID alone, never one of the
/// fixtures' numbers (those belong to the fixtures).
fn synthetic_mobile(national_id: &str) -> String {
    let seed = national_id.bytes().fold(0x6d6f_6269_6c65u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    let mut rng = SplitMix64(seed);
    loop {
        let prefix = PREFIXES[rng.below(PREFIXES.len() as u64) as usize];
        let number = format!("+20{prefix}{:08}", rng.below(100_000_000));
        if !FIXTURE_MOBILES.iter().any(|(_, m)| *m == number) {
            return number;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_have_the_numbers_of_domain_md_or_none() {
        assert_eq!(registered_mobile("29001011300036"), Some(Some("+201001234567".into())));
        assert_eq!(registered_mobile("28507150100022"), Some(Some("+201112345678".into())));
        assert_eq!(registered_mobile("29505058800051"), Some(Some("+201298765432".into())));
        assert_eq!(registered_mobile("24003202100031"), Some(None));
        assert_eq!(registered_mobile("30102100200041"), Some(None));
        assert_eq!(registered_mobile("29001011399997"), None);
    }

    #[test]
    fn every_synthetic_citizen_has_a_stable_egyptian_mobile() {
        for id in population().synthetic_ids().take(2000) {
            let Some(Some(number)) = registered_mobile(id) else { panic!("no number") };
            assert!(crate::national_id::mobile::is_e164_mobile(&number), "{number}");
            assert_eq!(registered_mobile(id), Some(Some(number.clone())));
            assert!(!FIXTURE_MOBILES.iter().any(|(_, m)| *m == number));
        }
    }
}
