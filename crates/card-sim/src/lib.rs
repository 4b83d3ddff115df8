//! carekiosk's virtual patient card: our own OpenPGP card 3.4 — the subset the kiosk uses, with NIST P-256 keys —
//! that plugs into the real PC/SC stack through vpcd (the `vsmartcard-vpcd` reader driver of pcscd), so the kiosk
//! talks to it exactly as to a YubiKey, Nitrokey 3 or SmartPGP JavaCard.
//!
//! It owns the card side: APDU and TLV parsing, the OpenPGP application ([`card::Applet`]), its persistent state
//! ([`state::CardState`], one JSON file per card — the simulated card's own key storage, clearly marked), the
//! vpcd connection with remove/re-insert/pull-mid-command/fault injection ([`sim::Sim`]) and the control socket of
//! the `carekiosk-card-sim` binary ([`control`]). One process (or one [`sim::Sim`]) per card; each vpcd port is one
//! reader, so two cards in two readers at once is two processes.
//!
//! It must not be used as a real patient's card, talk to the chain, or log PINs or key material; it must not
//! depend on the kiosk's `carekiosk-card` crate (the point is that an independent client drives it).

pub mod apdu;
pub mod card;
pub mod control;
pub mod sim;
pub mod state;
pub mod tlv;

pub use card::{Applet, AppletOptions};
pub use sim::{Fault, InsMatch, Sim, SimConfig, SimStatus, VPCD_PORT_0, VPCD_PORT_1};
pub use state::{CardState, Profile, StateError};
