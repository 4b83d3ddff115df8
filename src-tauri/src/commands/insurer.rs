//! Insurer: enrolment (card and PIN at the desk), the claim queue, a claim opened with its items and the coverage
//! arithmetic, decided item by item (four eyes above the insurer's threshold: another workstation confirms),
//! pay, paid claims.

use alloy::primitives::U256;
use carekiosk_kiosk::workflows::insurer;
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{ClaimView, DecidedView, ItemDecisionInput, ReviewView, TxView};

fn base_units(what: &str, text: &str) -> Result<U256, AppError> {
    text.trim().parse::<U256>().map_err(|_| {
        AppError::Invalid(format!(
            "{what}: {text:?} is not an amount (digits only, in base units)"
        ))
    })
}

/// Enrols the patient whose card is in (PIN entered): `bps` of each claim covered, up to `annual_limit` base
/// units a policy year.
#[tauri::command]
pub async fn insurer_enroll(
    bps: u16,
    annual_limit: String,
    state: State<'_, AppState>,
) -> Result<TxView, AppError> {
    if bps == 0 || bps > 10_000 {
        return Err(AppError::Invalid(
            "the coverage is a percentage between 0.01 and 100".into(),
        ));
    }
    let limit = base_units("annual limit", &annual_limit)?;
    let limit: u128 = limit
        .try_into()
        .map_err(|_| AppError::Invalid("the annual limit is too large".into()))?;
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let done = insurer::enroll(&k, &mut s, bps, limit).await?;
    Ok(TxView::from(&done, linker(&k)))
}

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

/// Approvals above the four-eyes threshold waiting for a second reviewer.
#[tauri::command]
pub async fn insurer_pending(state: State<'_, AppState>) -> Result<Vec<ClaimView>, AppError> {
    let k = state.kiosk().await?;
    Ok(insurer::pending_second(&k)
        .await?
        .iter()
        .map(ClaimView::from)
        .collect())
}

/// One claim opened with the insurer's key: its items and the coverage arithmetic.
#[tauri::command]
pub async fn insurer_review(id: u64, state: State<'_, AppState>) -> Result<ReviewView, AppError> {
    let k = state.kiosk_mut().await?;
    Ok(ReviewView::from(&insurer::review(&k, id).await?))
}

/// Decides a claim item by item (each item's benefit in base units, and why it is reduced): the sum, capped by
/// the coverage, is approved (nothing: denied); above the threshold it waits for a second reviewer. With `pay`,
/// an approval within the threshold is paid in the same transaction.
#[tauri::command]
pub async fn insurer_decide(
    id: u64,
    items: Vec<ItemDecisionInput>,
    pay: Option<bool>,
    state: State<'_, AppState>,
) -> Result<DecidedView, AppError> {
    let decisions = items
        .into_iter()
        .map(|i| {
            Ok(insurer::ItemDecision {
                sequence: i.sequence,
                benefit: base_units(&format!("item {}", i.sequence), &i.benefit)?,
                reason: i
                    .reason
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty()),
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    let review = {
        let k = state.kiosk_mut().await?;
        insurer::review(&k, id).await?
    };
    let k = state.kiosk().await?;
    let d = insurer::decide_with(&k, &review, &decisions, pay.unwrap_or(false)).await?;
    Ok(DecidedView {
        tx: TxView::from(&d.submitted, linker(&k)),
        amount: d.amount.to_string(),
        pending_second: d.pending_second,
        paid: d.paid,
    })
}

/// The second reviewer confirms an approval above the threshold (refused on the workstation that approved it).
#[tauri::command]
pub async fn insurer_confirm(id: u64, state: State<'_, AppState>) -> Result<TxView, AppError> {
    let k = state.kiosk().await?;
    let done = insurer::confirm(&k, id).await?;
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
