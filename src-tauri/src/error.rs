//! The app's one error type, and the one place where core errors become what the screen shows: a stable `kind`
//! the UI switches on (to translate it and pick the screen), the core's message (which says what to do), and the
//! PIN tries left or the contract's refusal when there is one.

use carekiosk_card::{CardError, PinKind};
use carekiosk_kiosk::KioskError;
use carekiosk_letter::LetterError;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

/// What a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A core error.
    #[error(transparent)]
    Kiosk(#[from] KioskError),
    /// The kiosk did not open; the message says why and what to do.
    #[error("{0}")]
    NotReady(String),
    /// A patient action without a patient.
    #[error("insert the patient card and enter the PIN first")]
    NoSession,
    /// The card left the reader while the PIN was being checked.
    #[error("the card was removed; please insert it again")]
    CardLeft,
    /// Input from the screen the core cannot take.
    #[error("{0}")]
    Invalid(String),
    /// A recovery code that does not read back, or a letter that cannot be printed; the message says where.
    #[error(transparent)]
    Letter(#[from] LetterError),
    /// A new PIN typed twice differently.
    #[error("the two new PINs differ: type the new PIN twice the same")]
    PinMismatch,
    /// A step of the card's life that only reception does.
    #[error("this is done at reception: send the patient there with their issue letter")]
    NotAtThisDesk,
    /// The emergency data set asked of a desk that is not a hospital's.
    #[error(
        "the emergency data set is kept and read at a hospital's desks (reception or doctor) only"
    )]
    HospitalOnly,
    /// The letter file could not be written or deleted.
    #[error("{0}")]
    File(String),
    /// Kiosk mode: not this desk's staff code.
    #[error(
        "that is not this desk's staff code (IT sets a new one with `carekiosk admin staff-code --role <role>`)"
    )]
    WrongStaffCode,
}

impl From<CardError> for AppError {
    fn from(e: CardError) -> Self {
        AppError::Kiosk(KioskError::Card(e))
    }
}

impl AppError {
    /// The stable name the UI switches on.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::NotReady(_) => "not-ready",
            AppError::NoSession => "no-session",
            AppError::CardLeft => "card-removed",
            AppError::Invalid(_) => "invalid",
            AppError::PinMismatch => "pin-mismatch",
            AppError::NotAtThisDesk => "not-at-this-desk",
            AppError::HospitalOnly => "hospital-only",
            AppError::File(_) => "file",
            AppError::WrongStaffCode => "wrong-staff-code",
            AppError::Letter(l) => match l {
                LetterError::RecoveryCharacter { .. }
                | LetterError::RecoveryLength { .. }
                | LetterError::RecoveryGroupLength { .. }
                | LetterError::RecoveryTypo { .. }
                | LetterError::RecoveryTypos
                | LetterError::NotRecoveryQr
                | LetterError::UnsupportedQrVersion { .. }
                | LetterError::DamagedQr => "bad-recovery-code",
                LetterError::TokenCharacter { .. }
                | LetterError::TokenLength { .. }
                | LetterError::TokenGroupLength { .. }
                | LetterError::TokenTypo { .. }
                | LetterError::TokenTypos
                | LetterError::NotTokenQr
                | LetterError::UnsupportedTokenQrVersion { .. }
                | LetterError::MalformedTokenQr { .. }
                | LetterError::TokenQrSecretLength { .. }
                | LetterError::DamagedTokenQr => "bad-token",
                _ => "letter",
            },
            AppError::Kiosk(k) => match k {
                KioskError::NotRegistered { .. } => "not-registered",
                KioskError::Refused(_) => "refused",
                // Offline only when no node can be reached; a busy node, funds and fees have their own kinds.
                KioskError::Chain(_) if k.is_offline() => "offline",
                KioskError::Chain(_) => match k.chain_kind() {
                    Some("rate-limited") => "rate-limited",
                    Some("out-of-funds") => "out-of-funds",
                    Some("underpriced") => "underpriced",
                    _ => "chain",
                },
                KioskError::Card(c) => match c {
                    CardError::WrongPin {
                        pin: PinKind::ResetCode,
                        ..
                    } => "wrong-reset-code",
                    CardError::WrongPin {
                        pin: PinKind::Admin,
                        ..
                    } => "wrong-admin-pin",
                    CardError::WrongPin { .. } => "wrong-pin",
                    CardError::Blocked {
                        pin: PinKind::ResetCode,
                    } => "reset-code-blocked",
                    CardError::Blocked {
                        pin: PinKind::Admin,
                    } => "admin-pin-blocked",
                    CardError::Blocked { .. } => "pin-blocked",
                    CardError::CardRemoved => "card-removed",
                    CardError::NoCard => "no-card",
                    CardError::NoReader | CardError::ServiceUnavailable(_) => "no-reader",
                    CardError::NotAPatientCard { .. } => "not-a-patient-card",
                    _ => "card",
                },
                KioskError::UnknownPatient => "unknown-patient",
                KioskError::NoConsent => "no-consent",
                KioskError::NoInsurer => "no-insurer",
                KioskError::Store(_) | KioskError::Wallet(_) => "local",
                KioskError::Records(_) => "records",
                KioskError::Config { .. } => "config",
                // The core refuses a prescription whose warnings the doctor has not confirmed.
                KioskError::NeedsConfirmation(_) => "needs-confirmation",
                KioskError::NotOnChain(_) => "not-on-chain",
                KioskError::NoSuchClaim(_) => "no-such-claim",
                KioskError::NoSuchPrescription(_) => "no-such-prescription",
                KioskError::Printer { .. } => "printer",
                KioskError::Invalid(_) => "invalid",
            },
        }
    }

    fn tries_left(&self) -> Option<u8> {
        match self {
            AppError::Kiosk(KioskError::Card(CardError::WrongPin { tries_left, .. })) => {
                Some(*tries_left)
            }
            AppError::Kiosk(KioskError::Card(CardError::Blocked { .. })) => Some(0),
            _ => None,
        }
    }
}

impl Serialize for AppError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("AppError", 4)?;
        st.serialize_field("kind", self.kind())?;
        st.serialize_field("message", &self.to_string())?;
        st.serialize_field("triesLeft", &self.tries_left())?;
        st.serialize_field(
            "revert",
            &match self {
                AppError::Kiosk(k) => k.revert_name(),
                _ => None,
            },
        )?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_pin_carries_its_tries_left_to_the_screen() {
        let e = AppError::from(CardError::WrongPin {
            pin: PinKind::User,
            tries_left: 2,
        });
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "wrong-pin");
        assert_eq!(v["triesLeft"], 2);
        assert!(
            v["message"].as_str().unwrap().contains("2 tries left"),
            "{v}"
        );
    }

    #[test]
    fn a_blocked_pin_and_a_pulled_card_have_their_own_kinds() {
        assert_eq!(
            AppError::from(CardError::Blocked { pin: PinKind::User }).kind(),
            "pin-blocked"
        );
        assert_eq!(
            AppError::from(CardError::CardRemoved).kind(),
            "card-removed"
        );
        assert_eq!(AppError::Kiosk(KioskError::NoConsent).kind(), "no-consent");
        assert_eq!(AppError::Kiosk(KioskError::NoInsurer).kind(), "no-insurer");
        assert_eq!(AppError::HospitalOnly.kind(), "hospital-only");
    }

    #[test]
    fn the_reset_code_and_the_admin_pin_are_not_the_patient_pin() {
        let wrong = AppError::from(CardError::WrongPin {
            pin: PinKind::ResetCode,
            tries_left: 2,
        });
        let v = serde_json::to_value(&wrong).unwrap();
        assert_eq!(v["kind"], "wrong-reset-code");
        assert_eq!(v["triesLeft"], 2);
        assert_eq!(
            AppError::from(CardError::Blocked {
                pin: PinKind::ResetCode
            })
            .kind(),
            "reset-code-blocked"
        );
        assert_eq!(
            AppError::from(CardError::WrongPin {
                pin: PinKind::Admin,
                tries_left: 2
            })
            .kind(),
            "wrong-admin-pin"
        );
    }

    #[test]
    fn an_unconfirmed_warning_and_a_mistyped_token_have_their_own_kinds() {
        let e = AppError::Kiosk(KioskError::NeedsConfirmation(vec![
            "allergy: the patient is allergic to penicillin".into(),
        ]));
        assert_eq!(e.kind(), "needs-confirmation");
        assert!(e
            .to_string()
            .starts_with("confirm before prescribing — allergy"));
        // The kind follows the error's type, not its words.
        assert_eq!(
            AppError::Kiosk(KioskError::Invalid("confirm before prescribing".into())).kind(),
            "invalid"
        );
        assert_eq!(
            AppError::Kiosk(KioskError::NoSuchClaim(3)).kind(),
            "no-such-claim"
        );
        assert_eq!(
            AppError::Kiosk(KioskError::NoSuchPrescription(3)).kind(),
            "no-such-prescription"
        );
        let e = AppError::from(carekiosk_letter::parse_token_text("ABCD-EFGH").unwrap_err());
        assert_eq!(e.kind(), "bad-token");
        let e = AppError::from(carekiosk_letter::parse_token_qr("CKRX9:1:2:3:4").unwrap_err());
        assert_eq!(e.kind(), "bad-token");
    }

    #[test]
    fn only_an_unreachable_node_is_offline() {
        use carekiosk_chain::ChainError;
        let kind = |e: ChainError| AppError::Kiosk(KioskError::from(e)).kind();
        assert_eq!(
            kind(ChainError::Unreachable {
                url: "http://n".into(),
                reason: "connection refused".into()
            }),
            "offline"
        );
        assert_eq!(
            kind(ChainError::RateLimited {
                url: "http://n".into(),
                retry_after_secs: Some(2),
                attempts: 6
            }),
            "rate-limited"
        );
        assert_eq!(
            kind(ChainError::from_text(
                "http://n",
                "insufficient funds for gas * price + value".into()
            )),
            "out-of-funds"
        );
        assert_eq!(
            kind(ChainError::from_text(
                "http://n",
                "replacement transaction underpriced".into()
            )),
            "underpriced"
        );
        assert_eq!(
            kind(ChainError::node("http://n", "header not found".to_string())),
            "chain"
        );
    }

    #[test]
    fn a_mistyped_recovery_code_names_its_group_without_echoing_the_code() {
        let e = AppError::from(carekiosk_letter::parse_recovery_text("ABCD-EFGH").unwrap_err());
        assert_eq!(e.kind(), "bad-recovery-code");
        assert!(e.to_string().contains("56"), "{e}");
        let e =
            AppError::from(carekiosk_letter::parse_recovery_qr("https://example.org").unwrap_err());
        assert_eq!(e.kind(), "bad-recovery-code");
    }
}
