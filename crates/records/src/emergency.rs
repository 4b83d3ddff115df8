//! The patient's **emergency data set** (`docs/design-v2.md`, "Emergency access"): what a hospital must know
//! when the patient cannot speak — allergies and intolerances, current medication, chronic conditions, implants,
//! blood group, an emergency contact.
//!
//! It lives in two forms:
//! - **in the history**, as a record of kind [`RecordKind::EmergencySet`](crate::RecordKind): a FHIR R4
//!   `Bundle` (collection) of AllergyIntolerance, MedicationStatement, Condition, Device, Observation (blood
//!   group, LOINC 882-1) and RelatedPerson (emergency contact) resources, sealed like every record (for the
//!   patient's history key and the writing hospital). It survives a lost card and the patient reads it at any
//!   desk with card and PIN.
//! - **on the card**, in the private-use data object 0101 (readable without a PIN, written with the PIN), as a
//!   compact text form sealed for the network's **emergency key**, whose private half only hospital kiosks hold
//!   (its public half is on chain, `PatientSmartCard.emergencyKey`). A hospital kiosk reads it with the card
//!   present and no PIN, offline; a pharmacy, an insurer, a finder of the card or a reader of the chain cannot.
//!
//! Card object (always [`CARD_OBJECT_LEN`] = 255 bytes, the size every OpenPGP card offers for DO 0101):
//! `magic 0xE1 (1) ‖ emergency key id (4) ‖ ephemeral P-256 key, compressed (33) ‖ AES-256-GCM(plaintext, 201)
//! ‖ tag (16)`, the content key and nonce from `HKDF-SHA256(salt = ephemeral, ikm = ECDH x, info =
//! "carekiosk/emergency/v1/card" ‖ key id ‖ patient id)`, the AAD `magic ‖ key id ‖ ephemeral ‖ patient id` (a
//! set copied onto another patient's card does not open). Plaintext: `trace key (16) ‖ flags (1: DEFLATE) ‖
//! length (1) ‖ body ‖ zeros`, the body one line per entry (`A` allergy, `A!` high criticality, `M`, `C`, `I`,
//! `B`, `K` name `\x1f` phone).
//!
//! **Trace of an emergency read** ([`seal_trace`]): the reading hospital publishes `tag ‖ note` on chain, with no
//! patient id: `tag = HMAC-SHA256(trace key, nonce)`, `note = nonce (16) ‖ AES-256-GCM(read time (8) ‖ clinician
//! ‖ reason, padded to 96) ‖ tag (16)` = [`NOTE_LEN`] bytes. The trace key is derived from the patient's history
//! key ([`trace_key`]), so the patient's kiosk finds its own traces (one HMAC per trace) and an observer of the
//! chain learns only that a hospital made one emergency read at some time.

use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::PublicKey;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::RecordsError;
use crate::fhir::Reference;
use crate::keys::{hkdf_sha256, KeyAgreement, RecipientPublicKey, SoftKey};

/// Size of the sealed set on the card (DO 0101).
pub const CARD_OBJECT_LEN: usize = 255;
/// Size of an emergency-read note on chain (`PatientSmartCard.EMERGENCY_NOTE_LENGTH`).
pub const NOTE_LEN: usize = 128;
/// Size of the trace key.
pub const TRACE_KEY_LEN: usize = 16;

const MAGIC: u8 = 0xE1;
const HEAD: usize = 1 + 4 + 33;
const PLAIN: usize = CARD_OBJECT_LEN - HEAD - 16;
/// Most bytes the set's compact body may take on the card.
pub const MAX_CARD_BODY: usize = PLAIN - TRACE_KEY_LEN - 2;
const NOTE_PLAIN: usize = NOTE_LEN - 16 - 16;
/// Most bytes of clinician plus reason in a trace note.
pub const MAX_NOTE_TEXT: usize = NOTE_PLAIN - 8 - 2;
/// Most entries per list.
pub const MAX_ENTRIES: usize = 16;
/// Longest entry, in bytes.
pub const MAX_ENTRY_LEN: usize = 80;
/// The blood groups a set may name.
pub const BLOOD_GROUPS: [&str; 8] = ["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-"];

/// One allergy or intolerance.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Allergy {
    /// The substance, as the clinician writes it ("penicillin").
    pub substance: String,
    /// High criticality (anaphylaxis risk).
    #[serde(default)]
    pub high: bool,
}

/// The emergency contact.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Contact {
    /// Name (and relation, if wanted).
    pub name: String,
    /// Phone number.
    pub phone: String,
}

/// The emergency data set, as the screens show and edit it. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EmergencySet {
    /// Allergies and intolerances.
    #[serde(default)]
    pub allergies: Vec<Allergy>,
    /// Current medication, one line each ("metformin 500 mg 1-0-1").
    #[serde(default)]
    pub medications: Vec<String>,
    /// Chronic conditions: an ICD-10 code from the kiosk's list, or text.
    #[serde(default)]
    pub conditions: Vec<String>,
    /// Implants ("pacemaker").
    #[serde(default)]
    pub implants: Vec<String>,
    /// ABO and Rh blood group, if known.
    #[serde(default)]
    pub blood_group: Option<String>,
    /// Whom to call.
    #[serde(default)]
    pub contact: Option<Contact>,
}

impl std::fmt::Debug for EmergencySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmergencySet(<redacted>)")
    }
}

fn bad(field: &'static str, problem: impl Into<String>) -> RecordsError {
    RecordsError::InvalidField {
        resource: "EmergencySet",
        field,
        problem: problem.into(),
    }
}

fn check_text(field: &'static str, s: &str) -> Result<(), RecordsError> {
    if s.trim().is_empty() {
        return Err(bad(field, "is blank: fill it in or remove the line"));
    }
    if s.len() > MAX_ENTRY_LEN {
        return Err(bad(
            field,
            format!("is {} bytes, at most {MAX_ENTRY_LEN}: shorten it", s.len()),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(
            field,
            "contains a control character (line break, tab): remove it",
        ));
    }
    Ok(())
}

impl EmergencySet {
    /// True when the set names nothing (the patient chose to have none).
    pub fn is_empty(&self) -> bool {
        self.allergies.is_empty()
            && self.medications.is_empty()
            && self.conditions.is_empty()
            && self.implants.is_empty()
            && self.blood_group.is_none()
            && self.contact.is_none()
    }

    /// Checks every entry: not blank, at most [`MAX_ENTRY_LEN`] bytes, no control characters, at most
    /// [`MAX_ENTRIES`] per list, a known blood group.
    pub fn validate(&self) -> Result<(), RecordsError> {
        for (field, n) in [
            ("allergies", self.allergies.len()),
            ("medications", self.medications.len()),
            ("conditions", self.conditions.len()),
            ("implants", self.implants.len()),
        ] {
            if n > MAX_ENTRIES {
                return Err(bad(
                    field,
                    format!("has {n} entries, at most {MAX_ENTRIES}"),
                ));
            }
        }
        for a in &self.allergies {
            check_text("allergies", &a.substance)?;
        }
        for m in &self.medications {
            check_text("medications", m)?;
        }
        for c in &self.conditions {
            check_text("conditions", c)?;
        }
        for i in &self.implants {
            check_text("implants", i)?;
        }
        if let Some(b) = &self.blood_group {
            if !BLOOD_GROUPS.contains(&b.as_str()) {
                return Err(bad(
                    "bloodGroup",
                    format!("{b:?} is not one of {}", BLOOD_GROUPS.join(", ")),
                ));
            }
        }
        if let Some(c) = &self.contact {
            check_text("contact.name", &c.name)?;
            check_text("contact.phone", &c.phone)?;
            if c.name.contains('\u{1f}') || c.phone.contains('\u{1f}') {
                return Err(bad("contact", "contains a unit separator"));
            }
        }
        Ok(())
    }

    /// The compact card form (one line per entry).
    fn compact(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        let mut line = |prefix: &str, text: &str| {
            if !out.is_empty() {
                out.push(b'\n');
            }
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(text.as_bytes());
        };
        for a in &self.allergies {
            line(if a.high { "A!" } else { "A" }, &a.substance);
        }
        for m in &self.medications {
            line("M", m);
        }
        for c in &self.conditions {
            line("C", c);
        }
        for i in &self.implants {
            line("I", i);
        }
        if let Some(b) = &self.blood_group {
            line("B", b);
        }
        if let Some(c) = &self.contact {
            line("K", &format!("{}\u{1f}{}", c.name, c.phone));
        }
        out
    }

    fn from_compact(bytes: &[u8]) -> Result<Self, RecordsError> {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| RecordsError::MalformedContent("emergency set is not UTF-8"))?;
        let mut set = EmergencySet::default();
        if text.is_empty() {
            return Ok(set);
        }
        for line in text.split('\n') {
            let mut chars = line.chars();
            let tag = chars.next();
            let rest = chars.as_str();
            match tag {
                Some('A') => match rest.strip_prefix('!') {
                    Some(s) => set.allergies.push(Allergy {
                        substance: s.into(),
                        high: true,
                    }),
                    None => set.allergies.push(Allergy {
                        substance: rest.into(),
                        high: false,
                    }),
                },
                Some('M') => set.medications.push(rest.into()),
                Some('C') => set.conditions.push(rest.into()),
                Some('I') => set.implants.push(rest.into()),
                Some('B') => set.blood_group = Some(rest.into()),
                Some('K') => {
                    let (name, phone) = rest
                        .split_once('\u{1f}')
                        .ok_or(RecordsError::MalformedContent("emergency contact line"))?;
                    set.contact = Some(Contact {
                        name: name.into(),
                        phone: phone.into(),
                    });
                }
                _ => return Err(RecordsError::MalformedContent("emergency set line")),
            }
        }
        set.validate()
            .map_err(|_| RecordsError::MalformedContent("emergency set entry"))?;
        Ok(set)
    }

    /// The FHIR R4 `Bundle` (type `collection`) of this set for `patient`.
    pub fn to_fhir(&self, patient: &Reference) -> Value {
        let subject = serde_json::to_value(patient).unwrap_or(Value::Null);
        let active = |system: &str| json!({"coding": [{"system": system, "code": "active"}]});
        let mut entries = Vec::new();
        for a in &self.allergies {
            entries.push(json!({
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": active("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"),
                "criticality": if a.high { "high" } else { "low" },
                "code": {"text": a.substance},
                "patient": subject,
            }));
        }
        for m in &self.medications {
            entries.push(json!({
                "resourceType": "MedicationStatement",
                "status": "active",
                "medicationCodeableConcept": {"text": m},
                "subject": subject,
            }));
        }
        for c in &self.conditions {
            let code = match crate::icd10::lookup(c) {
                Some(known) => json!({
                    "coding": [{"system": crate::icd10::SYSTEM, "code": known.code, "display": known.display}],
                    "text": c,
                }),
                None => json!({"text": c}),
            };
            entries.push(json!({
                "resourceType": "Condition",
                "clinicalStatus": active("http://terminology.hl7.org/CodeSystem/condition-clinical"),
                "category": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                    "code": "problem-list-item"}]}],
                "code": code,
                "subject": subject,
            }));
        }
        for i in &self.implants {
            entries
                .push(json!({"resourceType": "Device", "type": {"text": i}, "patient": subject}));
        }
        if let Some(b) = &self.blood_group {
            entries.push(json!({
                "resourceType": "Observation",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "882-1",
                    "display": "ABO and Rh group [Type] in Blood"}]},
                "subject": subject,
                "valueCodeableConcept": {"text": b},
            }));
        }
        if let Some(c) = &self.contact {
            entries.push(json!({
                "resourceType": "RelatedPerson",
                "patient": subject,
                "relationship": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0131",
                    "code": "C", "display": "Emergency Contact"}]}],
                "name": [{"text": c.name}],
                "telecom": [{"system": "phone", "value": c.phone}],
            }));
        }
        json!({
            "resourceType": "Bundle",
            "type": "collection",
            "entry": entries.into_iter().map(|r| json!({"resource": r})).collect::<Vec<_>>(),
        })
    }

    /// Reads the set back from its FHIR `Bundle` (as written by [`EmergencySet::to_fhir`]).
    pub fn from_fhir(bundle: &Value) -> Result<Self, RecordsError> {
        let malformed = |m: &'static str| RecordsError::MalformedContent(m);
        if bundle.get("type").and_then(Value::as_str) != Some("collection") {
            return Err(malformed("emergency set bundle type"));
        }
        let text = |v: &Value, path: &[&str]| -> Result<String, RecordsError> {
            let mut at = v;
            for p in path {
                at = match p.parse::<usize>() {
                    Ok(i) => at.get(i),
                    Err(_) => at.get(*p),
                }
                .ok_or(malformed("emergency set entry field"))?;
            }
            at.as_str()
                .map(str::to_string)
                .ok_or(malformed("emergency set entry field"))
        };
        let mut set = EmergencySet::default();
        let entries = bundle
            .get("entry")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for e in &entries {
            let r = e.get("resource").ok_or(malformed("emergency set entry"))?;
            match r.get("resourceType").and_then(Value::as_str) {
                Some("AllergyIntolerance") => set.allergies.push(Allergy {
                    substance: text(r, &["code", "text"])?,
                    high: r.get("criticality").and_then(Value::as_str) == Some("high"),
                }),
                Some("MedicationStatement") => set
                    .medications
                    .push(text(r, &["medicationCodeableConcept", "text"])?),
                Some("Condition") => set.conditions.push(text(r, &["code", "text"])?),
                Some("Device") => set.implants.push(text(r, &["type", "text"])?),
                Some("Observation") => {
                    set.blood_group = Some(text(r, &["valueCodeableConcept", "text"])?)
                }
                Some("RelatedPerson") => {
                    set.contact = Some(Contact {
                        name: text(r, &["name", "0", "text"])?,
                        phone: text(r, &["telecom", "0", "value"])?,
                    })
                }
                _ => return Err(malformed("emergency set resource type")),
            }
        }
        set.validate()
            .map_err(|_| malformed("emergency set entry"))?;
        Ok(set)
    }
}

/// The emergency set as a record: a FHIR `Bundle` in the history (record kind `EmergencySet`).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct EmergencyBundle {
    /// The patient.
    pub subject: Reference,
    /// The set.
    pub set: EmergencySet,
}

impl TryFrom<Value> for EmergencyBundle {
    type Error = String;

    fn try_from(mut v: Value) -> Result<Self, String> {
        // The `resourceType` tag was consumed by `Resource`; put it back shape-wise.
        if let Some(o) = v.as_object_mut() {
            o.remove("resourceType");
        }
        let set = EmergencySet::from_fhir(&v).map_err(|e| e.to_string())?;
        let subject = v
            .pointer("/entry/0/resource/subject")
            .or_else(|| v.pointer("/entry/0/resource/patient"))
            .cloned()
            .map(serde_json::from_value::<Reference>)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let subject = match v.pointer("/identifier/value").and_then(Value::as_str) {
            Some(r) if !subject.is_set() => Reference::to(r),
            _ => subject,
        };
        Ok(Self { subject, set })
    }
}

impl From<EmergencyBundle> for Value {
    fn from(b: EmergencyBundle) -> Value {
        let mut v = b.set.to_fhir(&b.subject);
        if let Some(o) = v.as_object_mut() {
            o.remove("resourceType");
            // An empty set still says whose it is.
            if let Some(r) = &b.subject.reference {
                o.insert(
                    "identifier".into(),
                    json!({"system": "urn:carekiosk:emergency-set", "value": r}),
                );
            }
        }
        v
    }
}

impl std::fmt::Debug for EmergencyBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmergencyBundle(<redacted>)")
    }
}

/// The 4-byte id of an emergency key: the first bytes of keccak256 of its compressed form (as on chain).
pub fn emergency_key_id(key: &RecipientPublicKey) -> [u8; 4] {
    let k = compressed(key.public_key());
    let h = crate::keccak256(&k);
    [h[0], h[1], h[2], h[3]]
}

fn compressed(key: &PublicKey) -> [u8; 33] {
    let mut out = [0u8; 33];
    out.copy_from_slice(key.to_encoded_point(true).as_bytes());
    out
}

/// The key that finds and opens the patient's emergency-read traces, derived from a history private key.
pub fn trace_key(history: &SoftKey) -> Zeroizing<[u8; TRACE_KEY_LEN]> {
    let secret = history.to_bytes();
    hkdf_sha256(None, secret.as_slice(), &[b"carekiosk/emergency/v1/trace"])
}

fn card_keys(
    shared_x: &[u8; 32],
    ephemeral: &[u8; 33],
    key_id: &[u8; 4],
    patient_id: &[u8; 32],
) -> Zeroizing<[u8; 44]> {
    hkdf_sha256(
        Some(ephemeral),
        shared_x,
        &[b"carekiosk/emergency/v1/card", key_id, patient_id],
    )
}

fn aad(head: &[u8], patient_id: &[u8; 32]) -> Vec<u8> {
    let mut a = head.to_vec();
    a.extend_from_slice(patient_id);
    a
}

/// AES-256-GCM under `okm[..32]` with nonce `okm[32..44]`: ciphertext ‖ tag.
fn gcm_seal(okm: &[u8; 44], aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, RecordsError> {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::KeyInit;
    let nonce: [u8; 12] = okm[32..].try_into().expect("12 bytes");
    aes_gcm::Aes256Gcm::new_from_slice(&okm[..32])
        .expect("32-byte key")
        .encrypt(&aes_gcm::Nonce::from(nonce), Payload { msg: plain, aad })
        .map_err(|_| RecordsError::Randomness)
}

fn gcm_open(okm: &[u8; 44], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordsError> {
    use aes_gcm::aead::{Aead, Payload};
    use aes_gcm::KeyInit;
    let nonce: [u8; 12] = okm[32..].try_into().expect("12 bytes");
    aes_gcm::Aes256Gcm::new_from_slice(&okm[..32])
        .expect("32-byte key")
        .decrypt(&aes_gcm::Nonce::from(nonce), Payload { msg: sealed, aad })
        .map(Zeroizing::new)
        .map_err(|_| RecordsError::ContentRejected)
}

/// Seals `set` for the card of `patient_id`, for the network emergency key, with the patient's trace key:
/// exactly [`CARD_OBJECT_LEN`] bytes. An empty set is refused (clear the card's object instead); a set whose
/// compact form exceeds [`MAX_CARD_BODY`] bytes is refused with both sizes.
pub fn seal_card(
    set: &EmergencySet,
    trace: &[u8; TRACE_KEY_LEN],
    patient_id: [u8; 32],
    emergency_key: &RecipientPublicKey,
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<u8>, RecordsError> {
    set.validate()?;
    if set.is_empty() {
        return Err(bad(
            "set",
            "is empty: clear the card's emergency object instead",
        ));
    }
    let raw = set.compact();
    let packed = miniz_oxide::deflate::compress_to_vec(&raw, 9);
    let (flags, body): (u8, &[u8]) = if packed.len() < raw.len() {
        (1, &packed)
    } else {
        (0, &raw)
    };
    if body.len() > MAX_CARD_BODY {
        return Err(RecordsError::EmergencySetTooLarge {
            len: body.len(),
            max: MAX_CARD_BODY,
        });
    }
    let mut plain = Zeroizing::new(vec![0u8; PLAIN]);
    plain[..TRACE_KEY_LEN].copy_from_slice(trace);
    plain[TRACE_KEY_LEN] = flags;
    plain[TRACE_KEY_LEN + 1] = body.len() as u8;
    plain[TRACE_KEY_LEN + 2..TRACE_KEY_LEN + 2 + body.len()].copy_from_slice(body);

    let eph = p256::SecretKey::random(rng);
    let eph_pub = compressed(&eph.public_key());
    let shared = p256::ecdh::diffie_hellman(
        eph.to_nonzero_scalar(),
        emergency_key.public_key().as_affine(),
    );
    let mut x = [0u8; 32];
    x.copy_from_slice(shared.raw_secret_bytes());
    let key_id = emergency_key_id(emergency_key);
    let okm = card_keys(&x, &eph_pub, &key_id, &patient_id);
    x.iter_mut().for_each(|b| *b = 0);

    let mut out = Vec::with_capacity(CARD_OBJECT_LEN);
    out.push(MAGIC);
    out.extend_from_slice(&key_id);
    out.extend_from_slice(&eph_pub);
    let ad = aad(&out, &patient_id);
    out.extend_from_slice(&gcm_seal(&okm, &ad, &plain)?);
    debug_assert_eq!(out.len(), CARD_OBJECT_LEN);
    Ok(out)
}

/// The emergency key id a card object was sealed for (readable by anyone: it names the network's key, not the
/// patient), or `None` when the bytes are not a card object.
pub fn card_key_id(object: &[u8]) -> Option<[u8; 4]> {
    (object.len() == CARD_OBJECT_LEN && object[0] == MAGIC)
        .then(|| [object[1], object[2], object[3], object[4]])
}

/// What a hospital kiosk reads from the card: the set and the patient's trace key.
pub struct CardOpened {
    /// The set.
    pub set: EmergencySet,
    /// The trace key, to publish the read's trace.
    pub trace: Zeroizing<[u8; TRACE_KEY_LEN]>,
}

/// Opens a card object with the network emergency key (a hospital kiosk's). Errors: not a card object
/// (`MalformedContent`), sealed for another emergency key (`NotARecipient`), tampered with or from another
/// patient's card (`ContentRejected`).
pub fn open_card(
    object: &[u8],
    patient_id: [u8; 32],
    emergency: &mut SoftKey,
) -> Result<CardOpened, RecordsError> {
    let key_id = card_key_id(object).ok_or(RecordsError::MalformedContent(
        "the card's emergency object is not a carekiosk emergency set",
    ))?;
    if key_id != emergency_key_id(&emergency.public_key()) {
        return Err(RecordsError::NotARecipient {
            key_id: crate::error::hex(&key_id),
            recipients: 1,
        });
    }
    let eph_c: [u8; 33] = object[5..HEAD].try_into().expect("33 bytes");
    let eph = PublicKey::from_sec1_bytes(&eph_c)
        .map_err(|_| RecordsError::InvalidEphemeralKey { index: 0 })?;
    let mut ephemeral = [0u8; 65];
    ephemeral.copy_from_slice(eph.to_encoded_point(false).as_bytes());
    let mut x = emergency.ecdh(&ephemeral)?;
    let okm = card_keys(&x, &eph_c, &key_id, &patient_id);
    x.iter_mut().for_each(|b| *b = 0);
    let ad = aad(&object[..HEAD], &patient_id);
    let buf = gcm_open(&okm, &ad, &object[HEAD..])?;
    let mut trace = Zeroizing::new([0u8; TRACE_KEY_LEN]);
    trace.copy_from_slice(&buf[..TRACE_KEY_LEN]);
    let flags = buf[TRACE_KEY_LEN];
    let len = usize::from(buf[TRACE_KEY_LEN + 1]);
    if len > MAX_CARD_BODY || flags > 1 {
        return Err(RecordsError::MalformedContent("emergency set frame"));
    }
    let body = &buf[TRACE_KEY_LEN + 2..TRACE_KEY_LEN + 2 + len];
    let set = if flags == 1 {
        let raw = Zeroizing::new(
            miniz_oxide::inflate::decompress_to_vec_with_limit(body, 4 * MAX_CARD_BODY * 8)
                .map_err(|_| RecordsError::MalformedContent("emergency set compression"))?,
        );
        EmergencySet::from_compact(&raw)?
    } else {
        EmergencySet::from_compact(body)?
    };
    Ok(CardOpened { set, trace })
}

/// Who read the set in an emergency, and why: inside a trace note.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceNote {
    /// When the card was read (unix seconds, the kiosk's clock: the chain's time is when the trace landed).
    pub read_at: u64,
    /// The clinician who read it.
    pub clinician: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Debug for TraceNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TraceNote(<redacted>)")
    }
}

fn note_keys(trace: &[u8; TRACE_KEY_LEN], nonce: &[u8]) -> Zeroizing<[u8; 44]> {
    hkdf_sha256(Some(nonce), trace, &[b"carekiosk/emergency/v1/note"])
}

fn note_tag(trace: &[u8; TRACE_KEY_LEN], nonce: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(trace).expect("any key length");
    mac.update(b"carekiosk/emergency/v1/tag");
    mac.update(nonce);
    mac.finalize().into_bytes().into()
}

/// The on-chain trace of one emergency read: `(tag, note)`.
pub fn seal_trace(
    trace: &[u8; TRACE_KEY_LEN],
    note: &TraceNote,
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<([u8; 32], Vec<u8>), RecordsError> {
    let (c, r) = (note.clinician.trim(), note.reason.trim());
    check_text("clinician", c)?;
    check_text("reason", r)?;
    if c.len() + r.len() > MAX_NOTE_TEXT {
        return Err(bad(
            "reason",
            format!(
                "clinician and reason take {} bytes, at most {MAX_NOTE_TEXT}: shorten them",
                c.len() + r.len()
            ),
        ));
    }
    let mut nonce = [0u8; 16];
    rng.try_fill_bytes(&mut nonce)
        .map_err(|_| RecordsError::Randomness)?;
    let mut plain = Zeroizing::new(vec![0u8; NOTE_PLAIN]);
    plain[..8].copy_from_slice(&note.read_at.to_be_bytes());
    plain[8] = c.len() as u8;
    plain[9..9 + c.len()].copy_from_slice(c.as_bytes());
    plain[9 + c.len()] = r.len() as u8;
    plain[10 + c.len()..10 + c.len() + r.len()].copy_from_slice(r.as_bytes());
    let okm = note_keys(trace, &nonce);
    let mut out = nonce.to_vec();
    out.extend_from_slice(&gcm_seal(&okm, b"", &plain)?);
    debug_assert_eq!(out.len(), NOTE_LEN);
    Ok((note_tag(trace, &nonce), out))
}

/// Opens a trace if it is this trace key's: `None` when the tag is someone else's (one HMAC, no decryption).
pub fn open_trace(
    trace: &[u8; TRACE_KEY_LEN],
    tag: &[u8; 32],
    note: &[u8],
) -> Result<Option<TraceNote>, RecordsError> {
    if note.len() != NOTE_LEN {
        return Ok(None);
    }
    let nonce = &note[..16];
    let expected = note_tag(trace, nonce);
    // Constant-time enough for a public value: the tag is on chain.
    if &expected != tag {
        return Ok(None);
    }
    let okm = note_keys(trace, nonce);
    let buf = gcm_open(&okm, b"", &note[16..])?;
    let read_at = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
    let cl = usize::from(buf[8]);
    let text = |at: usize, len: usize| -> Result<String, RecordsError> {
        buf.get(at..at + len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .map(str::to_string)
            .ok_or(RecordsError::MalformedContent("emergency trace note"))
    };
    let clinician = text(9, cl)?;
    let rl = usize::from(
        *buf.get(9 + cl)
            .ok_or(RecordsError::MalformedContent("emergency trace note"))?,
    );
    let reason = text(10 + cl, rl)?;
    Ok(Some(TraceNote {
        read_at,
        clinician,
        reason,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::OsRng;

    fn sample() -> EmergencySet {
        EmergencySet {
            allergies: vec![
                Allergy {
                    substance: "penicillin".into(),
                    high: true,
                },
                Allergy {
                    substance: "peanuts".into(),
                    high: false,
                },
            ],
            medications: vec![
                "metformin 500 mg 1-0-1".into(),
                "ramipril 5 mg 1-0-0".into(),
            ],
            conditions: vec!["E11.9".into(), "I10".into()],
            implants: vec!["pacemaker (2019)".into()],
            blood_group: Some("A+".into()),
            contact: Some(Contact {
                name: "Anna Muster (daughter)".into(),
                phone: "+49 170 1234567".into(),
            }),
        }
    }

    #[test]
    fn card_object_round_trips_for_the_emergency_key_only() {
        let net = SoftKey::generate();
        let h = SoftKey::generate();
        let t = trace_key(&h);
        let pid = [5u8; 32];
        let obj = seal_card(&sample(), &t, pid, &net.public_key(), &mut OsRng).unwrap();
        assert_eq!(obj.len(), CARD_OBJECT_LEN);
        assert_eq!(card_key_id(&obj), Some(emergency_key_id(&net.public_key())));
        let opened = open_card(&obj, pid, &mut net.clone()).unwrap();
        assert_eq!(opened.set, sample());
        assert_eq!(*opened.trace, *t);
        // Another key (a pharmacy's, a finder's), another patient's card, a flipped byte: nothing opens.
        assert!(matches!(
            open_card(&obj, pid, &mut SoftKey::generate()),
            Err(RecordsError::NotARecipient { .. })
        ));
        assert!(matches!(
            open_card(&obj, [6u8; 32], &mut net.clone()),
            Err(RecordsError::ContentRejected)
        ));
        let mut bad = obj.clone();
        bad[100] ^= 1;
        assert!(matches!(
            open_card(&bad, pid, &mut net.clone()),
            Err(RecordsError::ContentRejected)
        ));
        assert!(open_card(&obj[..200], pid, &mut net.clone()).is_err());
    }

    #[test]
    fn every_card_object_has_the_same_size_and_a_too_large_set_says_so() {
        let net = SoftKey::generate();
        let t = [1u8; TRACE_KEY_LEN];
        let small = EmergencySet {
            blood_group: Some("O-".into()),
            ..Default::default()
        };
        let a = seal_card(&small, &t, [0; 32], &net.public_key(), &mut OsRng).unwrap();
        let b = seal_card(&sample(), &t, [0; 32], &net.public_key(), &mut OsRng).unwrap();
        assert_eq!(a.len(), b.len());
        let mut big = sample();
        for i in 0..10 {
            big.medications.push(format!(
                "drug number {i} with a long and unusual name {i}{i}{i} 1-1-1-1"
            ));
        }
        match seal_card(&big, &t, [0; 32], &net.public_key(), &mut OsRng) {
            Err(RecordsError::EmergencySetTooLarge { len, max }) => {
                assert!(len > max && max == MAX_CARD_BODY)
            }
            other => panic!("expected too large, got {:?}", other.map(|v| v.len())),
        }
        assert!(seal_card(
            &EmergencySet::default(),
            &t,
            [0; 32],
            &net.public_key(),
            &mut OsRng
        )
        .is_err());
    }

    #[test]
    fn fhir_bundle_round_trips_and_names_the_resources() {
        let subject = Reference::patient(&[9u8; 32]);
        let v = sample().to_fhir(&subject);
        let types: Vec<&str> = v["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["resource"]["resourceType"].as_str().unwrap())
            .collect();
        for t in [
            "AllergyIntolerance",
            "MedicationStatement",
            "Condition",
            "Device",
            "Observation",
            "RelatedPerson",
        ] {
            assert!(types.contains(&t), "{t} missing");
        }
        assert_eq!(EmergencySet::from_fhir(&v).unwrap(), sample());
        let r: crate::Resource = crate::Resource::EmergencySet(EmergencyBundle {
            subject: subject.clone(),
            set: sample(),
        });
        let json = r.to_json().unwrap();
        match crate::Resource::from_json(&json).unwrap() {
            crate::Resource::EmergencySet(b) => {
                assert_eq!(b.set, sample());
                assert_eq!(b.subject, subject);
            }
            _ => panic!("not an emergency set"),
        }
        let empty = crate::Resource::EmergencySet(EmergencyBundle {
            subject: subject.clone(),
            set: EmergencySet::default(),
        });
        match crate::Resource::from_json(&empty.to_json().unwrap()).unwrap() {
            crate::Resource::EmergencySet(b) => assert!(b.set.is_empty() && b.subject == subject),
            _ => panic!("not an emergency set"),
        }
    }

    #[test]
    fn validation_names_the_problem() {
        let mut s = sample();
        s.blood_group = Some("C+".into());
        assert!(s.validate().unwrap_err().to_string().contains("bloodGroup"));
        let mut s = sample();
        s.medications.push("two\nlines".into());
        assert!(s.validate().unwrap_err().to_string().contains("control"));
        let mut s = sample();
        s.implants.push("  ".into());
        assert!(s.validate().is_err());
    }

    #[test]
    fn traces_are_found_only_with_their_trace_key() {
        let t = trace_key(&SoftKey::generate());
        let other = trace_key(&SoftKey::generate());
        let note = TraceNote {
            read_at: 1_800_000_000,
            clinician: "Dr. Weber".into(),
            reason: "unconscious, ER".into(),
        };
        let (tag, sealed) = seal_trace(&t, &note, &mut OsRng).unwrap();
        assert_eq!(sealed.len(), NOTE_LEN);
        assert_eq!(open_trace(&t, &tag, &sealed).unwrap(), Some(note.clone()));
        assert_eq!(open_trace(&other, &tag, &sealed).unwrap(), None);
        let (tag2, _) = seal_trace(&t, &note, &mut OsRng).unwrap();
        assert_ne!(tag, tag2, "two reads are not linkable by their tags");
        let mut bad = sealed.clone();
        bad[40] ^= 1;
        assert!(open_trace(&t, &tag, &bad).is_err());
        let long = TraceNote {
            reason: "x".repeat(80),
            clinician: "y".repeat(20),
            ..note
        };
        assert!(seal_trace(&t, &long, &mut OsRng).is_err());
    }
}
