//! The holes found in v1 that touch the workflows, on the real parts (Anvil, pcscd with the virtual card, the
//! keyring, SQLite): a garbage record or prescription shows as one unreadable line and never blocks the patient;
//! a chronic patient's 60+ prescriptions all reach the pharmacy, newest first; an insurer cannot enrol a patient
//! who is not in front of it.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::aliases::U40;
use alloy::primitives::{Bytes, U256};
use carekiosk_chain::deploy::TOKEN_UNIT;
use carekiosk_kiosk::workflows::{doctor, insurer, pharmacy, reception};
use carekiosk_kiosk::KioskRole;
use carekiosk_records::Resource;

use common::{blank_card, confirmed, registered, Stack};

/// What a faulty (or hostile) kiosk holding WRITE consent can put on chain: bytes of a sealed envelope's shape
/// (the current version, a bucket size, so the contracts take them) that are not an envelope for anyone.
fn garbage(bucket: usize) -> Bytes {
    let mut v = vec![0x5A; bucket + carekiosk_records::OVERHEAD];
    v[0] = carekiosk_records::FORMAT_VERSION;
    v.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_record_is_one_unreadable_line_and_the_patient_goes_on() {
    let st = Stack::new("garbage").await;
    let (slot, sim) = blank_card();
    let (reception_kiosk, mut s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    // Another kiosk of the hospital (holding the patient's WRITE consent) writes garbage.
    let faulty = st.actors.hospital_kiosk.address();
    st.chain
        .send(
            faulty,
            st.chain.records(&st.d).addMedicalRecord(pid, garbage(1024)),
        )
        .await
        .unwrap();
    // Bytes that are not even envelope-shaped are refused by the contract.
    let e = st
        .chain
        .send(
            faulty,
            st.chain
                .records(&st.d)
                .addMedicalRecord(pid, vec![1u8; 700].into()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.revert().map(|r| r.name.as_str()),
        Some("MalformedEnvelope")
    );

    // The doctor's history: every good entry opens, the garbage is one line that says why.
    let k = st.kiosk(KioskRole::Doctor).await;
    doctor::add_diagnosis(&k, &mut s, "J06.9", None, &[])
        .await
        .unwrap()
        .iter()
        .for_each(confirmed);
    let history = doctor::history(&k, &mut s).await.unwrap();
    let unreadable: Vec<_> = history.iter().filter(|e| e.resource.is_none()).collect();
    assert_eq!(
        unreadable.len(),
        1,
        "exactly the garbage entry is unreadable"
    );
    assert_eq!(unreadable[0].index, 1);
    let why = unreadable[0].unreadable.as_deref().unwrap();
    assert!(
        why.contains("corrupt") || why.contains("opens none"),
        "{why}"
    );
    assert!(history
        .iter()
        .any(|e| matches!(e.resource, Some(Resource::Condition(_)))));
    assert!(history
        .iter()
        .any(|e| matches!(e.resource, Some(Resource::Patient(_)))));

    // Check-in still works and still finds the patient's demographics.
    let checked = reception::check_in(&reception_kiosk, &mut s).await.unwrap();
    assert!(matches!(checked.patient, Some(Resource::Patient(_))));
    assert_eq!(checked.records, history.len());
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_one_prescriptions_all_reach_the_pharmacy_newest_first_and_garbage_is_one_line() {
    let st = Stack::new("many-rx").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    for i in 0..60 {
        let atc = if i % 2 == 0 { "C09AA05" } else { "J01CA04" };
        // A chronic patient's repeats: the doctor confirms the duplicate warning each time.
        let order = doctor::PrescriptionOrder {
            atc: atc.into(),
            quantity: 30.0,
            ..Default::default()
        };
        let warnings = doctor::prescription_warnings(&doctor_kiosk, &mut s, atc)
            .await
            .unwrap();
        assert_eq!(warnings.len(), usize::from(i >= 2), "{warnings:?}");
        confirmed(
            &doctor::prescribe_order(&doctor_kiosk, &mut s, &order, &warnings)
                .await
                .unwrap()
                .submitted,
        );
    }
    // The 61st is garbage from a faulty kiosk of the hospital.
    st.chain
        .send(
            st.actors.hospital_kiosk.address(),
            st.chain.pharmacy(&st.d).issuePrescription(
                pid,
                U40::ZERO,
                alloy::primitives::B256::ZERO,
                garbage(512),
            ),
        )
        .await
        .unwrap();
    drop(doctor_kiosk);
    let k = st.kiosk(KioskRole::Pharmacy).await;
    let list = pharmacy::open_patient(&k, &mut s).await.unwrap();
    assert_eq!(list.len(), 61, "every prescription, not the oldest 50");
    let ids: Vec<u64> = list.iter().map(|p| p.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    assert_eq!(ids[0], 61);
    let bad = &list[0];
    assert!(bad.request.is_none() && bad.unreadable.is_some() && !bad.dispensable);
    assert!(list[1..]
        .iter()
        .all(|p| p.request.is_some() && p.dispensable));
    // The oldest one is still dispensable from the list.
    confirmed(&pharmacy::dispense(&k, &mut s, 1).await.unwrap());
    let p = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(p.status, 2);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insurer_enrols_only_with_the_patients_card_present() {
    let st = Stack::new("enrol").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    // The insurer's kiosk changes the patient's terms without the card: refused while it holds no consent.
    let stack = &st;
    let without_the_card = |bps: u16| async move {
        let e = stack
            .chain
            .send(
                stack.actors.insurer_kiosk.address(),
                stack
                    .chain
                    .insurance(&stack.d)
                    .enrollPatient(pid, bps, 1_000u128 * TOKEN_UNIT),
            )
            .await
            .unwrap_err();
        assert_eq!(e.revert().map(|r| r.name.as_str()), Some("NoConsent"));
    };
    without_the_card(8000).await;
    // With the card at the insurer's desk: consent (READ only, the insurer's ceiling), then enrolment.
    let k = st.kiosk(KioskRole::Insurer).await;
    confirmed(
        &insurer::enroll(&k, &mut s, 8000, 1_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );
    // The step's consent authorised the enrolment and is not stored: the insurer holds no standing consent, so a
    // change of terms without the card is refused again.
    let c = st
        .chain
        .hub(&st.d)
        .consentOf(pid, st.actors.insurer.address())
        .call()
        .await
        .unwrap();
    assert_eq!((c.scope, c.validUntil), (0, 0));
    without_the_card(1000).await;
    let cov = st
        .chain
        .insurance(&st.d)
        .coverageOf(pid)
        .call()
        .await
        .unwrap();
    assert_eq!(cov.c.insurer, st.actors.insurer.address());
    assert_eq!(cov.c.bps, 8000);
    sim.stop();
    drop(slot);
    st.stop().await;
}
