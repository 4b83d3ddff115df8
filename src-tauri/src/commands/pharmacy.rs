//! Pharmacy: the patient's prescriptions as the chain holds them, and dispensing one with its receipt.

use carekiosk_kiosk::workflows::pharmacy;
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{DispenseView, PrescriptionView, TxView};

/// The card grants this pharmacy its window; the patient's prescriptions, each verified on chain.
#[tauri::command]
pub async fn pharmacy_open(state: State<'_, AppState>) -> Result<Vec<PrescriptionView>, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let list = pharmacy::open_patient(&k, &mut s).await?;
    let views = list.iter().map(PrescriptionView::from).collect();
    if let Ok(mut p) = state.prescriptions.lock() {
        *p = list;
    }
    Ok(views)
}

/// Dispenses prescription `id` on the card's proof of presence; returns the receipt (FHIR MedicationDispense).
#[tauri::command]
pub async fn pharmacy_dispense(
    id: u64,
    state: State<'_, AppState>,
) -> Result<DispenseView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let rx = state
        .prescriptions
        .lock()
        .ok()
        .and_then(|l| l.iter().find(|p| p.id == id).cloned())
        .ok_or_else(|| {
            AppError::Invalid(format!(
                "prescription {id} is not among this patient's: list them again"
            ))
        })?;
    if !rx.dispensable {
        return Err(AppError::Invalid(format!(
            "prescription {id} cannot be dispensed: it is {}",
            PrescriptionView::from(&rx).status
        )));
    }
    let done = pharmacy::dispense(&k, &mut s, id).await?;
    if let Ok(mut list) = state.prescriptions.lock() {
        for p in list
            .iter_mut()
            .filter(|p| p.id == id && done.tx_hash().is_some())
        {
            p.status = 2;
            p.dispensable = false;
        }
    }
    let receipt = pharmacy::dispense_receipt(&k, &s, &rx, &done)?;
    Ok(DispenseView {
        tx: TxView::from(&done, linker(&k)),
        receipt: serde_json::to_value(&receipt).unwrap_or_default(),
    })
}
