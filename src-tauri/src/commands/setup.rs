//! The start screen and the always-visible status: who this kiosk is, the node, the outbox, the reader; the
//! pick lists the forms use.

use carekiosk_kiosk::workflows::insurer::DENIAL_REASONS;
use carekiosk_records::services::SERVICES;
use carekiosk_records::{formulary, icd10};
use tauri::State;

use crate::error::AppError;
use crate::state::AppState;
use crate::views::{KioskInfo, PickItem, StatusView};

/// Who this kiosk is, or why it could not open.
#[tauri::command]
pub async fn kiosk_info(state: State<'_, AppState>) -> Result<KioskInfo, AppError> {
    let info = crate::events::info(&state).await;
    // The screen asks this first, to draw its first screen: the cold start's end (scripts/bench-start.sh).
    if !state
        .first_screen
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        tracing::info!(
            ms = state.started.elapsed().as_millis() as u64,
            "first screen: the screen asked who this kiosk is"
        );
    }
    Ok(info)
}

/// Closes a kiosk-mode app with the desk's staff code (`carekiosk admin staff-code`); a wrong code is refused.
#[tauri::command]
pub async fn kiosk_close<R: tauri::Runtime>(
    code: String,
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<(), AppError> {
    let config = state.launch.kiosk_config()?;
    if !carekiosk_kiosk::kiosk::staff_code_matches(&config.profile_name(), config.role, &code)? {
        tracing::warn!("a wrong staff code was given to close the kiosk");
        return Err(AppError::WrongStaffCode);
    }
    tracing::info!("the kiosk is closed with the staff code");
    state
        .close_allowed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    app.exit(0);
    Ok(())
}

/// Node, block, pending writes and reader, now.
#[tauri::command]
pub async fn kiosk_status(state: State<'_, AppState>) -> Result<StatusView, AppError> {
    Ok(crate::events::status(&state).await)
}

/// Type-ahead over the ICD-10-CM codes: the best hits (at most 50) for what was typed so far.
#[tauri::command]
pub fn icd10_search(query: String) -> Vec<PickItem> {
    icd10::search(&query)
        .into_iter()
        .map(|c| PickItem {
            code: c.code.into(),
            display: c.display.into(),
            dosage: None,
        })
        .collect()
}

/// Type-ahead over the formulary: the best hits (at most 50), each with its usual dosage.
#[tauri::command]
pub fn formulary_search(query: String) -> Vec<PickItem> {
    formulary::search(&query)
        .into_iter()
        .map(|d| PickItem {
            code: d.code.into(),
            display: d.display(),
            dosage: Some(d.default_dosage.into()),
        })
        .collect()
}

/// The services a hospital bills (a claim's items).
#[tauri::command]
pub fn service_codes() -> Vec<PickItem> {
    SERVICES
        .iter()
        .map(|s| PickItem {
            code: s.code.into(),
            display: s.display.into(),
            dosage: None,
        })
        .collect()
}

/// The denial reason codes (no free text goes on chain).
#[tauri::command]
pub fn denial_reasons() -> Vec<PickItem> {
    DENIAL_REASONS
        .iter()
        .map(|(code, text)| PickItem {
            code: code.to_string(),
            display: (*text).into(),
            dosage: None,
        })
        .collect()
}
