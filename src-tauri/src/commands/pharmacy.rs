//! Pharmacy: the patient's prescriptions as the chain holds them, dispensing part or the rest of one (quantity,
//! substitute product where allowed, batch) with its receipt printed, and a prescription token presented by a
//! representative (no card): checked, then dispensed.

use carekiosk_kiosk::workflows::{patient, pharmacy, ConsentChoice};
use carekiosk_kiosk::Kiosk;
use carekiosk_letter::TokenRef;
use tauri::State;

use super::linker;
use super::print::print;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{
    prescription_status, DispenseView, PharmacyOpenView, PrescriptionView, SignedView,
    TokenCheckView, TokenDispenseView, TxView,
};

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

/// Hands out `quantity` of prescription `id` (what remains when none), the `substitute` product where the
/// prescription allows it, from batch `batch`, on the card's proof of presence; the receipt is written for
/// printing.
#[tauri::command]
pub async fn pharmacy_dispense(
    id: u64,
    quantity: Option<f64>,
    substitute: Option<String>,
    batch: String,
    state: State<'_, AppState>,
) -> Result<DispenseView, AppError> {
    if batch.trim().is_empty() {
        return Err(AppError::Invalid(
            "enter the batch (lot) number printed on the pack".into(),
        ));
    }
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
    let input = pharmacy::DispenseInput {
        quantity,
        substitute: substitute
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty()),
        batch: batch.trim().to_string(),
    };
    let done = pharmacy::dispense_part(&k, &mut s, &rx, &input).await?;
    let after = rx.dispensed_bps.saturating_add(done.part).min(10_000);
    let (status, dispensable) = if after >= 10_000 {
        (2, false)
    } else {
        (4, rx.dispensable)
    };
    if done.submitted.tx_hash().is_some() {
        if let Ok(mut list) = state.prescriptions.lock() {
            for p in list.iter_mut().filter(|p| p.id == id) {
                p.status = status;
                p.dispensed_bps = after;
                p.dispensable = dispensable;
            }
        }
    }
    let pdf = pharmacy::receipt_pdf(&k, &s, &rx, &done)?;
    let print = print(
        &k,
        &state,
        &format!("dispense-receipt-{id}-{}", rx.dispensed_bps),
        &pdf,
    )
    .await?;
    Ok(DispenseView {
        tx: TxView::from(&done.submitted, linker(&k)),
        part: done.part,
        dispensed_bps: after,
        status: prescription_status(status, dispensable).into(),
        receipt: serde_json::to_value(&done.dispense).unwrap_or_default(),
        print: Some(print),
    })
}

/// The token as presented: its QR payload (scanned or pasted), or the prescription id with the printed code.
fn token_ref(
    k: &Kiosk,
    payload: Option<String>,
    id: Option<u64>,
    code: Option<String>,
) -> Result<TokenRef, AppError> {
    if let Some(p) = payload.filter(|p| !p.trim().is_empty()) {
        return Ok(carekiosk_letter::parse_token_qr(p.trim())?);
    }
    match (id, code.filter(|c| !c.trim().is_empty())) {
        (Some(id), Some(code)) => Ok(TokenRef {
            chain_id: k.deployment.chain_id,
            contract: k.deployment.contracts.pharmacy_access.into_array(),
            prescription_id: id,
            secret: carekiosk_letter::parse_token_text(&code)?,
        }),
        _ => Err(AppError::Invalid(
            "scan or paste the token's QR code, or type the prescription number and the token code"
                .into(),
        )),
    }
}

/// Checks a presented prescription token against the chain (no card): the prescription, its status, what is left.
#[tauri::command]
pub async fn pharmacy_token_check(
    payload: Option<String>,
    id: Option<u64>,
    code: Option<String>,
    state: State<'_, AppState>,
) -> Result<TokenCheckView, AppError> {
    let k = state.kiosk().await?;
    let token = token_ref(&k, payload, id, code)?;
    let p = pharmacy::check_token(&k, &token).await?;
    let dispensable = matches!(p.status, 1 | 4) && Kiosk::now() <= p.valid_until;
    Ok(TokenCheckView {
        id: p.id,
        status: prescription_status(p.status, dispensable).into(),
        dispensed_bps: p.dispensed_bps,
        valid_until: p.valid_until,
        dispensable,
    })
}

/// Dispenses the rest of a prescription to whoever presents its token: the product handed out, its quantity and
/// unit, and the batch.
#[tauri::command]
#[allow(clippy::too_many_arguments)]
pub async fn pharmacy_token_dispense(
    payload: Option<String>,
    id: Option<u64>,
    code: Option<String>,
    product: String,
    quantity: f64,
    unit: String,
    batch: String,
    state: State<'_, AppState>,
) -> Result<TokenDispenseView, AppError> {
    let k = state.kiosk().await?;
    let token = token_ref(&k, payload, id, code)?;
    let unit = if unit.trim().is_empty() {
        "unit"
    } else {
        unit.trim()
    };
    // What the chain said before the dispense: the receipt counts what remained.
    let before = pharmacy::check_token(&k, &token).await?;
    let done = pharmacy::dispense_by_token(&k, &token, &product, quantity, unit, &batch).await?;
    let pdf = pharmacy::token_receipt_pdf(&k, &before, &product, quantity, unit, &batch, &done)?;
    let print = print(
        &k,
        &state,
        &format!("dispense-receipt-{}-token", before.id),
        &pdf,
    )
    .await?;
    Ok(TokenDispenseView {
        tx: TxView::from(&done, linker(&k)),
        print: Some(print),
    })
}
