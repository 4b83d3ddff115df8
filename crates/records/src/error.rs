//! The crate's one error type, and the error a [`KeyAgreement`](crate::KeyAgreement) implementation returns.
//!
//! Messages say what went wrong and what to do about it. They never contain decrypted content, keys or
//! shared secrets. Validation errors (raised on the authoring kiosk, before sealing, about what its user typed)
//! may echo a code, a date or a quantity so the user can correct it, never a name or free text.

use crate::date::FhirDate;
use crate::RecordKind;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordsError {
    // ----- content validation (before sealing) -----
    /// A required element is missing or blank.
    #[error("{resource}.{field} is required: fill it in before saving the record")]
    MissingField {
        /// FHIR resource type.
        resource: &'static str,
        /// FHIR element path.
        field: &'static str,
    },
    /// An element is present but breaks a rule.
    #[error("{resource}.{field} is invalid: {problem}")]
    InvalidField {
        /// FHIR resource type.
        resource: &'static str,
        /// FHIR element path.
        field: &'static str,
        /// What is wrong and how to fix it.
        problem: String,
    },
    /// A diagnosis has no ICD-10 coding.
    #[error(
        "{resource}.{field} has no ICD-10-CM coding (system http://hl7.org/fhir/sid/icd-10-cm): \
         pick the diagnosis from the list (icd10::search)"
    )]
    MissingIcd10 {
        /// FHIR resource type.
        resource: &'static str,
        /// FHIR element path.
        field: &'static str,
    },
    /// A diagnosis code that is not in the kiosk's ICD-10 list.
    #[error("ICD-10-CM code {code:?} is not a billable code of this kiosk's ICD-10-CM list: pick the diagnosis from the list (icd10::search)")]
    UnknownIcd10 {
        /// The code as given.
        code: String,
    },
    /// A medication without an ATC coding.
    #[error(
        "{resource}.medicationCodeableConcept has no ATC coding (system http://www.whocc.no/atc): \
         pick the drug from the formulary (formulary::search)"
    )]
    MissingMedicationCode {
        /// FHIR resource type.
        resource: &'static str,
    },
    /// A medication code that is not in the kiosk's formulary.
    #[error("ATC code {code:?} is not in this kiosk's formulary: pick the drug from the formulary (formulary::search)")]
    UnknownMedication {
        /// The code as given.
        code: String,
    },
    /// A prescription or dispense without instructions.
    #[error(
        "{resource}.dosageInstruction has no text: write how to take the medicine \
         (the formulary's default dosage is a starting point)"
    )]
    EmptyDosage {
        /// FHIR resource type.
        resource: &'static str,
    },
    /// A quantity that is zero, negative or not a number.
    #[error("{resource}.{field} must be a number greater than zero (got {value})")]
    NonPositiveQuantity {
        /// FHIR resource type.
        resource: &'static str,
        /// FHIR element path.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// A prescription whose validity has already ended.
    #[error(
        "the prescription's validity ended on {end}, before today ({today}): \
         set dispenseRequest.validityPeriod.end to today or later"
    )]
    ValidityInPast {
        /// End of the validity period.
        end: FhirDate,
        /// The date the caller passed as today.
        today: FhirDate,
    },
    /// A date that is not a FHIR date or dateTime.
    #[error("{resource}.{field} {value:?} is not a FHIR date: write YYYY-MM-DD (or YYYY-MM-DDThh:mm:ss+hh:mm)")]
    InvalidDate {
        /// FHIR resource type.
        resource: &'static str,
        /// FHIR element path.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// A period whose start is after its end.
    #[error("{resource}.{field} starts on {start}, after it ends on {end}: correct the dates")]
    PeriodReversed {
        /// FHIR resource type.
        resource: &'static str,
        /// FHIR element path.
        field: &'static str,
        /// Period start.
        start: FhirDate,
        /// Period end.
        end: FhirDate,
    },

    // ----- keys and recipients -----
    /// Bytes that are not a P-256 public key.
    #[error(
        "not a P-256 public key: expected SEC1 bytes (33 compressed or 65 uncompressed) of a point on the curve; \
         re-read the key from the card or the registry"
    )]
    InvalidPublicKey,
    /// Bytes that are not a P-256 secret key.
    #[error(
        "not a P-256 secret key: expected 32 big-endian bytes, non-zero and below the curve order; \
         the stored institution key is corrupt, restore it from backup or generate a new one"
    )]
    InvalidSecretKey,
    /// `seal` was given no recipient.
    #[error("a record needs at least one recipient: pass the patient's card key and the institution's key")]
    NoRecipients,
    /// More recipients than the format allows.
    #[error("a record can be sealed for at most {max} recipients, {count} were given")]
    TooManyRecipients {
        /// Recipients given or found.
        count: usize,
        /// The format's limit.
        max: usize,
    },
    /// The same key appears twice among the recipients.
    #[error("recipient key {key_id} appears twice: pass each key once")]
    DuplicateRecipient {
        /// Hex key id.
        key_id: String,
    },
    /// A claim (or claim response) sealed without the other party of the claim.
    #[error(
        "a {kind} must also be sealed for the other party of the claim (the insurer for a Claim, \
         the hospital for a ClaimResponse): pass that party's encryption key"
    )]
    ClaimPartyMissing {
        /// The record kind.
        kind: RecordKind,
    },
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed, nothing was sealed: retry, and check the kiosk's OS")]
    Randomness,

    // ----- content (de)serialisation -----
    /// The content is larger than the format allows.
    #[error(
        "the emergency set takes {len} bytes in its card form, the card holds {max}: \
         shorten or remove entries (the full set stays in the history)"
    )]
    EmergencySetTooLarge {
        /// Compact (compressed) size.
        len: usize,
        /// What the card's object holds.
        max: usize,
    },
    #[error("the record content is {len} bytes, more than the {max} bytes a sealed record may carry: split it")]
    ContentTooLarge {
        /// Content length in bytes.
        len: usize,
        /// The format's limit.
        max: usize,
    },
    /// The content could not be (de)serialised as FHIR JSON. Only the position is reported, never the content.
    #[error(
        "the record content is not the FHIR JSON this build understands ({category} error{pos}); \
         it may have been written by a newer carekiosk: update",
        pos = position(*.line, *.column)
    )]
    ContentJson {
        /// serde_json's error category (syntax, data, eof, io).
        category: &'static str,
        /// Line of the error (0 when unknown: errors inside a resource carry no position).
        line: usize,
        /// Column of the error (0 when unknown).
        column: usize,
    },

    // ----- envelope parsing -----
    /// Zero bytes.
    #[error("the sealed record is empty: pass the record bytes exactly as stored on chain")]
    EnvelopeEmpty,
    /// A version byte this build does not read.
    #[error(
        "sealed record format version {0} is not supported (this build reads versions 2 and 3): \
         it was written by another carekiosk release"
    )]
    UnsupportedVersion(u8),
    /// A length that is not one of the padded sizes every envelope has.
    #[error(
        "the sealed record is {len} bytes, not one of the padded sizes (512 … 65,536 bytes plus 146, or 272 \
         for version 2): \
         the bytes are corrupt or were not written by carekiosk"
    )]
    NotABucketSize {
        /// Bytes present.
        len: usize,
    },
    /// A record kind byte that is not a [`RecordKind`].
    #[error("record kind {0} is unknown (known: 1..=13): the bytes are corrupt or from a newer carekiosk")]
    UnknownKind(u8),
    /// Fewer bytes than the header announces.
    #[error("the sealed record is truncated: {len} bytes, at least {needed} needed; fetch the full record again")]
    EnvelopeTruncated {
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        needed: usize,
    },
    /// A wrapped key whose ephemeral public key is not a valid compressed P-256 point.
    #[error("recipient {index}'s ephemeral key is not a valid compressed P-256 point: the sealed record is corrupt")]
    InvalidEphemeralKey {
        /// Index of the recipient entry.
        index: usize,
    },

    // ----- opening -----
    /// The record is of another kind than the caller expected.
    #[error("the sealed record is a {found}, not the {expected} expected: open it as the kind the chain lists")]
    KindMismatch {
        /// Kind the caller expected.
        expected: RecordKind,
        /// Kind in the envelope.
        found: RecordKind,
    },
    /// The key is not among the envelope's recipients.
    #[error(
        "this key (id {key_id}) opens none of the {recipients} recipient slot(s) it tried: \
         open it with the patient's card or the authoring institution's key"
    )]
    NotARecipient {
        /// Hex key id of the key that tried.
        key_id: String,
        /// Number of recipients in the envelope.
        recipients: usize,
    },
    /// The wrapped content key did not authenticate.
    #[error(
        "the record's key for this recipient does not authenticate: the record was tampered with, \
         was sealed for another patient or kind, or the key answering for this key id is not the right one"
    )]
    WrappedKeyRejected,
    /// The content did not authenticate.
    #[error("the record's content does not authenticate: it was tampered with, or sealed for another patient or kind")]
    ContentRejected,
    /// The content's resourceType is not the envelope's kind (a faulty sealer).
    #[error("the record's header says {header} but its content is a {content}: the sealing kiosk is faulty, report it")]
    ContentKindMismatch {
        /// Kind in the envelope header.
        header: RecordKind,
        /// Kind of the decrypted content.
        content: RecordKind,
    },
    /// The decrypted content is not a well-formed frame (kind, flags, length, body, zero padding).
    #[error(
        "the record's content is not well formed ({0}): the sealing kiosk is faulty, report it"
    )]
    MalformedContent(&'static str),
    /// The key (for example the card) failed.
    #[error(transparent)]
    KeyAgreement(#[from] KeyAgreementError),
}

/// Why a [`KeyAgreement`](crate::KeyAgreement) could not compute a shared secret.
///
/// A card implementation maps its own failures onto these three so that callers can tell the user what to do;
/// the message is for humans and must not contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyAgreementError {
    /// The key cannot be reached right now (card removed, reader gone, keyring locked). Retrying may work.
    #[error("the decryption key is not available ({0}): insert the card (or unlock the keyring) and retry")]
    Unavailable(String),
    /// The key refused (PIN not verified, PIN blocked, key not allowed to decrypt).
    #[error("the decryption key refused to decrypt ({0})")]
    Denied(String),
    /// Anything else (bad point, unexpected card answer).
    #[error("key agreement failed ({0})")]
    Failed(String),
}

pub(crate) fn json_error(e: &serde_json::Error) -> RecordsError {
    use serde_json::error::Category;
    let category = match e.classify() {
        Category::Io => "io",
        Category::Syntax => "syntax",
        Category::Data => "data",
        Category::Eof => "eof",
    };
    RecordsError::ContentJson {
        category,
        line: e.line(),
        column: e.column(),
    }
}

fn position(line: usize, column: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(" at line {line}, column {column}")
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}
