//! Reception: register a new patient onto a blank card; check a returning patient in.

use alloy::primitives::{B256, U256};
use carekiosk_card::{PatientCard, Pin, Provisioning};
use carekiosk_chain::bindings::scope;
use carekiosk_chain::eip712::{self, RegisterPatient};
use carekiosk_records::{KeyAgreement, Resource, SoftKey};

use super::{
    default_window_days, domain, grant_consent, history, require_patient, seal, ConsentChoice,
};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// What reception asks of a new patient.
pub struct NewPatient {
    /// Full name (also written on the card).
    pub name: String,
    /// Birth date (FHIR date).
    pub birth_date: String,
    /// FHIR administrative gender (male, female, other, unknown).
    pub gender: String,
    /// The blank card's admin PIN (issuer).
    pub admin_pin: Pin,
    /// The PIN the patient chose.
    pub pin: Pin,
}

/// A check-in's outcome.
#[derive(Debug)]
pub struct CheckIn {
    /// The patient.
    pub patient_id: alloy::primitives::B256,
    /// The consent write (confirmed, or pending while offline).
    pub consent: Submitted,
    /// The patient's demographics from their own record, if they could be opened.
    pub patient: Option<Resource>,
    /// Number of entries in their history.
    pub records: usize,
    /// The consent's scope and end, as signed.
    pub scope: u8,
    /// End of the consent window (unix seconds).
    pub valid_until: u64,
    /// Every emergency read of the patient's emergency set (oldest first).
    pub emergency_reads: Vec<super::patient::EmergencyRead>,
}

/// What the patient takes home on their issue letter (printed, never stored): the card's reset code and the
/// recovery secret. Neither lets a finder act as the patient alone (docs/security.md, the card's trust model).
pub struct LetterSecrets {
    /// The reset code (PUK) that unblocks the PIN.
    pub reset_code: Pin,
    /// The recovery key's 32 secret bytes (with the issuing hospital's share it reopens the history and
    /// authorises a replacement card).
    pub recovery_secret: zeroize::Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for LetterSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LetterSecrets(<redacted>)")
    }
}

/// Provisions a blank card (keys generated on the card) with a random admin PIN nobody keeps and a reset code,
/// registers the patient with their history keys and recovery key, grants this hospital consent, and writes
/// their demographics as the first record. The letter's secrets are returned to be printed, once.
pub async fn register_patient_with_letter(
    k: &Kiosk,
    card: PatientCard,
    p: NewPatient,
) -> Result<(PatientSession, LetterSecrets), KioskError> {
    let (mut s, reset_code) = issue_card(k, card, &p.name, &p.admin_pin, p.pin, |key| {
        eip712::key_hash(key.x().into(), key.y().into()).0
    })?;
    let pid = s.patient_id();
    let issued = carekiosk_records::issue_bundle(
        pid.0,
        &s.record_key()?,
        &k.record_public_key(),
        &[],
        None,
        &mut rand_core::OsRng,
    )?;
    let bundle = issued.bundle.encode();
    let recovery_hash = B256::from(issued.recovery.key_id());
    let deadline = U256::from(Kiosk::now() + 600);
    // The registration step is one transaction (`registerAndConsent`): the registration, this hospital's consent
    // (in the new patient's epoch, 1) and the demographics record, under one card signature.
    let letter = adopt_bundle(k, &mut s, issued, bundle.clone(), reset_code);
    let patient = Resource::from_json(
        serde_json::json!({
            "resourceType": "Patient",
            "name": [{ "text": p.name }],
            "gender": p.gender,
            "birthDate": p.birth_date,
        })
        .to_string()
        .as_bytes(),
    )?;
    let sealed = seal(k, &mut s, &patient, &[]).await?;
    let scope = scope::HOSPITAL;
    let signed_at = k
        .chain
        .latest_timestamp()
        .await
        .unwrap_or_else(|_| Kiosk::now());
    let valid_until = signed_at + default_window_days(scope) * 86_400;
    let msg = eip712::RegisterWithConsent {
        registration: RegisterPatient {
            patientId: pid,
            hospital: k.institution,
            recoveryKeyHash: recovery_hash,
            keyBundleHash: alloy::primitives::keccak256(&bundle),
            deadline,
        },
        consent: eip712::Consent {
            patientId: pid,
            institution: k.institution,
            scope,
            validUntil: valid_until,
            epoch: 1,
            signedAt: signed_at,
        },
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let terms = carekiosk_chain::bindings::HospitalRecord::ConsentTerms {
        scope,
        validUntil: valid_until,
        epoch: 1,
        signedAt: signed_at,
    };
    let data = k
        .chain
        .records(&k.deployment)
        .registerAndConsent(
            deadline,
            recovery_hash,
            bundle.into(),
            terms,
            sealed,
            sig.into(),
        )
        .calldata()
        .clone();
    k.outbox
        .submit(
            &format!("register:{pid}"),
            "registerAndConsent",
            Call {
                to: k.deployment.contracts.hospital_record,
                data,
            },
        )
        .await?;
    Ok((s, letter))
}

/// Issues the blank `card` (its factory admin PIN `admin_pin`) to the patient `patient_id` names: keys generated
/// on the card, a random admin PIN nobody keeps (a card whose reset code is blocked is replaced, not reset), a
/// fresh reset code, the patient's PIN. Returns the session and the reset code for the letter.
fn issue_card(
    k: &Kiosk,
    mut card: PatientCard,
    name: &str,
    admin_pin: &Pin,
    pin: Pin,
    patient_id: impl FnOnce(&carekiosk_card::P256PublicKey) -> [u8; 32],
) -> Result<(PatientSession, Pin), KioskError> {
    let reset_code = Pin::random_digits(8);
    let new_admin_pin = Pin::random_digits(8);
    card.provision(
        &Provisioning {
            admin_pin,
            user_pin: &pin,
            new_admin_pin: Some(&new_admin_pin),
            reset_code: Some(&reset_code),
            name,
            chain_id: k.deployment.chain_id,
            overwrite: false,
        },
        patient_id,
    )?;
    Ok((PatientSession::start(card, pin)?, reset_code))
}

/// Keeps the key bundle just issued: its bytes in the kiosk's memory (so the visit can seal offline), its history
/// keys in the session; returns the letter's secrets.
fn adopt_bundle(
    k: &Kiosk,
    s: &mut PatientSession,
    issued: carekiosk_records::Issued,
    bytes: Vec<u8>,
    reset_code: Pin,
) -> LetterSecrets {
    if let Ok(mut m) = k.bundles.lock() {
        m.insert(s.patient_id(), bytes);
    }
    s.set_history(issued.history, issued.bundle.history_public);
    LetterSecrets {
        reset_code,
        recovery_secret: issued.recovery.to_bytes(),
    }
}

/// [`register_patient_with_letter`] for callers that do not print a letter (demos, load runs): the letter's
/// secrets are dropped.
pub async fn register_patient(
    k: &Kiosk,
    card: PatientCard,
    p: NewPatient,
) -> Result<PatientSession, KioskError> {
    Ok(register_patient_with_letter(k, card, p).await?.0)
}

/// The patient whose recovery key is `recovery` (from the letter), as the hub knows it.
pub async fn patient_of_recovery(k: &Kiosk, recovery: &SoftKey) -> Result<B256, KioskError> {
    let hash = B256::from(recovery.key_id());
    let pid = k
        .chain
        .hub(&k.deployment)
        .patientOfRecovery(hash)
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    if pid == B256::ZERO {
        return Err(KioskError::Invalid(
            "this recovery code belongs to no patient (or to a card replaced since): check it against the \
             newest letter"
                .into(),
        ));
    }
    Ok(pid)
}

/// Reports the patient's card lost with the recovery code from their letter: from the next block on the card
/// signs nothing that counts, and every consent obtained with it is void. Anyone holding the letter may do it
/// (it harms nobody: the patient gets a new card and keeps everything).
pub async fn report_lost(
    k: &Kiosk,
    recovery_secret: &[u8; 32],
) -> Result<(B256, Submitted), KioskError> {
    let recovery = SoftKey::from_bytes(recovery_secret)?;
    let pid = patient_of_recovery(k, &recovery).await?;
    let hub = k.chain.hub(&k.deployment);
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    let epoch = hub.epochOf(pid).call().await.map_err(read)?;
    let signed_at = k.chain.latest_timestamp().await?;
    let msg = eip712::ReportLost {
        patientId: pid,
        epoch,
        signedAt: signed_at,
    };
    let signer = carekiosk_chain::softcard::SoftCard::from_bytes(recovery_secret)?;
    let sig = signer.sign(eip712::digest(&msg, &domain(k)));
    let data = hub
        .reportCardLost(pid, signed_at, sig.into())
        .calldata()
        .clone();
    let done = k
        .outbox
        .submit(
            &format!("lost:{pid}:{epoch}"),
            "reportCardLost",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    Ok((pid, done))
}

/// What reception asks for a replacement card: the blank card's factory admin PIN and the PIN the patient
/// chooses for it.
pub struct NewCard {
    /// The cardholder name to write on the card (as on the patient's ID).
    pub name: String,
    /// The blank card's admin PIN (issuer).
    pub admin_pin: Pin,
    /// The PIN the patient chose.
    pub pin: Pin,
}

/// Replaces a lost (or broken) card at the hospital that issued it, with the recovery code from the patient's
/// letter: the recovery key and the issuing hospital's key together reopen the history keys, the blank card is
/// issued to the same patient, a new history key (and a new recovery key, for a new letter) is granted to it
/// with every earlier one, and the hub moves the patient to the new card — no signature of the lost card, no
/// consent. The patient keeps their identity, history, prescriptions, coverage and claims.
pub async fn replace_card(
    k: &Kiosk,
    recovery_secret: &[u8; 32],
    card: PatientCard,
    p: NewCard,
) -> Result<(PatientSession, LetterSecrets, Submitted), KioskError> {
    let mut recovery = SoftKey::from_bytes(recovery_secret)?;
    let pid = patient_of_recovery(k, &recovery).await?;
    let bundle = super::key_bundle(k, pid).await?;
    let mut hospital_key = k.record_key_copy();
    let keys = carekiosk_records::recover(&bundle, pid.0, &mut recovery, &mut hospital_key)
        .map_err(|_| {
            KioskError::Invalid(
                "the history keys reopen only at the hospital that issued the card, with the patient's newest \
                 letter: send the patient there (or check the recovery code)"
                    .into(),
            )
        })?;
    let (mut s, reset_code) = issue_card(k, card, &p.name, &p.admin_pin, p.pin, |_| pid.0)?;
    let issued = carekiosk_records::issue_bundle(
        pid.0,
        &s.record_key()?,
        &k.record_public_key(),
        &keys,
        None,
        &mut rand_core::OsRng,
    )?;
    let bytes = issued.bundle.encode();
    let new_recovery = B256::from(issued.recovery.key_id());
    let hub = k.chain.hub(&k.deployment);
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    let epoch = hub.epochOf(pid).call().await.map_err(read)?;
    let signed_at = k.chain.latest_timestamp().await?;
    let key = &s.info.signing_key;
    let msg = eip712::ReplaceCard {
        patientId: pid,
        newCardKeyHash: eip712::key_hash(B256::from(key.x()), B256::from(key.y())),
        hospital: k.institution,
        newRecoveryKeyHash: new_recovery,
        keyBundleHash: alloy::primitives::keccak256(&bytes),
        epoch,
        signedAt: signed_at,
    };
    let digest = eip712::digest(&msg, &domain(k));
    let by_recovery =
        carekiosk_chain::softcard::SoftCard::from_bytes(recovery_secret)?.sign(digest);
    let by_card = s.sign(digest)?;
    let data = hub
        .replaceCard(
            pid,
            signed_at,
            new_recovery,
            bytes.clone().into(),
            by_recovery.into(),
            by_card.into(),
        )
        .calldata()
        .clone();
    let done = k
        .outbox
        .submit(
            &format!("replace:{pid}:{epoch}"),
            "replaceCard",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    let letter = adopt_bundle(k, &mut s, issued, bytes, reset_code);
    // The new card starts empty: the emergency set comes back from the history (nothing is lost with the card).
    if let Err(e) = super::emergency::restore_to_card(k, &mut s).await {
        tracing::warn!(error = %e, "the emergency set could not be written onto the new card: save it again at the next visit");
    }
    Ok((s, letter, done))
}

/// Checks a returning patient in: the card (with the PIN) signs this hospital's consent, the kiosk submits it,
/// and the patient's summary is opened from their own record.
pub async fn check_in(k: &Kiosk, s: &mut PatientSession) -> Result<CheckIn, KioskError> {
    check_in_with(k, s, ConsentChoice::default_for(k.config.role)).await
}

/// A check-in with the consent the patient chose on the screen (checked against the role's ceiling before the
/// card signs). The outcome lists every emergency read of the patient's emergency set, found on chain with
/// their history keys.
pub async fn check_in_with(
    k: &Kiosk,
    s: &mut PatientSession,
    choice: ConsentChoice,
) -> Result<CheckIn, KioskError> {
    choice.check(k.config.role)?;
    require_patient(k, s).await?;
    let (consent, valid_until) = grant_consent(k, s, choice.scope, choice.days).await?;
    let entries = history(k, s).await?;
    let emergency_reads = super::patient::emergency_reads(k, s).await?;
    super::emergency::refresh_if_stale(k, s).await;
    let patient = entries.iter().rev().find_map(|e| match &e.resource {
        Some(r @ Resource::Patient(_)) => Some(r.clone()),
        _ => None,
    });
    Ok(CheckIn {
        patient_id: s.patient_id(),
        consent,
        patient,
        records: entries.len(),
        scope: choice.scope,
        valid_until,
        emergency_reads,
    })
}
