//! The kiosk core: the workflows of the four kiosk roles — reception, doctor, pharmacy, insurer — from the
//! patient's card through the chain to the kiosk's local cache. The CLI and the app call these and nothing else.
//!
//! It owns the kiosk's identity (keys from the OS keyring, checked against its on-chain registration), the
//! outbox that sends every write at most once and survives crashes and outages, the indexer that follows the
//! contracts' events into the local database, and the sealing of records for the card and the institutions.
//! It must not keep a PIN, a private key or plaintext patient data anywhere but in memory and the encrypted
//! database, nor log any of them; it must not talk to a card or the chain except through `carekiosk-card` and
//! `carekiosk-chain`.

mod config;
pub mod enrol;
mod error;
pub mod indexer;
pub mod kiosk;
pub mod local;
pub mod outbox;
pub mod print;
mod session;
pub mod workflows;

pub use config::{default_setup_file, ConfigOverrides, KioskConfig, KioskRole};
pub use error::KioskError;
pub use kiosk::Kiosk;
pub use outbox::{Finality, Outbox, Submitted};
pub use session::PatientSession;
