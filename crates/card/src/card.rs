//! One patient card in one reader, through `openpgp-card` over `card-backend-pcsc`.
//!
//! Every operation runs in one PC/SC transaction. PINs are verified in the same transaction as the operation they
//! unlock and are not kept afterwards; the card is configured so that one PIN entry allows one signature.

use std::ffi::CString;
use std::time::Duration;

use card_backend_pcsc::PcscBackend;
use openpgp_card::ocard::algorithm::{AlgoSimple, AlgorithmAttributes, Curve};
use openpgp_card::ocard::crypto::{Cryptogram, EccType, PublicKeyMaterial, SigningAlgo};
use openpgp_card::ocard::data::{Fingerprint, KeyGenerationTime};
use openpgp_card::ocard::{KeyType, StatusBytes};
use openpgp_card::state::{Open, Transaction};
use openpgp_card::Card;
use sha1::{Digest, Sha1};

use crate::data::{
    decode_name, encode_name, parse_ecdh_secret, CardSignature, P256PublicKey, PatientObject,
    SharedSecret, EMERGENCY_DO, PATIENT_DO,
};
use crate::error::{from_openpgp, from_pcsc, status_word, NotPatientReason, PinKind};
use crate::pin::{Pin, ADMIN_PIN_MIN, USER_PIN_MIN};
use crate::readers::{context, find_reader, ReaderPattern};
use crate::CardError;

/// The P-256 OID in OpenPGP form (algorithm attributes, fingerprints).
const P256_OID: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];

/// Remaining tries of the card's three secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinTries {
    /// User PIN (PW1).
    pub user: u8,
    /// Resetting code (0 when none is set).
    pub reset_code: u8,
    /// Admin PIN (PW3).
    pub admin: u8,
}

/// Everything readable from a card without a PIN; absent items are `None` (a blank card has no keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The card's serial as `MMMM:SSSSSSSS` (manufacturer and serial from the AID).
    pub ident: String,
    /// The full application identifier (16 bytes).
    pub aid: Vec<u8>,
    /// Cardholder name (DO 5B), if set.
    pub name: Option<String>,
    /// The patient object (DO 0102), if set.
    pub patient: Option<PatientObject>,
    /// The signature key, if the card has one.
    pub signing_key: Option<P256PublicKey>,
    /// The decryption (ECDH) key, if the card has one.
    pub decryption_key: Option<P256PublicKey>,
    /// PIN counters.
    pub tries: PinTries,
    /// Signatures made with the current signature key.
    pub signature_count: u32,
}

/// A card that is a patient card: keys and patient object present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientInfo {
    /// Card serial, `MMMM:SSSSSSSS`.
    pub ident: String,
    /// Cardholder name (may be empty).
    pub name: String,
    /// The patient object.
    pub patient: PatientObject,
    /// The signature key (its keccak256 is the patient id of a patient's first card).
    pub signing_key: P256PublicKey,
    /// The decryption key.
    pub decryption_key: P256PublicKey,
    /// PIN counters.
    pub tries: PinTries,
}

/// The result of authenticating a patient: who, and their card's signature over the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authentication {
    /// The patient as read from the card (PIN counters as they were before the PIN was entered).
    pub info: PatientInfo,
    /// The signature (low-s), already checked against the card's key.
    pub signature: CardSignature,
}

/// What to write when issuing a blank card.
#[derive(Debug)]
pub struct Provisioning<'a> {
    /// The card's current admin PIN (a blank card: its factory PIN).
    pub admin_pin: &'a Pin,
    /// The patient's new PIN.
    pub user_pin: &'a Pin,
    /// A new admin PIN for the issuer, if it is to change (the kiosk sets a random one and forgets it: no card
    /// leaves reception with its factory admin PIN).
    pub new_admin_pin: Option<&'a Pin>,
    /// The resetting code (PUK) that unblocks the patient's PIN, printed on their issue letter.
    pub reset_code: Option<&'a Pin>,
    /// Cardholder name (ISO 8859-1, ≤ 39 characters).
    pub name: &'a str,
    /// The registry's chain id.
    pub chain_id: u64,
    /// Re-issue a card that already has keys or a patient object (destroys its keys).
    pub overwrite: bool,
}

/// A freshly issued card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisioned {
    /// Card serial.
    pub ident: String,
    /// The signature key generated on the card.
    pub signing_key: P256PublicKey,
    /// The decryption key generated on the card.
    pub decryption_key: P256PublicKey,
    /// The patient object written.
    pub patient: PatientObject,
}

/// An OpenPGP patient card in a reader (the OpenPGP application is selected when it is opened).
pub struct PatientCard {
    card: Card<Open>,
    reader: String,
}

impl std::fmt::Debug for PatientCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientCard")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

/// The OpenPGP v4 fingerprint of a P-256 key (RFC 4880 §12.2 with RFC 6637 key material): ECDSA (19) for the
/// signature key, ECDH (18, KDF SHA-256/AES-128) for the decryption key. Stored on the card as OpenPGP clients
/// expect.
fn v4_fingerprint(
    key: &PublicKeyMaterial,
    time: KeyGenerationTime,
    kt: KeyType,
) -> Result<Fingerprint, openpgp_card::Error> {
    let PublicKeyMaterial::E(ecc) = key else {
        return Err(openpgp_card::Error::UnsupportedAlgo("not an EC key".into()));
    };
    let point = ecc.data();
    let mut body = vec![4u8];
    body.extend_from_slice(&time.get().to_be_bytes());
    body.push(if kt == KeyType::Decryption { 18 } else { 19 });
    body.push(P256_OID.len() as u8);
    body.extend_from_slice(&P256_OID);
    let bits =
        (point.len() * 8).saturating_sub(point.first().map_or(8, |b| b.leading_zeros() as usize));
    body.extend_from_slice(&(bits as u16).to_be_bytes());
    body.extend_from_slice(point);
    if kt == KeyType::Decryption {
        body.extend_from_slice(&[3, 1, 8, 7]);
    }
    let mut h = Sha1::new();
    h.update([0x99]);
    h.update((body.len() as u16).to_be_bytes());
    h.update(&body);
    let fp: [u8; 20] = h.finalize().into();
    Ok(Fingerprint::from(fp))
}

fn tx(card: &mut Card<Open>) -> Result<Card<Transaction<'_>>, CardError> {
    card.transaction().map_err(from_openpgp)
}

fn tries_of(tx: &mut Card<Transaction<'_>>) -> Result<PinTries, CardError> {
    // Fresh from the card (not the transaction's cached copy, which is stale after a failed VERIFY).
    let ard = tx.card().application_related_data().map_err(from_openpgp)?;
    let pws = ard.pw_status_bytes().map_err(from_openpgp)?;
    Ok(PinTries {
        user: pws.err_count_pw1(),
        reset_code: pws.err_count_rc(),
        admin: pws.err_count_pw3(),
    })
}

/// Turns a failed VERIFY (or CHANGE/RESET) into wrong-PIN-with-tries or blocked, reading the counter from the card
/// (cards answer a wrong PIN with `63Cx` or, like the YubiKey, with `6982`).
fn pin_failure(tx: &mut Card<Transaction<'_>>, pin: PinKind, e: openpgp_card::Error) -> CardError {
    let status = match &e {
        openpgp_card::Error::CardStatus(s) => *s,
        _ => return from_openpgp(e),
    };
    match status {
        StatusBytes::AuthenticationMethodBlocked => CardError::Blocked { pin },
        StatusBytes::PasswordNotChecked(_)
        | StatusBytes::SecurityStatusNotSatisfied
        | StatusBytes::IncorrectParametersCommandDataField
        | StatusBytes::WrongLength => {
            let reported = match status {
                StatusBytes::PasswordNotChecked(n) => Some(n),
                _ => None,
            };
            let left = match tries_of(tx) {
                Ok(t) => Some(match pin {
                    PinKind::User => t.user,
                    PinKind::Admin => t.admin,
                    PinKind::ResetCode => t.reset_code,
                }),
                Err(CardError::CardRemoved) => return CardError::CardRemoved,
                Err(_) => reported,
            };
            match left {
                Some(0) => CardError::Blocked { pin },
                Some(n) => CardError::WrongPin { pin, tries_left: n },
                None => CardError::Card {
                    sw: status_word(status),
                    message: status.to_string(),
                },
            }
        }
        _ => from_openpgp(e),
    }
}

fn ecc_key(
    tx: &mut Card<Transaction<'_>>,
    kt: KeyType,
    want: EccType,
) -> Result<Option<P256PublicKey>, CardError> {
    let present = match kt {
        KeyType::Signing => tx
            .fingerprints()
            .map_err(from_openpgp)?
            .signature()
            .is_some(),
        _ => tx
            .fingerprints()
            .map_err(from_openpgp)?
            .decryption()
            .is_some(),
    };
    let attrs = tx.algorithm_attributes(kt).map_err(from_openpgp)?;
    let p256 = matches!(&attrs, AlgorithmAttributes::Ecc(e) if *e.curve() == Curve::NistP256r1 && e.ecc_type() == want);
    let material = match tx.public_key_material(kt) {
        Ok(m) => m,
        // No key in the slot.
        Err(openpgp_card::Error::CardStatus(StatusBytes::ReferencedDataNotFound))
        | Err(openpgp_card::Error::CardStatus(StatusBytes::ConditionOfUseNotSatisfied)) => {
            return Ok(None)
        }
        Err(e) if !present => {
            tracing::debug!(error = %e, "no public key");
            return Ok(None);
        }
        Err(e) => return Err(from_openpgp(e)),
    };
    if !p256 {
        return Err(CardError::UnsupportedAlgorithm(format!(
            "{kt:?} key is {attrs:?}, not NIST P-256"
        )));
    }
    match material {
        PublicKeyMaterial::E(e) => Ok(Some(P256PublicKey::from_sec1(e.data())?)),
        _ => Err(CardError::UnsupportedAlgorithm(format!(
            "{kt:?} key is RSA, not NIST P-256"
        ))),
    }
}

fn read_info(tx: &mut Card<Transaction<'_>>) -> Result<CardInfo, CardError> {
    let aid = tx.application_identifier().map_err(from_openpgp)?;
    let ident = aid.ident();
    let mut aid_bytes = vec![0xD2, 0x76, 0x00, 0x01, 0x24, aid.application()];
    aid_bytes.extend_from_slice(&aid.version().to_be_bytes());
    aid_bytes.extend_from_slice(&aid.manufacturer().to_be_bytes());
    aid_bytes.extend_from_slice(&aid.serial().to_be_bytes());
    aid_bytes.extend_from_slice(&[0, 0]);
    let crd = tx.card().cardholder_related_data().map_err(from_openpgp)?;
    let name = crd.name().filter(|n| !n.is_empty()).map(decode_name);
    let patient = match tx.private_use_do(PATIENT_DO) {
        Ok(bytes) => PatientObject::parse(&bytes)?,
        Err(openpgp_card::Error::CardStatus(StatusBytes::ReferencedDataNotFound)) => None,
        Err(e) => return Err(from_openpgp(e)),
    };
    let signing_key = ecc_key(tx, KeyType::Signing, EccType::ECDSA)?;
    let decryption_key = ecc_key(tx, KeyType::Decryption, EccType::ECDH)?;
    let tries = tries_of(tx)?;
    let signature_count = tx.digital_signature_count().unwrap_or(0);
    Ok(CardInfo {
        ident,
        aid: aid_bytes,
        name,
        patient,
        signing_key,
        decryption_key,
        tries,
        signature_count,
    })
}

fn require_patient(info: CardInfo) -> Result<PatientInfo, CardError> {
    let (Some(signing_key), Some(decryption_key)) = (info.signing_key, info.decryption_key) else {
        return Err(CardError::NotAPatientCard {
            reason: NotPatientReason::NoKeys,
        });
    };
    let patient = info.patient.ok_or(CardError::NotAPatientCard {
        reason: NotPatientReason::NoPatientObject,
    })?;
    Ok(PatientInfo {
        ident: info.ident,
        name: info.name.unwrap_or_default(),
        patient,
        signing_key,
        decryption_key,
        tries: info.tries,
    })
}

fn verify_user_for_signing(tx: &mut Card<Transaction<'_>>, pin: &Pin) -> Result<(), CardError> {
    match tx.verify_user_signing_pin(pin.secret()) {
        Ok(()) => Ok(()),
        Err(e) => Err(pin_failure(tx, PinKind::User, e)),
    }
}

fn sign_digest(
    tx: &mut Card<Transaction<'_>>,
    digest: &[u8; 32],
) -> Result<CardSignature, CardError> {
    match tx.card().signature_for_hash(SigningAlgo::ECC, digest) {
        Ok(raw) => CardSignature::parse(&raw),
        Err(openpgp_card::Error::CardStatus(StatusBytes::ReferencedDataNotFound)) => {
            Err(CardError::NotAPatientCard {
                reason: NotPatientReason::NoKeys,
            })
        }
        Err(e) => Err(from_openpgp(e)),
    }
}

impl PatientCard {
    /// Connects to the card in `reader` and selects its OpenPGP application.
    ///
    /// Right after an insertion event pcscd may still be powering the card; transient errors are retried for up
    /// to a second.
    pub fn open(reader: &str) -> Result<PatientCard, CardError> {
        let ctx = context()?;
        let name = CString::new(reader)
            .map_err(|_| CardError::InvalidInput("reader name contains NUL".into()))?;
        let mut attempt = 0;
        let card = loop {
            match ctx.connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY) {
                Ok(c) => break c,
                Err(
                    e @ (pcsc::Error::UnpoweredCard
                    | pcsc::Error::ResetCard
                    | pcsc::Error::SharingViolation),
                ) if attempt < 10 => {
                    tracing::debug!(error = ?e, "card not ready, retrying");
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(from_pcsc(e)),
            }
        };
        let backend = PcscBackend::from_pcsc_card(&name, pcsc::ShareMode::Shared, card)
            .map_err(|e| from_openpgp(openpgp_card::Error::Smartcard(e)))?;
        let card = Card::<Open>::new(backend).map_err(|e| match e {
            // SELECT of the OpenPGP AID refused, or an answer that is no OpenPGP card's.
            openpgp_card::Error::CardStatus(
                StatusBytes::FileOrApplicationNotFound
                | StatusBytes::INSNotSupported
                | StatusBytes::CLANotSupported
                | StatusBytes::WrongParametersP1P2
                | StatusBytes::IncorrectParametersCommandDataField,
            ) => CardError::NotAPatientCard {
                reason: NotPatientReason::NotOpenPgp,
            },
            openpgp_card::Error::UnsupportedFeature(m) => CardError::Unsupported(m),
            other => from_openpgp(other),
        })?;
        tracing::debug!(reader, "card opened");
        Ok(PatientCard {
            card,
            reader: reader.to_string(),
        })
    }

    /// Opens the card in the first reader matching `pattern`.
    pub fn open_matching(pattern: &ReaderPattern) -> Result<PatientCard, CardError> {
        PatientCard::open(&find_reader(pattern)?)
    }

    /// The reader this card is in.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// Runs `f` on the card, turning a panic inside the client library (on an answer it did not expect) into
    /// [`CardError::Malformed`]: a misbehaving card must not take the kiosk down.
    fn guarded<T>(
        &mut self,
        what: &str,
        f: impl FnOnce(&mut Card<Open>) -> Result<T, CardError>,
    ) -> Result<T, CardError> {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut self.card))) {
            Ok(r) => r,
            Err(_) => {
                tracing::error!(
                    operation = what,
                    "the card client failed on an unexpected answer"
                );
                Err(CardError::Malformed(format!(
                    "unexpected answer from the card during {what}"
                )))
            }
        }
    }

    /// Reads everything readable without a PIN; missing keys or data are `None`.
    pub fn inspect(&mut self) -> Result<CardInfo, CardError> {
        self.guarded("inspect", |card| {
            let mut tx = tx(card)?;
            read_info(&mut tx)
        })
    }

    /// Reads a patient card: serial, name, patient object, both public keys, PIN counters. A card that is not
    /// a provisioned patient card gives [`CardError::NotAPatientCard`].
    pub fn read(&mut self) -> Result<PatientInfo, CardError> {
        require_patient(self.inspect()?)
    }

    /// The PIN counters.
    pub fn pin_tries(&mut self) -> Result<PinTries, CardError> {
        self.guarded("pin_tries", |card| {
            let mut tx = tx(card)?;
            tries_of(&mut tx)
        })
    }

    /// Verifies the patient's PIN (for the check-in screen); a wrong PIN gives the tries left, a blocked one
    /// [`CardError::Blocked`]. The verification does not outlive this call's transaction for signing: every
    /// signature needs the PIN again.
    pub fn verify_pin(&mut self, pin: &Pin) -> Result<(), CardError> {
        self.guarded("verify_pin", |card| {
            let mut tx = tx(card)?;
            match tx.verify_user_pin(pin.secret()) {
                Ok(()) => Ok(()),
                Err(e) => Err(pin_failure(&mut tx, PinKind::User, e)),
            }
        })
    }

    /// Changes the patient's PIN.
    pub fn change_pin(&mut self, old: &Pin, new: &Pin) -> Result<(), CardError> {
        self.guarded("change_pin", |card| {
            new.check_new(USER_PIN_MIN, "new PIN")?;
            let mut tx = tx(card)?;
            match tx.change_user_pin(old.secret(), new.secret()) {
                Ok(()) => Ok(()),
                Err(e) => Err(pin_failure(&mut tx, PinKind::User, e)),
            }
        })
    }

    /// Checks the admin PIN (one try of its three): whether a card still has a known admin PIN (e.g. the factory
    /// one). A wrong PIN is [`CardError::WrongPin`] with the tries left.
    pub fn verify_admin_pin(&mut self, admin_pin: &Pin) -> Result<(), CardError> {
        self.guarded("verify_admin_pin", |card| {
            let mut tx = tx(card)?;
            match tx.verify_admin_pin(admin_pin.secret()) {
                Ok(()) => Ok(()),
                Err(e) => Err(pin_failure(&mut tx, PinKind::Admin, e)),
            }
        })
    }

    /// Unblocks (or resets) the patient's PIN with the issuer's admin PIN, setting `new_pin` and a full counter.
    pub fn unblock_with_admin(&mut self, admin_pin: &Pin, new_pin: &Pin) -> Result<(), CardError> {
        self.guarded("unblock_with_admin", |card| {
            new_pin.check_new(USER_PIN_MIN, "new PIN")?;
            let mut tx = tx(card)?;
            if let Err(e) = tx.verify_admin_pin(admin_pin.secret()) {
                return Err(pin_failure(&mut tx, PinKind::Admin, e));
            }
            let mut admin = tx.as_admin_card(None).map_err(from_openpgp)?;
            admin
                .reset_user_pin(new_pin.secret())
                .map_err(from_openpgp)?;
            tracing::info!("user PIN reset with the admin PIN");
            Ok(())
        })
    }

    /// Unblocks the patient's PIN with the resetting code, if the issuer set one.
    pub fn unblock_with_reset_code(
        &mut self,
        reset_code: &Pin,
        new_pin: &Pin,
    ) -> Result<(), CardError> {
        self.guarded("unblock_with_reset_code", |card| {
            new_pin.check_new(USER_PIN_MIN, "new PIN")?;
            let mut tx = tx(card)?;
            if tries_of(&mut tx)?.reset_code == 0 {
                return Err(CardError::Blocked {
                    pin: PinKind::ResetCode,
                });
            }
            match tx.reset_user_pin(reset_code.secret(), new_pin.secret()) {
                Ok(()) => Ok(()),
                Err(e) => Err(pin_failure(&mut tx, PinKind::ResetCode, e)),
            }
        })
    }

    /// Verifies the PIN and signs a 32-byte digest (PSO:COMPUTE DIGITAL SIGNATURE) in one transaction; returns
    /// (r, s) with s normalised to low-s.
    pub fn sign(&mut self, pin: &Pin, digest: &[u8; 32]) -> Result<CardSignature, CardError> {
        self.guarded("sign", |card| {
            let mut tx = tx(card)?;
            verify_user_for_signing(&mut tx, pin)?;
            sign_digest(&mut tx, digest)
        })
    }

    /// Reads the patient, verifies the PIN, signs `digest`, and checks the signature against the card's key — the
    /// whole "authenticate a patient" step of a visit, in one transaction.
    pub fn authenticate(
        &mut self,
        pin: &Pin,
        digest: &[u8; 32],
    ) -> Result<Authentication, CardError> {
        self.guarded("authenticate", |card| {
            let mut tx = tx(card)?;
            let info = require_patient(read_info(&mut tx)?)?;
            verify_user_for_signing(&mut tx, pin)?;
            let signature = sign_digest(&mut tx, digest)?;
            if !signature.verify(&info.signing_key, digest) {
                return Err(CardError::Malformed(
                    "the card's signature does not verify with its own key".into(),
                ));
            }
            Ok(Authentication { info, signature })
        })
    }

    /// Verifies the PIN and runs ECDH (PSO:DECIPHER) with the card's decryption key and `peer`; returns the shared
    /// x coordinate, equal to the off-card ECDH of the peer's private key with the card's public key.
    pub fn ecdh(&mut self, pin: &Pin, peer: &P256PublicKey) -> Result<SharedSecret, CardError> {
        self.guarded("ecdh", |card| {
            let mut tx = tx(card)?;
            if let Err(e) = tx.verify_user_pin(pin.secret()) {
                return Err(pin_failure(&mut tx, PinKind::User, e));
            }
            let point = peer.to_sec1();
            match tx.card().decipher(Cryptogram::ECDH(&point)) {
                Ok(raw) => parse_ecdh_secret(&raw),
                Err(openpgp_card::Error::CardStatus(StatusBytes::ReferencedDataNotFound)) => {
                    Err(CardError::NotAPatientCard {
                        reason: NotPatientReason::NoKeys,
                    })
                }
                Err(e) => Err(from_openpgp(e)),
            }
        })
    }

    /// The emergency object (private-use DO 0101, readable without a PIN): `None` when the card holds none.
    /// Its content is sealed by the caller (`carekiosk-records`, `emergency`); the card only stores it.
    pub fn emergency_object(&mut self) -> Result<Option<Vec<u8>>, CardError> {
        self.guarded("emergency_object", |card| {
            let mut tx = tx(card)?;
            match tx.private_use_do(EMERGENCY_DO) {
                Ok(bytes) if bytes.is_empty() => Ok(None),
                Ok(bytes) => Ok(Some(bytes)),
                Err(openpgp_card::Error::CardStatus(StatusBytes::ReferencedDataNotFound)) => {
                    Ok(None)
                }
                Err(e) => Err(from_openpgp(e)),
            }
        })
    }

    /// How many bytes this card's private-use objects hold (its extended capabilities), if it says.
    pub fn special_object_capacity(&mut self) -> Result<Option<u16>, CardError> {
        self.guarded("special_object_capacity", |card| {
            let tx = tx(card)?;
            let caps = tx.extended_capabilities().map_err(from_openpgp)?;
            Ok(caps.max_len_special_do())
        })
    }

    /// Verifies the PIN and writes the emergency object (DO 0101); empty `object` clears it. An object larger
    /// than the card's private-use objects hold is refused before the PIN is tried.
    pub fn write_emergency_object(&mut self, pin: &Pin, object: &[u8]) -> Result<(), CardError> {
        self.guarded("write_emergency_object", |card| {
            let mut tx = tx(card)?;
            let caps = tx.extended_capabilities().map_err(from_openpgp)?;
            let max = usize::from(caps.max_len_special_do().unwrap_or(255));
            if object.len() > max {
                return Err(CardError::Unsupported(format!(
                    "this card's private-use data objects hold {max} bytes, the emergency set needs {}: \
                     use a card with larger objects (OpenPGP card 3.x offers 255 bytes or more)",
                    object.len()
                )));
            }
            if let Err(e) = tx.verify_user_pin(pin.secret()) {
                return Err(pin_failure(&mut tx, PinKind::User, e));
            }
            let mut user = tx.as_user_card(None).map_err(from_openpgp)?;
            user.set_private_use_do(EMERGENCY_DO, object.to_vec())
                .map_err(from_openpgp)
        })
    }

    /// Issues a blank card to a patient: with the admin PIN, generates the P-256 signature and decryption keys
    /// **on the card**, writes the cardholder name and the patient object (whose id `patient_id` derives from the
    /// new signature key — keccak256(x‖y) for a new patient, the existing id for a replacement card), makes each
    /// signature need the PIN, sets the patient's PIN, and optionally a new admin PIN.
    pub fn provision(
        &mut self,
        p: &Provisioning<'_>,
        patient_id: impl FnOnce(&P256PublicKey) -> [u8; 32],
    ) -> Result<Provisioned, CardError> {
        self.guarded("provision", |card| {
            p.user_pin.check_new(USER_PIN_MIN, "patient PIN")?;
            if let Some(a) = p.new_admin_pin {
                a.check_new(ADMIN_PIN_MIN, "admin PIN")?;
            }
            if let Some(r) = p.reset_code {
                r.check_new(ADMIN_PIN_MIN, "reset code")?;
            }
            let name = encode_name(p.name)?;
            let mut tx = tx(card)?;
            let ident = tx.application_identifier().map_err(from_openpgp)?.ident();
            if !p.overwrite {
                let has_key = tx
                    .fingerprints()
                    .map_err(from_openpgp)?
                    .signature()
                    .is_some();
                let has_object = matches!(tx.private_use_do(PATIENT_DO), Ok(b) if !b.is_empty());
                if has_key || has_object {
                    return Err(CardError::AlreadyProvisioned);
                }
            }
            if let Err(e) = tx.verify_admin_pin(p.admin_pin.secret()) {
                return Err(pin_failure(&mut tx, PinKind::Admin, e));
            }
            let mut admin = tx.as_admin_card(None).map_err(from_openpgp)?;
            for kt in [KeyType::Signing, KeyType::Decryption] {
                admin
                    .set_algorithm(kt, AlgoSimple::NIST256)
                    .map_err(|e| match from_openpgp(e) {
                        CardError::Card { sw: 0x6A80, .. } => {
                            CardError::UnsupportedAlgorithm("the card refuses NIST P-256".into())
                        }
                        other => other,
                    })?;
            }
            let mut keys = Vec::new();
            for kt in [KeyType::Signing, KeyType::Decryption] {
                let (material, _) = admin
                    .generate_key(v4_fingerprint, kt)
                    .map_err(from_openpgp)?;
                let PublicKeyMaterial::E(ecc) = material else {
                    return Err(CardError::UnsupportedAlgorithm(
                        "the card generated a non-EC key".into(),
                    ));
                };
                if !matches!(ecc.algo(), AlgorithmAttributes::Ecc(e) if *e.curve() == Curve::NistP256r1)
                {
                    return Err(CardError::UnsupportedAlgorithm(
                        "the card did not generate a P-256 key".into(),
                    ));
                }
                keys.push(P256PublicKey::from_sec1(ecc.data())?);
            }
            tracing::info!(card = %ident, "keys generated on the card");
            admin
                .as_transaction()
                .card()
                .set_name(&name)
                .map_err(from_openpgp)?;
            admin
                .set_user_pin_signing_validity(true)
                .map_err(from_openpgp)?;
            let patient = PatientObject {
                patient_id: patient_id(&keys[0]),
                chain_id: p.chain_id,
            };
            admin
                .set_private_use_do(PATIENT_DO, patient.encode())
                .map_err(from_openpgp)?;
            admin
                .reset_user_pin(p.user_pin.secret())
                .map_err(from_openpgp)?;
            if let Some(rc) = p.reset_code {
                admin
                    .set_resetting_code(rc.secret())
                    .map_err(from_openpgp)?;
            }
            if let Some(new_admin) = p.new_admin_pin {
                tx.change_admin_pin(p.admin_pin.secret(), new_admin.secret())
                    .map_err(from_openpgp)?;
            }
            tracing::info!(card = %ident, "card issued");
            Ok(Provisioned {
                ident,
                signing_key: keys[0],
                decryption_key: keys[1],
                patient,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_deterministic_and_slot_specific() {
        let pt = {
            let sk = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
            P256PublicKey::from(sk.public_key()).to_sec1().to_vec()
        };
        let attrs = AlgorithmAttributes::Ecc(openpgp_card::ocard::algorithm::EccAttributes::new(
            EccType::ECDSA,
            Curve::NistP256r1,
            None,
        ));
        let m = PublicKeyMaterial::E(openpgp_card::ocard::crypto::EccPub::new(pt, attrs));
        let t = KeyGenerationTime::from(1_700_000_000u32);
        let a = v4_fingerprint(&m, t, KeyType::Signing).unwrap();
        assert_eq!(a, v4_fingerprint(&m, t, KeyType::Signing).unwrap());
        assert_ne!(a, v4_fingerprint(&m, t, KeyType::Decryption).unwrap());
    }
}
