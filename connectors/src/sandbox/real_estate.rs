//! Simulator of the real-estate registry: SOAP 1.1 `GetProperty`
//! (`schemas/upstream/real_estate.xsd`) over the DOMAIN.md fixtures and a
//! deterministic synthetic registry, built once on first use.
//!
//! Synthetic property IDs are `GOV-DISTRICT-NNNNNN`: a three-letter
//! governorate code, a three-letter district code of that governorate, and a
//! six-digit number 000001–999989 (so numbers 999990–999999 are never
//! registered in any district). Owners are synthetic citizens of
//! [`population()`]; some own several properties.
//!
//! A drill for tests: any well-formed ID starting with `TST-SRV-` gets a
//! `soap:Server` fault (`INTERNAL_ERROR`), as a failing registry would send.

use std::collections::HashMap;
use std::sync::OnceLock;

use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response, StatusCode};

use super::population::SplitMix64;
use super::{Body, Population, population, read_body, xml};
use crate::real_estate::codec::{self, FaultKind};
use crate::real_estate::{PropertyRecord, RegistrationStatus};

pub(super) use codec::PATH;

/// Number of synthetic properties.
const SYNTHETIC_SIZE: usize = 50_000;
/// The generator's seed: changing it changes every synthetic property.
const SEED: u64 = 0x6261_7761_6261_0003;
/// Synthetic property numbers are drawn from this range.
const NUMBERS: std::ops::RangeInclusive<u64> = 1..=999_989;
/// IDs with this prefix answer a server fault (see the module's doc).
pub const SERVER_FAULT_PREFIX: &str = "TST-SRV-";
const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// Governorates (three-letter code, weight) and some of their districts.
#[rustfmt::skip]
const DISTRICTS: &[(&str, u32, &[&str])] = &[
    ("CAI", 100, &["NSR", "HLW", "MAA", "SHB", "ZTN", "HLP", "MTR", "SAY", "MOK", "TGM"]),
    ("GIZ", 90, &["DOK", "HRM", "AGZ", "IMB", "OCT", "SHZ", "BLQ", "HAW"]),
    ("ALX", 55, &["MNT", "RML", "SDG", "AGM", "MHR", "ATR"]),
    ("SHR", 75, &["ZAG", "BLB", "HUS", "ABK", "FQS", "MNQ", "HHY"]),
    ("DAK", 67, &["MNS", "TLK", "MIT", "SNB", "BLK"]),
    ("GHR", 51, &["TNT", "MHL", "KFZ", "ZFT"]),
    ("QAL", 60, &["BNH", "SHK", "QLB", "KHN"]),
    ("MNF", 44, &["SHE", "MNF", "ASH", "SDT"]),
    ("BEH", 67, &["DMN", "KFD", "RSH"]),
    ("AST", 48, &["AST", "DYR", "ABN"]),
    ("MNY", 60, &["MNY", "MLW", "SMT"]),
    ("SHG", 55, &["SHG", "AKH", "GRG"]),
    ("FYM", 38, &["FYM", "SNR", "TMY"]),
    ("BNS", 33, &["BNS", "WST"]),
    ("ISM", 14, &["ISM", "QNT"]),
    ("SUZ", 7, &["ARB", "GNB"]),
    ("PTS", 8, &["SHQ", "MNK"]),
    ("DMT", 15, &["DMT", "RAS", "FRS"]),
    ("KFS", 36, &["KFS", "DSQ", "BLT"]),
    ("QNA", 35, &["QNA", "NGH"]),
    ("LXR", 13, &["LXR", "ESN"]),
    ("ASW", 15, &["ASW", "KOM", "EDF"]),
    ("RSE", 4, &["HRG"]),
    ("MAT", 5, &["MRS"]),
];

/// The real-estate fixtures of DOMAIN.md, exactly as tabled.
fn fixtures() -> Vec<PropertyRecord> {
    let property = |id: &str, owner: &str, registration_status, encumbered| PropertyRecord {
        property_id: id.to_owned(),
        owner_national_id: owner.to_owned(),
        registration_status,
        encumbered,
    };
    vec![
        property("SHR-ZAG-000123", "29001011300036", RegistrationStatus::Registered, false),
        property("CAI-NSR-004567", "28507150100022", RegistrationStatus::Registered, true),
        property("GIZ-DOK-000777", "24003202100031", RegistrationStatus::Pending, false),
    ]
}

/// Every property the registry knows: the fixtures, then the synthetic
/// properties in generation order.
#[derive(Debug)]
pub struct RealEstateRegistry {
    records: Vec<PropertyRecord>,
    fixtures: usize,
    index: HashMap<String, u32>,
}

/// The process-wide registry, built on first use.
pub fn registry() -> &'static RealEstateRegistry {
    static REGISTRY: OnceLock<RealEstateRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| RealEstateRegistry::generate(SEED, SYNTHETIC_SIZE, population()))
}

impl RealEstateRegistry {
    pub fn get(&self, property_id: &str) -> Option<&PropertyRecord> {
        self.index.get(property_id).map(|&i| &self.records[i as usize])
    }

    /// The synthetic properties in a stable order (never a fixture).
    pub fn synthetic(&self) -> &[PropertyRecord] {
        &self.records[self.fixtures..]
    }

    pub fn fixtures(&self) -> &[PropertyRecord] {
        &self.records[..self.fixtures]
    }

    fn generate(seed: u64, size: usize, population: &Population) -> RealEstateRegistry {
        let mut records = fixtures();
        let fixtures = records.len();
        let mut index: HashMap<String, u32> = HashMap::with_capacity(size + fixtures);
        for (i, record) in (0u32..).zip(&records) {
            index.insert(record.property_id.clone(), i);
        }
        let mut rng = SplitMix64(seed);
        let total_weight: u32 = DISTRICTS.iter().map(|(_, w, _)| w).sum();
        let owners = population.synthetic_len() as u64;

        while records.len() < fixtures + size {
            let (governorate, districts) = pick_governorate(&mut rng, total_weight);
            let district = districts[rng.below(districts.len() as u64) as usize];
            let number = NUMBERS.start() + rng.below(NUMBERS.end() - NUMBERS.start() + 1);
            let property_id = format!("{governorate}-{district}-{number:06}");
            if index.contains_key(&property_id) {
                continue;
            }
            let Some(owner) = population.synthetic_id(rng.below(owners) as usize) else { continue };
            let registration_status = match rng.below(100) {
                ..60 => RegistrationStatus::Registered,
                60..75 => RegistrationStatus::Pending,
                _ => RegistrationStatus::Unregistered,
            };
            let encumbered_per_cent = match registration_status {
                RegistrationStatus::Registered => 15,
                RegistrationStatus::Pending => 5,
                RegistrationStatus::Unregistered => 0,
            };
            let encumbered = rng.below(100) < encumbered_per_cent;
            index.insert(property_id.clone(), records.len() as u32);
            records.push(PropertyRecord {
                property_id,
                owner_national_id: owner.to_owned(),
                registration_status,
                encumbered,
            });
        }
        RealEstateRegistry { records, fixtures, index }
    }
}

fn pick_governorate(rng: &mut SplitMix64, total_weight: u32) -> (&'static str, &'static [&'static str]) {
    let mut roll = rng.below(u64::from(total_weight)) as u32;
    for &(code, weight, districts) in DISTRICTS {
        if roll < weight {
            return (code, districts);
        }
        roll -= weight;
    }
    (DISTRICTS[0].0, DISTRICTS[0].2)
}

/// `POST /real-estate/soap`
pub(super) async fn handle(request: Request<Incoming>) -> Response<Body> {
    if !soap_action_is_get_property(request.headers()) {
        return fault(FaultKind::UnsupportedOperation);
    }
    let Some(body) = read_body(request.into_body(), MAX_REQUEST_BYTES).await else {
        return fault(FaultKind::InvalidRequest);
    };
    let property_id = match codec::parse_request(&body) {
        Ok(id) => id,
        Err(kind) => return fault(kind),
    };
    if property_id.starts_with(SERVER_FAULT_PREFIX) {
        return fault(FaultKind::Internal);
    }
    match registry().get(&property_id) {
        Some(property) => xml(StatusCode::OK, codec::build_response(property)),
        None => fault(FaultKind::NotFound),
    }
}

/// SOAP 1.1 asks for the header; its value may be quoted or not.
fn soap_action_is_get_property(headers: &HeaderMap) -> bool {
    headers.get("soapaction").and_then(|value| value.to_str().ok()).map(|value| value.trim().trim_matches('"'))
        == Some(codec::SOAP_ACTION)
}

/// Faults go with HTTP 500, as SOAP 1.1 §6.2 says.
fn fault(kind: FaultKind) -> Response<Body> {
    xml(StatusCode::INTERNAL_SERVER_ERROR, codec::build_fault(kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn the_fixtures_are_registered_exactly_as_tabled_and_999999_is_absent() {
        let registry = registry();
        for fixture in fixtures() {
            assert_eq!(registry.get(&fixture.property_id), Some(&fixture));
        }
        let first = registry.get("SHR-ZAG-000123").expect("the first fixture");
        assert_eq!(first.owner_national_id, "29001011300036");
        assert_eq!(first.registration_status, RegistrationStatus::Registered);
        assert!(!first.encumbered);
        assert_eq!(registry.get("SHR-ZAG-999999"), None);
    }

    #[test]
    fn synthetic_properties_have_unique_well_formed_ids_and_owners_in_the_population() {
        let registry = registry();
        let population = population();
        assert!(registry.synthetic().len() >= 20_000);
        let fixture_ids: HashSet<String> = fixtures().into_iter().map(|f| f.property_id).collect();
        let mut ids = HashSet::new();
        let mut owners = HashSet::new();
        let mut statuses = HashMap::new();
        let mut encumbered = 0;
        for property in registry.synthetic() {
            let id = property.property_id.as_str();
            assert!(ids.insert(id), "duplicate {id}");
            assert!(!fixture_ids.contains(id));
            let parts: Vec<&str> = id.split('-').collect();
            assert_eq!(parts.len(), 3, "{id}");
            assert!(parts[..2].iter().all(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_uppercase())), "{id}");
            assert!(parts[2].len() == 6 && parts[2].bytes().all(|b| b.is_ascii_digit()), "{id}");
            let number: u64 = parts[2].parse().expect("digits");
            assert!(NUMBERS.contains(&number), "{id}");
            assert!(!id.starts_with(SERVER_FAULT_PREFIX));
            assert!(codec::property_id_is_well_formed(id));
            assert!(population.contains(&property.owner_national_id));
            assert!(!population.is_fixture(&property.owner_national_id));
            owners.insert(property.owner_national_id.as_str());
            *statuses.entry(property.registration_status).or_insert(0) += 1;
            encumbered += usize::from(property.encumbered);
            if property.registration_status == RegistrationStatus::Unregistered {
                assert!(!property.encumbered);
            }
            assert_eq!(registry.get(id), Some(property));
        }
        assert!(owners.len() < registry.synthetic().len(), "some citizens own several properties");
        assert!(statuses.len() == 3 && encumbered > 0);
    }

    #[test]
    fn every_district_code_is_three_letters_and_unique_within_its_governorate() {
        let mut governorates = HashSet::new();
        for (governorate, _, districts) in DISTRICTS {
            assert!(governorates.insert(governorate));
            assert_eq!(districts.iter().collect::<HashSet<_>>().len(), districts.len(), "{governorate}");
            for code in std::iter::once(governorate).chain(districts.iter()) {
                assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
            }
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_registry() {
        let again = RealEstateRegistry::generate(SEED, 500, population());
        assert_eq!(again.synthetic(), &registry().synthetic()[..500]);
        // Pinned values: if these change, every machine's sandbox changes.
        assert_eq!(registry().synthetic()[0].property_id, PINNED_FIRST_ID);
        let fnv = registry().synthetic().iter().fold(0xcbf2_9ce4_8422_2325u64, |h, p| {
            let line = format!(
                "{}/{}/{}/{}\n",
                p.property_id,
                p.owner_national_id,
                p.registration_status.as_str(),
                p.encumbered
            );
            line.bytes().fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
        });
        assert_eq!(fnv, PINNED_FNV);
    }

    const PINNED_FIRST_ID: &str = "DMT-RAS-624077";
    const PINNED_FNV: u64 = 12_200_721_145_903_123_524;
}
