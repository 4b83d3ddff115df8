//! # carekiosk-wallet — the kiosk's secrets in the OS keyring
//!
//! **Owns** the three secrets a kiosk holds, each 32 bytes, kept only in the platform's credential store (Secret
//! Service on Linux — gnome-keyring or KWallet —, Keychain on macOS, Credential Manager on Windows, through
//! `keyring-core` and the store crates the `keyring` crate itself uses):
//! - the kiosk's secp256k1 **signing key** ([`SigningKey`], with its Ethereum address),
//! - the institution's P-256 **record-encryption key** ([`RecordKey`], with its public key),
//! - the **database key** of the kiosk's encrypted SQLite file ([`DatabaseKey`]).
//!
//! Each lives under service `carekiosk`, account `<profile>/<role>/<signing-key|record-key|db-key>`, stored as 64
//! lower-case hex characters (text, so KWallet can hold it too).
//!
//! **Must not**: write a key anywhere but the OS keyring (no files, no environment, no logs), print one (every key
//! type's `Debug` is redacted and errors never carry key material), fall back to a file or an in-memory store
//! when no keyring is reachable (it fails with [`WalletError::NoKeyring`] instead), or know about the chain,
//! cards or the database beyond handing out the bytes. Key bytes live in memory wiped on drop (`zeroize`).
//!
//! Calls are blocking D-Bus round trips (~1 ms each on Linux); from async code use `spawn_blocking`.
//!
//! ```no_run
//! use carekiosk_wallet::Wallet;
//! let wallet = Wallet::open()?;
//! let key = wallet.signing_key("local", "hospital")?.generate_or_load()?;
//! println!("kiosk address {}", key.address_checksummed());
//! let db_key = wallet.database_key("local", "hospital")?.generate_or_load()?;
//! # Ok::<(), carekiosk_wallet::WalletError>(())
//! ```
//!
//! On a headless Linux kiosk (and in the tests) a Secret Service runs in a D-Bus session:
//! `dbus-run-session -- sh -c 'echo -n "$PW" | gnome-keyring-daemon --unlock --components=secrets; carekiosk …'`
//! (`scripts/with-keyring.sh` does exactly this for the tests).

mod error;
mod keys;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use keyring_core::{api::CredentialStore, Entry, Error as KeyringError};
use zeroize::Zeroizing;

pub use error::{Result, WalletError};
pub use keys::{checksum_address, DatabaseKey, KeyKind, RecordKey, SigningKey, StaffCode};

/// The keyring service all carekiosk entries live under.
pub const SERVICE: &str = "carekiosk";

/// A handle on the OS keyring. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Wallet {
    store: Arc<CredentialStore>,
}

impl fmt::Debug for Wallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wallet")
            .field("store", &self.store.vendor())
            .finish()
    }
}

impl Wallet {
    /// Connects to the platform's credential store and checks that it answers.
    ///
    /// Fails with [`WalletError::NoKeyring`] when none is reachable (e.g. no D-Bus session or no Secret Service
    /// on Linux), and [`WalletError::Locked`] when it is locked.
    pub fn open() -> Result<Wallet> {
        let store = platform_store().map_err(|e| WalletError::NoKeyring {
            detail: e.to_string(),
        })?;
        let wallet = Wallet { store };
        // One lookup, so an unusable keyring shows now rather than on the first key.
        let probe = wallet.entry(&format!("{SERVICE}-probe"))?;
        match probe.get_password() {
            Ok(mut s) => zeroize::Zeroize::zeroize(&mut s),
            Err(KeyringError::NoEntry) => {}
            Err(KeyringError::PlatformFailure(e)) => {
                return Err(WalletError::NoKeyring {
                    detail: e.to_string(),
                })
            }
            Err(e) => return Err(map_err(e, "probe", "keyring probe")),
        }
        tracing::debug!(store = %wallet.store.vendor(), "OS keyring open");
        Ok(wallet)
    }

    /// The kiosk's signing key for `role` under `profile`.
    pub fn signing_key(&self, profile: &str, role: &str) -> Result<Slot<'_, SigningKey>> {
        self.slot(profile, role)
    }

    /// The institution's record-encryption key for `role` under `profile`.
    pub fn record_key(&self, profile: &str, role: &str) -> Result<Slot<'_, RecordKey>> {
        self.slot(profile, role)
    }

    /// The database key for `role` under `profile`.
    pub fn database_key(&self, profile: &str, role: &str) -> Result<Slot<'_, DatabaseKey>> {
        self.slot(profile, role)
    }

    /// The slot of any key kind.
    pub fn slot<K: KeyKind>(&self, profile: &str, role: &str) -> Result<Slot<'_, K>> {
        check_name("profile", profile)?;
        check_name("role", role)?;
        Ok(Slot {
            wallet: self,
            account: format!("{profile}/{role}/{}", K::SUFFIX),
            kind: PhantomData,
        })
    }

    fn entry(&self, account: &str) -> Result<Entry> {
        let label = format!("{SERVICE} {account}");
        Entry::new_in_store_with_modifiers(&self.store, SERVICE, account, &modifiers(&label))
            .map_err(|e| map_err(e, "entry", account))
    }
}

/// The Secret Service store takes a human-readable label (shown by seahorse); the others take no modifiers.
#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn modifiers(label: &str) -> std::collections::HashMap<&str, &str> {
    [("label", label)].into_iter().collect()
}

#[cfg(not(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
)))]
fn modifiers(_label: &str) -> std::collections::HashMap<&str, &str> {
    std::collections::HashMap::new()
}

/// One key's place in the keyring (`<profile>/<role>/<kind>`), from [`Wallet::signing_key`] and friends.
pub struct Slot<'w, K> {
    wallet: &'w Wallet,
    account: String,
    kind: PhantomData<fn() -> K>,
}

impl<K> fmt::Debug for Slot<'_, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("account", &self.account)
            .finish()
    }
}

impl<K: KeyKind> Slot<'_, K> {
    /// The keyring account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The stored key, or a new random one stored first.
    ///
    /// Two processes racing on an empty slot could each store a key; the one written last wins and is what both
    /// return afterwards on `load` — generate keys once, at provisioning, not concurrently.
    pub fn generate_or_load(&self) -> Result<K> {
        if let Some(k) = self.try_load()? {
            return Ok(k);
        }
        let key = K::generate();
        self.write(&key)?;
        let stored = self.load()?;
        if stored.secret_bytes() != key.secret_bytes() {
            tracing::warn!(account = %self.account, "another process stored this key at the same time; using its");
        }
        tracing::info!(account = %self.account, what = K::WHAT, "generated a new key in the OS keyring");
        Ok(stored)
    }

    /// Stores a key given as 64 hex digits (optionally `0x`-prefixed). Importing the key already there is a no-op;
    /// a different key already there is a [`WalletError::Conflict`] (delete it first).
    pub fn import_hex(&self, hex: &str) -> Result<K> {
        let bytes = keys::parse_hex_key(K::WHAT, hex)?;
        self.import(K::from_secret(bytes)?)
    }

    /// Stores a key; same rules as [`Slot::import_hex`].
    pub fn import(&self, key: K) -> Result<K> {
        match self.try_load()? {
            Some(existing) if existing.secret_bytes() == key.secret_bytes() => return Ok(existing),
            Some(_) => {
                return Err(WalletError::Conflict {
                    what: K::WHAT,
                    account: self.account.clone(),
                })
            }
            None => {}
        }
        self.write(&key)?;
        tracing::info!(account = %self.account, what = K::WHAT, "imported a key into the OS keyring");
        self.load()
    }

    /// The stored key; [`WalletError::NotFound`] if there is none.
    pub fn load(&self) -> Result<K> {
        self.try_load()?.ok_or_else(|| WalletError::NotFound {
            what: K::WHAT,
            account: self.account.clone(),
        })
    }

    /// The stored key, if any.
    pub fn try_load(&self) -> Result<Option<K>> {
        let entry = self.wallet.entry(&self.account)?;
        let text = match entry.get_password() {
            Ok(s) => Zeroizing::new(s),
            Err(KeyringError::NoEntry) => return Ok(None),
            Err(e) => return Err(map_err(e, K::WHAT, &self.account)),
        };
        let corrupt = || WalletError::Corrupt {
            what: K::WHAT,
            account: self.account.clone(),
        };
        let bytes = keys::parse_hex_key(K::WHAT, &text).map_err(|_| corrupt())?;
        K::from_secret(bytes).map(Some).map_err(|_| corrupt())
    }

    /// Deletes the stored key; `Ok(false)` if there was none. A signing key registered on chain is gone for good.
    pub fn delete(&self) -> Result<bool> {
        let entry = self.wallet.entry(&self.account)?;
        match entry.delete_credential() {
            Ok(()) => {
                tracing::warn!(account = %self.account, what = K::WHAT, "deleted a key from the OS keyring");
                Ok(true)
            }
            Err(KeyringError::NoEntry) => Ok(false),
            Err(e) => Err(map_err(e, K::WHAT, &self.account)),
        }
    }

    fn write(&self, key: &K) -> Result<()> {
        let entry = self.wallet.entry(&self.account)?;
        let hex = keys::secret_hex(key.secret_bytes());
        entry
            .set_password(&hex)
            .map_err(|e| map_err(e, K::WHAT, &self.account))
    }
}

/// Maps a keyring error to ours, dropping any payload that could hold secret bytes.
fn map_err(e: KeyringError, what: &'static str, account: &str) -> WalletError {
    match e {
        KeyringError::NoStorageAccess(detail) => WalletError::Locked {
            detail: detail.to_string(),
        },
        KeyringError::NoEntry => WalletError::NotFound {
            what,
            account: account.to_owned(),
        },
        KeyringError::BadEncoding(_) | KeyringError::BadDataFormat(..) => WalletError::Corrupt {
            what,
            account: account.to_owned(),
        },
        KeyringError::Ambiguous(items) => WalletError::Ambiguous {
            account: account.to_owned(),
            count: items.len(),
        },
        KeyringError::NoDefaultStore => WalletError::NoKeyring {
            detail: "no credential store".into(),
        },
        KeyringError::PlatformFailure(detail) => WalletError::Keyring {
            detail: detail.to_string(),
        },
        other => WalletError::Keyring {
            detail: match other {
                KeyringError::BadStoreFormat(r) => format!("store data is malformed: {r}"),
                KeyringError::TooLong(name, len) => {
                    format!("{name} is longer than the platform limit of {len}")
                }
                KeyringError::Invalid(attr, reason) => format!("{attr} is invalid: {reason}"),
                KeyringError::NotSupportedByStore(r) => format!("unsupported: {r}"),
                _ => "unexpected keyring error".into(),
            },
        },
    }
}

fn check_name(field: &'static str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(WalletError::InvalidName {
            field,
            value: value.to_owned(),
        })
    }
}

#[cfg(all(
    unix,
    not(any(target_os = "macos", target_os = "ios", target_os = "android"))
))]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(target_os = "windows")]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(windows_native_keyring_store::Store::new()?)
}

#[cfg(not(any(
    all(
        unix,
        not(any(target_os = "macos", target_os = "ios", target_os = "android"))
    ),
    target_os = "macos",
    target_os = "windows"
)))]
fn platform_store() -> keyring_core::Result<Arc<CredentialStore>> {
    Err(KeyringError::NotSupportedByStore(
        "no OS keyring support for this platform".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["local", "celo-sepolia", "a.b_c-1"] {
            check_name("profile", ok).unwrap();
        }
        for bad in ["", "a/b", "spa ce", "é", &"x".repeat(65)] {
            let err = check_name("role", bad).unwrap_err();
            assert!(
                matches!(err, WalletError::InvalidName { field: "role", .. }),
                "{err}"
            );
        }
    }

    #[test]
    fn no_keyring_message_is_the_documented_one() {
        let e = WalletError::NoKeyring { detail: "x".into() };
        assert!(e.to_string().starts_with(
            "no OS keyring: start a desktop session or gnome-keyring-daemon; see README"
        ));
    }
}
