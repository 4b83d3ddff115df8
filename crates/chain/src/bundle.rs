//! Finding a patient's key bundle: the hub keeps only the first [`BUNDLE_HASH_PREFIX`] bytes of its hash
//! (`keyBundleOf`, zero-padded; the card signed the whole hash when it registered or replaced the bundle); the
//! bytes travel in the calldata of the `registerPatient`, `registerAndConsent` (the registration step, through
//! HospitalRecord) or `replaceCard` that set it, found through the event that call emitted.
//!
//! Public RPCs cap `eth_getLogs` ranges (500 blocks on some Celo providers), so a scan from the deployment block
//! fails on a chain a few hours old: callers pass the blocks their index recorded for the patient's registration
//! and card replacements, and each is asked for alone. Without such a hint (or with one a reorg made stale) the
//! range back to the deployment is scanned newest first in windows of [`SCAN_WINDOW`] blocks, halved when the
//! node still refuses one as too wide.

use alloy::primitives::{keccak256, Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::sol_types::{SolCall, SolEvent};

use crate::bindings::PatientSmartCard as Hub;
use crate::{Chain, ChainError};

/// How many leading bytes of the bundle's keccak-256 the hub keeps (`keyBundleOf` pads them with zeros).
pub const BUNDLE_HASH_PREFIX: usize = 15;

/// Whether `bytes` are the bundle `keyBundleOf` answered `want` for (its hash's first [`BUNDLE_HASH_PREFIX`] bytes).
pub fn is_bundle(bytes: &[u8], want: B256) -> bool {
    keccak256(bytes)[..BUNDLE_HASH_PREFIX] == want[..BUNDLE_HASH_PREFIX]
}

/// The widest window of the fallback scan: within the caps of the public Celo RPCs we know (500 blocks).
pub const SCAN_WINDOW: u64 = 500;

/// Whether a node refused an `eth_getLogs` for its block range (the wordings providers use).
fn range_refused(e: &alloy::transports::TransportError) -> bool {
    let t = e.to_string().to_lowercase();
    [
        "block range",
        "range limit",
        "too many blocks",
        "-32005",
        "limit exceeded",
        "exceed maximum",
    ]
    .iter()
    .any(|w| t.contains(w))
}

/// The bytes `want` names ([`is_bundle`]: `keyBundleOf`'s answer, or the bundle's whole hash), from the newest registration or card replacement of `patient` that
/// carries them. `blocks` are where the caller's index saw those events (any order), each asked alone; when
/// none of them has it, the blocks from the latest back to `from_block` are scanned, newest first, in windows of
/// at most [`SCAN_WINDOW`] (halved while the node refuses one as too wide). `None` when no transaction there
/// carries the bundle (a node behind, say).
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
    // The hinted blocks first, newest first, each alone.
    let mut hinted = blocks.to_vec();
    hinted.sort_unstable_by(|a, b| b.cmp(a));
    hinted.dedup();
    for b in hinted {
        let f = filter.clone().from_block(b).to_block(b);
        let logs = chain
            .provider()
            .get_logs(&f)
            .await
            .map_err(|e| ChainError::node(chain.url(), e))?;
        if let Some(bytes) = carried(chain, &logs, want).await? {
            return Ok(Some(bytes));
        }
    }
    // Then (a hint gone stale after a reorg, or none) back to `from_block`, newest first, window by window. The
    // newest window reaches the node's `latest`, not the number it reported: a load-balanced RPC may report a head a
    // few blocks behind the block that just carried the transaction (sent again after a reorg).
    let mut to = chain.block_number().await?;
    let mut window = SCAN_WINDOW;
    let mut newest = true;
    while to >= from_block {
        let from = to.saturating_sub(window - 1).max(from_block);
        let f = filter.clone().from_block(from);
        let f = if newest {
            f.to_block(alloy::eips::BlockNumberOrTag::Latest)
        } else {
            f.to_block(to)
        };
        let logs = match chain.provider().get_logs(&f).await {
            Ok(logs) => logs,
            Err(e) if window > 1 && range_refused(&e) => {
                window /= 2;
                continue;
            }
            Err(e) => return Err(ChainError::node(chain.url(), e)),
        };
        if let Some(bytes) = carried(chain, &logs, want).await? {
            return Ok(Some(bytes));
        }
        newest = false;
        if from == 0 {
            break;
        }
        to = from - 1;
    }
    Ok(None)
}

/// The bundle whose hash is `want` in the calldata of the transactions behind `logs`, newest first.
async fn carried(
    chain: &Chain,
    logs: &[alloy::rpc::types::Log],
    want: B256,
) -> Result<Option<Vec<u8>>, ChainError> {
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
        if is_bundle(&bytes, want) {
            return Ok(Some(bytes.to_vec()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_is_named_by_its_hash_or_the_prefix_the_hub_keeps() {
        let bundle = b"a key bundle".as_slice();
        let whole = keccak256(bundle);
        let mut kept = B256::ZERO;
        kept[..BUNDLE_HASH_PREFIX].copy_from_slice(&whole[..BUNDLE_HASH_PREFIX]);
        assert!(is_bundle(bundle, whole));
        assert!(is_bundle(bundle, kept), "keyBundleOf's zero-padded prefix");
        assert!(!is_bundle(b"another bundle", kept));
        let mut off = kept;
        off[BUNDLE_HASH_PREFIX - 1] ^= 1;
        assert!(!is_bundle(bundle, off), "every kept byte counts");
        assert!(
            !is_bundle(bundle, B256::ZERO),
            "an unknown patient's zero names nothing"
        );
    }
}
