//! The outbox against a real Anvil when a write does not simply land (issue 14): a fee spike prices it out (it is
//! replaced with higher fees, same nonce), the node loses it (it is broadcast again byte for byte), its block is
//! reorged away (it is sent again, once), and an included write becomes final. Only Anvil: no card, no reader.

use std::time::Duration;

use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_chain::gas::GWEI;
use carekiosk_chain::{Chain, GasPolicy};
use carekiosk_kiosk::outbox::Call;
use carekiosk_kiosk::{Outbox, Submitted};
use carekiosk_store::{OutboxState, Store};

const POLICY: GasPolicy = GasPolicy::Eip1559 {
    base_fee_floor_wei: GWEI,
    priority_fee_wei: GWEI,
};

struct Rig {
    _devnet: Devnet,
    chain: Chain,
    store: Store,
    sender: Address,
    _dir: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn rig(tag: &str) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "carekiosk_kiosk=warn".into()),
        )
        .with_test_writer()
        .try_init();
    let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
    let signer = PrivateKeySigner::random();
    let sender = signer.address();
    let chain = Chain::connect(&devnet.url, POLICY, vec![signer])
        .await
        .unwrap();
    chain
        .devnet_set_balance(sender, U256::from(10u128.pow(20)))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("carekiosk-outbox-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(dir.join("kiosk.db"), &[7u8; 32]).unwrap();
    Rig {
        _devnet: devnet,
        chain,
        store,
        sender,
        _dir: tempdir::Dir(dir),
    }
}

impl Rig {
    fn outbox(&self) -> Outbox {
        Outbox::new(self.chain.clone(), self.store.clone(), self.sender)
            .with_receipt_poll(Duration::from_millis(50))
            .with_stuck_after(Duration::from_millis(400))
            .with_finality_every(Duration::ZERO)
    }

    async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.chain
            .provider()
            .raw_request::<_, serde_json::Value>(method.into(), params)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    async fn mined_nonce(&self) -> u64 {
        self.chain.nonce(self.sender, false).await.unwrap()
    }

    /// Waits until the outbox recorded `n` transactions for entry 1.
    async fn attempts(&self, n: usize) {
        for _ in 0..200 {
            if self.store.attempts(1).unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the outbox never sent transaction {n}");
    }
}

fn call() -> Call {
    Call {
        to: Address::repeat_byte(0x42),
        data: Bytes::from_static(b"carekiosk"),
    }
}

#[tokio::test]
async fn a_write_priced_out_by_a_fee_spike_is_replaced_with_higher_fees_and_lands_once() {
    let r = rig("spike").await;
    r.rpc("evm_setAutomine", serde_json::json!([false])).await;
    let outbox = r.outbox();
    let sending = tokio::spawn({
        let outbox = r.outbox();
        async move { outbox.submit("spike", "test", call()).await }
    });
    r.attempts(1).await;
    let first = r.store.attempts(1).unwrap()[0].clone();
    // The base fee jumps tenfold in an empty block: the waiting transaction's fee cap is below it now.
    r.rpc(
        "anvil_setNextBlockBaseFeePerGas",
        serde_json::json!([format!("{:#x}", 20 * GWEI)]),
    )
    .await;
    r.rpc("evm_mine", serde_json::json!([])).await;
    assert_eq!(
        r.mined_nonce().await,
        0,
        "the spike block must not include it"
    );
    r.attempts(2).await;
    r.rpc("evm_mine", serde_json::json!([])).await;
    let done = sending.await.unwrap().unwrap();
    let attempts = r.store.attempts(1).unwrap();
    let Submitted::Confirmed { tx_hash, .. } = done else {
        panic!("not confirmed: {done:?}")
    };
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(
        attempts[0].nonce, attempts[1].nonce,
        "a replacement keeps the nonce"
    );
    assert_eq!(tx_hash.0, attempts[1].tx_hash, "the replacement landed");
    let (old_cap, _) = carekiosk_chain::replace::fees_of(first.raw.as_deref().unwrap()).unwrap();
    let (new_cap, new_tip) =
        carekiosk_chain::replace::fees_of(attempts[1].raw.as_deref().unwrap()).unwrap();
    assert!(
        new_cap >= 20 * u128::from(GWEI),
        "the new cap {new_cap} clears the spike"
    );
    assert!(new_cap * 100 >= old_cap * 110 && new_tip.unwrap() * 100 >= u128::from(GWEI) * 110);
    assert!(r
        .chain
        .receipt(first.tx_hash.into())
        .await
        .unwrap()
        .is_none());
    assert_eq!(r.mined_nonce().await, 1, "exactly one transaction landed");
    drop(outbox);
}

#[tokio::test]
async fn a_write_the_node_lost_is_broadcast_again_byte_for_byte() {
    let r = rig("lost").await;
    r.rpc("evm_setAutomine", serde_json::json!([false])).await;
    let sending = tokio::spawn({
        let outbox = r.outbox();
        async move { outbox.submit("lost", "test", call()).await }
    });
    r.attempts(1).await;
    let first = r.store.attempts(1).unwrap()[0].clone();
    let hash = format!("{:#x}", alloy::primitives::B256::from(first.tx_hash));
    r.rpc("anvil_dropTransaction", serde_json::json!([hash]))
        .await;
    // Mine until the outbox has put it back in the pool and a block took it.
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        r.rpc("evm_mine", serde_json::json!([])).await;
        if r.mined_nonce().await == 1 {
            break;
        }
    }
    let done = sending.await.unwrap().unwrap();
    assert_eq!(
        done.tx_hash().map(|h| h.0),
        Some(first.tx_hash),
        "the same transaction landed"
    );
    assert_eq!(
        r.store.attempts(1).unwrap().len(),
        1,
        "nothing new was signed"
    );
    assert_eq!(r.mined_nonce().await, 1);
}

#[tokio::test]
async fn a_write_whose_block_is_reorged_away_is_sent_again_once_and_becomes_final() {
    let r = rig("reorg").await;
    let outbox = r.outbox();
    let done = outbox.submit("reorg", "test", call()).await.unwrap();
    let Submitted::Confirmed { tx_hash, block, .. } = done else {
        panic!("{done:?}")
    };
    let f = outbox.check_finality().await.unwrap();
    assert!(
        f.reorged.is_empty() && f.became_final == 0,
        "{f:?}: just included"
    );
    // The block is replaced by an empty one: the write is no longer on the chain.
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    let gone = r.chain.receipt(tx_hash).await.unwrap().is_none();
    if gone {
        let f = outbox.check_finality().await.unwrap();
        assert_eq!(f.reorged, vec![1], "{f:?}");
        assert_eq!(
            r.store.outbox_entry(1).unwrap().unwrap().state,
            OutboxState::Submitted
        );
        let sent = outbox.drain().await.unwrap();
        assert!(
            matches!(sent.as_slice(), [Submitted::Confirmed { .. }]),
            "{sent:?}"
        );
    }
    // However it came back, it landed exactly once, as the same transaction.
    let e = r.store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Confirmed);
    assert_eq!(e.tx_hash, Some(tx_hash.0));
    assert_eq!(r.mined_nonce().await, 1, "exactly once");
    assert!(
        gone,
        "anvil_reorg must drop the block's transaction (block {block})"
    );
    // Final once its block is at or below `finalized` (Anvil: 64 blocks behind the head by default).
    r.rpc("anvil_mine", serde_json::json!(["0x80"])).await;
    let f = outbox.check_finality().await.unwrap();
    assert_eq!(f.became_final, 1, "{f:?}");
    let e = r.store.outbox_entry(1).unwrap().unwrap();
    assert!(e.final_block.is_some_and(|b| b <= f.finalized_block));
    assert!(r.store.unfinal().unwrap().is_empty());
}
