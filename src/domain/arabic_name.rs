//! Comparison keys for Arabic personal names.
//!
//! The same name is spelt many ways: with or without hamza on the alef,
//! ى or ي, ة or ه, with diacritics, with "عبد الله" split or joined. The key
//! removes those differences and nothing more: names are never stemmed (a
//! stemmer would turn "الشافعي" into "شافع"). The key is only for comparison;
//! the registry's own spelling is what is shown and kept.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use super::digits::{ascii_digit, is_format_mark};

/// Tokens that form one name with the token after them ("عبد الله" and
/// "عبدالله", "ابو بكر" and "ابوبكر"). Spelt after alef normalisation, so
/// "أبو" is covered too.
const COMPOUND_PREFIXES: [&str; 2] = ["عبد", "ابو"];

/// A claim must give at least this many leading names (first, father,
/// grandfather) to match a longer registry name.
const MIN_PREFIX_TOKENS: usize = 3;

/// The comparison key of a name: the normalised tokens, per DOMAIN.md "Arabic
/// name matching key" (NFKC; remove bidi/format chars and tatweel; remove marks
/// U+0610–061A, U+064B–065F, U+0670, U+06D6–06ED; أ إ آ ٱ → ا, ى → ي, ة → ه,
/// ؤ → و, ئ → ي, Persian lookalikes ی ے → ي, ک → ك, ۀ ہ → ه; map digits;
/// collapse spaces; join compounds "عبد X" -> "عبدX" and "ابو X" -> "ابوX"
/// (after alef normalisation) the same way on both sides). Latin letters
/// lowercased.
pub fn name_key(name: &str) -> Vec<String> {
    let text = normalize_text(name);
    // Join from the right so that "ابو عبد الله" becomes one token
    // "ابوعبدالله" rather than "ابوعبد" + "الله".
    let mut tokens: Vec<String> = Vec::new();
    for token in text.split_whitespace().rev() {
        match tokens.last_mut() {
            Some(next) if COMPOUND_PREFIXES.contains(&token) => next.insert_str(0, token),
            _ => tokens.push(token.to_owned()),
        }
    }
    tokens.reverse();
    tokens
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct NameMatch {
    pub matched: bool,
    /// In [0, 1], rounded to 2 decimals; 1.0 exactly when matched.
    pub score: f64,
}

/// matched when the claim's key equals the registry's key, or the claim has
/// at least 3 tokens and they equal the first tokens of the registry's key, in
/// order. score: 1.0 when matched; otherwise a similarity in [0,1) (normalised
/// edit distance over the joined keys, comparing the claim against the
/// registry prefix with the same number of tokens); never 1.0 when not matched.
///
/// An empty claim never matches, not even an empty registry name.
pub fn match_name(claim: &str, registry: &str) -> NameMatch {
    let claim = name_key(claim);
    let registry = name_key(registry);
    let is_prefix = claim.len() >= MIN_PREFIX_TOKENS && registry.starts_with(&claim);
    if !claim.is_empty() && (claim == registry || is_prefix) {
        return NameMatch { matched: true, score: 1.0 };
    }
    let compared = &registry[..claim.len().min(registry.len())];
    let score = similarity(&claim.join(" "), &compared.join(" "));
    // A claim naming too few tokens can equal the registry prefix exactly;
    // it still did not match, so it must not score like a match.
    NameMatch { matched: false, score: round2(score).min(0.99) }
}

/// NFKC, then the character rules, repeated until stable. Removing a tatweel
/// or a bidi mark can bring a letter and a combining mark together that NFKC
/// then composes; repeating keeps the key idempotent. It settles in one or
/// two passes; the bound only guards against the unforeseen.
fn normalize_text(name: &str) -> String {
    if name.chars().all(is_plain) {
        // Base letters, ASCII and spaces are already NFKC and carry no mark:
        // one pass of the letter rules gives what the full passes would
        // (the names of registries and claims are nearly always plain).
        return name.chars().map(|c| fold_letter(c.to_ascii_lowercase())).collect();
    }
    let mut text = normalize_pass(name);
    for _ in 0..4 {
        let next = normalize_pass(&text);
        if next == text {
            break;
        }
        text = next;
    }
    text
}

fn normalize_pass(text: &str) -> String {
    text.nfkc()
        .filter(|&c| !(is_format_mark(c) || c == '\u{0640}' || is_arabic_mark(c)))
        .flat_map(char::to_lowercase)
        .map(|c| fold_letter(ascii_digit(c)))
        .collect()
}

/// Characters on which NFKC, mark removal and lower-casing do nothing but
/// ASCII lower-casing: ASCII letters, digits and space, and the Arabic base
/// letters (U+0621–U+063A, U+0641–U+064A; not tatweel U+0640, not the marks
/// from U+064B on).
fn is_plain(c: char) -> bool {
    c == ' ' || c.is_ascii_alphanumeric() || matches!(c, '\u{0621}'..='\u{063A}' | '\u{0641}'..='\u{064A}')
}

/// Diacritics, Quranic annotation signs and superscript alef: spelling
/// variants, never part of the name.
fn is_arabic_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0610}'..='\u{061A}' | '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{06D6}'..='\u{06ED}'
    )
}

/// Letters written interchangeably in names, and Persian/Urdu lookalikes that
/// keyboards and OCR produce, mapped to one representative.
fn fold_letter(c: char) -> char {
    match c {
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        'ى' | 'ئ' | 'ی' | 'ے' => 'ي',
        'ة' | 'ۀ' | 'ہ' | 'ە' => 'ه',
        'ؤ' => 'و',
        'ک' => 'ك',
        other => other,
    }
}

/// 1 − Levenshtein distance / longer length, over chars.
fn similarity(a: &str, b: &str) -> f64 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 0.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / longest as f64
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIRST: &str = "محمد أحمد علي حسن";
    const SECOND: &str = "فاطمة الزهراء محمود عبد الله";
    const FOURTH: &str = "آية مصطفى كمال الدين";

    fn assert_matches(claim: &str, registry: &str) {
        let result = match_name(claim, registry);
        assert_eq!(result, NameMatch { matched: true, score: 1.0 }, "{claim} / {registry}");
    }

    fn assert_does_not_match(claim: &str, registry: &str) {
        let result = match_name(claim, registry);
        assert!(!result.matched, "{claim} / {registry}");
        assert!((0.0..1.0).contains(&result.score), "{result:?}");
    }

    #[test]
    fn the_plain_fast_path_gives_the_same_key_as_the_full_passes() {
        for name in [FIRST, SECOND, FOURTH, "Mohamed  Ahmed", "محمد احمد  علي", "ىةؤئأإآ abc 123", ""]
        {
            assert!(name.chars().all(is_plain), "{name}");
            let mut full = normalize_pass(name);
            for _ in 0..4 {
                full = normalize_pass(&full);
            }
            assert_eq!(normalize_text(name), full, "{name}");
        }
    }

    proptest! {
        #[test]
        fn plain_names_take_the_fast_path_to_the_same_key(
            name in "[ a-zA-Z0-9\u{0621}-\u{063A}\u{0641}-\u{064A}]{0,40}"
        ) {
            let mut full = normalize_pass(&name);
            for _ in 0..4 {
                full = normalize_pass(&full);
            }
            prop_assert_eq!(normalize_text(&name), full);
        }
    }

    #[test]
    fn the_first_three_names_with_bare_alef_match_the_first_fixture() {
        assert_matches("محمد احمد علي", FIRST);
    }

    #[test]
    fn the_full_name_with_diacritics_matches_the_first_fixture() {
        assert_matches("مُحَمَّد أحمد علي حسن", FIRST);
    }

    #[test]
    fn ta_marbuta_and_a_joined_compound_match_the_second_fixture() {
        assert_matches("فاطمه الزهراء محمود عبدالله", SECOND);
    }

    #[test]
    fn madda_and_alef_maqsura_variants_match_the_fourth_fixture() {
        assert_matches("اية مصطفي كمال الدين", FOURTH);
    }

    #[test]
    fn two_names_only_do_not_match() {
        let result = match_name("محمد أحمد", FIRST);
        assert!(!result.matched);
        // The two names given are right, yet the score stays below a match.
        assert_eq!(result.score, 0.99);
    }

    #[test]
    fn a_different_first_name_does_not_match() {
        assert_does_not_match("محمود أحمد علي", FIRST);
    }

    #[test]
    fn names_out_of_order_do_not_match() {
        assert_does_not_match("أحمد محمد علي حسن", FIRST);
    }

    #[test]
    fn a_claim_longer_than_the_registry_name_does_not_match() {
        assert_does_not_match("محمد أحمد علي حسن محمود", FIRST);
    }

    #[test]
    fn a_three_token_claim_matches_a_three_token_registry_name() {
        assert_matches("ابراهيم عبد الرحمن سيد", "إبراهيم عبد الرحمن سيد");
    }

    #[test]
    fn an_empty_claim_never_matches() {
        assert_eq!(match_name("", ""), NameMatch { matched: false, score: 0.0 });
        assert!(!match_name(" \u{200F}", FIRST).matched);
    }

    #[test]
    fn a_similar_but_wrong_name_scores_between_zero_and_one() {
        let result = match_name("محمد احمد عل حسن", FIRST);
        assert!(!result.matched);
        assert!(result.score > 0.8 && result.score < 1.0, "{result:?}");
        assert_eq!(result.score, (result.score * 100.0).round() / 100.0);
    }

    #[test]
    fn the_key_applies_every_letter_rule() {
        assert_eq!(
            name_key("أ إ آ ٱ ى ة ؤ ئ ی ے ک ۀ ہ"),
            ["ا", "ا", "ا", "ا", "ي", "ه", "و", "ي", "ي", "ي", "ك", "ه", "ه"]
        );
    }

    #[test]
    fn the_key_removes_marks_tatweel_and_bidi_characters() {
        let name = "\u{200F}مُحَمَّـــد\u{0670}\u{06E1} \u{2067}عليّ\u{2069}\u{FEFF}";
        assert_eq!(name_key(name), ["محمد", "علي"]);
    }

    #[test]
    fn the_key_splits_presentation_form_ligatures() {
        // U+FEFB is the lam-alef ligature; NFKC splits it into ل + ا.
        assert_eq!(name_key("\u{FEFB}"), ["لا"]);
    }

    #[test]
    fn the_key_joins_abd_and_abu_compounds() {
        assert_eq!(name_key("عبد الله"), ["عبدالله"]);
        assert_eq!(name_key("أبو  بكر"), ["ابوبكر"]);
        assert_eq!(name_key("أبو عبد الله"), ["ابوعبدالله"]);
        assert_eq!(name_key("محمد عبد"), ["محمد", "عبد"]);
    }

    #[test]
    fn the_key_keeps_the_article_and_never_stems() {
        assert_eq!(name_key("الشافعي"), ["الشافعي"]);
    }

    #[test]
    fn the_key_maps_digits_collapses_spaces_and_lowercases_latin() {
        assert_eq!(name_key("  Mohamed\u{00A0}\tEL-Sayed ٣ "), ["mohamed", "el-sayed", "3"]);
    }

    /// Arabic letters, marks, format characters, compounds and Latin text,
    /// so that the interesting rules are exercised often.
    fn name_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            prop::sample::select(vec![
                "محمد",
                "أحمد",
                "عبد",
                "ابو",
                "أبو",
                "الله",
                "فاطمة",
                "مصطفى",
                "آية",
                "ئ",
                "ؤ",
                "ی",
                "ک",
                "ۀ",
                " ",
                "  ",
                "\u{0640}",
                "\u{064E}",
                "\u{0651}",
                "\u{0654}",
                "\u{0670}",
                "\u{200F}",
                "\u{FEFB}",
                "\u{0301}",
                "e",
                "E",
                "٣",
                "\u{00A0}",
            ])
            .prop_map(str::to_owned),
            any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn name_key_is_idempotent(name in name_like()) {
            let key = name_key(&name);
            prop_assert_eq!(name_key(&key.join(" ")), key);
        }

        #[test]
        fn name_key_is_idempotent_on_arbitrary_text(name in any::<String>()) {
            let key = name_key(&name);
            prop_assert_eq!(name_key(&key.join(" ")), key);
        }

        #[test]
        fn a_name_matches_itself_with_score_one(name in name_like()) {
            prop_assume!(!name_key(&name).is_empty());
            prop_assert_eq!(match_name(&name, &name), NameMatch { matched: true, score: 1.0 });
        }

        #[test]
        fn the_score_stays_in_range_and_is_one_only_for_a_match(
            claim in name_like(),
            registry in name_like(),
        ) {
            let result = match_name(&claim, &registry);
            prop_assert!((0.0..=1.0).contains(&result.score));
            prop_assert_eq!(result.score == 1.0, result.matched);
        }
    }
}
