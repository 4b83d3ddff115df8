//! The card's PINs, at any desk: change the PIN (old and new on the PIN pad, the new one twice) and, at
//! reception, unblock a blocked PIN with the reset code printed on the patient's issue letter.

use carekiosk_card::{PatientCard, Pin};

use crate::{KioskError, PatientSession};

/// Changes the patient's PIN: `old` is checked by the card, `new` must be typed twice the same.
pub fn change_pin(s: &mut PatientSession, new: Pin, new_again: &Pin) -> Result<(), KioskError> {
    if new.secret_eq(new_again) {
        s.change_pin(new)
    } else {
        Err(KioskError::Invalid(
            "the two new PINs differ: type the new PIN twice the same".into(),
        ))
    }
}

/// Unblocks the PIN of the card in `card` with the reset code from the issue letter and sets `new_pin` (typed
/// twice the same). A wrong reset code says how many tries are left; a blocked reset code means a new card
/// (the lost-card desk: the recovery code on the same letter replaces the card and keeps everything).
pub fn unblock_pin(
    card: &mut PatientCard,
    reset_code: &Pin,
    new_pin: &Pin,
    new_pin_again: &Pin,
) -> Result<(), KioskError> {
    if !new_pin.secret_eq(new_pin_again) {
        return Err(KioskError::Invalid(
            "the two new PINs differ: type the new PIN twice the same".into(),
        ));
    }
    card.unblock_with_reset_code(reset_code, new_pin)?;
    tracing::info!("PIN unblocked with the reset code");
    Ok(())
}
