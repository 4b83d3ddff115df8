//! A whole visit on the real parts: a real Anvil, the real pcscd with our virtual card in vpcd's reader, the real
//! OS keyring (Secret Service), real SQLite files. Register → check-in → consult → prescribe → dispense → claim →
//! approve → pay; then the chain state, the caches, and a scan of every transaction and log for plaintext.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_card::Pin;
use carekiosk_chain::deploy::{self, TOKEN_UNIT};
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_kiosk::kiosk::KioskKeys;
use carekiosk_kiosk::workflows::{doctor, insurer, pharmacy, reception};
use carekiosk_kiosk::{Kiosk, KioskError, KioskRole, PatientSession, Submitted};
use carekiosk_records::Resource;
use common::{blank_card, confirmed, registered, Stack, BIRTH, NAME, PIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_visit_on_the_real_parts() {
    let st = Stack::new("full").await;
    let (slot, sim) = blank_card();
    // Reception: a new patient onto a blank card.
    let (reception_kiosk, session) = registered(&st, &slot).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    let pid = session.patient_id();
    let hub = st.chain.hub(&st.d);
    assert!(hub.getPatientInfo(pid).call().await.unwrap().registered);

    // The insurer enrols the patient (the card consents to the insurer): 80 %, 5,000 a year.
    let mut session = PatientSession::start(session.into_card(), Pin::new(PIN)).unwrap();
    confirmed(
        &insurer::enroll(&insurer_kiosk, &mut session, 8000, 5_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );

    // Check-in of the (now returning) patient: the card signs the consent; their own record gives the summary.
    let checked = reception::check_in(&reception_kiosk, &mut session)
        .await
        .unwrap();
    confirmed(&checked.consent);
    match checked.patient {
        Some(Resource::Patient(p)) => assert_eq!(p.name[0].text.as_deref(), Some(NAME)),
        other => panic!("no patient summary: {other:?}"),
    }

    // Doctor: diagnosis with a plan, the history opened with the card, a prescription, the claim.
    let writes = doctor::add_diagnosis(
        &doctor_kiosk,
        &mut session,
        "J06.9",
        Some("sore throat, 3 days"),
        &["rest", "fluids"],
    )
    .await
    .unwrap();
    assert_eq!(
        writes.len(),
        1,
        "the diagnosis and its plan are one transaction"
    );
    writes.iter().for_each(confirmed);
    let history = doctor::history(&doctor_kiosk, &mut session).await.unwrap();
    assert_eq!(history.len(), 3, "patient, condition, care plan");
    let condition = history
        .iter()
        .find(|e| matches!(e.resource, Some(Resource::Condition(_))))
        .unwrap();
    confirmed(
        &doctor::prescribe(
            &doctor_kiosk,
            &mut session,
            "J01CA04",
            20.0,
            Some("1 tablet 3 times a day"),
            0,
        )
        .await
        .unwrap(),
    );
    let claimed = U256::from(120u128 * TOKEN_UNIT);
    confirmed(
        &doctor::submit_claim(&doctor_kiosk, &mut session, condition.index, claimed)
            .await
            .unwrap(),
    );
    assert_eq!(
        doctor_kiosk.store.record_headers(&pid.0).unwrap().len(),
        3,
        "the doctor's cache has the history"
    );

    // Pharmacy: the ready prescription, verified and opened with the card; dispensed once.
    let list = pharmacy::open_patient(&pharmacy_kiosk, &mut session)
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let rx = &list[0];
    assert!(rx.dispensable);
    let Some(Resource::MedicationRequest(req)) = &rx.request else {
        panic!("not a MedicationRequest")
    };
    assert_eq!(
        req.medication_codeable_concept.coding[0].code.as_deref(),
        Some("J01CA04")
    );
    let first = pharmacy::dispense(&pharmacy_kiosk, &mut session, rx.id)
        .await
        .unwrap();
    confirmed(&first);
    // What the kiosks wrote, for the independent FHIR R4 validation below.
    let mut written: Vec<serde_json::Value> = history
        .iter()
        .filter_map(|e| e.resource.as_ref().map(common::json_of))
        .collect();
    written.push(common::json_of(rx.request.as_ref().unwrap()));
    written.push(common::json_of(
        &pharmacy::dispense_receipt(&pharmacy_kiosk, &session, rx, &first).unwrap(),
    ));
    // Dispensing again is the same write (idempotent), not a second one.
    assert_eq!(
        pharmacy::dispense(&pharmacy_kiosk, &mut session, rx.id)
            .await
            .unwrap()
            .tx_hash(),
        first.tx_hash()
    );
    let on_chain = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(rx.id))
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain.status, 2, "completed");
    let list = pharmacy::open_patient(&pharmacy_kiosk, &mut session)
        .await
        .unwrap();
    assert!(
        !list[0].dispensable,
        "a dispensed prescription cannot be dispensed"
    );

    // Insurer: the queue, the claim opened with the insurer's key, approve the cap, pay once.
    let queue = insurer::queue(&insurer_kiosk).await.unwrap();
    assert_eq!(queue.len(), 1);
    let review = insurer::review(&insurer_kiosk, queue[0].id).await.unwrap();
    assert!(matches!(review.details, Resource::Claim(_)));
    written.push(common::json_of(&review.details));
    common::fhir_valid("visit", &written);
    assert_eq!(review.cap, claimed * U256::from(8) / U256::from(10));
    let over = insurer::approve(&insurer_kiosk, queue[0].id, review.cap + U256::from(1))
        .await
        .unwrap_err();
    assert_eq!(over.revert_name(), Some("ExceedsCoverage"), "{over}");
    confirmed(
        &insurer::approve(&insurer_kiosk, queue[0].id, review.cap)
            .await
            .unwrap(),
    );
    confirmed(&insurer::pay(&insurer_kiosk, queue[0].id).await.unwrap());
    let paid = insurer::paid(&insurer_kiosk).await.unwrap();
    assert_eq!(paid.len(), 1);
    let balance = st
        .chain
        .token(&st.d)
        .balanceOf(st.actors.hospital.address())
        .call()
        .await
        .unwrap();
    assert_eq!(balance, review.cap, "the hospital was paid exactly once");
    assert_eq!(
        st.chain
            .insurance(&st.d)
            .getClaimStatus(U256::from(queue[0].id))
            .call()
            .await
            .unwrap()
            .status,
        4
    );

    // No plaintext patient field anywhere on chain: every transaction's input and every log.
    let needles: Vec<Vec<u8>> = [
        NAME.to_string(),
        BIRTH.to_string(),
        carekiosk_records::icd10::lookup("J06.9")
            .unwrap()
            .display
            .to_string(),
        "sore throat".into(),
        carekiosk_records::formulary::lookup("J01CA04")
            .unwrap()
            .name
            .to_string(),
        "tablet 3 times".into(),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    let latest = st.chain.block_number().await.unwrap();
    let mut scanned = 0;
    for n in 0..=latest {
        let block = st.chain.full_block(n).await.unwrap();
        for tx in block.transactions.txns() {
            let input = alloy::consensus::Transaction::input(tx.inner.inner()).to_vec();
            for needle in &needles {
                assert!(
                    !contains(&input, needle),
                    "plaintext {:?} in tx {}",
                    String::from_utf8_lossy(needle),
                    tx.inner.tx_hash()
                );
            }
            let receipt = st
                .chain
                .receipt(*tx.inner.tx_hash())
                .await
                .unwrap()
                .unwrap();
            for log in receipt.inner.logs() {
                for needle in &needles {
                    assert!(!contains(&log.data().data, needle), "plaintext in a log");
                }
            }
            scanned += 1;
        }
    }
    assert!(scanned > 20, "scanned {scanned} transactions");
    // Nor in the kiosks' database files (SQLCipher).
    for role in KioskRole::ALL {
        let bytes = std::fs::read(st.config(role).database_path()).unwrap();
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "plaintext in the {} database",
                role.as_str()
            );
        }
    }
    sim.stop();
    drop(slot);
    st.devnet.stop().await;
    let _ = std::fs::remove_dir_all(&st.dir);
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_kiosk_refuses_to_start() {
    let st = Stack::new("revoked").await;
    let keys = KioskKeys::load_or_generate("local", KioskRole::Pharmacy).unwrap();
    deploy::add_kiosk(
        &st.chain,
        &st.d,
        st.actors.pharmacy.address(),
        PrivateKeySigner::random().address(),
    )
    .await
    .unwrap();
    st.chain
        .send(
            st.actors.pharmacy.address(),
            st.chain.hub(&st.d).removeKiosk(keys.signer.address()),
        )
        .await
        .unwrap();
    let e = Kiosk::open_with(st.config(KioskRole::Pharmacy), keys)
        .await
        .unwrap_err();
    assert!(matches!(e, KioskError::NotRegistered { .. }), "{e}");
    assert!(
        e.to_string().contains("not registered as a pharmacy kiosk"),
        "{e}"
    );
    st.devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_is_refused_with_tries_left_and_nothing_is_sent() {
    let st = Stack::new("pin").await;
    let (slot, sim) = blank_card();
    let (k, s) = registered(&st, &slot).await;
    let before = k.outbox.pending().unwrap().len();
    let mut wrong = PatientSession::start(s.into_card(), Pin::new("000000")).unwrap();
    let e = reception::check_in(&k, &mut wrong).await.unwrap_err();
    match &e {
        KioskError::Card(carekiosk_card::CardError::WrongPin { tries_left, .. }) => {
            assert_eq!(*tries_left, 2)
        }
        other => panic!("expected a wrong PIN, got {other}"),
    }
    assert!(
        e.to_string().contains('2'),
        "the message says how many tries are left: {e}"
    );
    assert_eq!(
        k.outbox.pending().unwrap().len(),
        before,
        "nothing queued for a refused PIN"
    );
    sim.stop();
    drop(slot);
    st.devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_while_the_node_is_down_is_kept_and_sent_once_when_it_returns() {
    let st = Stack::new("offline").await;
    let (slot, sim) = blank_card();
    let (k, mut s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let records = st.chain.records(&st.d);
    assert_eq!(
        records.recordCount(pid).call().await.unwrap(),
        U256::from(1)
    );
    // The node dies (its state saved first, as `anvil --state` does). A write now is kept, not lost.
    let url = st.devnet.url.clone();
    let port = st.devnet.port;
    let dump: alloy::primitives::Bytes = st
        .chain
        .provider()
        .raw_request("anvil_dumpState".into(), ())
        .await
        .unwrap();
    st.devnet.kill().await;
    let w = carekiosk_kiosk::workflows::doctor::add_diagnosis(&k, &mut s, "I10", None, &[])
        .await
        .unwrap();
    assert!(matches!(w[0], Submitted::Pending { .. }), "{w:?}");
    assert_eq!(k.outbox.pending().unwrap().len(), 1);
    // The node comes back on the same address with the same chain; the outbox drains: sent exactly once.
    let devnet = Devnet::start(DevnetOptions {
        port,
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(devnet.url, url);
    let _: bool = st
        .chain
        .provider()
        .raw_request("anvil_loadState".into(), (dump,))
        .await
        .unwrap();
    let sent = k.outbox.drain().await.unwrap();
    assert!(
        sent.iter()
            .all(|r| matches!(r, Submitted::Confirmed { .. })),
        "{sent:?}"
    );
    assert_eq!(k.outbox.pending().unwrap().len(), 0);
    assert_eq!(
        records.recordCount(pid).call().await.unwrap(),
        U256::from(2),
        "the diagnosis landed once"
    );
    // Draining again sends nothing more.
    assert!(k.outbox.drain().await.unwrap().is_empty());
    assert_eq!(
        records.recordCount(pid).call().await.unwrap(),
        U256::from(2)
    );
    sim.stop();
    drop(slot);
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_killed_mid_submit_neither_loses_nor_doubles_the_write() {
    use carekiosk_kiosk::outbox::Call;
    let st = Stack::new("crash").await;
    let (slot, sim) = blank_card();
    let (k, s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let records = st.chain.records(&st.d);
    let count = || async { records.recordCount(pid).call().await.unwrap().to::<u64>() };
    assert_eq!(count().await, 1);
    for (n, broadcast_before_crash) in [(0u8, true), (1u8, false)] {
        // What a kiosk does up to its crash: record, sign, mark submitted, and (maybe) broadcast — no receipt.
        let data = records
            .addMedicalRecord(pid, envelope_shaped(n))
            .calldata()
            .clone();
        let call = Call {
            to: st.d.contracts.hospital_record,
            data: data.clone(),
        };
        let e = k
            .store
            .enqueue(
                &format!("crash-{n}"),
                "addMedicalRecord",
                &serde_json::to_value(&call).unwrap(),
            )
            .unwrap();
        let nonce = k.chain.nonce(k.address, true).await.unwrap();
        let builder = alloy::contract::CallBuilder::new_raw(k.chain.provider(), data).to(call.to);
        let tx = k.chain.sign(k.address, builder, nonce).await.unwrap();
        k.store
            .mark_submitted(e.entry.id, &k.address.into_array(), &tx.hash.0, nonce)
            .unwrap();
        if broadcast_before_crash {
            k.chain.broadcast(&tx).await.unwrap();
        }
        // The kiosk restarts: a new process opens the same database and drains its outbox.
        let restarted = st.kiosk(KioskRole::Reception).await;
        let sent = restarted.outbox.drain().await.unwrap();
        assert!(
            sent.iter()
                .all(|r| matches!(r, Submitted::Confirmed { .. })),
            "{sent:?}"
        );
        assert_eq!(
            count().await,
            2 + u64::from(n),
            "landed exactly once (broadcast before crash: {broadcast_before_crash})"
        );
        assert!(restarted.outbox.pending().unwrap().is_empty());
    }
    sim.stop();
    drop(slot);
    st.devnet.stop().await;
}

/// Bytes the contracts take for a sealed record (the current version, a bucket size), unique by `n`.
fn envelope_shaped(n: u8) -> alloy::primitives::Bytes {
    let mut v = vec![0xC1; 512 + carekiosk_records::OVERHEAD];
    v[0] = carekiosk_records::FORMAT_VERSION;
    v[1] = n;
    v.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consultation_is_one_write_that_the_pharmacy_and_the_insurer_open() {
    let st = Stack::new("consult").await;
    let (slot, sim) = blank_card();
    let (_reception, session) = registered(&st, &slot).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    let pid = session.patient_id();
    let mut session = PatientSession::start(session.into_card(), Pin::new(PIN)).unwrap();
    confirmed(
        &insurer::enroll(&insurer_kiosk, &mut session, 8000, 5_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );
    let order = |atc: &str| doctor::PrescriptionOrder {
        atc: atc.into(),
        quantity: 20.0,
        dosage: Some("1 tablet 3 times a day".into()),
        substitution_allowed: true,
        ..Default::default()
    };
    let unit = U256::from(60u128 * TOKEN_UNIT);
    let consultation = doctor::Consultation {
        id: Some("desk-3-visit-1".into()),
        icd10: "J06.9".into(),
        note: Some("sore throat, 3 days".into()),
        plan: vec!["rest".into(), "fluids".into()],
        prescriptions: vec![order("J01CA04"), order("N02BE01")],
        services: vec![doctor::ClaimItem {
            service: "CONS".into(),
            quantity: 2,
            unit_price: unit,
        }],
        practitioner: Some("Dr. Weber".into()),
        ..Default::default()
    };
    let block_before = st.chain.block_number().await.unwrap();
    let done = doctor::consult(&doctor_kiosk, &mut session, &consultation)
        .await
        .unwrap();
    confirmed(&done.submitted);
    assert_eq!(done.billed, Some(unit * U256::from(2)));
    // One transaction: one outbox row, one kiosk transaction in the blocks since.
    let rows: Vec<_> = (1..)
        .map_while(|id| doctor_kiosk.store.outbox_entry(id).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].kind, "consult");
    let sent = st.inputs_since(block_before).await.len();
    assert_eq!(sent, 1, "the whole consultation is one transaction");
    // Asked again under its name (a screen's retry): the same write, nothing sent twice.
    let again = doctor::consult(&doctor_kiosk, &mut session, &consultation)
        .await
        .unwrap();
    assert_eq!(again.submitted.tx_hash(), done.submitted.tx_hash());
    assert!(doctor_kiosk.store.outbox_entry(2).unwrap().is_none());
    // ... answered from the write: the same prescriptions and amount; the tokens' secrets were shown once.
    let ids_of = |c: &doctor::Consulted| -> Vec<Option<u64>> {
        c.prescriptions.iter().map(|p| p.id).collect()
    };
    assert_eq!(ids_of(&again), ids_of(&done));
    assert_eq!(again.billed, done.billed);
    assert!(again.prescriptions.iter().all(|p| p.token_secret.is_none()));
    let bad = doctor::Consultation {
        id: Some("no spaces".into()),
        ..consultation.clone()
    };
    let e = doctor::consult(&doctor_kiosk, &mut session, &bad)
        .await
        .unwrap_err();
    assert!(matches!(e, KioskError::Invalid(_)), "{e:?}");
    assert_eq!(done.prescriptions.len(), 2);
    let ids: Vec<u64> = done.prescriptions.iter().map(|p| p.id.unwrap()).collect();

    // The doctor's history: the patient, the condition and its plan.
    let history = doctor::history(&doctor_kiosk, &mut session).await.unwrap();
    let kinds: Vec<_> = history
        .iter()
        .map(|e| e.resource.as_ref().map(|r| r.kind().to_string()))
        .collect();
    assert_eq!(history.len(), 3, "{kinds:?}");
    assert!(matches!(history[1].resource, Some(Resource::Condition(_))));
    assert!(matches!(history[2].resource, Some(Resource::CarePlan(_))));

    // The pharmacy opens each prescription from the consultation's calldata (picked by its hash on chain).
    let list = pharmacy::open_patient(&pharmacy_kiosk, &mut session)
        .await
        .unwrap();
    let mut atcs: Vec<(u64, String)> = list
        .iter()
        .map(|rx| {
            let Some(Resource::MedicationRequest(req)) = &rx.request else {
                panic!("not opened: {rx:?}")
            };
            (
                rx.id,
                req.medication_codeable_concept.coding[0]
                    .code
                    .clone()
                    .unwrap(),
            )
        })
        .collect();
    atcs.sort();
    assert_eq!(
        atcs,
        vec![
            (ids[0], "J01CA04".to_string()),
            (ids[1], "N02BE01".to_string())
        ]
    );

    // A number that is not among the patient's (a list a reorg renumbered): said so, nothing sent.
    let e = pharmacy::dispense(&pharmacy_kiosk, &mut session, 999)
        .await
        .unwrap_err();
    assert!(matches!(e, KioskError::NoSuchPrescription(999)), "{e:?}");

    // The insurer opens the claim, which bills the consultation's diagnosis.
    let queue = insurer::queue(&insurer_kiosk).await.unwrap();
    assert_eq!(queue.len(), 1);
    let review = insurer::review(&insurer_kiosk, queue[0].id).await.unwrap();
    let Resource::Claim(claim) = &review.details else {
        panic!("not a claim: {:?}", review.details)
    };
    let json = common::json_of(&review.details);
    assert_eq!(
        json["diagnosis"][0]["diagnosisCodeableConcept"]["coding"][0]["code"],
        "J06.9"
    );
    assert_eq!(json["careTeam"][0]["provider"]["display"], "Dr. Weber");
    let _ = claim;
    let on_chain = st
        .chain
        .insurance(&st.d)
        .getClaim(U256::from(queue[0].id))
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain.recordIndex, history[1].index);
    assert_eq!(
        on_chain.patientPrefix.0[..],
        pid.0[..12],
        "the claim's patient"
    );
    let mut written: Vec<serde_json::Value> = history
        .iter()
        .filter_map(|e| e.resource.as_ref().map(common::json_of))
        .collect();
    written.extend(
        list.iter()
            .map(|rx| common::json_of(rx.request.as_ref().unwrap())),
    );
    written.push(json);
    common::fhir_valid("consultation", &written);

    // A warning the doctor has not confirmed (the same drug again): nothing is sent.
    let again = doctor::Consultation {
        icd10: "J06.9".into(),
        prescriptions: vec![order("J01CA04")],
        ..Default::default()
    };
    let e = doctor::consult(&doctor_kiosk, &mut session, &again)
        .await
        .unwrap_err();
    assert!(matches!(e, KioskError::NeedsConfirmation(_)), "{e:?}");
    assert!(doctor_kiosk.store.outbox_entry(2).unwrap().is_none());
    sim.stop();
    drop(slot);
    st.devnet.stop().await;
}
