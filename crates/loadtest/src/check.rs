//! The checker: after a run, every kiosk's database against the chain. Every confirmed outbox write is on chain
//! exactly once (same sender, target and calldata, successful); no write is left pending; no kiosk transaction
//! on chain lacks its outbox row; no two kiosk transactions carry the same calldata; every indexed row (records,
//! prescriptions, claims) is a chain event and every chain event of the run's patients is indexed, once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use alloy::primitives::{Address, Bytes, B256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use alloy::sol_types::SolCall;
use carekiosk_chain::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess,
};
use carekiosk_chain::{Chain, ChainError, Deployment};
use carekiosk_kiosk::outbox::Call;
use carekiosk_store::{OutboxState, Store};

use crate::LoadError;

/// One transaction as the chain has it.
#[derive(Debug, Clone)]
pub struct ChainTx {
    /// Sender.
    pub from: Address,
    /// Target.
    pub to: Option<Address>,
    /// Calldata.
    pub input: Bytes,
    /// Succeeded.
    pub ok: bool,
    /// Gas used.
    pub gas: u64,
}

/// The chain as the checker read it: every block `0..=latest` with its receipts, and the blocks the node would
/// not serve.
#[derive(Debug, Default)]
pub struct ChainRead {
    /// Blocks with their receipts, in height order.
    pub blocks: Vec<(alloy::rpc::types::Block, Vec<TransactionReceipt>)>,
    /// Heights below the head the node answered nothing for, by number or by the hash its successor names
    /// (Anvil does this for a block some `anvil_reorg`s replaced). Their transactions are looked up by hash
    /// ([`by_hash`]); a kiosk write there without an outbox row cannot be seen.
    pub unserved: Vec<u64>,
}

/// Reads every block `0..=latest` and its receipts once. A block the node does not serve is asked again a few
/// times, then by its successor's parent hash, then noted in [`ChainRead::unserved`] instead of ending the check.
pub async fn read_chain(chain: &Chain) -> Result<ChainRead, LoadError> {
    let latest = chain.block_number().await?;
    let mut out = ChainRead::default();
    for n in 0..=latest {
        match block_and_receipts(chain, n).await? {
            Some(b) => out.blocks.push(b),
            None => {
                tracing::warn!(block = n, "the node serves no block at this height");
                out.unserved.push(n);
            }
        }
    }
    Ok(out)
}

async fn block_and_receipts(
    chain: &Chain,
    n: u64,
) -> Result<Option<(alloy::rpc::types::Block, Vec<TransactionReceipt>)>, LoadError> {
    let node = |e| ChainError::node(chain.url(), e);
    let p = chain.provider();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        let mut block = p.get_block_by_number(n.into()).full().await.map_err(node)?;
        if block.is_none() {
            if let Some(next) = p.get_block_by_number((n + 1).into()).await.map_err(node)? {
                block = p
                    .get_block_by_hash(next.header.parent_hash)
                    .full()
                    .await
                    .map_err(node)?;
            }
        }
        if let Some(b) = block {
            let receipts = p
                .get_block_receipts(alloy::eips::BlockId::hash(b.header.hash))
                .await
                .map_err(node)?
                .unwrap_or_default();
            return Ok(Some((b, receipts)));
        }
    }
    Ok(None)
}

/// Every transaction of the blocks read, by hash.
pub fn chain_txs(read: &ChainRead) -> HashMap<B256, ChainTx> {
    let mut out = HashMap::new();
    for (block, receipts) in &read.blocks {
        let receipts: HashMap<B256, (bool, u64)> = receipts
            .iter()
            .map(|r| (r.transaction_hash, (r.status(), r.gas_used)))
            .collect();
        for tx in block.transactions.txns() {
            let hash = *tx.inner.tx_hash();
            let inner = tx.inner.inner();
            let (ok, gas) = receipts.get(&hash).copied().unwrap_or((false, 0));
            out.insert(
                hash,
                ChainTx {
                    from: tx.inner.signer(),
                    to: alloy::consensus::Transaction::to(inner),
                    input: alloy::consensus::Transaction::input(inner).clone(),
                    ok,
                    gas,
                },
            );
        }
    }
    out
}

/// The kiosks' transactions (confirmed writes and every attempt) missing from `txs`, looked up by hash: those
/// mined in a block the node does not serve ([`ChainRead::unserved`]). Returns how many were found.
pub async fn by_hash(
    chain: &Chain,
    kiosks: &[KioskDb],
    unserved: &[u64],
    txs: &mut HashMap<B256, ChainTx>,
) -> Result<usize, LoadError> {
    if unserved.is_empty() {
        return Ok(0);
    }
    let node = |e| ChainError::node(chain.url(), e);
    let mut wanted: HashSet<B256> = HashSet::new();
    for k in kiosks {
        let store = Store::open(&k.path, &k.key)?;
        for e in outbox_entries(&store)? {
            wanted.extend(e.tx_hash.map(B256::from));
            for a in store.attempts(e.id)? {
                wanted.insert(B256::from(a.tx_hash));
            }
        }
    }
    let mut found = 0;
    wanted.retain(|h| !txs.contains_key(h));
    for h in wanted {
        let Some(receipt) = chain
            .provider()
            .get_transaction_receipt(h)
            .await
            .map_err(node)?
        else {
            continue;
        };
        if !receipt.block_number.is_some_and(|b| unserved.contains(&b)) {
            continue;
        }
        let Some(tx) = chain
            .provider()
            .get_transaction_by_hash(h)
            .await
            .map_err(node)?
        else {
            continue;
        };
        let inner = tx.inner.inner();
        txs.insert(
            h,
            ChainTx {
                from: tx.inner.signer(),
                to: alloy::consensus::Transaction::to(inner),
                input: alloy::consensus::Transaction::input(inner).clone(),
                ok: receipt.status(),
                gas: receipt.gas_used,
            },
        );
        found += 1;
    }
    Ok(found)
}

/// A kiosk to check.
#[derive(Debug, Clone)]
pub struct KioskDb {
    /// Name (`doctor-1`).
    pub name: String,
    /// Its signer.
    pub address: Address,
    /// Its database file.
    pub path: PathBuf,
    /// Its database key.
    pub key: [u8; 32],
}

/// What the checker found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    /// Kiosk databases checked (each opened and `integrity_check`ed).
    pub kiosks: usize,
    /// Outbox writes confirmed, over all kiosks.
    pub confirmed: usize,
    /// Kiosk transactions on chain.
    pub chain_writes: usize,
    /// Confirmed writes not (or not exactly) on chain.
    pub lost: Vec<String>,
    /// Writes on chain twice, or chain writes without their outbox row.
    pub doubled: Vec<String>,
    /// Writes left queued or submitted.
    pub orphans: Vec<String>,
    /// Writes the chain refused.
    pub refused: Vec<String>,
    /// Writes the chain refused that were asked again and landed (the same action's later entry is confirmed).
    pub refused_then_landed: usize,
    /// Writes the chain refused because a reorganisation had renumbered what they named (`ClaimChanged`,
    /// `PrescriptionChanged`): nothing was decided on the wrong claim; the desk decides it again.
    pub renumbered: usize,
    /// Kiosk transactions the chain refused (mined, reverted) that belong to an outbox row: a write deferred
    /// after a reorg (its entry confirmed later, or refused) leaves them.
    pub refused_on_chain: usize,
    /// Empty transactions of a kiosk to itself: nonces no write held (left by a refused write a reorg took off),
    /// filled so that the writes behind them could land.
    pub gap_fillers: usize,
    /// Index rows without their chain event, or chain events not indexed.
    pub unexplained: Vec<String>,
    /// Index rows compared.
    pub rows: usize,
    /// Heights the node would not serve ([`ChainRead::unserved`]).
    pub unserved_blocks: Vec<u64>,
    /// Kiosk transactions in those blocks, found by their hashes.
    pub found_by_hash: usize,
}

impl CheckReport {
    /// Whether nothing was lost, doubled, orphaned, refused or unexplained.
    pub fn clean(&self) -> bool {
        self.lost.is_empty()
            && self.doubled.is_empty()
            && self.orphans.is_empty()
            && self.refused.is_empty()
            && self.unexplained.is_empty()
    }
}

/// Whether a refused write was refused because a reorganisation renumbered the claim or prescription it named.
pub fn renumbered(e: &carekiosk_store::OutboxEntry) -> bool {
    e.state == OutboxState::Failed
        && e.last_error.as_deref().is_some_and(|d| {
            matches!(
                carekiosk_chain::Revert::recorded(d).name.as_str(),
                "ClaimChanged" | "PrescriptionChanged"
            )
        })
}

/// Every outbox entry of a kiosk's database, in id order. Ids are not dense (an idempotent re-enqueue can use one
/// up): read until a long run of missing ids.
pub fn outbox_entries(store: &Store) -> Result<Vec<carekiosk_store::OutboxEntry>, LoadError> {
    let mut entries = Vec::new();
    let (mut id, mut missing) = (1i64, 0);
    while missing < 1000 {
        match store.outbox_entry(id)? {
            Some(e) => {
                entries.push(e);
                missing = 0;
            }
            None => missing += 1,
        }
        id += 1;
    }
    Ok(entries)
}

/// Whether the action of a refused entry (kept under `<key>#refused-<id>`) was asked again and confirmed.
pub(crate) fn superseded(store: &Store, aside: &str) -> Result<bool, LoadError> {
    let key = aside.split("#refused-").next().unwrap_or(aside);
    Ok(store
        .outbox_by_key(key)?
        .is_some_and(|e| e.state == OutboxState::Confirmed))
}

fn first_word(input: &Bytes) -> Option<B256> {
    (input.len() >= 36).then(|| B256::from_slice(&input[4..36]))
}

/// Compares every kiosk's database with the chain. `patients`: the run's patients.
pub fn check(
    txs: &HashMap<B256, ChainTx>,
    d: &Deployment,
    kiosks: &[KioskDb],
    patients: &[B256],
) -> Result<CheckReport, LoadError> {
    let mut rep = CheckReport {
        kiosks: kiosks.len(),
        ..CheckReport::default()
    };
    let senders: HashSet<Address> = kiosks.iter().map(|k| k.address).collect();
    let mut claimed: HashMap<B256, String> = HashMap::new();
    // Chain events per patient, by kind of write: how many rows each transaction makes (a visit's records are
    // several in one `recordVisit`).
    let mut chain_rows: HashMap<(&str, B256), HashMap<B256, usize>> = HashMap::new();
    for (hash, tx) in txs
        .iter()
        .filter(|(_, t)| t.ok && senders.contains(&t.from))
    {
        let sel: [u8; 4] = tx
            .input
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        // The index rows the transaction makes: (table, how many).
        let rows: Vec<(&str, usize)> = if sel == HospitalRecord::addMedicalRecordCall::SELECTOR
            || sel == HospitalRecord::updateMedicalHistoryCall::SELECTOR
            || sel == HospitalRecord::recordVisitCall::SELECTOR
            || sel == HospitalRecord::registerAndConsentCall::SELECTOR
        {
            vec![(
                "record",
                carekiosk_chain::payloads::sealed_payloads(&tx.input).len(),
            )]
        } else if sel == HospitalRecord::consultCall::SELECTOR {
            // The consultation step: its records, its prescriptions and, when it bills, one claim.
            use alloy::sol_types::SolCall;
            match HospitalRecord::consultCall::abi_decode(&tx.input) {
                Ok(c) => {
                    let billed = !c.sealedClaim.is_empty() || !c.claimAmount.is_zero();
                    vec![
                        ("record", c.sealedRecords.len()),
                        ("prescription", c.prescriptions.len()),
                        ("claim", usize::from(billed)),
                    ]
                }
                Err(_) => Vec::new(),
            }
        } else if sel == PharmacyAccess::issuePrescriptionCall::SELECTOR {
            vec![("prescription", 1)]
        } else if sel == InsuranceProvider::submitClaimCall::SELECTOR {
            vec![("claim", 1)]
        } else {
            Vec::new()
        };
        // The registration step names its patient by the card's key (the patient id is its hash).
        let pid = if sel == HospitalRecord::registerAndConsentCall::SELECTOR {
            use alloy::sol_types::SolCall;
            HospitalRecord::registerAndConsentCall::abi_decode(&tx.input)
                .ok()
                .map(|c| carekiosk_chain::eip712::key_hash(c.sig.qx, c.sig.qy))
        } else {
            first_word(&tx.input)
        };
        if let Some(pid) = pid {
            for (t, n) in rows.into_iter().filter(|(_, n)| *n > 0) {
                chain_rows.entry((t, pid)).or_default().insert(*hash, n);
            }
        }
    }
    for k in kiosks {
        let store = Store::open(&k.path, &k.key)?;
        store.integrity_check()?;
        for e in outbox_entries(&store)? {
            let label = format!("{} outbox {} ({})", k.name, e.id, e.kind);
            // Its transactions the chain refused (a write sent again after a reorg before what it needs was
            // back, then deferred and sent again): they are its own, not writes without a row.
            for a in store.attempts(e.id)? {
                let h = B256::from(a.tx_hash);
                if txs.get(&h).is_some_and(|t| !t.ok) {
                    rep.refused_on_chain += 1;
                    claimed.insert(h, label.clone());
                }
            }
            match e.state {
                OutboxState::Queued | OutboxState::Submitted => {
                    rep.orphans.push(label);
                    continue;
                }
                OutboxState::Failed
                    if e.idempotency_key.contains("#refused-")
                        && superseded(&store, &e.idempotency_key)? =>
                {
                    // Refused (a reorg had taken what it needed off the chain), asked again and landed.
                    rep.refused_then_landed += 1;
                    continue;
                }
                OutboxState::Failed if renumbered(&e) => {
                    rep.renumbered += 1;
                    continue;
                }
                OutboxState::Failed => {
                    rep.refused.push(format!(
                        "{label}: {}",
                        e.last_error.clone().unwrap_or_default()
                    ));
                    continue;
                }
                OutboxState::Confirmed => {}
            }
            rep.confirmed += 1;
            let hash = B256::from(e.tx_hash.unwrap_or_default());
            let call: Call = serde_json::from_value(e.payload.clone())
                .map_err(|err| LoadError::Check(format!("{label}: unreadable payload: {err}")))?;
            match txs.get(&hash) {
                Some(tx)
                    if tx.ok
                        && tx.from == k.address
                        && tx.to == Some(call.to)
                        && tx.input == call.data => {}
                Some(_) => rep
                    .lost
                    .push(format!("{label}: {hash} on chain differs or failed")),
                None => rep.lost.push(format!("{label}: {hash} not on chain")),
            }
            if let Some(other) = claimed.insert(hash, label.clone()) {
                rep.doubled
                    .push(format!("{label} and {other} share {hash}"));
            }
        }
        for pid in patients {
            let mut compare = |table: &str, rows: Vec<B256>| {
                rep.rows += rows.len();
                let mut have: HashMap<B256, usize> = HashMap::new();
                for r in &rows {
                    *have.entry(*r).or_default() += 1;
                }
                let want = chain_rows.get(&(table, *pid)).cloned().unwrap_or_default();
                for (r, n) in &have {
                    match want.get(r) {
                        None => rep.unexplained.push(format!(
                            "{}: {table} row from {r} has no chain event",
                            k.name
                        )),
                        Some(m) if n > m => rep
                            .unexplained
                            .push(format!("{}: a {table} of {pid} indexed twice", k.name)),
                        _ => {}
                    }
                }
                for (r, m) in &want {
                    if have.get(r).copied().unwrap_or_default() < *m {
                        rep.unexplained.push(format!(
                            "{}: chain {table} {r} of {pid} not indexed",
                            k.name
                        ));
                    }
                }
            };
            compare(
                "record",
                store
                    .record_headers(&pid.0)?
                    .iter()
                    .map(|h| B256::from(h.tx_hash))
                    .collect(),
            );
            compare(
                "prescription",
                store
                    .prescriptions_of(&pid.0)?
                    .iter()
                    .map(|p| B256::from(p.tx_hash))
                    .collect(),
            );
            compare(
                "claim",
                store
                    .claims_of_patient(&pid.0)?
                    .iter()
                    .map(|c| B256::from(c.tx_hash))
                    .collect(),
            );
        }
    }
    // Every kiosk transaction on chain has its outbox row; no calldata twice. Not the kiosk key's acceptance of
    // its institution, which the driver sends at set-up (before any visit, outside the kiosks' outboxes; kiosks of
    // one institution accept it with the same calldata).
    let accept = {
        use alloy::sol_types::SolCall;
        carekiosk_chain::bindings::PatientSmartCard::acceptKioskCall::SELECTOR
    };
    let mut seen: HashMap<&Bytes, B256> = HashMap::new();
    for (hash, tx) in txs
        .iter()
        .filter(|(_, t)| senders.contains(&t.from) && t.input.get(..4) != Some(&accept[..]))
    {
        // An empty transaction of a kiosk to itself fills a nonce no write held (the outbox's gap filler).
        if tx.to == Some(tx.from) && tx.input.is_empty() {
            rep.gap_fillers += 1;
            continue;
        }
        rep.chain_writes += 1;
        if !claimed.contains_key(hash) {
            rep.doubled.push(format!(
                "chain transaction {hash} from kiosk {} has no outbox row",
                tx.from
            ));
        }
        if tx.ok {
            if let Some(other) = seen.insert(&tx.input, *hash) {
                rep.doubled.push(format!(
                    "transactions {hash} and {other} carry the same calldata"
                ));
            }
        }
    }
    let _ = d;
    Ok(rep)
}

/// The functions of one full visit and how many times each runs: one transaction per desk step.
pub const VISIT: [(&str, u32); 5] = [
    // Reception: registration, the hospital's consent (the new patient's check-in) and the demographics.
    ("registerAndConsent", 1),
    // The insurer's desk: its consent and the enrolment.
    ("enrollWithConsent", 1),
    // The doctor: the diagnosis and its plan, the prescription, the claim.
    ("consult", 1),
    // The pharmacy: its consent and the dispense.
    ("dispenseWithConsent", 1),
    // The insurer: approve and pay.
    ("settleClaim", 1),
];

/// The writes of one full visit ([`VISIT`]).
pub fn visit_writes() -> u32 {
    VISIT.iter().map(|(_, n)| n).sum()
}

/// The name of a kiosk write from its selector.
pub fn function_of(input: &Bytes) -> Option<&'static str> {
    let sel: [u8; 4] = input.get(..4)?.try_into().ok()?;
    let names: [([u8; 4], &str); 16] = [
        (
            PatientSmartCard::registerPatientCall::SELECTOR,
            "registerPatient",
        ),
        (PatientSmartCard::grantConsentCall::SELECTOR, "grantConsent"),
        (
            HospitalRecord::addMedicalRecordCall::SELECTOR,
            "addMedicalRecord",
        ),
        (
            HospitalRecord::updateMedicalHistoryCall::SELECTOR,
            "updateMedicalHistory",
        ),
        (
            HospitalRecord::registerAndConsentCall::SELECTOR,
            "registerAndConsent",
        ),
        (HospitalRecord::recordVisitCall::SELECTOR, "recordVisit"),
        (HospitalRecord::consultCall::SELECTOR, "consult"),
        (
            InsuranceProvider::enrollPatientCall::SELECTOR,
            "enrollPatient",
        ),
        (
            InsuranceProvider::enrollWithConsentCall::SELECTOR,
            "enrollWithConsent",
        ),
        (
            PharmacyAccess::issuePrescriptionCall::SELECTOR,
            "issuePrescription",
        ),
        (InsuranceProvider::submitClaimCall::SELECTOR, "submitClaim"),
        (
            PharmacyAccess::dispensePrescriptionCall::SELECTOR,
            "dispensePrescription",
        ),
        (
            PharmacyAccess::dispenseWithConsentCall::SELECTOR,
            "dispenseWithConsent",
        ),
        (
            InsuranceProvider::approveClaimCall::SELECTOR,
            "approveClaim",
        ),
        (
            InsuranceProvider::processPaymentCall::SELECTOR,
            "processPayment",
        ),
        (InsuranceProvider::settleClaimCall::SELECTOR, "settleClaim"),
    ];
    names.iter().find(|(s, _)| *s == sel).map(|(_, n)| *n)
}

/// Gas of the kiosks' successful writes: the median per function, and one full visit made of them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GasReport {
    /// Median gas per function (and how many were measured).
    pub per_function: BTreeMap<String, (u64, usize)>,
    /// One full visit: the sum of [`VISIT`] at the medians.
    pub per_visit: u64,
    /// All the kiosks' gas over the run divided by the completed visits (retried consents and abandoned
    /// visits included).
    pub per_visit_measured: u64,
}

/// Gas from the receipts of the kiosks' writes.
pub fn gas(txs: &HashMap<B256, ChainTx>, senders: &HashSet<Address>, visits: usize) -> GasReport {
    let mut by: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut total = 0u64;
    for tx in txs.values().filter(|t| t.ok && senders.contains(&t.from)) {
        total += tx.gas;
        if let Some(f) = function_of(&tx.input) {
            by.entry(f.to_string()).or_default().push(tx.gas);
        }
    }
    let per_function: BTreeMap<String, (u64, usize)> = by
        .into_iter()
        .map(|(k, mut v)| {
            v.sort_unstable();
            (k, (v[v.len() / 2], v.len()))
        })
        .collect();
    let per_visit = VISIT
        .iter()
        .map(|(f, n)| per_function.get(*f).map_or(0, |(g, _)| g * u64::from(*n)))
        .sum();
    GasReport {
        per_function,
        per_visit,
        per_visit_measured: total / visits.max(1) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: Option<&str>) -> carekiosk_store::OutboxEntry {
        carekiosk_store::OutboxEntry {
            id: 1,
            idempotency_key: "settle:1".into(),
            kind: "settleClaim".into(),
            payload: serde_json::json!(null),
            state: OutboxState::Failed,
            tx_hash: None,
            nonce: None,
            sender: None,
            block: None,
            attempts: 1,
            last_error: error.map(str::to_string),
            created_at: 0,
            updated_at: 0,
            final_block: None,
            reorged_at: Some(0),
        }
    }

    #[test]
    fn only_a_refusal_naming_a_renumbered_claim_or_prescription_counts_as_renumbered() {
        assert!(renumbered(&failed(Some(
            "ClaimChanged { claimId: 25, expected: 0x01, actual: 0x02 }"
        ))));
        assert!(renumbered(&failed(Some("PrescriptionChanged { id: 3 }"))));
        assert!(!renumbered(&failed(Some(
            "WrongEpoch { given: 1, current: 0 }"
        ))));
        assert!(!renumbered(&failed(Some(
            "ClaimChangedSoon is not a revert"
        ))));
        assert!(!renumbered(&failed(None)));
        let mut confirmed = failed(Some("ClaimChanged { claimId: 1 }"));
        confirmed.state = OutboxState::Confirmed;
        assert!(!renumbered(&confirmed));
    }
}
