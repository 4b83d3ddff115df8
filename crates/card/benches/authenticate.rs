//! Figures for the patient card through the real pcscd and vpcd, with the virtual card: APDU round-trip time, and
//! the time to authenticate a patient (open the card = SELECT + application data, read name, patient object and
//! key, verify the PIN, sign a 32-byte digest, check the signature), as median and p95 over many runs.
//!
//! `cargo bench -p carekiosk-card --bench authenticate` (needs pcscd with vpcd, like the tests). Set
//! `CARD_BENCH_RUNS` to change the number of authentications (default 300).

use carekiosk_testkit::pcscd as support;

use std::time::{Duration, Instant};

use carekiosk_card::{PatientCard, Pin, Provisioning};
use carekiosk_card_sim::{Sim, SimConfig};

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p = |q: f64| ms(v[((v.len() as f64 - 1.0) * q).round() as usize]);
    (p(0.5), p(0.95), ms(*v.last().unwrap()))
}

fn row(what: &str, runs: usize, v: Vec<Duration>) -> f64 {
    let (med, p95, max) = stats(v);
    println!("{what:<58} {runs:>6} {med:>10.3} {p95:>10.3} {max:>10.3}");
    p95
}

fn apdu_rtt(reader: &str, runs: usize) -> Vec<Duration> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).unwrap();
    let name = std::ffi::CString::new(reader).unwrap();
    let card = ctx
        .connect(&name, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
        .unwrap();
    let select = [
        0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01,
    ];
    let get_aid = [0x00, 0xCA, 0x00, 0x4F, 0x00];
    let mut buf = [0u8; 300];
    assert_eq!(card.transmit(&select, &mut buf).unwrap(), [0x90, 0x00]);
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let r = card.transmit(&get_aid, &mut buf).unwrap();
            let d = t.elapsed();
            assert_eq!(&r[r.len() - 2..], [0x90, 0x00]);
            d
        })
        .collect()
}

fn main() {
    let runs: usize = std::env::var("CARD_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(300);
    let slot = support::reader();
    let reader = slot.name();

    println!("patient card through pcscd + vpcd, virtual card (carekiosk-card-sim in process)");
    println!(
        "{:<58} {:>6} {:>10} {:>10} {:>10}",
        "", "runs", "median ms", "p95 ms", "max ms"
    );

    // The delayed-ACK trap first: the card side without TCP_QUICKACK.
    {
        let mut cfg = SimConfig::in_memory(slot.port());
        cfg.quickack = false;
        let sim = Sim::start(cfg).unwrap();
        assert!(support::wait_card(reader, true, Duration::from_secs(5)));
        row(
            "APDU round trip (GET DATA 4F), card without TCP_QUICKACK",
            40,
            apdu_rtt(reader, 40),
        );
        sim.stop();
        assert!(support::wait_card(reader, false, Duration::from_secs(3)));
    }

    let sim = Sim::start(SimConfig::in_memory(slot.port())).unwrap();
    assert!(support::wait_card(reader, true, Duration::from_secs(5)));
    row(
        "APDU round trip (GET DATA 4F)",
        2000,
        apdu_rtt(reader, 2000),
    );

    let mut card = PatientCard::open(reader).unwrap();
    let (admin, pin) = (Pin::new("12345678"), Pin::new("246810"));
    let p = Provisioning {
        admin_pin: &admin,
        user_pin: &pin,
        new_admin_pin: None,
        reset_code: None,
        name: "Bench<<Patient",
        chain_id: 31337,
        overwrite: false,
    };
    let t = Instant::now();
    card.provision(&p, |k| k.x()).unwrap();
    let provision = t.elapsed();
    drop(card);

    let digest = [0x5Au8; 32];
    let apdus_before = sim.status().apdus;
    let mut open_auth = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let mut card = PatientCard::open(reader).unwrap();
        let a = card.authenticate(&Pin::new("246810"), &digest).unwrap();
        open_auth.push(t.elapsed());
        assert!(a.signature.verify(&a.info.signing_key, &digest));
    }
    let apdus_per_auth = (sim.status().apdus - apdus_before) as f64 / runs as f64;
    let p95 = row(
        "authenticate a patient (open+select, read, verify PIN, sign)",
        runs,
        open_auth,
    );

    let mut card = PatientCard::open(reader).unwrap();
    row(
        "  of which: read patient (card already open)",
        runs,
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                card.read().unwrap();
                t.elapsed()
            })
            .collect(),
    );
    row(
        "  of which: verify PIN + sign (card already open)",
        runs,
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                card.sign(&Pin::new("246810"), &digest).unwrap();
                t.elapsed()
            })
            .collect(),
    );
    println!(
        "{:<58} {:>6} {:>10.3}",
        "issue a blank card (2 keys generated on card)",
        1,
        provision.as_secs_f64() * 1e3
    );
    println!("APDUs per authentication: {apdus_per_auth:.1}");
    println!(
        "target: authenticate p95 < 20 ms: {}",
        if p95 < 20.0 { "met" } else { "NOT met" }
    );
    println!("(on hardware add the card's own signing time: see crates/card-sim/README.md)");
    drop(card);
    sim.stop();
}
