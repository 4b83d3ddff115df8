//! Doctor: the history (opened with the card while it is in), a diagnosis with its plan, a prescription, the
//! claim to the insurer.

use alloy::primitives::U256;
use carekiosk_kiosk::workflows::doctor;
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{HistoryItem, TxView};

/// The patient's history, newest last.
#[tauri::command]
pub async fn doctor_history(state: State<'_, AppState>) -> Result<Vec<HistoryItem>, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    Ok(doctor::history(&k, &mut s)
        .await?
        .iter()
        .map(HistoryItem::from)
        .collect())
}

/// Records a diagnosis (ICD-10 from the pick list), an optional note and treatment plan.
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

/// Issues a prescription of a formulary drug: quantity, dosage, days of validity (0: 28).
#[tauri::command]
pub async fn doctor_prescribe(
    atc: String,
    quantity: f64,
    dosage: Option<String>,
    days: u32,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let dosage = dosage.filter(|d| !d.trim().is_empty());
    let done = doctor::prescribe(&k, &mut s, &atc, quantity, dosage.as_deref(), days).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// Bills the patient's insurer for one of this hospital's records (`amount` in whole tokens).
#[tauri::command]
pub async fn doctor_claim(
    record: u64,
    amount: u64,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let unit = U256::from(10u64).pow(U256::from(k.profile.token.decimals));
    let done = doctor::submit_claim(&k, &mut s, record, U256::from(amount) * unit).await?;
    Ok(TxView::from(&done, linker(&k)))
}
