//! The wallet's one error type. No variant ever carries key material.

/// Everything that can go wrong in `carekiosk-wallet`. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// No OS keyring could be reached (no D-Bus session, no Secret Service, unsupported platform).
    #[error(
        "no OS keyring: start a desktop session or gnome-keyring-daemon; see README ({detail})"
    )]
    NoKeyring {
        /// What the platform said.
        detail: String,
    },
    /// The keyring is there but locked, or refused access.
    #[error(
        "the OS keyring is locked or refused access: unlock it (log in to the desktop session, or \
         `gnome-keyring-daemon --unlock` on a headless kiosk) and retry ({detail})"
    )]
    Locked {
        /// What the platform said.
        detail: String,
    },
    /// Nothing stored under this account.
    #[error("no {what} in the OS keyring for {account}: generate one or import it first")]
    NotFound {
        /// Which key.
        what: &'static str,
        /// The keyring account (`<profile>/<role>/<key>`).
        account: String,
    },
    /// Import into an account that already holds a different key.
    #[error(
        "the OS keyring already holds a different {what} for {account}: refusing to overwrite it (delete it first \
         if you really mean to replace it; a kiosk key registered on chain cannot be recovered)"
    )]
    Conflict {
        /// Which key.
        what: &'static str,
        /// The keyring account.
        account: String,
    },
    /// Key material given to `import` (or read back) that is not a valid key.
    #[error("invalid {what}: {reason}")]
    InvalidKey {
        /// Which key.
        what: &'static str,
        /// Why (never the value itself).
        reason: &'static str,
    },
    /// The keyring entry exists but does not hold a key we wrote.
    #[error(
        "the OS keyring entry {account} does not hold a valid {what}: delete it (e.g. with seahorse, or \
         `secret-tool clear service carekiosk username {account}`) and generate or import the key again"
    )]
    Corrupt {
        /// Which key.
        what: &'static str,
        /// The keyring account.
        account: String,
    },
    /// Several keyring items match one account.
    #[error(
        "{count} OS keyring items match {account}: remove the duplicates (e.g. with seahorse) so exactly one is left"
    )]
    Ambiguous {
        /// The keyring account.
        account: String,
        /// How many matched.
        count: usize,
    },
    /// A profile or role name that cannot be part of a keyring account.
    #[error("invalid {field} {value:?}: use 1–64 characters from A–Z a–z 0–9 . _ -")]
    InvalidName {
        /// `profile` or `role`.
        field: &'static str,
        /// The name given.
        value: String,
    },
    /// Any other failure of the platform keyring.
    #[error(
        "OS keyring failure: {detail} (check that the keyring service is running; see README)"
    )]
    Keyring {
        /// What the platform said.
        detail: String,
    },
}

/// The wallet's result type.
pub type Result<T, E = WalletError> = std::result::Result<T, E>;
