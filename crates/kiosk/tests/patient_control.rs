//! The patient in control, on the real parts (Anvil, pcscd + virtual card, keyring, SQLite): the
//! consent the patient chooses, their view of who holds consent and of the access log, revoking, and the
//! emergency data set read without a PIN.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_card::Pin;
use carekiosk_chain::bindings::{scope, Role};
use carekiosk_chain::deploy::{self, TOKEN_UNIT};
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_kiosk::kiosk::KioskKeys;
use carekiosk_kiosk::workflows::{
    doctor, emergency, insurer, patient, pharmacy, reception, ConsentChoice,
};
use carekiosk_kiosk::{Kiosk, KioskRole, PatientSession, Submitted};
use carekiosk_records::emergency::{Allergy, Contact, EmergencySet};
use carekiosk_records::Resource;
use common::{blank_card, confirmed, registered, Stack, PIN};

/// The patient's view of who holds consent: (institution name, role, scope) each.
async fn held_consents(k: &Kiosk, s: &PatientSession) -> Vec<(String, String, u8)> {
    patient::consents(k, s)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.role, c.scope))
        .collect()
}

fn sample_set() -> EmergencySet {
    EmergencySet {
        allergies: vec![Allergy {
            substance: "penicillin".into(),
            high: true,
        }],
        medications: vec!["metformin 500 mg 1-0-1".into()],
        conditions: vec!["E11.9".into()],
        implants: vec!["pacemaker".into()],
        blood_group: Some("A+".into()),
        contact: Some(Contact {
            name: "Anna Roe (daughter)".into(),
            phone: "+49 170 1234567".into(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_narrowed_consent_refuses_a_write_and_revoking_ends_consents_on_chain() {
    let st = Stack::new("consent-choice").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    let hub = st.chain.hub(&st.d);
    let pid = s.patient_id();
    let hospital = st.actors.hospital.address();

    // A prescription to dispense later (the pharmacy's consent goes with its dispense).
    confirmed(
        &doctor::prescribe(&doctor_kiosk, &mut s, "J01CA04", 20.0, None, 0)
            .await
            .unwrap(),
    );

    // Choices the hub would refuse are refused before the card signs anything.
    let before = hub.consentOf(pid, hospital).call().await.unwrap();
    for bad in [
        ConsentChoice {
            scope: scope::DISPENSE,
            days: 5,
        },
        ConsentChoice {
            scope: scope::READ,
            days: 0,
        },
        ConsentChoice {
            scope: scope::READ,
            days: 366,
        },
        ConsentChoice { scope: 0, days: 5 },
    ] {
        assert!(
            reception::check_in_with(&doctor_kiosk, &mut s, bad)
                .await
                .is_err(),
            "{bad:?}"
        );
    }
    let after = hub.consentOf(pid, hospital).call().await.unwrap();
    assert_eq!(
        (after.scope, after.signedAt),
        (before.scope, before.signedAt),
        "nothing was signed"
    );

    // The patient narrows the doctor's consent to reading, for 7 days: the card signs exactly that.
    let checked = reception::check_in_with(
        &doctor_kiosk,
        &mut s,
        ConsentChoice {
            scope: scope::READ,
            days: 7,
        },
    )
    .await
    .unwrap();
    confirmed(&checked.consent);
    let on_chain = hub.consentOf(pid, hospital).call().await.unwrap();
    assert_eq!(on_chain.scope, scope::READ);
    assert_eq!(on_chain.validUntil, checked.valid_until);
    assert_eq!(on_chain.validUntil - on_chain.signedAt, 7 * 86_400);
    // A read-only consent refuses a write.
    let refused = doctor::add_diagnosis(&doctor_kiosk, &mut s, "I10", None, &[])
        .await
        .unwrap_err();
    assert_eq!(refused.revert_name(), Some("ScopeNotGranted"), "{refused}");

    // A pharmacy dispenses and an insurer enrols, each with the card's consent for that one step: neither holds a
    // standing consent afterwards.
    let ready = pharmacy::open_patient(&pharmacy_kiosk, &mut s)
        .await
        .unwrap();
    assert_eq!(
        ready.len(),
        1,
        "the pharmacy lists the prescription before it holds consent"
    );
    assert!(
        hub.consentOf(pid, st.actors.pharmacy.address())
            .call()
            .await
            .unwrap()
            .validUntil
            == 0
    );
    confirmed(
        &pharmacy::dispense(&pharmacy_kiosk, &mut s, ready[0].id)
            .await
            .unwrap(),
    );
    confirmed(
        &insurer::enroll(&insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );
    assert_eq!(
        held_consents(&doctor_kiosk, &s).await,
        vec![("Demo Hospital".into(), "hospital".into(), scope::READ)]
    );
    // A check-in at the pharmacy's desk (its default: read and dispense for 3 days) is a standing consent.
    confirmed(
        &reception::check_in(&pharmacy_kiosk, &mut s)
            .await
            .unwrap()
            .consent,
    );
    assert_eq!(
        held_consents(&doctor_kiosk, &s).await,
        vec![
            ("Demo Hospital".into(), "hospital".into(), scope::READ),
            ("Demo Pharmacy".into(), "pharmacy".into(), scope::PHARMACY),
        ]
    );

    // Revoke one: the pharmacy's consent ends on chain and leaves the patient's view.
    confirmed(
        &patient::revoke(&doctor_kiosk, &mut s, st.actors.pharmacy.address())
            .await
            .unwrap(),
    );
    let c = hub
        .consentOf(pid, st.actors.pharmacy.address())
        .call()
        .await
        .unwrap();
    assert_eq!(c.validUntil, 0, "revoked on chain");
    let held = patient::consents(&doctor_kiosk, &s).await.unwrap();
    assert_eq!(held.len(), 1);
    assert!(held.iter().all(|c| c.role != "pharmacy"));

    // Revoke all: every consent ends on chain (the epoch moves on), and the view is empty.
    let epoch = hub.epochOf(pid).call().await.unwrap();
    confirmed(&patient::revoke_all(&doctor_kiosk, &mut s).await.unwrap());
    assert_eq!(hub.epochOf(pid).call().await.unwrap(), epoch + 1);
    for (kiosk, role) in [
        (doctor_kiosk.address, Role::Hospital),
        (insurer_kiosk.address, Role::Insurer),
        (pharmacy_kiosk.address, Role::Pharmacy),
    ] {
        let r = hub.authorize(kiosk, pid, role as u8, scope::READ);
        assert!(
            r.call().await.is_err(),
            "no consent survives revoke-all ({role:?})"
        );
    }
    assert!(patient::consents(&doctor_kiosk, &s)
        .await
        .unwrap()
        .is_empty());
    // A new consent, signed after the revocation, works again.
    assert!(pharmacy::open_patient(&pharmacy_kiosk, &mut s)
        .await
        .is_ok());

    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_lists_two_hospitals_a_pharmacy_and_an_insurer_in_order() {
    let st = Stack::new("access-log").await;
    let (slot, sim) = blank_card();
    let (reception_kiosk, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;

    confirmed(
        &insurer::enroll(&insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );
    reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    doctor::add_diagnosis(&doctor_kiosk, &mut s, "J06.9", None, &[])
        .await
        .unwrap();
    let history = doctor::history(&doctor_kiosk, &mut s).await.unwrap();
    let condition = history
        .iter()
        .find(|e| matches!(e.resource, Some(Resource::Condition(_))))
        .unwrap()
        .index;
    confirmed(
        &doctor::prescribe(&doctor_kiosk, &mut s, "J01CA04", 20.0, None, 0)
            .await
            .unwrap(),
    );
    confirmed(
        &doctor::submit_claim(
            &doctor_kiosk,
            &mut s,
            condition,
            U256::from(100u128 * TOKEN_UNIT),
        )
        .await
        .unwrap(),
    );
    let rx = pharmacy::open_patient(&pharmacy_kiosk, &mut s)
        .await
        .unwrap();
    confirmed(
        &pharmacy::dispense(&pharmacy_kiosk, &mut s, rx[0].id)
            .await
            .unwrap(),
    );
    let claim = insurer::queue(&insurer_kiosk).await.unwrap()[0].id;
    let review = insurer::review(&insurer_kiosk, claim).await.unwrap();
    confirmed(
        &insurer::approve(&insurer_kiosk, claim, review.cap)
            .await
            .unwrap(),
    );
    confirmed(&insurer::pay(&insurer_kiosk, claim).await.unwrap());

    // A second hospital, with a kiosk of its own, writes a diagnosis.
    let h2 = PrivateKeySigner::random();
    let k2 = PrivateKeySigner::random();
    let chain = st.chain.with_signers(vec![h2.clone()]).await.unwrap();
    for a in [h2.address(), k2.address()] {
        chain
            .devnet_set_balance(a, U256::from(10u64) * U256::from(TOKEN_UNIT))
            .await
            .unwrap();
    }
    let (_, h2_id) = deploy::register_institution(&chain, &st.d, Role::Hospital, h2.address())
        .await
        .unwrap();
    deploy::enrol_kiosk(&chain, &st.d, h2.address(), &k2)
        .await
        .unwrap();
    let mut config = st.config(KioskRole::Doctor);
    config.data_dir = st.dir.join("hospital-2");
    let second = Kiosk::open_with(
        config,
        KioskKeys {
            signer: k2,
            record_key: carekiosk_records::SoftKey::generate(),
            database_key: PrivateKeySigner::random().to_bytes().0,
            emergency_key: None,
        },
    )
    .await
    .unwrap();
    reception::check_in(&second, &mut s).await.unwrap();
    doctor::add_diagnosis(&second, &mut s, "I10", None, &[])
        .await
        .unwrap();

    // The patient's view at the first hospital's reception: every event, in chain order, with who did it.
    let log = patient::access_log(&reception_kiosk, &mut s).await.unwrap();
    let lines: Vec<(String, String)> = log
        .iter()
        .map(|e| (e.event.clone(), e.institution.clone().unwrap_or_default()))
        .collect();
    let second_name = format!("institution #{h2_id}");
    let second_address = second.institution.to_string();
    let expected: Vec<(&str, &str)> = vec![
        ("registered", "Demo Hospital"),
        ("consent", "Demo Hospital"),
        ("record", "Demo Hospital"),
        ("enrolled", "Demo Insurer"),
        ("consent", "Demo Hospital"),
        ("record", "Demo Hospital"),
        ("prescribed", "Demo Hospital"),
        ("claim", "Demo Hospital"),
        ("dispensed", "Demo Pharmacy"),
        ("claim-approved", ""),
        ("claim-paid", ""),
        ("consent", second_address.as_str()),
        ("record", second_name.as_str()),
    ]
    .into_iter()
    .collect();
    let got: Vec<(&str, &str)> = lines
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    assert_eq!(got, expected, "{log:#?}");
    // Records are named by their kind, opened with the patient's history keys.
    let records: Vec<&str> = log
        .iter()
        .filter(|e| e.event == "record")
        .map(|e| e.summary.as_str())
        .collect();
    assert!(records[0].contains("wrote Patient"), "{records:?}");
    assert!(records[1].contains("wrote Condition"), "{records:?}");
    assert!(records[2].contains("wrote Condition"), "{records:?}");
    assert!(log.windows(2).all(|w| w[0].time <= w[1].time));

    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emergency_read_needs_no_pin_works_offline_and_the_next_check_in_shows_it() {
    let st = Stack::new("emergency").await;
    let (slot, sim) = blank_card();
    let (reception_kiosk, s) = registered(&st, &slot).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let mut pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;

    // The doctor keeps the set: a record in the history and a copy on the card, written with the PIN.
    reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    let saved = emergency::save(&doctor_kiosk, &mut s, sample_set())
        .await
        .unwrap();
    confirmed(&saved.record);
    assert!(saved.on_card);
    assert_eq!(
        emergency::current(&doctor_kiosk, &mut s).await.unwrap(),
        sample_set()
    );
    // A pharmacy desk keeps no emergency set.
    assert!(emergency::save(&pharmacy_kiosk, &mut s, sample_set())
        .await
        .is_err());
    let mut card = s.into_card();

    // An emergency: the patient cannot type a PIN. A hospital kiosk reads the set from the card alone.
    let view = emergency::read(&reception_kiosk, &mut card, "Dr. Weber", "unconscious, ER")
        .await
        .unwrap();
    assert_eq!(view.set, sample_set());
    confirmed(&view.trace);
    let pid = view.patient_id;
    assert_eq!(card.pin_tries().unwrap().user, 3, "no PIN was tried");

    // The card alone, without a hospital kiosk: a pharmacy kiosk cannot read it, nor any key but the
    // network's emergency key, nor anyone with the bytes of DO 0101.
    assert!(emergency::read(&pharmacy_kiosk, &mut card, "x", "y")
        .await
        .is_err());
    let object = card.emergency_object().unwrap().unwrap();
    assert_eq!(object.len(), carekiosk_records::emergency::CARD_OBJECT_LEN);
    for mut stranger in [
        carekiosk_records::SoftKey::generate(),
        pharmacy_kiosk.record_key().clone(),
    ] {
        assert!(carekiosk_records::emergency::open_card(&object, pid.0, &mut stranger).is_err());
    }

    // On chain: the hospital and a blinded tag; no patient id, no readable note.
    let logs = st
        .chain
        .provider()
        .get_logs(
            &alloy::rpc::types::Filter::new()
                .address(st.d.contracts.patient_smart_card)
                .event_signature(
                    <carekiosk_chain::bindings::PatientSmartCard::EmergencyAccess as alloy::sol_types::SolEvent>::SIGNATURE_HASH,
                )
                .from_block(0),
        )
        .await
        .unwrap();
    assert_eq!(logs.len(), 1);
    let raw = alloy::hex::encode(logs[0].data().data.as_ref());
    assert!(
        !raw.contains(&alloy::hex::encode(pid.0)),
        "the trace names no patient"
    );
    assert!(!raw.contains(&alloy::hex::encode("Dr. Weber")));

    // The node goes down: the read still works, its trace waits in the outbox and lands when the node is back.
    let url = st.devnet.url.clone();
    let port = st.devnet.port;
    let dump: alloy::primitives::Bytes = st
        .chain
        .provider()
        .raw_request("anvil_dumpState".into(), ())
        .await
        .unwrap();
    st.devnet.kill().await;
    let offline = emergency::read(&reception_kiosk, &mut card, "Dr. Klein", "found collapsed")
        .await
        .unwrap();
    assert_eq!(offline.set, sample_set());
    assert!(
        matches!(offline.trace, Submitted::Pending { .. }),
        "{:?}",
        offline.trace
    );
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
    let sent = reception_kiosk.outbox.drain().await.unwrap();
    assert!(
        sent.iter()
            .all(|r| matches!(r, Submitted::Confirmed { .. })),
        "{sent:?}"
    );

    // The next check-in (card and PIN) shows both reads, with who and why; so does the access log.
    let mut s = PatientSession::start(card, Pin::new(PIN)).unwrap();
    let checked = reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    let reads: Vec<(&str, &str, &str)> = checked
        .emergency_reads
        .iter()
        .map(|r| {
            (
                r.hospital_name.as_str(),
                r.clinician.as_str(),
                r.reason.as_str(),
            )
        })
        .collect();
    assert_eq!(
        reads,
        vec![
            ("Demo Hospital", "Dr. Weber", "unconscious, ER"),
            ("Demo Hospital", "Dr. Klein", "found collapsed"),
        ]
    );
    let log = patient::access_log(&doctor_kiosk, &mut s).await.unwrap();
    assert_eq!(
        log.iter().filter(|e| e.event == "emergency-read").count(),
        2
    );

    // The patient decides to have none: the card's copy is cleared, the history says so.
    let saved = emergency::save(&doctor_kiosk, &mut s, EmergencySet::default())
        .await
        .unwrap();
    assert!(!saved.on_card);
    let mut card = s.into_card();
    assert_eq!(card.emergency_object().unwrap(), None);
    assert!(
        emergency::read(&reception_kiosk, &mut card, "Dr. Weber", "again")
            .await
            .is_err()
    );

    sim.stop();
    drop(slot);
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replacement_card_gets_the_emergency_set_back_and_a_rotated_key_reseals_it_at_check_in() {
    let st = Stack::new("emergency-life").await;
    let (slot, sim) = blank_card();
    let reception_kiosk = st.kiosk(KioskRole::Reception).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let (s, letter) = reception::register_patient_with_letter(
        &reception_kiosk,
        carekiosk_card::PatientCard::open(slot.name()).unwrap(),
        reception::NewPatient {
            name: common::NAME.into(),
            birth_date: common::BIRTH.into(),
            gender: "female".into(),
            admin_pin: Pin::new(common::ADMIN_PIN),
            pin: Pin::new(PIN),
        },
    )
    .await
    .unwrap();
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    confirmed(
        &emergency::save(&doctor_kiosk, &mut s, sample_set())
            .await
            .unwrap()
            .record,
    );
    drop(s);
    sim.stop();
    drop(slot);

    // The card is lost; the issuing hospital replaces it with the letter: the new card carries the set again.
    let (slot2, sim2) = blank_card();
    let (s2, _letter2, r) = reception::replace_card(
        &reception_kiosk,
        &letter.recovery_secret,
        carekiosk_card::PatientCard::open(slot2.name()).unwrap(),
        reception::NewCard {
            name: common::NAME.into(),
            admin_pin: Pin::new(common::ADMIN_PIN),
            pin: Pin::new(PIN),
        },
    )
    .await
    .unwrap();
    confirmed(&r);
    let mut card = s2.into_card();
    let view = emergency::read(
        &reception_kiosk,
        &mut card,
        "Dr. Weber",
        "after replacement",
    )
    .await
    .unwrap();
    assert_eq!(view.set, sample_set());

    // The network rotates its emergency key (governance). A kiosk holding only the new key cannot read the card
    // until the patient's next hospital check-in re-seals the set for it; then the old key no longer opens it.
    let new_key = carekiosk_records::SoftKey::generate();
    let hub = st.chain.hub(&st.d);
    let data = hub
        .setEmergencyKey(new_key.public_key().to_sec1_compressed().to_vec().into())
        .calldata()
        .clone();
    deploy::govern(&st.chain, &st.d, st.d.contracts.patient_smart_card, data)
        .await
        .unwrap();
    let mut keys = KioskKeys::load_or_generate("local", KioskRole::Reception).unwrap();
    keys.emergency_key = Some(new_key);
    let mut config = st.config(KioskRole::Reception);
    config.data_dir = st.dir.join("reception-new-key");
    let rotated = Kiosk::open_with(config, keys).await.unwrap();
    let stale = emergency::read(&rotated, &mut card, "Dr. Weber", "before re-seal")
        .await
        .unwrap_err();
    assert!(
        stale.to_string().contains("another emergency key"),
        "{stale}"
    );
    let mut s = PatientSession::start(card, Pin::new(PIN)).unwrap();
    reception::check_in(&doctor_kiosk, &mut s).await.unwrap();
    let mut card = s.into_card();
    let view = emergency::read(&rotated, &mut card, "Dr. Weber", "after re-seal")
        .await
        .unwrap();
    assert_eq!(view.set, sample_set());
    assert!(
        emergency::read(&reception_kiosk, &mut card, "Dr. Weber", "old key")
            .await
            .is_err()
    );

    sim2.stop();
    drop(slot2);
    st.stop().await;
}
