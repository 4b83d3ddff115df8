//! Doctor: the decrypted history (card present), a diagnosis with its treatment plan, amendments,
//! prescriptions, and the claim to the patient's insurer after the consultation.

use alloy::primitives::U256;
use carekiosk_records::fhir::{CarePlanActivity, Reference};
use carekiosk_records::{formulary, icd10, Resource};

use super::{history as read_history, seal, write_record, HistoryEntry};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// The patient's history, opened with their card.
pub async fn history(k: &Kiosk, s: &mut PatientSession) -> Result<Vec<HistoryEntry>, KioskError> {
    super::require_patient(k, s).await?;
    read_history(k, s).await
}

/// Records a diagnosis (ICD-10, picked from the subset) and, when `plan` is not empty, a treatment plan — one
/// write either way (`recordVisit` for the two). Returns the writes (confirmed, or pending while offline).
pub async fn add_diagnosis(
    k: &Kiosk,
    s: &mut PatientSession,
    icd10_code: &str,
    note: Option<&str>,
    plan: &[&str],
) -> Result<Vec<Submitted>, KioskError> {
    let code = icd10_of(icd10_code)?;
    let condition = condition_of(code, s, note);
    if plan.is_empty() {
        let w = write_record(k, s, &Resource::Condition(condition), None).await?;
        return Ok(vec![w.0]);
    }
    // The diagnosis and its plan are one write (`recordVisit`): one transaction, both or neither.
    let records = [
        Resource::Condition(condition),
        Resource::CarePlan(care_plan(code, s, plan)),
    ];
    let mut sealed = Vec::with_capacity(records.len());
    for r in &records {
        sealed.push(seal(k, s, r, &[]).await?);
    }
    let pid = s.patient_id();
    let key = format!(
        "visit:{pid}:{}",
        alloy::hex::encode(carekiosk_records::content_hash(&sealed[0]))
    );
    let data = k
        .chain
        .records(&k.deployment)
        .recordVisit(pid, sealed)
        .calldata()
        .clone();
    let w = k
        .outbox
        .submit(
            &key,
            "recordVisit",
            Call {
                to: k.deployment.contracts.hospital_record,
                data,
            },
        )
        .await?;
    Ok(vec![w])
}

fn icd10_of(icd10_code: &str) -> Result<&'static icd10::Icd10Code, KioskError> {
    icd10::lookup(icd10_code).ok_or_else(|| {
        KioskError::Invalid(format!(
            "{icd10_code} is not in the ICD-10 list: pick one from it"
        ))
    })
}

fn condition_of(
    code: &icd10::Icd10Code,
    s: &PatientSession,
    note: Option<&str>,
) -> carekiosk_records::fhir::Condition {
    let mut condition = code.diagnosis(Reference::patient(&s.patient_id().0));
    if let Some(n) = note {
        condition
            .note
            .push(carekiosk_records::fhir::Annotation::new(n));
    }
    condition
}

fn care_plan(
    code: &icd10::Icd10Code,
    s: &PatientSession,
    plan: &[&str],
) -> carekiosk_records::fhir::CarePlan {
    let mut cp = carekiosk_records::fhir::CarePlan::new(Reference::patient(&s.patient_id().0));
    cp.description = Some(format!("Treatment of {} ({})", code.display, code.code));
    for step in plan {
        cp.activity.push(CarePlanActivity::described(*step));
    }
    cp
}

/// Records the treatment plan of a diagnosis (ICD-10) on its own: the second half of [`add_diagnosis`], for when
/// the kiosk stopped between the two writes and the doctor enters the plan again.
pub async fn add_care_plan(
    k: &Kiosk,
    s: &mut PatientSession,
    icd10_code: &str,
    plan: &[&str],
) -> Result<Submitted, KioskError> {
    let cp = care_plan(icd10_of(icd10_code)?, s, plan);
    Ok(write_record(k, s, &Resource::CarePlan(cp), None).await?.0)
}

/// Amends entry `index` (this hospital's own) with a new version.
pub async fn amend(
    k: &Kiosk,
    s: &mut PatientSession,
    index: u64,
    resource: &Resource,
) -> Result<Submitted, KioskError> {
    Ok(write_record(k, s, resource, Some(index)).await?.0)
}

/// What the doctor prescribes.
#[derive(Debug, Clone, Default)]
pub struct PrescriptionOrder {
    /// The drug (ATC code from the drug list).
    pub atc: String,
    /// How much, in the drug's form.
    pub quantity: f64,
    /// Dosage text (default: the drug list's).
    pub dosage: Option<String>,
    /// Days of validity (0: the contract's default of 28).
    pub days: u32,
    /// The prescribing doctor (a person), as printed on the prescription.
    pub prescriber: Option<String>,
    /// Whether the pharmacy may hand out another product of the same substance.
    pub substitution_allowed: bool,
    /// Print a prescription token, so a representative can collect it without the patient's card.
    pub token: bool,
}

/// What prescribing did.
pub struct Prescribed {
    /// The write.
    pub submitted: Submitted,
    /// The prescription's id on chain (known once the write is confirmed and indexed).
    pub id: Option<u64>,
    /// The token's secret, to print once (never stored): whoever holds it can have the prescription
    /// dispensed once.
    pub token_secret: Option<zeroize::Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for Prescribed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prescribed")
            .field("submitted", &self.submitted)
            .field("id", &self.id)
            .field("token", &self.token_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Issues a prescription of a formulary drug, valid `days` days (0: the contract's default of 28). Refused
/// when it raises a warning (allergy, duplicate: [`prescription_warnings`]); use [`prescribe_order`] with the
/// warnings the doctor confirmed.
pub async fn prescribe(
    k: &Kiosk,
    s: &mut PatientSession,
    atc: &str,
    quantity: f64,
    dosage: Option<&str>,
    days: u32,
) -> Result<Submitted, KioskError> {
    let order = PrescriptionOrder {
        atc: atc.into(),
        quantity,
        dosage: dosage.map(str::to_string),
        days,
        prescriber: None,
        substitution_allowed: true,
        token: false,
    };
    Ok(prescribe_order(k, s, &order, &[]).await?.submitted)
}

/// The warnings prescribing `atc` raises for this patient (allergies, the same drug or class already taken),
/// computed from their history (card present).
pub async fn prescription_warnings(
    k: &Kiosk,
    s: &mut PatientSession,
    atc: &str,
) -> Result<Vec<super::medication::Warning>, KioskError> {
    let drug = formulary::lookup(atc).ok_or_else(|| {
        KioskError::Invalid(format!(
            "{atc} is not in the formulary: pick a drug from it"
        ))
    })?;
    let overview = super::medication::overview(k, s).await?;
    Ok(super::medication::warnings(&overview, atc, &drug.display()))
}

/// Issues `order`. Every warning it raises must be in `confirmed` (the doctor saw and confirmed it), otherwise
/// nothing is written and the error lists the warnings.
pub async fn prescribe_order(
    k: &Kiosk,
    s: &mut PatientSession,
    order: &PrescriptionOrder,
    confirmed: &[super::medication::Warning],
) -> Result<Prescribed, KioskError> {
    let overview = super::medication::overview(k, s).await?;
    let o = seal_order(k, s, order, &overview, confirmed).await?;
    let data = k
        .chain
        .pharmacy(&k.deployment)
        .issuePrescription(s.patient_id(), o.valid, o.token_hash(), o.sealed.clone())
        .calldata()
        .clone();
    let content = carekiosk_records::content_hash(&o.sealed);
    let key = format!("prescription:{}", alloy::hex::encode(content));
    let submitted = k
        .outbox
        .submit(
            &key,
            "issuePrescription",
            Call {
                to: k.deployment.contracts.pharmacy_access,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    let id = prescription_id(k, s, content)?;
    Ok(Prescribed {
        submitted,
        id,
        token_secret: o.token.map(|t| t.secret()),
    })
}

/// A prescription sealed for the patient, ready for `issuePrescription` or a consultation.
struct SealedOrder {
    sealed: alloy::primitives::Bytes,
    valid: alloy::primitives::aliases::U40,
    token: Option<carekiosk_chain::softcard::SoftCard>,
}

impl SealedOrder {
    fn token_hash(&self) -> alloy::primitives::B256 {
        self.token
            .as_ref()
            .map_or(alloy::primitives::B256::ZERO, |t| t.patient_id())
    }
}

/// The id the index gives the prescription whose sealed bytes hash to `content` (once confirmed and indexed).
fn prescription_id(
    k: &Kiosk,
    s: &PatientSession,
    content: [u8; 32],
) -> Result<Option<u64>, KioskError> {
    Ok(k.store
        .prescriptions_of(&s.patient_id().0)?
        .into_iter()
        .find(|p| p.content_hash == content)
        .map(|p| p.id))
}

/// Builds and seals `order` (a FHIR MedicationRequest). Every warning it raises against the patient's `overview`
/// must be in `confirmed`.
async fn seal_order(
    k: &Kiosk,
    s: &mut PatientSession,
    order: &PrescriptionOrder,
    overview: &super::medication::MedicationOverview,
    confirmed: &[super::medication::Warning],
) -> Result<SealedOrder, KioskError> {
    let atc = order.atc.as_str();
    let (quantity, days) = (order.quantity, order.days);
    let dosage = order.dosage.as_deref();
    let drug = formulary::lookup(atc).ok_or_else(|| {
        KioskError::Invalid(format!(
            "{atc} is not in the formulary: pick a drug from it"
        ))
    })?;
    let open: Vec<_> = super::medication::warnings(overview, atc, &drug.display())
        .into_iter()
        .filter(|w| !confirmed.contains(w))
        .collect();
    if !open.is_empty() {
        return Err(KioskError::NeedsConfirmation(
            open.iter().map(ToString::to_string).collect(),
        ));
    }
    let now = Kiosk::now();
    let until = now + u64::from(if days == 0 { 28 } else { days }) * 86_400;
    let period = carekiosk_records::fhir::Period::new(
        carekiosk_records::FhirDate::from_unix_seconds(now as i64).to_string(),
        carekiosk_records::FhirDate::from_unix_seconds(until as i64).to_string(),
    );
    let mut request = drug.prescription(Reference::patient(&s.patient_id().0), quantity, period);
    if let Some(d) = dosage {
        request.dosage_instruction = vec![carekiosk_records::fhir::Dosage::text(d)];
    }
    request.authored_on =
        Some(carekiosk_records::FhirDate::from_unix_seconds(now as i64).to_string());
    if let Some(p) = order.prescriber.as_deref().filter(|p| !p.trim().is_empty()) {
        request.requester = Some(Reference {
            reference: None,
            display: Some(p.trim().to_string()),
        });
    }
    request.substitution = Some(carekiosk_records::fhir::RequestSubstitution {
        allowed_boolean: order.substitution_allowed,
    });
    let sealed = seal(k, s, &Resource::MedicationRequest(request), &[]).await?;
    let valid = alloy::primitives::aliases::U40::from(if days == 0 { 0 } else { until });
    // The token: a fresh P-256 key whose hash goes on chain; its secret is printed, never kept.
    let token = order
        .token
        .then(carekiosk_chain::softcard::SoftCard::generate);
    Ok(SealedOrder {
        sealed,
        valid,
        token,
    })
}

/// One billed service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimItem {
    /// Service code (`carekiosk_records::services`).
    pub service: String,
    /// How many.
    pub quantity: u32,
    /// Price of one, in token base units.
    pub unit_price: U256,
}

/// What the hospital bills for one visit.
#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    /// The record this hospital wrote for the visit (the diagnosis): the claim's diagnosis comes from it.
    pub record: u64,
    /// The services.
    pub items: Vec<ClaimItem>,
    /// The treating practitioner.
    pub practitioner: Option<String>,
}

/// Token base units as a decimal number of tokens, for FHIR `Money.value` and the screens.
pub fn tokens(amount: U256, decimals: u8) -> f64 {
    let scale = 10f64.powi(i32::from(decimals));
    amount.to_string().parse::<f64>().unwrap_or(f64::MAX) / scale
}

/// Bills the patient's insurer for record `index` with one consultation of `amount` token base units (see
/// [`submit_claim_items`]).
pub async fn submit_claim(
    k: &Kiosk,
    s: &mut PatientSession,
    index: u64,
    amount: U256,
) -> Result<Submitted, KioskError> {
    let req = ClaimRequest {
        record: index,
        items: vec![ClaimItem {
            service: "CONS".into(),
            quantity: 1,
            unit_price: amount,
        }],
        practitioner: None,
    };
    submit_claim_items(k, s, &req).await
}

/// Bills the patient's insurer for a visit: a FHIR R4 Claim with what a reviewer needs (service date, the
/// hospital and practitioner, the visit's diagnosis, each service with its quantity, unit price and net, the
/// total — all in the deployment token), sealed for the patient, this hospital and the patient's insurer. The
/// chain keeps the total only.
pub async fn submit_claim_items(
    k: &Kiosk,
    s: &mut PatientSession,
    req: &ClaimRequest,
) -> Result<Submitted, KioskError> {
    if req.items.is_empty() {
        return Err(KioskError::Invalid(
            "a claim needs at least one service".into(),
        ));
    }
    // The diagnosis of the billed visit, from the record (opened with the history keys).
    let entries = read_history(k, s).await?;
    let diagnosis = entries
        .iter()
        .find(|e| e.index == req.record)
        .and_then(|e| match &e.resource {
            Some(Resource::Condition(c)) => c.code.clone(),
            _ => None,
        })
        .ok_or_else(|| {
            KioskError::Invalid(format!(
                "record {} is not a diagnosis of this patient: bill the visit's diagnosis entry",
                req.record
            ))
        })?;
    let pid = s.patient_id();
    // This visit billed already (asked again: the write under its key is driven on, not a second sealed claim).
    let key = format!("claim:{pid}:{}", req.record);
    if let Some(done) = k.outbox.resume(&key).await? {
        return Ok(done);
    }
    let (sealed, total) = seal_claim(k, s, req, &diagnosis).await?;
    let data = k
        .chain
        .insurance(&k.deployment)
        .submitClaim(pid, U256::from(req.record), total, sealed)
        .calldata()
        .clone();
    k.outbox
        .submit(
            &key,
            "submitClaim",
            Call {
                to: k.deployment.contracts.insurance_provider,
                data,
            },
        )
        .await
}

/// The FHIR Claim of `req` (at least one service: its callers check) for the visit's `diagnosis`, sealed for the
/// patient, this hospital and the patient's insurer, and its total (what the chain keeps).
async fn seal_claim(
    k: &Kiosk,
    s: &mut PatientSession,
    req: &ClaimRequest,
    diagnosis: &carekiosk_records::fhir::CodeableConcept,
) -> Result<(alloy::primitives::Bytes, U256), KioskError> {
    let (token, decimals) = k.currency().await;
    // FHIR money is in an ISO 4217 currency: the one the stable token stands for (1 token = 1 unit).
    let symbol = Kiosk::iso_currency(&token).ok_or_else(|| {
        KioskError::Invalid(format!(
            "the deployment's token {token} stands for no ISO 4217 currency: claims need one (USD, EUR, KES…)"
        ))
    })?;
    let pid = s.patient_id();
    // The claim is for the patient's own insurer: sealed for its key.
    let coverage = k
        .chain
        .insurance(&k.deployment)
        .coverageOf(pid)
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    if coverage.c.insurer.is_zero() {
        return Err(KioskError::NoInsurer);
    }
    let insurer = k.record_key_of(coverage.c.insurer).await?;
    let today = carekiosk_records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let mut total = U256::ZERO;
    let mut items = Vec::new();
    for (i, item) in req.items.iter().enumerate() {
        let service = carekiosk_records::services::lookup(&item.service).ok_or_else(|| {
            KioskError::Invalid(format!("{} is not a known service code", item.service))
        })?;
        if item.quantity == 0 || item.unit_price.is_zero() {
            return Err(KioskError::Invalid(format!(
                "{}: quantity and unit price must be more than zero",
                service.display
            )));
        }
        let net = item.unit_price * U256::from(item.quantity);
        total += net;
        items.push(serde_json::json!({
            "sequence": i + 1,
            "diagnosisSequence": [1],
            "productOrService": service.codeable_concept(),
            "servicedDate": today,
            "quantity": { "value": item.quantity },
            "unitPrice": { "value": tokens(item.unit_price, decimals), "currency": symbol },
            "net": { "value": tokens(net, decimals), "currency": symbol },
        }));
    }
    let (name, _) = super::patient::institution_name(k, &k.institution);
    let mut claim = serde_json::json!({
        "resourceType": "Claim",
        "status": "active",
        "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional" }] },
        "use": "claim",
        "patient": { "reference": Reference::patient(&pid.0).reference },
        "created": today,
        "provider": { "reference": format!("Organization/{}", k.institution_id), "display": name },
        "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal" }] },
        "diagnosis": [{ "sequence": 1, "diagnosisCodeableConcept": diagnosis }],
        "insurance": [{ "sequence": 1, "focal": true, "coverage": { "reference": format!("Coverage/{}", pid) } }],
        "item": items,
        "total": { "value": tokens(total, decimals), "currency": symbol }
    });
    if let Some(p) = req.practitioner.as_deref().filter(|p| !p.trim().is_empty()) {
        claim["careTeam"] =
            serde_json::json!([{ "sequence": 1, "provider": { "display": p.trim() } }]);
        for item in claim["item"].as_array_mut().into_iter().flatten() {
            item["careTeamSequence"] = serde_json::json!([1]);
        }
    }
    let claim = Resource::from_json(claim.to_string().as_bytes())?;
    let sealed = seal(k, s, &claim, &[insurer]).await?;
    Ok((sealed, total))
}

/// The whole consultation at the doctor's desk: the diagnosis, its treatment plan, the prescriptions and the
/// claim to the patient's insurer.
#[derive(Debug, Clone, Default)]
pub struct Consultation {
    /// The caller's name for this consultation (letters, digits, `-`, `_`; up to 64), kept while it is asked again
    /// (a screen's retry, a desk's second click): under it a write on its way is driven on instead of being sent
    /// twice, and one the chain refused is replaced. `None`: every call is a new consultation.
    pub id: Option<String>,
    /// The diagnosis (ICD-10, from the subset).
    pub icd10: String,
    /// A note on the diagnosis.
    pub note: Option<String>,
    /// The treatment plan's steps (empty: no plan).
    pub plan: Vec<String>,
    /// What is prescribed (up to eight).
    pub prescriptions: Vec<PrescriptionOrder>,
    /// The prescription warnings the doctor saw and confirmed.
    pub confirmed: Vec<super::medication::Warning>,
    /// What is billed for the visit (empty: not billed now).
    pub services: Vec<ClaimItem>,
    /// The treating practitioner, on the claim.
    pub practitioner: Option<String>,
}

/// What a consultation did.
#[derive(Debug)]
pub struct Consulted {
    /// The one write.
    pub submitted: Submitted,
    /// Each prescription (its id once confirmed and indexed, its token's secret to print).
    pub prescriptions: Vec<Prescribed>,
    /// The amount billed (token base units), if the visit was billed.
    pub billed: Option<U256>,
}

/// Most prescriptions one consultation issues (`HospitalRecord.MAX_VISIT_PRESCRIPTIONS`).
pub const MAX_PRESCRIPTIONS: usize = 8;

/// The consultation step: the diagnosis and its plan, every prescription and the claim (billing the diagnosis)
/// in one write (`HospitalRecord.consult`): one transaction, one block, all or nothing. Each part is built and
/// checked as its own action builds it (warnings to confirm, the patient's insurer, the currency) before anything is
/// sent.
pub async fn consult(
    k: &Kiosk,
    s: &mut PatientSession,
    c: &Consultation,
) -> Result<Consulted, KioskError> {
    if c.prescriptions.len() > MAX_PRESCRIPTIONS {
        return Err(KioskError::Invalid(format!(
            "a consultation issues at most {MAX_PRESCRIPTIONS} prescriptions: issue the others on their own"
        )));
    }
    let code = icd10_of(&c.icd10)?;
    super::require_patient(k, s).await?;
    let pid = s.patient_id();
    let named = match c.id.as_deref() {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') =>
        {
            let key = format!("consult:{pid}:{id}");
            // Asked again: the write already under this name is driven on, and answered from what it carries.
            if let Some(done) = k.outbox.resume(&key).await? {
                return resumed(k, s, &key, done).await;
            }
            Some(key)
        }
        Some(id) => {
            return Err(KioskError::Invalid(format!(
                "{id:?} cannot name a consultation: up to 64 letters, digits, '-' or '_'"
            )))
        }
        None => None,
    };
    let condition = condition_of(code, s, c.note.as_deref());
    let diagnosis = condition.code.clone();
    let mut records = vec![Resource::Condition(condition)];
    if !c.plan.is_empty() {
        let plan: Vec<&str> = c.plan.iter().map(String::as_str).collect();
        records.push(Resource::CarePlan(care_plan(code, s, &plan)));
    }
    let mut sealed = Vec::with_capacity(records.len());
    for r in &records {
        sealed.push(seal(k, s, r, &[]).await?);
    }
    let mut orders = Vec::with_capacity(c.prescriptions.len());
    if !c.prescriptions.is_empty() {
        // The patient's allergies and medication, read once for every prescription of the consultation.
        let overview = super::medication::overview(k, s).await?;
        for o in &c.prescriptions {
            orders.push(seal_order(k, s, o, &overview, &c.confirmed).await?);
        }
    }
    let (sealed_claim, total) = if c.services.is_empty() {
        (alloy::primitives::Bytes::new(), U256::ZERO)
    } else {
        let req = ClaimRequest {
            record: 0,
            items: c.services.clone(),
            practitioner: c.practitioner.clone(),
        };
        let diagnosis = diagnosis
            .as_ref()
            .ok_or_else(|| KioskError::Invalid(format!("{} has no code to bill", c.icd10)))?;
        seal_claim(k, s, &req, diagnosis).await?
    };
    let key = named.unwrap_or_else(|| {
        format!(
            "consult:{pid}:{}",
            alloy::hex::encode(carekiosk_records::content_hash(&sealed[0]))
        )
    });
    let calls = orders
        .iter()
        .map(
            |o| carekiosk_chain::bindings::HospitalRecord::PrescriptionOrder {
                validUntil: o.valid,
                tokenKeyHash: o.token_hash(),
                sealedPrescription: o.sealed.clone(),
            },
        )
        .collect();
    let data = k
        .chain
        .records(&k.deployment)
        .consult(pid, sealed, calls, total, sealed_claim)
        .calldata()
        .clone();
    let submitted = k
        .outbox
        .submit(
            &key,
            "consult",
            Call {
                to: k.deployment.contracts.hospital_record,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    let mut prescriptions = Vec::with_capacity(orders.len());
    for o in orders {
        let id = prescription_id(k, s, carekiosk_records::content_hash(&o.sealed))?;
        prescriptions.push(Prescribed {
            submitted: submitted.clone(),
            id,
            token_secret: o.token.map(|t| t.secret()),
        });
    }
    Ok(Consulted {
        submitted,
        prescriptions,
        billed: (!c.services.is_empty()).then_some(total),
    })
}

/// A consultation asked again under its name: its write's prescriptions (each id from the index, once confirmed)
/// and the amount it billed, read from the write itself. The tokens' secrets were shown once, with the first answer,
/// and are kept nowhere.
async fn resumed(
    k: &Kiosk,
    s: &PatientSession,
    key: &str,
    submitted: Submitted,
) -> Result<Consulted, KioskError> {
    use alloy::sol_types::SolCall;
    let _ = k.indexer.sync().await;
    let call = k
        .store
        .outbox_by_key(key)?
        .and_then(|e| serde_json::from_value::<Call>(e.payload).ok())
        .and_then(|c| {
            carekiosk_chain::bindings::HospitalRecord::consultCall::abi_decode(&c.data).ok()
        })
        .ok_or_else(|| {
            KioskError::Invalid(format!(
                "the write named {key} is not a consultation this kiosk can read"
            ))
        })?;
    let mut prescriptions = Vec::with_capacity(call.prescriptions.len());
    for o in &call.prescriptions {
        prescriptions.push(Prescribed {
            submitted: submitted.clone(),
            id: prescription_id(k, s, carekiosk_records::content_hash(&o.sealedPrescription))?,
            token_secret: None,
        });
    }
    let billed = !call.sealedClaim.is_empty() || !call.claimAmount.is_zero();
    Ok(Consulted {
        submitted,
        prescriptions,
        billed: billed.then_some(call.claimAmount),
    })
}

/// Records an allergy or intolerance the doctor established (`atc_class`: the drug class when known, e.g. J01C).
pub async fn record_allergy(
    k: &Kiosk,
    s: &mut PatientSession,
    substance: &str,
    atc_class: Option<&str>,
    high: bool,
    reaction: Option<&str>,
) -> Result<Submitted, KioskError> {
    let class = atc_class
        .map(str::to_string)
        .or_else(|| super::medication::class_of_allergy(substance).map(str::to_string));
    let mut a = carekiosk_records::AllergyIntolerance::medication(
        Reference::patient(&s.patient_id().0),
        substance.trim(),
        class.as_deref(),
        high,
    );
    a.recorded_date =
        Some(carekiosk_records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string());
    if let Some(r) = reaction.filter(|r| !r.trim().is_empty()) {
        a.note
            .push(carekiosk_records::fhir::Annotation::new(r.trim()));
    }
    Ok(write_record(k, s, &Resource::AllergyIntolerance(a), None)
        .await?
        .0)
}

/// Cancels a prescription this hospital issued (before it is dispensed): the pharmacy can no longer hand it out.
pub async fn cancel_prescription(k: &Kiosk, id: u64) -> Result<Submitted, KioskError> {
    // The cancel names the prescription's content: a reorganisation can renumber prescriptions, and a cancel sent
    // again must refuse (PrescriptionChanged), not cancel another one.
    let _ = k.indexer.sync().await;
    // It names the prescription's patient too (the chain checks the id against the prescription's).
    let (patient, hash) = k
        .store
        .prescription(id)?
        .map(|p| {
            (
                alloy::primitives::B256::from(p.patient_id),
                alloy::primitives::B256::from(p.content_hash),
            )
        })
        .ok_or_else(|| {
            KioskError::Invalid(format!(
                "prescription {id} is not in this kiosk's index: open the patient's timeline again"
            ))
        })?;
    let data = k
        .chain
        .pharmacy(&k.deployment)
        .cancelPrescription(U256::from(id), patient, hash)
        .calldata()
        .clone();
    let r = k
        .outbox
        .submit(
            &format!("cancel-prescription:{id}:{hash}"),
            "cancelPrescription",
            Call {
                to: k.deployment.contracts.pharmacy_access,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    Ok(r)
}

/// One line of the doctor's timeline: a record, a prescription, or a dispense.
#[derive(Debug, Clone)]
pub enum TimelineEntry {
    /// An entry of the history.
    Record(HistoryEntry),
    /// A prescription (issued anywhere) with its current status.
    Prescription {
        /// On-chain id.
        id: u64,
        /// Issued at (unix seconds).
        time: u64,
        /// Issuer's institution id.
        issuer: u32,
        /// `ready`, `dispensed`, `cancelled`, `expired`.
        status: String,
        /// The MedicationRequest, when it opens.
        request: Option<Resource>,
    },
    /// A dispense (a part, or the whole), at a pharmacy.
    Dispense {
        /// The prescription.
        prescription_id: u64,
        /// When.
        time: u64,
        /// The pharmacy's institution id.
        pharmacy: u32,
        /// The part handed out, of 10,000.
        part: u16,
        /// Redeemed by a representative's token.
        by_token: bool,
        /// The MedicationDispense (batch, quantity, substitution), when it opens.
        dispense: Option<Resource>,
    },
}

impl TimelineEntry {
    /// When it happened.
    pub fn time(&self) -> u64 {
        match self {
            TimelineEntry::Record(e) => e.time,
            TimelineEntry::Prescription { time, .. } => *time,
            TimelineEntry::Dispense { time, .. } => *time,
        }
    }
}

/// The patient's timeline: their history records and every prescription issued for them, oldest first.
pub async fn timeline(k: &Kiosk, s: &mut PatientSession) -> Result<Vec<TimelineEntry>, KioskError> {
    let mut out: Vec<TimelineEntry> = history(k, s)
        .await?
        .into_iter()
        .map(TimelineEntry::Record)
        .collect();
    let now = Kiosk::now();
    for p in k.store.prescriptions_of(&s.patient_id().0)? {
        use carekiosk_store::PrescriptionStatus as St;
        let status = match p.status {
            St::Ready | St::Partial if p.valid_until != 0 && p.valid_until < now => "expired",
            St::Ready => "ready",
            St::Partial => "partly dispensed",
            St::Completed => "dispensed",
            St::Cancelled => "cancelled",
        };
        let request = match k
            .indexer
            .sealed_payload(alloy::primitives::B256::from(p.tx_hash), p.content_hash)
            .await
        {
            Ok(sealed) => s.open(&sealed).ok(),
            Err(_) => None,
        };
        out.push(TimelineEntry::Prescription {
            id: p.id,
            time: p.issued_at,
            issuer: p.issuer,
            status: status.into(),
            request,
        });
    }
    for d in k.store.dispenses_of(&s.patient_id().0)? {
        let dispense = match k
            .indexer
            .sealed_payload(alloy::primitives::B256::from(d.tx_hash), d.content_hash)
            .await
        {
            Ok(sealed) => s.open(&sealed).ok(),
            Err(_) => None,
        };
        out.push(TimelineEntry::Dispense {
            prescription_id: d.prescription_id,
            time: d.time,
            pharmacy: d.pharmacy,
            part: d.part,
            by_token: d.by_token,
            dispense,
        });
    }
    out.sort_by_key(TimelineEntry::time);
    Ok(out)
}

/// A claim this hospital submitted, with the insurer's decision (the ClaimResponse, item by item) once made.
#[derive(Debug, Clone)]
pub struct HospitalClaim {
    /// The claim as indexed.
    pub claim: carekiosk_store::Claim,
    /// The insurer's ClaimResponse, opened with this hospital's record key.
    pub response: Option<Resource>,
}

/// This hospital's claims and the insurers' decisions on them.
pub async fn claims(k: &Kiosk) -> Result<Vec<HospitalClaim>, KioskError> {
    let _ = k.indexer.sync().await;
    let mut out = Vec::new();
    let mut key = k.record_key_copy();
    for status in [
        carekiosk_store::ClaimStatus::Submitted,
        carekiosk_store::ClaimStatus::PendingSecond,
        carekiosk_store::ClaimStatus::Approved,
        carekiosk_store::ClaimStatus::Denied,
        carekiosk_store::ClaimStatus::Paid,
    ] {
        for claim in k
            .store
            .claims_for_hospital(&k.institution.into_array(), status)?
        {
            let response = match (claim.response_hash, claim.decided_in) {
                (Some(hash), Some((_, tx))) => {
                    let sealed = k
                        .indexer
                        .sealed_payload(alloy::primitives::B256::from(tx), hash)
                        .await?;
                    if carekiosk_records::content_hash(&sealed) == hash {
                        carekiosk_records::open_expecting(
                            &sealed,
                            claim.patient_id,
                            carekiosk_records::RecordKind::ClaimResponse,
                            &mut key,
                        )
                        .ok()
                    } else {
                        None
                    }
                }
                _ => None,
            };
            out.push(HospitalClaim { claim, response });
        }
    }
    out.sort_by_key(|c| c.claim.id);
    Ok(out)
}

/// The printable prescription token (PDF) of a prescription issued with a token: whoever presents it can have the
/// prescription dispensed once. Rendered in memory from the secret returned by [`prescribe_order`] (never stored).
pub fn token_pdf(
    k: &Kiosk,
    order: &PrescriptionOrder,
    prescribed: &Prescribed,
    lang: carekiosk_letter::Lang,
) -> Result<Vec<u8>, KioskError> {
    let (Some(secret), Some(id)) = (&prescribed.token_secret, prescribed.id) else {
        return Err(KioskError::Invalid(
            "no token to print: the prescription was issued without one, or is not confirmed yet"
                .into(),
        ));
    };
    let drug = formulary::lookup(&order.atc)
        .ok_or_else(|| KioskError::Invalid(format!("{} is not in the formulary", order.atc)))?;
    let token = carekiosk_letter::TokenRef {
        chain_id: k.deployment.chain_id,
        contract: k.deployment.contracts.pharmacy_access.into_array(),
        prescription_id: id,
        secret: **secret,
    };
    let days = if order.days == 0 { 28 } else { order.days };
    let until = carekiosk_records::FhirDate::from_unix_seconds(
        (Kiosk::now() + u64::from(days) * 86_400) as i64,
    )
    .to_string();
    let dosage = order
        .dosage
        .clone()
        .unwrap_or_else(|| drug.dosage().text.unwrap_or_default());
    let institution = super::patient::institution_name(k, &k.institution).0;
    let page = carekiosk_letter::PrescriptionToken {
        token: &token,
        drug_name: &drug.display(),
        atc_code: Some(drug.code),
        quantity: order.quantity.round() as u32,
        form: drug.form,
        dosage: &dosage,
        substitution_allowed: order.substitution_allowed,
        prescriber: order.prescriber.as_deref().unwrap_or(""),
        institution: &institution,
        valid_until: &until,
        lang,
    };
    carekiosk_letter::render_token_pdf(&page).map_err(|e| KioskError::Invalid(e.to_string()))
}
