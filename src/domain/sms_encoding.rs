//! SMS alphabet choice and segmentation (3GPP TS 23.038 / 23.040).
//!
//! A message is GSM-7 only when every character is in the GSM 03.38 basic or
//! extension table; a single Arabic letter, Arabic comma or curly quote makes
//! the whole message UCS-2. Long messages are split for concatenation with the
//! 8-bit reference UDH (6 octets), which leaves 153 septets or 67 UTF-16 units
//! per part.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

impl Encoding {
    /// Capacity of a message sent on its own.
    pub fn single_limit(self) -> usize {
        match self {
            Self::Gsm7 => 160,
            Self::Ucs2 => 70,
        }
    }

    /// Capacity of each part of a concatenated message (8-bit reference UDH).
    pub fn part_limit(self) -> usize {
        match self {
            Self::Gsm7 => 153,
            Self::Ucs2 => 67,
        }
    }

    /// What `c` costs in this encoding: septets (an extension character is
    /// ESC + code, so 2) or UTF-16 units (a non-BMP character is a surrogate
    /// pair, so 2).
    pub fn cost(self, c: char) -> usize {
        match self {
            Self::Gsm7 if is_gsm7_extension(c) => 2,
            Self::Gsm7 => 1,
            Self::Ucs2 => c.len_utf16(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segmented {
    pub encoding: Encoding,
    /// The text of each part, in order; empty for an empty text.
    pub parts: Vec<String>,
    /// septets (GSM-7, extension chars count 2) or UTF-16 units (UCS-2)
    pub units: usize,
}

impl Segmented {
    /// The number of SMS parts that will be sent (0 for an empty text).
    pub fn segments(&self) -> usize {
        self.parts.len()
    }
}

/// The GSM 03.38 basic table, 0x00–0x7F, minus ESC (0x1B). Not ASCII: there
/// is no backtick, and `@`, `$`, `_` sit at other positions.
const GSM7_BASIC: &str = concat!(
    "@£$¥èéùìòÇ\nØø\rÅå",
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ",
    " !\"#¤%&'()*+,-./",
    "0123456789:;<=>?",
    "¡ABCDEFGHIJKLMNO",
    "PQRSTUVWXYZÄÖÑÜ§",
    "¿abcdefghijklmno",
    "pqrstuvwxyzäöñüà",
);

/// The extension table: form feed ^ { } \ [ ~ ] | €, each sent as ESC + code.
const GSM7_EXTENSION: &str = "\u{0C}^{}\\[~]|€";

fn is_gsm7_extension(c: char) -> bool {
    GSM7_EXTENSION.contains(c)
}

fn is_gsm7(c: char) -> bool {
    GSM7_BASIC.contains(c) || is_gsm7_extension(c)
}

/// Chooses GSM-7 when every char is in the GSM 03.38 basic or extension table,
/// else UCS-2. Single message: 160 septets / 70 units; concatenated (8-bit
/// reference UDH): 153 / 67 per part; an extension char never straddles parts;
/// a surrogate pair never straddles parts.
pub fn segment(text: &str) -> Segmented {
    let encoding = if text.chars().all(is_gsm7) { Encoding::Gsm7 } else { Encoding::Ucs2 };
    let units = text.chars().map(|c| encoding.cost(c)).sum();
    let parts = if text.is_empty() {
        Vec::new()
    } else if units <= encoding.single_limit() {
        vec![text.to_owned()]
    } else {
        // Splitting at char boundaries keeps ESC + code and surrogate pairs
        // whole: a char that does not fit starts the next part, which leaves
        // the previous one a unit short (152 or 66).
        let mut parts = Vec::new();
        let (mut part, mut used) = (String::new(), 0);
        for c in text.chars() {
            let cost = encoding.cost(c);
            if used + cost > encoding.part_limit() {
                parts.push(std::mem::take(&mut part));
                used = 0;
            }
            part.push(c);
            used += cost;
        }
        parts.push(part);
        parts
    };
    Segmented { encoding, parts, units }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn units_of(encoding: Encoding, part: &str) -> usize {
        part.chars().map(|c| encoding.cost(c)).sum()
    }

    fn part_units(result: &Segmented) -> Vec<usize> {
        result.parts.iter().map(|p| units_of(result.encoding, p)).collect()
    }

    // Found by the sms_text fuzz target: one NUL makes the whole text UCS-2,
    // and every part is counted in UCS-2 (67 units), even a part that alone
    // would be GSM-7 and take 71 septets.
    #[test]
    fn one_non_gsm_character_makes_every_part_ucs2() {
        let text = format!("{}\u{0}{}", "a".repeat(100), "b".repeat(100));
        let result = segment(&text);
        assert_eq!(result.encoding, Encoding::Ucs2);
        assert_eq!(result.parts.concat(), text);
        assert!(part_units(&result).iter().all(|&u| u <= 67), "{:?}", part_units(&result));
        assert_eq!(result.segments(), 201usize.div_ceil(67));
    }

    const B: &str = "عزيزي المواطن، تم استلام طلبكم رقم 123456 وجاري المراجعة. للاستعلام أرسل رقم الطلب إلى 5960";

    #[test]
    fn example_a_a_short_arabic_message_is_one_ucs2_part() {
        let result = segment("تم استلام طلبكم بنجاح");
        assert_eq!((result.encoding, result.units, result.segments()), (Encoding::Ucs2, 21, 1));
    }

    #[test]
    fn example_b_a_91_unit_arabic_message_splits_67_and_24() {
        let result = segment(B);
        assert_eq!(B.chars().count(), 91);
        assert_eq!((result.encoding, result.units), (Encoding::Ucs2, 91));
        assert_eq!(part_units(&result), [67, 24]);
    }

    #[test]
    fn example_c_arabic_indic_digits_change_nothing_once_ucs2() {
        let text = B.replace("123456", "١٢٣٤٥٦").replace("5960", "٥٩٦٠");
        let result = segment(&text);
        assert_eq!((result.encoding, result.units), (Encoding::Ucs2, 91));
        assert_eq!(part_units(&result), [67, 24]);
    }

    #[test]
    fn example_d_an_emoji_costs_two_units() {
        let result = segment("تم اعتماد طلبكم 👍");
        assert_eq!((result.encoding, result.units, result.segments()), (Encoding::Ucs2, 18, 1));
    }

    #[test]
    fn example_e_plain_english_is_one_gsm7_part() {
        let result = segment("Your request 123456 has been received. Reply to 5960 for status.");
        assert_eq!((result.encoding, result.units, result.segments()), (Encoding::Gsm7, 64, 1));
    }

    #[test]
    fn example_f_extension_characters_cost_two_septets() {
        let result = segment("Fee: 50€ {ref:123456}");
        assert_eq!((result.encoding, result.units, result.segments()), (Encoding::Gsm7, 24, 1));
    }

    #[test]
    fn example_g_a_curly_apostrophe_forces_ucs2() {
        let result = segment("Your request’s status: approved");
        assert_eq!((result.encoding, result.units, result.segments()), (Encoding::Ucs2, 31, 1));
    }

    #[test]
    fn example_h_an_emoji_at_unit_67_moves_to_the_next_part() {
        let text = format!("{}😀{}", "ب".repeat(66), "ت".repeat(10));
        let result = segment(&text);
        assert_eq!((result.encoding, result.units), (Encoding::Ucs2, 78));
        assert_eq!(part_units(&result), [66, 12]);
        assert!(result.parts[1].starts_with('😀'));
    }

    #[test]
    fn an_emoji_ending_exactly_at_unit_67_stays_in_the_first_part() {
        let text = format!("{}😀{}", "ب".repeat(65), "ت".repeat(10));
        assert_eq!(part_units(&segment(&text)), [67, 10]);
    }

    #[test]
    fn exactly_160_gsm7_septets_is_one_part_and_161_is_two() {
        assert_eq!(segment(&"a".repeat(160)).segments(), 1);
        let result = segment(&"a".repeat(161));
        assert_eq!((result.units, part_units(&result)), (161, vec![153, 8]));
    }

    #[test]
    fn exactly_70_ucs2_units_is_one_part_and_71_is_two() {
        assert_eq!(segment(&"س".repeat(70)).segments(), 1);
        let result = segment(&"س".repeat(71));
        assert_eq!((result.units, part_units(&result)), (71, vec![67, 4]));
    }

    #[test]
    fn an_extension_character_on_the_part_boundary_moves_whole() {
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(20));
        let result = segment(&text);
        assert_eq!(result.units, 174);
        assert_eq!(part_units(&result), [152, 22]);
        assert!(result.parts[1].starts_with('€'));
    }

    #[test]
    fn extension_characters_filling_160_septets_are_one_part() {
        assert_eq!(segment(&"{".repeat(80)).segments(), 1);
        assert_eq!(segment(&"{".repeat(81)).segments(), 2);
    }

    #[test]
    fn every_extension_character_is_gsm7_and_costs_two() {
        let result = segment("\u{0C}^{}\\[~]|€");
        assert_eq!((result.encoding, result.units), (Encoding::Gsm7, 20));
    }

    #[test]
    fn the_whole_basic_table_is_gsm7_at_one_septet_each() {
        let result = segment(GSM7_BASIC);
        assert_eq!((result.encoding, result.units), (Encoding::Gsm7, 127));
    }

    #[test]
    fn a_backtick_arabic_punctuation_or_a_bidi_mark_forces_ucs2() {
        for text in ["`", "،", "؟", "“quoted”", "\u{200F}ok", "ç"] {
            assert_eq!(segment(text).encoding, Encoding::Ucs2, "{text}");
        }
    }

    #[test]
    fn an_empty_text_has_no_parts() {
        let result = segment("");
        assert_eq!((result.encoding, result.units, result.segments()), (Encoding::Gsm7, 0, 0));
    }

    fn sms_like() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => prop::sample::select(vec!["a", " ", "€", "{", "\n", "ب", "😀", "ء", "؟"]).prop_map(str::to_owned),
            1 => any::<char>().prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..400).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #[test]
        fn parts_concatenate_back_and_each_fits_its_limit(text in sms_like()) {
            let result = segment(&text);
            prop_assert_eq!(result.parts.concat(), text.clone());
            prop_assert_eq!(result.units, units_of(result.encoding, &text));
            let limit = if result.segments() == 1 {
                result.encoding.single_limit()
            } else {
                result.encoding.part_limit()
            };
            for units in part_units(&result) {
                prop_assert!(units <= limit && units > 0);
            }
            if result.encoding == Encoding::Ucs2 {
                let total: usize = result.parts.iter().map(|p| p.encode_utf16().count()).sum();
                prop_assert_eq!(total, text.encode_utf16().count());
            }
        }

        #[test]
        fn gsm7_only_text_is_never_ucs2(text in "[a-zA-Z0-9 @£$_€{}\\[\\]]{0,300}") {
            prop_assert_eq!(segment(&text).encoding, Encoding::Gsm7);
        }
    }
}
