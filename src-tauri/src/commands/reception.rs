//! Reception: check a returning patient in; issue a blank card to a new patient.

use carekiosk_card::{PatientCard, Pin};
use carekiosk_kiosk::workflows::reception::{self, NewPatient};
use tauri::State;

use super::linker;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::{CheckInView, PatientView};

/// The card signs this hospital's consent; the patient's demographics are opened with the card.
#[tauri::command]
pub async fn reception_check_in(state: State<'_, AppState>) -> Result<CheckInView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let c = reception::check_in(&k, &mut s).await?;
    Ok(CheckInView {
        patient_id: c.patient_id.to_string(),
        patient: c
            .patient
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        records: c.records,
        consent: crate::views::TxView::from(&c.consent, linker(&k)),
    })
}

/// Issues the blank card in the reader to a new patient (keys generated on the card) and registers them; the
/// visit then goes on with that card.
#[tauri::command]
pub async fn reception_register(
    name: String,
    birth_date: String,
    gender: String,
    admin_pin: String,
    pin: String,
    state: State<'_, AppState>,
) -> Result<PatientView, AppError> {
    let reader = state
        .reader
        .lock()
        .ok()
        .and_then(|r| (r.state == "card").then(|| r.reader.clone()).flatten())
        .ok_or(AppError::from(carekiosk_card::CardError::NoCard))?;
    let generation = state.generation();
    let k = state.kiosk().await?;
    let card = tokio::task::spawn_blocking(move || PatientCard::open(&reader))
        .await
        .map_err(|e| AppError::Invalid(format!("card task failed: {e}")))??;
    let session = reception::register_patient(
        &k,
        card,
        NewPatient {
            name,
            birth_date,
            gender,
            admin_pin: Pin::new(admin_pin),
            pin: Pin::new(pin),
        },
    )
    .await?;
    let view = PatientView {
        patient_id: session.patient_id().to_string(),
        name: session.info.name.clone(),
        card: session.info.ident.clone(),
    };
    state.begin_session(session, generation).await?;
    Ok(view)
}
