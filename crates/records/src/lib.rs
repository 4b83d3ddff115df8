//! carekiosk's patient-record contents and their encryption.
//!
//! It owns:
//! - the record contents: hand-written HL7 FHIR R4 types for the elements carekiosk uses ([`fhir`]), the
//!   [`Resource`] union and its [`RecordKind`] (inside the encryption), and the rules a record must meet before it is saved
//!   ([`Resource::validate`]);
//! - the pick lists a doctor chooses from: every billable ICD-10-CM code ([`icd10`], 74,719 codes, public domain)
//!   and a formulary keyed by ATC code ([`formulary`]), each with a type-ahead search fast enough for every
//!   keystroke;
//! - the **sealed envelope**, the bytes that go on chain for a record: [`seal`], [`open`], [`content_hash`].
//!
//! It must not do I/O of any kind (no files, network, clock, logging), talk to the chain, or talk to a card:
//! it is pure computation, so it can be tested exhaustively and used anywhere. The card enters through the
//! [`KeyAgreement`] trait, implemented by the card crate on top of PSO:DECIPHER; the institution's key is a
//! [`SoftKey`] whose 32 secret bytes another crate keeps in the OS keyring. Nothing here prints plaintext or
//! keys: record types, keys and envelopes have redacting `Debug` impls, and errors never carry decrypted content.
//!
//! # Cryptography
//!
//! - **Content**: a fresh random 256-bit content key per record, **AES-256-GCM** (crate `aes-gcm`) over the
//!   record's framed plaintext: kind ‖ flags ‖ length ‖ the FHIR JSON (raw DEFLATE when that is shorter) ‖ zero
//!   padding up to a bucket size. Each content key encrypts exactly one message, so version 3 uses the all-zero
//!   nonce (version 2 carried a random one). AES-GCM was chosen for its standing (NIST, FIPS) next to the NIST
//!   P-256 keys the cards hold.
//! - **Key wrapping** (ECIES on NIST P-256, version 3), one ephemeral key for the envelope: a fresh P-256 key
//!   `e`, E = e·G; per recipient slot i, `z_i` = x-coordinate of `e·R_i` (R_i the recipient's public key) and
//!   `HKDF-SHA256(salt = E uncompressed (65 bytes), ikm = z_i, info = "carekiosk/records/v3/slot-key" ‖ version ‖
//!   slot ‖ patient id (32) ‖ the recipient's key id (32))` → the slot key (32); the slot holds the content key
//!   XOR the slot key. A reader does one ECDH with E and tries its slots: the content's GCM tag tells which one
//!   was its. A slot nobody holds a key for is a **decoy**: 32 random bytes, indistinguishable from a real slot.
//!   (Version 2, still read: one ephemeral key a slot, the content key AES-GCM-wrapped under
//!   `HKDF(…, info = "carekiosk/records/v2/key-wrap" ‖ version ‖ slot ‖ patient id)` → key ‖ nonce.)
//! - **No key ids**: a reader tries its key on the slots (trial decryption): the card only slot 0, an
//!   institution slots 1 and 2. Nothing in the envelope names or links its recipients.
//! - **AAD** of the content: `"carekiosk/records/v2/content" ‖ patient id (32) ‖ header`, where the header is
//!   every envelope byte before the ciphertext (version, ephemeral key, slots). A sealed blob therefore cannot be
//!   replayed under another patient, and no slot can be swapped, dropped or added without the content failing.
//!
//! # Envelope format, version 3 (`docs/design-v2.md`)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version = `0x03` |
//! | 1 | 33 | ephemeral key E, SEC1 compressed |
//! | 34 + 32·i | 32 | slot *i* (0 patient, 1 author, 2 third party or decoy): content key ⊕ slot key |
//! | 130 | B + 16 | ciphertext of the padded plaintext (B bytes, a bucket size) ‖ GCM tag |
//!
//! The padded plaintext is `kind (1) ‖ flags (1: DEFLATE) ‖ body length (4, big-endian) ‖ body ‖ zeros`, and B
//! is one of [`BUCKETS`] (512 … 65,536): every sealed payload is B + 146 bytes ([`OVERHEAD`]), so its size says
//! nothing about the code, drug or kind inside; the kind is inside the encryption. [`Envelope::parse`] rejects
//! anything else — wrong version, a length that is not a bucket size, an ephemeral key that is not a compressed
//! point on the curve — with an error that names the problem, and never panics; [`open`] rejects a frame that is
//! not well formed. Version 2 (B + 272 bytes, [`OVERHEAD_V2`]: three slots of ephemeral key (33) ‖ wrapped key
//! (48), then a 12-byte nonce) is parsed and opened the same way.
//!
//! # Example
//!
//! ```
//! use carekiosk_records::{icd10, open, seal, Condition, RecordKind, Reference, Resource, SoftKey};
//!
//! let patient_id = [7u8; 32];
//! let mut card = SoftKey::generate(); // stands in for the patient's card
//! let hospital = SoftKey::generate();
//! let diagnosis = icd10::lookup("J06.9").unwrap().diagnosis(Reference::patient(&patient_id));
//! let sealed = seal(&diagnosis.into(), patient_id, &[card.public_key(), hospital.public_key()])?;
//! assert_eq!(sealed.len(), 512 + 146); // compressed, then padded to the smallest bucket
//! let opened = open(&sealed, patient_id, &mut card)?;
//! assert_eq!(opened.kind(), RecordKind::Condition);
//! # Ok::<(), carekiosk_records::RecordsError>(())
//! ```

mod catalog;
mod date;
pub mod emergency;
mod envelope;
mod error;
pub mod fhir;
pub mod formulary;
pub mod history;
pub mod icd10;
mod keys;
pub mod services;
mod validate;

use std::fmt;

pub use date::FhirDate;
pub use emergency::{EmergencyBundle, EmergencySet};
pub use envelope::{
    bucket_for, content_hash, is_sealed_len, open, open_as_patient, open_bytes_slots,
    open_expecting, open_slots, padded_plaintext, recipients_for, seal, seal_bytes_with_rng,
    seal_with_rng, sealed_len, Envelope, WrappedKey, AUTHOR_SLOT, BUCKETS, EPHEMERAL_LEN,
    FORMAT_VERSION, FORMAT_VERSION_2, FRAME_LEN, HEADER_LEN, MAX_CONTENT_LEN, MAX_RECIPIENTS,
    NONCE_LEN, OVERHEAD, OVERHEAD_V2, PATIENT_SLOT, RECIPIENT_LEN, RECIPIENT_LEN_V2, SLOTS,
    TAG_LEN, THIRD_SLOT,
};
pub use error::{KeyAgreementError, RecordsError};
pub use fhir::{
    AllergyIntolerance, CarePlan, Claim, ClaimResponse, CodeableConcept, Coding, Condition,
    Consent, Coverage, Encounter, MedicationDispense, MedicationRequest, MedicationStatement,
    Patient, Period, Reference, Resource, ATC_SYSTEM,
};
pub use history::{
    issue_bundle, open_card_grant, recover, BundleLayout, Issued, KeyBundle, COMPACT_BUNDLE,
    KEY_GRANT_TAG,
};
pub use keys::{keccak256, key_id, KeyAgreement, RecipientPublicKey, SoftKey};

/// The kind of a record: the first byte of the sealed plaintext (never on chain in the clear). The
/// discriminants are part of the envelope format: never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RecordKind {
    /// FHIR Encounter.
    Encounter = 1,
    /// FHIR Condition (diagnosis).
    Condition = 2,
    /// FHIR CarePlan (treatment plan).
    CarePlan = 3,
    /// FHIR MedicationRequest (prescription).
    MedicationRequest = 4,
    /// FHIR MedicationDispense.
    MedicationDispense = 5,
    /// FHIR Claim.
    Claim = 6,
    /// FHIR ClaimResponse.
    ClaimResponse = 7,
    /// FHIR Coverage.
    Coverage = 8,
    /// FHIR Consent.
    Consent = 9,
    /// FHIR Patient.
    Patient = 10,
    /// The emergency data set: a FHIR Bundle ([`emergency`]).
    EmergencySet = 11,
    /// FHIR AllergyIntolerance.
    AllergyIntolerance = 12,
    /// FHIR MedicationStatement.
    MedicationStatement = 13,
}

impl RecordKind {
    /// Every kind, in discriminant order.
    pub const ALL: [RecordKind; 13] = [
        RecordKind::Encounter,
        RecordKind::Condition,
        RecordKind::CarePlan,
        RecordKind::MedicationRequest,
        RecordKind::MedicationDispense,
        RecordKind::Claim,
        RecordKind::ClaimResponse,
        RecordKind::Coverage,
        RecordKind::Consent,
        RecordKind::Patient,
        RecordKind::EmergencySet,
        RecordKind::AllergyIntolerance,
        RecordKind::MedicationStatement,
    ];

    /// The FHIR `resourceType`.
    pub fn resource_type(self) -> &'static str {
        match self {
            RecordKind::Encounter => "Encounter",
            RecordKind::Condition => "Condition",
            RecordKind::CarePlan => "CarePlan",
            RecordKind::MedicationRequest => "MedicationRequest",
            RecordKind::MedicationDispense => "MedicationDispense",
            RecordKind::Claim => "Claim",
            RecordKind::ClaimResponse => "ClaimResponse",
            RecordKind::Coverage => "Coverage",
            RecordKind::Consent => "Consent",
            RecordKind::Patient => "Patient",
            RecordKind::EmergencySet => "Bundle",
            RecordKind::AllergyIntolerance => "AllergyIntolerance",
            RecordKind::MedicationStatement => "MedicationStatement",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.resource_type())
    }
}

impl From<RecordKind> for u8 {
    fn from(kind: RecordKind) -> u8 {
        kind as u8
    }
}

impl TryFrom<u8> for RecordKind {
    type Error = RecordsError;

    fn try_from(byte: u8) -> Result<Self, RecordsError> {
        RecordKind::ALL
            .get(usize::from(byte).wrapping_sub(1))
            .copied()
            .ok_or(RecordsError::UnknownKind(byte))
    }
}
