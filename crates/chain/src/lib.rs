//! carekiosk's chain client: typed bindings for the four contracts (from the committed artifacts), their
//! deployment and wiring, the EIP-712 digests a patient card signs, revert decoding into the contracts' custom
//! errors, the gas policy of each network profile, and a local Anvil node for development and tests.
//!
//! It owns everything that speaks JSON-RPC. It must not hold patient data in the clear, read a card, or keep a
//! private key anywhere but in memory: callers hand it signers and already-encrypted payloads.

pub mod bindings;
pub mod bundle;
pub mod cip64;
pub mod client;
pub mod deploy;
#[cfg(feature = "devnet")]
pub mod devnet;
pub mod eip712;
mod error;
pub mod gas;
#[cfg(feature = "devnet")]
pub mod gastable;
pub mod manifest;
pub mod payloads;
pub mod profile;
pub mod replace;
pub mod rpc;
pub mod softcard;

pub use client::{Chain, GasFunds, SignedTx};
pub use error::{decode_revert, ChainError, Revert};
pub use gas::GasPolicy;
pub use manifest::Deployment;
pub use profile::Profile;
pub use rpc::RpcConfig;
