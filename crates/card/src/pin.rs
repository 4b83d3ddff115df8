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

    /// Whether two PINs are the same (a new PIN typed twice), in time independent of where they differ.
    pub fn secret_eq(&self, other: &Pin) -> bool {
        let (a, b) = (
            self.0.expose_secret().as_bytes(),
            other.0.expose_secret().as_bytes(),
        );
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// A random numeric PIN of `digits` digits from the OS random generator (a fresh admin PIN or reset code
    /// at issue).
    pub fn random_digits(digits: usize) -> Pin {
        use rand_core::RngCore;
        let mut s = String::with_capacity(digits);
        while s.len() < digits {
            let v = rand_core::OsRng.next_u32();
            // Rejection sampling keeps every digit uniform.
            if v < u32::MAX - u32::MAX % 10 {
                s.push(char::from(b'0' + (v % 10) as u8));
            }
        }
        Pin::new(s)
    }

    /// The PIN's characters, for printing on the patient's own letter (the reset code) — nowhere else.
    pub fn expose_for_letter(&self) -> &str {
        self.0.expose_secret()
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
