//! The four roles' workflows, one module each. Shared steps (consent, sealing, opening) live here.

pub mod doctor;
pub mod insurer;
pub mod pharmacy;
pub mod reception;

use alloy::primitives::{Bytes, B256};
use carekiosk_chain::eip712::{self, Consent};
use carekiosk_records::{self as records, RecipientPublicKey, RecordKind, Resource};

use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// One entry of a patient's history, opened with their card.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// Position in the patient's record chain.
    pub index: u64,
    /// Institution id of the author.
    pub author: u32,
    /// The kind on chain.
    pub kind: u8,
    /// Block time.
    pub time: u64,
    /// The index it amends, if it is an amendment.
    pub supersedes: Option<u64>,
    /// The content.
    pub resource: Resource,
}

/// The card signs the institution's consent (the role's default window) and the kiosk submits it: a check-in.
pub(crate) async fn grant_consent(
    k: &Kiosk,
    s: &mut PatientSession,
    scope: u8,
) -> Result<(Submitted, u64), KioskError> {
    let pid = s.patient_id();
    let current = match k
        .chain
        .hub(&k.deployment)
        .consentOf(pid, k.institution)
        .call()
        .await
    {
        Ok(c) => c.nonce,
        Err(_) => 0,
    };
    // Nonces only need to grow: the clock keeps them growing even when the node is unreachable.
    let nonce = (current + 1).max(Kiosk::now());
    let msg = Consent {
        patientId: pid,
        institution: k.institution,
        scope,
        validUntil: 0,
        nonce,
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = k
        .chain
        .hub(&k.deployment)
        .grantConsent(pid, scope, 0, nonce, sig.into())
        .calldata()
        .clone();
    let key = format!("consent:{pid}:{}:{nonce}", k.institution);
    let r = k
        .outbox
        .submit(
            &key,
            "grantConsent",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    Ok((r, nonce))
}

pub(crate) fn domain(k: &Kiosk) -> alloy::sol_types::Eip712Domain {
    eip712::domain(
        k.deployment.chain_id,
        k.deployment.contracts.patient_smart_card,
    )
}

/// Seals `resource` for the patient's card, this institution, and `extra` recipients.
pub(crate) fn seal(
    k: &Kiosk,
    s: &PatientSession,
    resource: &Resource,
    extra: &[RecipientPublicKey],
) -> Result<Bytes, KioskError> {
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64);
    resource.validate(today)?;
    let recipients = records::recipients_for(
        resource.kind(),
        &s.record_key()?,
        &k.record_public_key(),
        extra,
    )?;
    Ok(records::seal(resource, s.patient_id().0, &recipients)?.into())
}

/// Appends a sealed record (or an amendment of `supersedes`) to the patient's chain; returns its index.
pub(crate) async fn write_record(
    k: &Kiosk,
    s: &PatientSession,
    resource: &Resource,
    supersedes: Option<u64>,
) -> Result<(Submitted, B256), KioskError> {
    let pid = s.patient_id();
    let sealed = seal(k, s, resource, &[])?;
    let content = records::content_hash(&sealed);
    let kind = u8::from(resource.kind());
    let recs = k.chain.records(&k.deployment);
    let data = match supersedes {
        None => recs.addMedicalRecord(pid, kind, sealed).calldata().clone(),
        Some(i) => recs
            .updateMedicalHistory(pid, alloy::primitives::U256::from(i), kind, sealed)
            .calldata()
            .clone(),
    };
    let key = format!("record:{pid}:{}", alloy::hex::encode(content));
    let r = k
        .outbox
        .submit(
            &key,
            "addMedicalRecord",
            Call {
                to: k.deployment.contracts.hospital_record,
                data,
            },
        )
        .await?;
    Ok((r, B256::from(content)))
}

/// The patient's history from the cache (filled by the indexer), each entry opened with the card (or from the
/// decrypted cache while this institution's consent lasts).
pub(crate) async fn history(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<HistoryEntry>, KioskError> {
    let _ = k.indexer.sync().await; // offline: what the cache has
                                    // Decrypted content goes when the institution's consent window for the patient has ended.
    k.store.purge_expired_consents(Kiosk::now())?;
    let pid = s.patient_id();
    let mut out = Vec::new();
    for h in k.store.record_headers(&pid.0)? {
        let kind = RecordKind::try_from(h.kind)
            .map_err(|_| KioskError::Invalid(format!("unknown kind {}", h.kind)))?;
        let resource = match k.store.cache_get(&pid.0, &h.content_hash)? {
            Some(c) => Resource::from_json(&c.plaintext)?,
            None => {
                let sealed = k.indexer.sealed_payload(B256::from(h.tx_hash)).await?;
                if records::content_hash(&sealed) != h.content_hash {
                    return Err(KioskError::Invalid(format!(
                        "record {} does not match its hash on chain",
                        h.index
                    )));
                }
                let r = s.open(&sealed, kind)?;
                k.store.cache_put(
                    &pid.0,
                    &h.content_hash,
                    &k.institution.into_array(),
                    &r.to_json()?,
                    Kiosk::now(),
                )?;
                r
            }
        };
        out.push(HistoryEntry {
            index: h.index,
            author: h.author,
            kind: h.kind,
            time: h.time,
            supersedes: h.supersedes,
            resource,
        });
    }
    Ok(out)
}

/// Fails unless the patient is registered and the card is their current one.
pub(crate) async fn require_patient(k: &Kiosk, s: &PatientSession) -> Result<(), KioskError> {
    let info = k
        .chain
        .hub(&k.deployment)
        .getPatientInfo(s.patient_id())
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    if !info.registered {
        return Err(KioskError::UnknownPatient);
    }
    let key = &s.info.signing_key;
    if info.cardKeyHash != eip712::key_hash(B256::from(key.x()), B256::from(key.y())) {
        return Err(KioskError::Invalid(
            "this card was replaced by a newer one: use the patient's current card".into(),
        ));
    }
    Ok(())
}
