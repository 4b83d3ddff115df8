//! The `carekiosk` binary as a person runs it: `up` leaves a deployed local chain until it is stopped, `deploy`
//! works against any RPC URL (here an Anvil with Celo Sepolia's chain id), and failures give clear messages and
//! meaningful exit codes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_chain::{Chain, Deployment, GasPolicy};

/// `demo` and `up --virtual-card` put their card in vpcd's first reader: one test at a time.
static FIRST_READER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_carekiosk"))
}

/// Kills a spawned `carekiosk` (and so its chain and card) if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.0.id().to_string())
                .status();
            let _ = self.0.wait();
        }
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("carekiosk-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn up_leaves_a_deployed_chain_until_stopped() {
    let dir = temp_dir("up");
    let manifest = dir.join("local.json");
    let mut child = KillOnDrop(
        bin()
            .args(["up", "--manifest"])
            .arg(&manifest)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = String::new();
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("ready:") {
            break;
        }
    }
    assert!(out.contains("ready: local chain up"), "{out}");
    assert!(out.contains("PatientSmartCard"), "{out}");
    let d = Deployment::load(&manifest).unwrap();
    assert_eq!(d.chain_id, 31337);
    assert_eq!(d.institutions.len(), 3);
    assert!(out.contains(&d.rpc_url), "it prints where the chain is");
    // The chain is up and holds the contracts, wired.
    let chain = Chain::connect(&d.rpc_url, GasPolicy::PAPER, vec![])
        .await
        .unwrap();
    let code = chain
        .provider()
        .get_code_at(d.contracts.patient_smart_card)
        .await
        .unwrap();
    assert!(!code.is_empty());
    assert_eq!(
        chain.hub(&d).hospitalRecord().call().await.unwrap(),
        d.contracts.hospital_record
    );
    // SIGTERM stops it cleanly, and the chain with it.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        Chain::connect(&d.rpc_url, GasPolicy::PAPER, vec![])
            .await
            .is_err(),
        "anvil is gone"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn deploy_works_against_any_rpc_url() {
    let devnet = Devnet::start(DevnetOptions {
        chain_id: 11_142_220,
        ..Default::default()
    })
    .await
    .unwrap();
    let key = PrivateKeySigner::random();
    let chain = Chain::connect(&devnet.url, GasPolicy::PAPER, vec![])
        .await
        .unwrap();
    chain
        .devnet_set_balance(key.address(), U256::from(10u64).pow(U256::from(20)))
        .await
        .unwrap();
    let dir = temp_dir("deploy");
    let manifest = dir.join("celo-sepolia.json");
    let out = bin()
        .args([
            "deploy",
            "--profile",
            "celo-sepolia",
            "--rpc-url",
            &devnet.url,
            "--manifest",
        ])
        .arg(&manifest)
        .env("CAREKIOSK_DEPLOYER_KEY", alloy::hex::encode(key.to_bytes()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = Deployment::load(&manifest).unwrap();
    assert_eq!(d.chain_id, 11_142_220);
    assert_eq!(d.admin, key.address());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&d.contracts.patient_smart_card.to_string()),
        "{stdout}"
    );
    // The key is not in the manifest nor in what was printed.
    let secret = alloy::hex::encode(key.to_bytes());
    assert!(!std::fs::read_to_string(&manifest)
        .unwrap()
        .contains(&secret));
    assert!(!stdout.contains(&secret) && !String::from_utf8_lossy(&out.stderr).contains(&secret));
    // Deploying the mainnet profile onto this chain is refused: wrong chain id, exit code 2.
    let out = bin()
        .args([
            "deploy",
            "--profile",
            "celo",
            "--rpc-url",
            &devnet.url,
            "--manifest",
        ])
        .arg(dir.join("celo.json"))
        .env("CAREKIOSK_DEPLOYER_KEY", alloy::hex::encode(key.to_bytes()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expects 42220"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Needs pcscd (the test script starts it) and a Secret Service (the test script runs the tests in one).
#[test]
fn demo_runs_a_whole_visit() {
    let _reader = FIRST_READER.blocking_lock();
    let out = bin().arg("demo").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "registered",
        "check-in",
        "diagnosis J06.9",
        "prescribed",
        "claim",
        "dispensed",
        "paid",
        "visit complete",
    ] {
        assert!(stdout.contains(step), "missing step {step:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("Jane Roe"),
        "the demo prints no patient name"
    );
}

#[test]
fn bad_input_gets_a_clear_error_and_exit_code() {
    // No key in the environment.
    let out = bin()
        .args(["deploy", "--profile", "celo-sepolia"])
        .env_remove("CAREKIOSK_DEPLOYER_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set CAREKIOSK_DEPLOYER_KEY"));
    // A malformed key.
    let out = bin()
        .args(["deploy", "--profile", "celo-sepolia"])
        .env("CAREKIOSK_DEPLOYER_KEY", "not-a-key")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not hold a valid private key"));
    // An unknown profile.
    let out = bin()
        .args(["deploy", "--profile", "alfajores"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("celo-sepolia"));
    // A node that is down.
    let key = PrivateKeySigner::random();
    let out = bin()
        .args([
            "deploy",
            "--profile",
            "local",
            "--rpc-url",
            "http://127.0.0.1:9",
        ])
        .env("CAREKIOSK_DEPLOYER_KEY", alloy::hex::encode(key.to_bytes()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Is it running"));
    // A missing manifest.
    let out = bin()
        .args(["status", "--manifest", "/nonexistent/local.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deploy first"));
}

/// Every workflow step as its own command, against `up --kiosks --virtual-card` (pcscd and a Secret Service
/// needed, as for `demo`).
#[tokio::test]
async fn each_workflow_step_from_the_command_line() {
    let _reader = FIRST_READER.lock().await;
    let dir = temp_dir("steps");
    let manifest = dir.join("local.json");
    let mut up = KillOnDrop(
        bin()
            .args(["up", "--kiosks", "--virtual-card", "--manifest"])
            .arg(&manifest)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut lines = BufReader::new(up.0.stdout.take().unwrap()).lines();
    let mut out = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        out.push_str(&line);
        if line.starts_with("ready:") {
            break;
        }
    }
    assert!(out.contains("virtual card"), "{out}");
    std::thread::sleep(std::time::Duration::from_millis(1000)); // pcscd polls its readers every 400 ms
    let step = |args: &[&str]| {
        let o = bin()
            .args(args)
            .arg("--manifest")
            .arg(&manifest)
            .arg("--data-dir")
            .arg(dir.join(args[0]))
            .env("CAREKIOSK_PIN", "482916")
            .env("CAREKIOSK_ADMIN_PIN", "12345678")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "{args:?} failed: {text}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let reg = step(&[
        "reception",
        "register",
        "--name",
        "John Example",
        "--birth-date",
        "1970-01-02",
        "--gender",
        "male",
    ]);
    let pid = reg.split_whitespace().nth(1).unwrap().to_string();
    assert!(pid.starts_with("0x") && pid.len() == 66, "{reg}");
    assert!(
        step(&["insurer", "enroll", "--percent", "70", "--limit", "1000"]).contains("confirmed")
    );
    assert!(step(&["reception", "check-in"]).contains("checked in: John Example"));
    assert!(step(&[
        "doctor",
        "diagnose",
        "--icd10",
        "I10",
        "--plan",
        "low-salt diet"
    ])
    .contains("confirmed"));
    let history = step(&["doctor", "history"]);
    assert!(
        history.contains("I10") && history.contains("low-salt diet"),
        "{history}"
    );
    assert!(step(&[
        "doctor",
        "prescribe",
        "--atc",
        "C09AA05",
        "--quantity",
        "30"
    ])
    .contains("confirmed"));
    assert!(step(&[
        "doctor",
        "claim",
        "--record",
        "1",
        "--item",
        "CONS:1:60",
        "--item",
        "ECG:1:40",
        "--practitioner",
        "Dr. Test"
    ])
    .contains("confirmed"));
    // An allergy, then a drug of its class: refused with the warning, prescribed once confirmed.
    assert!(
        step(&["doctor", "allergy", "--substance", "penicillin", "--high"]).contains("confirmed")
    );
    let refused = bin()
        .args([
            "doctor",
            "prescribe",
            "--atc",
            "J01CA04",
            "--quantity",
            "20",
            "--manifest",
        ])
        .arg(&manifest)
        .arg("--data-dir")
        .arg(dir.join("doctor"))
        .env("CAREKIOSK_PIN", "482916")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&refused.stdout).to_string()
        + &String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && text.contains("allergic to penicillin"),
        "{text}"
    );
    assert!(step(&[
        "doctor",
        "prescribe",
        "--atc",
        "J01CA04",
        "--quantity",
        "20",
        "--confirm"
    ])
    .contains("confirmed"));
    let meds = step(&["doctor", "medication"]);
    assert!(
        meds.contains("allergy: penicillin, high risk") && meds.contains("takes:"),
        "{meds}"
    );
    assert!(step(&["doctor", "cancel", "--id", "2"]).contains("confirmed"));
    let list = step(&["pharmacy", "list"]);
    assert!(list.contains("prescription 1 (ready"), "{list}");
    let dispensed = step(&["pharmacy", "dispense", "--id", "1", "--batch", "LOT-CLI-1"]);
    assert!(dispensed.contains("confirmed"), "{dispensed}");
    assert!(
        dispensed.contains("\"resourceType\":\"MedicationDispense\"")
            && dispensed.contains("\"status\":\"completed\""),
        "the receipt: {dispensed}"
    );
    assert!(step(&["pharmacy", "list"]).contains("prescription 1 (dispensed"));
    let queue = step(&["insurer", "queue"]);
    assert!(queue.contains("claim 1: Submitted"), "{queue}");
    let review = step(&["insurer", "review", "--id", "1"]);
    assert!(review.contains("coverage 70 %"), "{review}");
    assert!(step(&["insurer", "approve", "--id", "1"]).contains("confirmed"));
    assert!(step(&["insurer", "pay", "--id", "1"]).contains("confirmed"));
    assert!(step(&["insurer", "paid"]).contains("claim 1: Paid"));

    // The patient in control: who holds consent, the emergency set written at the doctor's desk and read at
    // reception without a PIN, the access log at the pharmacy, a narrowed check-in that shows the read, revoke-all.
    let consents = step(&["patient", "--role", "reception", "consents"]);
    // The pharmacy's and the insurer's step consents authorised their step only: neither holds one now.
    assert!(
        consents.contains("Demo Hospital (hospital")
            && !consents.contains("Demo Pharmacy (pharmacy")
            && !consents.contains("Demo Insurer (insurer"),
        "{consents}"
    );
    let set = dir.join("emergency.json");
    std::fs::write(
        &set,
        r#"{"allergies":[{"substance":"penicillin","high":true}],"blood_group":"O+"}"#,
    )
    .unwrap();
    let saved = step(&["emergency", "set", "--file", set.to_str().unwrap()]);
    assert!(saved.contains("written to the card"), "{saved}");
    let read = step(&[
        "emergency",
        "--role",
        "reception",
        "read",
        "--clinician",
        "Dr. Test",
        "--reason",
        "drill",
    ]);
    assert!(
        read.contains("penicillin") && read.contains("emergency read recorded: confirmed"),
        "{read}"
    );
    let log = step(&["patient", "--role", "pharmacy", "log"]);
    assert!(
        log.contains("emergency read at Demo Hospital by Dr. Test: drill")
            && log.contains("Demo Pharmacy dispensed prescription 1")
            && log.contains("enrolled by Demo Insurer, with the card's consent"),
        "{log}"
    );
    let narrowed = step(&["reception", "check-in", "--scope", "read", "--days", "7"]);
    assert!(
        narrowed.contains("emergency read of your emergency data: Demo Hospital by Dr. Test"),
        "{narrowed}"
    );
    let consents = step(&["patient", "--role", "reception", "consents"]);
    assert!(
        consents.contains("Demo Hospital (hospital, ") && consents.contains("): read until"),
        "{consents}"
    );
    assert!(step(&["patient", "--role", "reception", "revoke-all"]).contains("confirmed"));
    assert!(step(&["patient", "--role", "reception", "consents"])
        .trim()
        .is_empty());
    Command::new("kill")
        .arg("-TERM")
        .arg(up.0.id().to_string())
        .status()
        .unwrap();
    assert!(up.0.wait().unwrap().success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn admin_commands_register_institutions_kiosks_and_escrow() {
    let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
    let admin = PrivateKeySigner::random();
    let hospital = PrivateKeySigner::random();
    let chain = Chain::connect(&devnet.url, GasPolicy::PAPER, vec![admin.clone()])
        .await
        .unwrap();
    for who in [admin.address(), hospital.address()] {
        chain
            .devnet_set_balance(who, U256::from(10u64).pow(U256::from(20)))
            .await
            .unwrap();
    }
    let dir = temp_dir("admin");
    let manifest = dir.join("local.json");
    let hex = |k: &PrivateKeySigner| alloy::hex::encode(k.to_bytes());
    let run = |args: &[&str], env: &[(&str, String)]| {
        let mut c = bin();
        c.args(args).arg("--manifest").arg(&manifest);
        for (k, v) in env {
            c.env(k, v);
        }
        let o = c.output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    run(
        &["deploy", "--rpc-url", &devnet.url],
        &[("CAREKIOSK_DEPLOYER_KEY", hex(&admin))],
    );
    let d = Deployment::load(&manifest).unwrap();
    let h = hospital.address().to_string();
    let out = run(
        &[
            "admin",
            "register-institution",
            "--role",
            "hospital",
            "--address",
            &h,
        ],
        &[("CAREKIOSK_ADMIN_KEY", hex(&admin))],
    );
    assert!(out.contains("registered as Hospital"), "{out}");
    // This machine's doctor kiosk key (OS keyring): offered by the hospital, accepted by the kiosk itself.
    let out = run(
        &["admin", "kiosk-address", "--role", "doctor", "--json"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let kiosk = v["kiosk"].as_str().unwrap().to_string();
    chain
        .devnet_set_balance(
            kiosk.parse().unwrap(),
            U256::from(10u64).pow(U256::from(20)),
        )
        .await
        .unwrap();
    run(
        &["admin", "add-kiosk", "--kiosk", &kiosk],
        &[("CAREKIOSK_INSTITUTION_KEY", hex(&hospital))],
    );
    let hub = chain.hub(&d);
    // The hospital publishes this machine's record key for its desks: others seal for the chain's key.
    let out = run(
        &["admin", "record-key", "--role", "doctor"],
        &[("CAREKIOSK_INSTITUTION_KEY", hex(&hospital))],
    );
    assert!(out.contains("record key published"), "{out}");
    assert_eq!(
        hub.recordKeyOf(hospital.address())
            .call()
            .await
            .unwrap()
            .len(),
        33
    );
    assert_eq!(
        hub.kioskOffer(kiosk.parse().unwrap()).call().await.unwrap(),
        hospital.address(),
        "an offer, not yet a kiosk"
    );
    assert_eq!(
        hub.kioskInstitution(kiosk.parse().unwrap())
            .call()
            .await
            .unwrap(),
        alloy::primitives::Address::ZERO
    );
    run(
        &[
            "admin",
            "accept-kiosk",
            "--role",
            "doctor",
            "--institution",
            &hospital.address().to_string(),
        ],
        &[],
    );
    assert_eq!(
        hub.kioskInstitution(kiosk.parse().unwrap())
            .call()
            .await
            .unwrap(),
        hospital.address()
    );
    run(
        &["admin", "remove-kiosk", "--kiosk", &kiosk],
        &[("CAREKIOSK_INSTITUTION_KEY", hex(&hospital))],
    );
    assert_eq!(
        hub.kioskInstitution(kiosk.parse().unwrap())
            .call()
            .await
            .unwrap(),
        alloy::primitives::Address::ZERO
    );
    // Escrow: an insurer is registered, the admin (the test token's minter) mints and funds it.
    let insurer = PrivateKeySigner::random().address();
    run(
        &[
            "admin",
            "register-institution",
            "--role",
            "insurer",
            "--address",
            &insurer.to_string(),
        ],
        &[("CAREKIOSK_ADMIN_KEY", hex(&admin))],
    );
    chain
        .send(
            admin.address(),
            chain
                .token(&d)
                .mint(admin.address(), U256::from(10u64).pow(U256::from(21))),
        )
        .await
        .unwrap();
    run(
        &[
            "admin",
            "fund-escrow",
            "--insurer",
            &insurer.to_string(),
            "--amount",
            "250",
        ],
        &[("CAREKIOSK_FUNDER_KEY", hex(&admin))],
    );
    let escrow = chain.insurance(&d).escrowOf(insurer).call().await.unwrap();
    assert_eq!(
        escrow,
        U256::from(250u64) * U256::from(10u64).pow(U256::from(18))
    );
    // A wrong role name is refused with the choices.
    let o = bin()
        .args([
            "admin",
            "register-institution",
            "--role",
            "clinic",
            "--address",
            &h,
            "--manifest",
        ])
        .arg(&manifest)
        .env("CAREKIOSK_ADMIN_KEY", hex(&admin))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("hospital, pharmacy or insurer"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// Kiosk mode's staff code: shown once by `admin staff-code`, kept only as a hash in the OS keyring (the app checks
/// a code against it); setting it again replaces the old one.
#[test]
fn a_staff_code_is_shown_once_and_a_new_one_replaces_it() {
    use carekiosk_kiosk::kiosk::staff_code_matches;
    use carekiosk_kiosk::KioskRole;
    let code = || {
        let out = bin()
            .args(["admin", "staff-code", "--role", "pharmacy", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["role"], "pharmacy");
        v["staffCode"].as_str().unwrap().to_string()
    };
    let first = code();
    assert_eq!(first.len(), 8);
    assert!(first.bytes().all(|b| b.is_ascii_digit()));
    assert!(staff_code_matches("local", KioskRole::Pharmacy, &first).unwrap());
    assert!(!staff_code_matches("local", KioskRole::Reception, &first).unwrap());
    let second = code();
    assert!(staff_code_matches("local", KioskRole::Pharmacy, &second).unwrap());
    if second != first {
        assert!(!staff_code_matches("local", KioskRole::Pharmacy, &first).unwrap());
    }
}
