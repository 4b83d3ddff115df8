//! The kiosk app end to end: the real app binary in a real webview (WebKitGTK under WebDriver), on a real local
//! Anvil with the contracts deployed, the real pcscd with our virtual card, the real OS keyring, real SQLite
//! files. One test per role's main flow, asserting what the screen shows and what the chain holds; plus a card
//! pulled mid-visit and a node that stops. Run under `xvfb-run -a` and a Secret Service (scripts/test.sh does).

#[path = "../../crates/kiosk/tests/common/mod.rs"]
mod common;
mod harness;

use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::Provider;
use carekiosk_card::PatientCard;
use carekiosk_card_sim::{Sim, SimConfig};
use carekiosk_chain::deploy::TOKEN_UNIT;
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_kiosk::workflows::{doctor, insurer};
use carekiosk_kiosk::{KioskRole, PatientSession};
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
    ]
}

/// The app started as `role`, past its start screen.
async fn started(st: &Stack, role: KioskRole, reader: &str, shot: Option<&str>) -> App {
    let app = App::launch(&args(st, role, reader)).await;
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

    // Registered on chain; then the check-in shows the patient opened with their card.
    app.wait_text("#notice-text", "Registered").await;
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
    app.type_into("#diagnosis-note", "sore throat, 3 days")
        .await;
    app.set_value("#diagnosis-plan", "rest\nfluids").await;
    app.click("#diagnosis-save").await;
    app.wait_text("#history", "J06.9").await;
    app.wait_text("#history", "rest · fluids").await;
    app.type_into("#drug-search", "J01CA04").await;
    app.type_into("#rx-quantity", "20").await;
    app.click("#rx-issue").await;
    app.wait_text("#notice-text", "Prescription issued: Amoxicillin")
        .await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.screenshot("doctor").await;
    app.close().await;

    // On chain: demographics + diagnosis + care plan + prescription record, and one ready prescription.
    let records = st
        .chain
        .records(&st.d)
        .recordCount(pid)
        .call()
        .await
        .unwrap();
    assert_eq!(
        records,
        U256::from(3),
        "demographics, diagnosis and care plan in the record chain (the prescription is the pharmacy contract's)"
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
    assert_eq!(p.status, 1, "ready");
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pharmacy_dispenses_a_ready_prescription_once_with_a_receipt() {
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
        20.0,
        Some("1 capsule 3 times a day"),
        0,
    )
    .await
    .unwrap();
    drop(s.into_card());
    drop(doctor_kiosk);
    let app = started(&st, KioskRole::Pharmacy, slot.name(), None).await;
    app.enter_pin(PIN).await;

    // The prescription as the chain holds it: ready, with its issuer and expiry; dispense → receipt.
    app.wait_text("#rx-1-status", "ready").await;
    app.wait_text("#rx-1", "Amoxicillin").await;
    app.screenshot("pharmacy").await;
    app.click("#rx-1-dispense").await;
    app.wait_text("#receipt", "Amoxicillin").await;
    app.wait_text("#rx-1-status", "dispensed").await;
    app.wait_gone("#rx-1-dispense").await;
    app.wait_attr("#tx-state", "data-state", "confirmed").await;
    app.screenshot("pharmacy-receipt").await;
    app.close().await;

    let p = st
        .chain
        .pharmacy(&st.d)
        .getPrescription(U256::from(1))
        .call()
        .await
        .unwrap();
    assert_eq!(p.status, 2, "completed: dispensed exactly once");
    sim.stop();
    drop(slot);
    st.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_insurer_reviews_approves_and_pays_a_claim() {
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
    let claimed = U256::from(120u128 * TOKEN_UNIT);
    doctor::submit_claim(&doctor_kiosk, &mut s, condition, claimed, "EUR")
        .await
        .unwrap();
    drop(doctor_kiosk);
    drop(PatientSession::into_card(s));
    sim.stop();
    drop(slot);

    // The insurer's desk needs no card.
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
    app.wait_text("#cov-claimed", "120.00").await;
    app.wait_text("#cov-cap", "96.00").await;
    app.screenshot("insurer-review").await;
    app.click("#approve").await;
    app.wait_text("#review-status", "approved").await;
    app.click("#pay").await;
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
    assert_eq!(status.approved, claimed * U256::from(8) / U256::from(10));
    let paid = st
        .chain
        .token(&st.d)
        .balanceOf(st.actors.hospital.address())
        .call()
        .await
        .unwrap();
    assert_eq!(paid, status.approved, "the hospital was paid once");
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
