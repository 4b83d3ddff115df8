//! carekiosk's load, fault and privacy runs: many kiosk processes doing whole visits at once against one Anvil
//! mining a block a second, with virtual patient cards in the vpcd readers through the real pcscd, while faults
//! are injected (Anvil restarted from its saved state, the node unreachable, pcscd restarted, cards pulled,
//! kiosk processes and the SQLite writer killed with SIGKILL); then a checker compares every kiosk's database
//! with the chain and a scanner searches the chain and the kiosks' logs for patient data, PINs and keys.
//!
//! It owns the driver (`carekiosk-load run`), the kiosk worker process (`carekiosk-load worker`: one kiosk
//! opened through `carekiosk-kiosk`, serving visit steps over stdin/stdout), the fault injection, the checker,
//! the privacy scanner and the figures (visits per minute, step latencies, gas per visit).
//!
//! It must not contain business logic: every step is a call of the kiosk core's workflows
//! (`carekiosk_kiosk::workflows`), every write goes through the kiosk's outbox. It must not log PINs, keys or
//! patient data, and must not be used against anything but a local test chain.

pub mod cards;
pub mod celo;
pub mod check;
pub mod crash;
pub mod driver;
mod error;
pub mod keys;
pub mod patients;
pub mod plan;
pub mod privacy;
pub mod proto;
pub mod proxy;
pub mod report;
pub mod stats;
mod visit;
pub mod worker;
pub mod worker_handle;

pub use error::LoadError;
pub use plan::Plan;
pub use report::Report;
