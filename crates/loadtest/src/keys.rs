//! The load run's kiosk keys, in the OS keyring: each kiosk its own signing and database key (slot
//! `load-<role>-<n>`), each institution one record key shared by its kiosks (slot `load`).

use alloy::primitives::B256;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_kiosk::kiosk::KioskKeys;
use carekiosk_kiosk::KioskRole;
use carekiosk_records::SoftKey;
use carekiosk_wallet::{KeyKind, Wallet};

use crate::LoadError;

/// Keyring profile of the institutions' record keys.
pub const RECORD_SLOT: &str = "load";

/// The keyring slot of kiosk `n` of `role`.
pub fn slot(role: KioskRole, n: usize) -> String {
    format!("load-{}-{n}", role.as_str())
}

/// Loads (generating when missing) the keys of the kiosk in `slot`.
pub fn kiosk_keys(slot: &str, role: KioskRole) -> Result<KioskKeys, LoadError> {
    let wallet = Wallet::open()?;
    let signing = wallet
        .signing_key(slot, role.as_str())?
        .generate_or_load()?;
    let signer = PrivateKeySigner::from_bytes(&B256::from(*signing.secret_bytes()))
        .map_err(|e| LoadError::SigningKey(e.to_string()))?;
    let record = wallet
        .record_key(RECORD_SLOT, role.institution_slot())?
        .generate_or_load()?;
    let record_key = SoftKey::from_bytes(record.secret_bytes())?;
    let db = wallet
        .database_key(slot, role.as_str())?
        .generate_or_load()?;
    Ok(KioskKeys {
        signer,
        record_key,
        database_key: *db.secret_bytes(),
        // The load run does not exercise emergency reads.
        emergency_key: None,
    })
}

/// The kiosk's secrets as hex (signing, record and database keys), for the log scan.
pub fn secrets_hex(slot: &str, role: KioskRole) -> Result<Vec<String>, LoadError> {
    let wallet = Wallet::open()?;
    let signing = wallet.signing_key(slot, role.as_str())?.load()?;
    let record = wallet
        .record_key(RECORD_SLOT, role.institution_slot())?
        .load()?;
    let db = wallet.database_key(slot, role.as_str())?.load()?;
    Ok(vec![
        alloy::hex::encode(signing.secret_bytes()),
        alloy::hex::encode(record.secret_bytes()),
        alloy::hex::encode(db.secret_bytes()),
    ])
}
