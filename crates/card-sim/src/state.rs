//! The virtual card's persistent memory: what a real card keeps in its EEPROM — keys, PIN reference data and
//! counters, data objects — saved as a JSON file so a patient's card survives a restart of the simulator.
//!
//! **The file is the simulated card's own secure storage.** It holds the card's P-256 private keys in the clear
//! and salted SHA-256 digests of its PINs. It is for tests and demos only, is written with mode 0600, and says so
//! in its `_warning` field. Nothing from it is ever logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The warning written at the top of every state file.
pub const STATE_WARNING: &str =
    "SIMULATED OPENPGP CARD STORAGE: this file is the virtual card's own memory and holds \
its private keys and PIN digests. For tests and demos only; never use it for a real patient.";

/// Default user PIN (PW1) of a blank card, as on real OpenPGP cards.
pub const DEFAULT_PW1: &str = "123456";
/// Default admin PIN (PW3) of a blank card.
pub const DEFAULT_PW3: &str = "12345678";
/// Tries a PIN gets before it blocks.
pub const MAX_TRIES: u8 = 3;
/// Shortest user PIN the card accepts.
pub const PW1_MIN: usize = 6;
/// Shortest admin PIN (and resetting code) the card accepts.
pub const PW3_MIN: usize = 8;
/// Longest PIN the card accepts (announced in the PW status bytes).
pub const PW_MAX: usize = 127;

/// Errors loading or saving the state file.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing the file failed.
    #[error("card state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a card state.
    #[error("card state file {path} is not valid: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

mod hexbytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// What kind of card the simulator plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// An OpenPGP card 3.4.
    #[default]
    Openpgp,
    /// A card without the OpenPGP application (answers SELECT with `6A82`): a bank card, a health insurance card.
    NotOpenpgp,
}

/// A PIN's reference data and retry counter.
#[derive(Clone, Serialize, Deserialize)]
pub struct PinRecord {
    /// Random salt.
    #[serde(with = "hexbytes")]
    pub salt: Vec<u8>,
    /// SHA-256(salt || PIN).
    #[serde(with = "hexbytes")]
    pub digest: Vec<u8>,
    /// The PIN's length (the card needs it to split old and new PIN in CHANGE REFERENCE DATA).
    pub len: usize,
    /// Tries left.
    pub tries: u8,
}

impl std::fmt::Debug for PinRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinRecord")
            .field("tries", &self.tries)
            .finish_non_exhaustive()
    }
}

impl PinRecord {
    /// Reference data for `pin`, with a full counter.
    pub fn new(pin: &[u8]) -> PinRecord {
        let mut salt = vec![0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut salt);
        let digest = Self::hash(&salt, pin);
        PinRecord {
            salt,
            digest,
            len: pin.len(),
            tries: MAX_TRIES,
        }
    }

    fn hash(salt: &[u8], pin: &[u8]) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(salt);
        h.update(pin);
        h.finalize().to_vec()
    }

    /// Whether `pin` matches (constant-time comparison of the digests).
    pub fn matches(&self, pin: &[u8]) -> bool {
        let d = Self::hash(&self.salt, pin);
        d.len() == self.digest.len()
            && d.iter()
                .zip(&self.digest)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// One key slot.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeySlot {
    /// The P-256 private scalar (32 bytes). **Secret**: the card's own key.
    #[serde(with = "hexbytes")]
    pub secret: Vec<u8>,
    /// 1 = generated on the card, 2 = imported (DO DE key status).
    pub origin: u8,
}

impl std::fmt::Debug for KeySlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySlot")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// Key slot numbers, in the card's order (signature, decryption, authentication).
pub const SIG: usize = 0;
/// Decryption slot.
pub const DEC: usize = 1;
/// Authentication slot.
pub const AUT: usize = 2;

/// The whole persistent state of one virtual card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardState {
    /// See [`STATE_WARNING`].
    #[serde(rename = "_warning")]
    pub warning: String,
    /// Format version (1).
    pub version: u32,
    /// Which card this is.
    #[serde(default)]
    pub profile: Profile,
    /// Manufacturer id in the AID (0xFFFF: test card).
    pub manufacturer: u16,
    /// Serial number in the AID.
    pub serial: u32,
    /// The application is in termination state (after TERMINATE DF, until ACTIVATE FILE).
    pub terminated: bool,
    /// User PIN.
    pub pw1: PinRecord,
    /// Admin PIN.
    pub pw3: PinRecord,
    /// Resetting code, when set.
    pub rc: Option<PinRecord>,
    /// PW1 stays valid for several PSO:CDS (`false`: one signature per VERIFY).
    pub pw1_cds_multi: bool,
    /// Keys by slot (signature, decryption, authentication).
    pub keys: [Option<KeySlot>; 3],
    /// Algorithm attributes by slot (C1, C2, C3).
    pub algo: [HexBytes; 3],
    /// Key fingerprints by slot (20 bytes each, zero when unset).
    pub fingerprints: [HexBytes; 3],
    /// CA fingerprints (20 bytes each).
    pub ca_fingerprints: [HexBytes; 3],
    /// Key generation times by slot.
    pub gen_times: [u32; 3],
    /// Cardholder name (5B), ISO 8859-1.
    pub name: HexBytes,
    /// Language preferences (5F2D).
    pub lang: HexBytes,
    /// Sex (5F35), ISO 5218.
    pub sex: u8,
    /// URL (5F50).
    pub url: HexBytes,
    /// Login data (5E).
    pub login: HexBytes,
    /// Private-use DOs 0101–0104.
    pub private_use: [HexBytes; 4],
    /// Digital signature counter.
    pub sig_count: u32,
}

/// Bytes stored as a hex string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HexBytes(#[serde(with = "hexbytes")] pub Vec<u8>);

/// The P-256 OID (1.2.840.10045.3.1.7) as it appears in algorithm attributes.
pub const P256_OID: [u8; 8] = [0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// Algorithm id for ECDSA.
pub const ALGO_ECDSA: u8 = 0x13;
/// Algorithm id for ECDH.
pub const ALGO_ECDH: u8 = 0x12;

/// Default algorithm attributes for a slot: ECDSA P-256 (SIG, AUT), ECDH P-256 (DEC).
pub fn default_algo(slot: usize) -> Vec<u8> {
    let mut v = vec![if slot == DEC { ALGO_ECDH } else { ALGO_ECDSA }];
    v.extend_from_slice(&P256_OID);
    v
}

impl CardState {
    /// A blank card: default PINs, no keys, no data, a random serial (or `serial`).
    pub fn blank(profile: Profile, serial: Option<u32>) -> CardState {
        let serial = serial.unwrap_or_else(|| rand_core::RngCore::next_u32(&mut rand_core::OsRng));
        CardState {
            warning: STATE_WARNING.to_string(),
            version: 1,
            profile,
            manufacturer: 0xFFFF,
            serial,
            terminated: false,
            pw1: PinRecord::new(DEFAULT_PW1.as_bytes()),
            pw3: PinRecord::new(DEFAULT_PW3.as_bytes()),
            rc: None,
            pw1_cds_multi: false,
            keys: [None, None, None],
            algo: [
                HexBytes(default_algo(SIG)),
                HexBytes(default_algo(DEC)),
                HexBytes(default_algo(AUT)),
            ],
            fingerprints: [
                HexBytes(vec![0; 20]),
                HexBytes(vec![0; 20]),
                HexBytes(vec![0; 20]),
            ],
            ca_fingerprints: [
                HexBytes(vec![0; 20]),
                HexBytes(vec![0; 20]),
                HexBytes(vec![0; 20]),
            ],
            gen_times: [0; 3],
            name: HexBytes::default(),
            lang: HexBytes::default(),
            sex: 0x39,
            url: HexBytes::default(),
            login: HexBytes::default(),
            private_use: Default::default(),
            sig_count: 0,
        }
    }

    /// Back to factory state (ACTIVATE FILE after TERMINATE DF), keeping the card's identity.
    pub fn factory_reset(&mut self) {
        let fresh = CardState::blank(self.profile, Some(self.serial));
        *self = CardState {
            manufacturer: self.manufacturer,
            ..fresh
        };
    }

    /// Loads a state file.
    pub fn load(path: &Path) -> Result<CardState, StateError> {
        let text = std::fs::read_to_string(path).map_err(|source| StateError::Io {
            path: path.into(),
            source,
        })?;
        let state: CardState = serde_json::from_str(&text).map_err(|e| StateError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        if state.version != 1 {
            return Err(StateError::Invalid {
                path: path.into(),
                message: format!("version {}", state.version),
            });
        }
        Ok(state)
    }

    /// Loads `path`, or creates a blank card there when it does not exist.
    pub fn load_or_create(
        path: &Path,
        profile: Profile,
        serial: Option<u32>,
    ) -> Result<CardState, StateError> {
        if path.exists() {
            return CardState::load(path);
        }
        let s = CardState::blank(profile, serial);
        s.save(path)?;
        Ok(s)
    }

    /// Saves atomically (temporary file, fsync, rename), mode 0600.
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let io = |source| StateError::Io {
            path: path.into(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| StateError::Invalid {
            path: path.into(),
            message: e.to_string(),
        })?;
        let tmp = path.with_extension("tmp");
        {
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }
}
