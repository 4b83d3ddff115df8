//! The outbox: every chain write is recorded here first (idempotent by key), then submitted, then confirmed.
//!
//! States and transitions (each one transaction, so a crash leaves the row in the state before or after):
//!
//! ```text
//! queued ──mark_submitted──► submitted ──mark_confirmed──► confirmed
//!   │  ▲                       │  ▲ │                          ▲
//!   │  └──────requeue──────────┘  └─┘ (replacement: same nonce)│
//!   ├──mark_confirmed (found on chain by state) ───────────────┤
//!   └──mark_failed──► failed ──requeue──► queued                │
//!      submitted ──mark_failed──► failed ──mark_confirmed ─────┘ (it landed after all)
//!      confirmed ──mark_reorged──► submitted   (its block was reorged away before it was final; reorged_at set)
//!      submitted ──defer──► queued   (refused while what it needs was reorged away too: tried again later)
//!      confirmed ──mark_final (final_block set; it stays confirmed for good)
//! ```
//!
//! Every transaction signed for an entry is kept in `outbox_attempts` (hash, nonce, signed bytes): a fee-bumped
//! replacement and the transaction it replaces share a nonce, so at most one lands, and whichever does is
//! recognised as the entry's.
//!
//! To neither lose nor duplicate a write across a crash: sign the transaction, `mark_submitted` with its hash and
//! nonce, *then* broadcast. On restart, every `submitted` entry has a hash to look up; if that transaction is
//! gone, resend with the **same nonce** (so at most one of them can land) or `requeue` once the nonce is used.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use crate::error::{Result, StoreError};
use crate::types::{Address, Hex, B256};
use crate::{now_ms, Store};

/// Where an outbox entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Recorded, not yet sent (or to be sent again).
    Queued,
    /// Signed and handed to the node with a known hash and nonce; not yet seen in a block.
    Submitted,
    /// Included in a block.
    Confirmed,
    /// Given up on, with `last_error` (a revert, a refusal); `requeue` to try again.
    Failed,
}

impl OutboxState {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Submitted => "submitted",
            Self::Confirmed => "confirmed",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "submitted" => Self::Submitted,
            "confirmed" => Self::Confirmed,
            "failed" => Self::Failed,
            _ => return None,
        })
    }
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Row id (increasing, never reused).
    pub id: i64,
    /// The caller's idempotency key (unique).
    pub idempotency_key: String,
    /// What kind of write (e.g. `grantConsent`).
    pub kind: String,
    /// What to send (JSON; no secrets: the file is encrypted, but keep keys and PINs out of it anyway).
    pub payload: serde_json::Value,
    /// Where it is.
    pub state: OutboxState,
    /// The hash of the last transaction submitted for it.
    pub tx_hash: Option<B256>,
    /// The nonce of that transaction (kept across `requeue`, as the nonce to reuse).
    pub nonce: Option<u64>,
    /// The sending account (kept across `requeue`).
    pub sender: Option<Address>,
    /// The block it was confirmed in.
    pub block: Option<u64>,
    /// How many times it was submitted.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Unix time in milliseconds.
    pub created_at: i64,
    /// Unix time in milliseconds.
    pub updated_at: i64,
    /// The block, once it is final (at or below the chain's `finalized` block): a confirmed write without it is
    /// included but could still be reorged away.
    pub final_block: Option<u64>,
    /// Unix time in milliseconds when its block was last reorged away (never, if `None`).
    pub reorged_at: Option<i64>,
}

/// One transaction sent for an outbox entry (the first, a fee-bumped replacement, a resend).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Its hash.
    pub tx_hash: B256,
    /// Its nonce.
    pub nonce: u64,
    /// Its signed EIP-2718 bytes (public: what was broadcast), when recorded.
    pub raw: Option<Vec<u8>>,
    /// Unix time in milliseconds.
    pub created_at: i64,
}

/// What [`Store::enqueue`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Enqueued {
    /// The entry for the key (new or existing).
    pub entry: OutboxEntry,
    /// `true` if this call created it, `false` if the key was already there.
    pub created: bool,
}

const COLS: &str = "id, idempotency_key, kind, payload, state, tx_hash, nonce, sender, block, attempts, last_error, \
     created_at, updated_at, final_block, reorged_at";
const LAST_ERROR_MAX: usize = 2000;

impl Store {
    /// Records a write to send. Idempotent: the same key returns the existing entry (whatever its state) and
    /// never creates a second one; the same key with a different kind or payload is an
    /// [`StoreError::IdempotencyConflict`] — unless the entry under the key was refused ([`OutboxState::Failed`]):
    /// the action asked again (a new signature, say, after the chain refused the first) is a new write, and the
    /// refused one stays, under `<key>#refused-<id>`.
    pub fn enqueue(
        &self,
        idempotency_key: &str,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<Enqueued> {
        let text = serde_json::to_string(payload)?;
        let out = self.write(|tx| {
            let now = now_ms();
            // A refused write under this key, asked again as another write: set it aside first.
            if let Some(old) = by_key(tx, idempotency_key)? {
                if old.state == OutboxState::Failed && (old.kind != kind || &old.payload != payload) {
                    let aside = format!("{idempotency_key}#refused-{}", old.id);
                    tx.prepare_cached("UPDATE outbox SET idempotency_key = ?1 WHERE id = ?2")?
                        .execute(params![aside, old.id])?;
                }
            }
            let created = tx
                .prepare_cached(
                    "INSERT INTO outbox (idempotency_key, kind, payload, state, created_at, updated_at)
                     VALUES (?1, ?2, ?3, 'queued', ?4, ?4) ON CONFLICT (idempotency_key) DO NOTHING",
                )?
                .execute(params![idempotency_key, kind, text, now])?
                == 1;
            let entry = by_key(tx, idempotency_key)?.ok_or(StoreError::Corrupt { what: "outbox insert" })?;
            if !created && (entry.kind != kind || &entry.payload != payload) {
                return Err(StoreError::IdempotencyConflict {
                    key: idempotency_key.to_owned(),
                    kind: entry.kind,
                });
            }
            Ok(Enqueued { entry, created })
        })?;
        if out.created {
            tracing::info!(id = out.entry.id, kind, "outbox: queued");
        } else {
            tracing::debug!(
                id = out.entry.id,
                kind,
                state = out.entry.state.as_str(),
                "outbox: key already there"
            );
        }
        Ok(out)
    }

    /// The transaction for entry `id` is signed with `nonce` by `sender` and has hash `tx_hash`: record that
    /// *before* broadcasting it. From `queued`, or again from `submitted` for a replacement.
    pub fn mark_submitted(
        &self,
        id: i64,
        sender: &Address,
        tx_hash: &B256,
        nonce: u64,
    ) -> Result<OutboxEntry> {
        self.mark_submitted_raw(id, sender, tx_hash, nonce, None)
    }

    /// [`Store::mark_submitted`], keeping the signed bytes (`raw`) among the entry's attempts, so the same
    /// transaction can be broadcast again byte for byte.
    pub fn mark_submitted_raw(
        &self,
        id: i64,
        sender: &Address,
        tx_hash: &B256,
        nonce: u64,
        raw: Option<&[u8]>,
    ) -> Result<OutboxEntry> {
        let e = self.transition(
            id,
            OutboxState::Submitted,
            |from| match from {
                OutboxState::Queued | OutboxState::Submitted => Ok(()),
                OutboxState::Confirmed => Err("it is already on chain: there is nothing to send"),
                OutboxState::Failed => Err("requeue it first"),
            },
            |tx| {
                let now = now_ms();
                tx.execute(
                    "INSERT INTO outbox_attempts (entry_id, tx_hash, nonce, raw, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (tx_hash) DO UPDATE SET raw = COALESCE(excluded.raw, raw)",
                    params![id, tx_hash, nonce, raw, now],
                )?;
                tx.execute(
                    "UPDATE outbox SET state = 'submitted', sender = ?2, tx_hash = ?3, nonce = ?4, block = NULL,
                       final_block = NULL, attempts = attempts + 1, updated_at = ?5 WHERE id = ?1",
                    params![id, sender, tx_hash, nonce, now],
                )
            },
        )?;
        tracing::info!(id, kind = %e.kind, tx = %Hex(tx_hash), nonce, attempt = e.attempts, "outbox: submitted");
        Ok(e)
    }

    /// Every transaction sent for entry `id`, oldest first.
    pub fn attempts(&self, id: i64) -> Result<Vec<Attempt>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT tx_hash, nonce, raw, created_at FROM outbox_attempts WHERE entry_id = ?1 ORDER BY rowid",
            )?;
            let rows = st.query_map([id], |r| {
                Ok(Attempt {
                    tx_hash: r.get(0)?,
                    nonce: r.get(1)?,
                    raw: r.get(2)?,
                    created_at: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Entry `id` landed through `tx_hash` (one of its attempts) in `block`: from `submitted`, `queued` or
    /// `failed`, or again from `confirmed` if a reorg moved it.
    pub fn mark_confirmed_by(&self, id: i64, tx_hash: &B256, block: u64) -> Result<OutboxEntry> {
        let e = self.transition(
            id,
            OutboxState::Confirmed,
            |_from| Ok(()),
            |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'confirmed', tx_hash = ?2, block = ?3, last_error = NULL,
                       updated_at = ?4 WHERE id = ?1",
                    params![id, tx_hash, block, now_ms()],
                )
            },
        )?;
        tracing::info!(id, kind = %e.kind, tx = %Hex(tx_hash), block, "outbox: confirmed");
        Ok(e)
    }

    /// Confirmed entry `id`'s block is at or below the chain's finalized block: it can no longer be reorged away.
    pub fn mark_final(&self, id: i64, block: u64) -> Result<OutboxEntry> {
        let e = self.transition(
            id,
            OutboxState::Confirmed,
            |from| match from {
                OutboxState::Confirmed => Ok(()),
                _ => Err("only a confirmed write can become final"),
            },
            |tx| {
                tx.execute(
                    "UPDATE outbox SET block = ?2, final_block = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, block, now_ms()],
                )
            },
        )?;
        tracing::debug!(id, kind = %e.kind, block, "outbox: final");
        Ok(e)
    }

    /// A confirmed, not yet final entry whose transaction is no longer on the chain (its block was reorged away):
    /// back to `submitted`, so it is looked up and sent again.
    pub fn mark_reorged(&self, id: i64) -> Result<OutboxEntry> {
        let e = self.transition(
            id,
            OutboxState::Submitted,
            |from| match from {
                OutboxState::Confirmed => Ok(()),
                _ => Err("only a confirmed write can be reorged away"),
            },
            |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'submitted', block = NULL, updated_at = ?2, reorged_at = ?2
                     WHERE id = ?1 AND final_block IS NULL",
                    params![id, now_ms()],
                )
            },
        )?;
        if e.state != OutboxState::Submitted {
            return Err(StoreError::InvalidTransition {
                id,
                from: "final",
                to: "submitted",
                hint: "a final write cannot be reorged away",
            });
        }
        tracing::warn!(id, kind = %e.kind, "outbox: its block was reorged away; it will be sent again");
        Ok(e)
    }

    /// Confirmed entries whose block is not final yet, oldest first.
    pub fn unfinal(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {COLS} FROM outbox WHERE state = 'confirmed' AND final_block IS NULL ORDER BY id"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([], entry_from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    /// Entry `id` is included in `block` (from `submitted`; from `queued` or `failed` when the chain shows it
    /// landed; again from `confirmed` if a reorg moved it).
    pub fn mark_confirmed(&self, id: i64, block: u64) -> Result<OutboxEntry> {
        let e = self.transition(
            id,
            OutboxState::Confirmed,
            |_from| Ok(()),
            |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'confirmed', block = ?2, last_error = NULL, updated_at = ?3
                     WHERE id = ?1",
                    params![id, block, now_ms()],
                )
            },
        )?;
        tracing::info!(id, kind = %e.kind, block, "outbox: confirmed");
        Ok(e)
    }

    /// Entry `id` failed for good (a revert, a refusal) with `error` (no secrets in it, please).
    pub fn mark_failed(&self, id: i64, error: &str) -> Result<OutboxEntry> {
        let msg = clip(error);
        let e = self.transition(
            id,
            OutboxState::Failed,
            |from| match from {
                OutboxState::Confirmed => Err("it is already on chain"),
                _ => Ok(()),
            },
            |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, msg, now_ms()],
                )
            },
        )?;
        tracing::warn!(id, kind = %e.kind, error = %msg, "outbox: failed");
        Ok(e)
    }

    /// Puts entry `id` back in the queue (from `failed`, or from `submitted` once its transaction is known to be
    /// gone). Clears the hash; keeps nonce and sender as the nonce to reuse.
    pub fn requeue(&self, id: i64) -> Result<OutboxEntry> {
        let e = self.transition(
            id,
            OutboxState::Queued,
            |from| match from {
                OutboxState::Confirmed => Err("it is already on chain"),
                _ => Ok(()),
            },
            |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'queued', tx_hash = NULL, block = NULL, updated_at = ?2
                     WHERE id = ?1",
                    params![id, now_ms()],
                )
            },
        )?;
        tracing::info!(id, kind = %e.kind, "outbox: requeued");
        Ok(e)
    }

    /// A write the chain refused while what it needs may still be missing (reorged away with it, not yet sent
    /// again by whoever wrote it): back to `queued` for a fresh nonce, with the refusal in `last_error`, to be tried
    /// again later. Only a write that was reorged away (`reorged_at` set) can be deferred.
    pub fn defer(&self, id: i64, error: &str) -> Result<OutboxEntry> {
        let e = self.deferred(id, error, false)?;
        if e.reorged_at.is_none() {
            return Err(StoreError::InvalidTransition {
                id,
                from: e.state.as_str(),
                to: "queued",
                hint: "only a write that was reorged away is tried again after a refusal",
            });
        }
        tracing::warn!(id, kind = %e.kind, error = %e.last_error.as_deref().unwrap_or_default(),
            "outbox: refused while what it needs is off the chain; deferred");
        Ok(e)
    }

    /// A write the chain refused while an earlier write of this kiosk, which it may need, is off the chain (its
    /// block reorged away, not yet back): deferred as [`Store::defer`] does, with `reorged_at` set to now — the
    /// grace for trying it again runs from here, as if it had been reorged away with that one.
    pub fn defer_behind(&self, id: i64, error: &str) -> Result<OutboxEntry> {
        let e = self.deferred(id, error, true)?;
        tracing::warn!(id, kind = %e.kind, error = %e.last_error.as_deref().unwrap_or_default(),
            "outbox: refused while an earlier write of this kiosk is off the chain; deferred");
        Ok(e)
    }

    /// Back to `queued` with the refusal: a write that was reorged away (`reorged_at` set), or any write still to
    /// be sent when `behind` (its `reorged_at` set to now if it has none).
    fn deferred(&self, id: i64, error: &str, behind: bool) -> Result<OutboxEntry> {
        let msg = clip(error);
        self.transition(
            id,
            OutboxState::Queued,
            |from| match from {
                OutboxState::Queued | OutboxState::Submitted => Ok(()),
                _ => Err("only a write still to be sent can be deferred"),
            },
            |tx| {
                tx.execute(
                    "UPDATE outbox SET state = 'queued', tx_hash = NULL, block = NULL, last_error = ?2,
                       updated_at = ?3, reorged_at = CASE WHEN ?4 THEN coalesce(reorged_at, ?3) ELSE reorged_at END
                     WHERE id = ?1 AND (?4 OR reorged_at IS NOT NULL)",
                    params![id, msg, now_ms(), behind],
                )
            },
        )
    }

    /// Entries still to be sent or confirmed (`queued` and `submitted`), oldest first.
    pub fn pending(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|c| {
            let sql = format!(
                "SELECT {COLS} FROM outbox WHERE state IN ('queued', 'submitted') ORDER BY id"
            );
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map([], entry_from_row)?;
            rows.map(|r| r?).collect()
        })
    }

    /// One entry by id.
    pub fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>> {
        self.read(|c| by_id(c, id))
    }

    /// One entry by idempotency key.
    pub fn outbox_by_key(&self, idempotency_key: &str) -> Result<Option<OutboxEntry>> {
        self.read(|c| by_key(c, idempotency_key))
    }

    /// The entry whose last submitted transaction has this hash.
    pub fn outbox_by_tx_hash(&self, tx_hash: &B256) -> Result<Option<OutboxEntry>> {
        self.read(|c| {
            let sql = format!("SELECT {COLS} FROM outbox WHERE tx_hash = ?1");
            c.prepare_cached(&sql)?
                .query_row([tx_hash], entry_from_row)
                .optional()?
                .transpose()
        })
    }

    /// The highest nonce `sender` used in any entry, to start a local nonce counter above it.
    pub fn highest_nonce(&self, sender: &Address) -> Result<Option<u64>> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT max(nonce) FROM outbox WHERE sender = ?1")?
                    .query_row([sender], |r| r.get(0))?,
            )
        })
    }

    /// In one transaction: reads the state, asks `allowed` whether `to` may follow it (`Err(hint)` if not), runs
    /// `update`, reads the row back.
    fn transition(
        &self,
        id: i64,
        to: OutboxState,
        allowed: impl FnOnce(OutboxState) -> Result<(), &'static str>,
        update: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<usize>,
    ) -> Result<OutboxEntry> {
        self.write(|tx| {
            let from = by_id(tx, id)?
                .ok_or(StoreError::NoSuchOutboxEntry { id })?
                .state;
            allowed(from).map_err(|hint| StoreError::InvalidTransition {
                id,
                from: from.as_str(),
                to: to.as_str(),
                hint,
            })?;
            update(tx)?;
            by_id(tx, id)?.ok_or(StoreError::NoSuchOutboxEntry { id })
        })
    }
}

/// `error`, cut to what `last_error` keeps.
fn clip(error: &str) -> String {
    let mut msg = error.to_owned();
    if msg.len() > LAST_ERROR_MAX {
        let mut cut = LAST_ERROR_MAX;
        while !msg.is_char_boundary(cut) {
            cut -= 1;
        }
        msg.truncate(cut);
    }
    msg
}

fn by_id(c: &Connection, id: i64) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {COLS} FROM outbox WHERE id = ?1");
    c.prepare_cached(&sql)?
        .query_row([id], entry_from_row)
        .optional()?
        .transpose()
}

fn by_key(c: &Connection, key: &str) -> Result<Option<OutboxEntry>> {
    let sql = format!("SELECT {COLS} FROM outbox WHERE idempotency_key = ?1");
    c.prepare_cached(&sql)?
        .query_row([key], entry_from_row)
        .optional()?
        .transpose()
}

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<Result<OutboxEntry>> {
    let payload: String = r.get(3)?;
    let state: String = r.get(4)?;
    let Some(state) = OutboxState::parse(&state) else {
        return Ok(Err(StoreError::Corrupt {
            what: "outbox.state",
        }));
    };
    let payload = match serde_json::from_str(&payload) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.into())),
    };
    Ok(Ok(OutboxEntry {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        kind: r.get(2)?,
        payload,
        state,
        tx_hash: r.get(5)?,
        nonce: r.get(6)?,
        sender: r.get(7)?,
        block: r.get(8)?,
        attempts: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        final_block: r.get(13)?,
        reorged_at: r.get(14)?,
    }))
}
