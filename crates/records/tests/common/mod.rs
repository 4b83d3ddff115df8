//! Realistic sample records, one per kind.
#![allow(dead_code)]

use carekiosk_records::fhir::*;
use carekiosk_records::{formulary, icd10, FhirDate};

pub const PATIENT_ID: [u8; 32] = [0x5a; 32];

pub fn today() -> FhirDate {
    FhirDate::new(2025, 6, 2).unwrap()
}

pub fn patient_ref() -> Reference {
    Reference::patient(&PATIENT_ID)
}

pub fn hospital() -> Reference {
    Reference {
        reference: Some("Organization/0x8ba1f109551bd432803012645ac136ddd64dba72".into()),
        display: Some("Nairobi West Hospital".into()),
    }
}

pub fn doctor() -> Reference {
    Reference {
        reference: Some("Practitioner/dr-okoth".into()),
        display: Some("Dr. Achieng Okoth".into()),
    }
}

pub fn patient() -> Patient {
    Patient {
        id: Some("p1".into()),
        name: vec![HumanName {
            text: None,
            family: Some("Wanjiru".into()),
            given: vec!["Grace".into(), "Njeri".into()],
        }],
        gender: Some(AdministrativeGender::Female),
        birth_date: Some("1987-04-12".into()),
    }
}

pub fn encounter() -> Encounter {
    let mut e = Encounter::ambulatory(patient_ref());
    e.id = Some("enc-2025-06-02-1".into());
    e.r#type = vec![CodeableConcept::text("Outpatient consultation")];
    e.participant = vec![EncounterParticipant {
        individual: Some(doctor()),
    }];
    e.period = Some(Period::new(
        "2025-06-02T09:10:00+03:00",
        "2025-06-02T09:35:00+03:00",
    ));
    e.reason_code = vec![CodeableConcept::text(
        "Sore throat and fever for three days",
    )];
    e.service_provider = Some(hospital());
    e
}

/// A realistic diagnosis with a clinical note (~0.6 KiB of JSON).
pub fn condition() -> Condition {
    let mut c = icd10::lookup("J03.90").unwrap().diagnosis(patient_ref());
    c.id = Some("cond-1".into());
    c.encounter = Some(Reference::to("Encounter/enc-2025-06-02-1"));
    c.onset_date_time = Some("2025-05-30".into());
    c.recorded_date = Some("2025-06-02T09:30:00+03:00".into());
    c.recorder = Some(doctor());
    c.note = vec![Annotation::new(
        "Tonsils enlarged with exudate, tender anterior cervical nodes, temperature 38.6 C, no cough. \
         Centor score 4. Rapid strep test positive.",
    )];
    c
}

/// The treatment plan for [`condition`] (~0.6 KiB of JSON).
pub fn care_plan() -> CarePlan {
    let mut p = CarePlan::new(patient_ref());
    p.id = Some("cp-1".into());
    p.title = Some("Acute tonsillitis treatment".into());
    p.description = Some("Antibiotic course, symptomatic relief, review if not improving.".into());
    p.encounter = Some(Reference::to("Encounter/enc-2025-06-02-1"));
    p.period = Some(Period::new("2025-06-02", "2025-06-12"));
    p.created = Some("2025-06-02T09:33:00+03:00".into());
    p.author = Some(doctor());
    p.addresses = vec![Reference::to("Condition/cond-1")];
    p.activity = vec![
        CarePlanActivity {
            reference: Some(Reference::to("MedicationRequest/rx-1")),
            detail: None,
        },
        CarePlanActivity::described("Paracetamol 1 g up to four times daily for fever and pain"),
        CarePlanActivity::described("Drink plenty of fluids; rest at home for 2 days"),
        CarePlanActivity::described(
            "Return if breathing or swallowing becomes difficult, or no better in 3 days",
        ),
    ];
    p
}

pub fn medication_request() -> MedicationRequest {
    let drug = formulary::lookup("J01CA04").unwrap();
    let mut m = drug.prescription(patient_ref(), 15.0, Period::new("2025-06-02", "2025-07-01"));
    m.id = Some("rx-1".into());
    m.encounter = Some(Reference::to("Encounter/enc-2025-06-02-1"));
    m.authored_on = Some("2025-06-02T09:32:00+03:00".into());
    m.requester = Some(doctor());
    m.reason_reference = vec![Reference::to("Condition/cond-1")];
    m.substitution = Some(RequestSubstitution {
        allowed_boolean: true,
    });
    m
}

pub fn allergy() -> AllergyIntolerance {
    let mut a = AllergyIntolerance::medication(patient_ref(), "penicillin", Some("J01C"), true);
    a.recorded_date = Some("2025-06-02".into());
    a.recorder = Some(doctor());
    a.note = vec![Annotation::new(
        "hives and swelling after amoxicillin (2019)",
    )];
    a
}

pub fn medication_statement() -> MedicationStatement {
    MedicationStatement {
        id: Some("ms-1".into()),
        status: "active".into(),
        medication_codeable_concept: CodeableConcept::text("metformin 500 mg"),
        subject: patient_ref(),
        date_asserted: Some("2025-06-02".into()),
        dosage: vec![Dosage::text("1-0-1")],
        note: Vec::new(),
    }
}

pub fn medication_dispense() -> MedicationDispense {
    let drug = formulary::lookup("J01CA04").unwrap();
    MedicationDispense {
        id: Some("md-1".into()),
        status: MedicationDispenseStatus::Completed,
        medication_codeable_concept: drug.codeable_concept(),
        subject: Some(patient_ref()),
        performer: vec![DispensePerformer {
            actor: Reference::to("Organization/0x2546bcd3c84621e976d8185a91a922ae77ecec30"),
        }],
        authorizing_prescription: vec![Reference::to("MedicationRequest/rx-1")],
        quantity: Some(Quantity::new(15.0, "capsule")),
        when_handed_over: Some("2025-06-02T11:05:00+03:00".into()),
        dosage_instruction: vec![drug.dosage()],
        substitution: Some(DispenseSubstitution {
            was_substituted: true,
            kind: Some(CodeableConcept::coded(
                "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution",
                "G",
                "generic composition",
            )),
        }),
        note: vec![],
        extension: vec![Extension {
            url: BATCH_EXTENSION.into(),
            value_string: "LOT-2025-0611".into(),
        }],
    }
}

pub fn coverage() -> Coverage {
    Coverage {
        id: Some("cov-1".into()),
        status: FinancialResourceStatus::Active,
        r#type: Some(CodeableConcept::text("Outpatient medical cover")),
        subscriber_id: Some("NHIF-00482731".into()),
        beneficiary: patient_ref(),
        period: Some(Period::new("2025-01-01", "2025-12-31")),
        payor: vec![Reference::to(
            "Organization/0xbcd4042de499d14e55001ccbb24a551f3b954096",
        )],
    }
}

pub fn claim() -> Claim {
    Claim {
        id: Some("claim-1".into()),
        status: FinancialResourceStatus::Active,
        r#type: CodeableConcept::coded(CLAIM_TYPE_SYSTEM, "professional", "Professional"),
        r#use: ClaimUse::Claim,
        patient: patient_ref(),
        created: "2025-06-02".into(),
        insurer: Some(Reference::to(
            "Organization/0xbcd4042de499d14e55001ccbb24a551f3b954096",
        )),
        provider: hospital(),
        priority: CodeableConcept::coded(PROCESS_PRIORITY_SYSTEM, "normal", "Normal"),
        diagnosis: vec![ClaimDiagnosis {
            sequence: 1,
            diagnosis_codeable_concept: Some(icd10::lookup("J03.90").unwrap().codeable_concept()),
        }],
        care_team: vec![ClaimCareTeam {
            sequence: 1,
            provider: doctor(),
        }],
        insurance: vec![ClaimInsurance {
            sequence: 1,
            focal: true,
            coverage: Reference::to("Coverage/cov-1"),
        }],
        item: vec![
            ClaimItem {
                sequence: 1,
                care_team_sequence: vec![1],
                diagnosis_sequence: vec![1],
                product_or_service: CodeableConcept::text("Outpatient consultation"),
                serviced_date: Some("2025-06-02".into()),
                quantity: Some(Quantity::new(1.0, "visit")),
                unit_price: Some(Money::new(25.0, "USD")),
                net: Some(Money::new(25.0, "USD")),
            },
            ClaimItem {
                sequence: 2,
                care_team_sequence: Vec::new(),
                diagnosis_sequence: Vec::new(),
                product_or_service: CodeableConcept::text("Rapid strep test"),
                serviced_date: None,
                quantity: Some(Quantity::new(1.0, "test")),
                unit_price: Some(Money::new(7.5, "USD")),
                net: Some(Money::new(7.5, "USD")),
            },
        ],
        total: Some(Money::new(32.5, "USD")),
    }
}

pub fn claim_response() -> ClaimResponse {
    ClaimResponse {
        id: Some("cr-1".into()),
        status: FinancialResourceStatus::Active,
        r#type: CodeableConcept::coded(CLAIM_TYPE_SYSTEM, "professional", "Professional"),
        r#use: ClaimUse::Claim,
        patient: patient_ref(),
        created: "2025-06-03".into(),
        insurer: Reference::to("Organization/0xbcd4042de499d14e55001ccbb24a551f3b954096"),
        request: Some(Reference::to("Claim/claim-1")),
        outcome: ClaimOutcome::Complete,
        disposition: Some("Approved at 80% coverage".into()),
        item: vec![ClaimResponseItem {
            item_sequence: 1,
            adjudication: vec![
                Adjudication {
                    category: CodeableConcept::coded(
                        ADJUDICATION_SYSTEM,
                        "eligible",
                        "Eligible Amount",
                    ),
                    reason: None,
                    amount: Some(Money::new(25.0, "USD")),
                },
                Adjudication {
                    category: CodeableConcept::coded(
                        ADJUDICATION_SYSTEM,
                        "benefit",
                        "Benefit Amount",
                    ),
                    reason: Some(CodeableConcept::coded(
                        "http://terminology.hl7.org/CodeSystem/adjudication-reason",
                        "ar002",
                        "Plan Limit Reached",
                    )),
                    amount: Some(Money::new(20.0, "USD")),
                },
            ],
        }],
        total: vec![
            ClaimResponseTotal {
                category: CodeableConcept::coded(
                    ADJUDICATION_SYSTEM,
                    "submitted",
                    "Submitted Amount",
                ),
                amount: Money::new(32.5, "USD"),
            },
            ClaimResponseTotal {
                category: CodeableConcept::coded(ADJUDICATION_SYSTEM, "benefit", "Benefit Amount"),
                amount: Money::new(26.0, "USD"),
            },
        ],
        payment: Some(ClaimResponsePayment {
            r#type: CodeableConcept::coded(
                "http://terminology.hl7.org/CodeSystem/ex-paymenttype",
                "complete",
                "Complete",
            ),
            date: Some("2025-06-04".into()),
            amount: Money::new(26.0, "USD"),
        }),
        error: vec![],
    }
}

pub fn consent() -> Consent {
    Consent {
        id: Some("consent-1".into()),
        status: ConsentState::Active,
        scope: CodeableConcept::coded(CONSENT_SCOPE_SYSTEM, "patient-privacy", "Privacy Consent"),
        category: vec![CodeableConcept::coded(
            "http://loinc.org",
            "59284-0",
            "Patient Consent",
        )],
        patient: Some(patient_ref()),
        date_time: Some("2025-06-02T09:00:00+03:00".into()),
        performer: vec![patient_ref()],
        organization: vec![hospital()],
        provision: Some(ConsentProvision {
            r#type: Some(ConsentProvisionType::Permit),
            period: Some(Period::new("2025-06-02", "2025-08-31")),
        }),
    }
}

pub fn all() -> Vec<Resource> {
    vec![
        patient().into(),
        encounter().into(),
        condition().into(),
        care_plan().into(),
        medication_request().into(),
        medication_dispense().into(),
        coverage().into(),
        claim().into(),
        claim_response().into(),
        consent().into(),
        allergy().into(),
        medication_statement().into(),
    ]
}
