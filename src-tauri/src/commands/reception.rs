//! Reception: check a returning patient in; issue a blank card to a new patient (with their issue letter); report a
//! lost card with the recovery code from the letter and issue the replacement card (with a new letter).

use carekiosk_card::{PatientCard, Pin};
use carekiosk_kiosk::workflows::reception::{self, LetterSecrets, NewCard, NewPatient};
use carekiosk_kiosk::workflows::ConsentChoice;
use carekiosk_kiosk::{Kiosk, KioskRole};
use tauri::State;
use zeroize::Zeroizing;

use super::card::{blocking, reader};
use super::linker;
use crate::error::AppError;
use crate::state::{AppState, PendingLetter};
use crate::views::{
    CheckInView, EmergencyReadView, LostView, PatientView, ReplacedView, SignedView, TxView,
};

/// The card signs this hospital's consent as the patient chose it on the screen (`scope` bits within the role's
/// ceiling, for `days`); the patient's demographics are opened with the card, and every emergency read of their
/// emergency set is listed.
#[tauri::command]
pub async fn reception_check_in(
    scope: u8,
    days: u64,
    state: State<'_, AppState>,
) -> Result<CheckInView, AppError> {
    let k = state.kiosk().await?;
    let mut s = state.session().await?;
    let c = reception::check_in_with(&k, &mut s, ConsentChoice { scope, days }).await?;
    Ok(CheckInView {
        patient_id: c.patient_id.to_string(),
        patient: c
            .patient
            .as_ref()
            .and_then(|p| serde_json::to_value(p).ok()),
        records: c.records,
        consent: TxView::from(&c.consent, linker(&k)),
        signed: SignedView::new(c.scope, c.valid_until),
        emergency_reads: c
            .emergency_reads
            .iter()
            .map(EmergencyReadView::from)
            .collect(),
    })
}

/// Issues the blank card in the reader to a new patient (keys generated on the card) and registers them; the
/// visit then goes on with that card, after the issue letter is printed (`letter_*`).
#[tauri::command]
pub async fn reception_register(
    name: String,
    birth_date: String,
    gender: String,
    admin_pin: String,
    pin: String,
    state: State<'_, AppState>,
) -> Result<PatientView, AppError> {
    let reader = reader(&state)?;
    let generation = state.generation();
    let k = state.kiosk().await?;
    let card = blocking(move || Ok(PatientCard::open(&reader)?)).await?;
    let (session, secrets) = reception::register_patient_with_letter(
        &k,
        card,
        NewPatient {
            name: name.clone(),
            birth_date,
            gender,
            admin_pin: Pin::new(admin_pin),
            pin: Pin::new(pin),
        },
    )
    .await?;
    // The letter first: even if the card left meanwhile, the patient's codes must reach the printer.
    hold_letter(&state, &k, name, secrets);
    let view = PatientView::of(&session);
    state.begin_session(session, generation).await?;
    Ok(view)
}

/// Reports the patient's card lost with the recovery code from their letter, typed (groups, any case, with or
/// without separators) or scanned (the QR code's payload). The code is kept in memory for the replacement card.
#[tauri::command]
pub async fn reception_report_lost(
    recovery: String,
    state: State<'_, AppState>,
) -> Result<LostView, AppError> {
    require_reception(&state)?;
    let secret = parse_recovery(Zeroizing::new(recovery))?;
    let k = state.kiosk().await?;
    let view = match reception::report_lost(&k, &secret).await {
        Ok((pid, done)) => LostView {
            patient_id: pid.to_string(),
            tx: Some(TxView::from(&done, linker(&k))),
            already_lost: false,
        },
        // Reported before (by the patient elsewhere, or a first attempt here): the replacement can go ahead.
        Err(e) if e.revert_name() == Some("CardAlreadyLost") => {
            let recovery = carekiosk_records::SoftKey::from_bytes(&secret)
                .map_err(carekiosk_kiosk::KioskError::from)?;
            LostView {
                patient_id: reception::patient_of_recovery(&k, &recovery)
                    .await?
                    .to_string(),
                tx: None,
                already_lost: true,
            }
        }
        Err(e) => return Err(e.into()),
    };
    if let Ok(mut r) = state.recovery.lock() {
        *r = Some(secret);
    }
    Ok(view)
}

/// Issues the blank card in the reader to the patient whose recovery code was given to `reception_report_lost`
/// (only at the hospital that issued their card): the same patient, every record kept, a new letter. The visit
/// goes on with the new card.
#[tauri::command]
pub async fn reception_replace(
    name: String,
    admin_pin: String,
    pin: String,
    pin_again: String,
    state: State<'_, AppState>,
) -> Result<ReplacedView, AppError> {
    require_reception(&state)?;
    let (pin, again) = (Pin::new(pin), Pin::new(pin_again));
    if !pin.secret_eq(&again) {
        return Err(AppError::PinMismatch);
    }
    drop(again);
    let secret = state
        .recovery
        .lock()
        .ok()
        .and_then(|r| r.clone())
        .ok_or_else(|| {
            AppError::Invalid(
                "type or scan the recovery code from the patient's letter first".into(),
            )
        })?;
    let reader = reader(&state)?;
    let generation = state.generation();
    let k = state.kiosk().await?;
    let card = blocking(move || Ok(PatientCard::open(&reader)?)).await?;
    let (session, secrets, done) = reception::replace_card(
        &k,
        &secret,
        card,
        NewCard {
            name: name.clone(),
            admin_pin: Pin::new(admin_pin),
            pin,
        },
    )
    .await?;
    // The old letter's recovery code is spent; the new letter replaces it.
    if let Ok(mut r) = state.recovery.lock() {
        r.take();
    }
    hold_letter(&state, &k, name, secrets);
    let view = ReplacedView {
        patient: PatientView::of(&session),
        tx: TxView::from(&done, linker(&k)),
    };
    state.begin_session(session, generation).await?;
    Ok(view)
}

fn require_reception(state: &AppState) -> Result<(), AppError> {
    if state.launch.role() == KioskRole::Reception {
        Ok(())
    } else {
        Err(AppError::NotAtThisDesk)
    }
}

/// The recovery code as typed from the letter, or as a scanner types its QR code (whatever the case the scanner
/// sends the prefix in).
fn parse_recovery(text: Zeroizing<String>) -> Result<Zeroizing<[u8; 32]>, AppError> {
    let t = text.trim();
    let scanned = t
        .get(..QR_PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(QR_PREFIX))
        .map(|_| &t[QR_PREFIX.len()..]);
    let parsed = match scanned {
        Some(rest) => {
            let (version, code) = rest.split_once(':').unwrap_or((rest, ""));
            let payload = Zeroizing::new(format!(
                "{QR_PREFIX}{}:{code}",
                version.to_ascii_lowercase()
            ));
            carekiosk_letter::parse_recovery_qr(&payload)
        }
        None => carekiosk_letter::parse_recovery_text(t),
    };
    Ok(Zeroizing::new(parsed?))
}

/// How a recovery QR code's payload begins (`carekiosk_letter::recovery_qr_payload`).
const QR_PREFIX: &str = "carekiosk-recovery:";

/// Keeps the new card's letter for the letter step (replacing any letter not handed over).
fn hold_letter(state: &AppState, k: &Kiosk, patient_name: String, secrets: LetterSecrets) {
    let institution = k
        .deployment
        .institutions
        .iter()
        .find(|i| i.address == k.institution)
        .map(|i| i.name.clone())
        .unwrap_or_else(|| format!("Institution {}", k.institution_id));
    let issued_on = carekiosk_records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    if let Ok(mut l) = state.letter.lock() {
        *l = Some(PendingLetter {
            patient_name,
            institution,
            issued_on,
            secrets,
            saved: Vec::new(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recovery_code_reads_typed_or_scanned() {
        let secret = [7u8; 32];
        let text = carekiosk_letter::recovery_text(&secret);
        let typed = text.to_lowercase().replace('-', "  ");
        assert_eq!(*parse_recovery(Zeroizing::new(typed)).unwrap(), secret);
        let scanned = format!("{}\n", carekiosk_letter::recovery_qr_payload(&secret));
        assert_eq!(
            *parse_recovery(Zeroizing::new(scanned.clone())).unwrap(),
            secret
        );
        let shouting = scanned.to_uppercase();
        assert_eq!(*parse_recovery(Zeroizing::new(shouting)).unwrap(), secret);
        let e = parse_recovery(Zeroizing::new(text[..20].into())).unwrap_err();
        assert_eq!(e.kind(), "bad-recovery-code");
    }
}
