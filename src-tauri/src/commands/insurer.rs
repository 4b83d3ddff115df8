//! Insurer: the claim queue, a claim opened with the coverage arithmetic, approve or deny, pay, paid claims.

use alloy::primitives::U256;
use carekiosk_kiosk::workflows::insurer;
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{ClaimView, ReviewView, TxView};

/// Claims waiting for a decision, or approved and waiting for payment.
#[tauri::command]
pub async fn insurer_queue(state: State<'_, AppState>) -> Result<Vec<ClaimView>, AppError> {
    let k = state.kiosk().await?;
    Ok(insurer::queue(&k)
        .await?
        .iter()
        .map(ClaimView::from)
        .collect())
}

/// One claim opened with the insurer's key, with the coverage arithmetic.
#[tauri::command]
pub async fn insurer_review(id: u64, state: State<'_, AppState>) -> Result<ReviewView, AppError> {
    let k = state.kiosk_mut().await?;
    Ok(ReviewView::from(&insurer::review(&k, id).await?))
}

/// Approves `amount` base units (default: the cap).
#[tauri::command]
pub async fn insurer_approve(
    id: u64,
    amount: Option<String>,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let amount = match amount.filter(|a| !a.trim().is_empty()) {
        Some(a) => a.trim().parse::<U256>().map_err(|_| {
            AppError::Invalid(format!(
                "{a:?} is not an amount: digits only, in base units"
            ))
        })?,
        None => {
            let k = state.kiosk_mut().await?;
            insurer::review(&k, id).await?.cap
        }
    };
    let k = state.kiosk().await?;
    let done = insurer::approve(&k, id, amount).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// Denies with a reason code.
#[tauri::command]
pub async fn insurer_deny(
    id: u64,
    reason: u16,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    let done = insurer::deny(&k, id, reason).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// Pays an approved claim from escrow.
#[tauri::command]
pub async fn insurer_pay(id: u64, state: State<'_, AppState>) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    let done = insurer::pay(&k, id).await?;
    Ok(TxView::from(&done, linker(&k)))
}

/// Paid claims.
#[tauri::command]
pub async fn insurer_paid(state: State<'_, AppState>) -> Result<Vec<ClaimView>, AppError> {
    let k = state.kiosk().await?;
    Ok(insurer::paid(&k)
        .await?
        .iter()
        .map(ClaimView::from)
        .collect())
}
