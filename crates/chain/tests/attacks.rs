//! Races on a real Anvil, in one block: two pharmacies dispensing one prescription, and an insurer paying one
//! claim twice. Both transactions of each race are signed and broadcast while mining is paused, then one block
//! is mined with both in it: exactly one may succeed. (The Solidity attack suite in contracts/test/attacks/ tries
//! the orderings; this shows it on a node, with the kiosk's own signing and broadcast path.)

use alloy::primitives::aliases::U40;
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::bindings::{scope, Role};
use carekiosk_chain::deploy::{self, LocalStack, TOKEN_UNIT};
use carekiosk_chain::devnet::DevnetOptions;
use carekiosk_chain::eip712::{self, Dispense, RegisterPatient};
use carekiosk_chain::softcard::SoftCard;
use carekiosk_chain::{Chain, Deployment, SignedTx};

fn deadline() -> U256 {
    U256::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600,
    )
}

async fn automine(chain: &Chain, on: bool) {
    chain
        .provider()
        .raw_request::<_, ()>("evm_setAutomine".into(), (on,))
        .await
        .unwrap();
}

/// Broadcasts `txs` with mining paused, mines one block, and returns their receipts (all in that block).
async fn in_one_block(chain: &Chain, txs: &[SignedTx]) -> Vec<TransactionReceipt> {
    automine(chain, false).await;
    for tx in txs {
        chain.broadcast(tx).await.unwrap();
    }
    chain
        .provider()
        .raw_request::<_, String>("evm_mine".into(), ())
        .await
        .unwrap();
    automine(chain, true).await;
    let mut receipts = Vec::new();
    for tx in txs {
        receipts.push(chain.receipt(tx.hash).await.unwrap().expect("mined"));
    }
    let block = receipts[0].block_number;
    assert!(
        receipts.iter().all(|r| r.block_number == block),
        "all in one block"
    );
    receipts
}

/// The local stack, a second pharmacy with a kiosk, and a registered patient whose card granted the hospital
/// everything and both pharmacies READ|DISPENSE.
struct Race {
    _stack_devnet: carekiosk_chain::devnet::Devnet,
    chain: Chain,
    d: Deployment,
    card: SoftCard,
    hospital_kiosk: Address,
    pharmacy: Address,
    pharmacy_kiosk: Address,
    pharmacy2: Address,
    pharmacy2_kiosk: Address,
    insurer_kiosk: Address,
}

async fn race() -> Race {
    let st = LocalStack::start(DevnetOptions::default())
        .await
        .expect("anvil starts (cd contracts && npm install)");
    let p2 = PrivateKeySigner::random();
    let p2k = PrivateKeySigner::random();
    let chain = st
        .chain
        .with_signers(vec![p2.clone(), p2k.clone()])
        .await
        .unwrap();
    let d = st.deployment;
    for a in [p2.address(), p2k.address()] {
        chain
            .devnet_set_balance(a, U256::from(10u64) * U256::from(TOKEN_UNIT))
            .await
            .unwrap();
    }
    deploy::register_institution(&chain, &d, Role::Pharmacy, p2.address())
        .await
        .unwrap();
    deploy::enrol_kiosk(&chain, &d, p2.address(), &p2k)
        .await
        .unwrap();

    let a = &st.actors;
    let r = Race {
        _stack_devnet: st.devnet,
        chain,
        d,
        card: SoftCard::generate(),
        hospital_kiosk: a.hospital_kiosk.address(),
        pharmacy: a.pharmacy.address(),
        pharmacy_kiosk: a.pharmacy_kiosk.address(),
        pharmacy2: p2.address(),
        pharmacy2_kiosk: p2k.address(),
        insurer_kiosk: a.insurer_kiosk.address(),
    };
    let domain = r.domain();
    let pid = r.card.patient_id();
    let dl = deadline();
    let sig = r.card.sign(eip712::digest(
        &RegisterPatient {
            patientId: pid,
            hospital: a.hospital.address(),
            recoveryKeyHash: carekiosk_chain::softcard::recovery_for(pid),
            keyBundleHash: alloy::primitives::keccak256(
                carekiosk_chain::softcard::sample_key_bundle(),
            ),
            deadline: dl,
        },
        &domain,
    ));
    r.chain
        .send(
            r.hospital_kiosk,
            r.chain.hub(&r.d).registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(sig.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                sig.into(),
            ),
        )
        .await
        .unwrap();
    for (institution, kiosk, sc) in [
        (a.hospital.address(), r.hospital_kiosk, scope::HOSPITAL),
        (r.pharmacy, r.pharmacy_kiosk, scope::READ | scope::DISPENSE),
        (
            r.pharmacy2,
            r.pharmacy2_kiosk,
            scope::READ | scope::DISPENSE,
        ),
    ] {
        let signed = r
            .card
            .consent(&r.chain, &r.d, institution, sc, 3)
            .await
            .unwrap();
        signed.send(&r.chain, &r.d, pid, kiosk).await.unwrap();
    }
    r
}

impl Race {
    fn domain(&self) -> alloy::sol_types::Eip712Domain {
        eip712::domain(self.d.chain_id, self.d.contracts.patient_smart_card)
    }

    fn pid(&self) -> B256 {
        self.card.patient_id()
    }

    async fn next_nonce(&self, who: Address) -> u64 {
        self.chain.nonce(who, true).await.unwrap()
    }
}

#[tokio::test]
async fn two_pharmacies_racing_in_one_block_exactly_one_dispenses() {
    let r = race().await;
    let (pharmacy, hub) = (r.chain.pharmacy(&r.d), r.chain.hub(&r.d));
    let pid = r.pid();
    r.chain
        .send(
            r.hospital_kiosk,
            pharmacy.issuePrescription(pid, U40::ZERO, B256::ZERO, sealed_shape(512)),
        )
        .await
        .unwrap();
    let id = pharmacy.prescriptionCount().call().await.unwrap();
    let card_nonce = hub.nonces(pid).call().await.unwrap();
    let dl = deadline();
    // The patient's card signed, at the same card nonce, a Dispense for each pharmacy; both kiosks submit.
    let mut txs = Vec::new();
    for (institution, kiosk) in [
        (r.pharmacy, r.pharmacy_kiosk),
        (r.pharmacy2, r.pharmacy2_kiosk),
    ] {
        let sealed = sealed_shape(512);
        let msg = Dispense {
            prescriptionId: id,
            pharmacy: institution,
            part: 10_000,
            contentHash: alloy::primitives::keccak256(&sealed),
            nonce: card_nonce,
            deadline: dl,
        };
        let sig = r.card.sign(eip712::digest(&msg, &r.domain()));
        let tx = r
            .chain
            .sign(
                kiosk,
                pharmacy.dispensePrescription(id, pid, 10_000, dl, sealed, sig.into()),
                r.next_nonce(kiosk).await,
            )
            .await
            .unwrap();
        txs.push(tx);
    }
    let receipts = in_one_block(&r.chain, &txs).await;
    let won: Vec<bool> = receipts.iter().map(|x| x.status()).collect();
    assert_eq!(
        won.iter().filter(|w| **w).count(),
        1,
        "exactly one pharmacy wins: {won:?}"
    );
    let p = pharmacy.getPrescription(id).call().await.unwrap();
    assert_eq!(p.status, 2, "completed");
    let winner = if won[0] { r.pharmacy } else { r.pharmacy2 };
    let winner_id = hub.institutions(winner).call().await.unwrap().id;
    // The dispense's event names the winner (the chain keeps no dispenser: the event's is the record).
    let dispensed: Vec<u32> = receipts
        .iter()
        .flat_map(|x| x.inner.logs())
        .filter_map(|l| {
            l.log_decode::<carekiosk_chain::bindings::PharmacyAccess::PrescriptionDispensed>()
                .ok()
        })
        .map(|e| e.inner.data.pharmacy)
        .collect();
    assert_eq!(
        dispensed,
        vec![winner_id],
        "recorded as dispensed by the winner"
    );
    assert_eq!(
        hub.nonces(pid).call().await.unwrap(),
        card_nonce + U256::from(1),
        "exactly one card nonce used"
    );
    // One PrescriptionDispensed event in the block.
    let logs = receipts
        .iter()
        .flat_map(|x| x.inner.logs())
        .filter(|l| l.address() == r.d.contracts.pharmacy_access)
        .count();
    assert_eq!(logs, 1, "one dispense event");
}

#[tokio::test]
async fn paying_one_claim_twice_in_one_block_pays_once() {
    let r = race().await;
    let (records, insurance, token) = (
        r.chain.records(&r.d),
        r.chain.insurance(&r.d),
        r.chain.token(&r.d),
    );
    let pid = r.pid();
    let insurer_org = r.d.institution(Role::Insurer).unwrap().address;
    let signed = r
        .card
        .consent(&r.chain, &r.d, insurer_org, scope::INSURER, 90)
        .await
        .unwrap();
    signed
        .send(&r.chain, &r.d, pid, r.insurer_kiosk)
        .await
        .unwrap();
    r.chain
        .send(
            r.insurer_kiosk,
            insurance.enrollPatient(pid, 8_000, 5_000u128 * TOKEN_UNIT),
        )
        .await
        .unwrap();
    r.chain
        .send(
            r.hospital_kiosk,
            records.addMedicalRecord(pid, sealed_shape(1024)),
        )
        .await
        .unwrap();
    let amount = U256::from(100u128 * TOKEN_UNIT);
    r.chain
        .send(
            r.hospital_kiosk,
            insurance.submitClaim(pid, U256::ZERO, amount, sealed_shape(512)),
        )
        .await
        .unwrap();
    let claim = insurance.claimCount().call().await.unwrap();
    let approved = amount * U256::from(8_000) / U256::from(10_000);
    r.chain
        .send(
            r.insurer_kiosk,
            insurance.approveClaim(claim, pid, B256::ZERO, approved, sealed_shape(512)),
        )
        .await
        .unwrap();
    let hospital = r.d.institution(Role::Hospital).unwrap().address;
    let insurer = r.d.institution(Role::Insurer).unwrap().address;
    let before = token.balanceOf(hospital).call().await.unwrap();
    let escrow = insurance.escrowOf(insurer).call().await.unwrap();
    // The insurer's kiosk sends the payment twice (nonces n and n+1), as a confused retry would.
    let n = r.next_nonce(r.insurer_kiosk).await;
    let mut txs = Vec::new();
    for i in 0..2 {
        txs.push(
            r.chain
                .sign(
                    r.insurer_kiosk,
                    insurance.processPayment(claim, B256::ZERO),
                    n + i,
                )
                .await
                .unwrap(),
        );
    }
    let receipts = in_one_block(&r.chain, &txs).await;
    assert!(receipts[0].status(), "the first payment lands");
    assert!(!receipts[1].status(), "the second reverts (AlreadyPaid)");
    assert_eq!(
        token.balanceOf(hospital).call().await.unwrap(),
        before + approved,
        "the hospital is paid once"
    );
    assert_eq!(
        insurance.escrowOf(insurer).call().await.unwrap(),
        escrow - approved
    );
    let e = r
        .chain
        .send(r.insurer_kiosk, insurance.processPayment(claim, B256::ZERO))
        .await
        .unwrap_err();
    match e {
        carekiosk_chain::ChainError::Reverted(rev) => assert_eq!(rev.name, "AlreadyPaid"),
        other => panic!("expected AlreadyPaid, got {other}"),
    }
}

/// Bytes of a sealed envelope's shape (version 3, a bucket of `bucket` bytes plus the overhead): what the contracts
/// accept.
fn sealed_shape(bucket: usize) -> Bytes {
    let mut v = vec![7u8; bucket + carekiosk_chain::payloads::ENVELOPE_OVERHEAD];
    v[0] = carekiosk_chain::payloads::ENVELOPE_VERSION;
    Bytes::from(v)
}
