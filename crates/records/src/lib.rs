//! carekiosk's patient-record contents and their encryption.
//!
//! It owns:
//! - the record contents: hand-written HL7 FHIR R4 types for the elements carekiosk uses ([`fhir`]), the
//!   [`Resource`] union and its on-chain [`RecordKind`], and the rules a record must meet before it is saved
//!   ([`Resource::validate`]);
//! - the pick lists a doctor chooses from: a WHO ICD-10 subset ([`icd10`]) and a formulary keyed by ATC code
//!   ([`formulary`]);
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
//! - **Content**: a fresh random 256-bit content key per record, **AES-256-GCM** (crate `aes-gcm`) with a random
//!   96-bit nonce, over the record's FHIR JSON (uncompressed). AES-GCM was chosen over XChaCha20-Poly1305 for
//!   its standing (NIST, FIPS) next to the NIST P-256 keys the cards hold; a nonce collision is moot since each
//!   content key encrypts exactly one message.
//! - **Key wrapping** (ECIES on NIST P-256), once per recipient: a fresh ephemeral P-256 key `e`; `z` = x-coordinate
//!   of `e·R` (R the recipient's public key); `HKDF-SHA256(salt = E uncompressed (65 bytes), ikm = z,
//!   info = "carekiosk/records/v1/key-wrap" ‖ version ‖ kind ‖ patient id (32) ‖ recipient key id (32))` → 44
//!   bytes = key-encryption key (32) ‖ nonce (12); the content key is AES-256-GCM-encrypted under it (no AAD:
//!   everything is bound by the derivation). Each KEK encrypts exactly one message, so its derived nonce is safe.
//! - **Key id** of a P-256 public key: `keccak256(x ‖ y)` (64 coordinate bytes, no `04` prefix) — the same hash
//!   the contracts use for a patient id from a card key. See [`key_id`].
//! - **AAD** of the content: `"carekiosk/records/v1/content" ‖ patient id (32) ‖ header`, where the header is
//!   every envelope byte before the ciphertext (version, kind, recipient entries, nonce). A sealed blob therefore
//!   cannot be replayed under another patient or kind, and no recipient entry can be swapped, dropped or added
//!   without the content failing to authenticate.
//! - **Opening** needs one ECDH with the recipient's private key, through [`KeyAgreement`]: the card never
//!   exports its key.
//!
//! # Envelope format, version 1
//!
//! Compact binary (calldata costs gas): fixed-size fields, one count byte, the ciphertext runs to the end.
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | version = `0x01` |
//! | 1 | 1 | [`RecordKind`] (1..=10) |
//! | 2 | 1 | `n` = recipient count, 1..=16 |
//! | 3 + 113·i | 32 | recipient *i*: key id |
//! | 35 + 113·i | 33 | recipient *i*: ephemeral public key, SEC1 compressed (`02`/`03` ‖ x) |
//! | 68 + 113·i | 48 | recipient *i*: wrapped content key (32) ‖ GCM tag (16) |
//! | 3 + 113·n | 12 | content nonce |
//! | 15 + 113·n | L + 16 | content ciphertext (L bytes of FHIR JSON, 1 ≤ L ≤ 65536) ‖ GCM tag |
//!
//! Total: `15 + 113·n + L + 16` bytes ([`sealed_len`]), i.e. a fixed 257 bytes over the JSON for the usual two
//! recipients (card, institution) and 370 for three. A minimal diagnosis ([`Condition::diagnosis`], 617 bytes of
//! JSON) seals to 874 bytes; one with a clinical note (~1 KB of JSON) to ~1.25 KB. [`Envelope::parse`] rejects anything else — wrong version, unknown kind, zero or
//! too many recipients, duplicate key ids, an ephemeral key that is not a compressed point on the curve, a
//! truncated or oversized body — with an error that names the problem, and never panics.
//!
//! # Example
//!
//! ```
//! use carekiosk_records::{icd10, open, seal, Condition, RecordKind, Reference, Resource, SoftKey};
//!
//! let patient_id = [7u8; 32];
//! let mut card = SoftKey::generate(); // stands in for the patient's card
//! let hospital = SoftKey::generate();
//! let diagnosis = Condition::diagnosis(icd10::lookup("J06.9").unwrap(), Reference::patient(&patient_id));
//! let sealed = seal(&diagnosis.into(), patient_id, &[card.public_key(), hospital.public_key()])?;
//! let opened = open(&sealed, patient_id, RecordKind::Condition, &mut card)?;
//! assert_eq!(opened.kind(), RecordKind::Condition);
//! # Ok::<(), carekiosk_records::RecordsError>(())
//! ```

mod date;
mod envelope;
mod error;
pub mod fhir;
pub mod formulary;
pub mod icd10;
mod keys;
mod validate;

use std::fmt;

pub use date::FhirDate;
pub use envelope::{
    content_hash, open, recipients_for, seal, seal_with_rng, sealed_len, Envelope, WrappedKey,
    FORMAT_VERSION, HEADER_LEN, MAX_CONTENT_LEN, MAX_RECIPIENTS, NONCE_LEN, RECIPIENT_LEN, TAG_LEN,
};
pub use error::{KeyAgreementError, RecordsError};
pub use fhir::{
    CarePlan, Claim, ClaimResponse, CodeableConcept, Coding, Condition, Consent, Coverage,
    Encounter, MedicationDispense, MedicationRequest, Patient, Period, Reference, Resource,
};
pub use keys::{keccak256, key_id, KeyAgreement, RecipientPublicKey, SoftKey};

/// The kind of a record, as stored on chain (one byte). The discriminants are part of the contracts' data:
/// never renumber.
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
}

impl RecordKind {
    /// Every kind, in discriminant order.
    pub const ALL: [RecordKind; 10] = [
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

/// Case-insensitive search over a static pick list; every query word must occur in the code (with or without
/// dots) or the text. Ranked: code prefix, then a text word starting with the first query word, then the rest.
pub(crate) fn catalog_search<T>(
    items: &'static [T],
    query: &str,
    key: impl Fn(&T) -> (&'static str, String),
) -> Vec<&'static T> {
    let query = query.trim().to_lowercase();
    let words: Vec<&str> = query.split_whitespace().collect();
    let Some(first) = words.first() else {
        return items.iter().collect();
    };
    let undotted_query = query.replace('.', "");
    let mut hits: Vec<(u8, &'static T)> = items
        .iter()
        .filter_map(|item| {
            let (code, text) = key(item);
            let code = code.to_lowercase();
            let undotted = code.replace('.', "");
            let text = text.to_lowercase();
            let matches = |w: &str| {
                code.contains(w) || undotted.contains(&w.replace('.', "")) || text.contains(w)
            };
            if !words.iter().all(|w| matches(w)) {
                return None;
            }
            let rank = if undotted.starts_with(&undotted_query) {
                0
            } else if text
                .split(|c: char| !c.is_alphanumeric())
                .any(|t| t.starts_with(first))
            {
                1
            } else {
                2
            };
            Some((rank, item))
        })
        .collect();
    hits.sort_by_key(|(rank, _)| *rank);
    hits.into_iter().map(|(_, item)| item).collect()
}
