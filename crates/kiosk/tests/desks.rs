//! The desks' real job, on the real parts: the doctor's allergy and duplicate warnings (computed in the
//! core from the patient's history and prescriptions), the prescriber and substitution on the prescription,
//! cancelling a prescription, and the timeline with prescriptions.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::U256;
use carekiosk_card::Pin;
use carekiosk_kiosk::workflows::doctor::{self, PrescriptionOrder, TimelineEntry};
use carekiosk_kiosk::workflows::medication::Warning;
use carekiosk_kiosk::workflows::reception;
use carekiosk_kiosk::{KioskRole, PatientSession};
use carekiosk_records::Resource;
use common::{blank_card, confirmed, registered, Stack, PIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_is_warned_of_allergies_and_duplicates_and_can_cancel() {
    let st = Stack::new("desks-doctor").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let k = st.kiosk(KioskRole::Doctor).await;
    reception::check_in(&k, &mut s).await.unwrap();

    // The doctor records a penicillin allergy; amoxicillin (a penicillin) is then refused until confirmed.
    confirmed(
        &doctor::record_allergy(&k, &mut s, "penicillin", None, true, Some("hives"))
            .await
            .unwrap(),
    );
    let overview = carekiosk_kiosk::workflows::medication::overview(&k, &mut s)
        .await
        .unwrap();
    assert_eq!(overview.allergies.len(), 1);
    assert_eq!(overview.allergies[0].atc_class.as_deref(), Some("J01C"));
    let warnings = doctor::prescription_warnings(&k, &mut s, "J01CA04")
        .await
        .unwrap();
    assert!(
        matches!(&warnings[..], [Warning::Allergy { substance, .. }] if substance == "penicillin"),
        "{warnings:?}"
    );
    let refused = doctor::prescribe(&k, &mut s, "J01CA04", 20.0, None, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, carekiosk_kiosk::KioskError::NeedsConfirmation(w) if w.len() == 1),
        "{refused:?}"
    );
    assert!(
        refused.to_string().contains("allergic to penicillin"),
        "{refused}"
    );
    let amoxicillin = PrescriptionOrder {
        atc: "J01CA04".into(),
        quantity: 20.0,
        ..Default::default()
    };
    confirmed(
        &doctor::prescribe_order(&k, &mut s, &amoxicillin, &warnings)
            .await
            .unwrap()
            .submitted,
    );
    // Prescribing it again now also raises the duplicate (the ready prescription is current medication).
    let again = doctor::prescription_warnings(&k, &mut s, "J01CA04")
        .await
        .unwrap();
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again.iter().any(|w| matches!(w, Warning::Duplicate { .. })));
    assert!(matches!(
        doctor::prescribe_order(&k, &mut s, &amoxicillin, &warnings).await,
        Err(carekiosk_kiosk::KioskError::NeedsConfirmation(w)) if w.len() == 1
    ));

    // A drug without warnings, with the prescriber named and substitution not allowed.
    let ramipril = PrescriptionOrder {
        atc: "C09AA05".into(),
        quantity: 30.0,
        prescriber: Some("Dr. Anna Weber".into()),
        substitution_allowed: false,
        ..Default::default()
    };
    assert!(doctor::prescription_warnings(&k, &mut s, "C09AA05")
        .await
        .unwrap()
        .is_empty());
    confirmed(
        &doctor::prescribe_order(&k, &mut s, &ramipril, &[])
            .await
            .unwrap()
            .submitted,
    );
    let _ = k.indexer.sync().await;
    let rx = k.store.prescriptions_of(&s.patient_id().0).unwrap();
    assert_eq!(rx.len(), 2);

    // The doctor cancels the ramipril prescription: the chain says cancelled, the timeline too.
    confirmed(&doctor::cancel_prescription(&k, rx[1].id).await.unwrap());
    let on_chain = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(rx[1].id))
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain.status, 3, "cancelled");
    let timeline = doctor::timeline(&k, &mut s).await.unwrap();
    let prescriptions: Vec<(&str, Option<&Resource>)> = timeline
        .iter()
        .filter_map(|t| match t {
            TimelineEntry::Prescription {
                status, request, ..
            } => Some((status.as_str(), request.as_ref())),
            _ => None,
        })
        .collect();
    assert_eq!(prescriptions.len(), 2);
    assert_eq!(prescriptions[0].0, "ready");
    assert_eq!(prescriptions[1].0, "cancelled");
    let Some(Resource::MedicationRequest(r)) = prescriptions[1].1 else {
        panic!("the cancelled prescription opens")
    };
    assert_eq!(
        r.requester.as_ref().and_then(|p| p.display.as_deref()),
        Some("Dr. Anna Weber")
    );
    assert_eq!(
        r.substitution.as_ref().map(|x| x.allowed_boolean),
        Some(false)
    );
    assert!(timeline.windows(2).all(|w| w[0].time() <= w[1].time()));
    // Every resource the kiosk wrote validates against FHIR R4 (an independent validator).
    let written: Vec<serde_json::Value> = timeline
        .iter()
        .filter_map(|t| match t {
            TimelineEntry::Record(e) => e.resource.as_ref().map(common::json_of),
            TimelineEntry::Prescription { request, .. } => request.as_ref().map(common::json_of),
            TimelineEntry::Dispense { dispense, .. } => dispense.as_ref().map(common::json_of),
        })
        .collect();
    assert_eq!(written.len(), timeline.len(), "every entry opens");
    common::fhir_valid("doctor", &written);
    // A cancelled prescription is no current medication: ramipril raises nothing any more.
    assert!(doctor::prescription_warnings(&k, &mut s, "C09AA05")
        .await
        .unwrap()
        .is_empty());

    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pharmacy_dispenses_in_parts_substitutes_and_honours_a_representatives_token_once() {
    use carekiosk_kiosk::workflows::pharmacy::{self, DispenseInput};
    let st = Stack::new("desks-pharmacy").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    let amoxicillin = PrescriptionOrder {
        atc: "J01CA04".into(),
        quantity: 40.0,
        substitution_allowed: true,
        ..Default::default()
    };
    let rx1 = doctor::prescribe_order(&doctor_kiosk, &mut s, &amoxicillin, &[])
        .await
        .unwrap();
    confirmed(&rx1.submitted);
    let rx1 = rx1.id.unwrap();
    let ramipril = PrescriptionOrder {
        atc: "C09AA05".into(),
        quantity: 30.0,
        prescriber: Some("Dr. Anna Weber".into()),
        substitution_allowed: false,
        token: true,
        ..Default::default()
    };
    let rx2 = doctor::prescribe_order(&doctor_kiosk, &mut s, &ramipril, &[])
        .await
        .unwrap();
    confirmed(&rx2.submitted);
    let token_pdf =
        doctor::token_pdf(&doctor_kiosk, &ramipril, &rx2, carekiosk_letter::Lang::En).unwrap();
    assert!(token_pdf.starts_with(b"%PDF"));
    let secret = **rx2.token_secret.as_ref().unwrap();
    let rx2 = rx2.id.unwrap();

    // 20 of 40, a generic, batch LOT-A: half the prescription; then the other 20 complete it.
    let list = pharmacy::open_patient(&pharmacy_kiosk, &mut s)
        .await
        .unwrap();
    let first = list.iter().find(|p| p.id == rx1).unwrap().clone();
    let half = DispenseInput {
        quantity: Some(20.0),
        substitute: Some("Amoxicillin Generic 500 mg".into()),
        batch: "LOT-A".into(),
    };
    let d = pharmacy::dispense_part(&pharmacy_kiosk, &mut s, &first, &half)
        .await
        .unwrap();
    confirmed(&d.submitted);
    assert_eq!(d.part, 5_000);
    assert!(pharmacy::receipt_pdf(&pharmacy_kiosk, &s, &first, &d)
        .unwrap()
        .starts_with(b"%PDF"));
    let on_chain = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(rx1))
        .call()
        .await
        .unwrap();
    assert_eq!(
        (on_chain.status, on_chain.dispensedBps),
        (4, 5_000),
        "partly dispensed"
    );
    let list = pharmacy::list(&pharmacy_kiosk, &mut s).await.unwrap();
    let again = list.iter().find(|p| p.id == rx1).unwrap().clone();
    assert!(again.dispensable && again.dispensed_bps == 5_000);
    // More than remains is refused before the card is asked.
    let too_much = DispenseInput {
        quantity: Some(30.0),
        batch: "LOT-B".into(),
        ..Default::default()
    };
    assert!(
        pharmacy::dispense_part(&pharmacy_kiosk, &mut s, &again, &too_much)
            .await
            .is_err()
    );
    let rest = DispenseInput {
        quantity: Some(20.0),
        batch: "LOT-B".into(),
        ..Default::default()
    };
    let d2 = pharmacy::dispense_part(&pharmacy_kiosk, &mut s, &again, &rest)
        .await
        .unwrap();
    confirmed(&d2.submitted);
    assert_eq!(d2.part, 5_000);
    let on_chain = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(rx1))
        .call()
        .await
        .unwrap();
    assert_eq!(
        (on_chain.status, on_chain.dispensedBps),
        (2, 10_000),
        "completed"
    );
    // Substitution on a prescription that forbids it is refused.
    let list = pharmacy::list(&pharmacy_kiosk, &mut s).await.unwrap();
    let second = list.iter().find(|p| p.id == rx2).unwrap().clone();
    let generic = DispenseInput {
        substitute: Some("Ramipril Generic".into()),
        batch: "LOT-C".into(),
        ..Default::default()
    };
    let refused = pharmacy::dispense_part(&pharmacy_kiosk, &mut s, &second, &generic)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("did not allow substitution"),
        "{refused}"
    );

    // A representative brings the token: no card. A wrong code is refused; the right one works once.
    let token = carekiosk_letter::TokenRef {
        chain_id: st.d.chain_id,
        contract: st.d.contracts.pharmacy_access.into_array(),
        prescription_id: rx2,
        secret,
    };
    let payload = carekiosk_letter::token_qr_payload(&token);
    let scanned = carekiosk_letter::parse_token_qr(&payload).unwrap();
    let forged = carekiosk_letter::TokenRef {
        secret: [7u8; 32],
        ..scanned.clone()
    };
    assert!(pharmacy::check_token(&pharmacy_kiosk, &forged)
        .await
        .is_err());
    confirmed(
        &pharmacy::dispense_by_token(
            &pharmacy_kiosk,
            &scanned,
            "Ramipril 5 mg capsule",
            30.0,
            "capsule",
            "LOT-D",
        )
        .await
        .unwrap(),
    );
    let on_chain = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(rx2))
        .call()
        .await
        .unwrap();
    assert_eq!(on_chain.status, 2);
    assert!(
        pharmacy::dispense_by_token(
            &pharmacy_kiosk,
            &scanned,
            "Ramipril",
            30.0,
            "capsule",
            "LOT-D"
        )
        .await
        .is_err(),
        "a used token is spent"
    );

    // The dispenses are in the patient's record: the doctor's timeline opens them (batch, substitution).
    let timeline = doctor::timeline(&doctor_kiosk, &mut s).await.unwrap();
    let dispenses: Vec<(u64, u16, bool, Option<&Resource>)> = timeline
        .iter()
        .filter_map(|t| match t {
            TimelineEntry::Dispense {
                prescription_id,
                part,
                by_token,
                dispense,
                ..
            } => Some((*prescription_id, *part, *by_token, dispense.as_ref())),
            _ => None,
        })
        .collect();
    assert_eq!(dispenses.len(), 3, "{dispenses:?}");
    let Some(Resource::MedicationDispense(first_half)) = dispenses[0].3 else {
        panic!("the first dispense opens with the patient's history key")
    };
    assert_eq!(first_half.batch(), Some("LOT-A"));
    assert!(first_half.substitution.as_ref().unwrap().was_substituted);
    assert_eq!((dispenses[2].0, dispenses[2].2), (rx2, true));
    let written: Vec<serde_json::Value> = dispenses
        .iter()
        .filter_map(|d| d.3.map(common::json_of))
        .collect();
    assert_eq!(written.len(), 3);
    common::fhir_valid("dispenses", &written);
    // And in the patient's access log.
    let log = carekiosk_kiosk::workflows::patient::access_log(&doctor_kiosk, &mut s)
        .await
        .unwrap();
    let lines: Vec<&str> = log
        .iter()
        .filter(|e| e.event == "dispensed")
        .map(|e| e.summary.as_str())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains("in part (50%)"), "{lines:?}");
    assert!(
        lines[2].contains("representative with the token"),
        "{lines:?}"
    );

    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_are_reviewed_item_by_item_and_above_the_threshold_need_a_second_reviewer() {
    use alloy::signers::local::PrivateKeySigner;
    use carekiosk_chain::deploy::{self, TOKEN_UNIT};
    use carekiosk_kiosk::kiosk::KioskKeys;
    use carekiosk_kiosk::workflows::insurer::{self, ItemDecision};
    use carekiosk_kiosk::Kiosk;
    let st = Stack::new("desks-insurer").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    confirmed(
        &insurer::enroll(&insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );
    reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    let token = U256::from(TOKEN_UNIT);
    let bill = |record: u64| doctor::ClaimRequest {
        record,
        items: vec![
            doctor::ClaimItem {
                service: "CONS".into(),
                quantity: 1,
                unit_price: U256::from(60) * token,
            },
            doctor::ClaimItem {
                service: "ECG".into(),
                quantity: 1,
                unit_price: U256::from(40) * token,
            },
        ],
        practitioner: Some("Dr. Anna Weber".into()),
    };
    doctor::add_diagnosis(&doctor_kiosk, &mut s, "I10", None, &[])
        .await
        .unwrap();
    doctor::add_diagnosis(&doctor_kiosk, &mut s, "E11.9", None, &[])
        .await
        .unwrap();
    let conditions: Vec<u64> = doctor::history(&doctor_kiosk, &mut s)
        .await
        .unwrap()
        .iter()
        .filter(|e| matches!(e.resource, Some(Resource::Condition(_))))
        .map(|e| e.index)
        .collect();
    let billed = doctor::submit_claim_items(&doctor_kiosk, &mut s, &bill(conditions[0]))
        .await
        .unwrap();
    confirmed(&billed);
    // Billed again (the desk asked twice): the same write, not a second sealed claim under its key.
    let again = doctor::submit_claim_items(&doctor_kiosk, &mut s, &bill(conditions[0]))
        .await
        .unwrap();
    assert_eq!(again.tx_hash(), billed.tx_hash());

    // The reviewer sees the items and pays the consultation, not the ECG.
    let queue = insurer::queue(&insurer_kiosk).await.unwrap();
    let review = insurer::review(&insurer_kiosk, queue[0].id).await.unwrap();
    assert_eq!(review.items.len(), 2);
    assert_eq!(review.items[0].net, U256::from(60) * token);
    assert_eq!(review.currency.0, "tUSD");
    let decisions = [
        ItemDecision {
            sequence: 1,
            benefit: U256::from(60) * token,
            reason: None,
        },
        ItemDecision {
            sequence: 2,
            benefit: U256::ZERO,
            reason: Some("not covered by the policy".into()),
        },
    ];
    let d = insurer::decide(&insurer_kiosk, &review, &decisions)
        .await
        .unwrap();
    confirmed(&d.submitted);
    assert!(!d.pending_second);
    assert_eq!(d.amount, U256::from(60) * token);
    // Decided again (a second click, the claim still in a queue whose index is behind): the same write, not a
    // second sealed response under its key.
    let again = insurer::decide(&insurer_kiosk, &review, &decisions)
        .await
        .unwrap();
    assert_eq!(again.submitted.tx_hash(), d.submitted.tx_hash());
    assert_eq!(again.amount, d.amount);
    // The hospital's desk opens the decision, item by item.
    let claims = doctor::claims(&doctor_kiosk).await.unwrap();
    let Some(Resource::ClaimResponse(resp)) = &claims[0].response else {
        panic!("the hospital opens the ClaimResponse: {:?}", claims[0])
    };
    assert_eq!(resp.item.len(), 2);
    let benefit = |i: usize| {
        resp.item[i]
            .adjudication
            .iter()
            .find(|a| a.category.coding[0].code.as_deref() == Some("benefit"))
            .unwrap()
            .clone()
    };
    assert_eq!(benefit(1).amount.unwrap().value, Some(0.0));
    assert_eq!(
        benefit(1).reason.unwrap().text.as_deref(),
        Some("not covered by the policy")
    );
    common::fhir_valid(
        "claim",
        &[
            common::json_of(&review.details),
            common::json_of(claims[0].response.as_ref().unwrap()),
        ],
    );
    confirmed(&insurer::pay(&insurer_kiosk, queue[0].id).await.unwrap());

    // Four eyes: the insurer sets a threshold of 50; an approval of 80 waits for another workstation.
    st.chain
        .send(
            st.actors.insurer.address(),
            st.chain
                .insurance(&st.d)
                .setApprovalThreshold(U256::from(50) * token),
        )
        .await
        .unwrap();
    confirmed(
        &doctor::submit_claim_items(&doctor_kiosk, &mut s, &bill(conditions[1]))
            .await
            .unwrap(),
    );
    let id = insurer::queue(&insurer_kiosk).await.unwrap()[0].id;
    let review = insurer::review(&insurer_kiosk, id).await.unwrap();
    let all = [
        ItemDecision {
            sequence: 1,
            benefit: U256::from(60) * token,
            reason: None,
        },
        ItemDecision {
            sequence: 2,
            benefit: U256::from(40) * token,
            reason: None,
        },
    ];
    let d = insurer::decide(&insurer_kiosk, &review, &all)
        .await
        .unwrap();
    confirmed(&d.submitted);
    assert!(d.pending_second);
    assert_eq!(d.amount, U256::from(80) * token, "capped at 80 % coverage");
    assert_eq!(
        insurer::pending_second(&insurer_kiosk).await.unwrap().len(),
        1
    );
    let early = insurer::pay(&insurer_kiosk, id).await.unwrap_err();
    assert!(early.revert_name().is_some(), "{early}");
    let same = insurer::confirm(&insurer_kiosk, id).await.unwrap_err();
    assert_eq!(same.revert_name(), Some("SameReviewer"), "{same}");
    // A second workstation of the same insurer confirms; then it is paid.
    let second = PrivateKeySigner::random();
    st.chain
        .devnet_set_balance(second.address(), U256::from(10u64) * U256::from(TOKEN_UNIT))
        .await
        .unwrap();
    deploy::enrol_kiosk(&st.chain, &st.d, st.actors.insurer.address(), &second)
        .await
        .unwrap();
    let mut keys = KioskKeys::load_or_generate("local", KioskRole::Insurer).unwrap();
    keys.signer = second;
    let mut config = st.config(KioskRole::Insurer);
    config.data_dir = st.dir.join("insurer-2");
    let reviewer2 = Kiosk::open_with(config, keys).await.unwrap();
    confirmed(&insurer::confirm(&reviewer2, id).await.unwrap());
    confirmed(&insurer::pay(&reviewer2, id).await.unwrap());
    let status = st
        .chain
        .insurance(&st.d)
        .getClaimStatus(U256::from(id))
        .call()
        .await
        .unwrap();
    assert_eq!(status.status, 4, "paid");

    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiosks_seal_for_the_record_keys_institutions_publish_on_chain() {
    use carekiosk_kiosk::kiosk::KioskKeys;
    let st = Stack::new("desks-record-keys").await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    // The local stack's institutions published their keyring record keys (as `carekiosk admin record-key` does).
    let insurer = st.actors.insurer.address();
    let on_chain = doctor_kiosk.record_key_of(insurer).await.unwrap();
    let own = KioskKeys::load_or_generate("local", KioskRole::Insurer)
        .unwrap()
        .record_key
        .public_key();
    assert_eq!(on_chain.to_sec1_compressed(), own.to_sec1_compressed());
    // A manifest that names another key changes nothing: the chain is asked.
    let mut d = st.d.clone();
    for i in d.institutions.iter_mut().filter(|i| i.address == insurer) {
        i.record_key = alloy::hex::encode(
            carekiosk_records::SoftKey::generate()
                .public_key()
                .to_sec1_uncompressed(),
        );
    }
    let forged = st.dir.join("forged.json");
    d.save(&forged).unwrap();
    let mut config = st.config(KioskRole::Doctor);
    config.manifest = forged;
    config.data_dir = st.dir.join("doctor-forged");
    let keys = KioskKeys::load_or_generate("local", KioskRole::Doctor).unwrap();
    let misled = carekiosk_kiosk::Kiosk::open_with(config, keys)
        .await
        .unwrap();
    assert_eq!(
        misled
            .record_key_of(insurer)
            .await
            .unwrap()
            .to_sec1_compressed(),
        own.to_sec1_compressed()
    );
    // An institution that has published nothing is named, with what to do.
    let nobody = alloy::primitives::Address::repeat_byte(0x42);
    let e = doctor_kiosk.record_key_of(nobody).await.unwrap_err();
    assert!(e.to_string().contains("carekiosk admin record-key"), "{e}");
    st.stop().await;
}
