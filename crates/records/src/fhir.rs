//! Hand-written HL7 FHIR R4 types: only the elements carekiosk uses, with FHIR's JSON element names
//! (camelCase, `resourceType` as the [`Resource`] tag). Unknown elements are ignored when reading, so a record
//! written by a newer build with more elements still opens.
//!
//! Every type that can hold patient data has a redacting `Debug` (it prints the type name only): a stray
//! `{:?}` in a log line leaks nothing. Code lists (statuses, uses, outcomes) print normally.

use serde::{Deserialize, Serialize};

use crate::RecordKind;

macro_rules! redacted_debug {
    ($($t:ident),* $(,)?) => {
        $(impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), " { <redacted> }"))
            }
        })*
    };
}

redacted_debug!(
    Coding,
    CodeableConcept,
    Reference,
    Identifier,
    Period,
    Quantity,
    Money,
    Annotation,
    Dosage,
    HumanName,
    Patient,
    Encounter,
    EncounterParticipant,
    Condition,
    CarePlan,
    CarePlanActivity,
    CarePlanActivityDetail,
    MedicationRequest,
    DispenseRequest,
    MedicationDispense,
    DispensePerformer,
    Coverage,
    Claim,
    ClaimInsurance,
    ClaimDiagnosis,
    ClaimItem,
    ClaimResponse,
    ClaimResponseTotal,
    ClaimResponsePayment,
    ClaimResponseError,
    Consent,
    ConsentProvision,
);

// ---------------------------------------------------------------------------------------------------------------
// Data types
// ---------------------------------------------------------------------------------------------------------------

/// FHIR `Coding`: a code from a code system.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coding {
    /// Code system URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable text of the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Coding {
    /// A coding with system, code and display.
    pub fn new(system: &str, code: &str, display: &str) -> Self {
        Self {
            system: Some(system.into()),
            code: Some(code.into()),
            display: Some(display.into()),
        }
    }
}

/// FHIR `CodeableConcept`: codings and/or text.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CodeableConcept {
    /// Codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl CodeableConcept {
    /// One coding, no text.
    pub fn coded(system: &str, code: &str, display: &str) -> Self {
        Self {
            coding: vec![Coding::new(system, code, display)],
            text: None,
        }
    }

    /// One coding with system and code only (for fixed FHIR code systems, whose displays add bytes, not meaning).
    pub fn system_code(system: &str, code: &str) -> Self {
        let coding = Coding {
            system: Some(system.into()),
            code: Some(code.into()),
            display: None,
        };
        Self {
            coding: vec![coding],
            text: None,
        }
    }

    /// Text only.
    pub fn text(text: &str) -> Self {
        Self {
            coding: Vec::new(),
            text: Some(text.into()),
        }
    }

    /// The code of the first coding in `system`.
    pub fn code_in(&self, system: &str) -> Option<&str> {
        self.coding
            .iter()
            .find(|c| c.system.as_deref() == Some(system))
            .and_then(|c| c.code.as_deref())
    }
}

/// FHIR `Reference` (literal reference and/or display).
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    /// `Type/id` or an absolute URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Text for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl Reference {
    /// A literal reference such as `Condition/c1`.
    pub fn to(reference: impl Into<String>) -> Self {
        Self {
            reference: Some(reference.into()),
            display: None,
        }
    }

    /// `Patient/0x<64 hex digits>` for an on-chain patient id.
    pub fn patient(patient_id: &[u8; 32]) -> Self {
        Self::to(format!("Patient/{}", crate::error::hex(patient_id)))
    }

    /// Whether the literal reference is present and not blank.
    pub fn is_set(&self) -> bool {
        self.reference
            .as_deref()
            .is_some_and(|r| !r.trim().is_empty())
    }
}

/// FHIR `Identifier`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Identifier {
    /// Namespace URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// FHIR `Period` (dates or dateTimes as FHIR strings; see [`FhirDate`](crate::FhirDate)).
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    /// Start, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

impl Period {
    /// A period from `start` to `end` (FHIR date strings).
    pub fn new(start: impl Into<String>, end: impl Into<String>) -> Self {
        Self {
            start: Some(start.into()),
            end: Some(end.into()),
        }
    }
}

/// FHIR `Quantity` / `SimpleQuantity`. FHIR's decimal is held as an `f64`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quantity {
    /// Amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Unit for humans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Unit system URI (UCUM: `http://unitsofmeasure.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Unit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl Quantity {
    /// A value with a unit for humans.
    pub fn new(value: f64, unit: &str) -> Self {
        Self {
            value: Some(value),
            unit: Some(unit.into()),
            system: None,
            code: None,
        }
    }
}

/// FHIR `Money`. FHIR's decimal is held as an `f64`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Money {
    /// Amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// ISO 4217 currency code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

impl Money {
    /// An amount in a currency.
    pub fn new(value: f64, currency: &str) -> Self {
        Self {
            value: Some(value),
            currency: Some(currency.into()),
        }
    }
}

/// FHIR `Annotation`: a note.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotation {
    /// Who wrote it, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_string: Option<String>,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The note.
    pub text: String,
}

impl Annotation {
    /// A note with text only.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            author_string: None,
            time: None,
            text: text.into(),
        }
    }
}

/// FHIR `Dosage` (free-text instructions only).
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dosage {
    /// Order of the instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u32>,
    /// The instructions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Instructions in terms the patient understands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_instruction: Option<String>,
}

impl Dosage {
    /// Instructions as text.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            sequence: None,
            text: Some(text.into()),
            patient_instruction: None,
        }
    }
}

/// FHIR `HumanName`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HumanName {
    /// The full name as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
}

// ---------------------------------------------------------------------------------------------------------------
// Code lists
// ---------------------------------------------------------------------------------------------------------------

/// FHIR `administrative-gender`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AdministrativeGender {
    /// `male`
    Male,
    /// `female`
    Female,
    /// `other`
    Other,
    /// `unknown`
    Unknown,
}

/// FHIR R4 `encounter-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EncounterStatus {
    /// `planned`
    Planned,
    /// `arrived`
    Arrived,
    /// `triaged`
    Triaged,
    /// `in-progress`
    InProgress,
    /// `onleave`
    #[serde(rename = "onleave")]
    OnLeave,
    /// `finished`
    Finished,
    /// `cancelled`
    Cancelled,
    /// `entered-in-error`
    EnteredInError,
    /// `unknown`
    Unknown,
}

/// FHIR `request-status` (CarePlan.status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestStatus {
    /// `draft`
    Draft,
    /// `active`
    Active,
    /// `on-hold`
    OnHold,
    /// `revoked`
    Revoked,
    /// `completed`
    Completed,
    /// `entered-in-error`
    EnteredInError,
    /// `unknown`
    Unknown,
}

/// FHIR `care-plan-intent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CarePlanIntent {
    /// `proposal`
    Proposal,
    /// `plan`
    Plan,
    /// `order`
    Order,
    /// `option`
    Option,
}

/// FHIR `care-plan-activity-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CarePlanActivityStatus {
    /// `not-started`
    NotStarted,
    /// `scheduled`
    Scheduled,
    /// `in-progress`
    InProgress,
    /// `on-hold`
    OnHold,
    /// `completed`
    Completed,
    /// `cancelled`
    Cancelled,
    /// `stopped`
    Stopped,
    /// `unknown`
    Unknown,
    /// `entered-in-error`
    EnteredInError,
}

/// FHIR `medicationrequest-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MedicationRequestStatus {
    /// `active`
    Active,
    /// `on-hold`
    OnHold,
    /// `cancelled`
    Cancelled,
    /// `completed`
    Completed,
    /// `entered-in-error`
    EnteredInError,
    /// `stopped`
    Stopped,
    /// `draft`
    Draft,
    /// `unknown`
    Unknown,
}

/// FHIR `medicationrequest-intent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MedicationRequestIntent {
    /// `proposal`
    Proposal,
    /// `plan`
    Plan,
    /// `order`
    Order,
    /// `original-order`
    OriginalOrder,
    /// `reflex-order`
    ReflexOrder,
    /// `filler-order`
    FillerOrder,
    /// `instance-order`
    InstanceOrder,
    /// `option`
    Option,
}

/// FHIR R4 `medicationdispense-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MedicationDispenseStatus {
    /// `preparation`
    Preparation,
    /// `in-progress`
    InProgress,
    /// `cancelled`
    Cancelled,
    /// `on-hold`
    OnHold,
    /// `completed`
    Completed,
    /// `entered-in-error`
    EnteredInError,
    /// `stopped`
    Stopped,
    /// `declined`
    Declined,
    /// `unknown`
    Unknown,
}

/// FHIR `fm-status` (Coverage, Claim, ClaimResponse status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FinancialResourceStatus {
    /// `active`
    Active,
    /// `cancelled`
    Cancelled,
    /// `draft`
    Draft,
    /// `entered-in-error`
    EnteredInError,
}

/// FHIR `claim-use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimUse {
    /// `claim`
    Claim,
    /// `preauthorization`
    Preauthorization,
    /// `predetermination`
    Predetermination,
}

/// FHIR R4 `remittance-outcome` (ClaimResponse.outcome).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimOutcome {
    /// `queued`
    Queued,
    /// `complete`
    Complete,
    /// `error`
    Error,
    /// `partial`
    Partial,
}

/// FHIR R4 `consent-state-codes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentState {
    /// `draft`
    Draft,
    /// `proposed`
    Proposed,
    /// `active`
    Active,
    /// `rejected`
    Rejected,
    /// `inactive`
    Inactive,
    /// `entered-in-error`
    EnteredInError,
}

/// FHIR `consent-provision-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConsentProvisionType {
    /// `deny`
    Deny,
    /// `permit`
    Permit,
}

// ---------------------------------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------------------------------

/// FHIR `Patient`, minimal: the card, not this record, identifies the patient.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub name: Vec<HumanName>,
    /// Administrative gender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<AdministrativeGender>,
    /// Birth date (FHIR date, may be partial: `YYYY`, `YYYY-MM`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
}

/// FHIR `Encounter`: one visit.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Encounter {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: EncounterStatus,
    /// Classification (v3 ActCode: `AMB`, `EMER`, `IMP`, …).
    pub class: Coding,
    /// Specific type of encounter.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub r#type: Vec<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// Who saw the patient.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participant: Vec<EncounterParticipant>,
    /// Start and end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Reason for the visit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_code: Vec<CodeableConcept>,
    /// The institution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider: Option<Reference>,
}

/// `Encounter.participant`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncounterParticipant {
    /// The practitioner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<Reference>,
}

/// The v3 ActCode system used by `Encounter.class`.
pub const ACT_CODE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

impl Encounter {
    /// A finished ambulatory visit of `subject`.
    pub fn ambulatory(subject: Reference) -> Self {
        Self {
            id: None,
            status: EncounterStatus::Finished,
            class: Coding::new(ACT_CODE_SYSTEM, "AMB", "ambulatory"),
            r#type: Vec::new(),
            subject: Some(subject),
            participant: Vec::new(),
            period: None,
            reason_code: Vec::new(),
            service_provider: None,
        }
    }
}

/// FHIR `Condition`: a diagnosis, ICD-10 coded.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `active`, `recurrence`, `relapse`, `inactive`, `remission`, `resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    /// `unconfirmed`, `provisional`, `differential`, `confirmed`, `refuted`, `entered-in-error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<CodeableConcept>,
    /// `problem-list-item` or `encounter-diagnosis`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<CodeableConcept>,
    /// The diagnosis (ICD-10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    /// The patient (required).
    pub subject: Reference,
    /// The visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// Onset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_date_time: Option<String>,
    /// When recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// Code system of `Condition.clinicalStatus`.
pub const CONDITION_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-clinical";
/// Code system of `Condition.verificationStatus`.
pub const CONDITION_VERIFICATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-ver-status";
/// Code system of `Condition.category`.
pub const CONDITION_CATEGORY_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-category";

/// FHIR `CarePlan`: the treatment plan.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlan {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: RequestStatus,
    /// Intent.
    pub intent: CarePlanIntent,
    /// Title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The patient.
    pub subject: Reference,
    /// The visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// Time covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// When created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The doctor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Reference>,
    /// The conditions treated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Reference>,
    /// Planned actions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activity: Vec<CarePlanActivity>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

impl CarePlan {
    /// An active plan for `subject`.
    pub fn new(subject: Reference) -> Self {
        Self {
            id: None,
            status: RequestStatus::Active,
            intent: CarePlanIntent::Plan,
            title: None,
            description: None,
            subject,
            encounter: None,
            period: None,
            created: None,
            author: None,
            addresses: Vec::new(),
            activity: Vec::new(),
            note: Vec::new(),
        }
    }
}

/// `CarePlan.activity`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlanActivity {
    /// A request resource (e.g. the MedicationRequest) for this activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
    /// The activity described inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<CarePlanActivityDetail>,
}

/// `CarePlan.activity.detail`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CarePlanActivityDetail {
    /// What to do, coded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    /// Status.
    pub status: CarePlanActivityStatus,
    /// What to do, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl CarePlanActivity {
    /// A not-yet-started activity described in text.
    pub fn described(description: impl Into<String>) -> Self {
        Self {
            reference: None,
            detail: Some(CarePlanActivityDetail {
                code: None,
                status: CarePlanActivityStatus::NotStarted,
                description: Some(description.into()),
            }),
        }
    }
}

/// FHIR `MedicationRequest`: a prescription.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationRequest {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: MedicationRequestStatus,
    /// Intent.
    pub intent: MedicationRequestIntent,
    /// The drug (ATC coded, with display and text).
    pub medication_codeable_concept: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// The visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<String>,
    /// The prescriber.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Reference>,
    /// The condition treated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_reference: Vec<Reference>,
    /// How to take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosage_instruction: Vec<Dosage>,
    /// Quantity and validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispense_request: Option<DispenseRequest>,
    /// Whether the pharmacy may hand out another product of the same substance ("aut idem").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitution: Option<RequestSubstitution>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// `MedicationRequest.dispenseRequest`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseRequest {
    /// When the prescription may be dispensed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_period: Option<Period>,
    /// Refills allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number_of_repeats_allowed: Option<u32>,
    /// Amount to dispense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
}

/// FHIR `MedicationRequest.substitution`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestSubstitution {
    /// Whether substitution is allowed.
    pub allowed_boolean: bool,
}

/// FHIR `AllergyIntolerance`: an allergy or intolerance the doctor recorded.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyIntolerance {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `active`, `inactive`, `resolved`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<CodeableConcept>,
    /// `unconfirmed`, `confirmed`, `refuted`, `entered-in-error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<CodeableConcept>,
    /// `allergy` or `intolerance`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `food`, `medication`, `environment`, `biologic`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category: Vec<String>,
    /// `low`, `high`, `unable-to-assess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<String>,
    /// The substance or class (text, optionally ATC coded: a drug class such as J01C, penicillins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<CodeableConcept>,
    /// The patient (required).
    pub patient: Reference,
    /// When recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Notes (the reaction).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// Code system of `AllergyIntolerance.clinicalStatus`.
pub const ALLERGY_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
/// The WHO ATC classification, as FHIR names it.
pub const ATC_SYSTEM: &str = "http://www.whocc.no/atc";

impl AllergyIntolerance {
    /// An active medication allergy of `patient` to `substance`, ATC coded with `atc_class` when given.
    pub fn medication(
        patient: Reference,
        substance: &str,
        atc_class: Option<&str>,
        high: bool,
    ) -> Self {
        let code = match atc_class {
            Some(c) => CodeableConcept {
                coding: vec![Coding::new(ATC_SYSTEM, c, substance)],
                text: Some(substance.to_string()),
            },
            None => CodeableConcept::text(substance),
        };
        Self {
            id: None,
            clinical_status: Some(CodeableConcept::system_code(
                ALLERGY_CLINICAL_SYSTEM,
                "active",
            )),
            verification_status: None,
            kind: Some("allergy".into()),
            category: vec!["medication".into()],
            criticality: Some(if high { "high" } else { "low" }.into()),
            code: Some(code),
            patient,
            recorded_date: None,
            recorder: None,
            note: Vec::new(),
        }
    }
}

/// FHIR `MedicationStatement`: a medication the patient takes (told by the patient or another prescriber).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationStatement {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `active`, `completed`, `entered-in-error`, `intended`, `stopped`, `on-hold`, `unknown`, `not-taken`.
    pub status: String,
    /// The drug (ATC coded, or text).
    pub medication_codeable_concept: CodeableConcept,
    /// The patient (required).
    pub subject: Reference,
    /// When asserted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_asserted: Option<String>,
    /// How it is taken.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosage: Vec<Dosage>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
}

/// FHIR `MedicationDispense`: what the pharmacy handed over.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MedicationDispense {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: MedicationDispenseStatus,
    /// The drug (ATC coded).
    pub medication_codeable_concept: CodeableConcept,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// The pharmacy / pharmacist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<DispensePerformer>,
    /// The prescription(s) dispensed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorizing_prescription: Vec<Reference>,
    /// Amount handed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// When handed over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when_handed_over: Option<String>,
    /// How to take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosage_instruction: Vec<Dosage>,
    /// Whether another product of the same substance was handed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitution: Option<DispenseSubstitution>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    /// Extensions: the batch (lot) number handed out ([`BATCH_EXTENSION`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
}

/// The extension carrying a dispense's batch (lot) number (R4's MedicationDispense has no batch element).
pub const BATCH_EXTENSION: &str = "urn:carekiosk:fhir:StructureDefinition:dispense-batch";

/// A FHIR extension with a string value.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// What it is.
    pub url: String,
    /// Its value.
    pub value_string: String,
}

/// `MedicationDispense.substitution`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseSubstitution {
    /// Whether the product handed out differs from the one prescribed.
    pub was_substituted: bool,
    /// What kind of substitution (v3 ActSubstanceAdminSubstitutionCode: `G` generic, `E` equivalent).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CodeableConcept>,
}

impl MedicationDispense {
    /// The batch (lot) number recorded with this dispense.
    pub fn batch(&self) -> Option<&str> {
        self.extension
            .iter()
            .find(|e| e.url == BATCH_EXTENSION)
            .map(|e| e.value_string.as_str())
    }
}

/// `MedicationDispense.performer`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispensePerformer {
    /// Who dispensed.
    pub actor: Reference,
}

/// FHIR `Coverage`: the patient's insurance.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Coverage {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: FinancialResourceStatus,
    /// Kind of coverage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<CodeableConcept>,
    /// Member number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber_id: Option<String>,
    /// The patient.
    pub beneficiary: Reference,
    /// Policy period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// The insurer(s).
    #[serde(default)]
    pub payor: Vec<Reference>,
}

/// FHIR `Claim`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claim {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: FinancialResourceStatus,
    /// `institutional`, `oral`, `pharmacy`, `professional`, `vision`.
    pub r#type: CodeableConcept,
    /// Claim, preauthorization or predetermination.
    pub r#use: ClaimUse,
    /// The patient.
    pub patient: Reference,
    /// When created.
    pub created: String,
    /// The insurer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer: Option<Reference>,
    /// The hospital.
    pub provider: Reference,
    /// `stat`, `normal`, `deferred`.
    pub priority: CodeableConcept,
    /// Diagnoses (ICD-10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis: Vec<ClaimDiagnosis>,
    /// Who treated (the practitioner).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub care_team: Vec<ClaimCareTeam>,
    /// Coverages.
    #[serde(default)]
    pub insurance: Vec<ClaimInsurance>,
    /// Billed items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<ClaimItem>,
    /// Total billed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
}

/// Code system of `Claim.type`.
pub const CLAIM_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/claim-type";
/// Code system of `Claim.priority`.
pub const PROCESS_PRIORITY_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/processpriority";

/// `Claim.insurance`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimInsurance {
    /// Order.
    pub sequence: u32,
    /// Whether this coverage is the one to adjudicate against.
    pub focal: bool,
    /// The Coverage.
    pub coverage: Reference,
}

/// `Claim.diagnosis`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimDiagnosis {
    /// Order.
    pub sequence: u32,
    /// The diagnosis, ICD-10 coded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis_codeable_concept: Option<CodeableConcept>,
}

/// `Claim.careTeam`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimCareTeam {
    /// Order.
    pub sequence: u32,
    /// The practitioner.
    pub provider: Reference,
}

/// `Claim.item`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimItem {
    /// Order.
    pub sequence: u32,
    /// Which care team members (by sequence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub care_team_sequence: Vec<u32>,
    /// Which diagnoses (by sequence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis_sequence: Vec<u32>,
    /// What was billed.
    pub product_or_service: CodeableConcept,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serviced_date: Option<String>,
    /// How many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// Price of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
    /// Line total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net: Option<Money>,
}

/// FHIR `ClaimResponse`: the insurer's decision.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponse {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: FinancialResourceStatus,
    /// Claim type (as in the Claim).
    pub r#type: CodeableConcept,
    /// Use (as in the Claim).
    pub r#use: ClaimUse,
    /// The patient.
    pub patient: Reference,
    /// When created.
    pub created: String,
    /// The insurer.
    pub insurer: Reference,
    /// The Claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Reference>,
    /// Processing outcome.
    pub outcome: ClaimOutcome,
    /// The decision in words (approval, or the denial reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disposition: Option<String>,
    /// The decision per claim item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub item: Vec<ClaimResponseItem>,
    /// Totals by category (`submitted`, `benefit`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub total: Vec<ClaimResponseTotal>,
    /// Payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<ClaimResponsePayment>,
    /// Processing errors (denial reason codes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error: Vec<ClaimResponseError>,
}

/// Code system of `ClaimResponse.total.category` (adjudication).
pub const ADJUDICATION_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/adjudication";

/// `ClaimResponse.item`: the adjudication of one claim item.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponseItem {
    /// The claim item's sequence.
    pub item_sequence: u32,
    /// `submitted`, `eligible`, `benefit`, … with amounts, and the reason when reduced or denied.
    pub adjudication: Vec<Adjudication>,
}

/// `ClaimResponse.item.adjudication`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Adjudication {
    /// `submitted`, `eligible`, `benefit`, `deductible`, …
    pub category: CodeableConcept,
    /// Why (adjudication reason: `ar001` not covered, `ar002` plan limit reached, or text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CodeableConcept>,
    /// The amount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

/// `ClaimResponse.total`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponseTotal {
    /// `submitted`, `benefit`, `copay`, …
    pub category: CodeableConcept,
    /// The amount.
    pub amount: Money,
}

/// `ClaimResponse.payment`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponsePayment {
    /// `complete` or `partial`.
    pub r#type: CodeableConcept,
    /// When paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Amount paid.
    pub amount: Money,
}

/// `ClaimResponse.error`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimResponseError {
    /// Error code.
    pub code: CodeableConcept,
}

/// FHIR `Consent`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consent {
    /// Logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Status.
    pub status: ConsentState,
    /// `patient-privacy`, `treatment`, `research`, `adr`.
    pub scope: CodeableConcept,
    /// Category (at least one).
    #[serde(default)]
    pub category: Vec<CodeableConcept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<Reference>,
    /// When agreed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_time: Option<String>,
    /// Who agreed (the patient).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    /// The institution given access.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub organization: Vec<Reference>,
    /// Permit/deny and its window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<ConsentProvision>,
}

/// Code system of `Consent.scope`.
pub const CONSENT_SCOPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/consentscope";

/// `Consent.provision`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentProvision {
    /// Deny or permit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<ConsentProvisionType>,
    /// When it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

// ---------------------------------------------------------------------------------------------------------------
// Resource
// ---------------------------------------------------------------------------------------------------------------

/// One record's content: a FHIR resource, (de)serialised with its `resourceType`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    /// Patient.
    Patient(Patient),
    /// Encounter.
    Encounter(Encounter),
    /// Condition.
    Condition(Condition),
    /// CarePlan.
    CarePlan(CarePlan),
    /// MedicationRequest.
    MedicationRequest(MedicationRequest),
    /// MedicationDispense.
    MedicationDispense(MedicationDispense),
    /// Coverage.
    Coverage(Coverage),
    /// Claim.
    Claim(Claim),
    /// ClaimResponse.
    ClaimResponse(ClaimResponse),
    /// Consent.
    Consent(Consent),
    /// The emergency data set, a FHIR `Bundle` (collection).
    #[serde(rename = "Bundle")]
    EmergencySet(crate::emergency::EmergencyBundle),
    /// AllergyIntolerance.
    AllergyIntolerance(AllergyIntolerance),
    /// MedicationStatement.
    MedicationStatement(MedicationStatement),
}

impl std::fmt::Debug for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resource::{}(<redacted>)", self.kind())
    }
}

impl Resource {
    /// The on-chain kind of this resource.
    pub fn kind(&self) -> RecordKind {
        match self {
            Resource::Patient(_) => RecordKind::Patient,
            Resource::Encounter(_) => RecordKind::Encounter,
            Resource::Condition(_) => RecordKind::Condition,
            Resource::CarePlan(_) => RecordKind::CarePlan,
            Resource::MedicationRequest(_) => RecordKind::MedicationRequest,
            Resource::MedicationDispense(_) => RecordKind::MedicationDispense,
            Resource::Coverage(_) => RecordKind::Coverage,
            Resource::Claim(_) => RecordKind::Claim,
            Resource::ClaimResponse(_) => RecordKind::ClaimResponse,
            Resource::Consent(_) => RecordKind::Consent,
            Resource::EmergencySet(_) => RecordKind::EmergencySet,
            Resource::AllergyIntolerance(_) => RecordKind::AllergyIntolerance,
            Resource::MedicationStatement(_) => RecordKind::MedicationStatement,
        }
    }

    /// FHIR JSON (compact). The buffer holds plaintext: zeroize it when done (this crate does so internally).
    pub fn to_json(&self) -> Result<Vec<u8>, crate::RecordsError> {
        serde_json::to_vec(self).map_err(|e| crate::error::json_error(&e))
    }

    /// Parses FHIR JSON; errors report the position only, never the content.
    pub fn from_json(json: &[u8]) -> Result<Self, crate::RecordsError> {
        serde_json::from_slice(json).map_err(|e| crate::error::json_error(&e))
    }
}

macro_rules! from_resource {
    ($($t:ident),*) => {
        $(impl From<$t> for Resource {
            fn from(r: $t) -> Self {
                Resource::$t(r)
            }
        })*
    };
}

from_resource!(
    Patient,
    Encounter,
    Condition,
    CarePlan,
    MedicationRequest,
    MedicationDispense,
    Coverage,
    Claim,
    ClaimResponse,
    Consent,
    AllergyIntolerance,
    MedicationStatement
);
