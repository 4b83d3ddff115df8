//! The emergency data set at a hospital's desks (reception, doctor): kept current with the patient's card and
//! PIN, and read in an emergency with the card alone — no PIN — also while the node is down (the read's trace
//! then waits in the outbox).

use carekiosk_card::PatientCard;
use carekiosk_chain::bindings::Role;
use carekiosk_kiosk::workflows::emergency;
use carekiosk_records::emergency::BLOOD_GROUPS;
use tauri::State;

use super::card::{blocking, reader};
use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{
    EmergencyCurrentView, EmergencySavedView, EmergencySetView, EmergencyView, TxView,
};

fn require_hospital(state: &AppState) -> Result<(), AppError> {
    if state.launch.role().chain_role() == Role::Hospital {
        Ok(())
    } else {
        Err(AppError::HospitalOnly)
    }
}

/// The patient's current emergency set (empty when they have none), with the blood groups it may name.
#[tauri::command]
pub async fn emergency_current(
    state: State<'_, AppState>,
) -> Result<EmergencyCurrentView, AppError> {
    require_hospital(&state)?;
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let set = emergency::current(&k, &mut s).await?;
    Ok(EmergencyCurrentView {
        set: EmergencySetView::from(&set),
        blood_groups: BLOOD_GROUPS.iter().map(|b| b.to_string()).collect(),
    })
}

/// Saves the patient's emergency set: a record in their history and the card's copy (an empty set clears it).
#[tauri::command]
pub async fn emergency_save(
    set: EmergencySetView,
    state: State<'_, AppState>,
) -> Result<EmergencySavedView, AppError> {
    require_hospital(&state)?;
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let saved = emergency::save(&k, &mut s, set.into()).await?;
    Ok(EmergencySavedView {
        record: TxView::from(&saved.record, linker(&k)),
        on_card: saved.on_card,
    })
}

/// An emergency read of the card in the reader, without a PIN: who reads it and why go into the read's trace.
#[tauri::command]
pub async fn emergency_read(
    clinician: String,
    reason: String,
    state: State<'_, AppState>,
) -> Result<EmergencyView, AppError> {
    require_hospital(&state)?;
    let (clinician, reason) = (clinician.trim().to_string(), reason.trim().to_string());
    if clinician.is_empty() || reason.is_empty() {
        return Err(AppError::Invalid(
            "type the clinician's name and the reason for the emergency read first".into(),
        ));
    }
    let name = reader(&state)?;
    let k = state.kiosk().await?;
    let mut card = blocking(move || Ok(PatientCard::open(&name)?)).await?;
    let v = emergency::read(&k, &mut card, &clinician, &reason).await?;
    Ok(EmergencyView {
        patient_id: v.patient_id.to_string(),
        name: v.name,
        set: EmergencySetView::from(&v.set),
        trace: TxView::from(&v.trace, linker(&k)),
    })
}
