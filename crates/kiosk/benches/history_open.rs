//! The first open of a long history at the doctor's desk: card operations and time, with the history key
//! (one card ECDH opens the key grant, every record then opens locally) against the v1 design (one card ECDH
//! per record). Real Anvil, real pcscd with the virtual card, real keyring and SQLite.
//!
//! `scripts/with-keyring.sh cargo bench -p carekiosk-kiosk --bench history_open --profile dev`
//! (pcscd running; `CAREKIOSK_BENCH_SIZES=200,2000` by default). No assertion on timing: it prints figures.

use carekiosk_testkit::stack as common;

use std::time::{Duration, Instant};

use carekiosk_card::{P256PublicKey, PatientCard, Pin};
use carekiosk_kiosk::workflows::doctor;
use carekiosk_kiosk::{KioskRole, PatientSession};
use carekiosk_records::{icd10, Reference, Resource};
use common::{blank_card, registered, Stack, PIN};

/// Card ECDH time of real cards, as the issue states it (50–300 ms per operation on a YubiKey 5 or Nitrokey 3).
const REAL_CARD_MS: [f64; 2] = [50.0, 300.0];

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let sizes: Vec<usize> = std::env::var("CAREKIOSK_BENCH_SIZES")
        .unwrap_or_else(|_| "200,2000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        println!("| entries | card ops (history key) | card ops (v1: one per record) | first open, virtual card | card time at 50 / 300 ms per op: history key | v1 |");
        println!("|---|---|---|---|---|---|");
        for n in sizes {
            bench(n).await;
        }
    });
}

async fn bench(n: usize) {
    let st = Stack::new(&format!("history-{n}")).await;
    let (slot, sim) = blank_card();
    let (_reception, s) = registered(&st, &slot).await;
    let pid = s.patient_id();
    let h = s.history_public().unwrap();
    let writer = st.kiosk(KioskRole::Doctor).await;
    let hospital_key = writer.record_public_key();
    drop(writer);
    // n - 1 more records (the demographics are the first), sealed for the history key and the hospital, written
    // by the hospital's demo kiosk (which holds the patient's WRITE consent).
    let codes = icd10::all();
    for i in 1..n {
        let r: Resource = codes[i % codes.len()]
            .diagnosis(Reference::patient(&pid.0))
            .into();
        let sealed =
            carekiosk_records::seal(&r, pid.0, &[h.clone(), hospital_key.clone()]).unwrap();
        st.chain
            .send(
                st.actors.hospital_kiosk.address(),
                st.chain.records(&st.d).addMedicalRecord(pid, sealed.into()),
            )
            .await
            .unwrap();
    }
    // A new visit at a doctor's desk with an empty cache: the card, the PIN, the whole history.
    let mut config = st.config(KioskRole::Doctor);
    config.data_dir = st.dir.join(format!("fresh-{n}"));
    let k = carekiosk_kiosk::Kiosk::open(config).await.unwrap();
    k.indexer.sync().await.unwrap();
    let mut s = PatientSession::start(s.into_card(), Pin::new(PIN)).unwrap();
    let t = Instant::now();
    let history = doctor::history(&k, &mut s).await.unwrap();
    let open = t.elapsed();
    assert_eq!(history.len(), n);
    assert!(history.iter().all(|e| e.resource.is_some()));
    let ops = s.card_operations();
    // One card ECDH on the virtual card, for reference.
    let mut card = s.into_card();
    let peer = P256PublicKey::from_sec1(
        &carekiosk_records::SoftKey::generate()
            .public_key()
            .to_sec1_uncompressed(),
    )
    .unwrap();
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            card.ecdh(&Pin::new(PIN), &peer).unwrap();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let ecdh = samples[10];
    let secs = |ops: usize, ms: f64| format!("{:.1} s", ops as f64 * ms / 1e3);
    println!(
        "| {n} | {ops} | {n} | {:.0} ms (one virtual-card ECDH: {:.2} ms) | {} / {} | {} / {} |",
        open.as_secs_f64() * 1e3,
        ecdh.as_secs_f64() * 1e3,
        secs(ops, REAL_CARD_MS[0]),
        secs(ops, REAL_CARD_MS[1]),
        secs(n, REAL_CARD_MS[0]),
        secs(n, REAL_CARD_MS[1]),
    );
    drop(card);
    let _ = PatientCard::open(slot.name()).map(drop);
    sim.stop();
    drop(slot);
    st.stop().await;
}
