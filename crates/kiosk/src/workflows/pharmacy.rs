//! Pharmacy: the card grants the pharmacy its short window and lists the patient's ready prescriptions, each
//! verified on chain and opened with the card; dispensing carries the card's proof of presence.

use alloy::primitives::{B256, U256};
use carekiosk_chain::bindings::scope;
use carekiosk_chain::eip712::{self, Dispense};
use carekiosk_records::{self as records, RecordKind, Resource};

use super::{domain, grant_consent, require_patient};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// A prescription as the pharmacist sees it.
#[derive(Debug, Clone)]
pub struct PharmacyPrescription {
    /// On-chain id.
    pub id: u64,
    /// Issuing hospital's institution id.
    pub issuer: u32,
    /// Status on chain: 1 ready, 2 completed (dispensed), 3 cancelled.
    pub status: u8,
    /// End of validity (unix seconds).
    pub valid_until: u64,
    /// Whether it can be dispensed now (ready and unexpired, as the chain says).
    pub dispensable: bool,
    /// The MedicationRequest, opened with the card.
    pub request: Resource,
}

/// The card grants this pharmacy READ and DISPENSE for the default window (3 days) and the kiosk lists the
/// patient's prescriptions, as the chain holds them.
pub async fn open_patient(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<PharmacyPrescription>, KioskError> {
    require_patient(k, s).await?;
    grant_consent(k, s, scope::READ | scope::DISPENSE).await?;
    let _ = k.indexer.sync().await;
    let pid = s.patient_id();
    let info = k
        .chain
        .pharmacy(&k.deployment)
        .getPatientFullInfo(pid, U256::ZERO, U256::from(50))
        .from(k.address)
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    let now = Kiosk::now();
    let mut out = Vec::new();
    for (id, p) in info.ids.iter().zip(info.page.iter()) {
        let id = id.to::<u64>();
        let row = k.store.prescription(id)?.ok_or_else(|| {
            KioskError::Invalid(format!("prescription {id} is not indexed yet: try again"))
        })?;
        let sealed = k.indexer.sealed_payload(B256::from(row.tx_hash)).await?;
        if records::content_hash(&sealed) != p.contentHash.0 {
            return Err(KioskError::Invalid(format!(
                "prescription {id} does not match its hash on chain"
            )));
        }
        let request = records::open(&sealed, pid.0, RecordKind::MedicationRequest, &mut s.keys())?;
        let valid_until = p.validUntil.to::<u64>();
        out.push(PharmacyPrescription {
            id,
            issuer: p.issuer,
            status: p.status,
            valid_until,
            dispensable: p.status == 1 && now <= valid_until,
            request,
        });
    }
    Ok(out)
}

/// Dispenses prescription `id`: the card signs Dispense(id, pharmacy, nonce, deadline), the kiosk submits it.
pub async fn dispense(k: &Kiosk, s: &mut PatientSession, id: u64) -> Result<Submitted, KioskError> {
    let key = format!("dispense:{id}");
    if let Some(done) = k.outbox.resume(&key).await? {
        return Ok(done);
    }
    let pid = s.patient_id();
    let nonce = k
        .chain
        .hub(&k.deployment)
        .nonces(pid)
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    let deadline = U256::from(Kiosk::now() + 600);
    let msg = Dispense {
        prescriptionId: U256::from(id),
        pharmacy: k.institution,
        nonce,
        deadline,
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = k
        .chain
        .pharmacy(&k.deployment)
        .dispensePrescription(U256::from(id), deadline, sig.into())
        .calldata()
        .clone();
    k.outbox
        .submit(
            &key,
            "dispensePrescription",
            Call {
                to: k.deployment.contracts.pharmacy_access,
                data,
            },
        )
        .await
}
