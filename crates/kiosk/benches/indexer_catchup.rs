//! Catching up a day of Celo under a 500-block `eth_getLogs` cap: Anvil mines `BLOCKS` blocks (default 86,400,
//! one day at Celo's 1 s blocks) with patient registrations scattered through them, a proxy refuses any
//! `eth_getLogs` over `CAP` blocks (default 500, geth's wording), and a fresh indexer (following `safe`, window
//! starting at 2,000) catches up from the deployment. Prints blocks/s, requests made and seconds. Needs Anvil.
//!
//! ```sh
//! cargo bench -p carekiosk-kiosk --bench indexer_catchup --profile dev
//! BLOCKS=20000 cargo bench -p carekiosk-kiosk --bench indexer_catchup --profile dev
//! ```

use carekiosk_testkit::capped;

use std::sync::atomic::Ordering;
use std::time::Instant;

use capped::{capped, reader, stack, Wording};
use carekiosk_kiosk::indexer::{Indexer, IndexerConfig};
use carekiosk_store::Store;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let blocks = env("BLOCKS", 86_400);
    let cap = env("CAP", 500);
    let events = env("EVENTS", 24);
    let st = stack(32).await;
    let t = Instant::now();
    let gap = blocks / (events + 1);
    let mut pids = Vec::new();
    for _ in 0..events {
        st.mine(gap).await;
        pids.push(st.register_patient().await);
    }
    let mined = st.tag("latest").await;
    st.mine(blocks.saturating_sub(mined - st.d.block)).await;
    let mine_s = t.elapsed().as_secs_f64();
    let proxy = capped(&st.url, cap, Wording::Geth).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("kiosk.db"), &[7; 32]).unwrap();
    let ix = Indexer::with_config(
        reader(&proxy.url).await,
        store.clone(),
        st.d.clone(),
        IndexerConfig::default(),
    );
    let connect = proxy.stats.requests.load(Ordering::Relaxed);
    let t = Instant::now();
    let r = ix.sync().await.expect("catch-up");
    let secs = t.elapsed().as_secs_f64();
    let span = r.block - st.d.block.saturating_sub(64);
    let indexed = pids
        .iter()
        .filter(|(pid, _)| {
            store
                .patient_log(pid)
                .unwrap()
                .iter()
                .any(|e| e.event == "registered")
        })
        .count();
    let safe_pids = pids.iter().filter(|(_, b)| *b <= r.block).count();
    assert_eq!(
        indexed, safe_pids,
        "every registration up to safe is indexed"
    );
    let s = &proxy.stats;
    println!(
        "indexer catch-up: {span} blocks (deployment to safe {}) under a {cap}-block eth_getLogs cap \
         (Anvil mined them in {mine_s:.0} s)",
        r.block
    );
    println!(
        "  {secs:.2} s, {:.0} blocks/s; {} requests ({} eth_getLogs, {} refused for range), {} events; \
         window now {}, finalized {:?}",
        span as f64 / secs,
        r.requests,
        s.get_logs.load(Ordering::Relaxed),
        s.refused.load(Ordering::Relaxed),
        r.events,
        r.window,
        r.finalized
    );
    assert_eq!(r.requests, s.requests.load(Ordering::Relaxed) - connect);
    assert!(s.widest_served.load(Ordering::Relaxed) <= cap);
}
