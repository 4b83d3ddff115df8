use carekiosk_chain::{ChainError, Revert};

/// Everything a kiosk workflow can fail with; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KioskError {
    /// The kiosk's key is not registered on chain for its role.
    #[error(
        "this kiosk ({address}) is not registered as a {role} kiosk on chain ({reason}); ask the institution's \
         administrator to add it (carekiosk admin add-kiosk), then start again"
    )]
    NotRegistered {
        /// The role it was started as.
        role: String,
        /// The kiosk's address.
        address: String,
        /// What the chain said.
        reason: String,
    },
    /// The contract refused the write.
    #[error("the chain refused: {0}")]
    Refused(Revert),
    /// Chain, node or configuration problem.
    #[error(transparent)]
    Chain(ChainError),
    /// Card problem (no card, wrong PIN, blocked, removed…).
    #[error(transparent)]
    Card(#[from] carekiosk_card::CardError),
    /// Local database problem.
    #[error(transparent)]
    Store(#[from] carekiosk_store::StoreError),
    /// OS keyring problem.
    #[error(transparent)]
    Wallet(#[from] carekiosk_wallet::WalletError),
    /// Record sealing, opening or validation problem.
    #[error(transparent)]
    Records(#[from] carekiosk_records::RecordsError),
    /// The card belongs to no registered patient.
    #[error("this card belongs to no registered patient: register the patient at reception")]
    UnknownPatient,
    /// The institution's consent window for this patient is closed.
    #[error("this institution has no open consent for the patient: have the patient insert their card to check in")]
    NoConsent,
    /// The patient has no insurer on chain (never enrolled, or the enrolment is not on the chain any more).
    #[error("this patient is not enrolled with an insurer: enrol them at the insurer's desk with their card, then bill the visit")]
    NoInsurer,
    /// The doctor has not confirmed the prescription's warnings (allergies, duplicates), listed here.
    #[error("confirm before prescribing — {}", .0.join("; "))]
    NeedsConfirmation(Vec<String>),
    /// A transaction the index named is no longer on the chain (a reorg took it off; its kiosk sends it again).
    #[error("transaction {0} is not on this chain any more (a reorg took it off; the kiosk that sent it sends it again): try again in a few seconds")]
    NotOnChain(alloy::primitives::B256),
    /// No claim with this number at this desk (not submitted, or not indexed yet).
    #[error("there is no claim {0} here: refresh the queue (a claim just submitted appears within a few seconds)")]
    NoSuchClaim(u64),
    /// No prescription with this number among the patient's at this desk (a reorganisation of the chain may have
    /// renumbered the list shown).
    #[error("prescription {0} is not among this patient's prescriptions here: open the patient's prescriptions again (a chain reorganisation may have renumbered them)")]
    NoSuchPrescription(u64),
    /// A configuration file is wrong.
    #[error("configuration problem in {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The printer refused the document or cannot be reached (the caller saves it as a file instead).
    #[error("printer {printer}: {reason}")]
    Printer {
        /// The CUPS destination.
        printer: String,
        /// What CUPS (or `lp`) said, and what to check.
        reason: String,
    },
    /// Input the kiosk cannot act on.
    #[error("{0}")]
    Invalid(String),
}

impl From<ChainError> for KioskError {
    fn from(e: ChainError) -> Self {
        match e {
            ChainError::Reverted(r) => KioskError::Refused(r),
            other => KioskError::Chain(other),
        }
    }
}

impl KioskError {
    /// Whether the node was unreachable (the write is queued, not lost): only then is the kiosk "offline". A
    /// node that rate limits or answers with an error is there ([`KioskError::is_transient`]).
    pub fn is_offline(&self) -> bool {
        matches!(self, KioskError::Chain(e) if e.is_unreachable())
    }

    /// Whether the same step may work later without anyone acting (unreachable, rate limited, another passing
    /// node error): a write failing so stays in the outbox.
    pub fn is_transient(&self) -> bool {
        matches!(self, KioskError::Chain(e) if e.is_transient())
    }

    /// The chain error's stable kind (`rate-limited`, `out-of-funds`…), when this is one.
    pub fn chain_kind(&self) -> Option<&'static str> {
        match self {
            KioskError::Chain(e) => Some(e.kind()),
            KioskError::Refused(_) => Some("reverted"),
            _ => None,
        }
    }

    /// The custom error's name, when the chain refused.
    pub fn revert_name(&self) -> Option<&str> {
        match self {
            KioskError::Refused(r) => Some(&r.name),
            _ => None,
        }
    }
}
