//! What the driver asks a kiosk worker process and what it answers: one JSON object a line on the worker's
//! stdin and stdout. PINs cross this pipe (the patient typing at the kiosk) and are never logged.

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

/// One visit step, run by a kiosk of the matching role through the kiosk core's workflows.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Reception: a blank card in `reader` is issued and the patient registered.
    Register {
        /// Reader with the blank card.
        reader: String,
        /// Name.
        name: String,
        /// Birth date.
        birth_date: String,
        /// Gender.
        gender: String,
        /// The PIN the patient chooses.
        pin: String,
        /// The blank card's admin PIN.
        admin_pin: String,
    },
    /// Insurer: enrolment of the patient, whose card consents to the insurer.
    Enroll {
        /// Reader.
        reader: String,
        /// PIN.
        pin: String,
    },
    /// Doctor: the consultation, one write (diagnosis and care plan, a prescription, the claim in whole tokens).
    Consult {
        /// The consultation's name, the same when the step is asked again.
        id: String,
        /// Reader.
        reader: String,
        /// PIN.
        pin: String,
        /// ICD-10 code.
        icd10: String,
        /// Free-text note.
        note: String,
        /// Care plan steps.
        plan: Vec<String>,
        /// ATC code of the prescribed drug.
        atc: String,
        /// Quantity.
        quantity: f64,
        /// Dosage text.
        dosage: String,
        /// The claim, in whole tokens.
        amount: u64,
    },
    /// Pharmacy: open the patient's prescriptions with the card and dispense the ready ones.
    Pharmacy {
        /// Reader.
        reader: String,
        /// PIN.
        pin: String,
    },
    /// Insurer: review, approve (at the coverage cap) and pay the patient's open claims.
    Settle {
        /// Patient id.
        patient: B256,
    },
    /// What the kiosk's index says about a patient (after a sync): to tell whether an interrupted step landed.
    Probe {
        /// Patient id.
        patient: B256,
    },
    /// Drain the outbox and sync the index, for the end of the run.
    Finish,
}

impl Op {
    /// The step's name in reports and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Register { .. } => "register",
            Op::Enroll { .. } => "enroll",
            Op::Consult { .. } => "consult",
            Op::Pharmacy { .. } => "pharmacy",
            Op::Settle { .. } => "settle",
            Op::Probe { .. } => "probe",
            Op::Finish => "finish",
        }
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A request line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Correlation id (> 0).
    pub id: u64,
    /// The step.
    pub op: Op,
}

/// Why a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailKind {
    /// The card or PC/SC (pulled card, pcscd restarting): retry once the card is back.
    Card,
    /// The node did not answer: retry once it is back.
    Node,
    /// The chain (or the index) lacks what the step needs: a patient, a consent, a prescription, a claim. On a
    /// chain that reorgs, another kiosk's write may have been taken off and be on its way back: retried then.
    Refused,
    /// Anything else: a real failure.
    Other,
}

/// What the index says about a patient.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    /// Registered on chain.
    pub registered: bool,
    /// Record chain entries.
    pub records: u64,
    /// Prescriptions.
    pub prescriptions: u64,
    /// Prescriptions dispensed.
    pub dispensed: u64,
    /// Claims and their status (1 submitted, 2 approved, 3 denied, 4 paid).
    pub claims: Vec<(u64, u8)>,
}

/// A reply line (`id` 0: the worker is ready).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reply {
    /// The request's id.
    pub id: u64,
    /// Whether the step succeeded.
    pub ok: bool,
    /// Milliseconds it took in the worker.
    pub ms: f64,
    /// Why it failed.
    pub kind: Option<FailKind>,
    /// The error's text (no patient data: the kiosk core's errors carry none).
    pub error: Option<String>,
    /// The chain error's stable kind when the step failed on the chain (`unreachable` is the "offline" banner).
    pub chain_kind: Option<String>,
    /// The patient registered.
    pub patient: Option<B256>,
    /// Prescriptions dispensed by this step.
    pub dispensed: u64,
    /// The probe's answer.
    pub probe: Option<Probe>,
    /// Writes found pending at start and driven to the chain (ready line).
    pub recovered: u64,
}
