//! Counters of everything the proxy did, readable with [`crate::Proxy::stats`] or the JSON-RPC method
//! `celolike_stats` (same JSON, camelCase).

use std::collections::BTreeMap;

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

/// One reorg the proxy made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReorgEvent {
    /// The transaction whose receipt triggered it.
    pub trigger: B256,
    /// Blocks replaced.
    pub depth: u64,
    /// The first replaced block number (the chain's height did not change).
    pub first_block: u64,
    /// The head before and after.
    pub head: u64,
    /// Transactions of the replaced blocks that are no longer on the chain.
    pub dropped: Vec<B256>,
    /// Transactions of the replaced blocks mined again in a new block.
    pub reincluded: Vec<B256>,
    /// Heights of the new blocks the node then served nothing for (`eth_getBlockByNumber` null below its head):
    /// Anvil's doing, not a chain's; whatever was mined there is invisible to `eth_getLogs`.
    #[serde(default)]
    pub unserved: Vec<u64>,
}

/// What the proxy did since it started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// HTTP requests received (a batch is one).
    pub http_requests: u64,
    /// HTTP requests by URL path: clients that put their name in the URL (`http://host:port/kiosk/doctor-0`) are
    /// counted apart (they all come from one address, as kiosks behind a hospital's NAT).
    pub http_requests_by_path: BTreeMap<String, u64>,
    /// JSON-RPC calls by method (each call of a batch counts).
    pub calls_by_method: BTreeMap<String, u64>,
    /// JSON-RPC calls by URL path, then method (`eth_getBlockByNumber` split by its block: `…(latest)`,
    /// `…(safe)`, `…(finalized)`, `…(number)`): where a client's requests go.
    pub calls_by_path: BTreeMap<String, BTreeMap<String, u64>>,
    /// 429s because the token bucket was empty.
    pub rate_limited_by_bucket: u64,
    /// 429s drawn at random.
    pub rate_limited_at_random: u64,
    /// Requests held past `hang_for` and closed without an answer.
    pub hung: u64,
    /// `eth_getLogs` calls refused for their block range.
    pub log_range_errors: u64,
    /// Block numbers and nonces answered stale.
    pub stale_answers: u64,
    /// Transactions whose first send was dropped.
    pub dropped_sends: Vec<B256>,
    /// Reorgs made.
    pub reorgs: Vec<ReorgEvent>,
    /// Reorgs drawn but skipped (the transaction's block already deeper than `max_depth`, or gone).
    pub reorgs_skipped: u64,
    /// Reorgs that failed at the node.
    pub reorg_failures: u64,
    /// Fee spikes started.
    pub fee_spikes: u64,
    /// Requests answered 502 because Anvil did not answer.
    pub upstream_failures: u64,
}

impl Stats {
    /// All 429s.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited_by_bucket + self.rate_limited_at_random
    }

    /// Every transaction hash a reorg took off the chain or moved, in order.
    pub fn reorged_txs(&self) -> Vec<B256> {
        self.reorgs
            .iter()
            .flat_map(|r| r.dropped.iter().chain(r.reincluded.iter()).copied())
            .collect()
    }
}
