//! A small subset of WHO ICD-10 (2019 edition) diagnoses common in primary and hospital outpatient care, so a
//! doctor picks a diagnosis rather than types a code. Codes and titles are WHO ICD-10's (not ICD-10-CM's).

use crate::fhir::{CodeableConcept, Coding};

/// FHIR's URI for ICD-10.
pub const SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10";

/// One ICD-10 code with its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icd10Code {
    /// The code, with the dot (`J06.9`).
    pub code: &'static str,
    /// WHO title.
    pub display: &'static str,
}

impl Icd10Code {
    /// The FHIR coding.
    pub fn coding(&self) -> Coding {
        Coding::new(SYSTEM, self.code, self.display)
    }

    /// A CodeableConcept with this coding (its display is the title; no separate text).
    pub fn codeable_concept(&self) -> CodeableConcept {
        CodeableConcept {
            coding: vec![self.coding()],
            text: None,
        }
    }
}

const fn c(code: &'static str, display: &'static str) -> Icd10Code {
    Icd10Code { code, display }
}

static CODES: &[Icd10Code] = &[
    // Infections
    c("A01.0", "Typhoid fever"),
    c("A09.9", "Gastroenteritis and colitis of unspecified origin"),
    c("B34.9", "Viral infection, unspecified"),
    c("B54", "Unspecified malaria"),
    c("U07.1", "COVID-19, virus identified"),
    // Blood, endocrine, metabolic
    c("D50.9", "Iron deficiency anaemia, unspecified"),
    c("E03.9", "Hypothyroidism, unspecified"),
    c("E10.9", "Type 1 diabetes mellitus without complications"),
    c("E11.9", "Type 2 diabetes mellitus without complications"),
    c("E55.9", "Vitamin D deficiency, unspecified"),
    c("E66.9", "Obesity, unspecified"),
    c("E78.5", "Hyperlipidaemia, unspecified"),
    // Mental, nervous system
    c("F32.9", "Depressive episode, unspecified"),
    c("F41.1", "Generalized anxiety disorder"),
    c("G40.9", "Epilepsy, unspecified"),
    c("G43.9", "Migraine, unspecified"),
    // Eye, ear
    c("H10.9", "Conjunctivitis, unspecified"),
    c("H66.9", "Otitis media, unspecified"),
    // Circulatory
    c("I10", "Essential (primary) hypertension"),
    c("I20.9", "Angina pectoris, unspecified"),
    c("I25.9", "Chronic ischaemic heart disease, unspecified"),
    c(
        "I48.9",
        "Atrial fibrillation and atrial flutter, unspecified",
    ),
    c("I50.9", "Heart failure, unspecified"),
    c("I63.9", "Cerebral infarction, unspecified"),
    // Respiratory
    c("J00", "Acute nasopharyngitis [common cold]"),
    c("J02.9", "Acute pharyngitis, unspecified"),
    c("J03.9", "Acute tonsillitis, unspecified"),
    c("J06.9", "Acute upper respiratory infection, unspecified"),
    c("J18.9", "Pneumonia, unspecified"),
    c("J20.9", "Acute bronchitis, unspecified"),
    c("J30.4", "Allergic rhinitis, unspecified"),
    c(
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
    ),
    c("J45.9", "Asthma, unspecified"),
    // Digestive
    c(
        "K21.9",
        "Gastro-oesophageal reflux disease without oesophagitis",
    ),
    c("K29.7", "Gastritis, unspecified"),
    c("K59.0", "Constipation"),
    // Skin
    c("L20.9", "Atopic dermatitis, unspecified"),
    c("L30.9", "Dermatitis, unspecified"),
    // Musculoskeletal
    c("M17.9", "Gonarthrosis, unspecified"),
    c("M54.5", "Low back pain"),
    c("M79.1", "Myalgia"),
    c("M81.9", "Osteoporosis, unspecified"),
    // Genitourinary
    c("N30.0", "Acute cystitis"),
    c("N39.0", "Urinary tract infection, site not specified"),
    // Symptoms
    c("R05", "Cough"),
    c("R10.4", "Other and unspecified abdominal pain"),
    c("R50.9", "Fever, unspecified"),
    c("R51", "Headache"),
    // Injury, other
    c("S93.4", "Sprain and strain of ankle"),
    c("T78.4", "Allergy, unspecified"),
    c("Z00.0", "General medical examination"),
];

/// Every code in the subset, in chapter order.
pub fn all() -> &'static [Icd10Code] {
    CODES
}

/// The entry for `code` (case-insensitive, the dot optional: `j069` finds `J06.9`).
pub fn lookup(code: &str) -> Option<&'static Icd10Code> {
    let want = normalise_code(code);
    if want.is_empty() {
        return None;
    }
    CODES.iter().find(|c| normalise_code(c.code) == want)
}

/// Codes matching every word of `query` in their code or title, case-insensitively; best matches first (code
/// prefix, then a title word starting with the query, then anywhere), chapter order otherwise. An empty query
/// lists everything, for a picker.
pub fn search(query: &str) -> Vec<&'static Icd10Code> {
    crate::catalog_search(CODES, query, |c| (c.code, c.display.to_string()))
}

fn normalise_code(code: &str) -> String {
    code.trim()
        .chars()
        .filter(|c| *c != '.')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
