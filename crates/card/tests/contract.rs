//! The contracts accept the virtual card's signature: a patient card issued and signed through pcscd registers
//! the patient on a real Anvil (registerPatient from the demo hospital's kiosk, RegisterPatient digest), and a
//! high-s or foreign signature is refused.

use carekiosk_testkit::pcscd as support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{B256, U256};
use carekiosk_card::{P256PublicKey, PatientCard, Pin, Provisioning};
use carekiosk_card_sim::{Sim, SimConfig};
use carekiosk_chain::deploy;
use carekiosk_chain::devnet::DevnetOptions;
use carekiosk_chain::eip712::{self, CardSignature, RegisterPatient};
use carekiosk_chain::ChainError;

fn key_hash(k: &P256PublicKey) -> [u8; 32] {
    eip712::key_hash(B256::from(k.x()), B256::from(k.y())).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_accepts_the_cards_signature_over_an_eip712_digest() {
    let slot = support::reader();
    let _sim = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    assert!(support::wait_card(
        slot.name(),
        true,
        Duration::from_secs(5)
    ));

    // The chain: Anvil (osaka, P256VERIFY), contracts, demo hospital with its kiosk.
    let st = deploy::LocalStack::start(DevnetOptions::default())
        .await
        .expect("anvil starts (cd contracts && npm install)");
    let (devnet, chain, d, actors) = (st.devnet, st.chain, st.deployment, st.actors);
    let domain = eip712::domain(d.chain_id, d.contracts.patient_smart_card);

    // Issue the card at the hospital: keys on the card, patient id = keccak256(qx || qy), the chain's id.
    let reader = slot.name().to_string();
    let chain_id = d.chain_id;
    let (issued, mut card) = tokio::task::spawn_blocking(move || {
        let mut card = PatientCard::open(&reader).unwrap();
        let (admin_pin, pin) = (Pin::new("12345678"), Pin::new("246810"));
        let p = Provisioning {
            admin_pin: &admin_pin,
            user_pin: &pin,
            new_admin_pin: None,
            reset_code: None,
            name: "Doe<<Jane",
            chain_id,
            overwrite: false,
        };
        (card.provision(&p, key_hash).unwrap(), card)
    })
    .await
    .unwrap();
    let pid = B256::from(issued.patient.patient_id);
    let (qx, qy) = (
        B256::from(issued.signing_key.x()),
        B256::from(issued.signing_key.y()),
    );
    assert_eq!(pid, eip712::key_hash(qx, qy));

    // The patient signs RegisterPatient with the card, through pcscd.
    let hospital = actors.hospital.address();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let deadline = U256::from(now + 3600);
    let digest = eip712::digest(
        &RegisterPatient {
            patientId: pid,
            hospital,
            recoveryKeyHash: carekiosk_chain::softcard::recovery_for(pid),
            keyBundleHash: alloy::primitives::keccak256(
                carekiosk_chain::softcard::sample_key_bundle(),
            ),
            deadline,
        },
        &domain,
    );
    let (auth, card_back) = tokio::task::spawn_blocking(move || {
        let a = card.authenticate(&Pin::new("246810"), &digest.0).unwrap();
        (a, card)
    })
    .await
    .unwrap();
    drop(card_back);
    assert_eq!(B256::from(auth.info.patient.patient_id), pid);
    let sig = CardSignature {
        qx,
        qy,
        r: B256::from(auth.signature.r),
        s: B256::from(auth.signature.s),
    };
    assert_eq!(
        sig,
        CardSignature::new(qx, qy, sig.r, sig.s),
        "the card's s is already low-s"
    );

    // A high-s twin of the same signature is refused by the contract (OZ P256 rejects malleable signatures).
    let n = eip712::P256_N;
    let high_s = B256::from((n - U256::from_be_bytes(sig.s.0)).to_be_bytes());
    let high = CardSignature { s: high_s, ..sig };
    let kiosk = actors.hospital_kiosk.address();
    let r = chain
        .send(
            kiosk,
            chain.hub(&d).registerPatient(
                deadline,
                carekiosk_chain::softcard::recovery_for(pid),
                carekiosk_chain::softcard::sample_key_bundle(),
                high.into(),
            ),
        )
        .await;
    assert!(
        matches!(r, Err(ChainError::Reverted(_))),
        "high-s must revert: {r:?}"
    );

    // The real one registers the patient.
    let receipt = chain
        .send(
            kiosk,
            chain.hub(&d).registerPatient(
                deadline,
                carekiosk_chain::softcard::recovery_for(pid),
                carekiosk_chain::softcard::sample_key_bundle(),
                sig.into(),
            ),
        )
        .await
        .expect("registerPatient");
    assert!(receipt.status());
    let key = chain.hub(&d).cardKeyOf(pid).call().await.unwrap();
    assert_eq!(key, pid, "the registry holds the card's key hash");
    eprintln!(
        "registerPatient with the virtual card's signature: {} gas",
        receipt.gas_used
    );
    devnet.stop().await;
}
