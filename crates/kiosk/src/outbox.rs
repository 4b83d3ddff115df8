//! Every chain write goes through the outbox: recorded in the database first (with an idempotency key), then
//! signed with an explicit nonce and recorded as submitted, then broadcast, then confirmed.
//!
//! - Node down: the entry stays queued (or submitted) and [`Outbox::drain`] sends it when the node is back.
//! - Killed mid-submit: on restart, a submitted entry is looked up by its hash; if the chain has it, it is
//!   confirmed; if its nonce is still free, it is signed again **with the same nonce** and sent, so at most one of
//!   the two can ever land; if the nonce was taken but not by a transaction we know, the write is checked against
//!   chain state before it is sent again.
//! - One lock orders nonce assignment, so concurrent submissions from one kiosk never collide. The lock covers
//!   signing and broadcasting, not the wait for the receipt: many writes of one kiosk can be in one block.

use std::collections::HashSet;
use std::time::Duration;

use alloy::contract::CallBuilder;
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;
use carekiosk_chain::{Chain, ChainError};
use carekiosk_store::{OutboxEntry, OutboxState, Store};
use serde::{Deserialize, Serialize};

use crate::KioskError;

/// What a submission came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// Mined.
    Confirmed {
        /// Outbox row.
        entry: i64,
        /// Transaction hash.
        tx_hash: B256,
        /// Block it was mined in.
        block: u64,
    },
    /// Recorded and waiting for the node (shown as pending; sent when the node is back).
    Pending {
        /// Outbox row.
        entry: i64,
        /// Why it is waiting.
        reason: String,
    },
}

impl Submitted {
    /// The transaction hash, once confirmed.
    pub fn tx_hash(&self) -> Option<B256> {
        match self {
            Submitted::Confirmed { tx_hash, .. } => Some(*tx_hash),
            Submitted::Pending { .. } => None,
        }
    }
}

/// What an outbox row asks to send.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Call {
    /// Contract address.
    pub to: Address,
    /// ABI-encoded call.
    pub data: Bytes,
}

/// The kiosk's outbox.
pub struct Outbox {
    chain: Chain,
    store: Store,
    sender: Address,
    lock: tokio::sync::Mutex<()>,
    receipt_timeout: Duration,
    receipt_poll: Duration,
    /// Entries a task of this process is driving right now (others wait for them instead of sending again).
    inflight: std::sync::Mutex<HashSet<i64>>,
}

/// Marks an entry as driven by this task until dropped.
struct Driving<'a>(&'a Outbox, i64);

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        self.0.inflight().remove(&self.1);
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("sender", &self.sender)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox sending as `sender` (a signer of `chain`).
    pub fn new(chain: Chain, store: Store, sender: Address) -> Self {
        Self {
            chain,
            store,
            sender,
            lock: tokio::sync::Mutex::new(()),
            receipt_timeout: Duration::from_secs(60),
            receipt_poll: Duration::from_millis(15),
            inflight: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// How often a receipt is asked for while waiting (15 ms by default; a node mining a block a second needs
    /// far fewer questions).
    pub fn with_receipt_poll(mut self, every: Duration) -> Self {
        self.receipt_poll = every;
        self
    }

    /// How long a write waits for its receipt before it is reported pending (60 s by default).
    pub fn with_receipt_timeout(mut self, after: Duration) -> Self {
        self.receipt_timeout = after;
        self
    }

    /// Pending entries that no task of this process is sending right now: those waiting for [`Outbox::drain`]
    /// (the node was unreachable, or the process restarted).
    pub fn waiting(&self) -> Result<Vec<OutboxEntry>, KioskError> {
        let pending = self.store.pending()?;
        let driven = self.inflight();
        Ok(pending
            .into_iter()
            .filter(|e| !driven.contains(&e.id))
            .collect())
    }

    fn inflight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.inflight.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_driven(&self, id: i64) -> bool {
        self.inflight().contains(&id)
    }

    /// Records `call` under `key` (the same key never sends twice) and sends it, waiting for its receipt while the
    /// node answers. A revert is returned as [`KioskError::Refused`] and the entry marked failed.
    pub async fn submit(&self, key: &str, kind: &str, call: Call) -> Result<Submitted, KioskError> {
        let payload =
            serde_json::to_value(&call).map_err(|e| KioskError::Invalid(e.to_string()))?;
        let enq = self.store.enqueue(key, kind, &payload)?;
        // Older writes go first: their nonces come first.
        for older in self.store.pending()? {
            if older.id >= enq.entry.id {
                break;
            }
            if self.is_driven(older.id) {
                continue; // another task of this kiosk is sending it
            }
            if let r @ Submitted::Pending { .. } = self.process(older).await? {
                let _ = r;
                return Ok(Submitted::Pending {
                    entry: enq.entry.id,
                    reason: "an earlier write is waiting".into(),
                });
            }
        }
        self.process(enq.entry).await
    }

    /// The write already recorded under `key`, driven to its end (confirmed, or pending while offline), if there
    /// is one that was not refused: so a repeated action does not ask the card to sign again.
    pub async fn resume(&self, key: &str) -> Result<Option<Submitted>, KioskError> {
        match self.store.outbox_by_key(key)? {
            Some(e) if e.state != OutboxState::Failed => Ok(Some(self.process(e).await?)),
            _ => Ok(None),
        }
    }

    /// Sends every pending entry, oldest first; stops at the first that must still wait (node down).
    pub async fn drain(&self) -> Result<Vec<Submitted>, KioskError> {
        let mut out = Vec::new();
        for entry in self.store.pending()? {
            if self.is_driven(entry.id) {
                continue; // another task of this kiosk is sending it
            }
            let r = self.process(entry).await?;
            let waiting = matches!(r, Submitted::Pending { .. });
            out.push(r);
            if waiting {
                break;
            }
        }
        Ok(out)
    }

    /// Entries not yet confirmed (for the "pending writes" indicator).
    pub fn pending(&self) -> Result<Vec<OutboxEntry>, KioskError> {
        Ok(self.store.pending()?)
    }

    async fn process(&self, entry: OutboxEntry) -> Result<Submitted, KioskError> {
        // One task drives an entry at a time; another asking for it waits for that one to finish.
        loop {
            if self.inflight().insert(entry.id) {
                break;
            }
            tokio::time::sleep(self.receipt_poll).await;
        }
        let _driving = Driving(self, entry.id);
        let guard = self.lock.lock().await;
        let entry = self.store.outbox_entry(entry.id)?.unwrap_or(entry);
        match entry.state {
            OutboxState::Confirmed => Ok(Submitted::Confirmed {
                entry: entry.id,
                tx_hash: B256::from(entry.tx_hash.unwrap_or_default()),
                block: entry.block.unwrap_or_default(),
            }),
            OutboxState::Failed => Err(KioskError::Invalid(format!(
                "this write was refused earlier: {}",
                entry.last_error.clone().unwrap_or_default()
            ))),
            OutboxState::Queued => self.send(&entry, None, guard).await,
            OutboxState::Submitted => self.reconcile(&entry, guard).await,
        }
    }

    fn call_of(entry: &OutboxEntry) -> Result<Call, KioskError> {
        serde_json::from_value(entry.payload.clone()).map_err(|e| {
            KioskError::Invalid(format!("outbox entry {} is unreadable: {e}", entry.id))
        })
    }

    /// Signs (with `nonce`, or the next free one), records as submitted, broadcasts (holding the nonce lock
    /// `order`), then waits for the receipt without it.
    async fn send(
        &self,
        entry: &OutboxEntry,
        nonce: Option<u64>,
        order: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Submitted, KioskError> {
        let call = Self::call_of(entry)?;
        let nonce = match nonce {
            Some(n) => n,
            None => match self.next_nonce().await {
                Ok(n) => n,
                Err(e) if is_offline(&e) => return Ok(pending(entry, &e)),
                Err(e) => return Err(e.into()),
            },
        };
        let builder = CallBuilder::new_raw(self.chain.provider(), call.data.clone()).to(call.to);
        let tx = match self.chain.sign(self.sender, builder, nonce).await {
            Ok(tx) => tx,
            Err(ChainError::Reverted(r)) => {
                self.store.mark_failed(entry.id, &r.detail)?;
                return Err(KioskError::Refused(r));
            }
            Err(e) if is_offline(&e) => return Ok(pending(entry, &e)),
            Err(e) => return Err(e.into()),
        };
        self.store
            .mark_submitted(entry.id, &self.sender.into_array(), &tx.hash.0, nonce)?;
        tracing::info!(entry = entry.id, kind = %entry.kind, hash = %tx.hash, nonce, "write submitted");
        if let Err(e) = self.chain.broadcast(&tx).await {
            if is_offline(&e) {
                return Ok(pending(entry, &e));
            }
            return Err(e.into());
        }
        drop(order);
        self.wait(entry.id, tx.hash).await
    }

    async fn wait(&self, id: i64, hash: B256) -> Result<Submitted, KioskError> {
        let deadline = tokio::time::Instant::now() + self.receipt_timeout;
        loop {
            match self.chain.receipt(hash).await {
                Ok(Some(r)) => {
                    let block = r.block_number.unwrap_or_default();
                    if r.status() {
                        self.store.mark_confirmed(id, block)?;
                        return Ok(Submitted::Confirmed {
                            entry: id,
                            tx_hash: hash,
                            block,
                        });
                    }
                    let reason = format!("transaction {hash} reverted in block {block}");
                    self.store.mark_failed(id, &reason)?;
                    return Err(KioskError::Invalid(reason));
                }
                Ok(None) => {}
                Err(e) if is_offline(&e) => {
                    return Ok(Submitted::Pending {
                        entry: id,
                        reason: e.to_string(),
                    })
                }
                Err(e) => return Err(e.into()),
            }
            if tokio::time::Instant::now() > deadline {
                return Ok(Submitted::Pending {
                    entry: id,
                    reason: format!("{hash} not mined yet"),
                });
            }
            tokio::time::sleep(self.receipt_poll).await;
        }
    }

    /// A submitted entry after a restart or an outage: confirmed if mined; sent again with the same nonce if the
    /// nonce is still free; requeued for a fresh nonce if another transaction took it.
    async fn reconcile(
        &self,
        entry: &OutboxEntry,
        order: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Submitted, KioskError> {
        let hash = B256::from(entry.tx_hash.unwrap_or_default());
        let nonce = entry.nonce.unwrap_or_default();
        match self.chain.receipt(hash).await {
            Ok(Some(_)) => {
                drop(order);
                return self.wait(entry.id, hash).await;
            }
            Ok(None) => {}
            Err(e) if is_offline(&e) => return Ok(pending(entry, &e)),
            Err(e) => return Err(e.into()),
        }
        // Still in the node's pool (waiting behind a lower nonce, say): wait for it rather than sign it again.
        match self.chain.provider().get_transaction_by_hash(hash).await {
            Ok(Some(_)) => {
                drop(order);
                return self.wait(entry.id, hash).await;
            }
            Ok(None) => {}
            Err(e) => {
                let e = ChainError::node(self.chain.url(), e);
                return Ok(pending(entry, &e));
            }
        }
        let mined = match self.chain.nonce(self.sender, false).await {
            Ok(n) => n,
            Err(e) if is_offline(&e) => return Ok(pending(entry, &e)),
            Err(e) => return Err(e.into()),
        };
        if mined <= nonce {
            // The nonce is free: this write has not landed. Same nonce, so the old copy and this one cannot both.
            return self.send(entry, Some(nonce), order).await;
        }
        // Another transaction of ours took the nonce (ours was dropped and replaced): send it again, fresh.
        tracing::warn!(
            entry = entry.id,
            nonce,
            "nonce taken by another transaction; sending again"
        );
        let entry = self.store.requeue(entry.id)?;
        self.send(&entry, None, order).await
    }

    async fn next_nonce(&self) -> Result<u64, ChainError> {
        let chain = self.chain.nonce(self.sender, true).await?;
        let ours = self
            .store
            .highest_nonce(&self.sender.into_array())
            .map_err(|e| ChainError::Invalid(e.to_string()))?
            .map(|n| n + 1)
            .unwrap_or(0);
        Ok(chain.max(ours))
    }
}

/// Whether a failure leaves the write pending in the outbox, sent again later: the node unreachable (offline),
/// rate limiting (not offline: busy), or failing in another passing way. A refusal by the contract, a fee or
/// funds problem, or a mistake of ours goes back to the caller instead (the row stays, it is not lost).
fn is_offline(e: &ChainError) -> bool {
    e.is_transient()
}

fn pending(entry: &OutboxEntry, e: &ChainError) -> Submitted {
    tracing::warn!(
        entry = entry.id,
        kind = e.kind(),
        "node not answering now; write kept in the outbox"
    );
    Submitted::Pending {
        entry: entry.id,
        reason: e.to_string(),
    }
}
