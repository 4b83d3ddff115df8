//! Doctor: the timeline (records, prescriptions with their status, dispenses), the allergies and current
//! medication, an allergy recorded, a diagnosis with its plan, a prescription checked against the patient's
//! allergies and medication (the warnings the doctor confirmed go back with it; a token printed for a
//! representative when asked), a ready prescription cancelled, a claim with its services, and the insurers'
//! decisions on this hospital's claims.

use alloy::primitives::U256;
use carekiosk_kiosk::workflows::medication::Warning;
use carekiosk_kiosk::workflows::{doctor, medication};
use tauri::State;

use super::linker;
use super::print::print;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{
    ClaimItemInput, ConsultedView, HospitalClaimView, OverviewView, PrescribedView,
    PrescriptionOrderInput, TimelineView, TxView,
};

/// The patient's timeline, oldest first: history records, prescriptions (status now) and dispenses.
#[tauri::command]
pub async fn doctor_timeline(state: State<'_, AppState>) -> Result<Vec<TimelineView>, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    Ok(doctor::timeline(&k, &mut s)
        .await?
        .iter()
        .map(TimelineView::from)
        .collect())
}

/// The patient's allergies and current medication (what a prescription is checked against).
#[tauri::command]
pub async fn doctor_overview(state: State<'_, AppState>) -> Result<OverviewView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    Ok(OverviewView::from(&medication::overview(&k, &mut s).await?))
}

/// Records an allergy or intolerance (`atcClass`: the drug class when known, else taken from the name).
#[tauri::command]
pub async fn doctor_record_allergy(
    substance: String,
    atc_class: Option<String>,
    high: bool,
    reaction: Option<String>,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let substance = substance.trim().to_string();
    if substance.is_empty() {
        return Err(AppError::Invalid(
            "type the substance the patient is allergic to".into(),
        ));
    }
    let class = atc_class
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty());
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let done = doctor::record_allergy(
        &k,
        &mut s,
        &substance,
        class.as_deref(),
        high,
        reaction.as_deref(),
    )
    .await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// Records a diagnosis (ICD-10 from the type-ahead), an optional note and treatment plan.
#[tauri::command]
pub async fn doctor_diagnose(
    icd10: String,
    note: Option<String>,
    plan: Vec<String>,
    state: State<'_, AppState>,
) -> Result<Vec<TxView>, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let note = note.filter(|n| !n.trim().is_empty());
    let plan: Vec<&str> = plan
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    let done = doctor::add_diagnosis(&k, &mut s, &icd10, note.as_deref(), &plan).await?;
    Ok(done.iter().map(|d| TxView::from(d, linker(&k))).collect())
}

/// The warnings prescribing `atc` raises for this patient (allergy, duplicate), for the doctor to confirm.
#[tauri::command]
pub async fn doctor_warnings(
    atc: String,
    state: State<'_, AppState>,
) -> Result<Vec<Warning>, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    Ok(doctor::prescription_warnings(&k, &mut s, &atc).await?)
}

/// Issues a prescription of a formulary drug (quantity, dosage, days of validity — 0: 28 —, the prescriber,
/// whether substitution is allowed), with the warnings the doctor confirmed; refused (`needs-confirmation`)
/// while a warning is not among them. With `token`, the prescription token is written for printing.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn doctor_prescribe(
    atc: String,
    quantity: f64,
    dosage: Option<String>,
    days: u32,
    prescriber: Option<String>,
    substitution_allowed: bool,
    token: bool,
    confirmed: Vec<Warning>,
    state: State<'_, AppState>,
) -> Result<PrescribedView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let order = doctor::PrescriptionOrder {
        atc,
        quantity,
        dosage: dosage.filter(|d| !d.trim().is_empty()),
        days,
        prescriber: prescriber.filter(|p| !p.trim().is_empty()),
        substitution_allowed,
        token,
    };
    let done = doctor::prescribe_order(&k, &mut s, &order, &confirmed).await?;
    let print = match (&done.token_secret, done.id) {
        (Some(_), Some(id)) => {
            let pdf = zeroize::Zeroizing::new(doctor::token_pdf(&k, &order, &done, lang(&state))?);
            Some(print(&k, &state, &format!("prescription-token-{id}"), &pdf).await?)
        }
        _ => None,
    };
    Ok(PrescribedView {
        tx: TxView::from(&done.submitted, linker(&k)),
        id: done.id,
        print,
    })
}

/// The whole consultation in one transaction: the diagnosis (ICD-10), its note and plan, the prescriptions (with
/// the warnings the doctor confirmed; refused with `needs-confirmation` while one is not among them) and the
/// services billed (none: not billed now). `id` names the consultation while the screen asks again (a write on its
/// way is driven on, not sent twice). Each prescription asked with a token gets it printed.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn doctor_consult(
    id: Option<String>,
    icd10: String,
    note: Option<String>,
    plan: Vec<String>,
    prescriptions: Vec<PrescriptionOrderInput>,
    confirmed: Vec<Warning>,
    items: Vec<ClaimItemInput>,
    practitioner: Option<String>,
    state: State<'_, AppState>,
) -> Result<ConsultedView, AppError> {
    let orders: Vec<doctor::PrescriptionOrder> = prescriptions
        .into_iter()
        .map(|o| doctor::PrescriptionOrder {
            atc: o.atc,
            quantity: o.quantity,
            dosage: o.dosage.filter(|d| !d.trim().is_empty()),
            days: o.days,
            prescriber: o.prescriber.filter(|p| !p.trim().is_empty()),
            substitution_allowed: o.substitution_allowed,
            token: o.token,
        })
        .collect();
    let c = doctor::Consultation {
        id,
        icd10,
        note: note.filter(|n| !n.trim().is_empty()),
        plan: plan
            .iter()
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        prescriptions: orders.clone(),
        confirmed,
        services: claim_items(items)?,
        practitioner: practitioner.filter(|p| !p.trim().is_empty()),
    };
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let done = doctor::consult(&k, &mut s, &c).await?;
    let tx = TxView::from(&done.submitted, linker(&k));
    let mut prescribed = Vec::with_capacity(done.prescriptions.len());
    for (order, p) in orders.iter().zip(&done.prescriptions) {
        let print = match (&p.token_secret, p.id) {
            (Some(_), Some(id)) => {
                let pdf = zeroize::Zeroizing::new(doctor::token_pdf(&k, order, p, lang(&state))?);
                Some(print(&k, &state, &format!("prescription-token-{id}"), &pdf).await?)
            }
            _ => None,
        };
        prescribed.push(PrescribedView {
            tx: tx.clone(),
            id: p.id,
            print,
        });
    }
    Ok(ConsultedView {
        tx,
        prescriptions: prescribed,
    })
}

fn lang(state: &AppState) -> carekiosk_letter::Lang {
    if state.launch.lang == "fr" {
        carekiosk_letter::Lang::Fr
    } else {
        carekiosk_letter::Lang::En
    }
}

/// The services billed, from the screen's (unit prices in token base units, decimal strings).
fn claim_items(items: Vec<ClaimItemInput>) -> Result<Vec<doctor::ClaimItem>, AppError> {
    items
        .into_iter()
        .map(|i| {
            let unit_price = i.unit_price.trim().parse::<U256>().map_err(|_| {
                AppError::Invalid(format!(
                    "{:?} is not a price: digits only, in base units",
                    i.unit_price
                ))
            })?;
            Ok(doctor::ClaimItem {
                service: i.service,
                quantity: i.quantity,
                unit_price,
            })
        })
        .collect()
}

/// Cancels a prescription this hospital issued that is not dispensed yet.
#[tauri::command]
pub async fn doctor_cancel_prescription(
    id: u64,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    // The card is in: the doctor cancels at the patient's visit.
    drop(state.session().await?);
    let done = doctor::cancel_prescription(&k, id).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// Bills the patient's insurer for one of this hospital's records: the services (code, quantity, unit price in
/// token base units) and the practitioner.
#[tauri::command]
pub async fn doctor_claim(
    record: u64,
    items: Vec<ClaimItemInput>,
    practitioner: Option<String>,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let items = claim_items(items)?;
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let req = doctor::ClaimRequest {
        record,
        items,
        practitioner: practitioner.filter(|p| !p.trim().is_empty()),
    };
    let done = doctor::submit_claim_items(&k, &mut s, &req).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// This hospital's claims for the patient at the desk, with the insurers' decisions, item by item.
#[tauri::command]
pub async fn doctor_claims(state: State<'_, AppState>) -> Result<Vec<HospitalClaimView>, AppError> {
    let k = state.kiosk().await?;
    let patient = state.session().await?.patient_id();
    Ok(doctor::claims(&k)
        .await?
        .iter()
        .filter(|c| c.claim.patient_id == patient.0)
        .map(HospitalClaimView::from)
        .collect())
}
