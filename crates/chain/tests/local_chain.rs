//! The chain client against a real Anvil: deployment and wiring, EIP-712 digests matching the contracts both
//! ways, revert decoding, gas policies, a Celo-chain-id rehearsal, and the gas table.

use alloy::network::TransactionResponse;
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolStruct;
use carekiosk_chain::bindings::{scope, Role};
use carekiosk_chain::deploy::{self, DemoActors, DEMO_ESCROW, TOKEN_UNIT};
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_chain::eip712::{
    self, CardSignature, Consent, Dispense, RegisterPatient, ReplaceCard, RevokeConsent,
};
use carekiosk_chain::softcard::SoftCard;
use carekiosk_chain::{gastable, Chain, ChainError, Deployment, GasPolicy, Profile};

struct Stack {
    _devnet: Devnet,
    chain: Chain,
    d: Deployment,
    actors: DemoActors,
    admin: PrivateKeySigner,
}

async fn stack() -> Stack {
    let st = deploy::LocalStack::start(DevnetOptions::default())
        .await
        .expect("anvil starts (cd contracts && npm install)");
    let (devnet, chain, d, actors, admin) =
        (st.devnet, st.chain, st.deployment, st.actors, st.admin);
    Stack {
        _devnet: devnet,
        chain,
        d,
        actors,
        admin,
    }
}

fn deadline() -> U256 {
    U256::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 600,
    )
}

fn revert_name(e: ChainError) -> String {
    match e {
        ChainError::Reverted(r) => r.name,
        other => panic!("expected a revert, got {other}"),
    }
}

#[tokio::test]
async fn deploys_wires_and_registers_the_demo() {
    let s = stack().await;
    let hub = s.chain.hub(&s.d);
    assert_eq!(hub.admin().call().await.unwrap(), s.admin.address());
    assert_eq!(
        hub.hospitalRecord().call().await.unwrap(),
        s.d.contracts.hospital_record
    );
    assert_eq!(
        hub.pharmacyAccess().call().await.unwrap(),
        s.d.contracts.pharmacy_access
    );
    assert_eq!(
        hub.insuranceProvider().call().await.unwrap(),
        s.d.contracts.insurance_provider
    );
    for (role, inst, kiosk) in [
        (Role::Hospital, &s.actors.hospital, &s.actors.hospital_kiosk),
        (Role::Pharmacy, &s.actors.pharmacy, &s.actors.pharmacy_kiosk),
        (Role::Insurer, &s.actors.insurer, &s.actors.insurer_kiosk),
    ] {
        let reg = hub.institutions(inst.address()).call().await.unwrap();
        assert_eq!(reg.role, role as u8, "{role:?}");
        assert!(reg.active);
        assert_eq!(
            hub.kioskInstitution(kiosk.address()).call().await.unwrap(),
            inst.address()
        );
        let entry = s.d.institution(role).unwrap();
        assert_eq!(entry.address, inst.address());
        assert_eq!(entry.id, reg.id);
    }
    let escrow = s
        .chain
        .insurance(&s.d)
        .escrowOf(s.actors.insurer.address())
        .call()
        .await
        .unwrap();
    assert_eq!(escrow, U256::from(DEMO_ESCROW) * U256::from(TOKEN_UNIT));
    let held = s
        .chain
        .token(&s.d)
        .balanceOf(s.d.contracts.insurance_provider)
        .call()
        .await
        .unwrap();
    assert_eq!(held, escrow);
    // Every contract has code and stays under the 24 KiB limit.
    for a in [
        s.d.contracts.patient_smart_card,
        s.d.contracts.hospital_record,
        s.d.contracts.pharmacy_access,
        s.d.contracts.insurance_provider,
    ] {
        let code = s.chain.provider().get_code_at(a).await.unwrap();
        assert!(
            !code.is_empty() && code.len() <= 24_576,
            "{a}: {} bytes",
            code.len()
        );
    }
    // The manifest round-trips through its file.
    let dir = std::env::temp_dir().join(format!("carekiosk-manifest-{}", std::process::id()));
    let path = dir.join("local.json");
    s.d.save(&path).unwrap();
    assert_eq!(Deployment::load(&path).unwrap(), s.d);
    std::fs::remove_dir_all(dir).unwrap();
    assert!(
        Deployment::load(std::path::Path::new("/nonexistent/m.json"))
            .unwrap_err()
            .to_string()
            .contains("deploy first")
    );
}

#[tokio::test]
async fn eip712_digests_match_the_contracts_both_ways() {
    let s = stack().await;
    let hub = s.chain.hub(&s.d);
    let pharmacy = s.chain.pharmacy(&s.d);
    let domain = eip712::domain(s.d.chain_id, s.d.contracts.patient_smart_card);
    // Contract → Rust: the domain separator and every typehash.
    assert_eq!(
        hub.domainSeparator().call().await.unwrap(),
        domain.separator()
    );
    let z = alloy::primitives::B256::ZERO;
    let reg = RegisterPatient {
        patientId: z,
        hospital: Address::ZERO,
        recoveryKeyHash: carekiosk_chain::softcard::recovery_for(z),
        keyBundleHash: alloy::primitives::keccak256(carekiosk_chain::softcard::sample_key_bundle()),
        deadline: U256::ZERO,
    };
    assert_eq!(
        hub.REGISTER_TYPEHASH().call().await.unwrap(),
        reg.eip712_type_hash()
    );
    let consent = Consent {
        patientId: z,
        institution: Address::ZERO,
        scope: 0,
        validUntil: 0,
        epoch: 0,
        signedAt: 0,
    };
    assert_eq!(
        hub.CONSENT_TYPEHASH().call().await.unwrap(),
        consent.eip712_type_hash()
    );
    let revoke = RevokeConsent {
        patientId: z,
        institution: Address::ZERO,
        signedAt: 0,
    };
    assert_eq!(
        hub.REVOKE_TYPEHASH().call().await.unwrap(),
        revoke.eip712_type_hash()
    );
    let replace = ReplaceCard {
        patientId: z,
        newCardKeyHash: z,
        hospital: Address::ZERO,
        newRecoveryKeyHash: z,
        keyBundleHash: z,
        epoch: 0,
        signedAt: 0,
    };
    assert_eq!(
        hub.REPLACE_TYPEHASH().call().await.unwrap(),
        replace.eip712_type_hash()
    );
    let dispense = Dispense {
        prescriptionId: U256::ZERO,
        pharmacy: Address::ZERO,
        part: 0,
        contentHash: alloy::primitives::B256::ZERO,
        nonce: U256::ZERO,
        deadline: U256::ZERO,
    };
    assert_eq!(
        pharmacy.DISPENSE_TYPEHASH().call().await.unwrap(),
        dispense.eip712_type_hash()
    );

    // Rust → contract: a digest computed here and signed by a P-256 key registers the patient.
    let card = SoftCard::generate();
    let kiosk = s.actors.hospital_kiosk.address();
    let hospital = s.actors.hospital.address();
    let dl = deadline();
    let pid = card.patient_id();
    let sign = |d: &alloy::sol_types::Eip712Domain, dl: U256| {
        card.sign(eip712::digest(
            &RegisterPatient {
                patientId: pid,
                hospital,
                recoveryKeyHash: carekiosk_chain::softcard::recovery_for(pid),
                keyBundleHash: alloy::primitives::keccak256(
                    carekiosk_chain::softcard::sample_key_bundle(),
                ),
                deadline: dl,
            },
            d,
        ))
    };
    // A signature made for another chain id, another deployment, or other fields is refused.
    let other_chain = eip712::domain(42220, s.d.contracts.patient_smart_card);
    let other_hub = eip712::domain(s.d.chain_id, Address::repeat_byte(0x11));
    for bad in [
        sign(&other_chain, dl),
        sign(&other_hub, dl),
        sign(&domain, dl + U256::from(1)),
    ] {
        let e = s
            .chain
            .send(
                kiosk,
                hub.registerPatient(
                    dl,
                    carekiosk_chain::softcard::recovery_for(bad.key_hash()),
                    carekiosk_chain::softcard::sample_key_bundle(),
                    bad.into(),
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(revert_name(e), "InvalidCardSignature");
    }
    // A high-s twin of a valid signature is refused (malleability).
    let good = sign(&domain, dl);
    let high_s = CardSignature {
        s: alloy::primitives::B256::from(
            (eip712::P256_N - U256::from_be_bytes(good.s.0)).to_be_bytes::<32>(),
        ),
        ..good
    };
    let e = s
        .chain
        .send(
            kiosk,
            hub.registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(high_s.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                high_s.into(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(revert_name(e), "InvalidCardSignature");
    s.chain
        .send(
            kiosk,
            hub.registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(good.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                good.into(),
            ),
        )
        .await
        .unwrap();
    let info = hub.getPatientInfo(pid).call().await.unwrap();
    assert!(info.registered);
    assert_eq!(info.cardKeyHash, pid);
    // The same signature cannot register twice.
    let e = s
        .chain
        .send(
            kiosk,
            hub.registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(good.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                good.into(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(revert_name(e), "PatientExists");

    // Consent signed here for the hospital's default window (90 days), in the patient's first epoch.
    let signed = card
        .consent(&s.chain, &s.d, hospital, scope::HOSPITAL, 90)
        .await
        .unwrap();
    assert_eq!(signed.epoch, 1);
    signed.send(&s.chain, &s.d, pid, kiosk).await.unwrap();
    let c = hub.consentOf(pid, hospital).call().await.unwrap();
    assert_eq!(c.validUntil, signed.valid_until);
    assert_eq!(c.signedAt, signed.signed_at);
    // Replaying it is refused: a consent must be signed later than the pair's last one.
    let e = signed.send(&s.chain, &s.d, pid, kiosk).await.unwrap_err();
    assert_eq!(revert_name(e), "StaleSignature");
}

#[tokio::test]
async fn reverts_are_decoded_into_custom_errors() {
    let s = stack().await;
    let stranger = PrivateKeySigner::random();
    let chain = s.chain.with_signers(vec![stranger.clone()]).await.unwrap();
    chain
        .devnet_set_balance(stranger.address(), U256::from(TOKEN_UNIT))
        .await
        .unwrap();
    // Not the admin.
    let e = chain
        .send(
            stranger.address(),
            chain
                .records(&s.d)
                .registerHospital(Address::repeat_byte(1)),
        )
        .await
        .unwrap_err();
    let r = e.revert().unwrap().clone();
    assert_eq!(r.name, "NotGovernance");
    assert!(
        r.detail
            .to_lowercase()
            .contains(&format!("{:x}", stranger.address()).to_lowercase()),
        "{}",
        r.detail
    );
    // Not a kiosk.
    let pid = SoftCard::generate().patient_id();
    let e = chain
        .send(
            stranger.address(),
            chain
                .records(&s.d)
                .addMedicalRecord(pid, vec![1u8; 8].into()),
        )
        .await
        .unwrap_err();
    assert_eq!(revert_name(e), "NotAKiosk");
    // A hospital kiosk without the patient's consent.
    let e = chain
        .send(
            s.actors.hospital_kiosk.address(),
            chain
                .records(&s.d)
                .addMedicalRecord(pid, vec![1u8; 8].into()),
        )
        .await
        .unwrap_err();
    let r = e.revert().unwrap();
    assert_eq!(r.name, "NoConsent");
    assert!(r.detail.contains("patientId"), "{}", r.detail);
    // The wrong role: a pharmacy kiosk writing a record.
    let e = chain
        .send(
            s.actors.pharmacy_kiosk.address(),
            chain
                .records(&s.d)
                .addMedicalRecord(pid, vec![1u8; 8].into()),
        )
        .await
        .unwrap_err();
    assert_eq!(revert_name(e), "WrongRole");
    // A revoked kiosk key.
    chain
        .send(
            s.actors.hospital.address(),
            chain
                .hub(&s.d)
                .removeKiosk(s.actors.hospital_kiosk.address()),
        )
        .await
        .unwrap();
    let card = SoftCard::generate();
    let dl = deadline();
    let msg = RegisterPatient {
        patientId: card.patient_id(),
        hospital: s.actors.hospital.address(),
        recoveryKeyHash: carekiosk_chain::softcard::recovery_for(card.patient_id()),
        keyBundleHash: alloy::primitives::keccak256(carekiosk_chain::softcard::sample_key_bundle()),
        deadline: dl,
    };
    let sig = card.sign(eip712::digest(
        &msg,
        &eip712::domain(s.d.chain_id, s.d.contracts.patient_smart_card),
    ));
    let e = chain
        .send(
            s.actors.hospital_kiosk.address(),
            chain.hub(&s.d).registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(sig.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                sig.into(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(revert_name(e), "NotAKiosk");
}

#[tokio::test]
async fn local_profile_sends_legacy_transactions_at_two_gwei() {
    let s = stack().await;
    let card = SoftCard::generate();
    let dl = deadline();
    let msg = RegisterPatient {
        patientId: card.patient_id(),
        hospital: s.actors.hospital.address(),
        recoveryKeyHash: carekiosk_chain::softcard::recovery_for(card.patient_id()),
        keyBundleHash: alloy::primitives::keccak256(carekiosk_chain::softcard::sample_key_bundle()),
        deadline: dl,
    };
    let sig = card.sign(eip712::digest(
        &msg,
        &eip712::domain(s.d.chain_id, s.d.contracts.patient_smart_card),
    ));
    let r = s
        .chain
        .send(
            s.actors.hospital_kiosk.address(),
            s.chain.hub(&s.d).registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(sig.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                sig.into(),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.effective_gas_price, 2_000_000_000);
    let tx = s
        .chain
        .provider()
        .get_transaction_by_hash(r.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.inner.tx_type(), alloy::consensus::TxType::Legacy);
    assert_eq!(tx.from(), s.actors.hospital_kiosk.address());
}

#[tokio::test]
async fn deploys_on_an_anvil_with_celo_sepolia_chain_id_using_eip1559() {
    let devnet = Devnet::start(DevnetOptions {
        chain_id: 11_142_220,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut profile = Profile::embedded("celo-sepolia").unwrap();
    profile.rpc_url = devnet.url.clone();
    let admin = PrivateKeySigner::random();
    let chain = Chain::connect(&devnet.url, profile.gas, vec![admin.clone()])
        .await
        .unwrap();
    chain
        .devnet_set_balance(admin.address(), U256::from(100u64) * U256::from(TOKEN_UNIT))
        .await
        .unwrap();
    let d = deploy::deploy_contracts(&chain, admin.address(), &profile)
        .await
        .unwrap();
    assert_eq!(d.chain_id, 11_142_220);
    assert_eq!(d.profile, "celo-sepolia");
    let hub = chain.hub(&d);
    assert_eq!(
        hub.domainSeparator().call().await.unwrap(),
        eip712::domain(11_142_220, d.contracts.patient_smart_card).separator()
    );
    // Registering an institution on the Celo profiles waits out the two-day governance delay: scheduled now
    // (an EIP-1559 transaction with a max fee above Celo's 25 gwei floor), refused until its time, with a
    // clear message.
    let e = deploy::register_institution(&chain, &d, Role::Hospital, Address::repeat_byte(3))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("run the same command again"), "{e}");
    let call = chain
        .records(&d)
        .registerHospital(Address::repeat_byte(3))
        .calldata()
        .clone();
    let id = alloy::primitives::keccak256(alloy::sol_types::SolValue::abi_encode_params(&(
        d.contracts.hospital_record,
        call.clone(),
    )));
    let eta = hub.etaOf(id).call().await.unwrap();
    assert!(eta > U256::ZERO, "scheduled");
    let e = chain
        .send(
            admin.address(),
            hub.execute(d.contracts.hospital_record, call.clone()),
        )
        .await
        .unwrap_err();
    assert_eq!(e.revert().map(|r| r.name.as_str()), Some("NotReady"));
    let r = chain.send(admin.address(), hub.cancel(id)).await.unwrap();
    let tx = chain
        .provider()
        .get_transaction_by_hash(r.transaction_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(tx.inner.tx_type(), alloy::consensus::TxType::Eip1559);
    assert!(alloy::consensus::Transaction::max_fee_per_gas(&tx) >= 50_000_000_000);
    // The mainnet profile refuses to deploy on this chain.
    let celo = Profile::embedded("celo").unwrap();
    let e = deploy::deploy_contracts(&chain, admin.address(), &celo)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::WrongChain {
                expected: 42_220,
                actual: 11_142_220,
                ..
            }
        ),
        "{e}"
    );
    assert!(matches!(profile.gas, GasPolicy::Eip1559 { .. }));
}

#[tokio::test]
async fn a_node_that_is_down_gives_a_clear_error() {
    let e = Chain::connect("http://127.0.0.1:9", GasPolicy::PAPER, vec![])
        .await
        .unwrap_err();
    assert!(matches!(e, ChainError::Unreachable { .. }), "{e}");
    assert!(e.is_unreachable());
    assert!(e.to_string().contains("Is it running"), "{e}");
}

#[tokio::test]
async fn gas_table_against_the_paper() {
    let report = gastable::measure().await.unwrap();
    let md = gastable::to_markdown(&report);
    println!("{md}");
    assert_eq!(report.rows.len(), 11);
    assert_eq!(report.paper_total(), 934_110);
    for row in &report.rows {
        assert!(row.ours > 21_000 && row.first > 21_000, "{row:?}");
        // No function above the paper's figure unless the table explains why.
        assert!(
            row.ours <= row.paper || gastable::explanation(row.function).is_some(),
            "{row:?}"
        );
        assert!(md.contains(row.function));
    }
    // Since v2 the total is about the paper's (99 % on 2026-12-03): registration carries the card's recovery and the two
    // institution registrations go through governance (each explained in the table). Every other row together
    // stays below the paper's same rows.
    let (ours, paper) = report
        .rows
        .iter()
        .filter(|r| gastable::explanation(r.function).is_none())
        .fold((0, 0), |(o, p), r| (o + r.ours, p + r.paper));
    assert!(ours < paper, "{ours} against the paper's {paper}");
    assert_eq!(report.deploy.len(), 5);
    for (name, gas) in &report.deploy {
        assert!(*gas > 100_000, "{name}");
    }
    // The visit priced on Celo is the kiosks': one write a desk step, cheaper than the same visit in single calls.
    let names = |v: &[(String, u64)]| v.iter().map(|w| w.0.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&report.first_visit),
        [
            "registerAndConsent",
            "enrollWithConsent",
            "consult",
            "dispenseWithConsent",
            "settleClaim"
        ]
    );
    assert_eq!(
        names(&report.returning_visit),
        [
            "grantConsent",
            "consult",
            "dispenseWithConsent",
            "settleClaim"
        ]
    );
    assert!(report.first_visit_gas() < report.single_calls[0].1);
    assert!(report.returning_visit_gas() < report.single_calls[1].1);
    assert_eq!(
        report.other_fees_wei, 0,
        "no L1 data fee on the Celo-like chain"
    );
}

#[tokio::test]
async fn a_signed_transaction_broadcast_twice_lands_once() {
    let s = stack().await;
    let kiosk = s.actors.hospital_kiosk.address();
    let card = SoftCard::generate();
    let dl = deadline();
    let msg = RegisterPatient {
        patientId: card.patient_id(),
        hospital: s.actors.hospital.address(),
        recoveryKeyHash: carekiosk_chain::softcard::recovery_for(card.patient_id()),
        keyBundleHash: alloy::primitives::keccak256(carekiosk_chain::softcard::sample_key_bundle()),
        deadline: dl,
    };
    let sig = card.sign(eip712::digest(
        &msg,
        &eip712::domain(s.d.chain_id, s.d.contracts.patient_smart_card),
    ));
    let nonce = s.chain.nonce(kiosk, true).await.unwrap();
    let tx = s
        .chain
        .sign(
            kiosk,
            s.chain.hub(&s.d).registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(sig.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                sig.into(),
            ),
            nonce,
        )
        .await
        .unwrap();
    assert_eq!(tx.nonce, nonce);
    assert!(
        s.chain.receipt(tx.hash).await.unwrap().is_none(),
        "signing does not send"
    );
    s.chain.broadcast(&tx).await.unwrap();
    // Anvil mines at once; sending the same bytes again (a restart after a crash) is not an error.
    let mut receipt = None;
    for _ in 0..100 {
        receipt = s.chain.receipt(tx.hash).await.unwrap();
        if receipt.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(receipt.unwrap().status());
    s.chain.broadcast(&tx).await.unwrap();
    assert_eq!(
        s.chain.nonce(kiosk, false).await.unwrap(),
        nonce + 1,
        "one nonce used, not two"
    );
    assert!(
        s.chain
            .hub(&s.d)
            .getPatientInfo(card.patient_id())
            .call()
            .await
            .unwrap()
            .registered
    );
    // A call that would revert fails at signing, decoded.
    let e = s
        .chain
        .sign(
            kiosk,
            s.chain.hub(&s.d).registerPatient(
                dl,
                carekiosk_chain::softcard::recovery_for(sig.key_hash()),
                carekiosk_chain::softcard::sample_key_bundle(),
                sig.into(),
            ),
            nonce + 1,
        )
        .await
        .unwrap_err();
    assert_eq!(revert_name(e), "PatientExists");
}
