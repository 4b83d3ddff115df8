//! Failure tests on the real parts (Anvil, pcscd with the virtual card, OS keyring, SQLite): a card pulled
//! mid-workflow, a blocked PIN, an expired consent, a second pharmacy dispensing the same prescription, and
//! concurrent writes from one kiosk. Each checks the error the kiosk gives and that the chain and the kiosk's
//! cache are left consistent.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_card::{CardError, PatientCard, Pin};
use carekiosk_card_sim::InsMatch;
use carekiosk_chain::bindings::Role;
use carekiosk_chain::deploy::{self, TOKEN_UNIT};
use carekiosk_kiosk::kiosk::KioskKeys;
use carekiosk_kiosk::workflows::{doctor, insurer, pharmacy, reception};
use carekiosk_kiosk::{Kiosk, KioskError, KioskRole, PatientSession, Submitted};
use carekiosk_store::OutboxState;
use common::{blank_card, confirmed, registered, Stack, PIN};

/// PSO (COMPUTE DIGITAL SIGNATURE and DECIPHER share the INS byte).
const INS_PSO: u8 = 0x2A;

/// A workflow step that must end (with whatever result) well within `secs`: a pulled card must not hang it.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("the workflow hung")
}

fn assert_removed(e: &KioskError) {
    match e {
        KioskError::Card(c) => assert!(c.is_removal(), "not a removal: {c:?}"),
        other => panic!("expected a card-removed error, got {other:?} ({other})"),
    }
}

/// Puts the pulled card back and starts a new session on it. The old session (its dead PC/SC handle) is let go
/// only once the card is back, as a kiosk screen holding it would.
fn reinsert(
    slot: &common::Reader,
    sim: &carekiosk_card_sim::Sim,
    old: PatientSession,
) -> PatientSession {
    assert!(carekiosk_card::wait_for_removal(slot.name(), Duration::from_secs(5)).unwrap());
    sim.insert();
    assert!(carekiosk_card::wait_for_card(slot.name(), Duration::from_secs(10)).unwrap());
    drop(old);
    let card = PatientCard::open(slot.name()).unwrap();
    PatientSession::start(card, Pin::new(PIN)).unwrap()
}

/// The kiosk's outbox entries (ids are sequential from 1).
fn outbox_entries(k: &Kiosk) -> Vec<carekiosk_store::OutboxEntry> {
    (1..)
        .map_while(|id| k.store.outbox_entry(id).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_pulled_while_the_doctor_opens_the_history_is_reported_removed_and_caches_nothing() {
    let st = Stack::new("pull-history").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let records = st.chain.records(&st.d);
    let count_before = records.recordCount(pid).call().await.unwrap();
    let block_before = st.chain.block_number().await.unwrap();

    // A new visit (the history keys are not open) and the doctor's cache is empty: the history needs the
    // card's ECDH (PSO:DECIPHER) on the key grant, which is pulled.
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    sim.pull_on(InsMatch::Ins(INS_PSO));
    let e = within(30, doctor::history(&doctor_kiosk, &mut s))
        .await
        .unwrap_err();
    assert_removed(&e);
    assert_eq!(sim.status().pulls, 1);
    // Nothing written: no transaction, nothing decrypted in the cache, nothing queued.
    assert_eq!(st.chain.block_number().await.unwrap(), block_before);
    assert_eq!(records.recordCount(pid).call().await.unwrap(), count_before);
    let headers = doctor_kiosk.store.record_headers(&pid.0).unwrap();
    assert_eq!(headers.len(), 1, "the indexed header of the demographics");
    assert!(doctor_kiosk
        .store
        .cache_get(&pid.0, &headers[0].content_hash)
        .unwrap()
        .is_none());
    assert!(doctor_kiosk.outbox.pending().unwrap().is_empty());

    // Card back in, a new session: the same step works and fills the cache.
    let mut s = reinsert(&slot, &sim, s);
    let history = within(30, doctor::history(&doctor_kiosk, &mut s))
        .await
        .unwrap();
    assert_eq!(history.len(), 1);
    assert!(doctor_kiosk
        .store
        .cache_get(&pid.0, &headers[0].content_hash)
        .unwrap()
        .is_some());
    assert_eq!(
        s.into_card().pin_tries().unwrap().user,
        3,
        "the interrupted ECDH cost no PIN try"
    );
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_pulled_during_the_dispense_signature_leaves_the_prescription_ready() {
    let st = Stack::new("pull-dispense").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    confirmed(
        &doctor::prescribe(&doctor_kiosk, &mut s, "J01CA04", 20.0, None, 0)
            .await
            .unwrap(),
    );
    let list = pharmacy::open_patient(&pharmacy_kiosk, &mut s)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let id = list[0].id;
    let pharmacy = st.chain.pharmacy(&st.d);
    let nonce_before = st.chain.nonce(pharmacy_kiosk.address, true).await.unwrap();

    sim.pull_on(InsMatch::Ins(INS_PSO));
    let e = within(30, pharmacy::dispense(&pharmacy_kiosk, &mut s, id))
        .await
        .unwrap_err();
    assert_removed(&e);
    assert_eq!(sim.status().pulls, 1);
    // Nothing half-written: still ready on chain, nothing sent or queued, the cache still says ready.
    let rx = pharmacy
        .getPrescription(U256::from(id))
        .call()
        .await
        .unwrap();
    assert_eq!(rx.status, 1, "still ready");
    assert_eq!(
        st.chain.nonce(pharmacy_kiosk.address, true).await.unwrap(),
        nonce_before,
        "the kiosk sent nothing"
    );
    assert!(pharmacy_kiosk.outbox.pending().unwrap().is_empty());
    assert!(pharmacy_kiosk
        .store
        .outbox_by_key(&pharmacy::dispense_key(s.patient_id(), id, 0))
        .unwrap()
        .is_none());
    pharmacy_kiosk.indexer.sync().await.unwrap();
    let row = pharmacy_kiosk.store.prescription(id).unwrap().unwrap();
    assert_eq!(row.dispensed_by, None, "{row:?}");

    // Card back in, a new session: dispensing works, once.
    let mut s = reinsert(&slot, &sim, s);
    confirmed(
        &within(30, pharmacy::dispense(&pharmacy_kiosk, &mut s, id))
            .await
            .unwrap(),
    );
    assert_eq!(
        pharmacy
            .getPrescription(U256::from(id))
            .call()
            .await
            .unwrap()
            .status,
        2
    );
    pharmacy_kiosk.indexer.sync().await.unwrap();
    assert!(pharmacy_kiosk
        .store
        .prescription(id)
        .unwrap()
        .unwrap()
        .dispensed_by
        .is_some());
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_pins_block_the_card_and_the_kiosk_sends_nothing() {
    let st = Stack::new("blocked").await;
    let (slot, sim) = blank_card();
    let (k, s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let hub = st.chain.hub(&st.d);
    let consent_before = hub.consentOf(pid, k.institution).call().await.unwrap();
    let block_before = st.chain.block_number().await.unwrap();
    let nonce_before = st.chain.nonce(k.address, true).await.unwrap();
    let pending_before = k.outbox.pending().unwrap().len();
    let entries_before = outbox_entries(&k).len();

    let mut card = s.into_card();
    for expected_left in [2u8, 1, 0] {
        let mut wrong = PatientSession::start(card, Pin::new("000000")).unwrap();
        let e = reception::check_in(&k, &mut wrong).await.unwrap_err();
        match &e {
            KioskError::Card(CardError::WrongPin { tries_left, .. }) => {
                assert_eq!(*tries_left, expected_left, "{e}")
            }
            KioskError::Card(CardError::Blocked { .. }) if expected_left == 0 => {}
            other => panic!("expected a wrong PIN, got {other:?}"),
        }
        card = wrong.into_card();
    }
    // Blocked now: even the right PIN is refused, with the blocked error.
    let mut right = PatientSession::start(card, Pin::new(PIN)).unwrap();
    let e = reception::check_in(&k, &mut right).await.unwrap_err();
    assert!(
        matches!(e, KioskError::Card(CardError::Blocked { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("blocked"), "{e}");
    // Nothing was sent, queued or recorded.
    assert_eq!(st.chain.block_number().await.unwrap(), block_before);
    assert_eq!(st.chain.nonce(k.address, true).await.unwrap(), nonce_before);
    assert_eq!(k.outbox.pending().unwrap().len(), pending_before);
    assert_eq!(outbox_entries(&k).len(), entries_before);
    let consent_after = hub.consentOf(pid, k.institution).call().await.unwrap();
    assert_eq!(consent_after.signedAt, consent_before.signedAt);
    assert_eq!(consent_after.validUntil, consent_before.validUntil);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_consent_window_a_doctor_write_is_refused_until_the_patient_checks_in_again() {
    let st = Stack::new("expired").await;
    let (slot, sim) = blank_card();
    let (reception_kiosk, s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    confirmed(
        &reception::check_in(&reception_kiosk, &mut s)
            .await
            .unwrap()
            .consent,
    );
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let records = st.chain.records(&st.d);
    let count = records.recordCount(pid).call().await.unwrap();

    // 91 days later (the hospital's window is 90).
    let _: serde_json::Value = st
        .chain
        .provider()
        .raw_request("evm_increaseTime".into(), (91u64 * 86_400,))
        .await
        .unwrap();
    let _: serde_json::Value = st
        .chain
        .provider()
        .raw_request("evm_mine".into(), ())
        .await
        .unwrap();

    let e = doctor::add_diagnosis(&doctor_kiosk, &mut s, "I10", None, &[])
        .await
        .unwrap_err();
    assert!(matches!(e, KioskError::Refused(_)), "{e:?}");
    assert_eq!(e.revert_name(), Some("NoConsent"), "{e}");
    // The entry is failed, not pending; nothing landed; the cache agrees with the chain.
    assert!(doctor_kiosk.outbox.pending().unwrap().is_empty());
    let entries = outbox_entries(&doctor_kiosk);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].state, OutboxState::Failed);
    assert_eq!(entries[0].kind, "addMedicalRecord");
    assert!(entries[0]
        .last_error
        .as_deref()
        .unwrap_or_default()
        .contains("NoConsent"));
    assert_eq!(records.recordCount(pid).call().await.unwrap(), count);
    doctor_kiosk.indexer.sync().await.unwrap();
    assert_eq!(
        doctor_kiosk.store.record_headers(&pid.0).unwrap().len() as u64,
        count.to::<u64>()
    );
    // Draining the outbox does not resend the refused write.
    assert!(doctor_kiosk.outbox.drain().await.unwrap().is_empty());

    // A new check-in (the card signs a new consent) opens the window again: the write goes through.
    confirmed(
        &reception::check_in(&reception_kiosk, &mut s)
            .await
            .unwrap()
            .consent,
    );
    let w = doctor::add_diagnosis(&doctor_kiosk, &mut s, "I10", None, &[])
        .await
        .unwrap();
    w.iter().for_each(confirmed);
    assert_eq!(
        records.recordCount(pid).call().await.unwrap(),
        count + U256::from(1)
    );
    let history = doctor::history(&doctor_kiosk, &mut s).await.unwrap();
    assert_eq!(history.len() as u64, count.to::<u64>() + 1);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_pharmacy_cannot_dispense_a_prescription_already_dispensed() {
    let st = Stack::new("second-pharmacy").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let first = st.kiosk(KioskRole::Pharmacy).await;

    // A second pharmacy, registered by the admin, with a kiosk key of its own.
    let pharmacy2 = PrivateKeySigner::random();
    let kiosk2 = PrivateKeySigner::random();
    let chain = st
        .chain
        .with_signers(vec![pharmacy2.clone()])
        .await
        .unwrap();
    for a in [pharmacy2.address(), kiosk2.address()] {
        chain
            .devnet_set_balance(a, U256::from(10u64) * U256::from(TOKEN_UNIT))
            .await
            .unwrap();
    }
    let (_, id2) = deploy::register_institution(&chain, &st.d, Role::Pharmacy, pharmacy2.address())
        .await
        .unwrap();
    assert_ne!(id2, first.institution_id);
    deploy::enrol_kiosk(&chain, &st.d, pharmacy2.address(), &kiosk2)
        .await
        .unwrap();
    let mut config = st.config(KioskRole::Pharmacy);
    config.data_dir = st.dir.join("pharmacy-2");
    let database_key = PrivateKeySigner::random().to_bytes().0;
    let second = Kiosk::open_with(
        config,
        KioskKeys {
            signer: kiosk2,
            record_key: carekiosk_records::SoftKey::generate(),
            database_key,
            emergency_key: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(second.institution, pharmacy2.address());

    confirmed(
        &doctor::prescribe(&doctor_kiosk, &mut s, "J01CA04", 20.0, None, 0)
            .await
            .unwrap(),
    );
    // The patient visits both pharmacies (each gets its consent from the card) and both see the prescription.
    let at_first = pharmacy::open_patient(&first, &mut s).await.unwrap();
    let at_second = pharmacy::open_patient(&second, &mut s).await.unwrap();
    assert_eq!(at_first.len(), 1);
    assert_eq!(at_second.len(), 1);
    let id = at_first[0].id;
    assert_eq!(at_second[0].id, id);
    assert!(at_second[0].dispensable);

    confirmed(&pharmacy::dispense(&first, &mut s, id).await.unwrap());
    // The second pharmacy still shows what it listed before (dispensable): the chain refuses.
    let stale = pharmacy::DispenseInput {
        batch: "LOT-2".into(),
        ..Default::default()
    };
    let e = pharmacy::dispense_part(&second, &mut s, &at_second[0], &stale)
        .await
        .unwrap_err();
    assert!(matches!(e, KioskError::Refused(_)), "{e:?}");
    assert_eq!(e.revert_name(), Some("AlreadyDispensed"), "{e}");
    // Asked again with a fresh list, the kiosk refuses before the card signs anything.
    let again = pharmacy::dispense(&second, &mut s, id).await.unwrap_err();
    assert!(again.to_string().contains("completed"), "{again}");
    let entry = second
        .store
        .outbox_by_key(&pharmacy::dispense_key(s.patient_id(), id, 0))
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, OutboxState::Failed);
    assert!(second.outbox.pending().unwrap().is_empty());

    // Exactly one dispense on chain, by the first pharmacy; both caches say so.
    let rx = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(id))
        .call()
        .await
        .unwrap();
    assert_eq!(rx.status, 2);
    let dispensed = st
        .chain
        .provider()
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(st.d.contracts.pharmacy_access)
                .event_signature(
                    <carekiosk_chain::bindings::PharmacyAccess::PrescriptionDispensed as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
                )
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(dispensed.len(), 1, "exactly one dispense on chain");
    for k in [&first, &second] {
        k.indexer.sync().await.unwrap();
        let row = k.store.prescription(id).unwrap().unwrap();
        assert_eq!(row.dispensed_by, Some(first.institution_id), "{row:?}");
    }
    let list = pharmacy::open_patient(&second, &mut s).await.unwrap();
    assert!(!list[0].dispensable);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_from_one_kiosk_get_distinct_nonces_and_all_land() {
    const N: u16 = 8;
    let st = Stack::new("concurrent").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let k = Arc::new(st.kiosk(KioskRole::Insurer).await);
    // The card enrols the patient (the step's consent is not stored), then gives the insurer a standing consent
    // (a check-in at its desk) for the updates below, which go without the card.
    confirmed(
        &insurer::enroll(&k, &mut s, 1_000, TOKEN_UNIT)
            .await
            .unwrap(),
    );
    confirmed(&reception::check_in(&k, &mut s).await.unwrap().consent);
    let before = outbox_entries(&k).len();
    let start_nonce = st.chain.nonce(k.address, true).await.unwrap();

    // Eight different enrolment updates (different keys), submitted at the same time through one outbox.
    let tasks: Vec<_> = (1..=N)
        .map(|i| {
            let k = Arc::clone(&k);
            let data = st
                .chain
                .insurance(&st.d)
                .enrollPatient(pid, 1_000 + i, u128::from(i + 1) * TOKEN_UNIT)
                .calldata()
                .clone();
            let to = st.d.contracts.insurance_provider;
            tokio::spawn(async move {
                k.outbox
                    .submit(
                        &format!("enroll:{pid}:{i}"),
                        "enrollPatient",
                        carekiosk_kiosk::outbox::Call { to, data },
                    )
                    .await
            })
        })
        .collect();
    let mut nonces = BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        let Submitted::Confirmed { tx_hash, .. } = r else {
            panic!("not confirmed: {r:?}")
        };
        let tx = st
            .chain
            .provider()
            .get_transaction_by_hash(tx_hash)
            .await
            .unwrap()
            .unwrap();
        assert!(st.chain.receipt(tx_hash).await.unwrap().unwrap().status());
        nonces.insert(alloy::consensus::Transaction::nonce(tx.inner.inner()));
    }
    assert_eq!(
        nonces,
        (start_nonce..start_nonce + u64::from(N)).collect::<BTreeSet<_>>(),
        "eight distinct, consecutive nonces"
    );
    assert_eq!(
        st.chain.nonce(k.address, false).await.unwrap(),
        start_nonce + u64::from(N)
    );
    assert!(k.outbox.pending().unwrap().is_empty());
    let entries = outbox_entries(&k)[before..].to_vec();
    assert_eq!(entries.len(), usize::from(N));
    assert!(entries.iter().all(|e| e.state == OutboxState::Confirmed));
    let stored: BTreeSet<u64> = entries.iter().filter_map(|e| e.nonce).collect();
    assert_eq!(stored, nonces);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn billing_a_patient_with_no_insurer_says_so_and_sends_nothing() {
    let st = Stack::new("no-insurer").await;
    let (slot, sim) = blank_card();
    let (reception_kiosk, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    confirmed(
        &reception::check_in(&reception_kiosk, &mut s)
            .await
            .unwrap()
            .consent,
    );
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    doctor::add_diagnosis(&doctor_kiosk, &mut s, "J06.9", None, &["rest"])
        .await
        .unwrap()
        .iter()
        .for_each(confirmed);
    let condition = doctor::history(&doctor_kiosk, &mut s)
        .await
        .unwrap()
        .iter()
        .find(|e| matches!(e.resource, Some(carekiosk_records::Resource::Condition(_))))
        .map(|e| e.index)
        .unwrap();
    // Never enrolled: the claim names the missing enrolment, not an address, and nothing is queued.
    let e = doctor::submit_claim(
        &doctor_kiosk,
        &mut s,
        condition,
        U256::from(100 * TOKEN_UNIT),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, KioskError::NoInsurer), "{e:?}");
    assert!(e.to_string().contains("insurer's desk"), "{e}");
    assert!(outbox_entries(&doctor_kiosk)
        .iter()
        .all(|x| x.kind != "submitClaim"));
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_in_asked_again_while_its_consent_is_on_its_way_signs_no_second_consent() {
    let st = Stack::new("consent-again").await;
    let (slot, sim) = blank_card();
    let (k, mut s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let node = st.chain.provider();
    let consent_rows = |k: &Kiosk| -> Vec<carekiosk_store::OutboxEntry> {
        outbox_entries(k)
            .into_iter()
            .filter(|e| e.kind == "grantConsent")
            .collect()
    };
    let before = consent_rows(&k).len();

    // The node stops mining: the check-in's consent is sent but not mined, and the desk gives up waiting (a
    // screen's timeout, a load driver's retry).
    let _: () = node
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    let gave_up =
        tokio::time::timeout(Duration::from_secs(3), reception::check_in(&k, &mut s)).await;
    assert!(
        gave_up.is_err(),
        "the consent was not mined: the step waits"
    );
    assert_eq!(consent_rows(&k).len(), before + 1);
    // Its transaction is lost by the node and the chain's clock moves on (blocks without it): a new consent now
    // would carry a later signing time, so a new key.
    let _: () = node
        .raw_request("anvil_dropAllTransactions".into(), ())
        .await
        .unwrap();
    let _: () = node
        .raw_request("evm_increaseTime".into(), (5u64,))
        .await
        .map(|_: U256| ())
        .unwrap();
    let _: String = node.raw_request("evm_mine".into(), ()).await.unwrap();
    let _: () = node
        .raw_request("evm_setAutomine".into(), (true,))
        .await
        .unwrap();

    // The desk asks again: the consent on its way is driven to the chain (sent again), not signed anew.
    let again = within(60, reception::check_in(&k, &mut s)).await.unwrap();
    confirmed(&again.consent);
    let rows = consent_rows(&k);
    assert_eq!(
        rows.len(),
        before + 1,
        "one consent for one check-in: {rows:?}"
    );
    assert!(
        rows.iter().all(|e| e.state == OutboxState::Confirmed),
        "{rows:?}"
    );
    let hub = st.chain.hub(&st.d);
    let on_chain = hub.consentOf(pid, k.institution).call().await.unwrap();
    assert_eq!(on_chain.validUntil, again.valid_until);
    sim.stop();
    drop(slot);
    st.devnet.stop().await;
}
