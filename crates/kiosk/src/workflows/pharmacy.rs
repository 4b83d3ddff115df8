//! Pharmacy: the card grants the pharmacy its short window and lists the patient's ready prescriptions, each
//! verified on chain and opened with the card; dispensing carries the card's proof of presence.

use alloy::primitives::{B256, U256};
use carekiosk_chain::eip712::{self, Dispense};
use carekiosk_records::{self as records, RecordKind, Resource};

use super::{domain, grant_consent, require_patient, unlock_history, ConsentChoice};
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
    /// Whether it can be dispensed now (ready, unexpired, as the chain says, and readable).
    pub dispensable: bool,
    /// The MedicationRequest, opened with the card (`None`: it cannot be opened, see `unreadable`).
    pub request: Option<Resource>,
    /// Why it cannot be opened (garbage from a faulty kiosk, …): one line on the list, never an error for it.
    pub unreadable: Option<String>,
}

/// Prescriptions asked of the chain per call (the contract's page limit).
const PAGE: u64 = 50;

/// The card grants this pharmacy READ and DISPENSE for the default window (3 days) and the kiosk lists the
/// patient's prescriptions, as the chain holds them.
pub async fn open_patient(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<PharmacyPrescription>, KioskError> {
    open_patient_with(k, s, ConsentChoice::default_for(k.config.role)).await
}

/// [`open_patient`] with the consent the patient chose (at most read and dispense, at most 30 days).
pub async fn open_patient_with(
    k: &Kiosk,
    s: &mut PatientSession,
    choice: ConsentChoice,
) -> Result<Vec<PharmacyPrescription>, KioskError> {
    choice.check(k.config.role)?;
    require_patient(k, s).await?;
    grant_consent(k, s, choice.scope, choice.days).await?;
    // The visit's one card ECDH: every prescription then opens with the history keys.
    unlock_history(k, s).await?;
    let _ = k.indexer.sync().await;
    let pid = s.patient_id();
    let now = Kiosk::now();
    let mut out = Vec::new();
    // The chain pages newest first: every page, so a chronic patient's newest prescriptions are all there.
    let mut offset = 0u64;
    loop {
        let info = k
            .chain
            .pharmacy(&k.deployment)
            .getPatientFullInfo(pid, U256::from(offset), U256::from(PAGE))
            .from(k.address)
            .call()
            .await
            .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
        let total = info.total.to::<u64>();
        for (id, p) in info.ids.iter().zip(info.page.iter()) {
            let id = id.to::<u64>();
            let row = k.store.prescription(id)?.ok_or_else(|| {
                KioskError::Invalid(format!("prescription {id} is not indexed yet: try again"))
            })?;
            let sealed = k.indexer.sealed_payload(B256::from(row.tx_hash)).await?;
            let opened = if records::content_hash(&sealed) != p.contentHash.0 {
                Err("its bytes do not match their hash on chain".to_string())
            } else {
                match s.open(&sealed) {
                    Ok(r) if r.kind() == RecordKind::MedicationRequest => Ok(r),
                    Ok(r) => Err(format!("it holds a {}, not a MedicationRequest", r.kind())),
                    Err(e @ KioskError::Card(_)) => return Err(e),
                    Err(e) => Err(e.to_string()),
                }
            };
            let valid_until = p.validUntil.to::<u64>();
            let (request, unreadable) = match opened {
                Ok(r) => (Some(r), None),
                Err(why) => {
                    tracing::warn!(id, "a prescription of the patient cannot be opened");
                    (None, Some(why))
                }
            };
            out.push(PharmacyPrescription {
                id,
                issuer: p.issuer,
                status: p.status,
                valid_until,
                dispensable: p.status == 1 && now <= valid_until && request.is_some(),
                request,
                unreadable,
            });
        }
        offset += info.ids.len() as u64;
        if info.ids.is_empty() || offset >= total {
            break;
        }
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

/// The dispense receipt the pharmacist hands over: a FHIR MedicationDispense (status completed) for the
/// prescription, naming the pharmacy and the transaction that recorded it.
pub fn dispense_receipt(
    k: &Kiosk,
    s: &PatientSession,
    rx: &PharmacyPrescription,
    done: &Submitted,
) -> Result<Resource, KioskError> {
    let Some(Resource::MedicationRequest(req)) = &rx.request else {
        return Err(KioskError::Invalid(format!(
            "prescription {} holds no MedicationRequest",
            rx.id
        )));
    };
    let req = serde_json::to_value(req).map_err(|e| KioskError::Invalid(e.to_string()))?;
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let mut receipt = serde_json::json!({
        "resourceType": "MedicationDispense",
        "status": "completed",
        "medicationCodeableConcept": req["medicationCodeableConcept"],
        "subject": { "reference": records::fhir::Reference::patient(&s.patient_id().0).reference },
        "performer": [{ "actor": { "reference": format!("Organization/{}", k.institution_id) } }],
        "authorizingPrescription": [{ "reference": format!("MedicationRequest/{}", rx.id) }],
        "whenHandedOver": today,
    });
    if let Some(q) = req.get("dispenseRequest").and_then(|d| d.get("quantity")) {
        receipt["quantity"] = q.clone();
    }
    if let Some(d) = req.get("dosageInstruction") {
        receipt["dosageInstruction"] = d.clone();
    }
    if let Some(h) = done.tx_hash() {
        receipt["note"] =
            serde_json::json!([{ "text": format!("recorded on chain in transaction {h}") }]);
    }
    Ok(Resource::from_json(receipt.to_string().as_bytes())?)
}
