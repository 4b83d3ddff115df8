//! The patient card's whole life on the real parts (Anvil, pcscd with two virtual cards, the keyring, SQLite):
//! issue (no factory admin PIN, a reset code set) → PIN changed → PIN blocked → unblocked with the reset code →
//! seen by two hospitals, a pharmacy and an insurer → card reported lost with the letter's recovery code (its
//! signatures refused on chain, its consents void) → replaced with the recovery code at the issuing hospital →
//! every record, prescription and claim detail opens with the new card, in one card operation; a garbage record
//! shows as one unreadable line.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::{B256, U256};
use alloy::signers::local::PrivateKeySigner;
use carekiosk_card::Pin;
use carekiosk_card::{CardError, PatientCard, PinKind};
use carekiosk_chain::bindings::{scope, Role};
use carekiosk_chain::deploy::{self, TOKEN_UNIT};
use carekiosk_chain::eip712;
use carekiosk_kiosk::kiosk::KioskKeys;
use carekiosk_kiosk::workflows::{card, doctor, insurer, pharmacy, reception};
use carekiosk_kiosk::{Kiosk, KioskError, KioskRole, PatientSession};
use carekiosk_records::Resource;

use common::{blank_card, confirmed, Stack, ADMIN_PIN, BIRTH, NAME, PIN};

const NEW_PIN: &str = "735140";
const AFTER_UNBLOCK: &str = "902618";
const REPLACEMENT_PIN: &str = "551903";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_from_issue_to_replacement_loses_nothing() {
    let st = Stack::new("card-life").await;
    let (slot, sim) = blank_card();
    let reception_kiosk = st.kiosk(KioskRole::Reception).await;

    // Issue: a random admin PIN nobody keeps, a reset code on the letter.
    let (s, letter) = reception::register_patient_with_letter(
        &reception_kiosk,
        PatientCard::open(slot.name()).unwrap(),
        reception::NewPatient {
            name: NAME.into(),
            birth_date: BIRTH.into(),
            gender: "female".into(),
            admin_pin: Pin::new(ADMIN_PIN),
            pin: Pin::new(PIN),
        },
    )
    .await
    .unwrap();
    let pid = s.patient_id();
    let mut c = s.into_card();
    let tries = c.pin_tries().unwrap();
    assert_eq!(tries.reset_code, 3, "a reset code is set on the card");
    match c.verify_admin_pin(&Pin::new(ADMIN_PIN)) {
        Err(CardError::WrongPin {
            pin: PinKind::Admin,
            ..
        }) => {}
        other => panic!("the factory admin PIN must not work any more: {other:?}"),
    }
    assert_eq!(letter.reset_code.expose_for_letter().len(), 8);

    // PIN changed (new one typed twice); the old one no longer signs.
    let mut s = PatientSession::start(c, Pin::new(PIN)).unwrap();
    assert!(card::change_pin(&mut s, Pin::new(NEW_PIN), &Pin::new("000000")).is_err());
    card::change_pin(&mut s, Pin::new(NEW_PIN), &Pin::new(NEW_PIN)).unwrap();
    let mut c = s.into_card();
    assert!(matches!(
        c.verify_pin(&Pin::new(PIN)),
        Err(CardError::WrongPin { .. })
    ));
    c.verify_pin(&Pin::new(NEW_PIN)).unwrap();

    // Blocked after three wrong PINs, then unblocked with the letter's reset code (a wrong one counts down).
    for _ in 0..3 {
        let _ = c.verify_pin(&Pin::new("111111"));
    }
    assert!(matches!(
        c.verify_pin(&Pin::new(NEW_PIN)),
        Err(CardError::Blocked { pin: PinKind::User })
    ));
    let e = card::unblock_pin(
        &mut c,
        &Pin::new("00000000"),
        &Pin::new(AFTER_UNBLOCK),
        &Pin::new(AFTER_UNBLOCK),
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KioskError::Card(CardError::WrongPin { tries_left: 2, .. })
        ),
        "{e:?}"
    );
    card::unblock_pin(
        &mut c,
        &letter.reset_code,
        &Pin::new(AFTER_UNBLOCK),
        &Pin::new(AFTER_UNBLOCK),
    )
    .unwrap();
    c.verify_pin(&Pin::new(AFTER_UNBLOCK)).unwrap();
    let mut s = PatientSession::start(c, Pin::new(AFTER_UNBLOCK)).unwrap();

    // Seen by the hospital (diagnosis, prescription, claim), a second hospital, a pharmacy and an insurer.
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    reception::check_in(&reception_kiosk, &mut s).await.unwrap();
    doctor::add_diagnosis(
        &doctor_kiosk,
        &mut s,
        "J06.9",
        Some("three days"),
        &["rest"],
    )
    .await
    .unwrap()
    .iter()
    .for_each(confirmed);
    for atc in ["J01CA04", "C09AA05"] {
        confirmed(
            &doctor::prescribe(&doctor_kiosk, &mut s, atc, 20.0, None, 0)
                .await
                .unwrap(),
        );
    }
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    confirmed(
        &insurer::enroll(&insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT)
            .await
            .unwrap(),
    );
    let condition = doctor::history(&doctor_kiosk, &mut s)
        .await
        .unwrap()
        .iter()
        .find(|e| matches!(e.resource, Some(Resource::Condition(_))))
        .unwrap()
        .index;
    confirmed(
        &doctor::submit_claim(
            &doctor_kiosk,
            &mut s,
            condition,
            U256::from(90u128 * TOKEN_UNIT),
        )
        .await
        .unwrap(),
    );
    let pharmacy_kiosk = st.kiosk(KioskRole::Pharmacy).await;
    let rx = pharmacy::open_patient(&pharmacy_kiosk, &mut s)
        .await
        .unwrap();
    assert_eq!(rx.len(), 2);
    confirmed(
        &pharmacy::dispense(&pharmacy_kiosk, &mut s, rx[0].id)
            .await
            .unwrap(),
    );

    // A second hospital with a kiosk of its own writes a diagnosis too.
    let h2 = PrivateKeySigner::random();
    let k2 = PrivateKeySigner::random();
    let chain = st.chain.with_signers(vec![h2.clone()]).await.unwrap();
    for a in [h2.address(), k2.address()] {
        chain
            .devnet_set_balance(a, U256::from(10u64) * U256::from(TOKEN_UNIT))
            .await
            .unwrap();
    }
    deploy::register_institution(&chain, &st.d, Role::Hospital, h2.address())
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
        .unwrap()
        .iter()
        .for_each(confirmed);
    let before = doctor::history(&doctor_kiosk, &mut s).await.unwrap();
    assert!(before.iter().all(|e| e.resource.is_some()));
    let old_card = s.into_card();

    // Reported lost with the letter's recovery code: the old card's consent signature is refused on chain.
    let (lost_pid, r) = reception::report_lost(&reception_kiosk, &letter.recovery_secret)
        .await
        .unwrap();
    confirmed(&r);
    assert_eq!(lost_pid, pid);
    let hub = st.chain.hub(&st.d);
    assert!(hub.cardLost(pid).call().await.unwrap());
    let epoch = hub.epochOf(pid).call().await.unwrap();
    let hospital = st.actors.hospital.address();
    let c = hub.consentOf(pid, hospital).call().await.unwrap();
    assert_ne!(
        c.epoch, epoch,
        "every consent made with the lost card is void"
    );
    let signed_at = st
        .chain
        .latest_timestamp()
        .await
        .unwrap()
        .max(c.signedAt + 1);
    let msg = eip712::Consent {
        patientId: pid,
        institution: hospital,
        scope: scope::HOSPITAL,
        validUntil: signed_at + 86_400,
        epoch,
        signedAt: signed_at,
    };
    let mut old = PatientSession::start(old_card, Pin::new(AFTER_UNBLOCK)).unwrap();
    let sig = old
        .sign(eip712::digest(
            &msg,
            &eip712::domain(st.d.chain_id, st.d.contracts.patient_smart_card),
        ))
        .unwrap();
    let e = st
        .chain
        .send(
            st.actors.hospital_kiosk.address(),
            hub.grantConsent(
                pid,
                scope::HOSPITAL,
                signed_at + 86_400,
                epoch,
                signed_at,
                sig.into(),
            ),
        )
        .await
        .unwrap_err();
    assert_eq!(e.revert().map(|r| r.name.as_str()), Some("CardReported"));
    assert!(reception::check_in(&reception_kiosk, &mut old)
        .await
        .is_err());
    drop(old);
    sim.stop();
    drop(slot);

    // Replaced at the issuing hospital with the recovery code: a new card, the same patient.
    let (slot2, sim2) = blank_card();
    let (s2, letter2, r) = reception::replace_card(
        &reception_kiosk,
        &letter.recovery_secret,
        PatientCard::open(slot2.name()).unwrap(),
        reception::NewCard {
            name: NAME.into(),
            admin_pin: Pin::new(ADMIN_PIN),
            pin: Pin::new(REPLACEMENT_PIN),
        },
    )
    .await
    .unwrap();
    confirmed(&r);
    assert_eq!(s2.patient_id(), pid);
    assert!(!hub.cardLost(pid).call().await.unwrap());
    assert_ne!(
        *letter2.recovery_secret, *letter.recovery_secret,
        "a new letter"
    );
    // The old letter's recovery code is spent: the chain no longer knows it, and the desk says so before signing.
    let e = reception::report_lost(&reception_kiosk, &letter.recovery_secret)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, carekiosk_kiosk::KioskError::Invalid(m) if m.contains("newest letter")),
        "{e:?}"
    );

    // Everything opens with the new card at the patient's next visit: the whole history (both hospitals), in one
    // card operation.
    let mut s2 = PatientSession::start(s2.into_card(), Pin::new(REPLACEMENT_PIN)).unwrap();
    reception::check_in(&reception_kiosk, &mut s2)
        .await
        .unwrap();
    let after = doctor::history(&doctor_kiosk, &mut s2).await.unwrap();
    assert_eq!(after.len(), before.len());
    assert!(after.iter().all(|e| e.resource.is_some()), "{after:?}");
    assert_eq!(
        s2.card_operations(),
        1,
        "one card ECDH for the whole history"
    );
    let authors: std::collections::BTreeSet<u32> = after.iter().map(|e| e.author).collect();
    assert_eq!(authors.len(), 2, "records of both hospitals");
    // The open prescription (and the dispensed one) at the pharmacy, with the new card.
    let rx = pharmacy::open_patient(&pharmacy_kiosk, &mut s2)
        .await
        .unwrap();
    assert_eq!(rx.len(), 2);
    assert!(rx.iter().all(|p| p.request.is_some()));
    assert_eq!(rx.iter().filter(|p| p.dispensable).count(), 1);
    // The claim's details (sealed for the patient too) open with the new card's history keys.
    let claims = insurer::queue(&insurer_kiosk).await.unwrap();
    assert_eq!(claims.len(), 1);
    let sealed = insurer_kiosk
        .indexer
        .sealed_payload(B256::from(claims[0].tx_hash), claims[0].content_hash)
        .await
        .unwrap();
    assert!(matches!(s2.open(&sealed).unwrap(), Resource::Claim(_)));

    // A garbage record from a faulty kiosk shows as one unreadable line; the rest still opens.
    let mut junk = vec![0x5A; 1024 + carekiosk_records::OVERHEAD];
    junk[0] = carekiosk_records::FORMAT_VERSION;
    st.chain
        .send(
            st.actors.hospital_kiosk.address(),
            st.chain.records(&st.d).addMedicalRecord(pid, junk.into()),
        )
        .await
        .unwrap();
    let with_junk = doctor::history(&doctor_kiosk, &mut s2).await.unwrap();
    assert_eq!(with_junk.len(), after.len() + 1);
    assert_eq!(with_junk.iter().filter(|e| e.resource.is_none()).count(), 1);
    sim2.stop();
    drop(slot2);
    st.stop().await;
}
