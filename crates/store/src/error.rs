//! The store's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `carekiosk-store`. Each message says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key does not open the file, or the file is not a carekiosk database.
    #[error(
        "wrong database key or not a carekiosk database: {path} (use the database key kept in this kiosk's OS \
         keyring, or move the file aside to start a fresh cache)"
    )]
    WrongKeyOrForeign {
        /// The database file.
        path: PathBuf,
    },
    /// The file could not be opened or created.
    #[error("cannot open the kiosk database {path}: {source} (check that the directory exists and is writable)")]
    Open {
        /// The database file.
        path: PathBuf,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
    /// The linked SQLite has no SQLCipher, so the file would not be encrypted.
    #[error(
        "this build's SQLite has no SQLCipher, refusing to store data unencrypted: build rusqlite with the \
         `bundled-sqlcipher` feature (as carekiosk-store's Cargo.toml does) and do not link another libsqlite3"
    )]
    NoSqlcipher,
    /// The file was written by a newer carekiosk.
    #[error(
        "the kiosk database is at schema v{found}, newer than this build knows (v{supported}): upgrade carekiosk \
         (schema migrations only go forward)"
    )]
    NewerSchema {
        /// The file's `user_version`.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A schema migration failed; it was rolled back and the file is still at the previous version.
    #[error(
        "schema migration to v{version} failed and was rolled back: {source} (report this bug; the file is \
         unchanged)"
    )]
    Migration {
        /// The migration that failed.
        version: i64,
        /// SQLite's reason.
        #[source]
        source: rusqlite::Error,
    },
    /// An outbox transition that the state machine forbids.
    #[error("outbox entry {id} is {from}: it cannot become {to} ({hint})")]
    InvalidTransition {
        /// The outbox row.
        id: i64,
        /// Its current state.
        from: &'static str,
        /// The requested state.
        to: &'static str,
        /// What to do instead.
        hint: &'static str,
    },
    /// An idempotency key reused for a different write.
    #[error(
        "idempotency key {key:?} is already used by a different outbox entry ({kind}): use a new key for a \
         different write, or the same kind and payload to get the existing entry back"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The kind of the existing entry.
        kind: String,
    },
    /// No outbox row with this id.
    #[error("no outbox entry {id}: list the pending entries with `pending()`")]
    NoSuchOutboxEntry {
        /// The id asked for.
        id: i64,
    },
    /// The database is bound to another chain.
    #[error(
        "this kiosk database indexes chain {bound}, not chain {asked}: use one database file per chain \
         (per profile)"
    )]
    WrongChain {
        /// The chain the file is bound to.
        bound: u64,
        /// The chain asked for.
        asked: u64,
    },
    /// A stored value that does not fit its type (corruption or a bug).
    #[error(
        "unexpected value in {what}: the database may be damaged; run `integrity_check()` and rebuild the cache \
         from the chain if it fails"
    )]
    Corrupt {
        /// Which column or value.
        what: &'static str,
    },
    /// `PRAGMA integrity_check` reported problems.
    #[error(
        "database integrity check failed: {report} (move the file aside; the kiosk rebuilds its cache from the \
         chain, but unsent outbox entries in it need attention)"
    )]
    Integrity {
        /// SQLite's report.
        report: String,
    },
    /// An outbox payload that is not valid JSON.
    #[error("outbox payload is not valid JSON: {0} (this is a bug in the caller)")]
    Json(#[from] serde_json::Error),
    /// Any other SQLite error.
    #[error("kiosk database error: {0} (retry; if it persists, run `integrity_check()`)")]
    Sqlite(#[from] rusqlite::Error),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
