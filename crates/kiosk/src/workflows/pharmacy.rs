//! Pharmacy: the patient's prescriptions, each checked against the chain and opened with the card; dispensing
//! carries the card's proof of presence and, in the same transaction, the pharmacy's short consent window.

use alloy::primitives::{B256, U256};
use carekiosk_chain::eip712::{self, Dispense};
use carekiosk_records::{self as records, RecordKind, Resource};

use super::{consent_now, domain, require_patient, unlock_history, ConsentChoice};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};
use carekiosk_chain::bindings::{scope, PharmacyAccess};

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

/// The kiosk lists the patient's prescriptions (opened with the card); the pharmacy's consent (READ and DISPENSE,
/// the default 3 days) is granted with the first dispense, in the same transaction.
pub async fn open_patient(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<PharmacyPrescription>, KioskError> {
    open_patient_with(k, s, ConsentChoice::default_for(k.config.role)).await
}

/// [`open_patient`] with the consent the patient chose (at most read and dispense, at most 30 days): checked now,
/// signed by the card with the dispense (`dispenseWithConsent`, one transaction for the pharmacy's step).
pub async fn open_patient_with(
    k: &Kiosk,
    s: &mut PatientSession,
    choice: ConsentChoice,
) -> Result<Vec<PharmacyPrescription>, KioskError> {
    choice.check(k.config.role)?;
    require_patient(k, s).await?;
    s.set_consent_choice(choice.scope, choice.days);
    list(k, s).await
}

/// The patient's prescriptions as the chain's events say (this kiosk's index, brought up to date first), newest
/// first, each opened with the patient's history keys (the card is present: nothing opens without it) and its
/// bytes checked against the hash the chain recorded.
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
    let mut rows = k.store.prescriptions_of(&pid)?;
    rows.reverse();
    for row in rows {
        let id = row.id;
        let sealed = k
            .indexer
            .sealed_payload(B256::from(row.tx_hash), row.content_hash)
            .await?;
        let opened = if records::content_hash(&sealed) != row.content_hash {
            Err("its bytes do not match their hash on chain".to_string())
        } else {
            match s.open(&sealed) {
                Ok(r) if r.kind() == RecordKind::MedicationRequest => Ok(r),
                Ok(r) => Err(format!("it holds a {}, not a MedicationRequest", r.kind())),
                Err(e @ KioskError::Card(_)) => return Err(e),
                Err(e) => Err(e.to_string()),
            }
        };
        let (request, unreadable) = match opened {
            Ok(r) => (Some(r), None),
            Err(why) => {
                tracing::warn!(id, "a prescription of the patient cannot be opened");
                (None, Some(why))
            }
        };
        let status = row.status as u8;
        out.push(PharmacyPrescription {
            id,
            issuer: row.issuer,
            status,
            dispensed_bps: row.dispensed_bps,
            valid_until: row.valid_until,
            dispensable: matches!(status, 1 | 4) && now <= row.valid_until && request.is_some(),
            request,
            unreadable,
        });
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
    // The same whole dispense asked again (a second click, a restarted kiosk) is the same write. The key names the
    // patient: a reorganisation can renumber prescriptions, and another patient's prescription under this number
    // must not find this write.
    let key = dispense_key(s.patient_id(), id, 0);
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

/// The outbox key of a dispense: the patient, the prescription and what was handed out before it.
pub fn dispense_key(patient: B256, id: u64, dispensed_bps: u16) -> String {
    format!("dispense:{patient}:{id}:{dispensed_bps}")
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
        .ok_or(KioskError::NoSuchPrescription(id))
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
    let key = dispense_key(pid, id, rx.dispensed_bps);
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
    let pharmacy = k.chain.pharmacy(&k.deployment);
    // The pharmacy's step is one transaction: the consent the patient chose and the dispense, under one card
    // signature — unless this pharmacy already holds a consent to dispense (a second part in the same visit).
    let (kind, data) = match consent_to_grant(k, s).await? {
        None => {
            let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
            let data = pharmacy
                .dispensePrescription(U256::from(id), pid, part, deadline, sealed, sig.into())
                .calldata()
                .clone();
            ("dispensePrescription", data)
        }
        Some(consent) => {
            let terms = PharmacyAccess::ConsentTerms {
                scope: consent.scope,
                validUntil: consent.validUntil,
                epoch: consent.epoch,
                signedAt: consent.signedAt,
            };
            let step = eip712::DispenseWithConsent {
                consent,
                dispense: msg,
            };
            let sig = s.sign(eip712::digest(&step, &domain(k)))?;
            let data = pharmacy
                .dispenseWithConsent(
                    U256::from(id),
                    pid,
                    part,
                    deadline,
                    sealed,
                    terms,
                    sig.into(),
                )
                .calldata()
                .clone();
            ("dispenseWithConsent", data)
        }
    };
    let submitted = k
        .outbox
        .submit(
            &key,
            kind,
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

/// The receipt of a dispense on the token (PDF): what was handed out, to whom nothing says (the card is not there),
/// and what the prescription came to — the token dispenses the rest, so the whole is this quantity over what
/// remained (`p.dispensed_bps` before it).
pub fn token_receipt_pdf(
    k: &Kiosk,
    p: &TokenPrescription,
    product: &str,
    quantity: f64,
    unit: &str,
    batch: &str,
    submitted: &Submitted,
) -> Result<Vec<u8>, KioskError> {
    let remaining = 10_000u32.saturating_sub(u32::from(p.dispensed_bps)).max(1);
    let total = (quantity * 10_000.0 / f64::from(remaining))
        .round()
        .max(1.0);
    let handed = quantity.round().max(1.0);
    let hash = submitted.tx_hash().map(|h| h.0).unwrap_or([0u8; 32]);
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let pharmacy = super::patient::institution_name(k, &k.institution).0;
    let receipt = carekiosk_letter::DispenseReceipt {
        pharmacy: &pharmacy,
        dispensed_on: &today,
        patient_name: None,
        prescription_id: p.id,
        drug: product.trim(),
        prescribed_drug: None,
        quantity: handed as u32,
        prescribed_quantity: total as u32,
        dispensed_before: (total - handed).max(0.0) as u32,
        form: if unit.trim().is_empty() {
            "unit"
        } else {
            unit.trim()
        },
        batch: batch.trim(),
        transaction_hash: &hash,
        lang: carekiosk_letter::Lang::En,
    };
    carekiosk_letter::render_receipt_pdf(&receipt).map_err(|e| KioskError::Invalid(e.to_string()))
}

/// The consent to grant with a dispense ([`consent_now`], the patient's choice or the pharmacy's default), or
/// `None` when this pharmacy already holds one that lets it dispense now (in the patient's current epoch).
async fn consent_to_grant(
    k: &Kiosk,
    s: &PatientSession,
) -> Result<Option<eip712::Consent>, KioskError> {
    let pid = s.patient_id();
    let hub = k.chain.hub(&k.deployment);
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    let held = hub
        .consentOf(pid, k.institution)
        .call()
        .await
        .map_err(read)?;
    let epoch = hub.epochOf(pid).call().await.map_err(read)?;
    let now = k
        .chain
        .latest_timestamp()
        .await
        .unwrap_or_else(|_| Kiosk::now());
    if held.epoch == epoch && held.scope & scope::DISPENSE != 0 && held.validUntil > now + 60 {
        return Ok(None);
    }
    let (scope, days) = s.consent_choice().unwrap_or_else(|| {
        let c = ConsentChoice::default_for(k.config.role);
        (c.scope, c.days)
    });
    Ok(Some(consent_now(k, pid, scope, days).await?))
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
    // The chain keeps 12 bytes of the patient id; the whole id is the prescription's `PrescriptionIssued` event's,
    // in this kiosk's index.
    let _ = k.indexer.sync().await;
    let patient_id = k
        .store
        .prescription(token.prescription_id)?
        .map(|row| B256::from(row.patient_id))
        .filter(|pid| pid.0[..12] == p.patientPrefix.0[..])
        .ok_or_else(|| {
            KioskError::Invalid(format!(
                "prescription {} is not in this kiosk's index yet: wait a moment and scan the token again",
                token.prescription_id
            ))
        })?;
    Ok(TokenPrescription {
        id: token.prescription_id,
        status: p.status,
        dispensed_bps: p.dispensedBps,
        valid_until: p.validUntil.to::<u64>(),
        patient_id,
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
        .dispenseByToken(U256::from(p.id), p.patient_id, deadline, sealed, sig.into())
        .calldata()
        .clone();
    let r = k
        .outbox
        .submit(
            // Named by the patient too: a reorganisation can renumber prescriptions.
            &format!("dispense-token:{}:{}", p.patient_id, p.id),
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
