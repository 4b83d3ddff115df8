//! Finding a patient's key bundle: the hub keeps only its hash (`keyBundleOf`); the bytes travel in the calldata
//! of the `registerPatient`, `registerAndConsent` (the registration step, through HospitalRecord) or
//! `replaceCard` that set it, found through the event that call emitted.
//!
//! Public RPCs cap `eth_getLogs` ranges (500 blocks on some Celo providers), so a scan from the deployment block
//! fails on a chain a few hours old: callers pass the blocks their index recorded for the patient's registration
//! and card replacements, and each is asked for alone. Only without such a hint is the whole range asked for.

use alloy::primitives::{keccak256, Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};

use crate::bindings::PatientSmartCard as Hub;
use crate::{Chain, ChainError};

/// The bytes whose keccak-256 is `want`, from the newest registration or card replacement of `patient` that
/// carries them. `blocks` are where the caller's index saw those events (any order), each asked alone; when
/// none of them has it, the range from `from_block` to the latest block is asked for. `None` when no transaction there carries the bundle (a node behind, say).
pub async fn key_bundle_bytes(
    chain: &Chain,
    hub: Address,
    patient: B256,
    want: B256,
    blocks: &[u64],
    from_block: u64,
) -> Result<Option<Vec<u8>>, ChainError> {
    let filter = Filter::new()
        .address(hub)
        .event_signature(vec![
            Hub::PatientRegistered::SIGNATURE_HASH,
            Hub::CardReplaced::SIGNATURE_HASH,
        ])
        .topic1(patient);
    // The hinted blocks first, newest first; then (a hint gone stale after a reorg, or none) the whole range.
    let mut hinted = blocks.to_vec();
    hinted.sort_unstable_by(|a, b| b.cmp(a));
    hinted.dedup();
    let mut ranges: Vec<(u64, Option<u64>)> = hinted.into_iter().map(|b| (b, Some(b))).collect();
    ranges.push((from_block, None));
    for (from, to) in ranges {
        let f = match to {
            Some(to) => filter.clone().from_block(from).to_block(to),
            None => filter.clone().from_block(from),
        };
        let logs = chain
            .provider()
            .get_logs(&f)
            .await
            .map_err(|e| ChainError::node(chain.url(), e))?;
        for log in logs.iter().rev() {
            let Some(tx_hash) = log.transaction_hash else {
                continue;
            };
            let Some(tx) = chain
                .provider()
                .get_transaction_by_hash(tx_hash)
                .await
                .map_err(|e| ChainError::node(chain.url(), e))?
            else {
                continue;
            };
            let input = alloy::consensus::Transaction::input(tx.inner.inner());
            let bytes = if let Ok(c) = Hub::registerPatientCall::abi_decode(input) {
                c.keyBundle
            } else if let Ok(c) =
                crate::bindings::HospitalRecord::registerAndConsentCall::abi_decode(input)
            {
                c.keyBundle
            } else if let Ok(c) = Hub::replaceCardCall::abi_decode(input) {
                c.keyBundle
            } else {
                continue;
            };
            if keccak256(&bytes) == want {
                return Ok(Some(bytes.to_vec()));
            }
        }
    }
    Ok(None)
}
