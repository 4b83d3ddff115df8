//! The card at the kiosk: what can be read without a PIN (is it a patient card, tries left), the PIN pad's
//! unlock, and the end of the visit.

use carekiosk_card::{PatientCard, Pin};
use carekiosk_kiosk::PatientSession;
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
}

fn reader(state: &AppState) -> Result<String, AppError> {
    let r = state.reader.lock().map(|r| r.clone()).unwrap_or_default();
    match (r.state.as_str(), r.reader) {
        ("card", Some(name)) => Ok(name),
        _ => Err(carekiosk_card::CardError::NoCard.into()),
    }
}

async fn blocking<T: Send + 'static>(
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
    let view = PatientView {
        patient_id: session.patient_id().to_string(),
        name: session.info.name.clone(),
        card: session.info.ident.clone(),
    };
    state.begin_session(session, generation).await?;
    Ok(view)
}

/// Ends the visit (done, idle timeout, or the card left): the card handle and the PIN are dropped.
#[tauri::command]
pub async fn session_end(state: State<'_, AppState>) -> Result<(), AppError> {
    state.end_session().await;
    Ok(())
}
