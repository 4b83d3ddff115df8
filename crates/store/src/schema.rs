//! Schema migrations: `PRAGMA user_version` counts the migrations applied; each runs in its own transaction and
//! migrations only go forward (a file from a newer build is refused, never downgraded).

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Result, StoreError};

/// `PRAGMA application_id` of a carekiosk database ("CKIO").
pub(crate) const APPLICATION_ID: i64 = 0x434b_494f;

/// One forward migration: the SQL that takes the schema from `version - 1` to `version`.
pub(crate) struct Migration {
    pub version: i64,
    pub sql: &'static str,
}

/// Every migration, in order. Append only: never edit one that has shipped.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sql: V1,
    },
    Migration {
        version: 2,
        sql: V2,
    },
    Migration {
        version: 3,
        sql: V3,
    },
    Migration {
        version: 4,
        sql: V4,
    },
    Migration {
        version: 5,
        sql: V5,
    },
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 5;

/// Version 5: when a confirmed write's block was last reorged away (or, for a write refused while an earlier write
/// of this kiosk was off the chain, when that refusal came). Such a write may find what it needs (another kiosk's
/// write reorged away with it, or that earlier write) not yet back on the chain: a refusal then is tried again for
/// a while.
const V5: &str = r#"
ALTER TABLE outbox ADD COLUMN reorged_at INTEGER;
"#;

/// Version 4: every transaction sent for an outbox entry (a replacement with a higher fee, a resend after
/// a reorg) is kept with its signed bytes, so whichever of them lands is recognised and a dropped one is broadcast
/// again byte for byte; and a confirmed write records when its block became final (at or below `finalized`).
const V4: &str = r#"
ALTER TABLE outbox ADD COLUMN final_block INTEGER;
CREATE TABLE outbox_attempts (
    entry_id   INTEGER NOT NULL REFERENCES outbox (id),
    tx_hash    BLOB    NOT NULL UNIQUE CHECK (length(tx_hash) = 32),
    nonce      INTEGER NOT NULL,
    raw        BLOB,
    created_at INTEGER NOT NULL
);
CREATE INDEX outbox_attempts_entry ON outbox_attempts (entry_id);
INSERT INTO outbox_attempts (entry_id, tx_hash, nonce, raw, created_at)
  SELECT id, tx_hash, nonce, NULL, updated_at FROM outbox WHERE tx_hash IS NOT NULL AND nonce IS NOT NULL;
CREATE INDEX outbox_unfinal ON outbox (id) WHERE state = 'confirmed' AND final_block IS NULL;
"#;

/// Version 3: partial dispensing (status 4 and the parts of 10,000 handed out so far), every dispense
/// with its sealed record's hash, and claim decisions that wait for a second reviewer (status 5) with the hash of
/// their sealed ClaimResponse. SQLite cannot widen a CHECK: the two tables are rebuilt.
const V3: &str = r#"
CREATE TABLE prescriptions_v3 (
    id             INTEGER PRIMARY KEY,
    patient_id     BLOB    NOT NULL CHECK (length(patient_id) = 32),
    issuer         INTEGER NOT NULL,
    status         INTEGER NOT NULL CHECK (status IN (1, 2, 3, 4)),
    issued_at      INTEGER NOT NULL,
    valid_until    INTEGER NOT NULL,
    content_hash   BLOB    NOT NULL CHECK (length(content_hash) = 32),
    dispensed_by   INTEGER,
    block          INTEGER NOT NULL,
    tx_hash        BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    status_block   INTEGER,
    status_tx_hash BLOB CHECK (status_tx_hash IS NULL OR length(status_tx_hash) = 32),
    dispensed_bps  INTEGER NOT NULL DEFAULT 0 CHECK (dispensed_bps BETWEEN 0 AND 10000)
);
INSERT INTO prescriptions_v3 (id, patient_id, issuer, status, issued_at, valid_until, content_hash, dispensed_by,
    block, tx_hash, status_block, status_tx_hash, dispensed_bps)
  SELECT id, patient_id, issuer, status, issued_at, valid_until, content_hash, dispensed_by, block, tx_hash,
    status_block, status_tx_hash, CASE WHEN status = 2 THEN 10000 ELSE 0 END FROM prescriptions;
DROP TABLE prescriptions;
ALTER TABLE prescriptions_v3 RENAME TO prescriptions;
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, status, valid_until);
CREATE INDEX prescriptions_block ON prescriptions (block);

CREATE TABLE dispenses (
    block           INTEGER NOT NULL,
    log_index       INTEGER NOT NULL,
    prescription_id INTEGER NOT NULL,
    patient_id      BLOB    NOT NULL CHECK (length(patient_id) = 32),
    pharmacy        INTEGER NOT NULL,
    part            INTEGER NOT NULL CHECK (part BETWEEN 1 AND 10000),
    by_token        INTEGER NOT NULL CHECK (by_token IN (0, 1)),
    content_hash    BLOB    NOT NULL CHECK (length(content_hash) = 32),
    time            INTEGER NOT NULL,
    tx_hash         BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    PRIMARY KEY (block, log_index)
) WITHOUT ROWID;
CREATE INDEX dispenses_patient ON dispenses (patient_id);
CREATE INDEX dispenses_prescription ON dispenses (prescription_id);
CREATE INDEX dispenses_block ON dispenses (block);

CREATE TABLE claims_v3 (
    id              INTEGER PRIMARY KEY,
    patient_id      BLOB    NOT NULL CHECK (length(patient_id) = 32),
    hospital        BLOB    NOT NULL CHECK (length(hospital) = 20),
    insurer         BLOB    NOT NULL CHECK (length(insurer) = 20),
    claimed         BLOB    NOT NULL CHECK (length(claimed) = 32),
    approved        BLOB    NOT NULL CHECK (length(approved) = 32),
    status          INTEGER NOT NULL CHECK (status IN (1, 2, 3, 4, 5)),
    reason_code     INTEGER,
    content_hash    BLOB    NOT NULL CHECK (length(content_hash) = 32),
    block           INTEGER NOT NULL,
    tx_hash         BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    decided_block   INTEGER,
    decided_tx_hash BLOB CHECK (decided_tx_hash IS NULL OR length(decided_tx_hash) = 32),
    paid_block      INTEGER,
    paid_tx_hash    BLOB CHECK (paid_tx_hash IS NULL OR length(paid_tx_hash) = 32),
    response_hash   BLOB CHECK (response_hash IS NULL OR length(response_hash) = 32)
);
INSERT INTO claims_v3 (id, patient_id, hospital, insurer, claimed, approved, status, reason_code, content_hash,
    block, tx_hash, decided_block, decided_tx_hash, paid_block, paid_tx_hash)
  SELECT id, patient_id, hospital, insurer, claimed, approved, status, reason_code, content_hash, block, tx_hash,
    decided_block, decided_tx_hash, paid_block, paid_tx_hash FROM claims;
DROP TABLE claims;
ALTER TABLE claims_v3 RENAME TO claims;
CREATE INDEX claims_insurer ON claims (insurer, status, id);
CREATE INDEX claims_hospital ON claims (hospital, status, id);
CREATE INDEX claims_patient ON claims (patient_id, id);
CREATE INDEX claims_block ON claims (block);
"#;

/// Version 2 (the patient's access log): every chain event about a patient, in chain order, and the
/// emergency-read traces (which carry no patient id: the patient's kiosk finds its own with its trace key).
const V2: &str = r#"
CREATE TABLE patient_log (
    patient_id     BLOB    NOT NULL CHECK (length(patient_id) = 32),
    block          INTEGER NOT NULL,
    log_index      INTEGER NOT NULL,
    time           INTEGER NOT NULL,
    event          TEXT    NOT NULL,
    institution    BLOB CHECK (institution IS NULL OR length(institution) = 20),
    institution_id INTEGER,
    ref_id         INTEGER,
    scope          INTEGER,
    valid_until    INTEGER,
    amount         BLOB CHECK (amount IS NULL OR length(amount) = 32),
    tx_hash        BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    PRIMARY KEY (patient_id, block, log_index)
) WITHOUT ROWID;
CREATE INDEX patient_log_block ON patient_log (block);

CREATE TABLE emergency_traces (
    block     INTEGER NOT NULL,
    log_index INTEGER NOT NULL,
    time      INTEGER NOT NULL,
    hospital  BLOB    NOT NULL CHECK (length(hospital) = 20),
    tag       BLOB    NOT NULL CHECK (length(tag) = 32),
    note      BLOB    NOT NULL,
    tx_hash   BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    PRIMARY KEY (block, log_index)
) WITHOUT ROWID;
"#;

const V1: &str = r#"
PRAGMA application_id = 1129007439;

-- Key/value facts about this file (e.g. the chain it indexes).
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Indexer: the last block fully indexed per contract, with its hash for reorg detection.
CREATE TABLE indexer_cursors (
    chain_id   INTEGER NOT NULL,
    contract   BLOB    NOT NULL CHECK (length(contract) = 20),
    block      INTEGER NOT NULL CHECK (block >= 0),
    block_hash BLOB    NOT NULL CHECK (length(block_hash) = 32),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (chain_id, contract)
) WITHOUT ROWID;

-- Indexer: hashes of recent blocks, to find the fork point after a reorg.
CREATE TABLE block_hashes (
    chain_id INTEGER NOT NULL,
    number   INTEGER NOT NULL,
    hash     BLOB    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (chain_id, number)
) WITHOUT ROWID;

-- HospitalRecord.RecordAdded. Clustered on (patient_id, idx): a patient's history is one range scan.
CREATE TABLE record_headers (
    patient_id   BLOB    NOT NULL CHECK (length(patient_id) = 32),
    idx          INTEGER NOT NULL CHECK (idx >= 0),
    author       INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    time         INTEGER NOT NULL,
    supersedes   INTEGER,
    content_hash BLOB    NOT NULL CHECK (length(content_hash) = 32),
    chain_hash   BLOB    NOT NULL CHECK (length(chain_hash) = 20),
    block        INTEGER NOT NULL,
    tx_hash      BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    PRIMARY KEY (patient_id, idx)
) WITHOUT ROWID;
CREATE INDEX record_headers_block ON record_headers (block);

-- PharmacyAccess. status: 1 ready, 2 completed (dispensed), 3 cancelled.
CREATE TABLE prescriptions (
    id             INTEGER PRIMARY KEY,
    patient_id     BLOB    NOT NULL CHECK (length(patient_id) = 32),
    issuer         INTEGER NOT NULL,
    status         INTEGER NOT NULL CHECK (status IN (1, 2, 3)),
    issued_at      INTEGER NOT NULL,
    valid_until    INTEGER NOT NULL,
    content_hash   BLOB    NOT NULL CHECK (length(content_hash) = 32),
    dispensed_by   INTEGER,
    block          INTEGER NOT NULL,
    tx_hash        BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    status_block   INTEGER,
    status_tx_hash BLOB CHECK (status_tx_hash IS NULL OR length(status_tx_hash) = 32)
);
CREATE INDEX prescriptions_patient ON prescriptions (patient_id, status, valid_until);
CREATE INDEX prescriptions_block ON prescriptions (block);

-- InsuranceProvider. Amounts: 32-byte big-endian. status: 1 submitted, 2 approved, 3 denied, 4 paid.
CREATE TABLE claims (
    id              INTEGER PRIMARY KEY,
    patient_id      BLOB    NOT NULL CHECK (length(patient_id) = 32),
    hospital        BLOB    NOT NULL CHECK (length(hospital) = 20),
    insurer         BLOB    NOT NULL CHECK (length(insurer) = 20),
    claimed         BLOB    NOT NULL CHECK (length(claimed) = 32),
    approved        BLOB    NOT NULL CHECK (length(approved) = 32),
    status          INTEGER NOT NULL CHECK (status IN (1, 2, 3, 4)),
    reason_code     INTEGER,
    content_hash    BLOB    NOT NULL CHECK (length(content_hash) = 32),
    block           INTEGER NOT NULL,
    tx_hash         BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    decided_block   INTEGER,
    decided_tx_hash BLOB CHECK (decided_tx_hash IS NULL OR length(decided_tx_hash) = 32),
    paid_block      INTEGER,
    paid_tx_hash    BLOB CHECK (paid_tx_hash IS NULL OR length(paid_tx_hash) = 32)
);
CREATE INDEX claims_insurer ON claims (insurer, status, id);
CREATE INDEX claims_hospital ON claims (hospital, status, id);
CREATE INDEX claims_patient ON claims (patient_id, id);
CREATE INDEX claims_block ON claims (block);

-- PatientSmartCard consent events (history, so a reorg can restore the previous window) ...
CREATE TABLE consent_events (
    patient_id  BLOB    NOT NULL CHECK (length(patient_id) = 32),
    institution BLOB    NOT NULL CHECK (length(institution) = 20),
    block       INTEGER NOT NULL,
    log_index   INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,
    scope       INTEGER NOT NULL,
    tx_hash     BLOB    NOT NULL CHECK (length(tx_hash) = 32),
    PRIMARY KEY (patient_id, institution, block, log_index)
) WITHOUT ROWID;
CREATE INDEX consent_events_block ON consent_events (block);

-- ... and the current window per (patient, institution): the latest event.
CREATE TABLE consents (
    patient_id  BLOB    NOT NULL CHECK (length(patient_id) = 32),
    institution BLOB    NOT NULL CHECK (length(institution) = 20),
    valid_until INTEGER NOT NULL,
    scope       INTEGER NOT NULL,
    block       INTEGER NOT NULL,
    log_index   INTEGER NOT NULL,
    PRIMARY KEY (patient_id, institution)
) WITHOUT ROWID;
CREATE INDEX consents_valid_until ON consents (valid_until);

-- Decrypted content, kept only while the institution's consent window for the patient is open.
CREATE TABLE content_cache (
    id           INTEGER PRIMARY KEY,
    patient_id   BLOB    NOT NULL CHECK (length(patient_id) = 32),
    content_hash BLOB    NOT NULL CHECK (length(content_hash) = 32),
    institution  BLOB    NOT NULL CHECK (length(institution) = 20),
    plaintext    BLOB    NOT NULL,
    cached_at    INTEGER NOT NULL,
    UNIQUE (patient_id, content_hash)
);
CREATE INDEX content_cache_consent ON content_cache (patient_id, institution);

-- Every chain write: recorded first, then submitted, then confirmed.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    state           TEXT    NOT NULL CHECK (state IN ('queued', 'submitted', 'confirmed', 'failed')),
    tx_hash         BLOB CHECK (tx_hash IS NULL OR length(tx_hash) = 32),
    nonce           INTEGER,
    sender          BLOB CHECK (sender IS NULL OR length(sender) = 20),
    block           INTEGER,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX outbox_pending ON outbox (id) WHERE state IN ('queued', 'submitted');
CREATE INDEX outbox_tx_hash ON outbox (tx_hash) WHERE tx_hash IS NOT NULL;
CREATE INDEX outbox_sender_nonce ON outbox (sender, nonce) WHERE nonce IS NOT NULL;
CREATE INDEX outbox_block ON outbox (block) WHERE block IS NOT NULL;
"#;

/// Brings `conn` to the newest version in `migrations`; returns how many ran.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[Migration]) -> Result<usize> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let mut applied = 0;
    for m in migrations {
        // Each step re-reads the version inside its own write transaction, so two processes opening the same
        // new file cannot both apply a step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if current > latest {
            return Err(StoreError::NewerSchema {
                found: current,
                supported: latest,
            });
        }
        if current >= m.version {
            continue;
        }
        debug_assert_eq!(
            current + 1,
            m.version,
            "migrations must be numbered 1, 2, 3, …"
        );
        tx.execute_batch(m.sql)
            .and_then(|()| tx.pragma_update(None, "user_version", m.version))
            .map_err(|source| StoreError::Migration {
                version: m.version,
                source,
            })?;
        tx.commit().map_err(|source| StoreError::Migration {
            version: m.version,
            source,
        })?;
        tracing::info!(version = m.version, "kiosk database schema migrated");
        applied += 1;
    }
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > latest {
        return Err(StoreError::NewerSchema {
            found: current,
            supported: latest,
        });
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(c: &Connection) -> i64 {
        c.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn applies_in_order_once_and_only_forward() {
        let mut c = Connection::open_in_memory().unwrap();
        let steps = [
            Migration {
                version: 1,
                sql: "CREATE TABLE a (x INTEGER);",
            },
            Migration {
                version: 2,
                sql: "ALTER TABLE a ADD COLUMN y TEXT;",
            },
        ];
        assert_eq!(migrate(&mut c, &steps[..1]).unwrap(), 1);
        assert_eq!(version(&c), 1);
        assert_eq!(
            migrate(&mut c, &steps).unwrap(),
            1,
            "only the new step runs"
        );
        assert_eq!(version(&c), 2);
        assert_eq!(migrate(&mut c, &steps).unwrap(), 0);
        c.execute("INSERT INTO a (x, y) VALUES (1, 'z')", [])
            .unwrap();
        // An older build refuses the newer file.
        let err = migrate(&mut c, &steps[..1]).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: 2,
                    supported: 1
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn failed_step_rolls_back_whole() {
        let mut c = Connection::open_in_memory().unwrap();
        let steps = [
            Migration {
                version: 1,
                sql: "CREATE TABLE a (x INTEGER);",
            },
            Migration {
                version: 2,
                sql: "CREATE TABLE b (x INTEGER); CREATE TABLE a (x INTEGER);",
            },
        ];
        let err = migrate(&mut c, &steps).unwrap_err();
        assert!(
            matches!(err, StoreError::Migration { version: 2, .. }),
            "{err}"
        );
        assert_eq!(version(&c), 1);
        let b: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'b'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(b, 0, "the half-applied step left nothing behind");
    }

    #[test]
    fn application_id_matches_the_constant() {
        assert_eq!(APPLICATION_ID, 1_129_007_439);
        assert!(V1.contains(&format!("application_id = {APPLICATION_ID};")));
    }
}
