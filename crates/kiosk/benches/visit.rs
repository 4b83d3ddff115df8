//! The kiosk's figures on the local stack (real Anvil, real pcscd with the virtual card, real OS keyring, real
//! SQLite): check-in card-to-confirmed, opening a 200-entry history from the cache, indexing 10,000 events.
//!
//! Run inside a keyring session, with pcscd running (`scripts/pcscd.sh start`):
//! `scripts/with-keyring.sh cargo bench -p carekiosk-kiosk --bench visit` (release), or
//! `… cargo bench -p carekiosk-kiosk --bench visit --profile dev` (unoptimised, quicker to build).
//! `CAREKIOSK_BENCH_EVENTS` sets the number of events to index (10,000 by default). No assertion on timing.

use carekiosk_testkit::stack as common;

use std::time::{Duration, Instant};

use alloy::eips::eip2718::Encodable2718;
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::B256;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use carekiosk_card::Pin;
use carekiosk_kiosk::workflows::{doctor, reception};
use carekiosk_kiosk::{Kiosk, KioskRole, PatientSession, Submitted};
use carekiosk_records::Resource;
use common::{blank_card, registered, Stack, PIN};

const CHECKINS: usize = 50;
const HISTORY: usize = 200;
const HISTORY_RUNS: usize = 30;
const INDEX_RUNS: usize = 3;

struct Row {
    what: String,
    runs: usize,
    median: Duration,
    p95: Duration,
    target: &'static str,
    note: String,
}

fn row(what: &str, mut samples: Vec<Duration>, target: &'static str, note: String) -> Row {
    samples.sort();
    let pick =
        |q: f64| samples[((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1];
    Row {
        what: what.into(),
        runs: samples.len(),
        median: pick(0.5),
        p95: pick(0.95),
        target,
        note,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` lists benches: nothing to list here.
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rows = rt.block_on(run());
    let profile = if cfg!(debug_assertions) {
        "dev (unoptimised)"
    } else {
        "release"
    };
    println!();
    println!("carekiosk kiosk figures — local stack, build profile: {profile}");
    println!();
    println!("| measurement | runs | median | p95 | target | notes |");
    println!("|---|---:|---:|---:|---|---|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.what,
            r.runs,
            ms(r.median),
            ms(r.p95),
            r.target,
            r.note
        );
    }
}

async fn run() -> Vec<Row> {
    let mut rows = Vec::new();
    let st = Stack::new("bench").await;
    let (slot, sim) = blank_card();
    let (reception_kiosk, s) = registered(&st, &slot).await;
    let pid = s.patient_id();

    // 1. Check-in, card to confirmed: read the card, PIN + signature, submit, receipt, summary from the cache.
    let mut card = s.into_card();
    let mut samples = Vec::new();
    for i in 0..CHECKINS + 3 {
        let t = Instant::now();
        let mut s = PatientSession::start(card, Pin::new(PIN)).unwrap();
        let c = reception::check_in(&reception_kiosk, &mut s).await.unwrap();
        let took = t.elapsed();
        assert!(
            matches!(c.consent, Submitted::Confirmed { .. }),
            "{:?}",
            c.consent
        );
        assert!(c.patient.is_some());
        if i >= 3 {
            samples.push(took); // the first ones warm up (and fill the reception cache)
        }
        card = s.into_card();
    }
    rows.push(row(
        "check-in: card read, PIN, signature, submit, receipt, summary from cache",
        samples,
        "< 150 ms",
        "PatientSession::start + reception::check_in".into(),
    ));

    // 2. A 200-entry history from the doctor's cache.
    let doctor_kiosk = st.kiosk(KioskRole::Doctor).await;
    let mut s = PatientSession::start(card, Pin::new(PIN)).unwrap();
    let have = st
        .chain
        .records(&st.d)
        .recordCount(pid)
        .call()
        .await
        .unwrap()
        .to::<usize>();
    let t = Instant::now();
    for _ in have..HISTORY {
        let w = doctor::add_diagnosis(&doctor_kiosk, &mut s, "I10", None, &[])
            .await
            .unwrap();
        assert!(matches!(w[0], Submitted::Confirmed { .. }));
    }
    eprintln!("wrote {} records in {:?}", HISTORY - have, t.elapsed());
    let t = Instant::now();
    let first = doctor::history(&doctor_kiosk, &mut s).await.unwrap();
    let first_open = t.elapsed();
    assert_eq!(first.len(), HISTORY);
    let mut samples = Vec::new();
    for _ in 0..HISTORY_RUNS {
        let t = Instant::now();
        let h = doctor::history(&doctor_kiosk, &mut s).await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(h.len(), HISTORY);
    }
    rows.push(row(
        "doctor::history, 200 entries, all cached",
        samples,
        "< 20 ms",
        format!(
            "includes the patient check and an indexer sync (below); first open with the card's ECDH: {}",
            ms(first_open)
        ),
    ));
    let mut samples = Vec::new();
    for _ in 0..HISTORY_RUNS {
        let t = Instant::now();
        let h = from_cache(&doctor_kiosk, pid);
        samples.push(t.elapsed());
        assert_eq!(h, HISTORY);
    }
    rows.push(row(
        "  of which the cache itself (headers + decrypted cache + FHIR parse)",
        samples,
        "",
        "Store::record_headers, cache_get ×200, Resource::from_json ×200".into(),
    ));
    let mut samples = Vec::new();
    for _ in 0..HISTORY_RUNS {
        let t = Instant::now();
        let r = doctor_kiosk.indexer.sync().await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(r.events, 0);
    }
    rows.push(row(
        "  of which the indexer sync (nothing new)",
        samples,
        "",
        "block number, cursor hash check".into(),
    ));
    let hub = st.chain.hub(&st.d);
    let mut samples = Vec::new();
    for _ in 0..HISTORY_RUNS {
        let t = Instant::now();
        assert!(hub.getPatientInfo(pid).call().await.unwrap().registered);
        samples.push(t.elapsed());
    }
    rows.push(row(
        "  of which the patient check (one eth_call)",
        samples,
        "",
        "registered, current card".into(),
    ));

    // 3. Indexing 10,000 events: RecordAdded events from tiny records, mined ~hundreds per block.
    let events: usize = std::env::var("CAREKIOSK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let t = Instant::now();
    let blocks = generate_events(&st, pid, events).await;
    eprintln!(
        "generated {events} events in {blocks} blocks in {:?}",
        t.elapsed()
    );
    let mut samples = Vec::new();
    let mut indexed = 0;
    for run in 0..INDEX_RUNS {
        let mut config = st.config(KioskRole::Doctor);
        config.data_dir = st.dir.join(format!("index-{run}"));
        let keys = carekiosk_kiosk::kiosk::KioskKeys::load_or_generate("local", KioskRole::Doctor)
            .unwrap();
        let k = Kiosk::open_with(config, keys).await.unwrap();
        let t = Instant::now();
        let r = k.indexer.sync().await.unwrap();
        samples.push(t.elapsed());
        indexed = r.events;
        assert!(r.events >= events, "{r:?}");
    }
    let mut sorted = samples.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    rows.push(row(
        &format!("Indexer::sync of {indexed} events from an empty database"),
        samples,
        "< 5 s for 10,000",
        format!(
            "{:.0} events/s (median); {blocks} blocks of generated events",
            indexed as f64 / median.as_secs_f64()
        ),
    ));

    sim.stop();
    drop(slot);
    st.stop().await;
    rows
}

/// What `history` does once everything is cached, without the chain: headers, cached plaintext, FHIR parse.
fn from_cache(k: &Kiosk, pid: B256) -> usize {
    let mut n = 0;
    for h in k.store.record_headers(&pid.0).unwrap() {
        let c = k
            .store
            .cache_get(&pid.0, &h.content_hash)
            .unwrap()
            .expect("cached");
        let _ = Resource::from_json(&c.plaintext).unwrap();
        n += 1;
    }
    n
}

/// `n` small records for `pid` from the demo hospital's kiosk key, signed locally with consecutive nonces and
/// mined in full blocks (automine off meanwhile). Returns the number of blocks they took.
async fn generate_events(st: &Stack, pid: B256, n: usize) -> u64 {
    let signer = st.actors.hospital_kiosk.clone();
    let from = signer.address();
    let wallet = EthereumWallet::from(signer);
    let provider = st.chain.provider();
    let to = st.d.contracts.hospital_record;
    let records = st.chain.records(&st.d);
    let data = |i: usize| {
        // A sealed record's shape (the current version, a bucket size): what the contracts take.
        let mut payload = vec![0xC1; 512 + carekiosk_records::OVERHEAD];
        payload[0] = carekiosk_records::FORMAT_VERSION;
        payload[1..9].copy_from_slice(&(i as u64).to_be_bytes());
        records
            .addMedicalRecord(pid, payload.into())
            .calldata()
            .clone()
    };
    let gas = provider
        .estimate_gas(
            TransactionRequest::default()
                .with_from(from)
                .with_to(to)
                .with_input(data(0)),
        )
        .await
        .unwrap();
    let gas_price = st.chain.policy().fees(None).0.unwrap_or(2_000_000_000);
    let start = st.chain.nonce(from, true).await.unwrap();
    let first_block = st.chain.block_number().await.unwrap();
    let _: serde_json::Value = provider
        .raw_request("evm_setAutomine".into(), (false,))
        .await
        .unwrap();
    for i in 0..n {
        let req = TransactionRequest::default()
            .with_from(from)
            .with_to(to)
            .with_input(data(i))
            .with_nonce(start + i as u64)
            .with_chain_id(st.d.chain_id)
            .with_gas_limit(gas * 2)
            .with_gas_price(gas_price);
        let env = req.build(&wallet).await.unwrap();
        let _ = provider
            .send_raw_transaction(&env.encoded_2718())
            .await
            .unwrap();
    }
    let end = start + n as u64;
    while st.chain.nonce(from, false).await.unwrap() < end {
        let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    }
    let _: serde_json::Value = provider
        .raw_request("evm_setAutomine".into(), (true,))
        .await
        .unwrap();
    st.chain.block_number().await.unwrap() - first_block
}
