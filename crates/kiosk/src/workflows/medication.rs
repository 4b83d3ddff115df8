//! What the doctor must see before prescribing: the patient's allergies and intolerances and their current
//! medication, gathered from everything the patient's history keys open (AllergyIntolerance and
//! MedicationStatement records, the emergency data set, and the prescriptions issued and dispensed anywhere), and
//! the warnings a new prescription raises against them. The check lives here, in the core: a screen or the CLI
//! only shows the warnings and passes back the ones the doctor confirmed.

use alloy::primitives::B256;
use carekiosk_records::{Resource, ATC_SYSTEM};
use serde::Serialize;

use super::history;
use crate::{Kiosk, KioskError, PatientSession};

/// How long a dispensed prescription counts as current medication.
pub const DISPENSED_CURRENT_DAYS: u64 = 90;

/// One allergy or intolerance on record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownAllergy {
    /// The substance or class as recorded ("penicillin").
    pub substance: String,
    /// Its ATC class, when coded or known from the name (J01C for penicillins).
    pub atc_class: Option<String>,
    /// High criticality.
    pub high: bool,
    /// Where it comes from: "record", "emergency set".
    pub source: String,
}

/// One medication the patient takes now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrentMedication {
    /// ATC code, when coded.
    pub atc: Option<String>,
    /// What it is.
    pub display: String,
    /// Where it comes from: "prescription 12 (ready)", "dispensed", "statement", "emergency set".
    pub source: String,
}

/// The patient's allergies and current medication.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MedicationOverview {
    /// Allergies and intolerances.
    pub allergies: Vec<KnownAllergy>,
    /// Current medication.
    pub current: Vec<CurrentMedication>,
}

/// A reason to think twice before prescribing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Warning {
    /// The drug is (in the class of) a substance the patient is allergic to.
    Allergy {
        /// The recorded allergy.
        substance: String,
        /// The drug prescribed.
        drug: String,
    },
    /// The patient already takes this drug, or another of the same chemical class.
    Duplicate {
        /// The drug prescribed.
        drug: String,
        /// What the patient already takes.
        current: String,
    },
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::Allergy { substance, drug } => {
                write!(
                    f,
                    "allergy: the patient is allergic to {substance}, and {drug} belongs to it"
                )
            }
            Warning::Duplicate { drug, current } => {
                write!(f, "duplicate: the patient already takes {current}; {drug} is the same drug or class")
            }
        }
    }
}

/// Allergy words and the ATC classes they name (a class allergy covers every drug in it).
const CLASS_WORDS: &[(&str, &str)] = &[
    ("penicillin", "J01C"),
    ("amoxicillin", "J01CA04"),
    ("cephalosporin", "J01D"),
    ("sulfonamide", "J01E"),
    ("sulfa", "J01E"),
    ("macrolide", "J01FA"),
    ("quinolone", "J01M"),
    ("tetracycline", "J01A"),
    ("nsaid", "M01A"),
    ("ibuprofen", "M01AE01"),
    ("aspirin", "N02BA01"),
    ("acetylsalicylic", "N02BA01"),
    ("opioid", "N02A"),
    ("codeine", "R05DA04"),
    ("ace inhibitor", "C09A"),
    ("statin", "C10AA"),
];

/// The ATC class an allergy text names, if it is a known word.
pub fn class_of_allergy(text: &str) -> Option<&'static str> {
    let t = text.to_lowercase();
    CLASS_WORDS
        .iter()
        .find(|(w, _)| t.contains(w))
        .map(|(_, c)| *c)
}

/// The chemical subgroup of an ATC code (its first five characters: J01CA for amoxicillin J01CA04).
pub fn chemical_class(atc: &str) -> &str {
    &atc[..atc.len().min(5)]
}

/// The warnings prescribing `atc` (`display` its name) raises against `overview`.
pub fn warnings(overview: &MedicationOverview, atc: &str, display: &str) -> Vec<Warning> {
    let atc = atc.trim().to_uppercase();
    let name = display.to_lowercase();
    let mut out = Vec::new();
    for a in &overview.allergies {
        let by_class = a
            .atc_class
            .as_deref()
            .is_some_and(|c| !c.is_empty() && atc.starts_with(&c.to_uppercase()));
        let s = a.substance.to_lowercase();
        let by_name = !s.trim().is_empty()
            && (name.contains(s.trim())
                || name
                    .split_whitespace()
                    .next()
                    .is_some_and(|w| s.contains(w)));
        if by_class || by_name {
            let w = Warning::Allergy {
                substance: a.substance.clone(),
                drug: display.to_string(),
            };
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    for m in &overview.current {
        let same = m.atc.as_deref().is_some_and(|c| {
            let c = c.to_uppercase();
            c == atc
                || (c.len() >= 5 && atc.len() >= 5 && chemical_class(&c) == chemical_class(&atc))
        }) || (m.atc.is_none()
            && name
                .split_whitespace()
                .next()
                .is_some_and(|w| m.display.to_lowercase().contains(w)));
        if same {
            let w = Warning::Duplicate {
                drug: display.to_string(),
                current: m.display.clone(),
            };
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

fn atc_of(c: &carekiosk_records::CodeableConcept) -> Option<String> {
    c.coding
        .iter()
        .find(|k| {
            k.system.as_deref() == Some(ATC_SYSTEM)
                || k.system.as_deref().is_some_and(|s| s.contains("atc"))
        })
        .and_then(|k| k.code.clone())
}

fn text_of(c: &carekiosk_records::CodeableConcept) -> String {
    c.text
        .clone()
        .or_else(|| c.coding.iter().find_map(|k| k.display.clone()))
        .or_else(|| c.coding.iter().find_map(|k| k.code.clone()))
        .unwrap_or_default()
}

/// The patient's allergies and current medication, from their history (opened with the card: one card
/// operation per visit) and their prescriptions on chain.
pub async fn overview(k: &Kiosk, s: &mut PatientSession) -> Result<MedicationOverview, KioskError> {
    let entries = history(k, s).await?;
    let mut o = MedicationOverview::default();
    // Records, newest last: an amendment replaces what it supersedes.
    let superseded: std::collections::HashSet<u64> =
        entries.iter().filter_map(|e| e.supersedes).collect();
    let mut emergency = None;
    for e in entries.iter().filter(|e| !superseded.contains(&e.index)) {
        match &e.resource {
            Some(Resource::AllergyIntolerance(a)) => {
                let active = a
                    .clinical_status
                    .as_ref()
                    .and_then(|c| c.coding.first())
                    .and_then(|k| k.code.as_deref())
                    .is_none_or(|c| c == "active");
                if let (true, Some(code)) = (active, &a.code) {
                    let substance = text_of(code);
                    o.allergies.push(KnownAllergy {
                        atc_class: atc_of(code)
                            .or_else(|| class_of_allergy(&substance).map(str::to_string)),
                        substance,
                        high: a.criticality.as_deref() == Some("high"),
                        source: "record".into(),
                    });
                }
            }
            Some(Resource::MedicationStatement(m)) if m.status == "active" => {
                o.current.push(CurrentMedication {
                    atc: atc_of(&m.medication_codeable_concept),
                    display: text_of(&m.medication_codeable_concept),
                    source: "statement".into(),
                });
            }
            Some(Resource::EmergencySet(b)) => emergency = Some(b.set.clone()),
            _ => {}
        }
    }
    if let Some(set) = emergency {
        for a in set.allergies {
            if !o
                .allergies
                .iter()
                .any(|x| x.substance.eq_ignore_ascii_case(&a.substance))
            {
                o.allergies.push(KnownAllergy {
                    atc_class: class_of_allergy(&a.substance).map(str::to_string),
                    substance: a.substance,
                    high: a.high,
                    source: "emergency set".into(),
                });
            }
        }
        for m in set.medications {
            o.current.push(CurrentMedication {
                atc: None,
                display: m,
                source: "emergency set".into(),
            });
        }
    }
    // Prescriptions issued anywhere: ready ones, and those dispensed in the last 90 days.
    let now = Kiosk::now();
    for p in k.store.prescriptions_of(&s.patient_id().0)? {
        use carekiosk_store::PrescriptionStatus as St;
        let source = match p.status {
            St::Ready if p.valid_until == 0 || p.valid_until >= now => {
                format!("prescription {} (ready)", p.id)
            }
            St::Completed
                if p.closed_in.is_some()
                    && p.issued_at + (DISPENSED_CURRENT_DAYS + 28) * 86_400 >= now =>
            {
                format!("prescription {} (dispensed)", p.id)
            }
            _ => continue,
        };
        let Ok(sealed) = k
            .indexer
            .sealed_payload(B256::from(p.tx_hash), p.content_hash)
            .await
        else {
            continue;
        };
        if let Ok(Resource::MedicationRequest(r)) = s.open(&sealed) {
            o.current.push(CurrentMedication {
                atc: atc_of(&r.medication_codeable_concept),
                display: text_of(&r.medication_codeable_concept),
                source,
            });
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allergy(s: &str, class: Option<&str>) -> KnownAllergy {
        KnownAllergy {
            substance: s.into(),
            atc_class: class.map(str::to_string),
            high: true,
            source: "record".into(),
        }
    }

    fn med(atc: Option<&str>, d: &str) -> CurrentMedication {
        CurrentMedication {
            atc: atc.map(str::to_string),
            display: d.into(),
            source: "statement".into(),
        }
    }

    #[test]
    fn a_class_allergy_warns_for_every_drug_in_the_class_and_only_those() {
        let o = MedicationOverview {
            allergies: vec![allergy("penicillin", Some("J01C"))],
            current: vec![],
        };
        assert_eq!(warnings(&o, "J01CA04", "amoxicillin").len(), 1);
        assert_eq!(warnings(&o, "J01CE02", "phenoxymethylpenicillin").len(), 1);
        assert!(warnings(&o, "J01FA10", "azithromycin").is_empty());
        assert!(warnings(&o, "C09AA05", "ramipril").is_empty());
    }

    #[test]
    fn an_allergy_written_as_text_is_matched_by_its_class_word_or_the_drug_name() {
        let o = MedicationOverview {
            allergies: vec![allergy(
                "Penicillin (hives)",
                class_of_allergy("Penicillin (hives)"),
            )],
            current: vec![],
        };
        assert!(matches!(
            warnings(&o, "J01CA04", "amoxicillin")[..],
            [Warning::Allergy { .. }]
        ));
        let o = MedicationOverview {
            allergies: vec![allergy("ibuprofen", None)],
            current: vec![],
        };
        assert_eq!(warnings(&o, "M01AE01", "ibuprofen 400 mg").len(), 1);
    }

    #[test]
    fn the_same_drug_or_chemical_class_is_a_duplicate() {
        let o = MedicationOverview {
            allergies: vec![],
            current: vec![
                med(Some("C09AA05"), "ramipril"),
                med(None, "metformin 500 mg 1-0-1"),
            ],
        };
        assert!(matches!(
            warnings(&o, "C09AA05", "ramipril")[..],
            [Warning::Duplicate { .. }]
        ));
        assert_eq!(
            warnings(&o, "C09AA02", "enalapril").len(),
            1,
            "same class C09AA"
        );
        assert_eq!(
            warnings(&o, "A10BA02", "metformin").len(),
            1,
            "by name when not coded"
        );
        assert!(warnings(&o, "C07AB07", "bisoprolol").is_empty());
    }
}
