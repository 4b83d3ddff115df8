//! # carekiosk-store — the kiosk's local database
//!
//! **Owns** one SQLite file per kiosk (per profile/chain), encrypted at rest with SQLCipher: the indexer's cursors
//! and the tables it fills from contract events (record headers, prescriptions, claims, consents), the cache of
//! decrypted content (purged when the institution's consent window ends), and the **outbox** every chain write
//! goes through (queued → submitted → confirmed/failed, idempotent by key). Schema migrations are forward-only
//! (`PRAGMA user_version`), each in one transaction.
//!
//! **Must not**: talk to the chain, the card or the keyring; know how to decrypt anything; write its key or any
//! plaintext outside the encrypted file (temp storage is in memory); log a key or cached plaintext.
//!
//! ## Encryption
//! SQLCipher 4 (AES-256-CBC + HMAC-SHA512 per page, the WAL included) from rusqlite's `bundled-sqlcipher` feature,
//! linked to the system libcrypto (Debian: `apt-get install libssl-dev` to build, `libssl3` to run). The 32-byte
//! key comes from the OS keyring (`carekiosk-wallet`) and is handed to SQLCipher as a raw key (`x'…'`), so no
//! passphrase derivation runs on open. Build choice, measured on this 2-core machine, clean debug build of
//! rusqlite alone: `bundled-sqlcipher` with the system libcrypto **39 s**; `bundled-sqlcipher-vendored-openssl`
//! (compiles OpenSSL from source) **425 s**. We use the former.
//!
//! ## Durability
//! WAL journal, `synchronous = FULL` (a committed outbox entry survives a power cut, not just a crash), foreign
//! keys on, `temp_store = MEMORY`, `secure_delete` on (purged plaintext is overwritten inside the file, not just
//! unlinked). Every write is one `BEGIN IMMEDIATE` transaction: a process killed at any point leaves either the
//! whole transaction or none of it (see `tests/crash.rs`).
//!
//! ## Concurrency
//! [`Store`] is `Clone + Send + Sync` (an `Arc` inside): share it between tokio tasks and threads. It holds two
//! connections: one **writer** behind a mutex (SQLite has a single writer anyway; writes queue on the mutex) and
//! one **reader** behind another mutex, so a screen's query never waits for an indexer batch (WAL lets the reader
//! see the last committed state while a write is in progress). All methods are blocking and short (well under a
//! millisecond for single rows); call large [`Store::index_batch`] calls from `tokio::task::spawn_blocking`.
//! Other processes (the CLI beside the app) may open the same file: `busy_timeout` is 5 s.
//!
//! ## Values
//! Addresses and hashes are BLOBs of exactly 20/32 bytes (`[u8; 20]`/`[u8; 32]` in the API), amounts are 32-byte
//! big-endian BLOBs ([`Amount`]), times are unix seconds, block numbers and ids are SQLite integers (`u64` in the
//! API, refused above `i64::MAX`). A file indexes exactly one chain (bound by the first cursor written).

mod cache;
mod error;
mod index;
mod outbox;
mod schema;
mod types;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{
    Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use zeroize::Zeroizing;

pub use error::{Result, StoreError};
pub use index::IndexBatch;
pub use outbox::{Attempt, Enqueued, OutboxEntry, OutboxState};
pub use schema::SCHEMA_VERSION;
pub use types::{
    Address, Amount, CachedContent, ChainHash, Claim, ClaimStatus, ClaimSubmitted, Consent,
    ConsentChanged, Cursor, DispenseEvent, EmergencyTrace, EventRef, PatientEvent, Prescription,
    PrescriptionIssued, PrescriptionStatus, RecordAdded, RecordHeader, RewindReport, B256,
};

/// How long a statement waits for another process's write lock before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The kiosk's encrypted database. Cheap to clone; see the crate docs for concurrency.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the database at `path` with its 32-byte key: checks the key, enables WAL and foreign
    /// keys, and runs pending schema migrations.
    ///
    /// A wrong key, an unencrypted SQLite file or any other file gives [`StoreError::WrongKeyOrForeign`]; a file
    /// from a newer build gives [`StoreError::NewerSchema`].
    pub fn open(path: impl AsRef<Path>, key: &[u8; 32]) -> Result<Store> {
        let path = path.as_ref().to_path_buf();
        let mut writer = open_keyed(&path, key, false)?;
        let before: i64 = writer.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if before == 0 {
            let objects: i64 =
                writer.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
            if objects != 0 {
                return Err(StoreError::WrongKeyOrForeign { path });
            }
        }
        let applied = schema::migrate(&mut writer, schema::MIGRATIONS)?;
        let app_id: i64 = writer.query_row("PRAGMA application_id", [], |r| r.get(0))?;
        if app_id != schema::APPLICATION_ID {
            return Err(StoreError::WrongKeyOrForeign { path });
        }
        let reader = open_keyed(&path, key, true)?;
        tracing::info!(path = %path.display(), schema = schema::SCHEMA_VERSION, migrations_applied = applied,
            "kiosk database open");
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The file's schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
    }

    /// Runs `PRAGMA integrity_check`; `Ok(())` when SQLite answers `ok`.
    pub fn integrity_check(&self) -> Result<()> {
        let report = self.read(|c| {
            let mut st = c.prepare("PRAGMA integrity_check")?;
            let rows = st.query_map([], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
        })?;
        if report == "ok" {
            Ok(())
        } else {
            Err(StoreError::Integrity { report })
        }
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`), committed when `f` returns `Ok`.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.inner.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` on the read-only connection.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.inner.reader);
        f(&conn)
    }
}

/// A panic while a connection was locked rolled its transaction back (rusqlite's `Drop`), so the connection is
/// still usable.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Opens one connection, keys it and checks the key.
fn open_keyed(path: &Path, key: &[u8; 32], read_only: bool) -> Result<Connection> {
    initialise()?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let cipher: Option<String> = conn
        .query_row("PRAGMA cipher_version", [], |r| r.get(0))
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    if cipher.is_none() {
        return Err(StoreError::NoSqlcipher);
    }
    // SQLCipher would print its own decryption errors to stderr; we report them as `WrongKeyOrForeign`.
    conn.query_row("PRAGMA cipher_log_level = NONE", [], |_| Ok(()))
        .optional()?;
    set_key(&conn, key)?;
    // The first read of the schema decrypts page 1: this is where a wrong key shows.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => {}
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            return Err(StoreError::WrongKeyOrForeign {
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(e.into()),
    }
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    if read_only {
        conn.pragma_update(None, "query_only", true)?;
    } else {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(%mode, "kiosk database could not switch to WAL");
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Deleted content (purged plaintext, rewound rows) is overwritten, not just unlinked.
        conn.pragma_update(None, "secure_delete", true)?;
    }
    Ok(conn)
}

/// Initialises SQLite, and with it SQLCipher, once per process before any connection is opened. SQLite marks
/// itself initialised before it runs SQLCipher's set-up, so a second thread's first connection could be keyed in
/// between and refused (`SQLITE_ERROR`, no message): every thread here waits for the whole set-up instead.
fn initialise() -> Result<()> {
    static INIT: OnceLock<i32> = OnceLock::new();
    // SAFETY: `sqlite3_initialize` takes no arguments and may be called any number of times.
    let rc = *INIT.get_or_init(|| unsafe { rusqlite::ffi::sqlite3_initialize() });
    if rc != rusqlite::ffi::SQLITE_OK {
        return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rc), None).into());
    }
    Ok(())
}

/// Hands the raw 32-byte key to SQLCipher (`x'<64 hex>'`, no passphrase derivation). The hex copy is wiped.
fn set_key(conn: &Connection, key: &[u8; 32]) -> Result<()> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut spec = Zeroizing::new(Vec::with_capacity(67));
    spec.extend_from_slice(b"x'");
    for b in key {
        spec.push(HEX[usize::from(b >> 4)]);
        spec.push(HEX[usize::from(b & 0x0f)]);
    }
    spec.push(b'\'');
    // SAFETY: the handle is live for the borrow of `conn`; `spec` outlives the call, and SQLCipher copies the key.
    let rc = unsafe {
        rusqlite::ffi::sqlite3_key(
            conn.handle(),
            spec.as_ptr().cast(),
            i32::try_from(spec.len()).expect("67 bytes"),
        )
    };
    if rc != rusqlite::ffi::SQLITE_OK {
        return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rc), None).into());
    }
    Ok(())
}

/// Milliseconds since the Unix epoch: the clock every row's `created_at`/`updated_at` is written with.
pub fn now_ms() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
