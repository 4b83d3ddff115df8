//! ICD-10-CM, the US clinical modification of ICD-10: every **billable** code of the April 2026 release (FY2026,
//! 74,719 codes) with its full title, so a doctor picks a diagnosis rather than types a code.
//!
//! The list is `data/icd10cm-2026-04.tsv.gz` (552 KB, embedded in the binary), generated from the NCHS/CMS
//! files by `data/generate.py`; `data/SOURCE.md` names the source, version and licence (public domain). It is
//! decompressed and indexed once, at the first call into this module (about 30 ms in a release build, 0.3 s in a
//! debug one; [`preload`] does it up front), and then stays in memory (about 16 MiB). A search takes well under
//! 10 ms per keystroke (`docs/benchmarks.md`, "Code sets").
//!
//! Only billable codes are in the list: a category that has subdivisions (`J45.9`, `M54.5`) is not a diagnosis
//! one may record, its subdivisions are (`J45.909`, `M54.50`).

use std::sync::OnceLock;

use crate::catalog::Index;
use crate::fhir::{
    CodeableConcept, Coding, Condition, Reference, CONDITION_CATEGORY_SYSTEM,
    CONDITION_CLINICAL_SYSTEM, CONDITION_VERIFICATION_SYSTEM,
};

pub use crate::catalog::SEARCH_LIMIT;

/// FHIR's URI for ICD-10-CM.
pub const SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10-cm";

/// FHIR's URI for WHO ICD-10, the system of the kiosk's earlier 51-code list. Still read: a diagnosis coded with it
/// is accepted when its code is an ICD-10-CM billable code too (`I10`, `E11.9`, `J06.9`, …).
pub const WHO_SYSTEM: &str = "http://hl7.org/fhir/sid/icd-10";

/// The ICD-10-CM release of the list.
pub const VERSION: &str = "2026-04";

/// The list, gzip-compressed: `CODE TAB TITLE` lines sorted by code, after one `#` comment line.
static DATA: &[u8] = include_bytes!("../data/icd10cm-2026-04.tsv.gz");

/// One ICD-10-CM code with its title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Icd10Code {
    /// The code, with the dot (`J06.9`).
    pub code: &'static str,
    /// The official title (long description).
    pub display: &'static str,
}

impl Icd10Code {
    /// An active, confirmed encounter diagnosis of `subject` with this code.
    pub fn diagnosis(&self, subject: Reference) -> Condition {
        Condition {
            clinical_status: Some(CodeableConcept::system_code(
                CONDITION_CLINICAL_SYSTEM,
                "active",
            )),
            verification_status: Some(CodeableConcept::system_code(
                CONDITION_VERIFICATION_SYSTEM,
                "confirmed",
            )),
            category: vec![CodeableConcept::system_code(
                CONDITION_CATEGORY_SYSTEM,
                "encounter-diagnosis",
            )],
            code: Some(self.codeable_concept()),
            subject,
            ..Condition::default()
        }
    }

    /// The FHIR coding (system [`SYSTEM`]).
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

    /// The three-character category (`E11` for `E11.9`): codes of one category are one kind of condition.
    pub fn category(&self) -> &'static str {
        &self.code[..3]
    }
}

struct CodeSet {
    codes: Vec<Icd10Code>,
    index: Index,
}

static SET: OnceLock<CodeSet> = OnceLock::new();

fn set() -> &'static CodeSet {
    SET.get_or_init(|| {
        // Decompressed once and kept for the life of the process: every entry borrows from it.
        let text: &'static str = Box::leak(crate::catalog::gunzip(DATA).into_boxed_str());
        let codes: Vec<Icd10Code> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (code, display) = l.split_once('\t').expect("CODE TAB TITLE");
                Icd10Code { code, display }
            })
            .collect();
        let index = Index::new(codes.iter().map(|c| (c.code, c.display)));
        CodeSet { codes, index }
    })
}

/// Every billable code, in code order.
pub fn all() -> &'static [Icd10Code] {
    &set().codes
}

/// Loads and indexes the list now rather than at the first lookup or search (for a kiosk to do at start).
pub fn preload() {
    set();
}

/// The entry for `code` (case-insensitive, the dot optional: `j069` finds `J06.9`).
pub fn lookup(code: &str) -> Option<&'static Icd10Code> {
    let want: Vec<u8> = code
        .trim()
        .bytes()
        .filter(|b| *b != b'.')
        .map(|b| b.to_ascii_uppercase())
        .collect();
    if want.is_empty() {
        return None;
    }
    let codes = &set().codes;
    codes
        .binary_search_by(|c| {
            c.code
                .bytes()
                .filter(|b| *b != b'.')
                .cmp(want.iter().copied())
        })
        .ok()
        .map(|i| &codes[i])
}

/// The best [`SEARCH_LIMIT`] (50) codes matching every word of `query` in their code or title, case- and
/// accent-insensitively: code prefix first (in code order), then titles starting with the query, then a title word
/// starting with it, then anywhere, shorter titles first within each (see [`search_limit`]). An empty query lists
/// the first codes.
pub fn search(query: &str) -> Vec<&'static Icd10Code> {
    search_limit(query, SEARCH_LIMIT)
}

/// [`search`] with another limit on the number of hits.
pub fn search_limit(query: &str, limit: usize) -> Vec<&'static Icd10Code> {
    let set = set();
    set.index
        .search(query, limit)
        .into_iter()
        .map(|i| &set.codes[i])
        .collect()
}
