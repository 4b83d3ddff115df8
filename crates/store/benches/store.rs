//! `cargo bench -p carekiosk-store`: prints how fast the screens' reads and the indexer's writes are on a real
//! encrypted file. Targets: a patient's 200 record headers in < 20 ms; 10,000 indexed events in < 5 s.
//! Exits non-zero if a target is missed.

use std::time::{Duration, Instant};

use carekiosk_store::*;

const KEY: [u8; 32] = [0x42; 32];
const CHAIN: u64 = 31337;
const CONTRACT: Address = [0xc0; 20];
const EVENTS: u64 = 10_000;
const BATCH: u64 = 500;

fn h32(a: u64, b: u64) -> B256 {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&a.to_be_bytes());
    h[8..16].copy_from_slice(&b.to_be_bytes());
    h[31] = 1;
    h
}

fn patient(n: u64) -> B256 {
    h32(0xfeed, n)
}

fn at(block: u64, log_index: u64) -> EventRef {
    EventRef {
        block,
        log_index,
        tx_hash: h32(block, log_index),
    }
}

fn record(p: B256, index: u64) -> RecordAdded {
    RecordAdded {
        patient_id: p,
        index,
        author: 1,
        kind: (index % 4) as u8,
        time: 1_700_000_000 + index,
        supersedes: None,
        content_hash: h32(index, 7),
        chain_hash: [index as u8; 20],
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// 10,000 events of every kind over 100 patients, one block per 10 events, in batches of 500 with the cursor.
fn index_events(store: &Store) -> Result<Duration> {
    let mut record_count = [0u64; 100];
    let (mut prescriptions, mut claims) = (0u64, 0u64);
    let started = Instant::now();
    let mut i = 0;
    while i < EVENTS {
        store.index_batch(|b| {
            for j in i..i + BATCH {
                let (block, log) = (j / 10, j % 10);
                let pn = j % 100;
                let p = patient(pn);
                match j % 8 {
                    0..=3 => {
                        b.record_added(&record(p, record_count[pn as usize]), &at(block, log))?;
                        record_count[pn as usize] += 1;
                    }
                    4 => {
                        prescriptions += 1;
                        b.prescription_issued(
                            &PrescriptionIssued {
                                id: prescriptions,
                                patient_id: p,
                                issuer: 1,
                                issued_at: 1_700_000_000 + j,
                                valid_until: 1_800_000_000,
                                content_hash: h32(j, 4),
                            },
                            &at(block, log),
                        )?;
                    }
                    5 => {
                        claims += 1;
                        b.claim_submitted(
                            &ClaimSubmitted {
                                id: claims,
                                patient_id: p,
                                hospital: [1; 20],
                                insurer: [2; 20],
                                claimed: Amount::from(u128::from(j) * 1_000_000),
                                content_hash: h32(j, 5),
                            },
                            &at(block, log),
                        )?;
                    }
                    6 => {
                        if claims % 2 == 0 {
                            b.claim_approved(claims, Amount::from(500u128), &at(block, log))?;
                        } else {
                            b.prescription_dispensed(prescriptions, 3, &at(block, log))?;
                        }
                    }
                    _ => b.consent_changed(
                        &ConsentChanged {
                            patient_id: p,
                            institution: [1; 20],
                            valid_until: 1_700_000_000 + j,
                            scope: 15,
                        },
                        &at(block, log),
                    )?,
                }
            }
            let last = (i + BATCH - 1) / 10;
            b.block_hash(CHAIN, last, &h32(last, 0))?;
            b.set_cursor(
                CHAIN,
                &CONTRACT,
                &Cursor {
                    block: last,
                    block_hash: h32(last, 0),
                },
            )
        })?;
        i += BATCH;
    }
    Ok(started.elapsed())
}

fn main() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = Store::open(&path, &KEY)?;

    let index_time = index_events(&store)?;

    // A patient with a 200-entry history, among the others.
    let hot = patient(0xbeef);
    store.index_batch(|b| {
        for i in 0..200 {
            b.record_added(&record(hot, i), &at(2000 + i / 10, i % 10))?;
        }
        Ok(())
    })?;
    drop(store);

    // Cold: a freshly opened store (page cache empty, every page decrypted on the way).
    let open_started = Instant::now();
    let store = Store::open(&path, &KEY)?;
    let open_time = open_started.elapsed();
    let cold_started = Instant::now();
    let headers = store.record_headers(&hot)?;
    let cold = cold_started.elapsed();
    assert_eq!(headers.len(), 200);

    let mut warm: Vec<Duration> = (0..200)
        .map(|_| {
            let t = Instant::now();
            let h = store.record_headers(&hot).expect("read");
            assert_eq!(h.len(), 200);
            t.elapsed()
        })
        .collect();
    warm.sort();

    let t = Instant::now();
    let open_rx = store.open_prescriptions(&patient(4), 1_750_000_000)?;
    let rx_time = t.elapsed();
    let t = Instant::now();
    let queue = store.insurer_queue(&[2; 20])?;
    let queue_time = t.elapsed();

    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("bench.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let rate = EVENTS as f64 / index_time.as_secs_f64();
    let read_ok =
        cold < Duration::from_millis(20) && percentile(&warm, 0.95) < Duration::from_millis(20);
    let index_ok = index_time < Duration::from_secs(5);
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };

    println!(
        "carekiosk-store benchmark (SQLCipher, WAL, synchronous=FULL, file {} KiB)",
        size / 1024
    );
    println!(
        "  index {EVENTS} events in batches of {BATCH}: {:.0} ms ({rate:.0} events/s)   target < 5000 ms: {}",
        ms(index_time),
        verdict(index_ok)
    );
    println!(
        "  open the store (key check, 2 connections): {:.2} ms",
        ms(open_time)
    );
    println!(
        "  a patient's 200 record headers: cold {:.3} ms, warm median {:.3} ms, p95 {:.3} ms, max {:.3} ms   \
         target < 20 ms: {}",
        ms(cold),
        ms(percentile(&warm, 0.5)),
        ms(percentile(&warm, 0.95)),
        ms(*warm.last().expect("samples")),
        verdict(read_ok)
    );
    println!(
        "  open prescriptions of a patient ({}): {:.3} ms",
        open_rx.len(),
        ms(rx_time)
    );
    println!(
        "  insurer queue ({} claims): {:.3} ms",
        queue.len(),
        ms(queue_time)
    );
    if !(read_ok && index_ok) {
        std::process::exit(1);
    }
    Ok(())
}
