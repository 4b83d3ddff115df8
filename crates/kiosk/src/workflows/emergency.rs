//! The emergency data set (`docs/design-v2.md`, "Emergency access"): kept current at a hospital desk with the
//! patient's card and PIN (a FHIR record in the history, and a compact copy on the card sealed for the
//! network's emergency key), and read in an emergency by a hospital kiosk with the card present and **no PIN**,
//! also while the node is down. Every emergency read leaves a trace on chain (sent by the outbox when the node
//! answers) that names the hospital; the clinician and the reason are inside, for the patient's eyes.

use alloy::primitives::{Bytes, B256};
use carekiosk_card::PatientCard;
use carekiosk_chain::bindings::Role;
use carekiosk_records::emergency::{self as em, EmergencySet, TraceNote};
use carekiosk_records::{EmergencyBundle, RecipientPublicKey, Reference, Resource};

use super::{history, require_patient, write_record};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// What an emergency read shows.
#[derive(Debug)]
pub struct EmergencyView {
    /// The patient (pseudonymous id from the card).
    pub patient_id: B256,
    /// The cardholder name printed on the card, if any.
    pub name: Option<String>,
    /// The set.
    pub set: EmergencySet,
    /// The on-chain trace of this read (confirmed, or pending while the node is down).
    pub trace: Submitted,
}

/// What saving the set did.
#[derive(Debug)]
pub struct Saved {
    /// The history record's write.
    pub record: Submitted,
    /// Whether the card now carries a set (false: the patient chose to have none, the card's copy is cleared).
    pub on_card: bool,
}

fn require_hospital(k: &Kiosk) -> Result<(), KioskError> {
    if k.config.role.chain_role() != Role::Hospital {
        return Err(KioskError::Invalid(
            "the emergency data set is kept and read at a hospital's desks (reception or doctor) only".into(),
        ));
    }
    Ok(())
}

/// The network's emergency public key: from the chain (`PatientSmartCard.emergencyKey`), or this hospital
/// kiosk's own copy when the node does not answer.
async fn emergency_public(k: &Kiosk) -> Result<RecipientPublicKey, KioskError> {
    match k.chain.hub(&k.deployment).emergencyKey().call().await {
        Ok(key) if !key.is_empty() => Ok(RecipientPublicKey::from_sec1_bytes(&key)?),
        Ok(_) => Err(KioskError::Invalid(
            "this deployment has no emergency key yet: the network's admin sets it (`carekiosk admin \
             emergency-key`) before emergency sets can be written"
                .into(),
        )),
        Err(e) => match k.emergency_key() {
            Some(own) => Ok(own.public_key()),
            None => Err(carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e).into()),
        },
    }
}

/// The patient's current emergency set, from their history (the newest `EmergencySet` record; empty when they
/// have none). Needs the card and PIN (one card operation per visit).
pub async fn current(k: &Kiosk, s: &mut PatientSession) -> Result<EmergencySet, KioskError> {
    let entries = history(k, s).await?;
    Ok(entries
        .iter()
        .rev()
        .find_map(|e| match &e.resource {
            Some(Resource::EmergencySet(b)) => Some(b.set.clone()),
            _ => None,
        })
        .unwrap_or_default())
}

/// Saves the patient's emergency set at a hospital desk: a FHIR `Bundle` record in their history (needs the
/// hospital's WRITE consent), then the card's copy (written with the patient's PIN; an empty set clears it).
/// A set too large for the card is refused before anything is written, with both sizes.
pub async fn save(
    k: &Kiosk,
    s: &mut PatientSession,
    set: EmergencySet,
) -> Result<Saved, KioskError> {
    require_hospital(k)?;
    require_patient(k, s).await?;
    set.validate()?;
    super::unlock_history(k, s).await?;
    let pid = s.patient_id();
    let object = if set.is_empty() {
        Vec::new()
    } else {
        let key = emergency_public(k).await?;
        em::seal_card(
            &set,
            &*s.current_trace_key()?,
            pid.0,
            &key,
            &mut rand_core::OsRng,
        )?
    };
    let bundle = Resource::EmergencySet(EmergencyBundle {
        subject: Reference::patient(&pid.0),
        set,
    });
    let (record, _) = write_record(k, s, &bundle, None).await?;
    s.write_emergency_object(&object)?;
    tracing::info!(on_card = !object.is_empty(), "emergency set saved");
    Ok(Saved {
        record,
        on_card: !object.is_empty(),
    })
}

/// Writes the patient's current set (from their history) onto the card in the session, sealed for the
/// network's current emergency key: after a card replacement (the new card starts empty) and when the card's copy
/// is sealed for an older emergency key. Returns whether a set was written (none when the history has none).
pub async fn restore_to_card(k: &Kiosk, s: &mut PatientSession) -> Result<bool, KioskError> {
    require_hospital(k)?;
    let set = current(k, s).await?;
    if set.is_empty() {
        return Ok(false);
    }
    let key = emergency_public(k).await?;
    let object = em::seal_card(
        &set,
        &*s.current_trace_key()?,
        s.patient_id().0,
        &key,
        &mut rand_core::OsRng,
    )?;
    s.write_emergency_object(&object)?;
    tracing::info!("emergency set restored onto the card");
    Ok(true)
}

/// At a hospital check-in (card and PIN): when the card's emergency copy is sealed for an emergency key other
/// than the chain's current one (the network rotated it), it is re-sealed from the history. Best effort: a
/// failure is logged, never a failed check-in.
pub(crate) async fn refresh_if_stale(k: &Kiosk, s: &mut PatientSession) {
    if k.config.role.chain_role() != Role::Hospital {
        return;
    }
    let Ok(Some(object)) = s.emergency_object() else {
        return;
    };
    let Ok(key) = emergency_public(k).await else {
        return;
    };
    if em::card_key_id(&object) == Some(em::emergency_key_id(&key)) {
        return;
    }
    if let Err(e) = restore_to_card(k, s).await {
        tracing::warn!(error = %e, "the card's emergency set is sealed for an old key and could not be renewed");
    }
}

/// An emergency read at a hospital kiosk: the card in the reader, **no PIN**. Opens the card's emergency object
/// with the network's emergency key and queues the read's trace (hospital on chain; clinician, reason and the
/// read time sealed for the patient). Works with the node down (the trace waits in the outbox).
pub async fn read(
    k: &Kiosk,
    card: &mut PatientCard,
    clinician: &str,
    reason: &str,
) -> Result<EmergencyView, KioskError> {
    require_hospital(k)?;
    let mut key = k.emergency_key().ok_or_else(|| {
        KioskError::Invalid(
            "this kiosk does not hold the network's emergency key: hospital IT installs it in the kiosk's \
             keyring (`carekiosk admin emergency-key import`)"
                .into(),
        )
    })?;
    let info = card.read()?;
    let object = card.emergency_object()?.ok_or_else(|| {
        KioskError::Invalid(
            "this patient's card carries no emergency data set (the patient chose to have none, or it was \
             never written): treat without it"
                .into(),
        )
    })?;
    let pid = B256::from(info.patient.patient_id);
    let opened = em::open_card(&object, pid.0, &mut key).map_err(|e| match e {
        carekiosk_records::RecordsError::NotARecipient { .. } => KioskError::Invalid(
            "the card's emergency set is sealed for another emergency key (an older network key, or another \
             network): it cannot be read here"
                .into(),
        ),
        other => other.into(),
    })?;
    let note = TraceNote {
        read_at: Kiosk::now(),
        clinician: clinician.trim().into(),
        reason: reason.trim().into(),
    };
    let (tag, sealed) = em::seal_trace(&opened.trace, &note, &mut rand_core::OsRng)?;
    let data = k
        .chain
        .hub(&k.deployment)
        .recordEmergencyAccess(B256::from(tag), Bytes::from(sealed))
        .calldata()
        .clone();
    let trace = k
        .outbox
        .submit(
            &format!("emergency:{}", alloy::hex::encode(tag)),
            "recordEmergencyAccess",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    tracing::warn!(
        pending = matches!(trace, Submitted::Pending { .. }),
        "emergency read of a patient's emergency set"
    );
    Ok(EmergencyView {
        patient_id: pid,
        name: Some(info.name).filter(|n| !n.is_empty()),
        set: opened.set,
        trace,
    })
}
