//! The card at the kiosk: what can be read without a PIN (is it a patient card, tries left), the PIN pad's
//! unlock, the PIN's life (changed at any desk, unblocked with the letter's reset code at reception), and the end
//! of the visit.

use carekiosk_card::{PatientCard, Pin};
use carekiosk_kiosk::workflows::card as card_flow;
use carekiosk_kiosk::{KioskRole, PatientSession};
use serde::Serialize;
use tauri::State;

use crate::error::AppError;
use crate::state::AppState;
use crate::views::PatientView;

/// The card in the reader, before the PIN.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CardPeek {
    /// Whether it carries a patient (a blank card can be issued at reception).
    pub patient_card: bool,
    pub tries_left: u8,
    pub blocked: bool,
    /// Reset code tries left (0: none set, or blocked — then only a replacement card helps).
    pub reset_tries_left: u8,
}

pub(super) fn reader(state: &AppState) -> Result<String, AppError> {
    let r = state.reader.lock().map(|r| r.clone()).unwrap_or_default();
    match (r.state, r.reader) {
        (crate::views::ReaderState::Card, Some(name)) => Ok(name),
        _ => Err(carekiosk_card::CardError::NoCard.into()),
    }
}

pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AppError::Invalid(format!("card task failed: {e}")))?
}

/// Reads the card without a PIN: a patient card or a blank one, and the PIN tries left.
#[tauri::command]
pub async fn card_peek(state: State<'_, AppState>) -> Result<CardPeek, AppError> {
    let name = reader(&state)?;
    blocking(move || {
        let mut card = PatientCard::open(&name)?;
        let tries = card.pin_tries()?;
        let patient_card = match card.read() {
            Ok(_) => true,
            Err(carekiosk_card::CardError::NotAPatientCard { .. }) => false,
            Err(e) => return Err(e.into()),
        };
        Ok(CardPeek {
            patient_card,
            tries_left: tries.user,
            blocked: tries.user == 0,
            reset_tries_left: tries.reset_code,
        })
    })
    .await
}

/// Checks the PIN on the card and opens the visit. The PIN stays in memory with the session, nowhere else.
#[tauri::command]
pub async fn card_unlock(pin: String, state: State<'_, AppState>) -> Result<PatientView, AppError> {
    let name = reader(&state)?;
    let generation = state.generation();
    let pin = Pin::new(pin);
    let session = blocking(move || {
        let mut card = PatientCard::open(&name)?;
        card.read()?;
        card.verify_pin(&pin)?;
        Ok(PatientSession::start(card, pin)?)
    })
    .await?;
    let view = PatientView::of(&session);
    state.begin_session(session, generation).await?;
    Ok(view)
}

/// At reception: unblocks the blocked PIN of the card in the reader with the reset code from the patient's
/// letter, and sets the new PIN (typed twice). The patient then opens the visit with the new PIN.
#[tauri::command]
pub async fn card_unblock(
    reset_code: String,
    pin: String,
    pin_again: String,
    state: State<'_, AppState>,
) -> Result<(), AppError> {
    if state.launch.role() != KioskRole::Reception {
        return Err(AppError::NotAtThisDesk);
    }
    let name = reader(&state)?;
    let (code, pin, again) = (Pin::new(reset_code), Pin::new(pin), Pin::new(pin_again));
    if !pin.secret_eq(&again) {
        return Err(AppError::PinMismatch);
    }
    blocking(move || {
        let mut card = PatientCard::open(&name)?;
        card_flow::unblock_pin(&mut card, &code, &pin, &again)?;
        Ok(())
    })
    .await
}

/// At any desk: the patient with the card in changes their PIN (the old one is the visit's; the new one typed
/// twice). The visit goes on with the new PIN.
#[tauri::command]
pub async fn card_change_pin(
    pin: String,
    pin_again: String,
    state: State<'_, AppState>,
) -> Result<(), AppError> {
    let (pin, again) = (Pin::new(pin), Pin::new(pin_again));
    if !pin.secret_eq(&again) {
        return Err(AppError::PinMismatch);
    }
    let mut s = state.session().await?;
    card_flow::change_pin(&mut s, pin, &again)?;
    Ok(())
}

/// Ends the visit (done, idle timeout, or the card left): the card handle and the PIN are dropped, and with them
/// an issue letter not yet handed over and a recovery code typed at the lost-card desk.
#[tauri::command]
pub async fn session_end(state: State<'_, AppState>) -> Result<(), AppError> {
    state.end_visit().await;
    Ok(())
}
