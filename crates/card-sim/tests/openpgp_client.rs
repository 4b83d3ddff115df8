//! The virtual card driven by a client none of us wrote: `openpgp-card` 0.7 over `card-backend-pcsc`, through the
//! real pcscd and vpcd, with the card running as its own `carekiosk-card-sim` process.

use carekiosk_testkit::pcscd as support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use card_backend_pcsc::PcscBackend;
use openpgp_card::ocard::algorithm::AlgoSimple;
use openpgp_card::ocard::crypto::{Cryptogram, PublicKeyMaterial, SigningAlgo};
use openpgp_card::ocard::data::{Fingerprint, KeyGenerationTime};
use openpgp_card::ocard::{KeyType, StatusBytes};
use openpgp_card::state::Open;
use openpgp_card::Card;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use secrecy::SecretString;

use carekiosk_card_sim::control;

/// One card process, stopped (via its control socket, else killed) when dropped.
struct CardProcess {
    child: Child,
    control: PathBuf,
    ident: String,
}

impl CardProcess {
    fn spawn(port: u16, state: &Path, extra: &[&str]) -> CardProcess {
        let control = state.with_extension("sock");
        let mut child = Command::new(env!("CARGO_BIN_EXE_carekiosk-card-sim"))
            .args(["run", "--port", &port.to_string()])
            .arg("--state")
            .arg(state)
            .arg("--control")
            .arg(&control)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start carekiosk-card-sim");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("ready line");
        assert!(
            line.starts_with("ready card "),
            "unexpected first line {line:?}"
        );
        let ident = line
            .split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string();
        CardProcess {
            child,
            control,
            ident,
        }
    }

    fn ctl(&self, cmd: &str) -> String {
        control::send(&self.control, cmd).expect("control socket")
    }
}

impl Drop for CardProcess {
    fn drop(&mut self) {
        let _ = control::send(&self.control, "quit");
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn open(reader: &str) -> Card<Open> {
    assert!(
        support::wait_card(reader, true, Duration::from_secs(5)),
        "no card in {reader}"
    );
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let name = std::ffi::CString::new(reader).unwrap();
    let backend = PcscBackend::from_pcsc_reader(&ctx, &name, None).expect("connect");
    Card::<Open>::new(backend).expect("select OpenPGP")
}

fn pin(s: &str) -> SecretString {
    SecretString::from(s.to_string())
}

/// Any stable 20 bytes will do for this client-side test (the kiosk computes real v4 fingerprints).
fn fp(
    key: &PublicKeyMaterial,
    _: KeyGenerationTime,
    _: KeyType,
) -> Result<Fingerprint, openpgp_card::Error> {
    let PublicKeyMaterial::E(e) = key else {
        unreachable!()
    };
    let b: [u8; 20] = e.data()[1..21].try_into().unwrap();
    Ok(b.into())
}

fn point(m: &PublicKeyMaterial) -> Vec<u8> {
    match m {
        PublicKeyMaterial::E(e) => e.data().to_vec(),
        _ => panic!("not EC"),
    }
}

#[test]
fn openpgp_card_client_drives_the_whole_card() {
    let slot = support::reader();
    let dir = support::temp_dir("sim-client");
    // Responses in 32-byte pieces: every read goes through 61xx and GET RESPONSE.
    let proc_ = CardProcess::spawn(
        slot.port(),
        &dir.join("card.json"),
        &["--response-chunk", "32", "--serial", "c0ffee01"],
    );
    assert_eq!(proc_.ident, "FFFF:C0FFEE01");
    let mut card = open(slot.name());
    let mut tx = card.transaction().unwrap();

    // Blank card as the client sees it.
    assert_eq!(
        tx.application_identifier().unwrap().ident(),
        "FFFF:C0FFEE01"
    );
    assert_eq!(tx.application_identifier().unwrap().version(), 0x0304);
    let pws = tx.pw_status_bytes().unwrap();
    assert_eq!(
        (pws.err_count_pw1(), pws.err_count_rc(), pws.err_count_pw3()),
        (3, 0, 3)
    );
    assert!(tx.fingerprints().unwrap().signature().is_none());
    assert!(tx.extended_capabilities().unwrap().private_use_dos());
    assert!(tx.algorithm_information().unwrap().is_some());

    // Issue it with the client's own admin API.
    tx.verify_admin_pin(pin("12345678")).unwrap();
    let (sig_pub, dec_pub) = {
        let mut admin = tx.as_admin_card(None).unwrap();
        admin
            .set_algorithm(KeyType::Signing, AlgoSimple::NIST256)
            .unwrap();
        admin
            .set_algorithm(KeyType::Decryption, AlgoSimple::NIST256)
            .unwrap();
        let (s, _) = admin.generate_key(fp, KeyType::Signing).unwrap();
        let (d, _) = admin.generate_key(fp, KeyType::Decryption).unwrap();
        admin.set_cardholder_name("Doe<<Jane").unwrap();
        admin.set_private_use_do(2, vec![1, 2, 3]).unwrap();
        admin.set_user_pin_signing_validity(true).unwrap();
        admin.reset_user_pin(pin("654321")).unwrap();
        (point(&s), point(&d))
    };
    tx.invalidate_cache().unwrap();
    assert_eq!(tx.cardholder_name().unwrap(), "Doe<<Jane");
    assert_eq!(tx.private_use_do(2).unwrap(), vec![1, 2, 3]);
    assert_eq!(
        point(&tx.public_key_material(KeyType::Signing).unwrap()),
        sig_pub
    );
    assert!(tx.fingerprints().unwrap().signature().is_some());

    // Sign a digest; one PIN entry is good for one signature.
    let digest = [0x42u8; 32];
    tx.verify_user_signing_pin(pin("654321")).unwrap();
    let raw = tx
        .card()
        .signature_for_hash(SigningAlgo::ECC, &digest)
        .unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&sig_pub).unwrap();
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    vk.verify_prehash(&digest, &sig)
        .expect("card signature verifies");
    let again = tx.card().signature_for_hash(SigningAlgo::ECC, &digest);
    assert!(
        matches!(
            again,
            Err(openpgp_card::Error::CardStatus(
                StatusBytes::SecurityStatusNotSatisfied
            ))
        ),
        "{again:?}"
    );
    assert_eq!(tx.digital_signature_count().unwrap(), 1);

    // ECDH with the decryption key equals the off-card computation.
    let eph = p256::SecretKey::random(&mut rand_core::OsRng);
    let eph_pub =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&eph.public_key(), false);
    tx.verify_user_pin(pin("654321")).unwrap();
    let shared = tx
        .card()
        .decipher(Cryptogram::ECDH(eph_pub.as_bytes()))
        .unwrap();
    let card_key = p256::PublicKey::from_sec1_bytes(&dec_pub).unwrap();
    let expect = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), card_key.as_affine());
    assert_eq!(shared, expect.raw_secret_bytes().to_vec());

    // Wrong PINs count down, then block; the admin PIN unblocks.
    for left in [2u8, 1] {
        let r = tx.verify_user_pin(pin("000000"));
        assert!(
            matches!(r, Err(openpgp_card::Error::CardStatus(StatusBytes::PasswordNotChecked(n))) if n == left),
            "{r:?}"
        );
    }
    let r = tx.verify_user_pin(pin("000000"));
    assert!(
        matches!(
            r,
            Err(openpgp_card::Error::CardStatus(
                StatusBytes::AuthenticationMethodBlocked
            ))
        ),
        "{r:?}"
    );
    let r = tx.verify_user_pin(pin("654321"));
    assert!(
        matches!(
            r,
            Err(openpgp_card::Error::CardStatus(
                StatusBytes::AuthenticationMethodBlocked
            ))
        ),
        "{r:?}"
    );
    tx.verify_admin_pin(pin("12345678")).unwrap();
    tx.as_admin_card(None)
        .unwrap()
        .reset_user_pin(pin("111111"))
        .unwrap();
    tx.verify_user_pin(pin("111111")).unwrap();

    // Change PINs, resetting code.
    tx.change_user_pin(pin("111111"), pin("222222")).unwrap();
    tx.verify_user_pin(pin("222222")).unwrap();
    tx.as_admin_card(None)
        .unwrap()
        .set_resetting_code(pin("rc-87654321"))
        .unwrap();
    tx.reset_user_pin(pin("rc-87654321"), pin("333333"))
        .unwrap();
    tx.verify_user_pin(pin("333333")).unwrap();
    tx.change_admin_pin(pin("12345678"), pin("87654321"))
        .unwrap();
    tx.verify_admin_pin(pin("87654321")).unwrap();

    // Factory reset through the client (4 bad PW1, 4 bad PW3, TERMINATE DF, ACTIVATE FILE).
    tx.factory_reset().unwrap();
    drop(tx);
    let mut tx = card.transaction().unwrap();
    assert!(tx.fingerprints().unwrap().signature().is_none());
    assert_eq!(tx.cardholder_name().unwrap(), "");
    tx.verify_admin_pin(pin("12345678")).unwrap();
    drop(tx);
    drop(card);
    drop(proc_);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn state_survives_a_restart_of_the_card_process() {
    let slot = support::reader();
    let dir = support::temp_dir("sim-restart");
    let state = dir.join("card.json");
    let sig_pub = {
        let _p = CardProcess::spawn(slot.port(), &state, &[]);
        let mut card = open(slot.name());
        let mut tx = card.transaction().unwrap();
        tx.verify_admin_pin(pin("12345678")).unwrap();
        let (s, _) = tx
            .as_admin_card(None)
            .unwrap()
            .generate_key(fp, KeyType::Signing)
            .unwrap();
        let _ = tx.verify_user_pin(pin("999999"));
        point(&s)
    };
    assert!(support::wait_card(
        slot.name(),
        false,
        Duration::from_secs(3)
    ));
    let text = std::fs::read_to_string(&state).unwrap();
    assert!(
        text.contains("SIMULATED OPENPGP CARD STORAGE"),
        "state file is marked"
    );
    assert!(
        !text.contains("999999") && !text.contains("123456"),
        "no PIN in the clear"
    );
    #[cfg(unix)]
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&state).unwrap().permissions())
            & 0o777,
        0o600
    );

    let _p = CardProcess::spawn(slot.port(), &state, &[]);
    let mut card = open(slot.name());
    let mut tx = card.transaction().unwrap();
    assert_eq!(
        point(&tx.public_key_material(KeyType::Signing).unwrap()),
        sig_pub
    );
    assert_eq!(
        tx.pw_status_bytes().unwrap().err_count_pw1(),
        2,
        "the wrong PIN is still counted"
    );
    drop(tx);
    drop(card);
    drop(_p);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn two_cards_in_two_readers_at_once() {
    let slots = support::readers(2);
    let dir = support::temp_dir("sim-two");
    let a = CardProcess::spawn(
        slots[0].port(),
        &dir.join("a.json"),
        &["--serial", "0000000a"],
    );
    let b = CardProcess::spawn(
        slots[1].port(),
        &dir.join("b.json"),
        &["--serial", "0000000b"],
    );
    let names = [slots[0].name().to_string(), slots[1].name().to_string()];
    let handles: Vec<_> = names
        .into_iter()
        .map(|name| {
            std::thread::spawn(move || {
                let mut card = open(&name);
                let mut tx = card.transaction().unwrap();
                let ident = tx.application_identifier().unwrap().ident();
                tx.verify_admin_pin(pin("12345678")).unwrap();
                let (s, _) = tx
                    .as_admin_card(None)
                    .unwrap()
                    .generate_key(fp, KeyType::Signing)
                    .unwrap();
                let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&point(&s)).unwrap();
                for i in 0..20u8 {
                    let digest = [i; 32];
                    tx.verify_user_signing_pin(pin("123456")).unwrap();
                    let raw = tx
                        .card()
                        .signature_for_hash(SigningAlgo::ECC, &digest)
                        .unwrap();
                    vk.verify_prehash(&digest, &p256::ecdsa::Signature::from_slice(&raw).unwrap())
                        .unwrap();
                }
                ident
            })
        })
        .collect();
    let mut idents: Vec<String> = handles
        .into_iter()
        .map(|h| h.join().expect("card thread"))
        .collect();
    idents.sort();
    assert_eq!(idents, ["FFFF:0000000A", "FFFF:0000000B"]);
    assert_eq!(
        (a.ident.as_str(), b.ident.as_str()),
        ("FFFF:0000000A", "FFFF:0000000B")
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn control_socket_removes_and_reinserts_the_card() {
    let slot = support::reader();
    let dir = support::temp_dir("sim-ctl");
    let p = CardProcess::spawn(slot.port(), &dir.join("card.json"), &["--removed"]);
    assert!(p
        .ctl("status")
        .starts_with("ok inserted=false connected=false"));
    assert!(support::wait_card(
        slot.name(),
        false,
        Duration::from_secs(2)
    ));
    assert_eq!(p.ctl("insert"), "ok");
    assert_eq!(p.ctl("wait-connected true 5000"), "ok");
    assert!(
        support::wait_card(slot.name(), true, Duration::from_secs(3)),
        "pcscd sees the card"
    );
    let _ = open(slot.name());
    assert_eq!(p.ctl("remove"), "ok");
    assert!(
        support::wait_card(slot.name(), false, Duration::from_secs(3)),
        "pcscd sees it gone"
    );
    assert_eq!(p.ctl("insert"), "ok");
    assert!(
        support::wait_card(slot.name(), true, Duration::from_secs(3)),
        "and back"
    );
    assert!(p.ctl("bogus").starts_with("error:"));
    assert!(p.ctl("pull-on zz").starts_with("error:"));
    drop(p);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_card_without_the_openpgp_application_refuses_select() {
    let slot = support::reader();
    let dir = support::temp_dir("sim-nopgp");
    let _p = CardProcess::spawn(
        slot.port(),
        &dir.join("card.json"),
        &["--profile", "not-openpgp"],
    );
    assert!(support::wait_card(
        slot.name(),
        true,
        Duration::from_secs(5)
    ));
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let name = std::ffi::CString::new(slot.name()).unwrap();
    let backend = PcscBackend::from_pcsc_reader(&ctx, &name, None).expect("connect");
    let r = Card::<Open>::new(backend);
    assert!(
        matches!(
            r,
            Err(openpgp_card::Error::CardStatus(
                StatusBytes::FileOrApplicationNotFound
            ))
        ),
        "{:?}",
        r.err()
    );
    drop(_p);
    let _ = std::fs::remove_dir_all(dir);
}
