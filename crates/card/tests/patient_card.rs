//! The kiosk's card client against the virtual card, through the real pcscd and vpcd: issue, read, sign, ECDH,
//! PINs, a card pulled mid-signature, wrong cards, corrupted answers, events, two readers.

use carekiosk_testkit::pcscd as support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use carekiosk_card::{
    CardError, CardEvent, CardMonitor, CardSession, NotPatientReason, P256PublicKey, PatientCard,
    Pin, PinKind, ProvisionRequest, Provisioned, Provisioning, ReaderPattern,
};
use carekiosk_card_sim::state::{CardState, KeySlot, Profile, SIG};
use carekiosk_card_sim::{AppletOptions, Fault, InsMatch, Sim, SimConfig};
use p256::ecdsa::signature::hazmat::PrehashVerifier;

const ADMIN: &str = "12345678";
const PIN: &str = "246810";
/// Half the P-256 group order, n/2 (floor), big-endian.
const HALF_N: [u8; 32] = [
    0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xDE, 0x73, 0x7D, 0x56, 0xD3, 0x8B, 0xCF, 0x42, 0x79, 0xDC, 0xE5, 0x61, 0x7E, 0x31, 0x92, 0xA8,
];

fn sim(slot: &support::ReaderSlot, f: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut cfg = SimConfig::in_memory(slot.port());
    f(&mut cfg);
    let s = Sim::start(cfg).expect("sim");
    assert!(
        support::wait_card(slot.name(), true, Duration::from_secs(5)),
        "card not seen in {}",
        slot.name()
    );
    s
}

fn keccak_id(k: &P256PublicKey) -> [u8; 32] {
    let mut b = [0u8; 64];
    b[..32].copy_from_slice(&k.x());
    b[32..].copy_from_slice(&k.y());
    alloy::primitives::keccak256(b).0
}

fn issue(card: &mut PatientCard, name: &str) -> Provisioned {
    let (admin, pin) = (Pin::new(ADMIN), Pin::new(PIN));
    let p = Provisioning {
        admin_pin: &admin,
        user_pin: &pin,
        new_admin_pin: None,
        reset_code: None,
        name,
        chain_id: 31337,
        overwrite: false,
    };
    card.provision(&p, keccak_id).expect("provision")
}

/// Runs `f` on another thread and fails the test if it takes longer than `limit` (a hang).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit).expect("operation hung")
}

#[test]
fn provision_read_sign_and_the_signature_verifies() {
    let slot = support::reader();
    let sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    let blank = card.inspect().unwrap();
    assert_eq!(blank.ident, sim.ident());
    assert_eq!(
        (blank.signing_key, blank.patient, blank.name.clone()),
        (None, None, None)
    );

    let issued = issue(&mut card, "Müller<<Jürgen");
    assert_eq!(issued.patient.patient_id, keccak_id(&issued.signing_key));
    let info = card.read().unwrap();
    assert_eq!(info.ident, sim.ident());
    assert_eq!(info.name, "Müller<<Jürgen");
    assert_eq!(info.patient, issued.patient);
    assert_eq!(info.patient.chain_id, 31337);
    assert_eq!(info.signing_key, issued.signing_key);
    assert_eq!(info.decryption_key, issued.decryption_key);
    assert_ne!(info.signing_key, info.decryption_key);
    assert_eq!((info.tries.user, info.tries.admin), (3, 3));

    // The keys were made on the card: they are the card's own.
    let st = sim.state();
    let on_card = p256::SecretKey::from_slice(&st.keys[SIG].as_ref().unwrap().secret)
        .unwrap()
        .public_key();
    assert_eq!(P256PublicKey::from(on_card), info.signing_key);
    assert!(!st.pw1_cds_multi, "one PIN entry per signature");

    // Many signatures: all verify with p256 and all are low-s (the card's raw s is high about half the time).
    let vk = p256::ecdsa::VerifyingKey::from(info.signing_key.as_p256());
    for i in 0..24u8 {
        let digest = [i.wrapping_mul(37); 32];
        let sig = card.sign(&Pin::new(PIN), &digest).unwrap();
        assert!(sig.s <= HALF_N, "s is low");
        vk.verify_prehash(&digest, &sig.to_p256())
            .expect("verifies");
        assert!(sig.verify(&info.signing_key, &digest));
        assert!(!sig.verify(&info.signing_key, &[0xEE; 32]));
    }
    assert_eq!(card.inspect().unwrap().signature_count, 24);
    let auth = card.authenticate(&Pin::new(PIN), &[9; 32]).unwrap();
    assert_eq!(auth.info.patient, issued.patient);
    assert!(auth.signature.verify(&info.signing_key, &[9; 32]));
}

#[test]
fn provisioning_refuses_an_issued_card_unless_told_to_overwrite() {
    let slot = support::reader();
    let _sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    let first = issue(&mut card, "Doe<<Jane");
    let (admin, pin, new_admin) = (Pin::new(ADMIN), Pin::new("135790"), Pin::new("admin-2468"));
    let mut p = Provisioning {
        admin_pin: &admin,
        user_pin: &pin,
        new_admin_pin: Some(&new_admin),
        reset_code: None,
        name: "Roe<<Richard",
        chain_id: 42220,
        overwrite: false,
    };
    assert_eq!(
        card.provision(&p, keccak_id).unwrap_err(),
        CardError::AlreadyProvisioned
    );
    p.overwrite = true;
    // A replacement card keeps the patient's existing id.
    let second = card.provision(&p, |_| first.patient.patient_id).unwrap();
    assert_ne!(second.signing_key, first.signing_key);
    assert_eq!(second.patient.patient_id, first.patient.patient_id);
    assert_eq!(card.read().unwrap().patient.chain_id, 42220);
    // The admin PIN changed.
    let e = card
        .unblock_with_admin(&Pin::new(ADMIN), &Pin::new("111111"))
        .unwrap_err();
    assert_eq!(
        e,
        CardError::WrongPin {
            pin: PinKind::Admin,
            tries_left: 2
        }
    );
    card.unblock_with_admin(&Pin::new("admin-2468"), &Pin::new("111111"))
        .unwrap();
    assert_eq!(card.pin_tries().unwrap().admin, 3);
    // Input checks happen before the card is asked.
    let short = Pin::new("12");
    p.user_pin = &short;
    assert!(matches!(
        card.provision(&p, keccak_id),
        Err(CardError::InvalidInput(_))
    ));
}

#[test]
fn ecdh_equals_the_off_card_computation() {
    let slot = support::reader();
    let _sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    let issued = issue(&mut card, "Doe<<Jane");
    for _ in 0..4 {
        let eph = p256::SecretKey::random(&mut rand_core::OsRng);
        let peer = P256PublicKey::from(eph.public_key());
        let on_card = card.ecdh(&Pin::new(PIN), &peer).unwrap();
        let off_card = p256::ecdh::diffie_hellman(
            eph.to_nonzero_scalar(),
            issued.decryption_key.as_p256().as_affine(),
        );
        assert_eq!(on_card.as_slice(), &off_card.raw_secret_bytes()[..]);
    }
    assert_eq!(
        card.ecdh(&Pin::new("999999"), &issued.signing_key)
            .unwrap_err(),
        CardError::WrongPin {
            pin: PinKind::User,
            tries_left: 2
        }
    );
}

#[test]
fn the_emergency_object_reads_without_a_pin_and_writes_only_with_it() {
    let slot = support::reader();
    let _sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    issue(&mut card, "Doe<<Jane");
    assert_eq!(
        card.emergency_object().unwrap(),
        None,
        "a new card has none"
    );
    assert_eq!(card.special_object_capacity().unwrap(), Some(255));
    let object: Vec<u8> = (0..255u32).map(|i| (i * 7) as u8).collect();
    // A wrong PIN writes nothing and is counted.
    assert_eq!(
        card.write_emergency_object(&Pin::new("999999"), &object)
            .unwrap_err(),
        CardError::WrongPin {
            pin: PinKind::User,
            tries_left: 2
        }
    );
    assert_eq!(card.emergency_object().unwrap(), None);
    card.write_emergency_object(&Pin::new(PIN), &object)
        .unwrap();
    // Read back with no PIN, on a fresh connection (as an emergency desk would).
    drop(card);
    let mut card = PatientCard::open(slot.name()).unwrap();
    assert_eq!(card.emergency_object().unwrap(), Some(object.clone()));
    // Too large: refused before the PIN is tried (the counter stays).
    let err = card
        .write_emergency_object(&Pin::new(PIN), &[1u8; 256])
        .unwrap_err();
    assert!(
        matches!(err, CardError::Unsupported(ref m) if m.contains("255")),
        "{err}"
    );
    assert_eq!(card.pin_tries().unwrap().user, 3);
    // Cleared by the patient.
    card.write_emergency_object(&Pin::new(PIN), &[]).unwrap();
    assert_eq!(card.emergency_object().unwrap(), None);
    // The patient object (DO 0102) is untouched by all this.
    assert!(card.read().is_ok());
}

#[test]
fn three_wrong_pins_block_and_the_admin_pin_unblocks() {
    let slot = support::reader();
    let sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    issue(&mut card, "Doe<<Jane");
    let wrong = Pin::new("000000");
    for left in [2u8, 1] {
        assert_eq!(
            card.verify_pin(&wrong).unwrap_err(),
            CardError::WrongPin {
                pin: PinKind::User,
                tries_left: left
            }
        );
        assert_eq!(card.pin_tries().unwrap().user, left);
        assert_eq!(
            sim.state().pw1.tries,
            left,
            "the counter shown is the card's"
        );
    }
    assert_eq!(
        card.verify_pin(&wrong).unwrap_err(),
        CardError::Blocked { pin: PinKind::User }
    );
    assert_eq!(sim.state().pw1.tries, 0);
    assert_eq!(card.read().unwrap().tries.user, 0);
    // Blocked means blocked, even for the right PIN, and for signing.
    assert_eq!(
        card.verify_pin(&Pin::new(PIN)).unwrap_err(),
        CardError::Blocked { pin: PinKind::User }
    );
    assert_eq!(
        card.sign(&Pin::new(PIN), &[1; 32]).unwrap_err(),
        CardError::Blocked { pin: PinKind::User }
    );
    // A wrong admin PIN is counted too; the right one unblocks with a new PIN.
    assert_eq!(
        card.unblock_with_admin(&Pin::new("87654321"), &Pin::new("135790"))
            .unwrap_err(),
        CardError::WrongPin {
            pin: PinKind::Admin,
            tries_left: 2
        }
    );
    assert_eq!(sim.state().pw3.tries, 2);
    card.unblock_with_admin(&Pin::new(ADMIN), &Pin::new("135790"))
        .unwrap();
    let t = card.pin_tries().unwrap();
    assert_eq!((t.user, t.admin), (3, 3));
    assert_eq!((sim.state().pw1.tries, sim.state().pw3.tries), (3, 3));
    card.sign(&Pin::new("135790"), &[1; 32]).unwrap();
    // PIN change, with the old PIN checked and counted.
    assert_eq!(
        card.change_pin(&Pin::new("000000"), &Pin::new("864200"))
            .unwrap_err(),
        CardError::WrongPin {
            pin: PinKind::User,
            tries_left: 2
        }
    );
    card.change_pin(&Pin::new("135790"), &Pin::new("864200"))
        .unwrap();
    card.verify_pin(&Pin::new("864200")).unwrap();
    assert!(matches!(
        card.change_pin(&Pin::new("864200"), &Pin::new("1")),
        Err(CardError::InvalidInput(_))
    ));
    // No resetting code was set.
    assert_eq!(
        card.unblock_with_reset_code(&Pin::new("rc-12345678"), &Pin::new("111111"))
            .unwrap_err(),
        CardError::Blocked {
            pin: PinKind::ResetCode
        }
    );
}

#[test]
fn a_card_pulled_during_a_signature_is_reported_removed_and_works_again_when_reinserted() {
    let slot = support::reader();
    let sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    let issued = issue(&mut card, "Doe<<Jane");
    sim.pull_on(InsMatch::Ins(0x2A));
    let (card, r) = within(Duration::from_secs(10), move || {
        let r = card.sign(&Pin::new(PIN), &[3; 32]);
        (card, r)
    });
    assert_eq!(r.unwrap_err(), CardError::CardRemoved);
    assert_eq!(sim.status().pulls, 1);
    // The old handle keeps failing cleanly while the card is out.
    let (mut card, r) = within(Duration::from_secs(10), move || {
        let mut card = card;
        let r = card.read();
        (card, r)
    });
    assert!(r.unwrap_err().is_removal());
    assert!(carekiosk_card::wait_for_removal(slot.name(), Duration::from_secs(3)).unwrap());
    assert_eq!(
        PatientCard::open(slot.name()).unwrap_err(),
        CardError::NoCard
    );

    sim.insert();
    assert!(carekiosk_card::wait_for_card(slot.name(), Duration::from_secs(3)).unwrap());
    // The old handle: pcscd reports the reset and the client reconnects, or it reports the removal; no panic.
    match card.read() {
        Ok(info) => assert_eq!(info.signing_key, issued.signing_key),
        Err(e) => assert!(e.is_removal(), "{e:?}"),
    }
    let mut card = PatientCard::open(slot.name()).unwrap();
    let sig = card.sign(&Pin::new(PIN), &[3; 32]).unwrap();
    assert!(sig.verify(&issued.signing_key, &[3; 32]));
    assert_eq!(
        card.pin_tries().unwrap().user,
        3,
        "the interrupted signature cost no PIN try"
    );
}

#[test]
fn a_card_without_openpgp_is_not_a_patient_card() {
    let slot = support::reader();
    let _sim = sim(&slot, |c| c.profile = Profile::NotOpenpgp);
    assert_eq!(
        PatientCard::open(slot.name()).unwrap_err(),
        CardError::NotAPatientCard {
            reason: NotPatientReason::NotOpenPgp
        }
    );
}

#[test]
fn a_blank_card_and_a_card_without_our_object_are_not_patient_cards() {
    let slot = support::reader();
    let sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    assert_eq!(
        card.read().unwrap_err(),
        CardError::NotAPatientCard {
            reason: NotPatientReason::NoKeys
        }
    );
    assert_eq!(
        card.sign(&Pin::new("123456"), &[1; 32]).unwrap_err(),
        CardError::NotAPatientCard {
            reason: NotPatientReason::NoKeys
        }
    );
    assert_eq!(
        card.ecdh(
            &Pin::new("123456"),
            &P256PublicKey::from(p256::SecretKey::random(&mut rand_core::OsRng).public_key())
        )
        .unwrap_err(),
        CardError::NotAPatientCard {
            reason: NotPatientReason::NoKeys
        }
    );
    drop(card);
    sim.stop();
    assert!(support::wait_card(
        slot.name(),
        false,
        Duration::from_secs(3)
    ));

    // Keys (imported by someone else) but no patient object.
    let mut state = CardState::blank(Profile::Openpgp, Some(0x1234));
    for slot_ in [0, 1] {
        let sk = p256::SecretKey::random(&mut rand_core::OsRng);
        state.keys[slot_] = Some(KeySlot {
            secret: sk.to_bytes().to_vec(),
            origin: 2,
        });
        state.fingerprints[slot_].0 = vec![0xAB; 20];
    }
    let _sim = Sim::with_state(SimConfig::in_memory(slot.port()), state);
    assert!(support::wait_card(
        slot.name(),
        true,
        Duration::from_secs(5)
    ));
    let mut card = PatientCard::open(slot.name()).unwrap();
    assert_eq!(
        card.read().unwrap_err(),
        CardError::NotAPatientCard {
            reason: NotPatientReason::NoPatientObject
        }
    );
    let info = card.inspect().unwrap();
    assert!(info.signing_key.is_some() && info.decryption_key.is_some() && info.patient.is_none());
}

#[test]
fn malformed_or_truncated_answers_give_the_right_error() {
    let slot = support::reader();
    let sim = sim(&slot, |_| {});
    let mut card = PatientCard::open(slot.name()).unwrap();
    let issued = issue(&mut card, "Doe<<Jane");

    // The application related data cut in half (status still 9000).
    sim.fault_on(InsMatch::Ins(0xCA), Fault::Truncate);
    assert!(
        matches!(card.read(), Err(CardError::Malformed(_))),
        "truncated ARD"
    );
    // Garbage instead of the public key template.
    sim.fault_on(InsMatch::Ins(0x47), Fault::Garbage);
    assert!(
        matches!(card.read(), Err(CardError::Malformed(_))),
        "garbage public key"
    );
    // A signature cut short.
    sim.fault_on(InsMatch::Ins(0x2A), Fault::Truncate);
    assert!(
        matches!(
            card.sign(&Pin::new(PIN), &[5; 32]),
            Err(CardError::Malformed(_))
        ),
        "short signature"
    );
    // Less than a status word: indistinguishable from a card leaving mid-command, so reported as removal.
    sim.fault_on(InsMatch::Ins(0xCA), Fault::ShortResponse);
    assert_eq!(card.read().unwrap_err(), CardError::CardRemoved);
    // The card itself is fine afterwards.
    assert_eq!(card.read().unwrap().signing_key, issued.signing_key);
    assert!(card
        .sign(&Pin::new(PIN), &[5; 32])
        .unwrap()
        .verify(&issued.signing_key, &[5; 32]));
}

#[test]
fn long_answers_in_61xx_pieces_work_for_everything() {
    let slot = support::reader();
    let _sim = sim(&slot, |c| c.applet = AppletOptions { response_chunk: 16 });
    let mut card = PatientCard::open(slot.name()).unwrap();
    let issued = issue(&mut card, "Doe<<Jane");
    let info = card.read().unwrap();
    assert_eq!(info.signing_key, issued.signing_key);
    let sig = card.sign(&Pin::new(PIN), &[8; 32]).unwrap();
    assert!(sig.verify(&issued.signing_key, &[8; 32]));
    let eph = p256::SecretKey::random(&mut rand_core::OsRng);
    let s = card
        .ecdh(&Pin::new(PIN), &P256PublicKey::from(eph.public_key()))
        .unwrap();
    let off = p256::ecdh::diffie_hellman(
        eph.to_nonzero_scalar(),
        issued.decryption_key.as_p256().as_affine(),
    );
    assert_eq!(s.as_slice(), &off.raw_secret_bytes()[..]);
}

#[test]
fn insertion_and_removal_arrive_as_events() {
    let slot = support::reader();
    let monitor = CardMonitor::start(ReaderPattern::new(slot.name())).unwrap();
    let mut rx = monitor.subscribe();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let next = |rx: &mut tokio::sync::broadcast::Receiver<CardEvent>,
                want: &dyn Fn(&CardEvent) -> bool| {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(3), async {
                loop {
                    let e = rx.recv().await.expect("event stream");
                    if want(&e) {
                        return e;
                    }
                }
            })
            .await
            .expect("event within 3 s")
        })
    };
    let reader = slot.name().to_string();
    let r2 = reader.clone();
    next(
        &mut rx,
        &move |e| matches!(e, CardEvent::ReaderAdded { reader } if *reader == r2),
    );
    let t0 = Instant::now();
    let sim = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    let r2 = reader.clone();
    next(
        &mut rx,
        &move |e| matches!(e, CardEvent::CardInserted { reader, atr } if *reader == r2 && !atr.is_empty()),
    );
    let inserted = t0.elapsed();
    assert!(monitor
        .readers()
        .iter()
        .any(|r| r.name == reader && r.card_present));
    // Opening right after the event works.
    PatientCard::open(&reader).unwrap();
    let t1 = Instant::now();
    sim.remove();
    let r2 = reader.clone();
    next(
        &mut rx,
        &move |e| matches!(e, CardEvent::CardRemoved { reader } if *reader == r2),
    );
    let removed = t1.elapsed();
    assert!(monitor
        .readers()
        .iter()
        .any(|r| r.name == reader && !r.card_present));
    eprintln!("event latency: insert {inserted:?}, remove {removed:?} (pcscd polls every 400 ms)");
    drop(monitor);
    sim.stop();
}

#[test]
fn two_readers_at_once_through_the_async_session() {
    let slots = support::readers(2);
    let _a = sim(&slots[0], |c| c.serial = Some(0xA));
    let _b = sim(&slots[1], |c| c.serial = Some(0xB));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let names: Vec<String> = slots.iter().map(|s| s.name().to_string()).collect();
    let idents = rt.block_on(async move {
        let tasks: Vec<_> = names
            .into_iter()
            .map(|name| {
                tokio::spawn(async move {
                    let s = CardSession::open(name).await?;
                    let req = ProvisionRequest {
                        admin_pin: Pin::new(ADMIN),
                        user_pin: Pin::new(PIN),
                        new_admin_pin: None,
                        name: "Twin".into(),
                        chain_id: 1,
                        overwrite: false,
                    };
                    let issued = s.provision(req, keccak_id).await?;
                    for i in 0..10u8 {
                        let sig = s.sign(Pin::new(PIN), [i; 32]).await?;
                        assert!(sig.verify(&issued.signing_key, &[i; 32]));
                    }
                    let info = s.read().await?;
                    Ok::<_, CardError>(info.ident)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("task").expect("card"));
        }
        out
    });
    let mut idents = idents;
    idents.sort();
    assert_eq!(idents, ["FFFF:0000000A", "FFFF:0000000B"]);
    let all = carekiosk_card::list_readers(&ReaderPattern::new("Virtual PCD*")).unwrap();
    assert!(all.iter().filter(|r| r.card_present).count() >= 2);
    assert_eq!(
        carekiosk_card::find_reader(&ReaderPattern::new("no such reader")).unwrap_err(),
        CardError::NoReader
    );
}
