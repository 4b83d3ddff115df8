//! Every resource type carekiosk writes, validated by an independent FHIR R4 implementation
//! (`tests/fhir/validate.py`: fhir.resources 6.4.0, models generated from the official R4 StructureDefinitions),
//! not by our own types. The validator lives in `tests/fhir/.venv` (scripts/setup.sh); `CAREKIOSK_FHIR_PYTHON`
//! names another interpreter. The test fails, never skips, when the validator is missing.

mod common;

use carekiosk_records::emergency::{Allergy, Contact, EmergencySet};
use carekiosk_records::{EmergencyBundle, Reference, Resource};

fn validate(resources: &[Resource]) -> (bool, String) {
    let json: Vec<serde_json::Value> = resources
        .iter()
        .map(|r| serde_json::from_slice(&r.to_json().unwrap()).unwrap())
        .collect();
    validate_json("all", &serde_json::Value::Array(json))
}

/// Runs the validator on `json` (a resource or an array of them): whether it passed, and what it printed.
fn validate_json(label: &str, json: &serde_json::Value) -> (bool, String) {
    let python = std::env::var("CAREKIOSK_FHIR_PYTHON").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fhir/.venv/bin/python"
        )
        .to_string()
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fhir/validate.py");
    let file = std::env::temp_dir().join(format!(
        "carekiosk-records-fhir-{label}-{}.json",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec(json).unwrap()).unwrap();
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&file)
        .output()
        .unwrap_or_else(|e| {
            panic!("the FHIR validator ({python}) cannot run: {e} — run scripts/setup.sh")
        });
    let _ = std::fs::remove_file(&file);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_kind_validates_against_fhir_r4() {
    let mut all = common::all();
    all.push(Resource::EmergencySet(EmergencyBundle {
        subject: Reference::patient(&common::PATIENT_ID),
        set: EmergencySet {
            allergies: vec![Allergy {
                substance: "penicillin".into(),
                high: true,
            }],
            medications: vec!["metformin 500 mg 1-0-1".into()],
            conditions: vec!["E11.9".into(), "no code, in words".into()],
            implants: vec!["pacemaker".into()],
            blood_group: Some("A+".into()),
            contact: Some(Contact {
                name: "Anna".into(),
                phone: "+49 170 1".into(),
            }),
        },
    }));
    let (ok, out) = validate(&all);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("{} resource(s) checked, 0 invalid", all.len())),
        "{out}"
    );
}

#[test]
fn the_validator_is_not_a_rubber_stamp() {
    // A Claim without its required `use` and `created`: our samples pass because they are valid, not because
    // the validator accepts anything.
    let mut bad: serde_json::Value =
        serde_json::from_slice(&Resource::from(common::claim()).to_json().unwrap()).unwrap();
    bad.as_object_mut().unwrap().remove("use");
    let r = Resource::from_json(bad.to_string().as_bytes());
    // Our own parser refuses it too; hand the raw JSON to the validator.
    assert!(r.is_err());
    let (ok, out) = validate_json("bad", &bad);
    assert!(!ok, "{out}");
    assert!(out.contains("use"), "{out}");
}
