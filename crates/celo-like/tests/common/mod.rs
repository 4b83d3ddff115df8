//! Helpers for the proxy's integration tests: plain JSON-RPC over reqwest, and signed transactions.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use alloy::eips::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use serde_json::{json, Value};

/// Anvil's first dev account (the default mnemonic), funded on every devnet.
pub const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// One HTTP answer.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
}

impl Answer {
    pub fn result(&self) -> &Value {
        &self.body["result"]
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// Posts a JSON body.
pub async fn post(c: &reqwest::Client, url: &str, body: Value) -> Result<Answer, reqwest::Error> {
    let r = c
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await?;
    let status = r.status().as_u16();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = r.bytes().await?;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// One call; panics on a transport error.
pub async fn rpc(url: &str, method: &str, params: Value) -> Answer {
    post(
        &client(),
        url,
        json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}),
    )
    .await
    .unwrap_or_else(|e| panic!("{method} at {url}: {e}"))
}

pub fn quantity(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

pub async fn block_number(url: &str) -> u64 {
    quantity(rpc(url, "eth_blockNumber", json!([])).await.result())
}

/// The dev account's address.
pub fn dev() -> PrivateKeySigner {
    DEV_KEY.parse().unwrap()
}

/// A signed 1-wei transfer from the dev account: (hash, raw bytes as 0x-hex).
pub async fn signed_transfer(chain_id: u64, nonce: u64, max_fee: u128) -> (B256, String) {
    let signer = dev();
    let wallet = EthereumWallet::from(signer);
    let tx = TransactionRequest::default()
        .with_to(Address::repeat_byte(0x42))
        .with_value(U256::from(1))
        .with_nonce(nonce)
        .with_chain_id(chain_id)
        .with_gas_limit(21_000)
        .with_max_fee_per_gas(max_fee)
        .with_max_priority_fee_per_gas(1_000_000_000);
    let env = tx.build(&wallet).await.unwrap();
    let raw = alloy::primitives::hex::encode_prefixed(env.encoded_2718());
    (*env.tx_hash(), raw)
}

/// Polls `check` every 100 ms until it gives `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
