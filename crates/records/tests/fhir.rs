//! FHIR R4 JSON: round trips, element names as the specification spells them, samples in the specification's
//! shape, code lists, record kinds, redacted Debug.

mod common;

use std::collections::BTreeSet;

use carekiosk_records::fhir::*;
use carekiosk_records::{icd10, RecordKind, RecordsError};
use serde_json::{json, Value};

#[test]
fn every_resource_round_trips_through_json() {
    for resource in common::all() {
        let json = resource.to_json().unwrap();
        let back = Resource::from_json(&json).unwrap();
        assert!(
            back == resource,
            "{} changed in a round trip",
            resource.kind()
        );
        assert_eq!(
            back.to_json().unwrap(),
            json,
            "{} re-serialises differently",
            resource.kind()
        );
        let value: Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value["resourceType"], resource.kind().resource_type());
    }
}

#[test]
fn resource_type_comes_first_and_absent_elements_are_omitted() {
    let json = String::from_utf8(Resource::from(common::condition()).to_json().unwrap()).unwrap();
    assert!(
        json.starts_with(r#"{"resourceType":"Condition","#),
        "{json}"
    );
    let empty =
        String::from_utf8(Resource::Patient(Patient::default()).to_json().unwrap()).unwrap();
    assert_eq!(empty, r#"{"resourceType":"Patient"}"#);
}

/// R4 element names (top level) of each resource, from the specification's resource pages.
fn r4_elements(kind: RecordKind) -> &'static [&'static str] {
    match kind {
        RecordKind::Patient => &[
            "identifier",
            "active",
            "name",
            "telecom",
            "gender",
            "birthDate",
            "deceasedBoolean",
            "deceasedDateTime",
            "address",
            "maritalStatus",
            "multipleBirthBoolean",
            "multipleBirthInteger",
            "photo",
            "contact",
            "communication",
            "generalPractitioner",
            "managingOrganization",
            "link",
        ],
        RecordKind::Encounter => &[
            "identifier",
            "status",
            "statusHistory",
            "class",
            "classHistory",
            "type",
            "serviceType",
            "priority",
            "subject",
            "episodeOfCare",
            "basedOn",
            "participant",
            "appointment",
            "period",
            "length",
            "reasonCode",
            "reasonReference",
            "diagnosis",
            "account",
            "hospitalization",
            "location",
            "serviceProvider",
            "partOf",
        ],
        RecordKind::Condition => &[
            "identifier",
            "clinicalStatus",
            "verificationStatus",
            "category",
            "severity",
            "code",
            "bodySite",
            "subject",
            "encounter",
            "onsetDateTime",
            "onsetAge",
            "onsetPeriod",
            "onsetRange",
            "onsetString",
            "abatementDateTime",
            "abatementAge",
            "abatementPeriod",
            "abatementRange",
            "abatementString",
            "recordedDate",
            "recorder",
            "asserter",
            "stage",
            "evidence",
            "note",
        ],
        RecordKind::CarePlan => &[
            "identifier",
            "instantiatesCanonical",
            "instantiatesUri",
            "basedOn",
            "replaces",
            "partOf",
            "status",
            "intent",
            "category",
            "title",
            "description",
            "subject",
            "encounter",
            "period",
            "created",
            "author",
            "contributor",
            "careTeam",
            "addresses",
            "supportingInfo",
            "goal",
            "activity",
            "note",
        ],
        RecordKind::MedicationRequest => &[
            "identifier",
            "status",
            "statusReason",
            "intent",
            "category",
            "priority",
            "doNotPerform",
            "reportedBoolean",
            "reportedReference",
            "medicationCodeableConcept",
            "medicationReference",
            "subject",
            "encounter",
            "supportingInformation",
            "authoredOn",
            "requester",
            "performer",
            "performerType",
            "recorder",
            "reasonCode",
            "reasonReference",
            "instantiatesCanonical",
            "instantiatesUri",
            "basedOn",
            "groupIdentifier",
            "courseOfTherapyType",
            "insurance",
            "note",
            "dosageInstruction",
            "dispenseRequest",
            "substitution",
            "priorPrescription",
            "detectedIssue",
            "eventHistory",
        ],
        RecordKind::MedicationDispense => &[
            "identifier",
            "partOf",
            "status",
            "statusReasonCodeableConcept",
            "statusReasonReference",
            "category",
            "medicationCodeableConcept",
            "medicationReference",
            "subject",
            "context",
            "supportingInformation",
            "performer",
            "location",
            "authorizingPrescription",
            "type",
            "quantity",
            "daysSupply",
            "whenPrepared",
            "whenHandedOver",
            "destination",
            "receiver",
            "note",
            "dosageInstruction",
            "substitution",
            "detectedIssue",
            "eventHistory",
        ],
        RecordKind::Coverage => &[
            "identifier",
            "status",
            "type",
            "policyHolder",
            "subscriber",
            "subscriberId",
            "beneficiary",
            "dependent",
            "relationship",
            "period",
            "payor",
            "class",
            "order",
            "network",
            "costToBeneficiary",
            "subrogation",
            "contract",
        ],
        RecordKind::Claim => &[
            "identifier",
            "status",
            "type",
            "subType",
            "use",
            "patient",
            "billablePeriod",
            "created",
            "enterer",
            "insurer",
            "provider",
            "priority",
            "fundsReserve",
            "related",
            "prescription",
            "originalPrescription",
            "payee",
            "referral",
            "facility",
            "careTeam",
            "supportingInfo",
            "diagnosis",
            "procedure",
            "insurance",
            "accident",
            "item",
            "total",
        ],
        RecordKind::ClaimResponse => &[
            "identifier",
            "status",
            "type",
            "subType",
            "use",
            "patient",
            "created",
            "insurer",
            "requestor",
            "request",
            "outcome",
            "disposition",
            "preAuthRef",
            "preAuthPeriod",
            "payeeType",
            "item",
            "addItem",
            "adjudication",
            "total",
            "payment",
            "fundsReserve",
            "formCode",
            "form",
            "processNote",
            "communicationRequest",
            "insurance",
            "error",
        ],
        RecordKind::EmergencySet => &[
            "identifier",
            "type",
            "timestamp",
            "total",
            "link",
            "entry",
            "signature",
        ],
        RecordKind::AllergyIntolerance => &[
            "identifier",
            "clinicalStatus",
            "verificationStatus",
            "type",
            "category",
            "criticality",
            "code",
            "patient",
            "encounter",
            "onsetDateTime",
            "onsetAge",
            "onsetPeriod",
            "onsetRange",
            "onsetString",
            "recordedDate",
            "recorder",
            "asserter",
            "lastOccurrence",
            "note",
            "reaction",
        ],
        RecordKind::MedicationStatement => &[
            "identifier",
            "basedOn",
            "partOf",
            "status",
            "statusReason",
            "category",
            "medicationCodeableConcept",
            "medicationReference",
            "subject",
            "context",
            "effectiveDateTime",
            "effectivePeriod",
            "dateAsserted",
            "informationSource",
            "derivedFrom",
            "reasonCode",
            "reasonReference",
            "note",
            "dosage",
        ],
        RecordKind::Consent => &[
            "identifier",
            "status",
            "scope",
            "category",
            "patient",
            "dateTime",
            "performer",
            "organization",
            "sourceAttachment",
            "sourceReference",
            "policy",
            "policyRule",
            "verification",
            "provision",
        ],
    }
}

/// R4 element names of the data types and backbone elements we nest.
const NESTED_ELEMENTS: &[&str] = &[
    // Coding, CodeableConcept, Reference, Identifier, Period, Quantity, Money, Annotation, HumanName
    "system",
    "version",
    "code",
    "display",
    "userSelected",
    "coding",
    "text",
    "reference",
    "type",
    "identifier",
    "value",
    "start",
    "end",
    "comparator",
    "unit",
    "currency",
    "authorReference",
    "authorString",
    "time",
    "family",
    "given",
    "prefix",
    "suffix",
    "use",
    "period",
    // Dosage
    "sequence",
    "additionalInstruction",
    "patientInstruction",
    "timing",
    "asNeededBoolean",
    "route",
    "doseAndRate",
    // Encounter.participant
    "individual",
    // CarePlan.activity(.detail)
    "detail",
    "outcomeReference",
    "progress",
    "kind",
    "status",
    "description",
    "reasonCode",
    "scheduledString",
    // MedicationRequest.dispenseRequest
    "validityPeriod",
    "numberOfRepeatsAllowed",
    "quantity",
    "expectedSupplyDuration",
    "performer",
    // MedicationDispense.performer
    "function",
    "actor",
    // Claim.insurance / diagnosis / item
    "focal",
    "coverage",
    "diagnosisCodeableConcept",
    "productOrService",
    "unitPrice",
    "net",
    "factor",
    // ClaimResponse.total / payment / error
    "category",
    "amount",
    "date",
    "adjustment",
    // Claim.careTeam / item, ClaimResponse.item
    "provider",
    "careTeamSequence",
    "diagnosisSequence",
    "servicedDate",
    "itemSequence",
    "adjudication",
    "reason",
    // MedicationRequest.substitution, MedicationDispense.substitution, extensions
    "allowedBoolean",
    "wasSubstituted",
    "url",
    "valueString",
    // Consent.provision
    "action",
    "purpose",
    "data",
];

fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                collect_keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_keys(v, out)),
        _ => {}
    }
}

#[test]
fn serialised_element_names_are_fhir_r4_names() {
    for resource in common::all() {
        let kind = resource.kind();
        let value: Value = serde_json::from_slice(&resource.to_json().unwrap()).unwrap();
        let top = r4_elements(kind);
        for key in value.as_object().unwrap().keys() {
            assert!(
                key == "resourceType"
                    || key == "id"
                    || key == "extension" // DomainResource.extension, on every resource
                    || top.contains(&key.as_str()),
                "{kind}.{key} is not an R4 element"
            );
        }
        let mut nested = BTreeSet::new();
        for (k, v) in value.as_object().unwrap() {
            if k != "resourceType" {
                collect_keys(v, &mut nested);
            }
        }
        for key in nested {
            assert!(
                NESTED_ELEMENTS.contains(&key.as_str()),
                "{kind}: nested element {key:?} is not an R4 name"
            );
        }
    }
}

/// The R4 specification's Condition example f201 ("fever"), with elements we do not model (text, severity,
/// bodySite, evidence, asserter, abatementString): it parses, unknown elements are ignored.
#[test]
fn parses_the_specifications_condition_example() {
    let example = json!({
      "resourceType": "Condition",
      "id": "f201",
      "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">fever</div>"},
      "identifier": [{"value": "12345"}],
      "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]},
      "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
      "category": [{"coding": [
        {"system": "http://snomed.info/sct", "code": "55607006", "display": "Problem"},
        {"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}
      ]}],
      "severity": {"coding": [{"system": "http://snomed.info/sct", "code": "255604002", "display": "Mild"}]},
      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "386661006", "display": "Fever"}]},
      "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "38266002", "display": "Entire body as a whole"}]}],
      "subject": {"reference": "Patient/f201", "display": "Roel"},
      "encounter": {"reference": "Encounter/f201"},
      "onsetDateTime": "2013-04-02",
      "abatementString": "around April 9, 2013",
      "recordedDate": "2013-04-04",
      "recorder": {"reference": "Practitioner/f201"},
      "asserter": {"reference": "Practitioner/f201"},
      "evidence": [{"code": [{"coding": [{"system": "http://snomed.info/sct", "code": "258710007", "display": "degrees C"}]}]}]
    });
    let Resource::Condition(mut c) = Resource::from_json(example.to_string().as_bytes()).unwrap()
    else {
        panic!("not a Condition")
    };
    assert_eq!(c.id.as_deref(), Some("f201"));
    assert_eq!(c.subject.reference.as_deref(), Some("Patient/f201"));
    assert_eq!(c.onset_date_time.as_deref(), Some("2013-04-02"));
    assert_eq!(c.recorded_date.as_deref(), Some("2013-04-04"));
    assert_eq!(c.category[0].coding.len(), 2);
    assert_eq!(
        c.clinical_status.as_ref().unwrap().coding[0]
            .code
            .as_deref(),
        Some("resolved")
    );
    // SNOMED-coded only: carekiosk wants ICD-10.
    assert!(matches!(
        c.validate(),
        Err(RecordsError::MissingIcd10 { .. })
    ));
    c.code
        .as_mut()
        .unwrap()
        .coding
        .push(icd10::lookup("R50.9").unwrap().coding());
    c.validate().unwrap();
}

/// A MedicationRequest in the shape of the specification's examples (medicationCodeableConcept,
/// dosageInstruction, dispenseRequest with validityPeriod and quantity).
#[test]
fn parses_a_specification_shaped_medication_request() {
    let example = json!({
      "resourceType": "MedicationRequest",
      "id": "medrx0311",
      "status": "active",
      "intent": "order",
      "medicationCodeableConcept": {
        "coding": [{"system": "http://www.whocc.no/atc", "code": "J01CA04", "display": "Amoxicillin"}],
        "text": "Amoxicillin 500 mg capsule"
      },
      "subject": {"reference": "Patient/pat1", "display": "Donald Duck"},
      "authoredOn": "2015-01-15",
      "requester": {"reference": "Practitioner/f007", "display": "Patrick Pump"},
      "dosageInstruction": [{"sequence": 1, "text": "1 capsule three times daily for 5 days",
                             "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}}}],
      "dispenseRequest": {
        "validityPeriod": {"start": "2015-01-15", "end": "2016-01-15"},
        "numberOfRepeatsAllowed": 0,
        "quantity": {"value": 15, "unit": "capsule", "system": "http://unitsofmeasure.org", "code": "{capsule}"},
        "expectedSupplyDuration": {"value": 5, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"}
      }
    });
    let Resource::MedicationRequest(m) =
        Resource::from_json(example.to_string().as_bytes()).unwrap()
    else {
        panic!("not a MedicationRequest")
    };
    assert_eq!(m.status, MedicationRequestStatus::Active);
    assert_eq!(m.intent, MedicationRequestIntent::Order);
    assert_eq!(
        m.medication_codeable_concept
            .code_in("http://www.whocc.no/atc"),
        Some("J01CA04")
    );
    assert_eq!(m.dosage_instruction[0].sequence, Some(1));
    let dr = m.dispense_request.as_ref().unwrap();
    assert_eq!(dr.quantity.as_ref().unwrap().value, Some(15.0));
    assert_eq!(
        dr.validity_period.as_ref().unwrap().end.as_deref(),
        Some("2016-01-15")
    );
    m.validate(carekiosk_records::FhirDate::new(2015, 6, 1).unwrap())
        .unwrap();
}

#[test]
fn code_lists_use_fhir_codes() {
    let codes = |v: Vec<Value>| {
        v.into_iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    use MedicationDispenseStatus as D;
    let dispense = [
        D::Preparation,
        D::InProgress,
        D::Cancelled,
        D::OnHold,
        D::Completed,
        D::EnteredInError,
        D::Stopped,
        D::Declined,
        D::Unknown,
    ];
    assert_eq!(
        codes(
            dispense
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        [
            "preparation",
            "in-progress",
            "cancelled",
            "on-hold",
            "completed",
            "entered-in-error",
            "stopped",
            "declined",
            "unknown"
        ]
    );
    let uses = [
        ClaimUse::Claim,
        ClaimUse::Preauthorization,
        ClaimUse::Predetermination,
    ];
    assert_eq!(
        codes(
            uses.iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        ["claim", "preauthorization", "predetermination"]
    );
    let outcomes = [
        ClaimOutcome::Queued,
        ClaimOutcome::Complete,
        ClaimOutcome::Error,
        ClaimOutcome::Partial,
    ];
    assert_eq!(
        codes(
            outcomes
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        ["queued", "complete", "error", "partial"]
    );
    use ConsentState as C;
    let consent = [
        C::Draft,
        C::Proposed,
        C::Active,
        C::Rejected,
        C::Inactive,
        C::EnteredInError,
    ];
    assert_eq!(
        codes(
            consent
                .iter()
                .map(|s| serde_json::to_value(s).unwrap())
                .collect()
        ),
        [
            "draft",
            "proposed",
            "active",
            "rejected",
            "inactive",
            "entered-in-error"
        ]
    );
    assert_eq!(
        serde_json::to_value(EncounterStatus::OnLeave).unwrap(),
        "onleave"
    );
    assert_eq!(
        serde_json::to_value(MedicationRequestIntent::OriginalOrder).unwrap(),
        "original-order"
    );
    // An unknown code is a data error, reported by position only.
    let bad = br#"{"resourceType":"Consent","status":"revoked","scope":{},"category":[]}"#;
    assert!(matches!(
        Resource::from_json(bad),
        Err(RecordsError::ContentJson {
            category: "data",
            ..
        })
    ));
}

#[test]
fn record_kinds_are_stable_bytes() {
    let expected = [
        (RecordKind::Encounter, 1),
        (RecordKind::Condition, 2),
        (RecordKind::CarePlan, 3),
        (RecordKind::MedicationRequest, 4),
        (RecordKind::MedicationDispense, 5),
        (RecordKind::Claim, 6),
        (RecordKind::ClaimResponse, 7),
        (RecordKind::Coverage, 8),
        (RecordKind::Consent, 9),
        (RecordKind::Patient, 10),
        (RecordKind::EmergencySet, 11),
        (RecordKind::AllergyIntolerance, 12),
        (RecordKind::MedicationStatement, 13),
    ];
    for (kind, byte) in expected {
        assert_eq!(kind as u8, byte);
        assert_eq!(u8::from(kind), byte);
        assert_eq!(RecordKind::try_from(byte).unwrap(), kind);
    }
    for byte in [0u8, 14, 200, 255] {
        assert!(
            matches!(RecordKind::try_from(byte), Err(RecordsError::UnknownKind(b)) if b == byte)
        );
    }
    for resource in common::all() {
        assert_eq!(
            resource.kind().resource_type(),
            serde_json::from_slice::<Value>(&resource.to_json().unwrap()).unwrap()["resourceType"]
        );
    }
}

#[test]
fn debug_never_prints_content() {
    let patient = common::patient();
    let condition = common::condition();
    for printed in [
        format!("{patient:?}"),
        format!("{:?}", Resource::from(patient.clone())),
        format!("{condition:?}"),
        format!("{:?}", condition.code),
        format!("{:?}", Resource::from(condition.clone())),
        format!("{:#?}", common::all()),
    ] {
        for secret in [
            "Wanjiru",
            "Grace",
            "1987",
            "J03.90",
            "tonsillitis",
            "Tonsils",
            "Okoth",
        ] {
            assert!(
                !printed.contains(secret),
                "Debug leaked {secret:?}: {printed}"
            );
        }
    }
    assert_eq!(
        format!("{:?}", Resource::from(condition)),
        "Resource::Condition(<redacted>)"
    );
}

#[test]
fn content_json_errors_do_not_echo_content() {
    let err = Resource::from_json(br#"{"resourceType":"Patient","gender":"Wanjiru-secret"}"#)
        .unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("Wanjiru"), "{msg}");
    assert!(msg.contains("data error"), "{msg}");
    let err =
        Resource::from_json(b"{\"resourceType\":\"Patient\",\n\"name\": [Wanjiru]}").unwrap_err();
    let msg = err.to_string();
    assert!(!msg.contains("Wanjiru"), "{msg}");
    assert!(msg.contains("syntax error at line 2"), "{msg}");
}
