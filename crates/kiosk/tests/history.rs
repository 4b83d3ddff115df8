//! The record chain over time, on the real parts: an amendment supersedes an entry (nothing deleted), the
//! indexer survives a reorganisation of the chain, and decrypted content leaves the cache when the consent
//! window ends.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::U256;
use alloy::providers::Provider;
use carekiosk_kiosk::workflows::doctor;
use carekiosk_kiosk::KioskRole;
use carekiosk_records::Resource;

use common::{blank_card, confirmed, registered, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_amendment_supersedes_and_nothing_is_deleted() {
    let st = Stack::new("amend").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let k = st.kiosk(KioskRole::Doctor).await;
    doctor::add_diagnosis(&k, &mut s, "J06.9", None, &[])
        .await
        .unwrap()
        .iter()
        .for_each(confirmed);
    let history = doctor::history(&k, &mut s).await.unwrap();
    let original = history
        .iter()
        .find(|e| matches!(e.resource, Some(Resource::Condition(_))))
        .unwrap()
        .index;
    // The doctor corrects the diagnosis: a new version pointing at the old one.
    let code = carekiosk_records::icd10::lookup("J02.9").unwrap();
    let fixed = Resource::Condition(code.diagnosis(carekiosk_records::fhir::Reference::patient(
        &s.patient_id().0,
    )));
    confirmed(&doctor::amend(&k, &mut s, original, &fixed).await.unwrap());
    let history = doctor::history(&k, &mut s).await.unwrap();
    assert_eq!(
        history.len(),
        3,
        "patient, the original and its amendment: nothing deleted"
    );
    let amendment = history.last().unwrap();
    assert_eq!(amendment.supersedes, Some(original));
    match &amendment.resource {
        Some(Resource::Condition(c)) => assert_eq!(
            c.code.as_ref().unwrap().coding[0].code.as_deref(),
            Some("J02.9")
        ),
        other => panic!("not a condition: {other:?}"),
    }
    // Amending another hospital's entry, or one that does not exist, is refused by the contract.
    let e = doctor::amend(&k, &mut s, 99, &fixed).await.unwrap_err();
    assert_eq!(e.revert_name(), Some("NoSuchRecord"), "{e}");
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexer_rewinds_what_a_reorganisation_removed() {
    let st = Stack::new("reorg").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let k = st.kiosk(KioskRole::Doctor).await;
    let pid = s.patient_id();
    k.indexer.sync().await.unwrap();
    let before = k.store.record_headers(&pid.0).unwrap().len();
    // A snapshot, then a diagnosis the indexer sees…
    let snap: U256 = st
        .chain
        .provider()
        .raw_request("evm_snapshot".into(), ())
        .await
        .unwrap();
    doctor::add_diagnosis(&k, &mut s, "I10", None, &[])
        .await
        .unwrap()
        .iter()
        .for_each(confirmed);
    k.indexer.sync().await.unwrap();
    assert_eq!(k.store.record_headers(&pid.0).unwrap().len(), before + 1);
    // …then the chain reorganises: the block with the diagnosis is gone, other blocks take its height.
    let reverted: bool = st
        .chain
        .provider()
        .raw_request("evm_revert".into(), (snap,))
        .await
        .unwrap();
    assert!(reverted);
    let _: serde_json::Value = st
        .chain
        .provider()
        .raw_request("anvil_mine".into(), (U256::from(3),))
        .await
        .unwrap();
    let report = k.indexer.sync().await.unwrap();
    assert!(report.rewound_to.is_some(), "{report:?}");
    assert_eq!(
        k.store.record_headers(&pid.0).unwrap().len(),
        before,
        "the vanished record left the cache"
    );
    assert_eq!(
        st.chain
            .records(&st.d)
            .recordCount(pid)
            .call()
            .await
            .unwrap(),
        U256::from(before as u64)
    );
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decrypted_content_leaves_the_cache_when_the_consent_window_ends() {
    let st = Stack::new("purge").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let k = st.kiosk(KioskRole::Doctor).await;
    let pid = s.patient_id();
    doctor::history(&k, &mut s).await.unwrap();
    assert!(
        !k.store.cached_for_patient(&pid.0).unwrap().is_empty(),
        "opened records are cached"
    );
    // 91 days later (ePA: 90 for a hospital) the window is closed: the next look purges the plaintext.
    let _: serde_json::Value = st
        .chain
        .provider()
        .raw_request("evm_increaseTime".into(), (U256::from(91u64 * 86_400),))
        .await
        .unwrap();
    let _: serde_json::Value = st
        .chain
        .provider()
        .raw_request("evm_mine".into(), ())
        .await
        .unwrap();
    k.indexer.sync().await.unwrap();
    let now = st
        .chain
        .provider()
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .unwrap()
        .unwrap();
    assert!(
        k.store
            .purge_expired_consents(now.header.timestamp)
            .unwrap()
            > 0
    );
    assert!(
        k.store.cached_for_patient(&pid.0).unwrap().is_empty(),
        "no plaintext left for the patient"
    );
    sim.stop();
    drop(slot);
    st.stop().await;
}
