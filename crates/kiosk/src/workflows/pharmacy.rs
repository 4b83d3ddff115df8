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
    /// Status on chain: 1 ready, 2 completed (dispensed), 3 cancelled, 4 partly dispensed.
    pub status: u8,
    /// What has been handed out so far, in parts of 10,000.
    pub dispensed_bps: u16,
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
    list(k, s).await
}

/// The patient's prescriptions as the chain holds them (the pharmacy holds READ consent), each opened with the
/// patient's history keys.
pub async fn list(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<PharmacyPrescription>, KioskError> {
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
                dispensed_bps: p.dispensedBps,
                valid_until,
                dispensable: matches!(p.status, 1 | 4) && now <= valid_until && request.is_some(),
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

/// What the pharmacist hands out now.
#[derive(Debug, Clone, Default)]
pub struct DispenseInput {
    /// How much, in the prescription's form (20 of 40 tablets): what remains when `None`.
    pub quantity: Option<f64>,
    /// The product handed out instead of the prescribed one (a generic of the same substance), only where the
    /// prescription allows substitution.
    pub substitute: Option<String>,
    /// The batch (lot) number on the pack.
    pub batch: String,
}

/// What one dispense did.
#[derive(Debug)]
pub struct Dispensed {
    /// The write.
    pub submitted: Submitted,
    /// The part of the prescription handed out now, of 10,000.
    pub part: u16,
    /// The MedicationDispense written to the patient's record (sealed for their history key and this pharmacy).
    pub dispense: Resource,
}

/// The prescribed quantity of a MedicationRequest.
fn prescribed(rx: &PharmacyPrescription) -> Result<(&records::MedicationRequest, f64), KioskError> {
    let Some(Resource::MedicationRequest(req)) = &rx.request else {
        return Err(KioskError::Invalid(format!(
            "prescription {} cannot be opened: it cannot be dispensed",
            rx.id
        )));
    };
    let q = req
        .dispense_request
        .as_ref()
        .and_then(|d| d.quantity.as_ref())
        .and_then(|q| q.value)
        .filter(|q| *q > 0.0)
        .unwrap_or(1.0);
    Ok((req, q))
}

/// The part (of 10,000) that handing out `quantity` of `total` is, given `dispensed` parts already: the rest
/// when it reaches what remains; refused when it is more than remains or nothing.
pub fn part_of(quantity: f64, total: f64, dispensed: u16) -> Result<u16, KioskError> {
    let remaining = 10_000u16.saturating_sub(dispensed);
    let remaining_qty = total * f64::from(remaining) / 10_000.0;
    if remaining == 0 {
        return Err(KioskError::Invalid("this prescription is completed".into()));
    }
    if quantity.is_nan() || quantity <= 0.0 {
        return Err(KioskError::Invalid("hand out more than nothing".into()));
    }
    if quantity > remaining_qty + 1e-9 {
        return Err(KioskError::Invalid(format!(
            "only {remaining_qty} of {total} remain on this prescription"
        )));
    }
    if quantity >= remaining_qty - 1e-9 {
        return Ok(remaining);
    }
    let part = (quantity / total * 10_000.0).round() as u16;
    Ok(part.clamp(1, remaining - 1))
}

/// The MedicationDispense of handing out `quantity` of `rx` now.
fn dispense_resource(
    k: &Kiosk,
    pid: B256,
    rx: &PharmacyPrescription,
    input: &DispenseInput,
    quantity: f64,
) -> Result<Resource, KioskError> {
    let (req, _) = prescribed(rx)?;
    if input.batch.trim().is_empty() {
        return Err(KioskError::Invalid(
            "enter the batch (lot) number on the pack".into(),
        ));
    }
    let mut medication = req.medication_codeable_concept.clone();
    let substituted = match input
        .substitute
        .as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
    {
        Some(product) => {
            if req
                .substitution
                .as_ref()
                .is_some_and(|x| !x.allowed_boolean)
            {
                return Err(KioskError::Invalid(
                    "the doctor did not allow substitution on this prescription: hand out the prescribed product"
                        .into(),
                ));
            }
            medication.text = Some(product.to_string());
            true
        }
        None => false,
    };
    let unit = req
        .dispense_request
        .as_ref()
        .and_then(|d| d.quantity.as_ref())
        .and_then(|q| q.unit.clone())
        .unwrap_or_else(|| "unit".into());
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let d = records::MedicationDispense {
        id: None,
        status: records::fhir::MedicationDispenseStatus::Completed,
        medication_codeable_concept: medication,
        subject: Some(records::fhir::Reference::patient(&pid.0)),
        performer: vec![records::fhir::DispensePerformer {
            actor: records::fhir::Reference {
                reference: Some(format!("Organization/{}", k.institution_id)),
                display: Some(super::patient::institution_name(k, &k.institution).0),
            },
        }],
        authorizing_prescription: vec![records::fhir::Reference::to(format!(
            "MedicationRequest/{}",
            rx.id
        ))],
        quantity: Some(records::fhir::Quantity::new(quantity, &unit)),
        when_handed_over: Some(today),
        dosage_instruction: req.dosage_instruction.clone(),
        substitution: Some(records::fhir::DispenseSubstitution {
            was_substituted: substituted,
            kind: substituted.then(|| {
                records::CodeableConcept::coded(
                    "http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution",
                    "G",
                    "generic composition",
                )
            }),
        }),
        note: Vec::new(),
        extension: vec![records::fhir::Extension {
            url: records::fhir::BATCH_EXTENSION.into(),
            value_string: input.batch.trim().to_string(),
        }],
    };
    let r = Resource::MedicationDispense(d);
    r.validate(records::FhirDate::from_unix_seconds(Kiosk::now() as i64))?;
    Ok(r)
}

/// Seals a dispense for the patient's history key (from their key bundle: no card needed) and this pharmacy.
async fn seal_dispense(
    k: &Kiosk,
    pid: B256,
    d: &Resource,
) -> Result<alloy::primitives::Bytes, KioskError> {
    let bundle = super::key_bundle(k, pid).await?;
    let recipients = records::recipients_for(
        RecordKind::MedicationDispense,
        &bundle.history_public,
        &k.record_public_key(),
        &[],
    )?;
    Ok(records::seal(d, pid.0, &recipients)?.into())
}

/// Dispenses prescription `id` in full (see [`dispense_part`]), batch "unrecorded".
pub async fn dispense(k: &Kiosk, s: &mut PatientSession, id: u64) -> Result<Submitted, KioskError> {
    // The same whole dispense asked again (a second click, a restarted kiosk) is the same write.
    let key = format!("dispense:{id}:0");
    if let Some(done) = k.outbox.resume(&key).await? {
        return Ok(done);
    }
    let rx = find(k, s, id).await?;
    let input = DispenseInput {
        quantity: None,
        substitute: None,
        batch: "unrecorded".into(),
    };
    Ok(dispense_part(k, s, &rx, &input).await?.submitted)
}

async fn find(
    k: &Kiosk,
    s: &mut PatientSession,
    id: u64,
) -> Result<PharmacyPrescription, KioskError> {
    list(k, s)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| KioskError::Invalid(format!("prescription {id} is not this patient's")))
}

/// Hands out part (or the rest) of `rx`: the MedicationDispense (quantity, batch, substitution) is sealed for
/// the patient's record and the card signs `Dispense(id, pharmacy, part, contentHash, nonce, deadline)`; the
/// chain completes the prescription when its parts reach the whole.
pub async fn dispense_part(
    k: &Kiosk,
    s: &mut PatientSession,
    rx: &PharmacyPrescription,
    input: &DispenseInput,
) -> Result<Dispensed, KioskError> {
    let id = rx.id;
    let (_, total) = prescribed(rx)?;
    let remaining_qty = total * f64::from(10_000u16.saturating_sub(rx.dispensed_bps)) / 10_000.0;
    let quantity = input.quantity.unwrap_or(remaining_qty);
    let part = part_of(quantity, total, rx.dispensed_bps)?;
    let pid = s.patient_id();
    let dispense = dispense_resource(k, pid, rx, input, quantity)?;
    let sealed = seal_dispense(k, pid, &dispense).await?;
    let content = B256::from(records::content_hash(&sealed));
    let key = format!("dispense:{id}:{}", rx.dispensed_bps);
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
        part,
        contentHash: content,
        nonce,
        deadline,
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = k
        .chain
        .pharmacy(&k.deployment)
        .dispensePrescription(U256::from(id), part, deadline, sealed, sig.into())
        .calldata()
        .clone();
    let submitted = k
        .outbox
        .submit(
            &key,
            "dispensePrescription",
            Call {
                to: k.deployment.contracts.pharmacy_access,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    Ok(Dispensed {
        submitted,
        part,
        dispense,
    })
}

/// A prescription presented by its token (a representative, without the patient's card): what the chain says
/// about it. Without the card nothing of the patient opens; the drug is what the printed token shows.
#[derive(Debug, Clone)]
pub struct TokenPrescription {
    /// The prescription id.
    pub id: u64,
    /// 1 ready, 2 completed, 3 cancelled, 4 partly dispensed.
    pub status: u8,
    /// Parts already handed out.
    pub dispensed_bps: u16,
    /// End of validity.
    pub valid_until: u64,
    /// The patient.
    pub patient_id: B256,
}

/// Checks a presented token against the chain: the prescription exists in this deployment, holds this token's
/// key, and is still dispensable.
pub async fn check_token(
    k: &Kiosk,
    token: &carekiosk_letter::TokenRef,
) -> Result<TokenPrescription, KioskError> {
    if token.chain_id != k.deployment.chain_id
        || alloy::primitives::Address::from(token.contract)
            != k.deployment.contracts.pharmacy_access
    {
        return Err(KioskError::Invalid(
            "this token is for another network or deployment: it cannot be dispensed here".into(),
        ));
    }
    let p = k
        .chain
        .pharmacy(&k.deployment)
        .getPrescription(U256::from(token.prescription_id))
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    let key = carekiosk_chain::softcard::SoftCard::from_bytes(&token.secret)?;
    if p.tokenKeyHash != key.patient_id() {
        return Err(KioskError::Invalid(
            "this token does not belong to this prescription (a copy of another, or mistyped): it cannot be dispensed"
                .into(),
        ));
    }
    Ok(TokenPrescription {
        id: token.prescription_id,
        status: p.status,
        dispensed_bps: p.dispensedBps,
        valid_until: p.validUntil.to::<u64>(),
        patient_id: p.patientId,
    })
}

/// Dispenses the rest of a prescription to whoever presents its token: no card, no consent; the token's key
/// signs `DispenseByToken(id, pharmacy, contentHash, deadline)`, so the signature is worthless at another
/// pharmacy. The MedicationDispense is sealed for the patient's record (their history key, from the chain).
pub async fn dispense_by_token(
    k: &Kiosk,
    token: &carekiosk_letter::TokenRef,
    product: &str,
    quantity: f64,
    unit: &str,
    batch: &str,
) -> Result<Submitted, KioskError> {
    let p = check_token(k, token).await?;
    if !matches!(p.status, 1 | 4) {
        return Err(KioskError::Invalid(format!(
            "prescription {} is {} : the token cannot be used",
            p.id,
            match p.status {
                2 => "already dispensed",
                3 => "cancelled",
                _ => "not ready",
            }
        )));
    }
    if batch.trim().is_empty() || product.trim().is_empty() || quantity.is_nan() || quantity <= 0.0
    {
        return Err(KioskError::Invalid(
            "enter the product, the quantity handed out and the batch number".into(),
        ));
    }
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let d = Resource::MedicationDispense(records::MedicationDispense {
        id: None,
        status: records::fhir::MedicationDispenseStatus::Completed,
        medication_codeable_concept: records::CodeableConcept::text(product.trim()),
        subject: Some(records::fhir::Reference::patient(&p.patient_id.0)),
        performer: vec![records::fhir::DispensePerformer {
            actor: records::fhir::Reference::to(format!("Organization/{}", k.institution_id)),
        }],
        authorizing_prescription: vec![records::fhir::Reference::to(format!(
            "MedicationRequest/{}",
            p.id
        ))],
        quantity: Some(records::fhir::Quantity::new(quantity, unit)),
        when_handed_over: Some(today),
        dosage_instruction: Vec::new(),
        substitution: None,
        note: vec![records::fhir::Annotation::new(
            "handed to a representative on the prescription token",
        )],
        extension: vec![records::fhir::Extension {
            url: records::fhir::BATCH_EXTENSION.into(),
            value_string: batch.trim().to_string(),
        }],
    });
    let sealed = seal_dispense(k, p.patient_id, &d).await?;
    let content = B256::from(records::content_hash(&sealed));
    let deadline = U256::from(Kiosk::now() + 600);
    let msg = eip712::DispenseByToken {
        prescriptionId: U256::from(p.id),
        pharmacy: k.institution,
        contentHash: content,
        deadline,
    };
    let key = carekiosk_chain::softcard::SoftCard::from_bytes(&token.secret)?;
    let sig = key.sign(eip712::digest(&msg, &domain(k)));
    let data = k
        .chain
        .pharmacy(&k.deployment)
        .dispenseByToken(U256::from(p.id), deadline, sealed, sig.into())
        .calldata()
        .clone();
    let r = k
        .outbox
        .submit(
            &format!("dispense-token:{}", p.id),
            "dispenseByToken",
            Call {
                to: k.deployment.contracts.pharmacy_access,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    Ok(r)
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

/// The printable receipt (PDF) of a dispense: what was handed out, what remains, substitution, batch, the
/// transaction. Rendered in memory; the desk prints it.
pub fn receipt_pdf(
    k: &Kiosk,
    s: &PatientSession,
    rx: &PharmacyPrescription,
    d: &Dispensed,
) -> Result<Vec<u8>, KioskError> {
    let (req, total) = prescribed(rx)?;
    let Resource::MedicationDispense(md) = &d.dispense else {
        return Err(KioskError::Invalid(
            "the dispense holds no MedicationDispense".into(),
        ));
    };
    let text = |c: &records::CodeableConcept| {
        c.text
            .clone()
            .or_else(|| c.coding.first().and_then(|x| x.display.clone()))
            .unwrap_or_default()
    };
    let prescribed_name = text(&req.medication_codeable_concept);
    let handed = text(&md.medication_codeable_concept);
    let substituted = md.substitution.as_ref().is_some_and(|x| x.was_substituted);
    let quantity = md.quantity.as_ref().and_then(|q| q.value).unwrap_or(0.0);
    let form = md
        .quantity
        .as_ref()
        .and_then(|q| q.unit.clone())
        .unwrap_or_else(|| "unit".into());
    let before = (total * f64::from(rx.dispensed_bps) / 10_000.0).round() as u32;
    let hash = d.submitted.tx_hash().map(|h| h.0).unwrap_or([0u8; 32]);
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let pharmacy = super::patient::institution_name(k, &k.institution).0;
    let receipt = carekiosk_letter::DispenseReceipt {
        pharmacy: &pharmacy,
        dispensed_on: &today,
        patient_name: Some(s.info.name.as_str()).filter(|n| !n.is_empty()),
        prescription_id: rx.id,
        drug: &handed,
        prescribed_drug: substituted.then_some(prescribed_name.as_str()),
        quantity: quantity.round() as u32,
        prescribed_quantity: total.round() as u32,
        dispensed_before: before,
        form: &form,
        batch: md.batch().unwrap_or("unrecorded"),
        transaction_hash: &hash,
        lang: carekiosk_letter::Lang::En,
    };
    carekiosk_letter::render_receipt_pdf(&receipt).map_err(|e| KioskError::Invalid(e.to_string()))
}
