//! The simulated patients: names, birth dates, diagnoses and drugs (what the privacy scanner looks for), and
//! their PINs.

use alloy::primitives::B256;
use rand_core::{OsRng, RngCore};

use crate::privacy::Needle;

const GIVEN: [&str; 20] = [
    "Amelia", "Bruno", "Clara", "Dario", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Karla", "Lorenz", "Mira", "Nils", "Olga", "Paulus", "Quirin", "Rosalind", "Sven", "Tilda",
];
const FAMILY: [&str; 25] = [
    "Achterberg",
    "Brennecke",
    "Castellanos",
    "Dimitriou",
    "Eberhardt",
    "Falkenrath",
    "Gundersen",
    "Hollstein",
    "Ivanova",
    "Jaworski",
    "Kowalczyk",
    "Lindqvist",
    "Morgenstern",
    "Nakamura",
    "Oyelaran",
    "Pettersson",
    "Quaresma",
    "Rasmussen",
    "Szczepanski",
    "Thorvaldsen",
    "Urquhart",
    "Vasquez-Lind",
    "Wojcik",
    "Yilmazer",
    "Zimmerling",
];
pub(crate) const DIAGNOSES: [(&str, &str, [&str; 2]); 6] = [
    (
        "J06.9",
        "sore throat and mild fever for three days",
        ["rest and plenty of fluids", "return if fever persists"],
    ),
    (
        "I10",
        "blood pressure above target on three readings",
        [
            "low-salt diet for three months",
            "home blood pressure diary",
        ],
    ),
    (
        "J20.9",
        "productive cough for ten days, no dyspnoea",
        ["steam inhalation twice daily", "stop smoking counselling"],
    ),
    (
        "M54.50",
        "lower back pain after lifting furniture",
        ["daily stretching programme", "physiotherapy referral"],
    ),
    (
        "J02.9",
        "painful swallowing since the weekend",
        ["warm saline gargles", "soft diet for a week"],
    ),
    (
        "J45.909",
        "wheezing at night twice a week",
        ["inhaler technique training", "avoid known triggers"],
    ),
];
const DRUGS: [&str; 5] = ["J01CA04", "C09AA05", "N02BE01", "J01FA10", "H03AA01"];

/// One simulated patient (the demo data the privacy scanner looks for).
#[derive(Clone)]
pub struct Patient {
    pub(crate) name: String,
    pub(crate) birth_date: String,
    pub(crate) diagnosis: usize,
    pub(crate) drug: &'static carekiosk_records::formulary::Drug,
    pub(crate) pin: String,
    pub(crate) id: Option<B256>,
}

impl Patient {
    pub(crate) fn new(n: usize) -> Patient {
        let letter = (b'A' + ((n / 500) % 26) as u8) as char;
        let name = format!("{} {letter}. {}", GIVEN[n % 20], FAMILY[(n / 20) % 25]);
        let day = 365 + (n as i64 * 7919) % 15_000;
        let birth_date = carekiosk_records::FhirDate::from_unix_seconds(day * 86_400).to_string();
        let drug = DRUGS
            .iter()
            .cycle()
            .skip(n % DRUGS.len())
            .find_map(|c| carekiosk_records::formulary::lookup(c))
            .expect("a formulary drug");
        Patient {
            name,
            birth_date,
            diagnosis: n % DIAGNOSES.len(),
            drug,
            pin: scan_safe_pin(),
            id: None,
        }
    }

    pub(crate) fn needles(&self) -> Vec<Needle> {
        let (code, note, plan) = DIAGNOSES[self.diagnosis];
        let display = carekiosk_records::icd10::lookup(code)
            .map(|c| c.display)
            .unwrap_or(code);
        let mut v = vec![
            Needle::new("patient name", &self.name),
            Needle::new("birth date", &self.birth_date),
            Needle::new("diagnosis text", display),
            Needle::new("diagnosis note", note),
            Needle::new("drug name", self.drug.name),
            Needle::new("dosage text", self.drug.default_dosage),
            Needle::new("PIN", &self.pin),
        ];
        v.extend(plan.iter().map(|p| Needle::new("care plan text", p)));
        v
    }
}

/// A random 8-character PIN the privacy scan can look for without false alarms: from letters that never occur in
/// hex or decimal numbers (a random 8-digit PIN is found by chance in the logs' hashes, amounts and timings, about
/// one run in a few). The card takes any ASCII PIN; the desks' PIN pad uses digits.
fn scan_safe_pin() -> String {
    const ALPHABET: &[u8] = b"ghjkmnpqrstuvwxyz";
    (0..8)
        .map(|_| char::from(ALPHABET[(OsRng.next_u32() as usize) % ALPHABET.len()]))
        .collect()
}
