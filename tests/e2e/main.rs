//! The kiosk app end to end: the real app binary in a real webview (WebKitGTK under WebDriver), on a real local
//! Anvil with the contracts deployed, the real pcscd with our virtual card, the real OS keyring, real SQLite
//! files. One test per role's main flow, asserting what the screen shows and what the chain holds; the card's life
//! at reception (the issue letter, a blocked PIN unblocked with the reset code, a lost card replaced with the
//! recovery code) and a PIN changed at the desk; the patient in control (a narrowed consent, their view, revoke
//! all; the emergency set kept at a desk and read without a PIN); plus a card pulled mid-visit and a node that
//! stops. Run under `xvfb-run -a` and a Secret Service (scripts/test.sh does), holding `/tmp/carekiosk-vpcd.lock`
//! (the readers are shared with the other card tests).

use carekiosk_testkit::stack as common;
mod harness;
mod systemd;

use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use carekiosk_card::{CardError, PatientCard, Pin, PinKind};
use carekiosk_card_sim::{Sim, SimConfig};
use carekiosk_chain::deploy::TOKEN_UNIT;
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_kiosk::workflows::reception::{self, LetterSecrets};
use carekiosk_kiosk::workflows::{doctor, insurer};
use carekiosk_kiosk::{Kiosk, KioskRole, PatientSession};
use common::{blank_card, registered, Reader, Stack, BIRTH, NAME, PIN};
use harness::App;

/// One app at a time: they share the display, the readers and the two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn args(st: &Stack, role: KioskRole, reader: &str) -> Vec<String> {
    vec![
        "--role".into(),
        role.as_str().into(),
        "--manifest".into(),
        st.dir.join("local.json").display().to_string(),
        "--data-dir".into(),
        st.dir
            .join(format!("app-{}", role.as_str()))
            .display()
            .to_string(),
        "--reader".into(),
        reader.into(),
        "--letter-dir".into(),
        letters(st).display().to_string(),
        // An ordinary window: kiosk mode (reception's and the pharmacy's preset) has its own test.
        "--windowed".into(),
    ]
}

/// Where the app saves issue letters when asked.
fn letters(st: &Stack) -> std::path::PathBuf {
    st.dir.join("letters")
}

/// The letter files in the letter folder.
fn letter_files(st: &Stack) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(letters(st))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

/// The recovery key hash the hub keeps for a recovery secret.
fn recovery_hash(secret: &[u8; 32]) -> B256 {
    use carekiosk_records::KeyAgreement;
    B256::from(
        carekiosk_records::SoftKey::from_bytes(secret)
            .unwrap()
            .key_id(),
    )
}

/// A patient registered at reception (core API) onto the blank card in `slot`, with their letter's secrets.
async fn registered_with_letter(
    st: &Stack,
    slot: &Reader,
) -> (Kiosk, PatientSession, LetterSecrets) {
    let k = st.kiosk(KioskRole::Reception).await;
    let card = PatientCard::open(slot.name()).unwrap();
    let (s, letter) = reception::register_patient_with_letter(
        &k,
        card,
        reception::NewPatient {
            name: NAME.into(),
            birth_date: BIRTH.into(),
            gender: "female".into(),
            admin_pin: Pin::new(common::ADMIN_PIN),
            pin: Pin::new(PIN),
        },
    )
    .await
    .unwrap();
    (k, s, letter)
}

/// The app started as `role`, past its start screen.
async fn started(st: &Stack, role: KioskRole, reader: &str, shot: Option<&str>) -> App {
    started_with(st, &args(st, role, reader), shot).await
}

/// The app started with `args` and past its start screen.
async fn started_with(st: &Stack, args: &[String], shot: Option<&str>) -> App {
    let app = App::launch(args).await;
    app.find("#setup-start").await;
    app.wait_text("#setup-facts", &format!("{}", st.d.chain_id))
        .await;
    if let Some(name) = shot {
        app.screenshot(name).await;
    }
    app.click("#setup-start").await;
    app
}

/// A registered patient whose card is in `slot` (the session closed, the card left in the reader).
async fn patient_in_reader(st: &Stack, slot: &Reader) -> alloy::primitives::B256 {
    let (_k, s) = registered(st, slot).await;
    let pid = s.patient_id();
    drop(s.into_card());
    pid
}

/// A first run's set-up: a network profile file of its own (the local profile under another name, so this kiosk's
/// key is new), the stack's manifest, the set-up kept in the stack's folder. Returns the profile's name (its
/// keyring slot), the app's arguments (no role, no preset, no reader: what the package's unit starts it with; the
/// set-up picks the reader) and the set-up file.
fn first_run_place(st: &Stack) -> (String, Vec<String>, std::path::PathBuf) {
    let name = format!("firstrun-{}", std::process::id());
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../kiosk-config/profiles/local.toml"
        ),
        st.dir.join(format!("{name}.toml")),
    )
    .unwrap();
    let setup = st.dir.join("desk.toml");
    let args = vec![
        "--setup-file".into(),
        setup.display().to_string(),
        "--data-dir".into(),
        st.dir.join("app-firstrun").display().to_string(),
        "--windowed".into(),
    ];
    (name, args, setup)
}

/// Fills the first-run set-up for a pharmacy desk of the demo pharmacy on the profile file `name` and the stack's
/// manifest, with the card reader `slot` picked from those the machine has; returns the kiosk's address once the
/// key is made and the screen shows it (waiting for the offer).
async fn set_up_pharmacy_desk(
    app: &App,
    st: &Stack,
    name: &str,
    slot: &Reader,
    shot: bool,
) -> Address {
    app.find("#firstrun").await;
    // The readers pcscd has, listed by the set-up; this test's is picked.
    app.find(&format!("#firstrun-reader option[value='{}']", slot.name()))
        .await;
    app.set_value("#firstrun-reader", slot.name()).await;
    app.set_value("#firstrun-role", "pharmacy").await;
    app.set_value("#firstrun-profile", "file").await;
    let profile = st.dir.join(format!("{name}.toml"));
    app.type_into("#firstrun-profile-file", &profile.display().to_string())
        .await;
    let manifest = st.dir.join("local.json");
    app.type_into("#firstrun-manifest", &manifest.display().to_string())
        .await;
    app.click("#firstrun-load").await;
    app.wait_text("#firstrun-chain", &st.d.chain_id.to_string())
        .await;
    app.set_value(
        "#firstrun-institution",
        &st.actors.pharmacy.address().to_string(),
    )
    .await;
    if shot {
        app.screenshot("firstrun").await;
    }
    app.click("#firstrun-save").await;
    // The key is made and the set-up remembered; the kiosk shows its address (text and QR) and waits.
    let me = app
        .wait_text("#enrol-address", "0x")
        .await
        .trim()
        .parse()
        .unwrap();
    app.find("#enrol-qr").await;
    app.wait_attr("#enrolment", "data-state", "waiting").await;
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kiosk_is_set_up_on_its_first_run_enrolled_by_its_institution_and_remembered() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-firstrun").await;
    let slot = common::reader();
    let (name, a, setup) = first_run_place(&st);
    let app = App::launch(&a).await;
    let me = set_up_pharmacy_desk(&app, &st, &name, &slot, true).await;
    let pharmacy = st.actors.pharmacy.address();
    let saved =
        carekiosk_kiosk::KioskConfig::parse(&std::fs::read_to_string(&setup).unwrap(), "desk.toml")
            .unwrap();
    assert_eq!(saved.role, KioskRole::Pharmacy);
    assert_eq!(saved.reader, slot.name(), "the reader picked");
    assert_eq!(saved.institution, Some(pharmacy));
    assert_eq!(saved.manifest, st.dir.join("local.json"));
    assert_eq!(
        saved.profile,
        st.dir.join(format!("{name}.toml")).display().to_string()
    );
    // The administrator enrols it (`carekiosk admin add-kiosk`); without funds for fees it says so.
    let hub = st.chain.hub(&st.d);
    st.chain.send(pharmacy, hub.addKiosk(me)).await.unwrap();
    app.wait_attr("#enrolment", "data-state", "needs-gas").await;
    app.screenshot("firstrun-enrol").await;
    // Funded, it accepts the offer by itself and the desk opens.
    st.chain
        .devnet_set_balance(me, U256::from(10u64).pow(U256::from(18u64)))
        .await
        .unwrap();
    app.find("#setup-start").await;
    assert_eq!(hub.kioskInstitution(me).call().await.unwrap(), pharmacy);
    app.wait_text("#setup-facts", &me.to_string()).await;
    app.click("#setup-start").await;
    app.find("#insert").await;
    app.close().await;

    // Started again: remembered, the pharmacy's desk opens without the set-up.
    let app = App::launch(&a).await;
    app.find("#setup-start").await;
    app.wait_text("#setup-facts", &me.to_string()).await;
    // A staff action resets it: a wrong staff code is refused, the right one brings the set-up back.
    let code = carekiosk_kiosk::kiosk::set_staff_code(&name, KioskRole::Pharmacy).unwrap();
    app.click("#reset-open").await;
    app.type_into("#reset-code", "00000000").await;
    app.click("#reset-confirm").await;
    app.wait_text("#reset-error", "not this desk").await;
    assert!(setup.exists(), "a wrong code resets nothing");
    app.type_into("#reset-code", &code).await;
    app.click("#reset-confirm").await;
    app.find("#firstrun").await;
    assert!(!setup.exists(), "the set-up is forgotten");
    app.close().await;
    drop(slot);
    st.stop().await;
}

/// The Debian package as a hospital's IT installs it: its app (`/usr/bin/carekiosk-app`) set up on its first run,
/// and the kiosk enrolled with its CLI (`/usr/bin/carekiosk admin add-kiosk`). scripts/test.sh installs the package
/// it builds (dpkg) and then runs this test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the installed package: scripts/test.sh runs it after dpkg -i"]
async fn the_installed_package_sets_up_a_desk_enrolled_with_its_cli() {
    let (app_bin, cli) = ("/usr/bin/carekiosk-app", "/usr/bin/carekiosk");
    for bin in [app_bin, cli] {
        assert!(
            std::path::Path::new(bin).exists(),
            "{bin} is not installed: bash scripts/package.sh --debug, then dpkg -i the .deb it prints"
        );
    }
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-installed").await;
    let slot = common::reader();
    let (name, a, setup) = first_run_place(&st);
    let app = App::launch_binary(app_bin, &a).await;
    let me = set_up_pharmacy_desk(&app, &st, &name, &slot, false).await;
    assert!(setup.exists());
    // The pharmacy's administrator, with the installed CLI and the institution's key.
    let key = alloy::hex::encode(st.actors.pharmacy.to_bytes());
    let out = std::process::Command::new(cli)
        .args([
            "admin",
            "add-kiosk",
            "--kiosk",
            &me.to_string(),
            "--manifest",
        ])
        .arg(st.dir.join("local.json"))
        .arg("--profile")
        .arg(st.dir.join(format!("{name}.toml")))
        .env("CAREKIOSK_INSTITUTION_KEY", key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "carekiosk admin add-kiosk: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kiosk offered"));
    st.chain
        .devnet_set_balance(me, U256::from(10u64).pow(U256::from(18u64)))
        .await
        .unwrap();
    // The installed app takes the offer by itself and opens the desk.
    app.find("#setup-start").await;
    let hub = st.chain.hub(&st.d);
    assert_eq!(
        hub.kioskInstitution(me).call().await.unwrap(),
        st.actors.pharmacy.address()
    );
    app.click("#setup-start").await;
    app.find("#insert").await;
    app.close().await;
    drop(slot);
    st.stop().await;
}

/// Waits until the outbox entry under `key` in `store` is confirmed; returns its transaction.
async fn confirmed_entry(store: &carekiosk_store::Store, key: &str, within: Duration) -> B256 {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(e) = store.outbox_by_key(key).unwrap() {
            if e.state == carekiosk_store::OutboxState::Confirmed {
                return B256::from(e.tx_hash.unwrap());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{key} still {:?} after {within:?}: {e:?}",
                e.state
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The Debian package's systemd user unit, as a desktop session runs it (a user manager of the test's own): it
/// starts the installed app on the desk its `kiosk.env` names; a write the previous instance left in the outbox is
/// sent; killed, the app is started again by systemd, and a write the dead instance had recorded but not sent
/// is sent by the new one. scripts/test.sh runs it after installing the package (dpkg).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the installed package: scripts/test.sh runs it after dpkg -i"]
async fn the_installed_package_s_unit_starts_the_app_again_when_it_dies_and_its_outbox_resumes() {
    let unit = "/usr/lib/systemd/user/carekiosk.service";
    assert!(
        std::path::Path::new(unit).exists(),
        "{unit} is not installed: bash scripts/package.sh --debug, then dpkg -i the .deb it prints"
    );
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-unit").await;
    // The insurer's desk (no card reader), in the stack's folder, from the env file the unit reads.
    let config = st.config(KioskRole::Insurer);
    let manager = systemd::UserManager::start(&st.dir.join("session"));
    let env_dir = manager.home.join(".config/carekiosk");
    std::fs::create_dir_all(&env_dir).unwrap();
    std::fs::write(
        env_dir.join("kiosk.env"),
        format!(
            "CAREKIOSK_ROLE=insurer\nCAREKIOSK_MANIFEST={}\nCAREKIOSK_DATA_DIR={}\n",
            st.dir.join("local.json").display(),
            config.data_dir.display()
        ),
    )
    .unwrap();
    // What an earlier instance left: a write recorded, not sent.
    let k = st.kiosk(KioskRole::Insurer).await;
    let me = k.address;
    let before = st.chain.nonce(me, false).await.unwrap();
    let write = |tag: &str| carekiosk_kiosk::outbox::Call {
        to: Address::repeat_byte(0x5e),
        data: alloy::primitives::Bytes::from(format!("carekiosk-unit-{tag}").into_bytes()),
    };
    let store = k.store.clone();
    store
        .enqueue(
            "unit-left",
            "test",
            &serde_json::to_value(write("left")).unwrap(),
        )
        .unwrap();
    drop(k);
    let started = manager.systemctl(&["start", "carekiosk.service"]);
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let first = manager.wait_main_pid("carekiosk.service", None, Duration::from_secs(20));
    let tx = confirmed_entry(&store, "unit-left", Duration::from_secs(90)).await;
    let r = st.chain.receipt(tx).await.unwrap().expect("on chain");
    assert!(r.status());
    assert_eq!(r.from, me, "sent by the kiosk's key");
    // Frozen, a write recorded by it and not sent; then it dies (SIGKILL): systemd starts it again and the new
    // instance sends the write.
    let signal = |sig: &str, pid: u32| {
        assert!(std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success())
    };
    signal("-STOP", first);
    store
        .enqueue(
            "unit-dead",
            "test",
            &serde_json::to_value(write("dead")).unwrap(),
        )
        .unwrap();
    signal("-KILL", first);
    let second = manager.wait_main_pid("carekiosk.service", Some(first), Duration::from_secs(30));
    assert_ne!(second, first);
    let tx = confirmed_entry(&store, "unit-dead", Duration::from_secs(90)).await;
    let r = st.chain.receipt(tx).await.unwrap().expect("on chain");
    assert!(r.status());
    assert_eq!(r.from, me);
    // Each write once on chain: the kiosk's account sent exactly these two.
    assert_eq!(st.chain.nonce(me, false).await.unwrap(), before + 2);
    drop(manager);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kiosk_mode_desk_fills_the_screen_and_closes_only_with_the_staff_code() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-kiosk-mode").await;
    let slot = common::reader();
    // IT sets the desk's staff code (what `carekiosk admin staff-code --role reception` does).
    let code = carekiosk_kiosk::kiosk::set_staff_code("local", KioskRole::Reception).unwrap();
    let mut a = args(&st, KioskRole::Reception, slot.name());
    a.retain(|x| x != "--windowed");
    let app = App::launch(&a).await;
    app.find("#setup-start").await;
    // Full screen, no decorations: the window covers the whole screen.
    let rect = app.client.get_window_rect().await.unwrap();
    let screen = app
        .client
        .execute("return [screen.width, screen.height];", vec![])
        .await
        .unwrap();
    let (sw, sh) = (
        screen[0].as_f64().unwrap() as u64,
        screen[1].as_f64().unwrap() as u64,
    );
    assert!(
        rect.2 >= sw && rect.3 >= sh,
        "kiosk mode fills the screen: window {rect:?}, screen {sw}×{sh}"
    );
    // Ctrl+Alt+Q asks for the staff code; a wrong one is refused and the app stays.
    let keys = |k: &str| {
        use fantoccini::key::Key;
        format!(
            "{}{}{k}{}",
            char::from(Key::Control),
            char::from(Key::Alt),
            char::from(Key::Null)
        )
    };
    app.find("#setup-start")
        .await
        .send_keys(&keys("q"))
        .await
        .unwrap();
    app.type_into("#staff-code", "00000000").await;
    app.click("#staff-close").await;
    app.wait_text("#staff-close-error", "not this desk").await;
    app.find("#setup-start").await;
    let dir = st.dir.display().to_string();
    let alive = || {
        std::process::Command::new("pgrep")
            .args(["-f", &format!("carekiosk-app.*{dir}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    assert!(alive(), "a wrong staff code leaves the app running");
    // The right code closes it.
    app.type_into("#staff-code", &code).await;
    app.click("#staff-close").await;
    let gone = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if !alive() {
            break;
        }
        assert!(
            std::time::Instant::now() < gone,
            "the app closed with the staff code"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.close().await;
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reception_issues_a_blank_card_and_checks_the_patient_in() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-reception").await;
    let slot = common::reader();
    let app = started(&st, KioskRole::Reception, slot.name(), Some("setup")).await;

    // No card yet: the kiosk asks for one.
    app.wait_text("#insert h1", "Insert the patient card").await;
    app.wait_attr("#reader-state .reader", "data-state", "empty")
        .await;
    // Labelled for a screen reader: the main landmark is named by the screen's title; the text size starts at
    // the reception preset's 125 % and the control on screen changes it.
    app.wait_attr("main#screen", "aria-labelledby", "insert-title")
        .await;
    app.wait_attr("#text-size", "aria-labelledby", "text-size-label")
        .await;
    app.wait_attr("#text-size-150", "aria-label", "Text size 150 %")
        .await;
    app.wait_attr("html", "data-text-scale", "125").await;
    app.click("#text-size-150").await;
    app.wait_attr("html", "data-text-scale", "150").await;
    app.wait_attr("#text-size-150", "aria-pressed", "true")
        .await;
    app.click("#text-size-125").await;
    app.wait_attr("html", "data-text-scale", "125").await;
    app.screenshot("insert").await;

    // A blank card goes in: reception offers to issue it.
    let sim = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    assert!(
        common::support::wait_card(slot.name(), true, Duration::from_secs(10)),
        "the virtual card is in {}",
        slot.name()
    );
    app.find("#register-form").await;
    app.type_into("#reg-name", NAME).await;
    app.set_value("#reg-birth", BIRTH).await;
    app.set_value("#reg-gender", "female").await;
    app.type_into("#reg-admin-pin", common::ADMIN_PIN).await;
    app.type_into("#reg-pin", PIN).await;
    app.type_into("#reg-pin-again", PIN).await;
    app.screenshot("reception-register").await;
    app.click("#register").await;

    // Registered on chain; the issue letter comes first: its codes on screen, a PDF only when asked.
    app.wait_text("#notice-text", "Registered").await;
    app.wait_text("#letter-name", NAME).await;
    let reset_code = app.wait_text("#letter-reset-code", "").await;
    assert!(
        reset_code.len() == 8 && reset_code.bytes().all(|b| b.is_ascii_digit()),
        "{reset_code:?}"
    );
    let recovery =
        carekiosk_letter::parse_recovery_text(&app.wait_text("#letter-recovery", "-").await)
            .expect("the recovery code on screen reads back");
    assert!(app.displayed("#letter-qr").await);
    assert!(letter_files(&st).is_empty(), "nothing written unless asked");
    app.screenshot("reception-letter").await;
    app.click("#letter-save").await;
    app.wait_text("#letter-saved-text", "delete").await;
    let files = letter_files(&st);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(std::fs::read(&files[0]).unwrap().starts_with(b"%PDF-1.4"));
    app.click("#letter-delete").await;
    app.find("#letter-deleted").await;
    assert!(letter_files(&st).is_empty(), "deleted once printed");
    app.click("#letter-handed").await;
    app.click("#letter-done").await;

    // The letter leaves the screen; the check-in shows the patient opened with their card.
    app.find("#checkin").await;
    assert!(!app.page_text().await.contains(&reset_code));
    app.click("#checkin").await;
    let summary = app.wait_text("#checkin-summary", NAME).await;
    assert!(summary.contains(BIRTH), "{summary}");
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.screenshot("reception-checkin").await;
    app.close().await;

    // The chain holds the patient (their card's key) and this hospital's consent window.
    let mut card = PatientCard::open(slot.name()).unwrap();
    let pid = alloy::primitives::B256::from(card.read().unwrap().patient.patient_id);
    let hub = st.chain.hub(&st.d);
    assert!(hub.getPatientInfo(pid).call().await.unwrap().registered);
    assert_eq!(
        hub.patientOfRecovery(recovery_hash(&recovery))
            .call()
            .await
            .unwrap(),
        pid,
        "the letter on screen holds the patient's recovery key"
    );
    let consent = hub
        .consentOf(pid, st.actors.hospital.address())
        .call()
        .await
        .unwrap();
    assert!(
        consent.validUntil > carekiosk_kiosk::Kiosk::now(),
        "an open window"
    );
    drop(card);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_reads_the_history_diagnoses_and_prescribes() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-doctor").await;
    let (slot, sim) = blank_card();
    let pid = patient_in_reader(&st, &slot).await;
    let app = started(&st, KioskRole::Doctor, slot.name(), None).await;

    // The PIN pad: a wrong PIN shows the tries left, the right one opens the visit.
    app.find("#pin-pad").await;
    app.wait_text("#pin-tries", "3 tries left").await;
    app.enter_pin("111111").await;
    app.wait_text("#pin-message", "2 tries left").await;
    app.screenshot("pin").await;
    app.enter_pin(PIN).await;

    // The history, opened with the card: the demographics record shows the name.
    app.wait_text("#history", NAME).await;
    app.type_into("#icd10-search", "J06.9").await;
    // The type-ahead asks the shell (the full ICD-10-CM set) and picks the exact code.
    app.find("#icd10 option[value='J06.9']:checked").await;
    app.type_into("#diagnosis-note", "sore throat, 3 days")
        .await;
    app.set_value("#diagnosis-plan", "rest\nfluids").await;
    app.click("#diagnosis-save").await;
    app.wait_text("#history", "J06.9").await;
    app.wait_text("#history", "rest · fluids").await;

    // An allergy recorded: it shows in the allergies panel.
    app.wait_text("#allergies", "No allergies").await;
    app.type_into("#allergy-substance", "penicillin").await;
    app.type_into("#allergy-reaction", "hives").await;
    app.click("#allergy-high").await;
    app.click("#allergy-save").await;
    app.wait_text("#notice-text", "Allergy recorded").await;
    app.wait_text("#allergies", "penicillin").await;

    // Amoxicillin is a penicillin: the warning must be confirmed before the prescription is issued.
    app.type_into("#drug-search", "J01CA04").await;
    app.find("#drug option[value='J01CA04']:checked").await;
    app.type_into("#rx-quantity", "20").await;
    app.type_into("#rx-prescriber", "Dr. Anna Weber").await;
    app.click("#rx-token").await;
    app.click("#rx-issue").await;
    app.wait_text("#rx-warnings-list", "allergic to penicillin")
        .await;
    app.screenshot("doctor-warning").await;
    app.click("#rx-warnings-confirm").await;
    app.wait_text("#notice-text", "Prescription issued: Amoxicillin")
        .await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;

    // The token for a representative: written to a file to print, to be deleted once printed.
    app.wait_text("#print-warning", "prescription token").await;
    let path = std::path::PathBuf::from(app.wait_text("#print-path", ".pdf").await.trim());
    assert!(
        path.starts_with(st.dir.join("app-doctor").join("print")),
        "{path:?} in the kiosk's data folder"
    );
    assert!(std::fs::read(&path).unwrap().starts_with(b"%PDF"));
    app.screenshot("token").await;
    app.click("#print-delete").await;
    app.find("#print-deleted").await;
    assert!(!path.exists(), "deleted once printed");
    app.wait_text("#timeline-rx-1-status", "ready").await;
    app.find("#timeline-rx-1-cancel").await;
    app.screenshot("doctor").await;
    // The doctor cancels it from the timeline: cancelled on chain, the line says so and offers no cancel.
    app.click("#timeline-rx-1-cancel").await;
    app.wait_text("#timeline-rx-1-status", "cancelled").await;
    app.wait_gone("#timeline-rx-1-cancel").await;
    app.close().await;

    // On chain: demographics + diagnosis + care plan + prescription record, and one prescription, cancelled.
    let records = st
        .chain
        .records(&st.d)
        .recordCount(pid)
        .call()
        .await
        .unwrap();
    assert_eq!(
        records,
        U256::from(4),
        "demographics, diagnosis, care plan and allergy in the record chain (the prescription is the pharmacy contract's)"
    );
    let n = st
        .chain
        .pharmacy(&st.d)
        .prescriptionCount()
        .call()
        .await
        .unwrap();
    assert_eq!(n, U256::from(1), "one prescription issued");
    let p = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(p.status, 3, "cancelled from the timeline");
    assert_ne!(p.tokenKeyHash, B256::ZERO, "issued with a token");
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_finishes_a_consultation_in_one_transaction() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-consult").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    // The patient is insured, so the visit can be billed.
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    insurer::enroll(&insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT)
        .await
        .unwrap();
    let pid = s.patient_id();
    drop(s.into_card());
    let app = started(&st, KioskRole::Doctor, slot.name(), None).await;
    app.find("#pin-pad").await;
    app.enter_pin(PIN).await;
    app.wait_text("#history", NAME).await;

    // The diagnosis with its plan, a drug picked in the prescription form, the claim form's service: one click.
    app.type_into("#icd10-search", "J06.9").await;
    app.find("#icd10 option[value='J06.9']:checked").await;
    app.set_value("#diagnosis-plan", "rest\nfluids").await;
    app.type_into("#drug-search", "N02BE01").await;
    app.find("#drug option[value='N02BE01']:checked").await;
    app.find("#claim-item-0-service").await;
    let block_before = st.chain.block_number().await.unwrap();
    app.click("#consult-save").await;
    app.wait_text("#notice-text", "Consultation saved").await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.wait_text("#history", "J06.9").await;
    app.wait_text("#history", "rest · fluids").await;
    app.find("#hclaim-1").await;
    app.screenshot("doctor-consultation").await;
    app.close().await;

    // On chain: one transaction of the doctor's kiosk made the two records, the prescription and the claim.
    let sent = st.inputs_since(block_before).await;
    assert_eq!(sent.len(), 1, "one transaction for the consultation");
    assert_eq!(
        sent[0][..4],
        <carekiosk_chain::bindings::HospitalRecord::consultCall as alloy::sol_types::SolCall>::SELECTOR
    );
    let records = st
        .chain
        .records(&st.d)
        .recordCount(pid)
        .call()
        .await
        .unwrap();
    assert_eq!(records, U256::from(3), "demographics, diagnosis, care plan");
    let rx = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(
        rx.patientPrefix.0[..],
        pid.0[..12],
        "the prescription's patient"
    );
    let claim = st
        .chain
        .insurance(&st.d)
        .getClaim(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(
        claim.patientPrefix.0[..],
        pid.0[..12],
        "the claim's patient"
    );
    assert_eq!(claim.recordIndex, 1, "the claim bills the diagnosis");
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pharmacy_dispenses_half_then_the_rest_with_batches_and_receipts() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-pharmacy").await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let mut s = s;
    doctor::prescribe(
        &doctor_kiosk,
        &mut s,
        "J01CA04",
        40.0,
        Some("1 capsule 3 times a day"),
        0,
    )
    .await
    .unwrap();
    drop(s.into_card());
    drop(doctor_kiosk);
    let app = started(&st, KioskRole::Pharmacy, slot.name(), None).await;
    app.enter_pin(PIN).await;
    // What the pharmacy asks, preselected (read and dispense, 3 days); the card signs it.
    app.find("#consent-choice").await;
    app.click("#pharmacy-open").await;
    app.wait_text("#consent-signed", "read, dispense").await;

    // The prescription as the chain holds it: ready, with its issuer and expiry; dispense → receipt.
    app.wait_text("#rx-1-status", "ready").await;
    app.wait_text("#rx-1", "Amoxicillin").await;
    app.screenshot("pharmacy").await;
    // What remains is the default: 40. Half of it, from one batch.
    assert_eq!(
        app.find("#rx-1-qty")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("40")
    );
    app.type_into("#rx-1-qty", "20").await;
    app.type_into("#rx-1-batch", "LOT-2026-A").await;
    app.click("#rx-1-dispense").await;
    app.wait_text("#rx-1-status", "partly dispensed (50 %)")
        .await;
    app.wait_text("#receipt", "Amoxicillin").await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    let path = std::path::PathBuf::from(app.wait_text("#print-path", ".pdf").await.trim());
    assert!(std::fs::read(&path).unwrap().starts_with(b"%PDF"));
    app.screenshot("pharmacy-partial").await;
    app.click("#print-delete").await;
    app.find("#print-deleted").await;
    assert!(!path.exists());
    let p = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!((p.status, p.dispensedBps), (4, 5000), "partly dispensed");

    // The rest, from another batch.
    assert_eq!(
        app.find("#rx-1-qty")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("20")
    );
    app.type_into("#rx-1-batch", "LOT-2026-B").await;
    // The prescription allows substitution: the rest is a generic of the same substance.
    app.type_into("#rx-1-substitute", "Amoxicillin 500 mg generic")
        .await;
    app.click("#rx-1-dispense").await;
    app.wait_attr("#rx-1", "data-status", "dispensed").await;
    app.wait_text("#receipt", "generic").await;
    app.wait_gone("#rx-1-dispense").await;
    app.wait_text("#print-path", ".pdf").await;
    app.screenshot("pharmacy-receipt").await;
    app.close().await;

    let p = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(p.status, 2, "completed: both parts dispensed");
    assert_eq!(p.dispensedBps, 10_000);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insurer_decides_a_claim_item_by_item_and_the_hospital_sees_each_decision() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-insurer").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let insurer_kiosk = st.kiosk(KioskRole::Insurer).await;
    insurer::enroll(&insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT)
        .await
        .unwrap();
    drop(insurer_kiosk);
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    doctor::add_diagnosis(&doctor_kiosk, &mut s, "J06.9", None, &[])
        .await
        .unwrap();
    let condition = doctor::history(&doctor_kiosk, &mut s)
        .await
        .unwrap()
        .iter()
        .find(|e| matches!(e.resource, Some(carekiosk_records::Resource::Condition(_))))
        .map(|e| e.index)
        .unwrap();
    let token = U256::from(TOKEN_UNIT);
    doctor::submit_claim_items(
        &doctor_kiosk,
        &mut s,
        &doctor::ClaimRequest {
            record: condition,
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
        },
    )
    .await
    .unwrap();
    drop(doctor_kiosk);
    drop(PatientSession::into_card(s));

    // The insurer's desk needs no card: the claim's two items, each at net × 80 % by default.
    let app = started(
        &st,
        KioskRole::Insurer,
        "Virtual PCD",
        Some("setup-insurer"),
    )
    .await;
    app.wait_text("#claim-1-status", "submitted").await;
    app.click("#claim-1-open").await;
    app.wait_text("#cov-rate", "80 %").await;
    app.wait_text("#cov-claimed", "100.00 tUSD").await;
    app.wait_text("#cov-cap", "80.00").await;
    app.wait_text("#item-1", "CONS").await;
    app.wait_text("#item-2-net", "40.00 tUSD").await;
    assert_eq!(
        app.find("#item-1-benefit")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("48.00")
    );
    app.screenshot("insurer-review").await;
    // The consultation is paid (48), the ECG denied with a reason.
    app.type_into("#item-2-benefit", "0").await;
    app.type_into("#item-2-reason", "not covered by the policy")
        .await;
    app.screenshot("insurer-items").await;
    // Approved and paid in one transaction ("pay at once" is ticked: 48 is within the threshold).
    app.click("#decide").await;
    app.wait_text("#decided", "48.00 tUSD approved and paid")
        .await;
    app.wait_attr("#decided", "data-pending-second", "false")
        .await;
    app.wait_text("#review-status", "paid").await;
    app.wait_text("#claims-paid", "Claim #1").await;
    app.screenshot("insurer-paid").await;
    app.close().await;

    let status = st
        .chain
        .insurance(&st.d)
        .getClaimStatus(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(status.status, 4, "paid");
    assert_eq!(status.approved, U256::from(48) * token);
    let paid = st
        .chain
        .token(&st.d)
        .balanceOf(st.actors.hospital.address())
        .call()
        .await
        .unwrap();
    assert_eq!(paid, status.approved, "the hospital was paid once");

    // The hospital opens the insurer's decision, item by item, at the doctor's desk.
    let app = started(&st, KioskRole::Doctor, slot.name(), None).await;
    app.enter_pin(PIN).await;
    app.wait_text("#hclaim-1-status", "paid").await;
    app.wait_text("#hclaim-1-item-1", "paid 48.00 tUSD").await;
    let denied = app.wait_text("#hclaim-1-item-2", "paid 0.00 tUSD").await;
    assert!(denied.contains("not covered by the policy"), "{denied}");
    assert!(!app.page_text().await.contains("EUR"), "one currency");
    app.screenshot("doctor-claims").await;
    app.close().await;
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_the_card_closes_the_patient_on_screen_at_once() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-pull").await;
    let (slot, sim) = blank_card();
    patient_in_reader(&st, &slot).await;
    let app = started(&st, KioskRole::Doctor, slot.name(), None).await;
    app.enter_pin(PIN).await;
    app.wait_text("#history", NAME).await;
    app.wait_text("#patient-chip", NAME).await;

    sim.remove();
    app.wait_text("#insert h1", "Insert the patient card").await;
    app.wait_text("#notice-text", "card was removed").await;
    let page = app.page_text().await;
    assert!(
        !page.contains(NAME),
        "the patient's name is off the screen: {page}"
    );
    assert!(!page.contains(BIRTH));
    app.wait_gone("#patient-chip").await;
    app.screenshot("card-pulled").await;

    // Back in: the PIN again, not the data.
    sim.insert();
    app.find("#pin-pad").await;
    assert!(!app.page_text().await.contains(NAME));
    app.close().await;
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_shows_the_offline_banner_and_the_write_waits_in_the_outbox() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-offline").await;
    let (slot, sim) = blank_card();
    let pid = patient_in_reader(&st, &slot).await;
    let app = started(&st, KioskRole::Doctor, slot.name(), None).await;
    app.enter_pin(PIN).await;
    app.wait_text("#history", NAME).await;
    app.wait_attr("#outbox-count", "data-count", "0").await;

    // The node stops (its state saved, as `anvil --state` does).
    let port = st.devnet.port;
    let dump: alloy::primitives::Bytes = st
        .chain
        .provider()
        .raw_request("anvil_dumpState".into(), ())
        .await
        .unwrap();
    st.devnet.kill().await;
    app.wait_text("#offline-banner", "unreachable").await;
    app.wait_text("#network", "Node unreachable").await;

    // A diagnosis now is kept, shown as waiting.
    app.type_into("#icd10-search", "I10").await;
    app.find("#icd10 option[value='I10']:checked").await;
    app.click("#diagnosis-save").await;
    app.wait_attr("#tx-state", "data-state", "pending").await;
    app.wait_attr("#outbox-count", "data-count", "1").await;
    app.screenshot("offline").await;

    // The node comes back with its state: the app sends the write, once.
    let devnet = Devnet::start(DevnetOptions {
        port,
        ..Default::default()
    })
    .await
    .unwrap();
    let _: bool = st
        .chain
        .provider()
        .raw_request("anvil_loadState".into(), (dump,))
        .await
        .unwrap();
    app.wait_attr("#outbox-count", "data-count", "0").await;
    assert!(!app.displayed("#offline-banner").await);
    app.close().await;
    let records = st
        .chain
        .records(&st.d)
        .recordCount(pid)
        .call()
        .await
        .unwrap();
    assert_eq!(
        records,
        U256::from(2),
        "demographics + the diagnosis sent once"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        st.chain
            .records(&st.d)
            .recordCount(pid)
            .call()
            .await
            .unwrap(),
        U256::from(2)
    );
    sim.stop();
    drop(slot);
    devnet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reception_unblocks_a_blocked_pin_with_the_reset_code_and_the_pin_is_changed_at_the_desk() {
    const UNBLOCKED: &str = "902618";
    const CHANGED: &str = "735140";
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-unblock").await;
    let (slot, sim) = blank_card();
    let (_reception, s, letter) = registered_with_letter(&st, &slot).await;
    // Three wrong PINs block the card.
    let mut card = s.into_card();
    for _ in 0..3 {
        let _ = card.verify_pin(&Pin::new("111111"));
    }
    assert!(matches!(
        card.verify_pin(&Pin::new(PIN)),
        Err(CardError::Blocked { pin: PinKind::User })
    ));
    drop(card);

    let app = started(&st, KioskRole::Reception, slot.name(), None).await;
    // The blocked state leads to the unblock screen at reception.
    app.wait_text("#pin-blocked-text", "reset code").await;
    app.screenshot("pin-blocked").await;
    app.click("#unblock-start").await;

    // A wrong reset code: the tries left.
    app.find("#pin-pad[data-step='reset-code']").await;
    app.enter_pin("00000000").await;
    app.find("#pin-pad[data-step='new-pin']").await;
    app.enter_pin(UNBLOCKED).await;
    app.find("#pin-pad[data-step='new-pin-again']").await;
    app.enter_pin(UNBLOCKED).await;
    app.find("#pin-pad[data-step='reset-code']").await;
    app.wait_text("#pin-message", "Wrong reset code. 2 tries left")
        .await;
    app.screenshot("unblock").await;

    // The letter's reset code and the new PIN twice; then the new PIN opens the visit.
    app.enter_pin(letter.reset_code.expose_for_letter()).await;
    app.find("#pin-pad[data-step='new-pin']").await;
    app.enter_pin(UNBLOCKED).await;
    app.find("#pin-pad[data-step='new-pin-again']").await;
    app.enter_pin(UNBLOCKED).await;
    app.wait_text("#notice-text", "PIN unblocked").await;
    app.find("#pin-pad[data-step='pin']").await;
    app.wait_text("#pin-tries", "3 tries left").await;
    app.enter_pin(UNBLOCKED).await;
    app.click("#checkin").await;
    app.wait_text("#checkin-summary", NAME).await;

    // The patient changes the PIN at the desk (the old one is the visit's): the new one twice.
    app.click("#change-pin").await;
    app.find("#pin-pad[data-step='new-pin']").await;
    app.enter_pin(CHANGED).await;
    app.find("#pin-pad[data-step='new-pin-again']").await;
    app.screenshot("change-pin").await;
    app.enter_pin(CHANGED).await;
    app.wait_text("#notice-text", "PIN changed").await;
    assert!(
        app.displayed("#checkin-summary").await,
        "the visit is as it was"
    );
    app.close().await;

    // On the card: the changed PIN works, the earlier ones do not.
    let mut card = PatientCard::open(slot.name()).unwrap();
    assert!(matches!(
        card.verify_pin(&Pin::new(UNBLOCKED)),
        Err(CardError::WrongPin { .. })
    ));
    card.verify_pin(&Pin::new(CHANGED)).unwrap();
    assert_eq!(card.pin_tries().unwrap().user, 3);
    drop(card);
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reception_reports_a_lost_card_and_issues_the_replacement_with_the_recovery_code() {
    const NEW_PIN: &str = "551903";
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-replace").await;
    let slot = common::reader();
    let sim = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    assert!(common::support::wait_card(
        slot.name(),
        true,
        Duration::from_secs(10)
    ));
    let (_reception, s, letter) = registered_with_letter(&st, &slot).await;
    let pid = s.patient_id();
    let hub = st.chain.hub(&st.d);
    let old_key = hub.cardKeyOf(pid).call().await.unwrap();
    drop(s.into_card());
    // The card is lost.
    sim.stop();
    assert!(common::support::wait_card(
        slot.name(),
        false,
        Duration::from_secs(10)
    ));

    let app = started(&st, KioskRole::Reception, slot.name(), None).await;
    app.wait_text("#insert h1", "Insert the patient card").await;
    app.click("#lost-card").await;
    // The recovery code as a person types it (lower case, spaces), sent with Enter as a scanner does.
    let typed = carekiosk_letter::recovery_text(&letter.recovery_secret)
        .to_lowercase()
        .replace('-', " ");
    app.type_into("#recovery-code", &typed).await;
    app.screenshot("lost-card").await;
    app.find("#recovery-code")
        .await
        .send_keys("\u{e007}")
        .await
        .unwrap();
    app.wait_attr("#lost-tx", "data-state", "confirmed").await;
    assert!(hub.cardLost(pid).call().await.unwrap(), "reported on chain");
    app.screenshot("lost-reported").await;

    // The replacement: a second blank card in the reader, the name, the new PIN twice.
    app.click("#replace-start").await;
    app.find("#replace-insert").await;
    let sim2 = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    app.find("#replace-form").await;
    app.type_into("#rep-name", NAME).await;
    app.type_into("#rep-admin-pin", common::ADMIN_PIN).await;
    app.type_into("#rep-pin", NEW_PIN).await;
    app.type_into("#rep-pin-again", NEW_PIN).await;
    app.screenshot("replace-card").await;
    app.click("#replace").await;

    // The new letter: a new recovery code, the one the hub now holds.
    app.wait_text("#letter-name", NAME).await;
    let shown = app.wait_text("#letter-recovery", "-").await;
    let new_secret =
        carekiosk_letter::parse_recovery_text(&shown).expect("the new recovery code reads back");
    assert_ne!(new_secret, *letter.recovery_secret, "a new letter");
    assert_eq!(
        hub.patientOfRecovery(recovery_hash(&new_secret))
            .call()
            .await
            .unwrap(),
        pid
    );
    assert_eq!(
        hub.patientOfRecovery(recovery_hash(&letter.recovery_secret))
            .call()
            .await
            .unwrap(),
        B256::ZERO,
        "the old letter finds nobody"
    );
    app.find("#letter-replacement").await;
    app.screenshot("replacement-letter").await;
    app.click("#letter-handed").await;
    app.click("#letter-done").await;

    // Then the patient is checked in with the new card.
    app.wait_text("#checkin-summary", NAME).await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.wait_text("#patient-chip", NAME).await;
    app.screenshot("replacement-checkin").await;
    app.close().await;

    // On chain: the same patient on a new card key, no longer lost, with this hospital's consent on the new epoch.
    let new_key = hub.cardKeyOf(pid).call().await.unwrap();
    assert_ne!(new_key, old_key, "the card key changed");
    assert!(!hub.cardLost(pid).call().await.unwrap());
    let mut card = PatientCard::open(slot.name()).unwrap();
    let info = card.read().unwrap();
    assert_eq!(B256::from(info.patient.patient_id), pid);
    let key = &info.signing_key;
    assert_eq!(
        carekiosk_chain::eip712::key_hash(B256::from(key.x()), B256::from(key.y())),
        new_key,
        "the chain's card key is the new card's"
    );
    card.verify_pin(&Pin::new(NEW_PIN)).unwrap();
    let consent = hub
        .consentOf(pid, st.actors.hospital.address())
        .call()
        .await
        .unwrap();
    assert_eq!(consent.epoch, hub.epochOf(pid).call().await.unwrap());
    assert!(consent.validUntil > Kiosk::now());
    drop(card);
    sim2.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_patient_narrows_the_consent_at_check_in_and_revokes_all_in_their_view() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-consent").await;
    let (slot, sim) = blank_card();
    let pid = patient_in_reader(&st, &slot).await;
    let app = started(&st, KioskRole::Reception, slot.name(), None).await;
    app.enter_pin(PIN).await;

    // What the hospital asks, its default ticked (read, write, prescribe for 90 days); no dispense at a hospital.
    app.find("#consent-choice").await;
    for scope in ["read", "write", "prescribe"] {
        assert_eq!(
            app.find(&format!("#scope-{scope}"))
                .await
                .prop("checked")
                .await
                .unwrap()
                .as_deref(),
            Some("true"),
            "{scope} preselected"
        );
    }
    assert!(!app.displayed("#scope-dispense").await);
    // The patient allows reading only, for a week.
    app.click("#scope-write").await;
    app.click("#scope-prescribe").await;
    app.type_into("#consent-days", "7").await;
    app.screenshot("consent-choice").await;
    app.click("#checkin").await;
    app.wait_text("#checkin-summary", NAME).await;
    app.wait_attr("#consent-signed", "data-scope", "read").await;
    app.wait_text("#consent-signed", "read, until").await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    let hub = st.chain.hub(&st.d);
    let hospital = st.actors.hospital.address();
    let consent = hub.consentOf(pid, hospital).call().await.unwrap();
    assert_eq!(consent.scope, carekiosk_chain::bindings::scope::READ);
    assert_eq!(consent.validUntil - consent.signedAt, 7 * 86_400);

    // The patient's view: the hospital holds "read" only; the access log shows the consents given.
    app.click("#patient-view-open").await;
    app.wait_text("#consents", "Demo Hospital").await;
    app.wait_attr("#consent-0", "data-scope", "read").await;
    assert!(!app.displayed("#consent-1").await, "the hospital only");
    app.wait_text("#access-log-list", "consent to Demo Hospital: read until")
        .await;
    app.wait_text("#access-log-list", "registered at Demo Hospital")
        .await;
    app.screenshot("patient-view").await;

    // Revoke all, confirmed first: the list is asked again and is empty.
    app.click("#revoke-all").await;
    app.find("#revoke-all-yes").await;
    app.click("#revoke-all-yes").await;
    app.find("#consents-none").await;
    app.wait_text("#notice-text", "Every consent ended").await;
    app.wait_text("#access-log-list", "every consent ended")
        .await;
    assert!(
        hub.epochOf(pid).call().await.unwrap() > consent.epoch,
        "the patient's epoch moved on: every consent is void"
    );
    app.click("#patient-view-close").await;
    assert!(
        app.displayed("#checkin-summary").await,
        "the visit is as it was"
    );
    app.close().await;
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emergency_set_saved_at_the_doctor_is_read_without_a_pin_and_shown_at_check_in() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-emergency").await;
    let (slot, sim) = blank_card();
    let pid = patient_in_reader(&st, &slot).await;

    // The doctor keeps the patient's emergency set (card and PIN).
    let app = started(&st, KioskRole::Doctor, slot.name(), None).await;
    app.enter_pin(PIN).await;
    app.wait_text("#history", NAME).await;
    app.click("#emergency-edit-open").await;
    app.find("#emergency-form").await;
    app.wait_text(
        "#emergency-edit-intro",
        "An empty set removes it from the card",
    )
    .await;
    app.click("#em-allergy-add").await;
    app.type_into("#em-allergy-0", "penicillin").await;
    app.click("#em-allergy-0-high").await;
    app.set_value("#em-medications", "metformin 500 mg 1-0-1")
        .await;
    app.set_value("#em-conditions", "E11.9").await;
    app.set_value("#em-implants", "pacemaker").await;
    app.set_value("#em-blood", "A+").await;
    app.type_into("#em-contact-name", "Anna Roe (daughter)")
        .await;
    app.type_into("#em-contact-phone", "+49 170 1234567").await;
    app.screenshot("emergency-edit").await;
    app.click("#em-save").await;
    app.wait_text("#notice-text", "Emergency set saved").await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.close().await;

    // An emergency at reception: the card in the reader, no PIN typed.
    let app = started(&st, KioskRole::Reception, slot.name(), None).await;
    app.find("#pin-pad").await;
    app.click("#emergency-read-open").await;
    app.type_into("#em-clinician", "Dr. Weber").await;
    app.type_into("#em-reason", "unconscious, ER").await;
    app.click("#em-read").await;
    app.wait_text("#em-view-allergies", "penicillin").await;
    app.wait_text("#em-view-allergies", "high risk").await;
    app.wait_text("#em-view-blood", "A+").await;
    app.wait_text("#em-view-medications", "metformin").await;
    app.wait_text("#em-view-implants", "pacemaker").await;
    app.wait_text("#em-view-contact", "+49 170 1234567").await;
    app.wait_attr("#em-trace", "data-state", "confirmed").await;
    app.wait_text("#em-trace", "recorded").await;
    app.screenshot("emergency-read").await;

    // Back to the PIN pad: the patient checks in and sees who read their emergency data, and why.
    app.click("#emergency-read-done").await;
    app.enter_pin(PIN).await;
    app.click("#checkin").await;
    app.wait_text("#checkin-summary", NAME).await;
    let reads = app.wait_text("#emergency-reads", "Dr. Weber").await;
    assert!(reads.contains("Your emergency data was read"), "{reads}");
    assert!(reads.contains("Demo Hospital"), "{reads}");
    assert!(reads.contains("unconscious, ER"), "{reads}");
    app.click("#patient-view-open").await;
    app.wait_text(
        "#access-log-list",
        "emergency read at Demo Hospital by Dr. Weber",
    )
    .await;
    app.close().await;

    // The card carries the sealed set; the history holds it as a record.
    let mut card = PatientCard::open(slot.name()).unwrap();
    assert!(card.emergency_object().unwrap().is_some());
    drop(card);
    assert_eq!(
        st.chain
            .records(&st.d)
            .recordCount(pid)
            .call()
            .await
            .unwrap(),
        U256::from(2),
        "demographics and the emergency set"
    );
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_representative_collects_a_prescription_with_its_token_without_a_card() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-token").await;
    let (slot, sim) = blank_card();
    let (_reception, mut s) = registered(&st, &slot).await;
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let order = doctor::PrescriptionOrder {
        atc: "J01CA04".into(),
        quantity: 20.0,
        days: 0,
        prescriber: Some("Dr. Anna Weber".into()),
        substitution_allowed: true,
        token: true,
        ..Default::default()
    };
    let done = doctor::prescribe_order(&doctor_kiosk, &mut s, &order, &[])
        .await
        .unwrap();
    let token = carekiosk_letter::TokenRef {
        chain_id: st.d.chain_id,
        contract: st.d.contracts.pharmacy_access.into_array(),
        prescription_id: done.id.unwrap(),
        secret: **done.token_secret.as_ref().unwrap(),
    };
    drop(done);
    drop(doctor_kiosk);
    drop(s.into_card());
    // The patient's card stays at home.
    sim.stop();

    // The counter's printer: a real CUPS (private cupsd) whose printer writes each job to a folder.
    let cups = carekiosk_testkit::cups::Cups::start("e2e-token", "counter");
    let mut a = args(&st, KioskRole::Pharmacy, slot.name());
    a.extend([
        "--printer".into(),
        cups.printer.clone(),
        "--print-server".into(),
        cups.server.clone(),
    ]);
    let app = started_with(&st, &a, None).await;
    app.click("#token-desk-open").await;
    // A mistyped code is refused before the chain is asked.
    app.type_into("#token-id", "1").await;
    app.type_into("#token-code", "ABCD-EFGH").await;
    app.click("#token-check").await;
    app.wait_text("#notice-text", "prescription token was not read")
        .await;
    // The QR code scanned (a scanner types it): found, ready.
    app.type_into(
        "#token-payload",
        &carekiosk_letter::token_qr_payload(&token),
    )
    .await;
    app.click("#token-check").await;
    app.wait_text("#token-status", "ready").await;
    app.type_into("#token-product", "Amoxicillin 500 mg capsule")
        .await;
    app.type_into("#token-qty", "20").await;
    app.type_into("#token-batch", "LOT-2026-T").await;
    app.screenshot("pharmacy-token").await;
    app.click("#token-dispense").await;
    app.wait_text("#token-dispensed", "dispensed on the token")
        .await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    // The receipt goes to the counter's printer: the screen names the job, the printer printed that PDF, and
    // no file was written for it.
    let sent = app.wait_text("#print-sent", "counter-").await;
    let job = sent
        .split_whitespace()
        .find(|w| w.starts_with("counter-"))
        .map(|w| w.trim_end_matches(|c: char| !c.is_ascii_digit()))
        .unwrap()
        .to_owned();
    let printed = cups.wait_job(&job);
    assert!(printed.starts_with(b"%PDF"), "the receipt, as a PDF");
    assert_eq!(cups.printed().len(), 1, "printed once");
    assert!(
        !st.dir.join("app-pharmacy").join("print").exists(),
        "no file to delete"
    );
    app.close().await;

    let p = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(p.status, 2, "dispensed once, on the token");
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insurer_enrols_at_the_desk_and_a_large_approval_waits_for_a_second_workstation() {
    let _one = ONE_AT_A_TIME.lock().await;
    let st = Stack::new("e2e-four-eyes").await;
    let (slot, sim) = blank_card();
    let pid = patient_in_reader(&st, &slot).await;

    // Enrolment at the insurer's desk: the patient's card and PIN, 80 %, 5,000 a year.
    let app = started(&st, KioskRole::Insurer, slot.name(), None).await;
    app.click("#enrol-open").await;
    app.enter_pin(PIN).await;
    app.wait_text("#enrol-patient", NAME).await;
    app.type_into("#enrol-percent", "80").await;
    app.type_into("#enrol-limit", "5000").await;
    app.screenshot("insurer-enrol").await;
    app.click("#enrol-submit").await;
    app.wait_text("#enrol-done", "80 %").await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.close().await;
    let cov = st
        .chain
        .insurance(&st.d)
        .coverageOf(pid)
        .call()
        .await
        .unwrap();
    assert_eq!(cov.c.bps, 8000);

    // The insurer's four-eyes threshold is 50; a claim of 100 is approved at 80.
    let token = U256::from(TOKEN_UNIT);
    st.chain
        .send(
            st.actors.insurer.address(),
            st.chain
                .insurance(&st.d)
                .setApprovalThreshold(U256::from(50) * token),
        )
        .await
        .unwrap();
    let mut s =
        PatientSession::start(PatientCard::open(slot.name()).unwrap(), Pin::new(PIN)).unwrap();
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    doctor::add_diagnosis(&doctor_kiosk, &mut s, "I10", None, &[])
        .await
        .unwrap();
    let condition = doctor::history(&doctor_kiosk, &mut s)
        .await
        .unwrap()
        .iter()
        .find(|e| matches!(e.resource, Some(carekiosk_records::Resource::Condition(_))))
        .map(|e| e.index)
        .unwrap();
    doctor::submit_claim(&doctor_kiosk, &mut s, condition, U256::from(100) * token)
        .await
        .unwrap();
    drop(doctor_kiosk);
    drop(s.into_card());

    let app = started(&st, KioskRole::Insurer, slot.name(), None).await;
    app.click("#claim-1-open").await;
    app.wait_text("#item-1", "CONS").await;
    app.click("#decide").await;
    app.wait_text("#decided", "second reviewer at another workstation")
        .await;
    app.wait_attr("#decided", "data-pending-second", "true")
        .await;
    // This workstation cannot be the second reviewer.
    app.click("#claim-1-confirm").await;
    app.wait_text("#confirm-error", "another workstation").await;
    app.screenshot("insurer-four-eyes").await;
    app.close().await;
    let status = st
        .chain
        .insurance(&st.d)
        .getClaimStatus(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_ne!(status.status, 2, "not approved by one reviewer alone");
    assert_ne!(status.status, 4, "not paid");
    sim.stop();
    drop(slot);
    st.stop().await;
}
