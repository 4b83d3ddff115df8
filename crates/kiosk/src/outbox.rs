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
//! - Stuck or lost: a write with no receipt after a few blocks is looked at. Every transaction signed
//!   for it is kept (hash, nonce, bytes), so whichever lands is recognised. One the node no longer has (a dropped
//!   broadcast, a reorg) is broadcast again byte for byte; one priced out by a fee spike, or waiting too long, is
//!   replaced with the same nonce and fees raised by what nodes require (+10 %), so at most one of them lands.
//! - Included, then final: a receipt makes a write *included* (`Confirmed`); [`Outbox::check_finality`] marks it
//!   *final* once its block is at or below the chain's `finalized` block, and sends it again if its block was
//!   reorged away before that. A write waiting while the chain's nonce stands below its own checks the writes of
//!   this kiosk holding those nonces itself, at once (a finality check under way may be slow), and is not re-priced
//!   while one of them waits to be sent again.
//! - Reorged away with what it needs: another kiosk's write it depends on (an enrolment, a registration) may not be
//!   back on the chain when this one is sent again, and the chain refuses it. For [`REORG_GRACE`] after the reorg,
//!   such a refusal is not final: the write is deferred (`queued` with the refusal) and tried again with a fresh
//!   nonce after a pause, until it lands or the grace is over (then it fails as any refusal does). The same holds
//!   for a write refused while an earlier write of this kiosk is off the chain (a consent sent before the outbox
//!   noticed that the registration before it was reorged away): a refusal runs the finality check at once.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use alloy::contract::CallBuilder;
use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;
use carekiosk_chain::{Chain, ChainError, SignedTx};
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
    stuck_after: Duration,
    finality_every: Duration,
    reorg_grace: Duration,
    last_finality: std::sync::Mutex<Option<tokio::time::Instant>>,
    /// Held while a finality check runs: one at a time (a slow node can make one outlast the period).
    checking: tokio::sync::Mutex<()>,
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
    ///
    /// A receipt is asked for every 15 ms of a node on this machine (Anvil mines at once) and about once a block
    /// (1 s, Celo's block time) of a remote node; a write with no receipt after [`Outbox::with_stuck_after`] is
    /// looked at (resent or replaced).
    pub fn new(chain: Chain, store: Store, sender: Address) -> Self {
        let local = carekiosk_chain::rpc::is_loopback(chain.url());
        let receipt_poll = if local {
            Duration::from_millis(15)
        } else {
            REMOTE_RECEIPT_POLL
        };
        Self {
            chain,
            store,
            sender,
            lock: tokio::sync::Mutex::new(()),
            receipt_timeout: Duration::from_secs(60),
            receipt_poll,
            stuck_after: stuck_after(receipt_poll),
            finality_every: Duration::from_secs(10),
            reorg_grace: REORG_GRACE,
            last_finality: std::sync::Mutex::new(None),
            checking: tokio::sync::Mutex::new(()),
            inflight: std::sync::Mutex::new(HashSet::new()),
        }
    }

    /// How often a receipt is asked for while waiting (15 ms on this machine's node, 1 s on a remote one: about
    /// the block time). Also sets how long a write waits before it is looked at, unless set after this.
    pub fn with_receipt_poll(mut self, every: Duration) -> Self {
        self.receipt_poll = every;
        self.stuck_after = stuck_after(every);
        self
    }

    /// How long a write waits for its receipt before the outbox looks at why: resends it if the node lost it,
    /// replaces it with higher fees if it is priced out (or still waiting after three times this).
    pub fn with_stuck_after(mut self, after: Duration) -> Self {
        self.stuck_after = after;
        self
    }

    /// How often [`Outbox::drain`] checks included writes for finality and reorgs (10 s by default).
    pub fn with_finality_every(mut self, every: Duration) -> Self {
        self.finality_every = every;
        self
    }

    /// How long after its block was reorged away a write the chain refuses is tried again instead of failed
    /// ([`REORG_GRACE`] by default).
    pub fn with_reorg_grace(mut self, grace: Duration) -> Self {
        self.reorg_grace = grace;
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
    /// node answers. A revert is returned as [`KioskError::Refused`] and the entry marked failed (unless the write
    /// was reorged away lately: then it is deferred and reported pending, see the module's docs).
    pub async fn submit(&self, key: &str, kind: &str, call: Call) -> Result<Submitted, KioskError> {
        let payload =
            serde_json::to_value(&call).map_err(|e| KioskError::Invalid(e.to_string()))?;
        let enq = self.store.enqueue(key, kind, &payload)?;
        // Older writes go first: their nonces come first.
        for older in self.store.pending()? {
            if older.id >= enq.entry.id {
                break;
            }
            if self.is_driven(older.id) || self.deferred(&older) {
                continue; // another task of this kiosk is sending it, or it waits for a reorg to heal
            }
            match self.process(older).await {
                Ok(Submitted::Pending { .. }) => {
                    return Ok(Submitted::Pending {
                        entry: enq.entry.id,
                        reason: "an earlier write is waiting".into(),
                    })
                }
                Ok(Submitted::Confirmed { .. }) => {}
                // An earlier write the chain refused is its own action's failure (told to whoever asked for it,
                // kept as failed), not this one's: this one is still sent.
                Err(KioskError::Refused(r)) => {
                    tracing::debug!(entry = enq.entry.id, earlier = %r, "an earlier write was refused; this one goes on")
                }
                Err(e) => return Err(e),
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
        self.check_finality_if_due().await;
        let mut out = Vec::new();
        for entry in self.store.pending()? {
            if self.is_driven(entry.id) || self.deferred(&entry) {
                continue; // another task of this kiosk is sending it, or it waits for a reorg to heal
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
            OutboxState::Failed => Err(KioskError::Refused(carekiosk_chain::Revert::recorded(
                entry.last_error.as_deref().unwrap_or_default(),
            ))),
            OutboxState::Queued if self.deferred(&entry) => Ok(Submitted::Pending {
                entry: entry.id,
                reason: DEFERRED.into(),
            }),
            OutboxState::Queued => self.send(&entry, None, guard).await,
            OutboxState::Submitted => self.reconcile(&entry, guard).await,
        }
    }

    /// Whether `entry` was refused after a reorg and its pause before the next try is not over.
    fn deferred(&self, entry: &OutboxEntry) -> bool {
        entry.state == OutboxState::Queued
            && entry.reorged_at.is_some()
            && entry.last_error.is_some()
            && carekiosk_store::now_ms().saturating_sub(entry.updated_at) < millis(self.stuck_after)
    }

    /// The chain refused entry `id` (`detail`): failed for good, unless what it needs may be on its way back —
    /// its own block was reorged away less than the grace ago, or an earlier write of this kiosk is off the chain
    /// after a reorg — then deferred and tried again after a pause.
    async fn refused(
        &self,
        id: i64,
        detail: &str,
        err: KioskError,
    ) -> Result<Submitted, KioskError> {
        let reorged_at = self.store.outbox_entry(id)?.and_then(|e| e.reorged_at);
        if reorged_at.is_some_and(|at| self.in_grace(at)) {
            self.store.defer(id, detail)?;
        } else if self.behind_a_reorg(id).await? {
            self.store.defer_behind(id, detail)?;
        } else {
            self.store.mark_failed(id, detail)?;
            return Err(err);
        }
        Ok(Submitted::Pending {
            entry: id,
            reason: format!("{DEFERRED} ({detail})"),
        })
    }

    fn in_grace(&self, reorged_at: i64) -> bool {
        carekiosk_store::now_ms().saturating_sub(reorged_at) < millis(self.reorg_grace)
    }

    /// Whether a write of this kiosk older than entry `id` is off the chain after a reorg (not yet back): what
    /// `id` needs may be in it (a check-in's consent sent while the registration before it was reorged away). The
    /// finality check runs now if an older write is included but not final: at its own pace it could notice only
    /// after the refusal was final.
    async fn behind_a_reorg(&self, id: i64) -> Result<bool, KioskError> {
        let off = |store: &Store| -> Result<bool, KioskError> {
            Ok(store
                .pending()?
                .iter()
                .any(|e| e.id < id && e.reorged_at.is_some_and(|at| self.in_grace(at))))
        };
        if off(&self.store)? {
            return Ok(true);
        }
        if !self.store.unfinal()?.iter().any(|e| e.id < id) {
            return Ok(false);
        }
        match self.check_finality().await {
            Ok(r) if !r.reorged.is_empty() => {
                tracing::warn!(entries = ?r.reorged, refused = id, "writes reorged away: sending them again")
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "finality not checked after a refusal"),
        }
        off(&self.store)
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
                let detail = r.detail.clone();
                return self
                    .refused(entry.id, &detail, KioskError::Refused(r))
                    .await;
            }
            Err(e) if is_offline(&e) => return Ok(pending(entry, &e)),
            Err(e) => return Err(e.into()),
        };
        self.store.mark_submitted_raw(
            entry.id,
            &self.sender.into_array(),
            &tx.hash.0,
            nonce,
            Some(&tx.raw),
        )?;
        tracing::info!(entry = entry.id, kind = %entry.kind, hash = %tx.hash, nonce, "write submitted");
        if let Err(e) = self.chain.broadcast(&tx).await {
            // Priced out on its first send (a fee spike since the fees were read): recorded as submitted, so the
            // next drain replaces it with higher fees (same nonce) instead of the step failing.
            if is_offline(&e) || matches!(e, ChainError::Underpriced { .. }) {
                return Ok(pending(entry, &e));
            }
            return Err(e.into());
        }
        drop(order);
        self.wait(entry.id, tx.hash).await
    }

    async fn wait(&self, id: i64, hash: B256) -> Result<Submitted, KioskError> {
        let mut hash = hash;
        let start = tokio::time::Instant::now();
        let deadline = start + self.receipt_timeout;
        let mut next_look = start + self.stuck_after;
        loop {
            match self.chain.receipt(hash).await {
                Ok(Some(r)) => return self.landed(id, hash, &r).await,
                Ok(None) => {}
                Err(e) if is_offline(&e) => {
                    return Ok(Submitted::Pending {
                        entry: id,
                        reason: e.to_string(),
                    })
                }
                Err(e) => return Err(e.into()),
            }
            let now = tokio::time::Instant::now();
            if now > deadline {
                return Ok(Submitted::Pending {
                    entry: id,
                    reason: format!("{hash} not mined yet"),
                });
            }
            if now >= next_look {
                next_look = now + self.stuck_after;
                match self.unstick(id).await {
                    Ok(Unstuck::Landed(s)) => return s,
                    Ok(Unstuck::Waiting(h)) => hash = h,
                    Ok(Unstuck::NonceTaken) => {
                        return Ok(Submitted::Pending {
                            entry: id,
                            reason:
                                "its nonce was taken by another transaction: it will be sent again"
                                    .into(),
                        })
                    }
                    Err(e) if is_offline(&e) => {
                        return Ok(Submitted::Pending {
                            entry: id,
                            reason: e.to_string(),
                        })
                    }
                    Err(e) => {
                        tracing::warn!(entry = id, error = %e, "could not look at a waiting write")
                    }
                }
            }
            tokio::time::sleep(self.receipt_poll).await;
        }
    }

    /// Entry `id`'s transaction `hash` has receipt `r`: confirmed, or refused if it reverted (failed, or deferred
    /// after a reorg).
    async fn landed(
        &self,
        id: i64,
        hash: B256,
        r: &alloy::rpc::types::TransactionReceipt,
    ) -> Result<Submitted, KioskError> {
        let block = r.block_number.unwrap_or_default();
        if r.status() {
            self.store.mark_confirmed_by(id, &hash.0, block)?;
            return Ok(Submitted::Confirmed {
                entry: id,
                tx_hash: hash,
                block,
            });
        }
        let revert = self.replay(id, hash, block).await;
        let detail = revert.detail.clone();
        self.refused(id, &detail, KioskError::Refused(revert)).await
    }

    /// Why entry `id`'s transaction `hash` reverted in `block`: its call replayed on the state before that block,
    /// decoded into the contracts' errors. If the replay does not revert (a transaction before it in the block
    /// made the difference) or cannot be made, a revert that says so.
    async fn replay(&self, id: i64, hash: B256, block: u64) -> carekiosk_chain::Revert {
        let unknown = || carekiosk_chain::Revert {
            name: "Reverted".into(),
            detail: format!("transaction {hash} reverted in block {block}"),
        };
        let Ok(Some(entry)) = self.store.outbox_entry(id) else {
            return unknown();
        };
        let Ok(call) = Self::call_of(&entry) else {
            return unknown();
        };
        let replayed = CallBuilder::new_raw(self.chain.provider(), call.data)
            .to(call.to)
            .from(self.sender)
            .block(block.saturating_sub(1).into())
            .call()
            .await;
        match replayed.map_err(|e| ChainError::from_contract_error(self.chain.url(), e)) {
            Err(ChainError::Reverted(r)) => r,
            _ => unknown(),
        }
    }

    /// The receipt of any transaction sent for entry `id` at its current nonce (a replacement or the one it
    /// replaced, a resend), newest first. Not those at an earlier nonce: a write sent again with a fresh nonce
    /// left them behind (refused on chain, or their nonce taken by another transaction).
    async fn any_receipt(
        &self,
        id: i64,
    ) -> Result<Option<(B256, alloy::rpc::types::TransactionReceipt)>, ChainError> {
        let invalid = |e: carekiosk_store::StoreError| ChainError::Invalid(e.to_string());
        let nonce = self
            .store
            .outbox_entry(id)
            .map_err(invalid)?
            .and_then(|e| e.nonce);
        let attempts = self.store.attempts(id).map_err(invalid)?;
        for a in attempts
            .iter()
            .rev()
            .filter(|a| nonce.is_none_or(|n| a.nonce == n))
        {
            let h = B256::from(a.tx_hash);
            if let Some(r) = self.chain.receipt(h).await? {
                return Ok(Some((h, r)));
            }
        }
        Ok(None)
    }

    /// A write with no receipt after a while: whichever of its transactions landed is taken; one the node lost is
    /// broadcast again byte for byte; one priced out (or waiting three times as long) is replaced with the same
    /// nonce and higher fees.
    async fn unstick(&self, id: i64) -> Result<Unstuck, ChainError> {
        if let Some((h, r)) = self.any_receipt(id).await? {
            return Ok(Unstuck::Landed(self.landed(id, h, &r).await));
        }
        let attempts = self
            .store
            .attempts(id)
            .map_err(|e| ChainError::Invalid(e.to_string()))?;
        let Some(last) = attempts.last() else {
            return Err(ChainError::Invalid(format!(
                "outbox entry {id} has no transaction"
            )));
        };
        let hash = B256::from(last.tx_hash);
        let Some(raw) = last.raw.clone() else {
            return Ok(Unstuck::Waiting(hash)); // from before version 4: nothing to resend byte for byte
        };
        let mined = self.chain.nonce(self.sender, false).await?;
        let mut behind_a_gone_write = false;
        if mined < last.nonce {
            self.fill_gaps(mined, last.nonce).await?;
            // A write of ours confirmed at a nonce the chain has not used is gone (its block was reorged away) and
            // this one waits behind it: that write is checked against the chain now (and the next finality check
            // runs at once), and raising this one's fees would not help. (A stale nonce from a load-balanced node
            // costs one look.)
            let invalid = |e: carekiosk_store::StoreError| ChainError::Invalid(e.to_string());
            let holds_a_lower_nonce = |e: &OutboxEntry| {
                e.id != id && e.nonce.is_some_and(|n| (mined..last.nonce).contains(&n))
            };
            let below: Vec<OutboxEntry> = self
                .store
                .unfinal()
                .map_err(invalid)?
                .into_iter()
                .filter(holds_a_lower_nonce)
                .collect();
            // A lower write of ours already found gone and waiting to be sent again holds this one back as well.
            behind_a_gone_write = !below.is_empty()
                || self
                    .store
                    .pending()
                    .map_err(invalid)?
                    .iter()
                    .any(|e| e.reorged_at.is_some() && holds_a_lower_nonce(e));
            if !below.is_empty() {
                *self.last_finality.lock().unwrap_or_else(|e| e.into_inner()) = None;
                tracing::debug!(
                    entry = id,
                    mined,
                    "a lower write of ours is gone: checked now"
                );
                // Those writes themselves, now: a finality check under way (slow behind a rate-limited node) would
                // find them only when it ends, and every write of this kiosk waits behind them meanwhile.
                match self.check_entries(below, 0).await {
                    Ok(r) if !r.reorged.is_empty() => {
                        tracing::warn!(entries = ?r.reorged, behind = id, "writes reorged away: sending them again")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, "the writes below not checked now")
                    }
                }
            }
        }
        if mined > last.nonce {
            // The nonce is used; if not by ours (checked above, and once more against a receipt race), by another.
            if let Some((h, r)) = self.any_receipt(id).await? {
                return Ok(Unstuck::Landed(self.landed(id, h, &r).await));
            }
            return Ok(Unstuck::NonceTaken);
        }
        let tx = SignedTx {
            hash,
            raw: raw.clone().into(),
            nonce: last.nonce,
            from: self.sender,
        };
        let waited = Duration::from_millis(
            u64::try_from(carekiosk_store::now_ms() - last.created_at).unwrap_or_default(),
        );
        if !behind_a_gone_write
            && (self.chain.priced_out(&raw).await? || waited >= self.stuck_after * 3)
        {
            let rep = self.chain.replacement(self.sender, &raw).await?;
            self.store
                .mark_submitted_raw(
                    id,
                    &self.sender.into_array(),
                    &rep.hash.0,
                    rep.nonce,
                    Some(&rep.raw),
                )
                .map_err(|e| ChainError::Invalid(e.to_string()))?;
            tracing::warn!(entry = id, old = %hash, new = %rep.hash, nonce = rep.nonce,
                "write stuck in the pool: replaced with higher fees");
            if let Err(e) = self.chain.broadcast(&rep).await {
                // Refused (underpriced for this node, say): the next look bumps again from this one.
                tracing::warn!(entry = id, error = %e, "the replacement was not accepted yet");
            }
            return Ok(Unstuck::Waiting(rep.hash));
        }
        let in_pool = self
            .chain
            .provider()
            .get_transaction_by_hash(hash)
            .await
            .map_err(|e| ChainError::node(self.chain.url(), e))?
            .is_some();
        if !in_pool {
            tracing::warn!(entry = id, %hash, "the node does not have this write: broadcasting it again");
            self.chain.broadcast(&tx).await?;
            return Ok(Unstuck::Waiting(hash));
        }
        Ok(Unstuck::Waiting(hash))
    }

    /// Included writes against the chain now: final once their block is at or below `finalized`; sent again
    /// (back to `submitted`, driven by the next [`Outbox::drain`]) if their transaction is no longer on the chain.
    pub async fn check_finality(&self) -> Result<Finality, KioskError> {
        let one = self.checking.lock().await;
        self.check_finality_held(one).await
    }

    /// [`Outbox::check_finality`] while holding its one-at-a-time lock.
    async fn check_finality_held(
        &self,
        _one: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<Finality, KioskError> {
        let unfinal = self.store.unfinal()?;
        if unfinal.is_empty() {
            return Ok(Finality::default());
        }
        let finalized = self.chain.finalized_block().await?;
        self.check_entries(unfinal, finalized).await
    }

    /// The finality check's look at `entries` (included writes) against the chain's `finalized` block: final,
    /// moved, or reorged away (back to `submitted`). With `finalized` 0 nothing becomes final and every receipt is
    /// checked against the chain's block at its height.
    async fn check_entries(
        &self,
        entries: Vec<OutboxEntry>,
        finalized: u64,
    ) -> Result<Finality, KioskError> {
        let mut report = Finality {
            finalized_block: finalized,
            ..Finality::default()
        };
        // The chain's block hash at each height asked in this check (writes share blocks).
        let mut canonical = HashMap::new();
        for e in entries {
            if self.is_driven(e.id) {
                continue;
            }
            let found = match self
                .canonical_receipt(e.id, finalized, &mut canonical)
                .await
            {
                Ok(found) => found,
                Err(err) if is_offline(&err) => return Err(err.into()),
                // One write's trouble (a rate limit that outlasted the retries, an answer that did not parse) is not
                // the others': they are checked now, this one next time.
                Err(err) => {
                    tracing::warn!(entry = e.id, error = %err, "finality of this write not checked now");
                    continue;
                }
            };
            match found {
                Some((h, r)) => {
                    let block = r.block_number.unwrap_or_default();
                    if block <= finalized {
                        self.store.mark_final(e.id, block)?;
                        report.became_final += 1;
                    } else if Some(block) != e.block || Some(h.0) != e.tx_hash {
                        self.store.mark_confirmed_by(e.id, &h.0, block)?;
                        report.moved += 1;
                    }
                }
                None => match self.store.mark_reorged(e.id) {
                    Ok(_) => report.reorged.push(e.id),
                    // Moved meanwhile (a task of this kiosk took it up): it is no longer ours to look at.
                    Err(carekiosk_store::StoreError::InvalidTransition { .. }) => {
                        tracing::debug!(
                            entry = e.id,
                            "moved during the finality check; left as it is"
                        )
                    }
                    Err(err) => return Err(err.into()),
                },
            }
        }
        Ok(report)
    }

    /// [`Outbox::any_receipt`] of entry `id`, if it is on the chain: above `finalized`, a receipt counts only if its
    /// block is the chain's block at that height (a replica that has not seen a reorg may still answer one).
    async fn canonical_receipt(
        &self,
        id: i64,
        finalized: u64,
        canonical: &mut HashMap<u64, Option<B256>>,
    ) -> Result<Option<(B256, alloy::rpc::types::TransactionReceipt)>, ChainError> {
        let Some((h, r)) = self.any_receipt(id).await? else {
            return Ok(None);
        };
        let (Some(n), Some(hash)) = (r.block_number, r.block_hash) else {
            return Ok(Some((h, r)));
        };
        if n <= finalized {
            return Ok(Some((h, r)));
        }
        let at = match canonical.get(&n) {
            Some(at) => *at,
            None => {
                let at = self
                    .chain
                    .provider()
                    .get_block_by_number(n.into())
                    .await
                    .map_err(|e| ChainError::node(self.chain.url(), e))?
                    .map(|b| b.header.hash);
                canonical.insert(n, at);
                at
            }
        };
        if at.is_some_and(|c| c != hash) {
            tracing::info!(
                entry = id,
                block = n,
                "a receipt from a block the chain replaced: not on the chain"
            );
            return Ok(None);
        }
        Ok(Some((h, r)))
    }

    /// [`Outbox::check_finality`], at most once per [`Outbox::with_finality_every`]; failures are logged (the
    /// next call tries again). [`Outbox::drain`] calls it.
    pub async fn check_finality_if_due(&self) {
        // One running already (slow behind a rate-limited node, say): its result will do, and the caller goes on —
        // a kiosk's background loop must not wait on it to send what is waiting.
        let Ok(one) = self.checking.try_lock() else {
            return;
        };
        {
            let mut last = self.last_finality.lock().unwrap_or_else(|e| e.into_inner());
            let now = tokio::time::Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < self.finality_every) {
                return;
            }
            *last = Some(now);
        }
        match self.check_finality_held(one).await {
            Ok(r) if !r.reorged.is_empty() => {
                tracing::warn!(entries = ?r.reorged, "writes reorged away: sending them again")
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "finality not checked now"),
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
        match self.any_receipt(entry.id).await {
            Ok(Some((h, r))) => {
                drop(order);
                return self.landed(entry.id, h, &r).await;
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
            // The nonce is free: this write has not landed (dropped, or its block reorged away). The same bytes
            // again when we have them (the same hash: nothing new can land twice); else signed again with the
            // same nonce, so the old copy and this one cannot both land.
            let last = self
                .store
                .attempts(entry.id)?
                .into_iter()
                .rev()
                .find(|a| a.nonce == nonce && a.raw.is_some());
            if let Some(a) = last {
                let tx = SignedTx {
                    hash: B256::from(a.tx_hash),
                    raw: a.raw.unwrap_or_default().into(),
                    nonce,
                    from: self.sender,
                };
                match self.chain.broadcast(&tx).await {
                    Ok(()) => {
                        tracing::info!(entry = entry.id, hash = %tx.hash, nonce, "write sent again as it was");
                        drop(order);
                        return self.wait(entry.id, tx.hash).await;
                    }
                    Err(e) if is_offline(&e) => return Ok(pending(entry, &e)),
                    // Refused as it is (priced out by now, say): replaced with fees raised from its own, as a
                    // node that may still hold the old copy requires (+10 % on the cap and on the tip), and at
                    // least today's.
                    Err(ChainError::Underpriced { .. }) => {
                        let rep = self.chain.replacement(self.sender, &tx.raw).await?;
                        self.store.mark_submitted_raw(
                            entry.id,
                            &self.sender.into_array(),
                            &rep.hash.0,
                            rep.nonce,
                            Some(&rep.raw),
                        )?;
                        tracing::warn!(entry = entry.id, old = %tx.hash, new = %rep.hash, nonce,
                            "resend priced out: replaced with higher fees");
                        match self.chain.broadcast(&rep).await {
                            Ok(()) => {
                                drop(order);
                                return self.wait(entry.id, rep.hash).await;
                            }
                            Err(e)
                                if is_offline(&e)
                                    || matches!(e, ChainError::Underpriced { .. }) =>
                            {
                                return Ok(pending(entry, &e))
                            }
                            Err(e) => return Err(e.into()),
                        }
                    }
                    Err(e) => {
                        tracing::warn!(entry = entry.id, error = %e, "resend refused; signing again")
                    }
                }
            }
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

    /// The nonces from `mined` up to `below` that no write of ours holds (none submitted or included with it) are
    /// holes: a refused write's transaction that a reorg took off the chain, say. Nothing after a hole can land, so
    /// each is filled with an empty transaction to ourselves (21,000 gas), and the writes behind it go through.
    async fn fill_gaps(&self, mined: u64, below: u64) -> Result<(), ChainError> {
        let invalid = |e: carekiosk_store::StoreError| ChainError::Invalid(e.to_string());
        let held: HashSet<u64> = self
            .store
            .pending()
            .map_err(invalid)?
            .into_iter()
            .filter(|e| e.state == OutboxState::Submitted)
            .chain(self.store.unfinal().map_err(invalid)?)
            .filter_map(|e| e.nonce)
            .collect();
        for nonce in (mined..below).filter(|n| !held.contains(n)) {
            let builder = CallBuilder::new_raw(self.chain.provider(), Bytes::new()).to(self.sender);
            let tx = self.chain.sign(self.sender, builder, nonce).await?;
            tracing::warn!(nonce, hash = %tx.hash, "a nonce no write holds blocks the writes after it: filled");
            if let Err(e) = self.chain.broadcast(&tx).await {
                tracing::warn!(nonce, error = %e, "the filler was not accepted yet");
            }
        }
        Ok(())
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

/// What looking at a waiting write found.
enum Unstuck {
    /// One of its transactions landed: confirmed, or refused (failed or deferred).
    Landed(Result<Submitted, KioskError>),
    /// Still waiting, now for this hash (the same, resent, or a replacement).
    Waiting(B256),
    /// Its nonce was used by a transaction that is not one of its own.
    NonceTaken,
}

/// What [`Outbox::check_finality`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finality {
    /// The chain's finalized block.
    pub finalized_block: u64,
    /// Writes that became final now.
    pub became_final: usize,
    /// Writes found in another block than recorded (re-included after a reorg).
    pub moved: usize,
    /// Writes whose transaction is no longer on the chain: back to `submitted`, sent again by the next drain.
    pub reorged: Vec<i64>,
}

/// How long after a write's block was reorged away a refusal of it is tried again (see the module's docs): the
/// writes it needs are found and sent again by their kiosks within their finality checks (10 s) and a few blocks.
pub const REORG_GRACE: Duration = Duration::from_secs(120);

const DEFERRED: &str =
    "refused while a write it needs is off the chain after a reorg: it is tried again in a few seconds";

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Receipt polling on a remote node: about Celo's block time.
pub const REMOTE_RECEIPT_POLL: Duration = Duration::from_secs(1);

fn stuck_after(poll: Duration) -> Duration {
    (poll * 4).max(Duration::from_secs(3))
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
