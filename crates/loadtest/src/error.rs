//! The load driver's errors.

/// What can go wrong in a load run (a check that finds a loss, a duplicate or a leak is [`LoadError::Check`]).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The kiosk core refused or failed.
    #[error("kiosk: {0}")]
    Kiosk(#[from] carekiosk_kiosk::KioskError),
    /// The chain client failed.
    #[error("chain: {0}")]
    Chain(#[from] carekiosk_chain::ChainError),
    /// The card or PC/SC failed.
    #[error("card: {0}")]
    Card(#[from] carekiosk_card::CardError),
    /// A kiosk database failed.
    #[error("store: {0}")]
    Store(#[from] carekiosk_store::StoreError),
    /// The OS keyring failed.
    #[error("keyring: {0}")]
    Wallet(#[from] carekiosk_wallet::WalletError),
    /// A record key was unusable.
    #[error("records: {0}")]
    Records(#[from] carekiosk_records::RecordsError),
    /// A file or process failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A worker process misbehaved (died unexpectedly, spoke garbage).
    #[error("worker: {0}")]
    Worker(String),
    /// A check after the run failed: a write lost or doubled, a cache row unexplained, a privacy hit.
    #[error("check failed: {0}")]
    Check(String),
}
