//! The patient's own view, at any desk with their card and PIN: who holds consent now (each revocable, or all at
//! once), and the access log.

use alloy::primitives::Address;
use carekiosk_kiosk::workflows::patient;
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{HeldConsentView, LogEntryView, TxView};

/// Every consent of the patient that is open now.
#[tauri::command]
pub async fn patient_consents(
    state: State<'_, AppState>,
) -> Result<Vec<HeldConsentView>, AppError> {
    let k = state.kiosk().await?;
    let s = state.session().await?;
    Ok(patient::consents(&k, &s)
        .await?
        .iter()
        .map(HeldConsentView::from)
        .collect())
}

/// The patient's access log, oldest first (records named by their kind, opened with the card).
#[tauri::command]
pub async fn patient_access_log(state: State<'_, AppState>) -> Result<Vec<LogEntryView>, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    Ok(patient::access_log(&k, &mut s)
        .await?
        .iter()
        .map(LogEntryView::from)
        .collect())
}

/// The card revokes one institution's consent (`institution`: its address, as `patient_consents` lists it).
#[tauri::command]
pub async fn patient_revoke(
    institution: String,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let institution: Address = institution.trim().parse().map_err(|_| {
        AppError::Invalid(format!(
            "{institution:?} is not an institution's address: pick one from the list"
        ))
    })?;
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let done = patient::revoke(&k, &mut s, institution).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// The card ends every consent of every institution at once.
#[tauri::command]
pub async fn patient_revoke_all(state: State<'_, AppState>) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let done = patient::revoke_all(&k, &mut s).await?;
    Ok(TxView::from(&done, linker(&k)))
}
