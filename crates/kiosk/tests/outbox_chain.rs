//! The outbox against a real Anvil when a write does not simply land: a fee spike prices it out (it is
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
    rig_on(tag, devnet, None).await
}

/// A rig whose kiosk reads and sends through `through` (a proxy in front of `devnet`) when given.
async fn rig_on(tag: &str, devnet: Devnet, through: Option<&str>) -> Rig {
    let signer = PrivateKeySigner::random();
    let sender = signer.address();
    let chain = Chain::connect(through.unwrap_or(&devnet.url), POLICY, vec![signer])
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

/// A contract of 31 bytes: calldata starting with 0x01 sets slot 0; any other call reverts unless slot 0 is set.
/// The second kind of write needs the first, as a check-in needs its patient's registration.
const NEEDS_SLOT0: &str = "0x60003560f81c600114601857600054601657600080fd5b005b600160005500";
const GATE: Address = Address::repeat_byte(0x77);

fn set_gate() -> Call {
    Call {
        to: GATE,
        data: Bytes::from_static(&[1]),
    }
}

fn use_gate() -> Call {
    Call {
        to: GATE,
        data: Bytes::from_static(&[2]),
    }
}

/// A second kiosk (its own key and database) on `r`'s chain.
async fn second_kiosk(r: &Rig) -> Outbox {
    let other = PrivateKeySigner::random();
    let sender = other.address();
    let chain = Chain::connect(r.chain.url(), POLICY, vec![other])
        .await
        .unwrap();
    r.chain
        .devnet_set_balance(sender, U256::from(10u128.pow(20)))
        .await
        .unwrap();
    let store = Store::open(r._dir.0.join("a.db"), &[8u8; 32]).unwrap();
    Outbox::new(chain, store, sender)
        .with_receipt_poll(Duration::from_millis(50))
        .with_stuck_after(Duration::from_millis(400))
        .with_finality_every(Duration::ZERO)
}

/// `a` sets the gate, `b` uses it, both confirmed; then both blocks are reorged away. Returns `b`'s entry.
async fn set_use_and_reorg(r: &Rig, a: &Outbox, b: &Outbox) -> i64 {
    r.rpc("anvil_setCode", serde_json::json!([GATE, NEEDS_SLOT0]))
        .await;
    r.rpc("evm_mine", serde_json::json!([])).await;
    a.submit("set", "set", set_gate()).await.unwrap();
    let used = b.submit("use", "use", use_gate()).await.unwrap();
    let Submitted::Confirmed { entry, tx_hash, .. } = used else {
        panic!("{used:?}")
    };
    r.rpc("anvil_reorg", serde_json::json!([2, []])).await;
    assert!(r.chain.receipt(tx_hash).await.unwrap().is_none());
    assert_eq!(b.check_finality().await.unwrap().reorged, vec![entry]);
    entry
}

#[tokio::test]
async fn a_write_reorged_away_with_another_kiosks_write_it_needs_waits_for_it_and_lands_once() {
    // Two kiosks of one chain: `a` writes what `b`'s write needs.
    let r = rig("needs").await;
    let a = second_kiosk(&r).await;
    let b = r.outbox();
    let entry = set_use_and_reorg(&r, &a, &b).await;
    // `b` noticed first and sends its write again before `a` does: the chain refuses it.
    let sent = b.drain().await.unwrap();
    assert!(
        matches!(sent.as_slice(), [Submitted::Pending { reason, .. }] if reason.contains("tried again")),
        "refused while the gate is unset, and deferred: {sent:?}"
    );
    let e = r.store.outbox_entry(entry).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Queued, "not failed: {e:?}");
    assert!(e.last_error.is_some());
    // Within its pause it is not tried again (no request, no transaction).
    let before = r.store.attempts(entry).unwrap().len();
    assert!(b.drain().await.unwrap().is_empty());
    assert_eq!(r.store.attempts(entry).unwrap().len(), before);
    // `a` finds its write reorged away and sends it again; after the pause `b`'s lands.
    assert_eq!(a.check_finality().await.unwrap().reorged.len(), 1);
    assert!(matches!(
        a.drain().await.unwrap().as_slice(),
        [Submitted::Confirmed { .. }]
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = b.drain().await.unwrap();
    let [Submitted::Confirmed {
        tx_hash: landed, ..
    }] = sent.as_slice()
    else {
        panic!("{sent:?}")
    };
    let e = r.store.outbox_entry(entry).unwrap().unwrap();
    assert_eq!(
        (e.state, e.tx_hash, e.last_error),
        (OutboxState::Confirmed, Some(landed.0), None)
    );
    // Exactly one of `b`'s transactions for the write succeeded; the others (refused on chain) left their nonces.
    let mut succeeded = 0;
    for at in r.store.attempts(entry).unwrap() {
        if let Some(rc) = r.chain.receipt(at.tx_hash.into()).await.unwrap() {
            succeeded += usize::from(rc.status());
        }
    }
    assert_eq!(succeeded, 1);
    // Still confirmed at the next finality check: the refused attempt at the old nonce is not taken for it.
    assert!(b.check_finality().await.unwrap().reorged.is_empty());
    assert_eq!(
        r.store.outbox_entry(entry).unwrap().unwrap().tx_hash,
        Some(landed.0)
    );
}

#[tokio::test]
async fn a_refusal_after_the_grace_is_final() {
    let r = rig("grace").await;
    let a = second_kiosk(&r).await;
    let b = r.outbox().with_reorg_grace(Duration::ZERO);
    // A write that was never reorged away is refused for good at once.
    r.rpc("anvil_setCode", serde_json::json!([GATE, NEEDS_SLOT0]))
        .await;
    let err = b.submit("early", "use", use_gate()).await.unwrap_err();
    assert!(
        matches!(err, carekiosk_kiosk::KioskError::Refused(_)),
        "{err}"
    );
    let entry = set_use_and_reorg(&r, &a, &b).await;
    // Refused on chain: the replayed call says why (this gate reverts with no data).
    let err = b.drain().await.unwrap_err();
    assert!(
        matches!(err, carekiosk_kiosk::KioskError::Refused(_)),
        "{err}"
    );
    assert!(err.to_string().contains("revert data 0x"), "{err}");
    let e = r.store.outbox_entry(entry).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Failed);
    assert!(r.store.pending().unwrap().is_empty());
}

#[tokio::test]
async fn two_finality_checks_at_once_find_a_reorged_write_once_and_neither_fails() {
    let r = rig("two-checks").await;
    let outbox = r.outbox();
    let done = outbox.submit("twice", "test", call()).await.unwrap();
    assert!(matches!(done, Submitted::Confirmed { .. }), "{done:?}");
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    // A slow node can make one check outlast the period and the next begin: they take turns.
    let (a, b) = tokio::join!(outbox.check_finality(), outbox.check_finality());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.reorged.len() + b.reorged.len(), 1, "{a:?} {b:?}");
    assert_eq!(
        r.store.outbox_entry(1).unwrap().unwrap().state,
        OutboxState::Submitted
    );
}

#[tokio::test]
async fn a_nonce_no_write_holds_is_filled_and_the_writes_behind_it_land() {
    let r = rig("gap").await;
    // A refused write held nonce 0 and its transaction is gone (a reorg took it off the chain): a hole.
    let hole = r
        .store
        .enqueue("refused", "test", &serde_json::json!(null))
        .unwrap()
        .entry
        .id;
    r.store
        .mark_submitted(hole, &r.sender.into_array(), &[9u8; 32], 0)
        .unwrap();
    r.store
        .mark_failed(hole, "WrongEpoch { given: 1, current: 0 }")
        .unwrap();
    // The next write takes nonce 1 and cannot land until nonce 0 is used.
    let outbox = r.outbox();
    let done = outbox.submit("behind", "test", call()).await.unwrap();
    let Submitted::Confirmed { tx_hash, .. } = done else {
        panic!("{done:?}")
    };
    assert_eq!(r.mined_nonce().await, 2, "the filler and the write");
    let tx = r
        .chain
        .provider()
        .get_transaction_by_hash(tx_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alloy::consensus::Transaction::nonce(tx.inner.inner()), 1);
    // Nonce 0: an empty transaction of the kiosk to itself.
    let latest = r.chain.provider().get_block_number().await.unwrap();
    let mut filler = None;
    for n in 0..=latest {
        let block = r.chain.full_block(n).await.unwrap();
        for t in block.transactions.txns() {
            let inner = t.inner.inner();
            if t.inner.signer() == r.sender && alloy::consensus::Transaction::nonce(inner) == 0 {
                filler = Some((
                    alloy::consensus::Transaction::to(inner),
                    alloy::consensus::Transaction::input(inner).clone(),
                ));
            }
        }
    }
    let (to, input) = filler.expect("nonce 0 was used");
    assert_eq!(to, Some(r.sender));
    assert!(input.is_empty());
}

#[tokio::test]
async fn a_reorged_write_priced_out_since_is_replaced_with_fees_raised_from_its_own() {
    let r = rig("reorg-spike").await;
    let outbox = r.outbox();
    let done = outbox.submit("spiked", "test", call()).await.unwrap();
    assert!(matches!(done, Submitted::Confirmed { .. }), "{done:?}");
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    // The base fee jumps while it is off the chain: its own bytes are refused now.
    r.rpc(
        "anvil_setNextBlockBaseFeePerGas",
        serde_json::json!([format!("{:#x}", 20 * GWEI)]),
    )
    .await;
    r.rpc("evm_mine", serde_json::json!([])).await;
    assert_eq!(outbox.check_finality().await.unwrap().reorged, vec![1]);
    let sent = outbox.drain().await.unwrap();
    assert!(
        matches!(sent.as_slice(), [Submitted::Confirmed { .. }]),
        "{sent:?}"
    );
    let attempts = r.store.attempts(1).unwrap();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0].nonce, attempts[1].nonce, "the same nonce");
    let (old_cap, old_tip) =
        carekiosk_chain::replace::fees_of(attempts[0].raw.as_deref().unwrap()).unwrap();
    let (new_cap, new_tip) =
        carekiosk_chain::replace::fees_of(attempts[1].raw.as_deref().unwrap()).unwrap();
    // Both raised by what a node still holding the old copy requires.
    assert!(new_cap * 100 >= old_cap * 110, "{old_cap} → {new_cap}");
    assert!(new_tip.unwrap() * 100 >= old_tip.unwrap() * 110);
    assert_eq!(r.mined_nonce().await, 1, "exactly once");
}

/// A reorg drops a confirmed write's block and the kiosk's next write, behind it by nonce, cannot be mined: the
/// outbox does not wait for the finality check's pace (an hour here) nor raise the stuck write's fees (that cannot
/// help); it has the next check run at once, which finds the dropped write; the kiosk's background drain sends it
/// again as it was, and both land, once each.
#[tokio::test]
async fn a_write_stuck_behind_a_dropped_confirmed_write_has_it_found_at_once() {
    let r = rig("behind").await;
    let outbox = std::sync::Arc::new(
        Outbox::new(r.chain.clone(), r.store.clone(), r.sender)
            .with_receipt_poll(Duration::from_millis(50))
            .with_stuck_after(Duration::from_millis(400))
            .with_finality_every(Duration::from_secs(3600)),
    );
    let first = outbox.submit("first", "test", call()).await.unwrap();
    let Submitted::Confirmed { tx_hash, .. } = first else {
        panic!("{first:?}")
    };
    // The finality check ran just now: by its own pace the next one is an hour away.
    outbox.check_finality_if_due().await;
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    assert!(r.chain.receipt(tx_hash).await.unwrap().is_none(), "dropped");
    assert_eq!(r.mined_nonce().await, 0);
    // The kiosk's background (as the app's status loop and the load worker do): a finality check when due, a
    // drain when a write waits.
    let background = {
        let o = outbox.clone();
        tokio::spawn(async move {
            loop {
                o.check_finality_if_due().await;
                if matches!(o.waiting(), Ok(w) if !w.is_empty()) {
                    let _ = o.drain().await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let second = tokio::time::timeout(
        Duration::from_secs(60),
        outbox.submit("second", "test", call()),
    )
    .await
    .expect("the second write waited behind the dropped one for good")
    .unwrap();
    background.abort();
    let _ = background.await; // gone, with whatever it was driving
    assert!(matches!(second, Submitted::Confirmed { .. }), "{second:?}");
    // The first is back as it was (its receipt taken by the next drain), the second was never re-priced, and the
    // chain has each once.
    outbox.drain().await.unwrap();
    let e = r.store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(
        (e.state, e.tx_hash),
        (OutboxState::Confirmed, Some(tx_hash.0))
    );
    assert_eq!(r.store.attempts(2).unwrap().len(), 1, "no fee bump");
    assert_eq!(r.mined_nonce().await, 2);
}

/// A write waiting behind one of ours that a reorg dropped finds that write itself, without a finality check: none
/// is due for an hour and nothing calls one, yet when the waiting write gives up the dropped one is back to
/// `submitted`, and a drain lands both, each once. (Left to the finality check, a check already under way — slow
/// behind a rate-limited node — finds it only when it ends, while every later write of the kiosk waits: the one
/// failed visit of the Celo-like run of 2026-12-03 13:26 UTC.)
#[tokio::test]
async fn a_write_waiting_behind_a_dropped_write_finds_it_without_a_finality_check() {
    let r = rig("below").await;
    let outbox = Outbox::new(r.chain.clone(), r.store.clone(), r.sender)
        .with_receipt_poll(Duration::from_millis(50))
        .with_stuck_after(Duration::from_millis(400))
        .with_receipt_timeout(Duration::from_secs(3))
        .with_finality_every(Duration::from_secs(3600));
    let first = outbox.submit("first", "test", call()).await.unwrap();
    let Submitted::Confirmed { tx_hash, .. } = first else {
        panic!("{first:?}")
    };
    outbox.check_finality_if_due().await; // the hour starts now
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    assert!(r.chain.receipt(tx_hash).await.unwrap().is_none(), "dropped");
    let second = outbox.submit("second", "test", call()).await.unwrap();
    assert!(
        matches!(second, Submitted::Pending { .. }),
        "it cannot land before the first: {second:?}"
    );
    let e = r.store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(
        e.state,
        OutboxState::Submitted,
        "the write behind found the dropped one: {e:?}"
    );
    assert!(e.reorged_at.is_some());
    let sent = outbox.drain().await.unwrap();
    assert!(
        matches!(
            sent.as_slice(),
            [Submitted::Confirmed { .. }, Submitted::Confirmed { .. }]
        ),
        "{sent:?}"
    );
    let e = r.store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(e.tx_hash, Some(tx_hash.0), "sent again as it was");
    assert_eq!(r.store.attempts(2).unwrap().len(), 1, "no fee bump");
    assert_eq!(r.mined_nonce().await, 2, "each once");
}

#[tokio::test]
async fn a_write_refused_while_an_earlier_write_of_its_kiosk_is_off_the_chain_waits_for_it_and_lands(
) {
    let r = rig("earlier").await;
    // The finality check at its own pace (an hour): only the refusal can make it run.
    let o = Outbox::new(r.chain.clone(), r.store.clone(), r.sender)
        .with_receipt_poll(Duration::from_millis(50))
        .with_stuck_after(Duration::from_millis(400))
        .with_finality_every(Duration::from_secs(3600));
    r.rpc("anvil_setCode", serde_json::json!([GATE, NEEDS_SLOT0]))
        .await;
    r.rpc("evm_mine", serde_json::json!([])).await;
    let set = o.submit("set", "set", set_gate()).await.unwrap();
    let Submitted::Confirmed { tx_hash, .. } = set else {
        panic!("{set:?}")
    };
    o.check_finality_if_due().await;
    // Its block is reorged away (the node drops it); the outbox has not looked yet when the next write is asked.
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    assert!(r.chain.receipt(tx_hash).await.unwrap().is_none());
    let used = o.submit("use", "use", use_gate()).await.unwrap();
    assert!(
        matches!(&used, Submitted::Pending { reason, .. } if reason.contains("tried again")),
        "refused while the gate is unset, and deferred, not failed: {used:?}"
    );
    let e = r.store.outbox_entry(2).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Queued, "{e:?}");
    // The refusal found the first write off the chain: it is being sent again.
    assert_ne!(
        r.store.outbox_entry(1).unwrap().unwrap().state,
        OutboxState::Confirmed
    );
    // The next drains send the first again, then (after the pause) the second, which lands.
    let mut landed = None;
    for _ in 0..40 {
        for s in o.drain().await.unwrap() {
            if let Submitted::Confirmed {
                entry: 2, tx_hash, ..
            } = s
            {
                landed = Some(tx_hash);
            }
        }
        if landed.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let landed = landed.expect("the second write landed");
    let first = r.store.outbox_entry(1).unwrap().unwrap();
    assert_eq!(
        (first.state, first.tx_hash),
        (OutboxState::Confirmed, Some(tx_hash.0)),
        "the first is back byte for byte"
    );
    let rc = r.chain.receipt(landed).await.unwrap().expect("mined");
    assert!(rc.status());
    assert_eq!(
        r.mined_nonce().await,
        2,
        "each once, nothing refused on chain"
    );
}

#[tokio::test]
async fn an_earlier_write_refused_while_this_one_is_asked_is_not_this_ones_failure() {
    let r = rig("earlier-refused").await;
    let o = r.outbox();
    r.rpc("anvil_setCode", serde_json::json!([GATE, NEEDS_SLOT0]))
        .await;
    // A write recorded and not yet sent (its desk's task was interrupted, say) that the chain refuses.
    let refused = r
        .store
        .enqueue("use", "use", &serde_json::to_value(use_gate()).unwrap())
        .unwrap()
        .entry
        .id;
    // Another action's write sends the earlier one first: that one is refused, this one still lands.
    let sent = o.submit("other", "test", call()).await;
    assert!(
        matches!(sent, Ok(Submitted::Confirmed { .. })),
        "the earlier refusal is not this write's: {sent:?}"
    );
    assert_eq!(
        r.store.outbox_entry(refused).unwrap().unwrap().state,
        OutboxState::Failed
    );
    // Whoever asked for the refused one is told so when it looks again.
    let again = o.resume("use").await;
    assert!(
        again.is_ok_and(|s| s.is_none()),
        "refused: nothing to resume"
    );
}

#[tokio::test]
async fn a_receipt_from_a_block_the_chain_replaced_does_not_keep_a_write_on_the_chain() {
    use carekiosk_testkit::capped::{capped, Wording};
    let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
    let proxy = capped(&devnet.url, 100_000, Wording::Plain).await;
    let r = rig_on("old-receipt", devnet, Some(&proxy.url)).await;
    let outbox = r.outbox();
    let done = outbox.submit("w", "test", call()).await.unwrap();
    let Submitted::Confirmed { tx_hash, .. } = done else {
        panic!("{done:?}")
    };
    // The replica keeps answering the receipt from before the reorg, which replaces the write's block.
    let old = r
        .rpc("eth_getTransactionReceipt", serde_json::json!([tx_hash]))
        .await;
    proxy
        .stats
        .old_receipts
        .lock()
        .unwrap()
        .insert(format!("{tx_hash:#x}"), old);
    r.rpc("anvil_reorg", serde_json::json!([1, []])).await;
    assert!(
        r.chain.receipt(tx_hash).await.unwrap().is_some(),
        "the replica answers the old receipt"
    );
    let f = outbox.check_finality().await.unwrap();
    assert_eq!(f.reorged, vec![1], "{f:?}");
    proxy.stats.old_receipts.lock().unwrap().clear();
    let sent = outbox.drain().await.unwrap();
    assert!(
        matches!(sent.as_slice(), [Submitted::Confirmed { .. }]),
        "{sent:?}"
    );
    assert_eq!(r.mined_nonce().await, 1, "exactly once");
}
