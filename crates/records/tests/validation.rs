//! Content rules: the samples pass, each broken rule gives its own clear error.

mod common;

use carekiosk_records::fhir::*;
use carekiosk_records::{icd10, FhirDate, RecordsError};
use common::today;

#[test]
fn every_sample_is_valid() {
    for resource in common::all() {
        resource
            .validate(today())
            .unwrap_or_else(|e| panic!("{}: {e}", resource.kind()));
    }
}

#[test]
fn unknown_icd10_code_is_rejected_with_a_hint() {
    let mut c = common::condition();
    c.code.as_mut().unwrap().coding[0].code = Some("J45.9".into()); // WHO ICD-10; in ICD-10-CM a category
    let err = c.validate().unwrap_err();
    assert!(
        matches!(&err, RecordsError::UnknownIcd10 { code } if code == "J45.9"),
        "{err:?}"
    );
    assert!(err.to_string().contains("icd10::search"), "{err}");
    c.code.as_mut().unwrap().coding[0].code = Some("J45.909".into()); // its billable subdivision
    c.validate().unwrap();
}

#[test]
fn a_diagnosis_coded_with_the_earlier_who_system_is_read_when_the_code_is_billable() {
    let mut c = common::condition();
    let coding = &mut c.code.as_mut().unwrap().coding[0];
    assert_eq!(coding.system.as_deref(), Some(icd10::SYSTEM));
    coding.system = Some(icd10::WHO_SYSTEM.into());
    coding.code = Some("J06.9".into());
    c.validate().unwrap();
    c.code.as_mut().unwrap().coding[0].code = Some("J06".into());
    assert!(matches!(
        c.validate(),
        Err(RecordsError::UnknownIcd10 { .. })
    ));
    c.code.as_mut().unwrap().coding[0].system = Some("http://snomed.info/sct".into());
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingIcd10 { .. })
    ));
}

#[test]
fn condition_without_icd10_is_rejected() {
    let mut c = common::condition();
    c.code = Some(CodeableConcept::text("sore throat"));
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingIcd10 {
            resource: "Condition",
            field: "code"
        })
    ));
    c.code = None;
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingIcd10 { .. })
    ));
    let mut c = common::condition();
    c.subject = Reference::default();
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingField {
            field: "subject",
            ..
        })
    ));
}

#[test]
fn icd10_lookup_accepts_case_and_missing_dot() {
    let mut c = common::condition();
    c.code.as_mut().unwrap().coding[0].code = Some("j0390".into());
    c.validate().unwrap();
}

#[test]
fn empty_dosage_is_rejected() {
    let mut m = common::medication_request();
    m.dosage_instruction = vec![Dosage::text("   ")];
    let err = m.validate(today()).unwrap_err();
    assert!(
        matches!(
            err,
            RecordsError::EmptyDosage {
                resource: "MedicationRequest"
            }
        ),
        "{err:?}"
    );
    m.dosage_instruction.clear();
    assert!(matches!(
        m.validate(today()),
        Err(RecordsError::EmptyDosage { .. })
    ));
}

#[test]
fn zero_or_negative_quantity_is_rejected() {
    for value in [0.0, -3.0, f64::NAN] {
        let mut m = common::medication_request();
        m.dispense_request
            .as_mut()
            .unwrap()
            .quantity
            .as_mut()
            .unwrap()
            .value = Some(value);
        let err = m.validate(today()).unwrap_err();
        assert!(
            matches!(
                err,
                RecordsError::NonPositiveQuantity {
                    field: "dispenseRequest.quantity",
                    ..
                }
            ),
            "{value}: {err:?}"
        );
    }
    let mut d = common::medication_dispense();
    d.quantity.as_mut().unwrap().value = Some(0.0);
    assert!(matches!(
        d.validate(),
        Err(RecordsError::NonPositiveQuantity {
            resource: "MedicationDispense",
            ..
        })
    ));
}

#[test]
fn validity_in_the_past_is_rejected_and_today_is_fine() {
    let mut m = common::medication_request();
    m.dispense_request.as_mut().unwrap().validity_period =
        Some(Period::new("2025-05-01", "2025-06-01"));
    let err = m.validate(today()).unwrap_err();
    assert!(
        matches!(err, RecordsError::ValidityInPast { end, today: t } if end == FhirDate::new(2025, 6, 1).unwrap() && t == today()),
        "{err:?}"
    );
    assert!(err.to_string().contains("2025-06-01"));
    m.dispense_request.as_mut().unwrap().validity_period =
        Some(Period::new("2025-05-01", "2025-06-02"));
    m.validate(today()).unwrap();
    m.dispense_request.as_mut().unwrap().validity_period = Some(Period {
        start: Some("2025-06-02".into()),
        end: None,
    });
    assert!(matches!(
        m.validate(today()),
        Err(RecordsError::MissingField {
            field: "dispenseRequest.validityPeriod.end",
            ..
        })
    ));
}

#[test]
fn reversed_or_malformed_dates_are_rejected() {
    let mut m = common::medication_request();
    m.dispense_request.as_mut().unwrap().validity_period =
        Some(Period::new("2025-07-01", "2025-06-20"));
    assert!(matches!(
        m.validate(today()),
        Err(RecordsError::PeriodReversed { .. })
    ));
    m.dispense_request.as_mut().unwrap().validity_period =
        Some(Period::new("2025-06-02", "30/06/2025"));
    assert!(
        matches!(m.validate(today()), Err(RecordsError::InvalidDate { value, .. }) if value == "30/06/2025")
    );
    let mut p = common::patient();
    p.birth_date = Some("2030-01-01".into());
    assert!(matches!(
        p.validate(today()),
        Err(RecordsError::InvalidField {
            field: "birthDate",
            ..
        })
    ));
    p.birth_date = Some("1987".into());
    p.validate(today()).unwrap();
}

#[test]
fn medication_must_come_from_the_formulary() {
    let mut m = common::medication_request();
    m.medication_codeable_concept = CodeableConcept::text("Amoxil");
    assert!(matches!(
        m.validate(today()),
        Err(RecordsError::MissingMedicationCode { .. })
    ));
    m.medication_codeable_concept =
        CodeableConcept::coded("http://www.whocc.no/atc", "L01XX99", "Made-up");
    assert!(
        matches!(m.validate(today()), Err(RecordsError::UnknownMedication { code }) if code == "L01XX99")
    );
}

#[test]
fn claim_rules() {
    let mut c = common::claim();
    c.total = Some(Money::new(40.0, "USD"));
    let err = c.validate().unwrap_err();
    assert!(
        matches!(&err, RecordsError::InvalidField { field: "total", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("32.50"), "{err}");
    let mut c = common::claim();
    c.total = Some(Money::new(32.5, "usd"));
    assert!(matches!(
        c.validate(),
        Err(RecordsError::InvalidField { field: "total", .. })
    ));
    let mut c = common::claim();
    c.insurance.clear();
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingField {
            field: "insurance.coverage",
            ..
        })
    ));
    let mut c = common::claim();
    c.diagnosis[0].diagnosis_codeable_concept = Some(CodeableConcept::coded(
        "http://hl7.org/fhir/sid/icd-10-cm",
        "A00.2",
        "?",
    ));
    assert!(matches!(
        c.validate(),
        Err(RecordsError::UnknownIcd10 { .. })
    ));
    let mut c = common::claim();
    c.total = None;
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingField { field: "total", .. })
    ));
}

#[test]
fn other_kinds_have_their_required_elements() {
    let mut cov = common::coverage();
    cov.payor.clear();
    assert!(matches!(
        cov.validate(),
        Err(RecordsError::MissingField { field: "payor", .. })
    ));
    let mut consent = common::consent();
    consent.category.clear();
    assert!(matches!(
        consent.validate(),
        Err(RecordsError::MissingField {
            field: "category",
            ..
        })
    ));
    let mut plan = CarePlan::new(common::patient_ref());
    assert!(matches!(
        plan.validate(),
        Err(RecordsError::MissingField { .. })
    ));
    plan.activity.push(CarePlanActivity::described("  "));
    assert!(matches!(
        plan.validate(),
        Err(RecordsError::MissingField {
            field: "activity.detail.description",
            ..
        })
    ));
    let mut disp = common::medication_dispense();
    disp.when_handed_over = None;
    assert!(matches!(
        disp.validate(),
        Err(RecordsError::MissingField {
            field: "whenHandedOver",
            ..
        })
    ));
    let mut enc = common::encounter();
    enc.subject = None;
    assert!(matches!(
        enc.validate(),
        Err(RecordsError::MissingField {
            field: "subject",
            ..
        })
    ));
    let mut cr = common::claim_response();
    cr.total[0].amount.value = Some(-1.0);
    assert!(matches!(
        cr.validate(),
        Err(RecordsError::InvalidField {
            field: "total.amount",
            ..
        })
    ));
}
