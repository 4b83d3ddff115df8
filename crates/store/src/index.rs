//! The indexer's side: cursors, event tables, rewinding on a reorg, and the screens' queries.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::error::{Result, StoreError};
use crate::types::{
    Address, Amount, Claim, ClaimStatus, ClaimSubmitted, Consent, ConsentChanged, Cursor,
    DispenseEvent, EmergencyTrace, EventRef, Hex, PatientEvent, Prescription, PrescriptionIssued,
    PrescriptionStatus, RecordAdded, RecordHeader, RewindReport, B256,
};
use crate::{now_ms, Store};

/// One indexer transaction: apply any number of events and move cursors; all of it lands or none of it does.
///
/// Every method is idempotent (re-applying a block after a restart changes nothing). Status updates for an id
/// this database has never seen return `false` and change nothing.
pub struct IndexBatch<'a> {
    tx: &'a Transaction<'a>,
}

const RECORD_COLS: &str =
    "patient_id, idx, author, kind, time, supersedes, content_hash, chain_hash, block, tx_hash";
const PRESCRIPTION_COLS: &str =
    "id, patient_id, issuer, status, issued_at, valid_until, content_hash, \
     dispensed_by, block, tx_hash, status_block, status_tx_hash, dispensed_bps";
const CLAIM_COLS: &str =
    "id, patient_id, hospital, insurer, claimed, approved, status, reason_code, \
     content_hash, block, tx_hash, decided_block, decided_tx_hash, paid_block, paid_tx_hash, response_hash";

impl IndexBatch<'_> {
    /// `HospitalRecord.RecordAdded`.
    pub fn record_added(&mut self, ev: &RecordAdded, at: &EventRef) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO record_headers (patient_id, idx, author, kind, time, supersedes, content_hash, \
                 chain_hash, block, tx_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (patient_id, idx) DO UPDATE SET author = excluded.author, kind = excluded.kind,
                   time = excluded.time, supersedes = excluded.supersedes, content_hash = excluded.content_hash,
                   chain_hash = excluded.chain_hash, block = excluded.block, tx_hash = excluded.tx_hash",
            )?
            .execute(params![
                ev.patient_id,
                ev.index,
                ev.author,
                ev.kind,
                ev.time,
                ev.supersedes,
                ev.content_hash,
                ev.chain_hash,
                at.block,
                at.tx_hash
            ])?;
        Ok(())
    }

    /// `PharmacyAccess.PrescriptionIssued` (status Ready).
    pub fn prescription_issued(&mut self, ev: &PrescriptionIssued, at: &EventRef) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO prescriptions (id, patient_id, issuer, status, issued_at, valid_until, content_hash, \
                 block, tx_hash) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET patient_id = excluded.patient_id, issuer = excluded.issuer,
                   issued_at = excluded.issued_at, valid_until = excluded.valid_until,
                   content_hash = excluded.content_hash, block = excluded.block, tx_hash = excluded.tx_hash",
            )?
            .execute(params![
                ev.id,
                ev.patient_id,
                ev.issuer,
                ev.issued_at,
                ev.valid_until,
                ev.content_hash,
                at.block,
                at.tx_hash
            ])?;
        Ok(())
    }

    /// `PharmacyAccess.PrescriptionDispensed` by pharmacy institution id `pharmacy` (the whole prescription).
    pub fn prescription_dispensed(
        &mut self,
        id: u64,
        pharmacy: u32,
        at: &EventRef,
    ) -> Result<bool> {
        self.close_prescription(id, PrescriptionStatus::Completed, Some(pharmacy), at)
    }

    /// `PharmacyAccess.PrescriptionDispensed` of a part: the dispense is kept, the parts so far add up, and the
    /// prescription is partial until they reach 10,000 (completed).
    pub fn dispense(&mut self, ev: &DispenseEvent, at: &EventRef) -> Result<bool> {
        self.tx
            .prepare_cached(
                "INSERT INTO dispenses (block, log_index, prescription_id, patient_id, pharmacy, part, by_token,
                   content_hash, time, tx_hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (block, log_index) DO NOTHING",
            )?
            .execute(params![
                at.block,
                at.log_index,
                ev.prescription_id,
                ev.patient_id,
                ev.pharmacy,
                ev.part,
                ev.by_token,
                ev.content_hash,
                ev.time,
                at.tx_hash
            ])?;
        let n = self
            .tx
            .prepare_cached(
                "UPDATE prescriptions SET
                   dispensed_bps = min(10000, (SELECT COALESCE(SUM(part), 0) FROM dispenses WHERE prescription_id = ?1)),
                   dispensed_by = ?2, status_block = ?3, status_tx_hash = ?4
                 WHERE id = ?1",
            )?
            .execute(params![ev.prescription_id, ev.pharmacy, at.block, at.tx_hash])?;
        self.tx
            .prepare_cached(
                "UPDATE prescriptions SET status = CASE WHEN dispensed_bps >= 10000 THEN 2 ELSE 4 END
                 WHERE id = ?1 AND status != 3",
            )?
            .execute([ev.prescription_id])?;
        unknown_id(n, "prescription", ev.prescription_id)
    }

    /// `InsuranceProvider.ClaimApprovalProposed`: waits for a second reviewer.
    pub fn claim_pending_second(&mut self, id: u64, at: &EventRef) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE claims SET status = 5, decided_block = ?2, decided_tx_hash = ?3 WHERE id = ?1 AND status = 1",
            )?
            .execute(params![id, at.block, at.tx_hash])?;
        Ok(n > 0)
    }

    /// The hash of a claim decision's sealed ClaimResponse (from `ClaimApproved` / `ClaimDenied`).
    pub fn claim_response(&mut self, id: u64, content_hash: &B256) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached("UPDATE claims SET response_hash = ?2 WHERE id = ?1")?
            .execute(params![id, content_hash])?;
        Ok(n > 0)
    }

    /// `PharmacyAccess.PrescriptionCancelled`.
    pub fn prescription_cancelled(&mut self, id: u64, at: &EventRef) -> Result<bool> {
        self.close_prescription(id, PrescriptionStatus::Cancelled, None, at)
    }

    fn close_prescription(
        &mut self,
        id: u64,
        status: PrescriptionStatus,
        by: Option<u32>,
        at: &EventRef,
    ) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE prescriptions SET status = ?2, dispensed_by = ?3, status_block = ?4, status_tx_hash = ?5
                 WHERE id = ?1",
            )?
            .execute(params![id, status as i64, by, at.block, at.tx_hash])?;
        unknown_id(n, "prescription", id)
    }

    /// `InsuranceProvider.ClaimSubmitted` (status Submitted).
    pub fn claim_submitted(&mut self, ev: &ClaimSubmitted, at: &EventRef) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO claims (id, patient_id, hospital, insurer, claimed, approved, status, content_hash, \
                 block, tx_hash) VALUES (?1, ?2, ?3, ?4, ?5, zeroblob(32), 1, ?6, ?7, ?8)
                 ON CONFLICT (id) DO UPDATE SET patient_id = excluded.patient_id, hospital = excluded.hospital,
                   insurer = excluded.insurer, claimed = excluded.claimed, content_hash = excluded.content_hash,
                   block = excluded.block, tx_hash = excluded.tx_hash",
            )?
            .execute(params![
                ev.id,
                ev.patient_id,
                ev.hospital,
                ev.insurer,
                ev.claimed.to_be_bytes(),
                ev.content_hash,
                at.block,
                at.tx_hash
            ])?;
        Ok(())
    }

    /// `InsuranceProvider.ClaimApproved` for `amount`.
    pub fn claim_approved(&mut self, id: u64, amount: Amount, at: &EventRef) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE claims SET status = 2, approved = ?2, reason_code = NULL, decided_block = ?3,
                   decided_tx_hash = ?4 WHERE id = ?1",
            )?
            .execute(params![id, amount.to_be_bytes(), at.block, at.tx_hash])?;
        unknown_id(n, "claim", id)
    }

    /// `InsuranceProvider.ClaimDenied` with `reason_code`.
    pub fn claim_denied(&mut self, id: u64, reason_code: u16, at: &EventRef) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE claims SET status = 3, approved = zeroblob(32), reason_code = ?2, decided_block = ?3,
                   decided_tx_hash = ?4 WHERE id = ?1",
            )?
            .execute(params![id, reason_code, at.block, at.tx_hash])?;
        unknown_id(n, "claim", id)
    }

    /// `InsuranceProvider.ClaimPaid` of `amount`.
    pub fn claim_paid(&mut self, id: u64, amount: Amount, at: &EventRef) -> Result<bool> {
        let n = self
            .tx
            .prepare_cached(
                "UPDATE claims SET status = 4, approved = ?2, paid_block = ?3, paid_tx_hash = ?4 WHERE id = ?1",
            )?
            .execute(params![id, amount.to_be_bytes(), at.block, at.tx_hash])?;
        unknown_id(n, "claim", id)
    }

    /// `PatientSmartCard.ConsentGranted` or `ConsentRevoked` (`valid_until == 0`). The current window is the latest
    /// event by (block, log index); the history is kept so a reorg can restore the window before.
    pub fn consent_changed(&mut self, ev: &ConsentChanged, at: &EventRef) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO consent_events (patient_id, institution, block, log_index, valid_until, scope, tx_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (patient_id, institution, block, log_index) DO UPDATE SET
                   valid_until = excluded.valid_until, scope = excluded.scope, tx_hash = excluded.tx_hash",
            )?
            .execute(params![
                ev.patient_id,
                ev.institution,
                at.block,
                at.log_index,
                ev.valid_until,
                ev.scope,
                at.tx_hash
            ])?;
        self.tx
            .prepare_cached(
                "INSERT INTO consents (patient_id, institution, valid_until, scope, block, log_index)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (patient_id, institution) DO UPDATE SET valid_until = excluded.valid_until,
                   scope = excluded.scope, block = excluded.block, log_index = excluded.log_index
                 WHERE (excluded.block, excluded.log_index) >= (consents.block, consents.log_index)",
            )?
            .execute(params![
                ev.patient_id,
                ev.institution,
                ev.valid_until,
                ev.scope,
                at.block,
                at.log_index
            ])?;
        Ok(())
    }

    /// One event about a patient, for their access log.
    pub fn patient_event(&mut self, ev: &PatientEvent, at: &EventRef) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO patient_log (patient_id, block, log_index, time, event, institution, institution_id,
                   ref_id, scope, valid_until, amount, tx_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (patient_id, block, log_index) DO NOTHING",
            )?
            .execute(params![
                ev.patient_id,
                at.block,
                at.log_index,
                ev.time,
                ev.event,
                ev.institution,
                ev.institution_id,
                ev.ref_id,
                ev.scope,
                ev.valid_until,
                ev.amount.map(|a| a.to_be_bytes().to_vec()),
                at.tx_hash
            ])?;
        Ok(())
    }

    /// The patient of a prescription or claim this database has seen (`table` is `prescriptions` or `claims`).
    pub fn patient_of(&mut self, table: &str, id: u64) -> Result<Option<B256>> {
        let sql = match table {
            "prescriptions" => "SELECT patient_id FROM prescriptions WHERE id = ?1",
            _ => "SELECT patient_id FROM claims WHERE id = ?1",
        };
        Ok(self
            .tx
            .prepare_cached(sql)?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    /// `AllConsentsRevoked` (the card's revoke-all, a loss report or a replacement): every consent of the
    /// patient ends, each as a revocation event (so a rewind rebuilds the same state).
    pub fn all_consents_revoked(&mut self, patient_id: &B256, at: &EventRef) -> Result<()> {
        let held: Vec<Address> = self
            .tx
            .prepare_cached(
                "SELECT institution FROM consents WHERE patient_id = ?1 AND valid_until > 0",
            )?
            .query_map([patient_id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for institution in held {
            self.consent_changed(
                &ConsentChanged {
                    patient_id: *patient_id,
                    institution,
                    valid_until: 0,
                    scope: 0,
                },
                at,
            )?;
        }
        Ok(())
    }

    /// `PatientSmartCard.EmergencyAccess`.
    pub fn emergency_trace(&mut self, ev: &EmergencyTrace, at: &EventRef) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO emergency_traces (block, log_index, time, hospital, tag, note, tx_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (block, log_index) DO NOTHING",
            )?
            .execute(params![at.block, at.log_index, ev.time, ev.hospital, ev.tag, ev.note, at.tx_hash])?;
        Ok(())
    }

    /// Remembers a block's hash (the indexer keeps the last few dozen to find a fork point after a reorg).
    pub fn block_hash(&mut self, chain_id: u64, number: u64, hash: &B256) -> Result<()> {
        self.bind_chain(chain_id)?;
        self.tx
            .prepare_cached(
                "INSERT INTO block_hashes (chain_id, number, hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (chain_id, number) DO UPDATE SET hash = excluded.hash",
            )?
            .execute(params![chain_id, number, hash])?;
        Ok(())
    }

    /// Moves the cursor of `contract` on `chain_id`. The first cursor binds the file to `chain_id`.
    pub fn set_cursor(&mut self, chain_id: u64, contract: &Address, cursor: &Cursor) -> Result<()> {
        self.bind_chain(chain_id)?;
        self.tx
            .prepare_cached(
                "INSERT INTO indexer_cursors (chain_id, contract, block, block_hash, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (chain_id, contract) DO UPDATE SET block = excluded.block,
                   block_hash = excluded.block_hash, updated_at = excluded.updated_at",
            )?
            .execute(params![
                chain_id,
                contract,
                cursor.block,
                cursor.block_hash,
                now_ms() / 1000
            ])?;
        Ok(())
    }

    /// Records the chain's `finalized` block number as the indexer last saw it on `chain_id`. It only moves
    /// forward: a node that answers with an older number (a lagging replica behind a load balancer) changes
    /// nothing. Returns the number now stored.
    pub fn set_finalized(&mut self, chain_id: u64, block: u64) -> Result<u64> {
        self.bind_chain(chain_id)?;
        let stored = meta_u64(self.tx, FINALIZED_KEY)?;
        let now = stored.map_or(block, |s| s.max(block));
        if stored != Some(now) {
            self.tx
                .prepare_cached(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )?
                .execute(params![FINALIZED_KEY, now.to_string()])?;
        }
        Ok(now)
    }

    fn bind_chain(&mut self, chain_id: u64) -> Result<()> {
        let bound: Option<String> = self
            .tx
            .prepare_cached("SELECT value FROM meta WHERE key = 'chain_id'")?
            .query_row([], |r| r.get(0))
            .optional()?;
        match bound {
            None => {
                self.tx
                    .prepare_cached("INSERT INTO meta (key, value) VALUES ('chain_id', ?1)")?
                    .execute([chain_id.to_string()])?;
                Ok(())
            }
            Some(v) => {
                let bound: u64 = v.parse().map_err(|_| StoreError::Corrupt {
                    what: "meta.chain_id",
                })?;
                if bound == chain_id {
                    Ok(())
                } else {
                    Err(StoreError::WrongChain {
                        bound,
                        asked: chain_id,
                    })
                }
            }
        }
    }
}

/// `meta` key of the chain's finalized block number, as the indexer last saw it.
const FINALIZED_KEY: &str = "finalized_block";

fn meta_u64(c: &Connection, key: &'static str) -> Result<Option<u64>> {
    let v: Option<String> = c
        .prepare_cached("SELECT value FROM meta WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?;
    v.map(|v| v.parse().map_err(|_| StoreError::Corrupt { what: "meta" }))
        .transpose()
}

fn unknown_id(changed: usize, what: &'static str, id: u64) -> Result<bool> {
    if changed == 0 {
        tracing::warn!(
            what,
            id,
            "event for an id this kiosk never indexed; ignored"
        );
    }
    Ok(changed != 0)
}

impl Store {
    /// Applies one batch of indexer events in a single transaction (commit when `f` returns `Ok`, nothing at all
    /// otherwise). Move the cursors inside the same batch, so events and cursor never disagree after a crash.
    pub fn index_batch<T>(&self, f: impl FnOnce(&mut IndexBatch<'_>) -> Result<T>) -> Result<T> {
        self.write(|tx| f(&mut IndexBatch { tx }))
    }

    /// The cursor of `contract` on `chain_id`, if the indexer has started.
    pub fn cursor(&self, chain_id: u64, contract: &Address) -> Result<Option<Cursor>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT block, block_hash FROM indexer_cursors WHERE chain_id = ?1 AND contract = ?2",
            )?
            .query_row(params![chain_id, contract], |r| {
                Ok(Cursor {
                    block: r.get(0)?,
                    block_hash: r.get(1)?,
                })
            })
            .optional()?)
        })
    }

    /// The chain this file indexes, once bound by the first cursor.
    pub fn chain_id(&self) -> Result<Option<u64>> {
        self.read(|c| {
            let v: Option<String> = c
                .query_row("SELECT value FROM meta WHERE key = 'chain_id'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            v.map(|v| {
                v.parse().map_err(|_| StoreError::Corrupt {
                    what: "meta.chain_id",
                })
            })
            .transpose()
        })
    }

    /// A block hash remembered by [`IndexBatch::block_hash`].
    pub fn block_hash(&self, chain_id: u64, number: u64) -> Result<Option<B256>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT hash FROM block_hashes WHERE chain_id = ?1 AND number = ?2",
            )?
            .query_row(params![chain_id, number], |r| r.get(0))
            .optional()?)
        })
    }

    /// The highest block at or below `number` whose hash is remembered, with that hash: where the indexer
    /// looks for the fork point after a reorg.
    pub fn block_hash_at_or_below(
        &self,
        chain_id: u64,
        number: u64,
    ) -> Result<Option<(u64, B256)>> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT number, hash FROM block_hashes WHERE chain_id = ?1 AND number <= ?2
                 ORDER BY number DESC LIMIT 1",
            )?
            .query_row(params![chain_id, number], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
        })
    }

    /// The chain's `finalized` block number as the indexer last saw it ([`IndexBatch::set_finalized`]), if it
    /// has seen one. Anything indexed at or below it (an event, a confirmed write's block) is final: no reorg
    /// can remove it.
    pub fn finalized_block(&self) -> Result<Option<u64>> {
        self.read(|c| meta_u64(c, FINALIZED_KEY))
    }

    /// Whether `block` is at or below the finalized block the indexer last saw.
    pub fn is_final(&self, block: u64) -> Result<bool> {
        Ok(self.finalized_block()?.is_some_and(|f| block <= f))
    }

    /// Forgets remembered block hashes below `below` (keep a window deeper than any reorg you expect).
    pub fn prune_block_hashes(&self, chain_id: u64, below: u64) -> Result<usize> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM block_hashes WHERE chain_id = ?1 AND number < ?2",
                params![chain_id, below],
            )?)
        })
    }

    /// After a reorg: undoes everything indexed after `block` (whose canonical hash is `block_hash`), in one
    /// transaction. Rows created after it are deleted; statuses changed after it are restored (prescriptions back
    /// to Ready, claims back to Approved/Submitted, consents back to the previous window); outbox entries confirmed
    /// after it go back to `submitted` so their transactions are looked up again; cursors past it move to it.
    pub fn rewind_to(&self, block: u64, block_hash: &B256) -> Result<RewindReport> {
        let report = self.write(|tx| {
            let mut r = RewindReport {
                records_deleted: tx.execute("DELETE FROM record_headers WHERE block > ?1", [block])?,
                prescriptions_deleted: tx.execute("DELETE FROM prescriptions WHERE block > ?1", [block])?,
                ..RewindReport::default()
            };
            r.prescriptions_reopened = tx.execute(
                "UPDATE prescriptions SET status = 1, dispensed_by = NULL, status_block = NULL,
                   status_tx_hash = NULL WHERE status_block > ?1",
                [block],
            )?;
            // Parts dispensed before the fork stay: the prescription is partial or completed by them alone.
            tx.execute("DELETE FROM dispenses WHERE block > ?1", [block])?;
            tx.execute(
                "UPDATE prescriptions SET dispensed_bps =
                   min(10000, (SELECT COALESCE(SUM(part), 0) FROM dispenses d WHERE d.prescription_id = prescriptions.id))",
                [],
            )?;
            tx.execute(
                "UPDATE prescriptions SET status = CASE WHEN dispensed_bps >= 10000 THEN 2 WHEN dispensed_bps > 0 THEN 4
                   ELSE 1 END WHERE status IN (1, 2, 4)",
                [],
            )?;
            r.claims_deleted = tx.execute("DELETE FROM claims WHERE block > ?1", [block])?;
            r.claims_reverted = tx.query_row(
                "SELECT count(*) FROM claims WHERE paid_block > ?1 OR decided_block > ?1",
                [block],
                |row| row.get(0),
            )?;
            // Paid only ever follows Approved: undo the payment first, then the decision if it is also past.
            tx.execute(
                "UPDATE claims SET status = 2, paid_block = NULL, paid_tx_hash = NULL WHERE paid_block > ?1",
                [block],
            )?;
            tx.execute(
                "UPDATE claims SET status = 1, approved = zeroblob(32), reason_code = NULL, decided_block = NULL,
                   decided_tx_hash = NULL, response_hash = NULL WHERE decided_block > ?1",
                [block],
            )?;
            r.consent_events_deleted = tx.execute("DELETE FROM consent_events WHERE block > ?1", [block])?;
            tx.execute("DELETE FROM patient_log WHERE block > ?1", [block])?;
            tx.execute("DELETE FROM emergency_traces WHERE block > ?1", [block])?;
            tx.execute("DELETE FROM consents WHERE block > ?1", [block])?;
            tx.execute(
                "INSERT INTO consents (patient_id, institution, valid_until, scope, block, log_index)
                 SELECT e.patient_id, e.institution, e.valid_until, e.scope, e.block, e.log_index
                 FROM consent_events e
                 WHERE NOT EXISTS (SELECT 1 FROM consents c
                                   WHERE c.patient_id = e.patient_id AND c.institution = e.institution)
                   AND NOT EXISTS (SELECT 1 FROM consent_events n
                                   WHERE n.patient_id = e.patient_id AND n.institution = e.institution
                                     AND (n.block, n.log_index) > (e.block, e.log_index))",
                [],
            )?;
            r.outbox_unconfirmed = tx.execute(
                "UPDATE outbox SET state = 'submitted', block = NULL, updated_at = ?2
                 WHERE state = 'confirmed' AND block > ?1 AND final_block IS NULL",
                params![block, now_ms()],
            )?;
            tx.execute("DELETE FROM block_hashes WHERE number > ?1", [block])?;
            tx.execute(
                "UPDATE indexer_cursors SET block = ?1, block_hash = ?2, updated_at = ?3 WHERE block > ?1",
                params![block, block_hash, now_ms() / 1000],
            )?;
            Ok(r)
        })?;
        tracing::info!(block, hash = %Hex(block_hash), ?report, "kiosk database rewound after a reorg");
        Ok(report)
    }

    /// A patient's record headers, in chain order (index 0 first).
    pub fn record_headers(&self, patient_id: &B256) -> Result<Vec<RecordHeader>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {RECORD_COLS} FROM record_headers WHERE patient_id = ?1 ORDER BY idx"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([patient_id], record_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// One record header.
    pub fn record_header(&self, patient_id: &B256, index: u64) -> Result<Option<RecordHeader>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {RECORD_COLS} FROM record_headers WHERE patient_id = ?1 AND idx = ?2"
            );
            Ok(c.prepare_cached(&sql)?
                .query_row(params![patient_id, index], record_from_row)
                .optional()?)
        })
    }

    /// How many record headers a patient has.
    pub fn record_count(&self, patient_id: &B256) -> Result<u64> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM record_headers WHERE patient_id = ?1")?
                    .query_row([patient_id], |r| r.get(0))?,
            )
        })
    }

    /// A patient's open prescriptions at `now` (unix seconds): Ready and `now <= valid_until`, oldest first.
    pub fn open_prescriptions(&self, patient_id: &B256, now: u64) -> Result<Vec<Prescription>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {PRESCRIPTION_COLS} FROM prescriptions
                 WHERE patient_id = ?1 AND status IN (1, 4) AND valid_until >= ?2 ORDER BY issued_at, id"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(params![patient_id, now], prescription_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .collect()
        })
    }

    /// All of a patient's prescriptions, by id.
    pub fn prescriptions_of(&self, patient_id: &B256) -> Result<Vec<Prescription>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {PRESCRIPTION_COLS} FROM prescriptions WHERE patient_id = ?1 ORDER BY id"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([patient_id], prescription_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .collect()
        })
    }

    /// One prescription.
    pub fn prescription(&self, id: u64) -> Result<Option<Prescription>> {
        self.read(|c| {
            let sql = format!("SELECT {PRESCRIPTION_COLS} FROM prescriptions WHERE id = ?1");
            c.prepare_cached(&sql)?
                .query_row([id], prescription_from_row)
                .optional()?
                .transpose()
        })
    }

    /// One claim.
    pub fn claim(&self, id: u64) -> Result<Option<Claim>> {
        self.read(|c| {
            let sql = format!("SELECT {CLAIM_COLS} FROM claims WHERE id = ?1");
            c.prepare_cached(&sql)?
                .query_row([id], claim_from_row)
                .optional()?
                .transpose()
        })
    }

    /// The insurer's queue: its claims in status Submitted, oldest first.
    pub fn insurer_queue(&self, insurer: &Address) -> Result<Vec<Claim>> {
        self.claims_for_insurer(insurer, ClaimStatus::Submitted)
    }

    /// The insurer's paid claims, oldest first.
    pub fn paid_claims(&self, insurer: &Address) -> Result<Vec<Claim>> {
        self.claims_for_insurer(insurer, ClaimStatus::Paid)
    }

    /// An insurer's claims in one status, by id.
    pub fn claims_for_insurer(&self, insurer: &Address, status: ClaimStatus) -> Result<Vec<Claim>> {
        self.claims_where("insurer = ?1 AND status = ?2", insurer, Some(status))
    }

    /// A hospital's claims in one status, by id.
    pub fn claims_for_hospital(
        &self,
        hospital: &Address,
        status: ClaimStatus,
    ) -> Result<Vec<Claim>> {
        self.claims_where("hospital = ?1 AND status = ?2", hospital, Some(status))
    }

    /// All claims about a patient, by id.
    pub fn claims_of_patient(&self, patient_id: &B256) -> Result<Vec<Claim>> {
        self.claims_where("patient_id = ?1", patient_id, None)
    }

    fn claims_where(
        &self,
        cond: &str,
        key: &[u8],
        status: Option<ClaimStatus>,
    ) -> Result<Vec<Claim>> {
        self.read(|c| {
            let sql = format!("SELECT {CLAIM_COLS} FROM claims WHERE {cond} ORDER BY id");
            let mut st = c.prepare_cached(&sql)?;
            let rows = match status {
                Some(s) => st
                    .query_map(params![key, s as i64], claim_from_row)?
                    .collect::<Vec<_>>(),
                None => st
                    .query_map(params![key], claim_from_row)?
                    .collect::<Vec<_>>(),
            };
            rows.into_iter().map(|r| r?).collect()
        })
    }

    /// The current consent `institution` holds for a patient (revoked: `valid_until == 0`).
    pub fn consent(&self, patient_id: &B256, institution: &Address) -> Result<Option<Consent>> {
        self.read(|c| consent_of(c, patient_id, institution))
    }

    /// Every event about a patient, in chain order.
    pub fn patient_log(&self, patient_id: &B256) -> Result<Vec<PatientEvent>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT patient_id, time, event, institution, institution_id, ref_id, scope, valid_until, amount,
                   block, log_index FROM patient_log WHERE patient_id = ?1 ORDER BY block, log_index",
            )?;
            let rows = st.query_map([patient_id], |r| {
                let amount: Option<Vec<u8>> = r.get(8)?;
                Ok(PatientEvent {
                    patient_id: r.get(0)?,
                    time: r.get(1)?,
                    event: r.get(2)?,
                    institution: r.get(3)?,
                    institution_id: r.get(4)?,
                    ref_id: r.get(5)?,
                    scope: r.get(6)?,
                    valid_until: r.get(7)?,
                    amount: amount.and_then(|a| <[u8; 32]>::try_from(a).ok()).map(Amount::from_be_bytes),
                    block: r.get(9)?,
                    log_index: r.get(10)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every dispense of a patient's prescriptions, oldest first.
    pub fn dispenses_of(&self, patient_id: &B256) -> Result<Vec<DispenseEvent>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT prescription_id, patient_id, pharmacy, part, by_token, content_hash, time, tx_hash
                 FROM dispenses WHERE patient_id = ?1 ORDER BY block, log_index",
            )?;
            let rows = st.query_map([patient_id], |r| {
                Ok(DispenseEvent {
                    prescription_id: r.get(0)?,
                    patient_id: r.get(1)?,
                    pharmacy: r.get(2)?,
                    part: r.get(3)?,
                    by_token: r.get(4)?,
                    content_hash: r.get(5)?,
                    time: r.get(6)?,
                    tx_hash: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every emergency-read trace on chain, oldest first.
    pub fn emergency_traces(&self) -> Result<Vec<EmergencyTrace>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT time, hospital, tag, note, block FROM emergency_traces ORDER BY block, log_index",
            )?;
            let rows = st.query_map([], |r| {
                Ok(EmergencyTrace {
                    time: r.get(0)?,
                    hospital: r.get(1)?,
                    tag: r.get(2)?,
                    note: r.get(3)?,
                    block: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every institution's current consent for a patient.
    pub fn consents_of(&self, patient_id: &B256) -> Result<Vec<Consent>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT patient_id, institution, valid_until, scope, block FROM consents WHERE patient_id = ?1
                 ORDER BY institution",
            )?;
            let rows = st.query_map([patient_id], consent_from_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

fn consent_of(c: &Connection, patient_id: &B256, institution: &Address) -> Result<Option<Consent>> {
    Ok(c.prepare_cached(
        "SELECT patient_id, institution, valid_until, scope, block FROM consents
         WHERE patient_id = ?1 AND institution = ?2",
    )?
    .query_row(params![patient_id, institution], consent_from_row)
    .optional()?)
}

fn consent_from_row(r: &Row<'_>) -> rusqlite::Result<Consent> {
    Ok(Consent {
        patient_id: r.get(0)?,
        institution: r.get(1)?,
        valid_until: r.get(2)?,
        scope: r.get(3)?,
        block: r.get(4)?,
    })
}

fn record_from_row(r: &Row<'_>) -> rusqlite::Result<RecordHeader> {
    Ok(RecordHeader {
        patient_id: r.get(0)?,
        index: r.get(1)?,
        author: r.get(2)?,
        kind: r.get(3)?,
        time: r.get(4)?,
        supersedes: r.get(5)?,
        content_hash: r.get(6)?,
        chain_hash: r.get(7)?,
        block: r.get(8)?,
        tx_hash: r.get(9)?,
    })
}

fn pair(r: &Row<'_>, block: usize, hash: usize) -> rusqlite::Result<Option<(u64, B256)>> {
    Ok(
        match (
            r.get::<_, Option<u64>>(block)?,
            r.get::<_, Option<B256>>(hash)?,
        ) {
            (Some(b), Some(h)) => Some((b, h)),
            _ => None,
        },
    )
}

fn prescription_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Prescription>> {
    let Some(status) = PrescriptionStatus::from_i64(r.get(3)?) else {
        return Ok(Err(StoreError::Corrupt {
            what: "prescriptions.status",
        }));
    };
    Ok(Ok(Prescription {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        issuer: r.get(2)?,
        status,
        issued_at: r.get(4)?,
        valid_until: r.get(5)?,
        content_hash: r.get(6)?,
        dispensed_by: r.get(7)?,
        block: r.get(8)?,
        tx_hash: r.get(9)?,
        closed_in: pair(r, 10, 11)?,
        dispensed_bps: r.get(12)?,
    }))
}

fn claim_from_row(r: &Row<'_>) -> rusqlite::Result<Result<Claim>> {
    let Some(status) = ClaimStatus::from_i64(r.get(6)?) else {
        return Ok(Err(StoreError::Corrupt {
            what: "claims.status",
        }));
    };
    Ok(Ok(Claim {
        id: r.get(0)?,
        patient_id: r.get(1)?,
        hospital: r.get(2)?,
        insurer: r.get(3)?,
        claimed: Amount::from_be_bytes(r.get(4)?),
        approved: Amount::from_be_bytes(r.get(5)?),
        status,
        reason_code: r.get(7)?,
        content_hash: r.get(8)?,
        block: r.get(9)?,
        tx_hash: r.get(10)?,
        decided_in: pair(r, 11, 12)?,
        paid_in: pair(r, 13, 14)?,
        response_hash: r.get(15)?,
    }))
}
