//! Pharmacy: the patient's prescriptions as the chain holds them, and dispensing one with its receipt.

use carekiosk_kiosk::workflows::{patient, pharmacy, ConsentChoice};
use carekiosk_kiosk::Kiosk;
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{DispenseView, PharmacyOpenView, PrescriptionView, SignedView, TxView};

/// The card grants this pharmacy the consent the patient chose on the screen (`scope` bits within read and
/// dispense, for `days`); what it signed, and the patient's prescriptions, each verified on chain.
#[tauri::command]
pub async fn pharmacy_open(
    scope: u8,
    days: u64,
    state: State<'_, AppState>,
) -> Result<PharmacyOpenView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let list = pharmacy::open_patient_with(&k, &mut s, ConsentChoice { scope, days }).await?;
    // The window's end as the chain holds it (the index is synced by the call above); while the consent waits in
    // the outbox, the end it will have.
    let valid_until = patient::consents(&k, &s)
        .await
        .ok()
        .and_then(|held| held.into_iter().find(|c| c.institution == k.institution))
        .filter(|c| c.scope == scope)
        .map(|c| c.valid_until)
        .unwrap_or_else(|| Kiosk::now() + days * 86_400);
    let prescriptions = list.iter().map(PrescriptionView::from).collect();
    if let Ok(mut p) = state.prescriptions.lock() {
        *p = list;
    }
    Ok(PharmacyOpenView {
        signed: SignedView::new(scope, valid_until),
        prescriptions,
    })
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
