//! The desks' real job (issue 13), on the real parts: the doctor's allergy and duplicate warnings (computed in the
//! core from the patient's history and prescriptions), the prescriber and substitution on the prescription,
//! cancelling a prescription, and the timeline with prescriptions.
//!
//! Run inside a keyring session: `crates/wallet/tests/with-keyring.sh cargo test -p carekiosk-kiosk`.

mod common;

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
            .unwrap(),
    );
    // Prescribing it again now also raises the duplicate (the ready prescription is current medication).
    let again = doctor::prescription_warnings(&k, &mut s, "J01CA04")
        .await
        .unwrap();
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again.iter().any(|w| matches!(w, Warning::Duplicate { .. })));
    assert!(doctor::prescribe_order(&k, &mut s, &amoxicillin, &warnings)
        .await
        .is_err());

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
            .unwrap(),
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
