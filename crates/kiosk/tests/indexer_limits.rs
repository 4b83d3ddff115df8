//! The indexer against a real Anvil (no card readers): it follows `safe`, records `finalized`, catches up under
//! an `eth_getLogs` range cap imposed by a small proxy, asks again for logs whose block hash is stale, and rewinds
//! a reorganisation. Needs Anvil (`CAREKIOSK_ANVIL` or the project's npm install).

use carekiosk_testkit::capped;

use std::sync::atomic::Ordering;

use alloy::primitives::{B256, U256};
use alloy::providers::Provider;
use capped::{capped, reader, stack, Wording};
use carekiosk_kiosk::indexer::{Follow, Indexer, IndexerConfig};
use carekiosk_store::Store;

fn open_store(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path().join("kiosk.db"), &[7; 32]).unwrap()
}

/// An indexer of `st`'s deployment reading through `url` into `store`.
async fn indexer(url: &str, store: &Store, st: &capped::Stack, config: IndexerConfig) -> Indexer {
    Indexer::with_config(reader(url).await, store.clone(), st.d.clone(), config)
}

/// The chain as it is now, to go back to (`revert`): the blocks after it are replaced by new ones.
async fn snapshot(st: &capped::Stack) -> U256 {
    st.chain
        .provider()
        .raw_request("evm_snapshot".into(), ())
        .await
        .unwrap()
}

async fn revert(st: &capped::Stack, snap: U256) {
    let reverted: bool = st
        .chain
        .provider()
        .raw_request("evm_revert".into(), (snap,))
        .await
        .unwrap();
    assert!(reverted);
}

/// An indexer of `st`'s deployment that follows `latest` (the reorg tests: the blocks they replace are the newest).
async fn following_latest(url: &str, store: &Store, st: &capped::Stack) -> Indexer {
    let config = IndexerConfig {
        follow: Follow::Latest,
        ..IndexerConfig::default()
    };
    indexer(url, store, st, config).await
}

fn registered(store: &Store, pid: &[u8; 32]) -> bool {
    store
        .patient_log(pid)
        .unwrap()
        .iter()
        .any(|e| e.event == "registered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_safe_records_finalized_and_catches_up_under_a_range_cap() {
    let st = stack(4).await;
    let mut early = Vec::new();
    for _ in 0..3 {
        st.mine(150).await;
        early.push(st.register_patient().await);
    }
    st.mine(150).await;
    // The last one is above `safe` (latest − 4): not indexed yet.
    let (late, late_block) = st.register_patient().await;
    st.mine(1).await;
    let proxy = capped(&st.url, 100, Wording::Plain).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let ix = indexer(
        &proxy.url,
        &store,
        &st,
        IndexerConfig {
            follow: Follow::Safe,
            confirmations: 12,
            max_window: 2_000,
        },
    )
    .await;
    let (safe, finalized) = (st.tag("safe").await, st.tag("finalized").await);
    assert!(
        safe < late_block && finalized < safe,
        "{finalized} < {safe} < {late_block}"
    );
    let connect = proxy.stats.requests.load(Ordering::Relaxed); // eth_chainId
    let r = ix.sync().await.unwrap();
    assert_eq!(r.head, safe, "{r:?}");
    assert_eq!(r.block, safe, "indexed up to safe: {r:?}");
    assert_eq!(r.finalized, Some(finalized));
    assert_eq!(ix.finalized().unwrap(), Some(finalized));
    assert_eq!(r.events, early.len(), "{r:?}");
    for (pid, _) in &early {
        assert!(registered(&store, pid));
    }
    assert!(!registered(&store, &late), "above safe: not indexed yet");
    // The proxy refused wide windows and never answered one over its cap; the indexer learnt the cap.
    let s = &proxy.stats;
    assert!(
        s.refused.load(Ordering::Relaxed) >= 4,
        "2000, 1000, 500, 250 refused"
    );
    assert_eq!(r.range_errors, s.refused.load(Ordering::Relaxed));
    assert!(s.widest_served.load(Ordering::Relaxed) <= 100);
    assert!(
        ix.window() <= 100 && ix.window() >= 50,
        "window {}",
        ix.window()
    );
    assert_eq!(
        r.requests,
        s.requests.load(Ordering::Relaxed) - connect,
        "the indexer counts what it asks"
    );
    assert!(ix.is_final(early[0].1).unwrap());
    assert!(!ix.is_final(late_block).unwrap());

    // A few blocks later the last patient is safe, and indexed; no wide window is tried again so soon.
    let refused = s.refused.load(Ordering::Relaxed);
    st.mine(10).await;
    let r = ix.sync().await.unwrap();
    assert!(registered(&store, &late), "{r:?}");
    assert_eq!(r.range_errors, 0, "{r:?}");
    assert_eq!(s.refused.load(Ordering::Relaxed), refused);
    assert_eq!(r.finalized, Some(st.tag("finalized").await));
    // Nothing new: a cheap sync (safe, finalized, the cursor's header).
    let r = ix.sync().await.unwrap();
    assert_eq!((r.events, r.requests), (0, 3), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_with_a_stale_block_hash_are_asked_again() {
    let st = stack(0).await;
    let (a, _) = st.register_patient().await;
    st.mine(20).await;
    let (b, _) = st.register_patient().await;
    let proxy = capped(&st.url, 10_000, Wording::Geth).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let ix = indexer(&proxy.url, &store, &st, IndexerConfig::default()).await;
    // Two answers carry a hash the chain never had: each window is asked again, nothing wrong is written.
    proxy.stats.tamper.store(2, Ordering::Relaxed);
    let r = ix.sync().await.unwrap();
    assert_eq!(r.hash_mismatches, 2, "{r:?}");
    assert!(!r.stopped_early);
    assert!(registered(&store, &a) && registered(&store, &b));

    // A chain that keeps disagreeing: the sync stops before that window, the next one carries on.
    st.mine(5).await;
    let (c, c_block) = st.register_patient().await;
    proxy.stats.tamper.store(100, Ordering::Relaxed);
    let r = ix.sync().await.unwrap();
    assert!(r.stopped_early, "{r:?}");
    assert!(r.block < c_block, "{r:?}");
    assert!(!registered(&store, &c));
    proxy.stats.tamper.store(0, Ordering::Relaxed);
    let r = ix.sync().await.unwrap();
    assert!(!r.stopped_early && registered(&store, &c), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorganisation_is_rewound_and_geth_s_cap_is_learnt_at_once() {
    let st = stack(0).await;
    st.mine(300).await;
    let (a, _) = st.register_patient().await;
    let proxy = capped(&st.url, 64, Wording::Geth).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let ix = following_latest(&proxy.url, &store, &st).await;
    let r = ix.sync().await.unwrap();
    assert!(registered(&store, &a));
    assert_eq!(r.range_errors, 1, "the error names the cap: {r:?}");
    assert_eq!(ix.window(), 64);
    let snap = snapshot(&st).await;
    let (b, _) = st.register_patient().await;
    ix.sync().await.unwrap();
    assert!(registered(&store, &b));
    revert(&st, snap).await;
    st.mine(3).await;
    let r = ix.sync().await.unwrap();
    assert!(r.rewound_to.is_some(), "{r:?}");
    assert!(
        !registered(&store, &b),
        "the vanished registration left the cache"
    );
    assert!(registered(&store, &a));
}

/// The key bundle's bytes are found at the block the index recorded, one block asked at a time, where a public
/// RPC's range cap refuses the scan from the deployment block; a stale hint (a reorg moved the registration)
/// falls back to the scan.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_bundle_is_found_at_the_indexed_block_under_a_range_cap() {
    use carekiosk_chain::bundle::key_bundle_bytes;
    let st = stack(4).await;
    st.mine(300).await;
    let (pid, block) = st.register_patient().await;
    st.mine(300).await;
    let want = alloy::primitives::keccak256(carekiosk_chain::softcard::sample_key_bundle());
    let hub = st.d.contracts.patient_smart_card;
    let pid = alloy::primitives::B256::from(pid);
    let proxy = capped(&st.url, 100, Wording::Plain).await;
    let through = reader(&proxy.url).await;
    let found = key_bundle_bytes(&through, hub, pid, want, &[block], st.d.block)
        .await
        .unwrap();
    assert_eq!(
        found.as_deref(),
        Some(&carekiosk_chain::softcard::sample_key_bundle()[..])
    );
    assert_eq!(proxy.stats.refused.load(Ordering::Relaxed), 0);
    // Without the index's hint (or with one a reorg made stale), the scan goes back from the latest block in
    // windows: the first (500 blocks) is refused by the 100-block cap, then halved until served; found.
    let logs_before = proxy.stats.get_logs.load(Ordering::Relaxed);
    let found = key_bundle_bytes(&through, hub, pid, want, &[block + 7], st.d.block)
        .await
        .unwrap();
    assert_eq!(
        found.as_deref(),
        Some(&carekiosk_chain::softcard::sample_key_bundle()[..])
    );
    assert!(proxy.stats.refused.load(Ordering::Relaxed) >= 1);
    assert!(proxy.stats.widest_served.load(Ordering::Relaxed) <= 100);
    let asked = proxy.stats.get_logs.load(Ordering::Relaxed) - logs_before;
    assert!(
        asked <= 1 + 3 + 300 / 62 + 2,
        "the hint, three refusals (500, 250, 125), then windows of 62 over ~300 blocks: {asked}"
    );
    // A stale hint against an uncapped node: the scan finds it; a wrong hash finds nothing.
    let direct = reader(&st.url).await;
    let found = key_bundle_bytes(&direct, hub, pid, want, &[block + 1], st.d.block)
        .await
        .unwrap();
    assert!(found.is_some());
    let none = key_bundle_bytes(
        &direct,
        hub,
        pid,
        B256::repeat_byte(7),
        &[block],
        st.d.block,
    )
    .await
    .unwrap();
    assert!(none.is_none());
    // A registration in the newest block, a node whose `eth_blockNumber` lags three blocks (a load-balanced RPC)
    // and a stale hint: the newest window still reaches the node's latest block.
    let (late, late_block) = st.register_patient().await;
    let late = alloy::primitives::B256::from(late);
    let lagging = capped(&st.url, 1000, Wording::Plain).await;
    lagging.stats.lag_head.store(3, Ordering::Relaxed);
    let through = reader(&lagging.url).await;
    assert!(through.block_number().await.unwrap() < late_block);
    let found = key_bundle_bytes(&through, hub, late, want, &[late_block - 5], st.d.block)
        .await
        .unwrap();
    assert!(found.is_some(), "found above the lagging head");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_syncs_share_the_node_and_none_misses_what_was_there_when_it_asked() {
    let st = stack(4).await;
    st.mine(50).await;
    let proxy = capped(&st.url, 500, Wording::Plain).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let ix = indexer(
        &proxy.url,
        &store,
        &st,
        IndexerConfig {
            follow: Follow::Latest,
            confirmations: 0,
            max_window: 2_000,
        },
    )
    .await;
    ix.sync().await.unwrap();
    // What one sync of a few new blocks costs.
    st.register_patient().await;
    st.mine(3).await;
    let before = proxy.stats.requests.load(Ordering::Relaxed);
    ix.sync().await.unwrap();
    let one = proxy.stats.requests.load(Ordering::Relaxed) - before;
    // Sixteen steps ask at once, right after three registrations (three blocks with logs) they must see.
    let mut pids = Vec::new();
    for _ in 0..3 {
        pids.push(st.register_patient().await.0);
    }
    st.mine(3).await;
    let head = st.tag("latest").await;
    let before = proxy.stats.requests.load(Ordering::Relaxed);
    let calls_before = proxy.stats.calls.load(Ordering::Relaxed);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let ix = ix.clone();
            tokio::spawn(async move { ix.sync().await.unwrap() })
        })
        .collect();
    let mut reports = Vec::new();
    for c in calls {
        reports.push(c.await.unwrap());
    }
    let sixteen = proxy.stats.requests.load(Ordering::Relaxed) - before;
    let calls = proxy.stats.calls.load(Ordering::Relaxed) - calls_before;
    assert!(
        sixteen <= 2 * one + 1,
        "16 concurrent syncs cost {sixteen} requests; one costs {one}"
    );
    // The headers of the blocks with logs came in one batch: more calls than requests.
    assert!(calls >= sixteen + 2, "{calls} calls in {sixteen} requests");
    assert!(
        reports.iter().filter(|r| r.requests > 0).count() <= 2,
        "{reports:?}"
    );
    for r in &reports {
        assert!(
            r.block >= head,
            "a caller got a sync older than its call: {r:?}"
        );
    }
    for pid in &pids {
        assert!(registered(&store, pid));
    }
    // After they are done, a new call asks the node again (a stale report is never handed out).
    st.mine(2).await;
    let r = ix.sync().await.unwrap();
    assert!(r.requests > 0 && r.block >= head + 2, "{r:?}");
}

/// An idle desk's index, left at the head, whose last block a reorganisation replaced, is found again only once
/// the finalized block has passed it: the fork is searched below the replaced block, where the index's kept hashes
/// still are (not dropped as final before the search), and the index goes back to just there — not to the
/// deployment, to be read again from the start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_cursor_block_found_below_finalized_rewinds_to_the_fork_not_to_the_start() {
    let st = stack(2).await; // finalized = latest − 4
    st.mine(100).await;
    let (a, a_block) = st.register_patient().await;
    st.mine(10).await;
    let snap = snapshot(&st).await;
    let (b, b_block) = st.register_patient().await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let ix = following_latest(&st.url, &store, &st).await;
    let r = ix.sync().await.unwrap();
    assert_eq!(r.block, b_block, "at the head: {r:?}");
    assert!(registered(&store, &a) && registered(&store, &b));
    // B's block is replaced (B dropped); the desk is idle until the finalized block is well past it.
    revert(&st, snap).await;
    st.mine(20).await;
    assert!(st.tag("finalized").await > b_block);
    let r = ix.sync().await.unwrap();
    let at = r.rewound_to.expect("the reorg is found");
    assert!(
        (a_block..b_block).contains(&at),
        "rewound to {at}: just below the replaced block {b_block} (A at {a_block}), not to the start"
    );
    assert!(registered(&store, &a));
    assert!(
        !registered(&store, &b),
        "the dropped registration left the cache"
    );
    assert!(r.block > b_block, "{r:?}");
}

/// A node that has blocks above the index's but answers nothing for the index's own block (seen once: Anvil lost a
/// block a reorg had replaced, and two desks' indexes waited for it for good, "the node is behind"): the index
/// looks below for a block it still has and goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_index_s_block_but_with_later_ones_is_searched_below_not_waited_for() {
    let st = stack(0).await;
    st.mine(100).await;
    let (a, a_block) = st.register_patient().await;
    st.mine(5).await;
    let proxy = capped(&st.url, 10_000, Wording::Plain).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir);
    let ix = following_latest(&proxy.url, &store, &st).await;
    let r = ix.sync().await.unwrap();
    let cursor = r.block;
    assert!(cursor > a_block && registered(&store, &a), "{r:?}");
    // The node loses the (empty) block the index stands on; the chain goes on.
    proxy.stats.hide_block.store(cursor + 1, Ordering::Relaxed);
    st.mine(5).await;
    let (b, b_block) = st.register_patient().await;
    let r = ix.sync().await.unwrap();
    let at = r.rewound_to.expect("searched below the missing block");
    assert!((a_block..cursor).contains(&at), "rewound to {at}: {r:?}");
    assert!(r.block >= b_block, "went on past the hole: {r:?}");
    assert!(registered(&store, &b) && registered(&store, &a));
}
