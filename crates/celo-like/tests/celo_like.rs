//! The Celo-like chain itself: Celo's chain id, gas limit, base-fee floor and spikes, lagging safe/finalized,
//! and P256VERIFY at Isthmus's 3,450 gas. Against a real Anvil.

mod common;

use std::time::Duration;

use carekiosk_celo_like::{
    CeloLike, CeloLikeError, Devnet, DevnetOptions, FeeSpikes, ProxyConfig, Reorgs,
    CELO_SEPOLIA_CHAIN_ID,
};
use carekiosk_chain::devnet::{CELO_BASE_FEE_FLOOR_WEI, CELO_LIKE_SLOTS_IN_AN_EPOCH};
use common::*;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

const FLOOR: u64 = CELO_BASE_FEE_FLOOR_WEI;

async fn block(url: &str, tag: &str) -> Value {
    let b = rpc(url, "eth_getBlockByNumber", json!([tag, false])).await;
    assert!(b.result().is_object(), "block {tag}: {}", b.body);
    b.result().clone()
}

async fn base_fee(url: &str, n: u64) -> u64 {
    quantity(&block(url, &format!("0x{n:x}")).await["baseFeePerGas"])
}

async fn wait_for_block(url: &str, n: u64) {
    let url = url.to_string();
    eventually(Duration::from_secs(n.max(10) * 3), "a block", || {
        let url = url.clone();
        async move { (block_number(&url).await >= n).then_some(()) }
    })
    .await
}

#[tokio::test]
async fn the_base_fee_holds_the_floor_and_triples_in_a_spike() {
    let d = Devnet::start(DevnetOptions::celo_like(CELO_SEPOLIA_CHAIN_ID))
        .await
        .unwrap();
    assert_eq!(
        quantity(rpc(&d.url, "eth_chainId", json!([])).await.result()),
        CELO_SEPOLIA_CHAIN_ID
    );
    let start = block_number(&d.url).await;
    // 20 empty blocks: without the holder the base fee would decay by 1/250 a block (25 → 23 gwei).
    wait_for_block(&d.url, start + 21).await;
    for n in start + 1..=start + 21 {
        assert_eq!(base_fee(&d.url, n).await, FLOOR, "block {n}");
    }
    let latest = block(&d.url, "latest").await;
    assert_eq!(quantity(&latest["gasLimit"]), 30_000_000);
    // safe and finalized lag by one and two epochs (allow the one block mined between the two reads).
    let head = quantity(&latest["number"]);
    let safe = quantity(&block(&d.url, "safe").await["number"]);
    let finalized = quantity(&block(&d.url, "finalized").await["number"]);
    let e = CELO_LIKE_SLOTS_IN_AN_EPOCH;
    assert!(
        (head - e..=head - e + 1).contains(&safe),
        "head {head} safe {safe}"
    );
    assert!(
        (head - 2 * e..=head - 2 * e + 1).contains(&finalized),
        "head {head} finalized {finalized}"
    );

    d.set_fee_spike(Some(3)).unwrap();
    let at = block_number(&d.url).await;
    wait_for_block(&d.url, at + 3).await;
    assert_eq!(base_fee(&d.url, at + 2).await, 3 * FLOOR);
    assert_eq!(base_fee(&d.url, at + 3).await, 3 * FLOOR);
    d.set_fee_spike(None).unwrap();
    let at = block_number(&d.url).await;
    wait_for_block(&d.url, at + 3).await;
    assert_eq!(base_fee(&d.url, at + 2).await, FLOOR);
    assert_eq!(base_fee(&d.url, at + 3).await, FLOOR);
    // A devnet without a floor refuses a spike and says what to do.
    let local = Devnet::start(DevnetOptions::default()).await.unwrap();
    let e = local.set_fee_spike(Some(3)).unwrap_err().to_string();
    assert!(e.contains("base_fee_floor_wei"), "{e}");
}

#[tokio::test]
async fn the_proxy_makes_fee_spikes_on_a_schedule() {
    let chain = CeloLike::start(
        CELO_SEPOLIA_CHAIN_ID,
        ProxyConfig {
            fee_spikes: Some(FeeSpikes {
                factor: 3,
                every: Duration::from_secs(1),
                lasting: Duration::from_secs(3),
            }),
            ..ProxyConfig::default()
        },
    )
    .await
    .unwrap();
    let url = chain.url().to_string();
    let fee_now = || {
        let url = url.clone();
        async move { quantity(&block(&url, "latest").await["baseFeePerGas"]) }
    };
    let spiked = eventually(Duration::from_secs(10), "a spiked block", || {
        let f = fee_now();
        async move { (f.await == 3 * FLOOR).then_some(()) }
    });
    spiked.await;
    assert!(chain.proxy.stats().fee_spikes >= 1);
    eventually(Duration::from_secs(10), "back at the floor", || {
        let f = fee_now();
        async move { (f.await == FLOOR).then_some(()) }
    })
    .await;
}

#[tokio::test]
async fn reorgs_deeper_than_an_epoch_are_refused() {
    let e = CeloLike::start(
        CELO_SEPOLIA_CHAIN_ID,
        ProxyConfig {
            reorgs: Some(Reorgs {
                probability: 0.5,
                max_depth: CELO_LIKE_SLOTS_IN_AN_EPOCH + 1,
                reinclude_fraction: 0.0,
                delay: Duration::ZERO,
            }),
            ..ProxyConfig::default()
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CeloLikeError::Config(_)), "{e}");
    assert!(e.to_string().contains("slots_in_an_epoch"), "{e}");
}

/// `hash || r || s || x || y` for P256VERIFY (RIP-7212 / EIP-7951), from a fixed key.
fn p256_input(valid: bool) -> String {
    let key = SigningKey::from_bytes(&[0x11u8; 32].into()).unwrap();
    let digest = [0xabu8; 32];
    let sig: Signature = key.sign_prehash(&digest).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    let mut input = digest.to_vec();
    input.extend_from_slice(&sig.r().to_bytes());
    input.extend_from_slice(&sig.s().to_bytes());
    input.extend_from_slice(point.x().unwrap());
    input.extend_from_slice(point.y().unwrap());
    if !valid {
        input[0] ^= 1;
    }
    alloy::primitives::hex::encode_prefixed(input)
}

/// A gas limit that covers the intrinsic cost of the call (or its EIP-7623 floor) plus 3,450 gas of
/// precompile, with 500 to spare: enough on Isthmus, not on Osaka (6,900).
fn tight_gas(input_hex: &str) -> u64 {
    let bytes = alloy::primitives::hex::decode(input_hex).unwrap();
    let zeros = bytes.iter().filter(|b| **b == 0).count() as u64;
    let nonzeros = bytes.len() as u64 - zeros;
    let standard = 21_000 + 16 * nonzeros + 4 * zeros;
    let floor = 21_000 + 10 * (zeros + 4 * nonzeros);
    (standard + 3_450).max(floor) + 500
}

async fn p256_call(url: &str, input: &str, gas: u64) -> Value {
    rpc(
        url,
        "eth_call",
        json!([{"to": "0x0000000000000000000000000000000000000100", "data": input, "gas": format!("0x{gas:x}")}, "latest"]),
    )
    .await
    .body
}

#[tokio::test]
async fn p256verify_costs_3450_gas_on_the_celo_like_chain() {
    let celo = Devnet::start(DevnetOptions::celo_like(CELO_SEPOLIA_CHAIN_ID))
        .await
        .unwrap();
    let osaka = Devnet::start(DevnetOptions::default()).await.unwrap();
    let good = p256_input(true);
    let gas = tight_gas(&good);
    let one = json!(format!("0x{}", "0".repeat(63) + "1"));
    let on_celo = p256_call(&celo.url, &good, gas).await;
    assert_eq!(on_celo["result"], one, "gas {gas}: {on_celo}");
    // A wrong signature gives empty output (the precompile's "invalid").
    let bad = p256_call(&celo.url, &p256_input(false), gas).await;
    assert_eq!(bad["result"], json!("0x"), "{bad}");
    // The same call under Osaka's price (6,900) runs out of gas; with room it verifies there too.
    let on_osaka = p256_call(&osaka.url, &good, gas).await;
    assert_ne!(
        on_osaka["result"], one,
        "gas {gas} should not cover 6,900: {on_osaka}"
    );
    let roomy = p256_call(&osaka.url, &good, gas + 3_450).await;
    assert_eq!(roomy["result"], one, "{roomy}");
}

#[tokio::test]
async fn a_reorg_on_the_celo_like_chain_keeps_safe_blocks_and_blocks_keep_coming() {
    let chain = CeloLike::start(
        CELO_SEPOLIA_CHAIN_ID,
        ProxyConfig {
            reorgs: Some(Reorgs {
                probability: 1.0,
                max_depth: 5,
                reinclude_fraction: 0.0,
                delay: Duration::ZERO,
            }),
            ..ProxyConfig::default()
        },
    )
    .await
    .unwrap();
    let node = chain.node_url().to_string();
    // Let the chain grow past one epoch so `safe` is a real block.
    wait_for_block(&node, CELO_LIKE_SLOTS_IN_AN_EPOCH + 2).await;
    let (hash, raw) = signed_transfer(CELO_SEPOLIA_CHAIN_ID, 0, 100_000_000_000).await;
    let sent = rpc(&node, "eth_sendRawTransaction", json!([raw])).await;
    assert!(sent.result().is_string(), "{}", sent.body);
    let n = node.clone();
    eventually(Duration::from_secs(10), "the receipt", || {
        let n = n.clone();
        async move {
            let r = rpc(&n, "eth_getTransactionReceipt", json!([hash])).await;
            r.result().is_object().then_some(())
        }
    })
    .await;
    let safe_before = block(&node, "safe").await;
    let seen = rpc(chain.url(), "eth_getTransactionReceipt", json!([hash])).await;
    assert!(seen.result().is_object(), "{}", seen.body);
    let p = &chain.proxy;
    let stats = eventually(Duration::from_secs(10), "the reorg", || {
        let s = p.stats();
        async move { (!s.reorgs.is_empty() || s.reorgs_skipped > 0).then_some(s) }
    })
    .await;
    assert_eq!(stats.reorgs.len(), 1, "{stats:?}");
    let ev = &stats.reorgs[0];
    assert!(ev.dropped.contains(&hash), "{ev:?}");
    assert!(ev.depth <= 5);
    let gone = rpc(&node, "eth_getTransactionReceipt", json!([hash])).await;
    assert!(gone.result().is_null(), "{}", gone.body);
    // The safe block of before is untouched, and interval mining resumed.
    let n = quantity(&safe_before["number"]);
    let same = block(&node, &format!("0x{n:x}")).await;
    assert_eq!(same["hash"], safe_before["hash"]);
    wait_for_block(&node, ev.head + 2).await;
    let fee = quantity(&block(&node, "latest").await["baseFeePerGas"]);
    assert_eq!(fee, FLOOR, "the floor holds after a reorg");
}
