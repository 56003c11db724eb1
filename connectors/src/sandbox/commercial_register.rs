//! Simulator of the commercial register: the JSON/REST registration lookup
//! (`schemas/upstream/commercial_register.schema.json`) over the DOMAIN.md
//! fixtures and a deterministic synthetic register, built once on first use.
//!
//! Synthetic companies are owned by adult synthetic citizens of
//! [`population()`] (alive, unless the company is struck off),
//! registered in real commercial-registry office cities (upper-case Latin
//! letters only), under numbers 1000–999989 (so `999990`–`999999` are never
//! registered in any office), with Arabic trade names of the usual forms
//! (مخبز …, صيدلية د. …, ورشة … للنجارة, شركة … للتجارة).

use std::collections::HashMap;
use std::sync::OnceLock;

use hyper::body::Incoming;
use hyper::header::{ALLOW, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use time::macros::date;

use super::population::SplitMix64;
use super::{Body, Population, json, population};
use crate::commercial_register::codec::{self, Route};
use crate::commercial_register::{CompanyKey, CompanyRecord, CompanyStatus};
use crate::national_id::Sex;
use crate::rest::error_body;

pub(super) use codec::API_ROOT;

/// Number of synthetic companies.
const SYNTHETIC_SIZE: usize = 20_000;
/// The generator's seed: changing it changes every synthetic company.
const SEED: u64 = 0x6261_7761_6261_0002;
/// Synthetic registration numbers are drawn from this range.
const NUMBERS: std::ops::RangeInclusive<u64> = 1_000..=999_989;

/// Commercial-registry offices (by city) with rough weights of activity.
const OFFICES: [(&str, u32); 26] = [
    ("CAIRO", 200),
    ("GIZA", 120),
    ("ALEXANDRIA", 100),
    ("ZAGAZIG", 50),
    ("MANSOURA", 55),
    ("TANTA", 45),
    ("MAHALLA", 25),
    ("BENHA", 35),
    ("DAMANHOUR", 35),
    ("ASYUT", 35),
    ("MINYA", 35),
    ("SOHAG", 30),
    ("FAYOUM", 25),
    ("DAMIETTA", 25),
    ("ISMAILIA", 20),
    ("SUEZ", 18),
    ("QENA", 18),
    ("LUXOR", 10),
    ("ASWAN", 12),
    ("HURGHADA", 12),
    ("ARISH", 6),
    ("BILBEIS", 12),
    ("MALLAWI", 8),
    ("KHARGA", 3),
    ("DESOUK", 10),
    ("MENOUF", 12),
];

/// Words trade names are often built on.
#[rustfmt::skip]
const WORDS: &[&str] = &[
    "النور", "الأمل", "الفجر", "السلام", "الهدى", "البركة", "الرحمة", "النصر",
    "الإيمان", "الحرمين", "الصفا", "الزهور", "النيل", "الشروق", "الخير", "الفردوس",
    "الريان", "الأمانة", "التوحيد", "المدينة", "الياسمين", "الوفاء", "الحمد", "السعادة",
];

/// Trade-name forms: the word is a pleasant word, the owner's first name or
/// family name, or "أبو" + a male name, as each form usually has it.
#[derive(Debug, Clone, Copy)]
enum Namer {
    /// `{prefix} {word}{suffix}`
    Word(&'static str, &'static str),
    /// `{prefix} {family}{suffix}`
    Family(&'static str, &'static str),
    /// `{prefix} {first}{suffix}`
    First(&'static str, &'static str),
    /// `{prefix} {first} {family}{suffix}`
    FullName(&'static str, &'static str),
    /// `{prefix} أبو {male name}`
    Father(&'static str),
}

const NAMERS: [(Namer, u32); 24] = [
    (Namer::Word("مخبز", ""), 6),
    (Namer::Family("مخبز", ""), 3),
    (Namer::FullName("صيدلية د.", ""), 6),
    (Namer::Word("صيدلية", ""), 3),
    (Namer::Family("ورشة", " للنجارة"), 3),
    (Namer::First("ورشة", " للحدادة"), 2),
    (Namer::Family("ورشة", " لإصلاح السيارات"), 3),
    (Namer::Word("ورشة", " للألوميتال"), 2),
    (Namer::Family("شركة", " للتجارة"), 6),
    (Namer::Word("شركة", " للتجارة والتوزيع"), 4),
    (Namer::FullName("شركة", " للاستيراد والتصدير"), 3),
    (Namer::Word("شركة", " للمقاولات العامة"), 3),
    (Namer::Father("مطعم"), 4),
    (Namer::Word("مطعم", ""), 3),
    (Namer::Word("سوبر ماركت", ""), 6),
    (Namer::Word("مكتبة", ""), 3),
    (Namer::First("محل", " للملابس الجاهزة"), 4),
    (Namer::Family("معرض", " للأثاث"), 3),
    (Namer::Family("مؤسسة", " للتوريدات"), 3),
    (Namer::Word("مصنع", " للبلاستيك"), 1),
    (Namer::First("صالون", " للحلاقة"), 2),
    (Namer::Family("مكتب", " للمحاسبة"), 2),
    (Namer::Word("محمصة", ""), 2),
    (Namer::Family("جزارة", ""), 2),
];

/// The commercial-register fixtures of DOMAIN.md, exactly as tabled.
fn fixtures() -> Vec<CompanyRecord> {
    let company = |number: &str, office: &str, name: &str, owner: &str, status, expires_on| CompanyRecord {
        registration_number: number.to_owned(),
        office: office.to_owned(),
        trade_name: name.to_owned(),
        owner_national_id: owner.to_owned(),
        status,
        expires_on,
    };
    vec![
        company("123456", "ZAGAZIG", "مخبز النور", "29001011300036", CompanyStatus::Active, date!(2028 - 06 - 30)),
        company(
            "654321",
            "CAIRO",
            "شركة الأمل للتجارة",
            "28507150100022",
            CompanyStatus::StruckOff,
            date!(2020 - 01 - 01),
        ),
        company(
            "777001",
            "GIZA",
            "ورشة يوسف للنجارة",
            "29505058800051",
            CompanyStatus::Suspended,
            date!(2027 - 03 - 31),
        ),
    ]
}

/// Everyone the commercial register knows: the fixtures, then the synthetic
/// companies in generation order.
#[derive(Debug)]
pub struct CommercialRegister {
    records: Vec<CompanyRecord>,
    fixtures: usize,
    index: HashMap<CompanyKey, u32>,
}

/// The process-wide register, built on first use.
pub fn register() -> &'static CommercialRegister {
    static REGISTER: OnceLock<CommercialRegister> = OnceLock::new();
    REGISTER.get_or_init(|| CommercialRegister::generate(SEED, SYNTHETIC_SIZE, population()))
}

fn key_of(record: &CompanyRecord) -> CompanyKey {
    CompanyKey { office: record.office.clone(), registration_number: record.registration_number.clone() }
}

impl CommercialRegister {
    pub fn get(&self, key: &CompanyKey) -> Option<&CompanyRecord> {
        self.index.get(key).map(|&i| &self.records[i as usize])
    }

    /// The synthetic companies in a stable order (never a fixture).
    pub fn synthetic(&self) -> &[CompanyRecord] {
        &self.records[self.fixtures..]
    }

    pub fn fixtures(&self) -> &[CompanyRecord] {
        &self.records[..self.fixtures]
    }

    fn generate(seed: u64, size: usize, population: &Population) -> CommercialRegister {
        let mut records = fixtures();
        let fixtures = records.len();
        let mut index: HashMap<CompanyKey, u32> = HashMap::with_capacity(size + fixtures);
        for (i, record) in (0u32..).zip(&records) {
            index.insert(key_of(record), i);
        }
        let mut rng = SplitMix64(seed);
        let office_weights: u32 = OFFICES.iter().map(|(_, w)| w).sum();
        let namer_weights: u32 = NAMERS.iter().map(|(_, w)| w).sum();
        let owners = population.synthetic_len() as u64;

        while records.len() < fixtures + size {
            let office = pick(&mut rng, &OFFICES, office_weights);
            let number = NUMBERS.start() + rng.below(NUMBERS.end() - NUMBERS.start() + 1);
            let key = CompanyKey { office: office.to_owned(), registration_number: number.to_string() };
            if index.contains_key(&key) {
                continue;
            }
            let (status, from, to) = match rng.below(100) {
                ..80 => (CompanyStatus::Active, date!(2027 - 01 - 01), date!(2031 - 12 - 31)),
                80..88 => (CompanyStatus::Suspended, date!(2024 - 01 - 01), date!(2030 - 12 - 31)),
                _ => (CompanyStatus::StruckOff, date!(2012 - 01 - 01), date!(2024 - 12 - 31)),
            };
            // An owner old enough to have registered before the registration
            // expired (and alive, unless the company is struck off).
            let latest_birth_year = from.year() - 26;
            let Some((owner, profile)) = (0..64).find_map(|_| {
                let owner = rng.below(owners) as usize;
                let profile = population.synthetic_profile(owner)?;
                let fits =
                    profile.birth_year <= latest_birth_year && (profile.alive || status == CompanyStatus::StruckOff);
                fits.then_some((owner, profile))
            }) else {
                continue;
            };
            let Some(owner_national_id) = population.synthetic_id(owner) else { continue };
            let (first, family) = (profile.first, profile.family);
            // Workshops, barbers and the like are named after the family
            // when the owner is a woman.
            let first_or_family = if profile.gender == Sex::Male { first } else { family };
            let trade_name = match pick(&mut rng, &NAMERS, namer_weights) {
                Namer::Word(prefix, suffix) => {
                    format!("{prefix} {}{suffix}", WORDS[rng.below(WORDS.len() as u64) as usize])
                }
                Namer::Family(prefix, suffix) => format!("{prefix} {family}{suffix}"),
                Namer::First(prefix, suffix) => format!("{prefix} {first_or_family}{suffix}"),
                Namer::FullName(prefix, suffix) => format!("{prefix} {first} {family}{suffix}"),
                Namer::Father(prefix) => format!("{prefix} أبو {}", Population::male_name(rng.below(1 << 16) as usize)),
            };
            let span = u64::try_from((to - from).whole_days() + 1).unwrap_or(1);
            let expires_on = from.saturating_add(time::Duration::days(rng.below(span) as i64));
            index.insert(key, records.len() as u32);
            records.push(CompanyRecord {
                registration_number: number.to_string(),
                office: office.to_owned(),
                trade_name,
                owner_national_id: owner_national_id.to_owned(),
                status,
                expires_on,
            });
        }
        CommercialRegister { records, fixtures, index }
    }
}

fn pick<T: Copy>(rng: &mut SplitMix64, table: &[(T, u32)], total_weight: u32) -> T {
    let mut roll = rng.below(u64::from(total_weight)) as u32;
    for &(item, weight) in table {
        if roll < weight {
            return item;
        }
        roll -= weight;
    }
    table[0].0
}

/// `GET /commercial-register/v1/offices/{office}/registrations/{number}`
/// (and every other request under the API root, answered with an error).
pub(super) async fn handle(request: Request<Incoming>) -> Response<Body> {
    if request.method() != Method::GET {
        let mut response = json(StatusCode::METHOD_NOT_ALLOWED, &error_body("METHOD_NOT_ALLOWED", "use GET"));
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET"));
        return response;
    }
    let key = match codec::parse_path(request.uri().path()) {
        Route::Lookup(key) => key,
        Route::BadSegment => {
            return json(StatusCode::BAD_REQUEST, &error_body("INVALID_REQUEST", "path segments must be UTF-8"));
        }
        Route::Unknown => return json(StatusCode::NOT_FOUND, &error_body("UNKNOWN_PATH", "no such resource")),
    };
    if !codec::key_is_well_formed(&key) {
        return json(
            StatusCode::BAD_REQUEST,
            &error_body("INVALID_REQUEST", "office must be an upper-case code and the number 1-10 digits"),
        );
    }
    match register().get(&key) {
        Some(record) => json(StatusCode::OK, &codec::build_response(record)),
        None => json(
            StatusCode::NOT_FOUND,
            &error_body(codec::NOT_FOUND, "no registration under this number in this office"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_fixtures_are_registered_exactly_as_tabled_and_999999_is_absent() {
        let register = register();
        let first = register
            .get(&CompanyKey { office: "ZAGAZIG".into(), registration_number: "123456".into() })
            .expect("the first fixture");
        assert_eq!(first.trade_name, "مخبز النور");
        assert_eq!(first.owner_national_id, "29001011300036");
        assert_eq!(first.status, CompanyStatus::Active);
        assert_eq!(first.expires_on, date!(2028 - 06 - 30));
        for fixture in fixtures() {
            assert_eq!(register.get(&key_of(&fixture)), Some(&fixture));
        }
        assert_eq!(register.get(&CompanyKey { office: "ZAGAZIG".into(), registration_number: "999999".into() }), None);
    }

    #[test]
    fn synthetic_companies_have_unique_keys_owners_in_the_population_and_sane_fields() {
        let register = register();
        let population = population();
        assert!(register.synthetic().len() >= 10_000);
        let offices: HashSet<&str> = OFFICES.iter().map(|(o, _)| *o).collect();
        let mut keys = HashSet::new();
        let mut statuses = HashMap::new();
        for company in register.synthetic() {
            assert!(keys.insert(key_of(company)), "duplicate {:?}", key_of(company));
            assert!(offices.contains(company.office.as_str()));
            assert!(company.office.bytes().all(|b| b.is_ascii_uppercase()));
            assert!(codec::key_is_well_formed(&key_of(company)));
            let number: u64 = company.registration_number.parse().expect("digits");
            assert!(NUMBERS.contains(&number));
            let owner = population.get(&company.owner_national_id).expect("the owner is a citizen");
            assert!(!population.is_fixture(&company.owner_national_id));
            assert!(owner.alive || company.status == CompanyStatus::StruckOff, "{}", company.registration_number);
            assert!(owner.birth_date.year() + 18 <= company.expires_on.year() - 8, "{}", company.registration_number);
            assert!(company.trade_name.split(' ').count() >= 2, "{}", company.trade_name);
            assert!(!company.trade_name.is_ascii());
            *statuses.entry(company.status).or_insert(0) += 1;
            if company.status == CompanyStatus::Active {
                assert!(company.expires_on >= date!(2027 - 01 - 01));
            }
            assert_eq!(register.get(&key_of(company)), Some(company));
        }
        assert!(statuses[&CompanyStatus::Active] > register.synthetic().len() * 7 / 10);
        assert!(statuses[&CompanyStatus::Suspended] > 0 && statuses[&CompanyStatus::StruckOff] > 0);
        for fixture in fixtures() {
            assert!(!keys.contains(&key_of(&fixture)));
        }
    }

    #[test]
    fn trade_names_take_the_usual_forms() {
        let names: Vec<&str> = register().synthetic().iter().map(|c| c.trade_name.as_str()).collect();
        for form in ["مخبز ", "صيدلية د. ", "ورشة ", "شركة ", " للتجارة", "مطعم أبو "]
        {
            assert!(names.iter().filter(|n| n.contains(form)).count() > 100, "{form}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_register() {
        let again = CommercialRegister::generate(SEED, 500, population());
        assert_eq!(again.synthetic(), &register().synthetic()[..500]);
        // Pinned values: if these change, every machine's sandbox changes.
        let first = &register().synthetic()[0];
        assert_eq!((first.office.as_str(), first.registration_number.as_str()), PINNED_FIRST_KEY);
        let fnv = register().synthetic().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, c| {
            let line = format!(
                "{}/{}/{}/{}/{}/{}\n",
                c.office,
                c.registration_number,
                c.trade_name,
                c.owner_national_id,
                c.status.as_str(),
                crate::format_date(c.expires_on)
            );
            line.bytes().fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        });
        assert_eq!(fnv, PINNED_FNV);
    }

    const PINNED_FIRST_KEY: (&str, &str) = ("GIZA", "844471");
    const PINNED_FNV: u64 = 15_827_338_668_360_719_946;
}
