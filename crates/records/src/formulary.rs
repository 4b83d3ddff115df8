//! The kiosk's formulary: common essential medicines, so a doctor picks a drug rather than types one. Each entry
//! is one product, keyed by its WHO ATC code (one strength and form per substance in this list).
//!
//! The list is the project's own, curated by hand (`data/SOURCE.md` says why it is not a complete, published ATC
//! index: none with a licence that allows shipping it could be had). Its ATC codes give each drug its **class**,
//! the ATC chemical subgroup (the first five characters: `J01CA`, *penicillins with extended spectrum*), which
//! the allergy and duplicate-therapy checks compare ([`Drug::class`], [`class_of`], [`same_class`]).
//!
//! The default dosage texts are common adult regimens offered as a starting point; the prescriber edits them.

use std::sync::OnceLock;

use crate::catalog::Index;
use crate::fhir::{
    CodeableConcept, Coding, DispenseRequest, Dosage, MedicationRequest, MedicationRequestIntent,
    MedicationRequestStatus, Period, Quantity, Reference,
};

pub use crate::catalog::SEARCH_LIMIT;

/// FHIR's URI for the WHO ATC classification.
pub const SYSTEM: &str = "http://www.whocc.no/atc";

/// One formulary product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drug {
    /// WHO ATC code (level 5, e.g. `J01CA04`).
    pub code: &'static str,
    /// International non-proprietary name.
    pub name: &'static str,
    /// Strength (`500 mg`).
    pub strength: &'static str,
    /// Dose form (`capsule`).
    pub form: &'static str,
    /// A usual adult dosage, for the prescriber to adapt.
    pub default_dosage: &'static str,
}

impl Drug {
    /// An active order for this drug with its default dosage, `quantity` of its form, valid in `validity` (FHIR
    /// date strings).
    pub fn prescription(
        &self,
        subject: Reference,
        quantity: f64,
        validity: Period,
    ) -> MedicationRequest {
        MedicationRequest {
            id: None,
            status: MedicationRequestStatus::Active,
            intent: MedicationRequestIntent::Order,
            medication_codeable_concept: self.codeable_concept(),
            subject,
            encounter: None,
            authored_on: None,
            requester: None,
            reason_reference: Vec::new(),
            dosage_instruction: vec![self.dosage()],
            dispense_request: Some(DispenseRequest {
                validity_period: Some(validity),
                number_of_repeats_allowed: None,
                quantity: Some(Quantity::new(quantity, self.form)),
            }),
            substitution: None,
            note: Vec::new(),
        }
    }

    /// `"Amoxicillin 500 mg capsule"`.
    pub fn display(&self) -> String {
        format!("{} {} {}", self.name, self.strength, self.form)
    }

    /// The ATC coding (display: the substance name).
    pub fn coding(&self) -> Coding {
        Coding::new(SYSTEM, self.code, self.name)
    }

    /// `medicationCodeableConcept`: the ATC coding, and the product (name, strength, form) as text.
    pub fn codeable_concept(&self) -> CodeableConcept {
        CodeableConcept {
            coding: vec![self.coding()],
            text: Some(self.display()),
        }
    }

    /// The default dosage as a FHIR Dosage.
    pub fn dosage(&self) -> Dosage {
        Dosage::text(self.default_dosage)
    }

    /// The drug's class: its ATC chemical subgroup, the first five characters of the code (`J01CA` for
    /// amoxicillin, `J01CA04`). Two drugs of one class are alike for an allergy or a duplicate-therapy check.
    pub fn class(&self) -> &'static str {
        &self.code[..5]
    }
}

const fn d(
    code: &'static str,
    name: &'static str,
    strength: &'static str,
    form: &'static str,
    default_dosage: &'static str,
) -> Drug {
    Drug {
        code,
        name,
        strength,
        form,
        default_dosage,
    }
}

static DRUGS: &[Drug] = &[
    // A: alimentary tract and metabolism
    d(
        "A02BC01",
        "Omeprazole",
        "20 mg",
        "capsule",
        "1 capsule once daily before breakfast",
    ),
    d(
        "A03FA01",
        "Metoclopramide",
        "10 mg",
        "tablet",
        "1 tablet up to 3 times daily for at most 5 days",
    ),
    d(
        "A06AD11",
        "Lactulose",
        "667 mg/ml",
        "oral solution",
        "15 ml twice daily",
    ),
    d(
        "A10BA02",
        "Metformin",
        "500 mg",
        "tablet",
        "1 tablet twice daily with meals",
    ),
    d(
        "A10BB09",
        "Gliclazide",
        "80 mg",
        "tablet",
        "1 tablet once daily with breakfast",
    ),
    d(
        "A11CC05",
        "Colecalciferol",
        "1000 IU",
        "tablet",
        "1 tablet once daily",
    ),
    // B: blood
    d(
        "B01AC06",
        "Acetylsalicylic acid",
        "100 mg",
        "tablet",
        "1 tablet once daily",
    ),
    d(
        "B01AF01",
        "Rivaroxaban",
        "20 mg",
        "tablet",
        "1 tablet once daily with the evening meal",
    ),
    d(
        "B03AA07",
        "Ferrous sulfate",
        "200 mg",
        "tablet",
        "1 tablet twice daily",
    ),
    // C: cardiovascular
    d(
        "C03AA03",
        "Hydrochlorothiazide",
        "25 mg",
        "tablet",
        "1 tablet once daily in the morning",
    ),
    d(
        "C03CA01",
        "Furosemide",
        "40 mg",
        "tablet",
        "1 tablet once daily in the morning",
    ),
    d(
        "C07AB07",
        "Bisoprolol",
        "5 mg",
        "tablet",
        "1 tablet once daily",
    ),
    d(
        "C08CA01",
        "Amlodipine",
        "5 mg",
        "tablet",
        "1 tablet once daily",
    ),
    d(
        "C09AA05",
        "Ramipril",
        "5 mg",
        "capsule",
        "1 capsule once daily",
    ),
    d(
        "C09CA01",
        "Losartan",
        "50 mg",
        "tablet",
        "1 tablet once daily",
    ),
    d(
        "C10AA05",
        "Atorvastatin",
        "20 mg",
        "tablet",
        "1 tablet once daily in the evening",
    ),
    // D: dermatologicals
    d(
        "D07AA02",
        "Hydrocortisone",
        "1 %",
        "cream",
        "Apply thinly to the affected skin twice daily for up to 7 days",
    ),
    // H: systemic hormones
    d(
        "H02AB06",
        "Prednisolone",
        "5 mg",
        "tablet",
        "8 tablets (40 mg) once daily in the morning for 5 days",
    ),
    d(
        "H03AA01",
        "Levothyroxine sodium",
        "50 micrograms",
        "tablet",
        "1 tablet once daily 30 minutes before breakfast",
    ),
    // J: anti-infectives
    d(
        "J01CA04",
        "Amoxicillin",
        "500 mg",
        "capsule",
        "1 capsule three times daily for 5 days",
    ),
    d(
        "J01CR02",
        "Amoxicillin and clavulanic acid",
        "875 mg/125 mg",
        "tablet",
        "1 tablet twice daily with food for 7 days",
    ),
    d(
        "J01EE01",
        "Sulfamethoxazole and trimethoprim",
        "800 mg/160 mg",
        "tablet",
        "1 tablet twice daily for 3 days",
    ),
    d(
        "J01FA10",
        "Azithromycin",
        "500 mg",
        "tablet",
        "1 tablet once daily for 3 days",
    ),
    d(
        "J01MA02",
        "Ciprofloxacin",
        "500 mg",
        "tablet",
        "1 tablet twice daily for 3 days",
    ),
    d(
        "J01XE01",
        "Nitrofurantoin",
        "100 mg",
        "capsule",
        "1 capsule twice daily with food for 5 days",
    ),
    d(
        "J02AC01",
        "Fluconazole",
        "150 mg",
        "capsule",
        "1 capsule as a single dose",
    ),
    // M: musculoskeletal
    d(
        "M01AB05",
        "Diclofenac",
        "50 mg",
        "tablet",
        "1 tablet up to 3 times daily with food, for at most 7 days",
    ),
    d(
        "M01AE01",
        "Ibuprofen",
        "400 mg",
        "tablet",
        "1 tablet every 8 hours with food as needed",
    ),
    // N: nervous system
    d(
        "N02BE01",
        "Paracetamol",
        "500 mg",
        "tablet",
        "1 to 2 tablets every 4 to 6 hours as needed, at most 8 tablets in 24 hours",
    ),
    d(
        "N02CC01",
        "Sumatriptan",
        "50 mg",
        "tablet",
        "1 tablet at the onset of migraine; if it returns, a second tablet after at least 2 hours",
    ),
    d(
        "N06AB06",
        "Sertraline",
        "50 mg",
        "tablet",
        "1 tablet once daily",
    ),
    // P: antiparasitic
    d(
        "P01BF01",
        "Artemether and lumefantrine",
        "20 mg/120 mg",
        "tablet",
        "4 tablets with food at 0, 8, 24, 36, 48 and 60 hours (adult, 6 doses)",
    ),
    d(
        "P02CA01",
        "Mebendazole",
        "100 mg",
        "tablet",
        "1 tablet twice daily for 3 days",
    ),
    // R: respiratory
    d(
        "R03AC02",
        "Salbutamol",
        "100 micrograms/dose",
        "pressurised inhalation",
        "1 to 2 puffs when needed, at most 4 times daily",
    ),
    d(
        "R03BA02",
        "Budesonide",
        "200 micrograms/dose",
        "inhalation powder",
        "1 inhalation twice daily; rinse the mouth afterwards",
    ),
    d(
        "R06AE07",
        "Cetirizine",
        "10 mg",
        "tablet",
        "1 tablet once daily",
    ),
    d(
        "R06AX13",
        "Loratadine",
        "10 mg",
        "tablet",
        "1 tablet once daily",
    ),
    // S: sensory organs
    d(
        "S01AA01",
        "Chloramphenicol",
        "0.5 %",
        "eye drops",
        "1 drop in the affected eye every 2 hours for 2 days, then 4 times daily for 5 days",
    ),
];

/// Every drug in the formulary, in ATC order.
pub fn all() -> &'static [Drug] {
    DRUGS
}

/// The class ([`Drug::class`], the ATC chemical subgroup) of a level-5 ATC code, case-insensitively: `J01CA`
/// for `j01ca04`. Works for any well-formed code, in the formulary or not (an allergy recorded elsewhere);
/// `None` for anything that is not a level-5 ATC code.
pub fn class_of(code: &str) -> Option<String> {
    let code = code.trim();
    let b = code.as_bytes();
    let well_formed = b.len() == 7
        && b[0].is_ascii_alphabetic()
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3..5].iter().all(u8::is_ascii_alphabetic)
        && b[5..7].iter().all(u8::is_ascii_digit);
    well_formed.then(|| code[..5].to_ascii_uppercase())
}

/// Whether two level-5 ATC codes are of one class (see [`class_of`]); `false` when either is not such a code.
pub fn same_class(a: &str, b: &str) -> bool {
    matches!((class_of(a), class_of(b)), (Some(x), Some(y)) if x == y)
}

/// The drug with ATC `code` (case-insensitive).
pub fn lookup(code: &str) -> Option<&'static Drug> {
    let code = code.trim();
    DRUGS.iter().find(|d| d.code.eq_ignore_ascii_case(code))
}

/// The best [`SEARCH_LIMIT`] (50) drugs matching every word of `query` in their ATC code, name, strength or
/// form, case- and accent-insensitively: code prefix first, then names starting with the query, then a word
/// starting with it, then anywhere, shorter texts first within each (the ranking of [`crate::icd10::search`]).
/// An empty query lists the first drugs, in ATC order.
pub fn search(query: &str) -> Vec<&'static Drug> {
    search_limit(query, SEARCH_LIMIT)
}

/// [`search`] with another limit on the number of hits.
pub fn search_limit(query: &str, limit: usize) -> Vec<&'static Drug> {
    static INDEX: OnceLock<Index> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let texts: Vec<String> = DRUGS.iter().map(Drug::display).collect();
        Index::new(DRUGS.iter().zip(&texts).map(|(d, t)| (d.code, t.as_str())))
    });
    index
        .search(query, limit)
        .into_iter()
        .map(|i| &DRUGS[i])
        .collect()
}
