//! Doctor: the decrypted history (card present), a diagnosis with its treatment plan, amendments,
//! prescriptions, and the claim to the patient's insurer after the consultation.

use alloy::primitives::U256;
use carekiosk_chain::bindings::Role;
use carekiosk_records::fhir::{CarePlanActivity, Condition, Reference};
use carekiosk_records::{formulary, icd10, Resource};

use super::{history as read_history, seal, write_record, HistoryEntry};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// The patient's history, opened with their card.
pub async fn history(k: &Kiosk, s: &mut PatientSession) -> Result<Vec<HistoryEntry>, KioskError> {
    super::require_patient(k, s).await?;
    read_history(k, s).await
}

/// Records a diagnosis (ICD-10, picked from the subset) and, when `plan` is not empty, a treatment plan.
/// Returns the writes (confirmed, or pending while offline).
pub async fn add_diagnosis(
    k: &Kiosk,
    s: &mut PatientSession,
    icd10_code: &str,
    note: Option<&str>,
    plan: &[&str],
) -> Result<Vec<Submitted>, KioskError> {
    let code = icd10::lookup(icd10_code).ok_or_else(|| {
        KioskError::Invalid(format!(
            "{icd10_code} is not in the ICD-10 list: pick one from it"
        ))
    })?;
    let subject = Reference::patient(&s.patient_id().0);
    let mut condition = Condition::diagnosis(code, subject.clone());
    if let Some(n) = note {
        condition
            .note
            .push(carekiosk_records::fhir::Annotation::new(n));
    }
    let mut out = vec![
        write_record(k, s, &Resource::Condition(condition), None)
            .await?
            .0,
    ];
    if !plan.is_empty() {
        out.push(add_care_plan(k, s, icd10_code, plan).await?);
    }
    Ok(out)
}

/// Records the treatment plan of a diagnosis (ICD-10) on its own: the second half of [`add_diagnosis`], for when
/// the kiosk stopped between the two writes and the doctor enters the plan again.
pub async fn add_care_plan(
    k: &Kiosk,
    s: &mut PatientSession,
    icd10_code: &str,
    plan: &[&str],
) -> Result<Submitted, KioskError> {
    let code = icd10::lookup(icd10_code).ok_or_else(|| {
        KioskError::Invalid(format!(
            "{icd10_code} is not in the ICD-10 list: pick one from it"
        ))
    })?;
    let mut cp = carekiosk_records::fhir::CarePlan::new(Reference::patient(&s.patient_id().0));
    cp.description = Some(format!("Treatment of {} ({})", code.display, code.code));
    for step in plan {
        cp.activity.push(CarePlanActivity::described(*step));
    }
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

/// Issues a prescription of a formulary drug, valid `days` days (0: the contract's default of 28).
pub async fn prescribe(
    k: &Kiosk,
    s: &mut PatientSession,
    atc: &str,
    quantity: f64,
    dosage: Option<&str>,
    days: u32,
) -> Result<Submitted, KioskError> {
    let drug = formulary::lookup(atc).ok_or_else(|| {
        KioskError::Invalid(format!(
            "{atc} is not in the formulary: pick a drug from it"
        ))
    })?;
    let now = Kiosk::now();
    let until = now + u64::from(if days == 0 { 28 } else { days }) * 86_400;
    let period = carekiosk_records::fhir::Period::new(
        carekiosk_records::FhirDate::from_unix_seconds(now as i64).to_string(),
        carekiosk_records::FhirDate::from_unix_seconds(until as i64).to_string(),
    );
    let mut request = carekiosk_records::fhir::MedicationRequest::prescribe(
        drug,
        Reference::patient(&s.patient_id().0),
        quantity,
        period,
    );
    if let Some(d) = dosage {
        request.dosage_instruction = vec![carekiosk_records::fhir::Dosage::text(d)];
    }
    let sealed = seal(k, s, &Resource::MedicationRequest(request), &[]).await?;
    let valid = alloy::primitives::aliases::U40::from(if days == 0 { 0 } else { until });
    let data = k
        .chain
        .pharmacy(&k.deployment)
        .issuePrescription(s.patient_id(), valid, sealed.clone())
        .calldata()
        .clone();
    let key = format!(
        "prescription:{}",
        alloy::hex::encode(carekiosk_records::content_hash(&sealed))
    );
    k.outbox
        .submit(
            &key,
            "issuePrescription",
            Call {
                to: k.deployment.contracts.pharmacy_access,
                data,
            },
        )
        .await
}

/// Bills the patient's insurer for record `index` (a consultation this hospital wrote): the FHIR Claim is
/// sealed for the insurer, the hospital and the card; `amount` is in token base units.
pub async fn submit_claim(
    k: &Kiosk,
    s: &mut PatientSession,
    index: u64,
    amount: U256,
    currency: &str,
) -> Result<Submitted, KioskError> {
    let insurer = k.published_record_key(Role::Insurer)?;
    let tokens = amount.to::<u128>() as f64 / 1e18;
    let today = carekiosk_records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let claim = Resource::from_json(
        serde_json::json!({
            "resourceType": "Claim",
            "status": "active",
            "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional" }] },
            "use": "claim",
            "patient": { "reference": Reference::patient(&s.patient_id().0).reference },
            "created": today,
            "provider": { "reference": format!("Organization/{}", k.institution_id) },
            "priority": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal" }] },
            "insurance": [{ "sequence": 1, "focal": true, "coverage": { "reference": format!("Coverage/{}", s.patient_id()) } }],
            "item": [{ "sequence": 1, "productOrService": { "text": format!("consultation, record {index}") },
                       "unitPrice": { "value": tokens, "currency": currency }, "net": { "value": tokens, "currency": currency } }],
            "total": { "value": tokens, "currency": currency }
        })
        .to_string()
        .as_bytes(),
    )?;
    let sealed = seal(k, s, &claim, &[insurer]).await?;
    let data = k
        .chain
        .insurance(&k.deployment)
        .submitClaim(s.patient_id(), U256::from(index), amount, sealed)
        .calldata()
        .clone();
    let key = format!("claim:{}:{index}", s.patient_id());
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
