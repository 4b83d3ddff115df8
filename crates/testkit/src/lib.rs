//! What carekiosk's tests and benchmarks share: real services started for one test — pcscd with vpcd's readers
//! (`pcscd`), a local stack of Anvil, the contracts and this machine's kiosk keys with a virtual card
//! (`stack`), Anvil behind a provider-like `eth_getLogs` cap (`capped`), a private CUPS (`cups`).
//!
//! Owns: starting and stopping those services. Must not: be a normal dependency of any crate that ships (it is a
//! dev-dependency only), or fake what a user would have (these are the real programs).

pub mod capped;
pub mod cups;
pub mod pcscd;
pub mod stack;
