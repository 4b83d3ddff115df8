//! The proxy's behaviours, each seen through plain JSON-RPC calls, against a real Anvil (no cards).

mod common;

use std::time::{Duration, Instant};

use carekiosk_celo_like::{
    Devnet, DevnetOptions, Proxy, ProxyConfig, Reorgs, StaleReads, Stats, TokenBucket,
    LOG_RANGE_ERROR_CODE,
};
use common::*;
use serde_json::json;

/// A local devnet (auto-mining: blocks only when asked) and a proxy with `cfg` in front of it.
async fn local(cfg: ProxyConfig) -> (Devnet, Proxy) {
    let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
    let proxy = Proxy::start(devnet.url.clone(), 0, cfg, None)
        .await
        .unwrap();
    (devnet, proxy)
}

#[tokio::test]
async fn get_logs_over_the_range_cap_is_refused_like_a_public_rpc() {
    let (_d, p) = local(ProxyConfig {
        get_logs_max_range: Some(5),
        ..ProxyConfig::default()
    })
    .await;
    // anvil_* passes through the proxy: mine 10 blocks.
    assert!(rpc(&p.url, "anvil_mine", json!(["0xa"]))
        .await
        .body
        .get("error")
        .is_none());
    let ok = rpc(
        &p.url,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": "0x4"}]),
    )
    .await;
    assert!(ok.result().is_array(), "5 blocks are allowed: {}", ok.body);
    let over = rpc(
        &p.url,
        "eth_getLogs",
        json!([{"fromBlock": "0x0", "toBlock": "0x5"}]),
    )
    .await;
    assert_eq!(over.status, 200);
    assert_eq!(
        over.body["error"]["code"],
        json!(LOG_RANGE_ERROR_CODE),
        "{}",
        over.body
    );
    assert_eq!(
        over.body["error"]["message"],
        json!("query exceeds max block range 5")
    );
    // Tags are resolved: fromBlock 0 to latest (10) spans 11 blocks.
    let tagged = rpc(&p.url, "eth_getLogs", json!([{"fromBlock": "earliest"}])).await;
    assert_eq!(tagged.body["error"]["code"], json!(LOG_RANGE_ERROR_CODE));
    let recent = rpc(
        &p.url,
        "eth_getLogs",
        json!([{"fromBlock": "0x8", "toBlock": "latest"}]),
    )
    .await;
    assert!(recent.result().is_array(), "{}", recent.body);
    assert_eq!(p.stats().log_range_errors, 2);
}

#[tokio::test]
async fn an_empty_token_bucket_answers_429_with_retry_after() {
    let (_d, p) = local(ProxyConfig {
        token_bucket: Some(TokenBucket {
            per_second: 0.2,
            burst: 3.0,
        }),
        ..ProxyConfig::default()
    })
    .await;
    let c = client();
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "eth_chainId", "params": []});
    for _ in 0..3 {
        let a = post(&c, &p.url, call.clone()).await.unwrap();
        assert_eq!((a.status, a.result().clone()), (200, json!("0x7a69")));
    }
    let limited = post(&c, &p.url, call.clone()).await.unwrap();
    assert_eq!(limited.status, 429);
    let wait: u64 = limited.retry_after.expect("Retry-After").parse().unwrap();
    // One token every 5 s.
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    assert_eq!(limited.body["error"]["code"], json!(429));
    assert_eq!(limited.body["id"], json!(7));
    // The harness's anvil_* and the stats are never limited.
    assert_eq!(rpc(&p.url, "anvil_mine", json!([])).await.status, 200);
    let s = rpc(&p.url, "celolike_stats", json!([])).await;
    assert_eq!(s.status, 200);
    assert_eq!(s.result()["rateLimitedByBucket"], json!(1));
    assert_eq!(p.stats().rate_limited_by_bucket, 1);
}

#[tokio::test]
async fn a_fraction_of_requests_is_rate_limited_at_random() {
    let (_d, p) = local(ProxyConfig {
        seed: 42,
        rate_limited_fraction: 0.3,
        retry_after: Duration::from_secs(2),
        ..ProxyConfig::default()
    })
    .await;
    let c = client();
    let mut limited = 0;
    for i in 0..300 {
        let a = post(
            &c,
            &p.url,
            json!({"jsonrpc": "2.0", "id": i, "method": "eth_chainId", "params": []}),
        )
        .await
        .unwrap();
        if a.status == 429 {
            limited += 1;
            assert_eq!(a.retry_after.as_deref(), Some("2"));
        } else {
            assert_eq!(a.result(), &json!("0x7a69"));
        }
    }
    assert!(
        (60..=120).contains(&limited),
        "{limited} of 300 limited at 30 %"
    );
    assert_eq!(p.stats().rate_limited_at_random, limited);
    assert_eq!(p.stats().calls_by_method["eth_chainId"], 300);
}

#[tokio::test]
async fn latency_is_added_and_hung_requests_outlast_the_client_timeout_but_reach_the_node() {
    let (d, p) = local(ProxyConfig {
        latency: Duration::from_millis(300),
        ..ProxyConfig::default()
    })
    .await;
    let t = Instant::now();
    assert_eq!(rpc(&p.url, "eth_chainId", json!([])).await.status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );

    p.set_config(ProxyConfig {
        hang_fraction: 1.0,
        hang_for: Duration::from_secs(3),
        ..ProxyConfig::default()
    })
    .unwrap();
    let (hash, raw) = signed_transfer(31337, 0, 10_000_000_000).await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let t = Instant::now();
    let e = post(
        &impatient,
        &p.url,
        json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]}),
    )
    .await
    .err()
    .expect("the request hangs");
    assert!(e.is_timeout(), "{e}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(p.stats().hung, 1);
    // The hung send was forwarded: the node mined it although the client saw a timeout.
    let r = rpc(&d.url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(r.result()["status"], json!("0x1"), "{}", r.body);
}

#[tokio::test]
async fn block_numbers_and_nonces_are_served_stale() {
    let (d, p) = local(ProxyConfig {
        stale: Some(StaleReads {
            blocks: 3,
            fraction: 1.0,
        }),
        ..ProxyConfig::default()
    })
    .await;
    let (_, raw) = signed_transfer(31337, 0, 10_000_000_000).await;
    let sent = rpc(&d.url, "eth_sendRawTransaction", json!([raw])).await;
    assert!(sent.result().is_string(), "{}", sent.body);
    let me = format!("{:#x}", dev().address());
    // Mined in block 1 (Anvil may answer the send before it has mined it: wait for the block): the node knows
    // nonce 1, the proxy answers as of block max(1 - 3, 0).
    eventually(Duration::from_secs(10), "block 1", || {
        let url = d.url.clone();
        async move { (block_number(&url).await == 1).then_some(()) }
    })
    .await;
    assert_eq!(block_number(&p.url).await, 0);
    for tag in ["latest", "pending"] {
        let node = rpc(&d.url, "eth_getTransactionCount", json!([me, tag])).await;
        let prox = rpc(&p.url, "eth_getTransactionCount", json!([me, tag])).await;
        assert_eq!(
            (quantity(node.result()), quantity(prox.result())),
            (1, 0),
            "{tag}"
        );
    }
    rpc(&d.url, "anvil_mine", json!(["0x3"])).await;
    assert_eq!(block_number(&d.url).await, 4);
    assert_eq!(block_number(&p.url).await, 1);
    let prox = rpc(&p.url, "eth_getTransactionCount", json!([me, "latest"])).await;
    assert_eq!(quantity(prox.result()), 1);
    // An explicit block number is not rewritten.
    let at0 = rpc(&p.url, "eth_getTransactionCount", json!([me, "0x0"])).await;
    assert_eq!(quantity(at0.result()), 0);
    assert_eq!(p.stats().stale_answers, 5);
}

#[tokio::test]
async fn the_first_send_of_a_transaction_is_dropped_and_the_second_lands() {
    let (d, p) = local(ProxyConfig {
        drop_first_send_fraction: 1.0,
        ..ProxyConfig::default()
    })
    .await;
    let (hash, raw) = signed_transfer(31337, 0, 10_000_000_000).await;
    let first = rpc(&p.url, "eth_sendRawTransaction", json!([raw])).await;
    assert_eq!(
        first.result(),
        &json!(hash),
        "the drop looks like a success"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = rpc(&d.url, "eth_getTransactionByHash", json!([hash])).await;
    assert!(
        seen.result().is_null(),
        "the node never got it: {}",
        seen.body
    );
    let pool = rpc(&d.url, "txpool_status", json!([])).await;
    assert_eq!(quantity(&pool.result()["pending"]), 0, "{}", pool.body);
    assert_eq!(block_number(&d.url).await, 0);
    let second = rpc(&p.url, "eth_sendRawTransaction", json!([raw])).await;
    assert_eq!(second.result(), &json!(hash));
    let r = rpc(&d.url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(r.result()["status"], json!("0x1"), "{}", r.body);
    assert_eq!(p.stats().dropped_sends, vec![hash]);
}

async fn reorg_after_a_receipt(
    reinclude: f64,
) -> (Devnet, Proxy, alloy::primitives::B256, String, Stats) {
    let (d, p) = local(ProxyConfig {
        reorgs: Some(Reorgs {
            probability: 1.0,
            max_depth: 2,
            reinclude_fraction: reinclude,
            delay: Duration::ZERO,
        }),
        ..ProxyConfig::default()
    })
    .await;
    let (hash, raw) = signed_transfer(31337, 0, 10_000_000_000).await;
    rpc(&d.url, "eth_sendRawTransaction", json!([raw])).await;
    // Mined in block 1; one more block makes the reorg exactly 2 deep (max_depth), so a re-included
    // transaction lands in block 2, another block.
    rpc(&d.url, "anvil_mine", json!(["0x1"])).await;
    let seen = rpc(&p.url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(seen.result()["status"], json!("0x1"), "{}", seen.body);
    let block_hash = seen.result()["blockHash"].as_str().unwrap().to_string();
    let stats = eventually(Duration::from_secs(10), "the reorg", || {
        let s = p.stats();
        async move { (!s.reorgs.is_empty()).then_some(s) }
    })
    .await;
    (d, p, hash, block_hash, stats)
}

#[tokio::test]
async fn a_reorg_after_a_receipt_drops_the_transaction() {
    let (d, p, hash, _, stats) = reorg_after_a_receipt(0.0).await;
    let ev = &stats.reorgs[0];
    assert_eq!(ev.trigger, hash);
    assert_eq!((ev.depth, ev.first_block, ev.head), (2, 1, 2), "{ev:?}");
    assert_eq!(ev.dropped, vec![hash]);
    assert!(ev.reincluded.is_empty());
    let r = rpc(&d.url, "eth_getTransactionReceipt", json!([hash])).await;
    assert!(r.result().is_null(), "receipt gone: {}", r.body);
    // The height is the same (the replaced blocks were mined again, empty) and the nonce went back.
    assert_eq!(block_number(&d.url).await, ev.head);
    let me = format!("{:#x}", dev().address());
    assert_eq!(
        quantity(
            rpc(&d.url, "eth_getTransactionCount", json!([me, "latest"]))
                .await
                .result()
        ),
        0
    );
    // Mining is back as it was (auto-mining): the transaction sent again lands.
    assert_eq!(
        rpc(&d.url, "anvil_getAutomine", json!([])).await.result(),
        &json!(true)
    );
    let (h2, raw) = signed_transfer(31337, 0, 10_000_000_000).await;
    assert_eq!(h2, hash);
    rpc(&p.url, "eth_sendRawTransaction", json!([raw])).await;
    let again = rpc(&d.url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(again.result()["status"], json!("0x1"));
    assert_eq!(p.stats().reorged_txs(), vec![hash]);
}

#[tokio::test]
async fn a_reorg_may_move_the_transaction_to_another_block_once() {
    let (d, p, hash, old_block, stats) = reorg_after_a_receipt(1.0).await;
    assert_eq!(stats.reorgs[0].reincluded, vec![hash]);
    let r = rpc(&d.url, "eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(r.result()["status"], json!("0x1"), "{}", r.body);
    assert_eq!(r.result()["blockNumber"], json!("0x2"));
    assert_ne!(
        r.result()["blockHash"].as_str().unwrap(),
        old_block,
        "in another block"
    );
    // Each transaction triggers one reorg at most.
    rpc(&p.url, "eth_getTransactionReceipt", json!([hash])).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(p.stats().reorgs.len(), 1);
}

#[tokio::test]
async fn batches_get_an_answer_per_call_and_stats_count_methods() {
    let (_d, p) = local(ProxyConfig::default()).await;
    let a = post(
        &client(),
        &p.url,
        json!([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []}
        ]),
    )
    .await
    .unwrap();
    let arr = a.body.as_array().expect("a batch answer");
    assert_eq!(arr.len(), 2);
    assert_eq!(
        (arr[0]["id"].clone(), arr[0]["result"].clone()),
        (json!(1), json!("0x7a69"))
    );
    assert_eq!(arr[1]["id"], json!(2));
    let s = rpc(&p.url, "celolike_stats", json!([])).await;
    assert_eq!(s.result()["httpRequests"], json!(2));
    assert_eq!(s.result()["callsByMethod"]["eth_chainId"], json!(1));
    assert_eq!(s.result()["callsByMethod"]["celolike_stats"], json!(1));
}

#[tokio::test]
async fn clients_named_in_the_url_path_are_counted_apart_and_a_non_loopback_listener_serves() {
    let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
    // On this machine's non-loopback address when it has one (a client then treats the node as remote).
    let host = carekiosk_celo_like::non_loopback_address()
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    let p = Proxy::start_on(devnet.url.clone(), host, 0, ProxyConfig::default(), None)
        .await
        .unwrap();
    assert!(p.url.contains(&host.to_string()), "{}", p.url);
    for (path, n) in [("/kiosk/doctor-0", 3), ("/kiosk/pharmacy-1", 1)] {
        for _ in 0..n {
            let a = rpc(&format!("{}{path}", p.url), "eth_chainId", json!([])).await;
            assert_eq!(a.result(), &json!("0x7a69"));
        }
    }
    let s = p.stats();
    assert_eq!(s.http_requests_by_path["/kiosk/doctor-0"], 3, "{s:?}");
    assert_eq!(s.http_requests_by_path["/kiosk/pharmacy-1"], 1, "{s:?}");
    assert_eq!(s.http_requests, 4);
    assert_eq!(
        s.calls_by_path["/kiosk/doctor-0"]["eth_chainId"], 3,
        "{s:?}"
    );
    let _ = rpc(
        &format!("{}/kiosk/doctor-0", p.url),
        "eth_getBlockByNumber",
        json!(["safe", false]),
    )
    .await;
    let _ = rpc(
        &format!("{}/kiosk/doctor-0", p.url),
        "eth_getBlockByNumber",
        json!(["0x0", false]),
    )
    .await;
    let s = p.stats();
    assert_eq!(
        s.calls_by_path["/kiosk/doctor-0"]["eth_getBlockByNumber(safe)"], 1,
        "{s:?}"
    );
    assert_eq!(
        s.calls_by_path["/kiosk/doctor-0"]["eth_getBlockByNumber(number)"], 1,
        "{s:?}"
    );
}

/// Anvil's clock stays behind after `anvil_reorg` (by the pause, seconds a reorg): a real chain's does not. Past
/// the contracts' clock skew a kiosk signing with its own clock (the node busy) was refused as from the future.
#[tokio::test]
async fn the_chain_s_clock_keeps_to_the_wall_clock_through_reorgs() {
    let devnet = Devnet::start(DevnetOptions {
        block_time: Some(1),
        ..DevnetOptions::default()
    })
    .await
    .unwrap();
    let p = Proxy::start(
        devnet.url.clone(),
        0,
        ProxyConfig {
            reorgs: Some(Reorgs {
                probability: 1.0,
                max_depth: 5,
                reinclude_fraction: 0.0,
                delay: Duration::ZERO,
            }),
            ..ProxyConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    let mut sent = Vec::new();
    for nonce in 0..6 {
        let (hash, raw) = signed_transfer(31337, nonce, 100_000_000_000).await;
        sent.push(raw);
        // A reorg may have dropped the earlier ones too: all are sent again (known ones are refused, harmless).
        for raw in &sent {
            rpc(&devnet.url, "eth_sendRawTransaction", json!([raw])).await;
        }
        eventually(Duration::from_secs(10), "the receipt", || {
            let url = p.url.clone();
            async move {
                let r = rpc(&url, "eth_getTransactionReceipt", json!([hash])).await;
                r.result().is_object().then_some(())
            }
        })
        .await;
        eventually(Duration::from_secs(10), "the reorg", || {
            let s = p.stats();
            async move { (s.reorgs.len() > nonce as usize).then_some(()) }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let latest = rpc(
        &devnet.url,
        "eth_getBlockByNumber",
        json!(["latest", false]),
    )
    .await;
    let at = quantity(&latest.result()["timestamp"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.saturating_sub(at) <= 5, // a block a second; 9 s behind without
        "the chain's clock is {} s behind after {} reorgs",
        now.saturating_sub(at),
        p.stats().reorgs.len()
    );
}
