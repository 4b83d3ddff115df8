//! PINs: held in zeroizing memory, never printed, handed to the card and dropped with the operation.

use secrecy::{ExposeSecret, SecretString};

use crate::CardError;

/// Shortest user PIN (OpenPGP card: PW1 ≥ 6).
pub const USER_PIN_MIN: usize = 6;
/// Shortest admin PIN and resetting code (PW3 ≥ 8).
pub const ADMIN_PIN_MIN: usize = 8;
/// Longest PIN accepted here (the card announces its own limit, typically 127).
pub const PIN_MAX: usize = 127;

/// A PIN as typed by the patient or the issuer. Its memory is wiped on drop; `Debug` shows nothing of it.
pub struct Pin(SecretString);

impl Pin {
    /// Wraps a PIN (the `String` is moved into zeroizing storage).
    pub fn new(pin: impl Into<String>) -> Pin {
        Pin(SecretString::from(pin.into()))
    }

    /// A copy for the `openpgp-card` client, which consumes its PIN argument.
    pub(crate) fn secret(&self) -> SecretString {
        SecretString::from(self.0.expose_secret().to_owned())
    }

    pub(crate) fn len(&self) -> usize {
        self.0.expose_secret().len()
    }

    /// Checks the length rules for a new PIN of `kind`, without asking the card.
    pub(crate) fn check_new(&self, min: usize, what: &str) -> Result<(), CardError> {
        let n = self.len();
        if n < min || n > PIN_MAX {
            return Err(CardError::InvalidInput(format!(
                "the {what} must have {min} to {PIN_MAX} characters"
            )));
        }
        if !self.0.expose_secret().is_ascii() {
            return Err(CardError::InvalidInput(format!(
                "the {what} must use plain ASCII characters"
            )));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

impl From<&str> for Pin {
    fn from(s: &str) -> Pin {
        Pin::new(s)
    }
}
