//! carekiosk's side of the patient card: PC/SC readers and insertion/removal events, and the OpenPGP card 3.4
//! patient card itself — read (serial, name, patient object, public keys), PIN verify/change/unblock, signing a
//! 32-byte digest (low-s), ECDH, and issuing a blank card with keys generated on the card. It speaks to any real
//! OpenPGP card with P-256 (YubiKey 5, Nitrokey 3, SmartPGP) through the field's own client, `openpgp-card` over
//! `card-backend-pcsc`, and reports every failure as one [`CardError`] a screen can show.
//!
//! It must not log, store or keep a PIN beyond the call that uses it, must never see a private key (keys are made
//! on the card and stay there), and does not talk to the chain: callers turn its signatures into transactions.
//!
//! Logging: this crate logs through `tracing` and never a PIN. The `openpgp-card` client underneath logs raw
//! command APDUs through `log` at trace level, which for cards without command chaining includes VERIFY's PIN
//! bytes: never enable trace level for the `openpgp_card` target outside a developer's bench.
//!
//! Events arrive 200–400 ms after the fact (pcscd polls its readers): see [`CardMonitor`] and
//! [`wait_for_card`]. A command in flight when the card leaves the reader comes back with no status word and is
//! reported as [`CardError::CardRemoved`].

mod card;
mod data;
mod error;
mod events;
mod pin;
mod readers;
mod session;

pub use card::{
    Authentication, CardInfo, PatientCard, PatientInfo, PinTries, Provisioned, Provisioning,
};
pub use data::{
    decode_name, encode_name, parse_ecdh_secret, CardSignature, P256PublicKey, PatientObject,
    SharedSecret, EMERGENCY_DO, PATIENT_DO, PATIENT_OBJECT_VERSION,
};
pub use error::{status_word, CardError, NotPatientReason, PinKind};
pub use events::{CardEvent, CardMonitor};
pub use pin::{Pin, ADMIN_PIN_MIN, PIN_MAX, USER_PIN_MIN};
pub use readers::{
    find_reader, list_readers, wait_for_card, wait_for_removal, ReaderInfo, ReaderPattern,
};
pub use session::{CardSession, ProvisionRequest};
