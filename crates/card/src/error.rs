//! The one error type of the card crate: every variant is something a kiosk screen can show as it is.

use openpgp_card::ocard::StatusBytes;

/// Which secret a PIN error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinKind {
    /// The patient's PIN (PW1).
    User,
    /// The issuer's admin PIN (PW3).
    Admin,
    /// The resetting code (RC).
    ResetCode,
}

impl std::fmt::Display for PinKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PinKind::User => "PIN",
            PinKind::Admin => "admin PIN",
            PinKind::ResetCode => "resetting code",
        })
    }
}

/// Why a card is not (yet) a patient card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPatientReason {
    /// The card has no OpenPGP application (a bank card, an insurance card…).
    NotOpenPgp,
    /// An OpenPGP card without the signature or decryption key: blank, or not issued by us.
    NoKeys,
    /// An OpenPGP card with keys but without our patient data object.
    NoPatientObject,
}

impl std::fmt::Display for NotPatientReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NotPatientReason::NotOpenPgp => "it has no OpenPGP application",
            NotPatientReason::NoKeys => "it has no patient keys (a blank card?)",
            NotPatientReason::NoPatientObject => "it carries no patient record",
        })
    }
}

/// Everything that can go wrong with a reader or a card.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The PC/SC service (pcscd) is not running or not reachable.
    #[error("the card service is not running ({0})")]
    ServiceUnavailable(String),
    /// No reader (matching the configured pattern) is connected.
    #[error("no card reader found")]
    NoReader,
    /// The reader is empty.
    #[error("no card in the reader")]
    NoCard,
    /// The card was taken out (or reset) during or between operations; insert it again.
    #[error("the card was removed; please insert it again")]
    CardRemoved,
    /// A wrong PIN; the card counted it.
    #[error("wrong {pin}: {tries_left} {} left", if *tries_left == 1 { "try" } else { "tries" })]
    WrongPin {
        /// Which PIN.
        pin: PinKind,
        /// Tries left as the card reports them.
        tries_left: u8,
    },
    /// The PIN is blocked (no tries left).
    #[error("the {pin} is blocked")]
    Blocked {
        /// Which PIN.
        pin: PinKind,
    },
    /// Not a patient card.
    #[error("this is not a patient card: {reason}")]
    NotAPatientCard {
        /// Why.
        reason: NotPatientReason,
    },
    /// The card holds keys of another algorithm than NIST P-256, or cannot make them.
    #[error("unsupported card algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The card lacks a feature the operation needs.
    #[error("unsupported card feature: {0}")]
    Unsupported(String),
    /// Provisioning a card that already holds patient keys or data (without `overwrite`).
    #[error("the card is already issued to a patient")]
    AlreadyProvisioned,
    /// The card answered with an error status word.
    #[error("card error {sw:04X}: {message}")]
    Card {
        /// The status word (SW1 SW2).
        sw: u16,
        /// Its meaning.
        message: String,
    },
    /// The card's answer could not be understood (malformed or truncated data).
    #[error("the card's answer is malformed: {0}")]
    Malformed(String),
    /// The caller's input is not acceptable (PIN length, name, point…); the card was not asked.
    #[error("{0}")]
    InvalidInput(String),
    /// Another PC/SC failure.
    #[error("card reader error: {0}")]
    Pcsc(String),
}

/// The status word of a parsed `StatusBytes`.
pub fn status_word(s: StatusBytes) -> u16 {
    use StatusBytes as S;
    match s {
        S::Ok => 0x9000,
        S::OkBytesAvailable(n) => 0x6100 | n as u16,
        S::TerminationState => 0x6285,
        S::PasswordNotChecked(n) => 0x63C0 | n as u16,
        S::ExecutionErrorNonVolatileMemoryUnchanged => 0x6400,
        S::TriggeringByCard(n) => 0x6400 | n as u16,
        S::MemoryFailure => 0x6501,
        S::SecurityRelatedIssues => 0x6600,
        S::WrongLength => 0x6700,
        S::LogicalChannelNotSupported => 0x6881,
        S::SecureMessagingNotSupported => 0x6882,
        S::LastCommandOfChainExpected => 0x6883,
        S::CommandChainingNotSupported => 0x6884,
        S::SecurityStatusNotSatisfied => 0x6982,
        S::AuthenticationMethodBlocked => 0x6983,
        S::ConditionOfUseNotSatisfied => 0x6985,
        S::ExpectedSecureMessagingDOsMissing => 0x6987,
        S::SMDataObjectsIncorrect => 0x6988,
        S::IncorrectParametersCommandDataField => 0x6A80,
        S::FileOrApplicationNotFound => 0x6A82,
        S::ReferencedDataNotFound => 0x6A88,
        S::WrongParametersP1P2 => 0x6B00,
        S::INSNotSupported => 0x6D00,
        S::CLANotSupported => 0x6E00,
        S::NoPreciseDiagnosis => 0x6F00,
        S::UnknownStatus(a, b) => u16::from_be_bytes([a, b]),
        _ => 0x6F00,
    }
}

/// Classifies a PC/SC error by its variant.
pub(crate) fn from_pcsc(e: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match e {
        E::NoService | E::ServiceStopped => CardError::ServiceUnavailable(e.to_string()),
        E::NoReadersAvailable | E::UnknownReader | E::ReaderUnavailable => CardError::NoReader,
        E::NoSmartcard => CardError::NoCard,
        E::RemovedCard | E::ResetCard | E::NotTransacted | E::UnpoweredCard => {
            CardError::CardRemoved
        }
        E::UnsupportedCard | E::CardUnsupported => CardError::NotAPatientCard {
            reason: NotPatientReason::NotOpenPgp,
        },
        other => CardError::Pcsc(other.to_string()),
    }
}

/// Classifies a PC/SC error that `card-backend-pcsc` turned into text (`"Transmit failed: RemovedCard"`).
fn from_pcsc_text(m: String) -> CardError {
    const REMOVED: [&str; 5] = [
        "RemovedCard",
        "ResetCard",
        "NoSmartcard",
        "NotTransacted",
        "UnpoweredCard",
    ];
    if REMOVED.iter().any(|k| m.contains(k)) {
        CardError::CardRemoved
    } else if ["NoService", "ServiceStopped"]
        .iter()
        .any(|k| m.contains(k))
    {
        CardError::ServiceUnavailable(m)
    } else if ["NoReadersAvailable", "UnknownReader", "ReaderUnavailable"]
        .iter()
        .any(|k| m.contains(k))
    {
        CardError::NoReader
    } else {
        CardError::Pcsc(m)
    }
}

/// Maps an error of the `openpgp-card` client.
pub(crate) fn from_openpgp(e: openpgp_card::Error) -> CardError {
    use card_backend::SmartcardError as SE;
    use openpgp_card::Error as E;
    match e {
        E::Smartcard(sc) => match sc {
            SE::ContextError(m) => CardError::ServiceUnavailable(m),
            SE::ReaderError(m) => from_pcsc_text(m),
            SE::NoReaderFoundError => CardError::NoReader,
            SE::CardNotFound(_) => CardError::NoCard,
            SE::SmartCardConnectionError(m) | SE::Error(m) => from_pcsc_text(m),
            SE::SmartCardStatus(a, b) => from_status(StatusBytes::from((a, b))),
            SE::NotTransacted => CardError::CardRemoved,
            other => CardError::Pcsc(other.to_string()),
        },
        E::CardStatus(s) => from_status(s),
        // The client got fewer than 2 bytes: no status word. That is what a transmit in flight returns when the
        // card leaves the reader, so it means removal (see the notes on pcscd and vpcd).
        E::ResponseLength(_) => CardError::CardRemoved,
        E::ParseError(m) | E::NotFound(m) | E::InternalError(m) => CardError::Malformed(m),
        E::UnsupportedAlgo(m) => CardError::UnsupportedAlgorithm(m),
        E::UnsupportedFeature(m) => CardError::Unsupported(m),
        E::CommandTooLong(n) => {
            CardError::InvalidInput(format!("command too long for the card ({n} bytes)"))
        }
        other => CardError::Pcsc(other.to_string()),
    }
}

/// Maps an error status word outside of PIN handling.
pub(crate) fn from_status(s: StatusBytes) -> CardError {
    match s {
        StatusBytes::FileOrApplicationNotFound => CardError::NotAPatientCard {
            reason: NotPatientReason::NotOpenPgp,
        },
        StatusBytes::AuthenticationMethodBlocked => CardError::Blocked { pin: PinKind::User },
        other => CardError::Card {
            sw: status_word(other),
            message: other.to_string(),
        },
    }
}

impl From<openpgp_card::Error> for CardError {
    fn from(e: openpgp_card::Error) -> Self {
        from_openpgp(e)
    }
}

impl CardError {
    /// Whether the card is gone (removed or reset) and the app should wait for it to come back.
    pub fn is_removal(&self) -> bool {
        matches!(self, CardError::CardRemoved | CardError::NoCard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_well() {
        assert_eq!(
            CardError::WrongPin {
                pin: PinKind::User,
                tries_left: 2
            }
            .to_string(),
            "wrong PIN: 2 tries left"
        );
        assert_eq!(
            CardError::WrongPin {
                pin: PinKind::User,
                tries_left: 1
            }
            .to_string(),
            "wrong PIN: 1 try left"
        );
        assert_eq!(
            CardError::Blocked {
                pin: PinKind::Admin
            }
            .to_string(),
            "the admin PIN is blocked"
        );
    }

    #[test]
    fn short_response_is_removal() {
        assert_eq!(
            from_openpgp(openpgp_card::Error::ResponseLength(0)),
            CardError::CardRemoved
        );
        let e = openpgp_card::Error::Smartcard(card_backend::SmartcardError::Error(
            "Transmit failed: RemovedCard".into(),
        ));
        assert_eq!(from_openpgp(e), CardError::CardRemoved);
    }

    #[test]
    fn status_words_round_trip() {
        for sw in [
            0x6982u16, 0x6983, 0x6A80, 0x6A82, 0x6A88, 0x6D00, 0x63C2, 0x6285,
        ] {
            assert_eq!(
                status_word(StatusBytes::from(((sw >> 8) as u8, sw as u8))),
                sw
            );
        }
    }
}
