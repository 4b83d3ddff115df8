//! The load driver's errors.

/// What can go wrong in a load run (a check that finds a loss, a duplicate or a leak is [`LoadError::Check`]).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The kiosk core refused or failed.
    #[error("kiosk: {0}")]
    Kiosk(#[from] carekiosk_kiosk::KioskError),
    /// The chain client failed (also a block or its receipts the checker or the scanner could not read).
    #[error("chain: {0}")]
    Chain(#[from] carekiosk_chain::ChainError),
    /// The card or PC/SC failed.
    #[error("card: {0}")]
    Card(#[from] carekiosk_card::CardError),
    /// A virtual card could not be started.
    #[error("virtual card: {0}")]
    VirtualCard(#[from] carekiosk_card_sim::StateError),
    /// A virtual card was started but pcscd never showed it in its reader.
    #[error("no card seen in {0}: is pcscd running with vpcd?")]
    NoCardSeen(String),
    /// No free vpcd reader.
    #[error("no free vpcd reader: is pcscd running with vpcd?")]
    NoReader,
    /// `scripts/pcscd.sh` failed.
    #[error("scripts/pcscd.sh {0} failed")]
    Pcscd(&'static str),
    /// A kiosk database failed.
    #[error("store: {0}")]
    Store(#[from] carekiosk_store::StoreError),
    /// The OS keyring failed.
    #[error("keyring: {0}")]
    Wallet(#[from] carekiosk_wallet::WalletError),
    /// A kiosk signing key from the keyring is not a usable secp256k1 key.
    #[error("unusable signing key: {0}")]
    SigningKey(String),
    /// A record key was unusable.
    #[error("records: {0}")]
    Records(#[from] carekiosk_records::RecordsError),
    /// The Celo-like chain's proxy could not start.
    #[error("celo-like proxy: {0}")]
    Proxy(#[from] carekiosk_celo_like::CeloLikeError),
    /// The privacy scanner could not be built from its needles.
    #[error("privacy scanner: {0}")]
    Scanner(#[from] aho_corasick::BuildError),
    /// A file or process failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A task of the driver panicked or was cancelled.
    #[error("task: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// A worker process did not become ready (its log says why).
    #[error("{name} did not become ready (see {log})")]
    WorkerNotReady {
        /// The worker's name (`doctor-1`).
        name: String,
        /// Its log file.
        log: String,
    },
    /// A worker process was sent a line it cannot read.
    #[error("bad request: {0}")]
    BadRequest(#[from] serde_json::Error),
    /// A check after the run failed: a write lost or doubled, a cache row unexplained, a privacy hit.
    #[error("check failed: {0}")]
    Check(String),
}
