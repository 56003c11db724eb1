//! The sandbox population's tables: governorates of birth with their
//! weights, the Arabic name lists the synthetic citizens are drawn from, and
//! the national-ID fixtures of DOMAIN.md exactly as tabled.

use crate::national_id::{CardStatus, CitizenRecord, Sex};
use time::macros::date;

/// Governorate codes of birth (digits 8–9) with rough population weights.
pub(super) const GOVERNORATES: [(u8, u32); 28] = [
    (1, 100), // Cairo
    (2, 55),  // Alexandria
    (3, 8),   // Port Said
    (4, 7),   // Suez
    (11, 15), // Damietta
    (12, 67), // Dakahlia
    (13, 75), // Sharqia
    (14, 60), // Qalyubia
    (15, 36), // Kafr El Sheikh
    (16, 51), // Gharbia
    (17, 44), // Monufia
    (18, 67), // Beheira
    (19, 14), // Ismailia
    (21, 92), // Giza
    (22, 33), // Beni Suef
    (23, 38), // Fayoum
    (24, 60), // Minya
    (25, 48), // Asyut
    (26, 55), // Sohag
    (27, 35), // Qena
    (28, 15), // Aswan
    (29, 13), // Luxor
    (31, 4),  // Red Sea
    (32, 3),  // New Valley
    (33, 5),  // Matrouh
    (34, 5),  // North Sinai
    (35, 2),  // South Sinai
    (88, 3),  // born abroad
];

/// The governorate codes a national ID may carry (digits 8–9).
#[cfg(test)]
pub(super) fn governorate_codes() -> impl Iterator<Item = u8> {
    GOVERNORATES.iter().map(|(code, _)| *code)
}

#[rustfmt::skip]
pub(super) const MALE_NAMES: &[&str] = &[
    "محمد", "أحمد", "محمود", "مصطفى", "علي", "حسن", "حسين", "إبراهيم",
    "يوسف", "عمر", "خالد", "طارق", "عمرو", "كريم", "هشام", "سامي",
    "أيمن", "أشرف", "وائل", "هاني", "شريف", "عادل", "جمال", "سيد",
    "رضا", "سعيد", "ممدوح", "مجدي", "حمدي", "فتحي", "رمضان", "شعبان",
    "عبد الله", "عبد الرحمن", "عبد العزيز", "عبد الحميد", "عبد الفتاح", "عبد المنعم", "عبد الرحيم", "عبد الحليم",
    "إسماعيل", "إسلام", "أسامة", "حمزة", "مؤمن", "مازن", "زياد", "ياسين",
    "آدم", "أنس", "معاذ", "بلال", "صلاح", "نور الدين", "صلاح الدين", "عز الدين",
    "كمال", "فؤاد", "منير", "ناصر", "جابر", "رؤوف", "عاطف", "ماهر",
    "مدحت", "نبيل", "وليد", "ياسر", "عصام", "حازم", "تامر", "سامح",
    "أمير", "فارس", "عثمان", "سليمان", "عيسى", "موسى", "يحيى", "زكريا",
    "عبده", "السيد", "جمعة", "عطية", "رجب", "سعد", "فاروق", "صبري",
    "رأفت", "إيهاب", "أنور", "عماد", "مراد", "شادي", "عمار",
];

#[rustfmt::skip]
pub(super) const FEMALE_NAMES: &[&str] = &[
    "فاطمة", "عائشة", "خديجة", "مريم", "زينب", "نور", "سلمى", "هبة",
    "آية", "إسراء", "أسماء", "رحمة", "شيماء", "دعاء", "ياسمين", "هدى",
    "منى", "سارة", "نورهان", "رضوى", "إيمان", "أمل", "سمية", "رقية",
    "مروة", "نهى", "دينا", "هالة", "سعاد", "نجلاء", "ليلى", "سناء",
    "علياء", "منة الله", "فاطمة الزهراء", "هند", "نادية", "سميرة", "عزة", "وفاء",
    "رشا", "ريهام", "شروق", "جنى", "حبيبة", "ملك", "روان", "ندى",
    "بسمة", "سهير", "نفيسة", "صفاء", "ابتسام", "إيناس", "أماني", "نسمة",
    "ولاء", "رانيا", "غادة", "لمياء", "عفاف", "جميلة", "ثريا", "كريمة",
    "نعمة", "آمال", "عبير", "مي", "هاجر", "آلاء", "رؤى", "هناء",
    "وئام",
];

#[rustfmt::skip]
pub(super) const FAMILY_NAMES: &[&str] = &[
    "السيد", "الشافعي", "المصري", "عبد الفتاح", "النجار", "الشربيني", "عبد السلام", "حسن",
    "سليمان", "البدوي", "الجمال", "الحسيني", "عطية", "منصور", "شحاتة", "جاد الله",
    "أبو العلا", "أبو زيد", "عبد الغني", "الصاوي", "رضوان", "الفقي", "عاشور", "الدسوقي",
    "الطنطاوي", "زكي", "فرج", "حجازي", "بدر", "سالم", "خليل", "عثمان",
    "يونس", "مرسي", "الخولي", "البنا", "العشري", "الشناوي", "المنوفي", "السويفي",
    "الأسيوطي", "القاضي", "الزيات", "الحداد", "عبد الرازق", "عبد الباقي", "عبد اللطيف", "عبد الجواد",
    "رزق", "غنيم", "صقر", "هلال", "مبروك", "عوض", "شلبي", "الطحان",
    "الجندي", "الشيخ", "فوزي", "نصر", "متولي", "قنديل", "هيكل", "أبو شادي",
    "سلامة", "عبد الوهاب", "الإمام", "الأنصاري", "الأزهري",
];

/// The national-ID fixtures of DOMAIN.md, exactly as tabled.
pub(super) fn fixtures() -> Vec<CitizenRecord> {
    let citizen = |id: &str,
                   name: &str,
                   birth_date: time::Date,
                   gender: Sex,
                   mother: &str,
                   alive: bool,
                   card_status: CardStatus| CitizenRecord {
        national_id: id.to_owned(),
        full_name: name.to_owned(),
        birth_date,
        gender,
        mother_name: mother.to_owned(),
        alive,
        card_status,
    };
    vec![
        citizen(
            "29001011300036",
            "محمد أحمد علي حسن",
            date!(1990 - 01 - 01),
            Sex::Male,
            "فاطمة حسن",
            true,
            CardStatus::Valid,
        ),
        citizen(
            "28507150100022",
            "فاطمة الزهراء محمود عبد الله",
            date!(1985 - 07 - 15),
            Sex::Female,
            "زينب إبراهيم",
            true,
            CardStatus::Valid,
        ),
        citizen(
            "24003202100031",
            "إبراهيم عبد الرحمن سيد",
            date!(1940 - 03 - 20),
            Sex::Male,
            "نفيسة عمر",
            false,
            CardStatus::Expired,
        ),
        citizen(
            "30102100200041",
            "آية مصطفى كمال الدين",
            date!(2001 - 02 - 10),
            Sex::Female,
            "هدى سامي",
            true,
            CardStatus::ReportedLost,
        ),
        citizen(
            "29505058800051",
            "يوسف أشرف السيد",
            date!(1995 - 05 - 05),
            Sex::Male,
            "منى فؤاد",
            true,
            CardStatus::Valid,
        ),
    ]
}
