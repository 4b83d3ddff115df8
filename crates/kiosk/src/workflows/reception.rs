//! Reception: register a new patient onto a blank card; check a returning patient in.

use alloy::primitives::U256;
use carekiosk_card::{PatientCard, Pin, Provisioning};
use carekiosk_chain::bindings::scope;
use carekiosk_chain::eip712::{self, RegisterPatient};
use carekiosk_records::Resource;

use super::{default_window_days, domain, grant_consent, history, require_patient, write_record};
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
}

/// Provisions a blank card (keys generated on the card), registers the patient, grants this hospital consent,
/// and writes their demographics as the first record (sealed for the card and the hospital).
pub async fn register_patient(
    k: &Kiosk,
    mut card: PatientCard,
    p: NewPatient,
) -> Result<PatientSession, KioskError> {
    card.provision(
        &Provisioning {
            admin_pin: &p.admin_pin,
            user_pin: &p.pin,
            new_admin_pin: None,
            name: &p.name,
            chain_id: k.deployment.chain_id,
            overwrite: false,
        },
        |key| eip712::key_hash(key.x().into(), key.y().into()).0,
    )?;
    let mut s = PatientSession::start(card, p.pin)?;
    let pid = s.patient_id();
    let deadline = U256::from(Kiosk::now() + 600);
    let msg = RegisterPatient {
        patientId: pid,
        hospital: k.institution,
        deadline,
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = k
        .chain
        .hub(&k.deployment)
        .registerPatient(deadline, sig.into())
        .calldata()
        .clone();
    k.outbox
        .submit(
            &format!("register:{pid}"),
            "registerPatient",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    grant_consent(
        k,
        &mut s,
        scope::HOSPITAL,
        default_window_days(scope::HOSPITAL),
    )
    .await?;
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
    write_record(k, &s, &patient, None).await?;
    Ok(s)
}

/// Checks a returning patient in: the card (with the PIN) signs this hospital's consent, the kiosk submits it,
/// and the patient's summary is opened from their own record.
pub async fn check_in(k: &Kiosk, s: &mut PatientSession) -> Result<CheckIn, KioskError> {
    require_patient(k, s).await?;
    let (consent, _) =
        grant_consent(k, s, scope::HOSPITAL, default_window_days(scope::HOSPITAL)).await?;
    let entries = history(k, s).await?;
    let patient = entries.iter().rev().find_map(|e| match &e.resource {
        Some(r @ Resource::Patient(_)) => Some(r.clone()),
        _ => None,
    });
    Ok(CheckIn {
        patient_id: s.patient_id(),
        consent,
        patient,
        records: entries.len(),
    })
}
