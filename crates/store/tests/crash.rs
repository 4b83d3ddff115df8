//! Crash consistency: a child process (this test binary, re-run as `crash_child`) writes long transactions to the
//! database and is killed with SIGKILL many times, often while inside a transaction. Afterwards the file opens,
//! `PRAGMA integrity_check` is ok, and every transaction is there whole or not at all.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use carekiosk_store::{Address, Cursor, EventRef, OutboxState, RecordAdded, Store, B256};

const CHILD_ENV: &str = "CAREKIOSK_STORE_CRASH_CHILD";
const KEY: [u8; 32] = [0x17; 32];
const CHAIN: u64 = 31337;
const CONTRACT: Address = [0xc0; 20];
const PATIENT: B256 = [0x01; 32];
/// Rows per transaction: long enough that a kill lands inside one.
const ROWS_PER_TX: u64 = 2000;
const ROUNDS: u32 = 24;

fn block_hash(g: u64) -> B256 {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&g.to_be_bytes());
    h
}

const SENDER: Address = [0x5e; 20];

fn tx_hash(g: u64) -> B256 {
    let mut h = [0x7a; 32];
    h[..8].copy_from_slice(&g.to_be_bytes());
    h
}

/// Takes outbox entry `gen-g` through submitted and confirmed (each step its own transaction).
fn send(store: &Store, id: i64, g: u64) {
    let e = store.outbox_entry(id).unwrap().unwrap();
    if e.state == OutboxState::Queued {
        store.mark_submitted(id, &SENDER, &tx_hash(g), g).unwrap();
    }
    store.mark_confirmed(id, g).unwrap();
}

/// The child: transaction `g` writes rows `g*N .. (g+1)*N` at block `g` and moves the cursor to `g`, then an
/// outbox entry `gen-g` goes queued → submitted → confirmed; forever. It prints `MID g` from inside the big
/// transaction and `COMMITTED g` after it. On start it first finishes the outbox entries a kill left pending.
fn child(path: &Path) -> ! {
    let store = Store::open(path, &KEY).expect("child open");
    for e in store.pending().unwrap() {
        let g = e.payload["g"].as_u64().unwrap();
        send(&store, e.id, g);
    }
    let mut g = store
        .cursor(CHAIN, &CONTRACT)
        .unwrap()
        .map_or(0, |c| c.block + 1);
    let mut out = std::io::stdout();
    loop {
        store
            .index_batch(|b| {
                for i in 0..ROWS_PER_TX {
                    let index = g * ROWS_PER_TX + i;
                    b.record_added(
                        &RecordAdded {
                            patient_id: PATIENT,
                            index,
                            author: 1,
                            kind: 1,
                            time: index,
                            supersedes: None,
                            content_hash: [7; 32],
                            chain_hash: [8; 20],
                        },
                        &EventRef {
                            block: g,
                            log_index: i,
                            tx_hash: [9; 32],
                        },
                    )?;
                    if i == ROWS_PER_TX / 2 {
                        writeln!(out, "MID {g}").unwrap();
                        out.flush().unwrap();
                    }
                }
                b.set_cursor(
                    CHAIN,
                    &CONTRACT,
                    &Cursor {
                        block: g,
                        block_hash: block_hash(g),
                    },
                )
            })
            .expect("child batch");
        writeln!(out, "COMMITTED {g}").unwrap();
        out.flush().unwrap();
        let e = store
            .enqueue(&format!("gen-{g}"), "test", &serde_json::json!({ "g": g }))
            .unwrap()
            .entry;
        send(&store, e.id, g);
        g += 1;
    }
}

/// Entry point of the child process; does nothing in a normal test run.
#[test]
fn crash_child() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        child(Path::new(&path));
    }
}

#[test]
fn sigkill_mid_transaction_leaves_whole_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    drop(Store::open(&path, &KEY).unwrap());
    let exe = std::env::current_exe().unwrap();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut killed_mid_tx = 0;
    let mut last_committed: Option<u64> = None;
    for round in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Even rounds: kill as soon as the child says it is inside a transaction. Odd rounds: after a
        // pseudo-random delay (0–120 ms) following the first MID, wherever the child is then.
        let want_mids = 1 + round as usize % 3;
        let mut mids = 0;
        let started = Instant::now();
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(g) = line.strip_prefix("COMMITTED ") {
                last_committed = Some(g.parse().unwrap());
            }
            if line.starts_with("MID ") {
                mids += 1;
                if mids == want_mids {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "child made no progress"
            );
        }
        if round % 2 == 1 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            std::thread::sleep(Duration::from_millis(seed % 120));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Whatever the child managed to print before dying tells where it was.
        let mut inside = true;
        for line in lines {
            let line = line.unwrap();
            if let Some(g) = line.strip_prefix("COMMITTED ") {
                last_committed = Some(g.parse().unwrap());
                inside = false;
            }
            if line.starts_with("MID ") {
                inside = true;
            }
        }
        killed_mid_tx += usize::from(inside);
    }

    let store = Store::open(&path, &KEY).expect("the file opens after the kills");
    store.integrity_check().expect("integrity_check is ok");
    let cursor = store
        .cursor(CHAIN, &CONTRACT)
        .unwrap()
        .expect("some transaction committed");
    assert!(
        Some(cursor.block) >= last_committed,
        "a transaction reported committed is missing: cursor {} < {:?}",
        cursor.block,
        last_committed
    );
    assert_eq!(cursor.block_hash, block_hash(cursor.block));
    // Every committed transaction is whole, and nothing of the interrupted ones is visible.
    let headers = store.record_headers(&PATIENT).unwrap();
    assert_eq!(headers.len() as u64, (cursor.block + 1) * ROWS_PER_TX);
    for (i, h) in headers.iter().enumerate() {
        assert_eq!(h.index, i as u64);
        assert_eq!(h.block, i as u64 / ROWS_PER_TX);
    }
    // Every outbox entry is in a whole state: nothing half-written, no duplicates, at most the last one pending.
    let mut entries = 0u64;
    for g in 0..=cursor.block {
        let Some(e) = store.outbox_by_key(&format!("gen-{g}")).unwrap() else {
            continue; // killed between the batch and the enqueue
        };
        entries += 1;
        assert_eq!(e.payload["g"].as_u64(), Some(g));
        match e.state {
            OutboxState::Queued => {
                assert_eq!((e.tx_hash, e.nonce, e.attempts), (None, None, 0), "{e:?}")
            }
            OutboxState::Submitted => {
                assert_eq!(
                    (e.tx_hash, e.nonce, e.attempts, e.block),
                    (Some(tx_hash(g)), Some(g), 1, None),
                    "{e:?}"
                )
            }
            OutboxState::Confirmed => {
                assert_eq!(
                    (e.tx_hash, e.nonce, e.attempts, e.block),
                    (Some(tx_hash(g)), Some(g), 1, Some(g)),
                    "{e:?}"
                )
            }
            OutboxState::Failed => panic!("nothing fails here: {e:?}"),
        }
    }
    assert!(
        store.pending().unwrap().len() <= 1,
        "the child finishes pending entries on every start"
    );
    // Each kill can land at most once between a batch's commit and its enqueue.
    let missing = cursor.block + 1 - entries;
    assert!(
        missing <= u64::from(ROUNDS),
        "{missing} outbox entries went missing"
    );
    eprintln!(
        "crash test: {ROUNDS} SIGKILLs, {killed_mid_tx} inside a write transaction; {} transactions of \
         {ROWS_PER_TX} rows committed, all whole; {entries} outbox entries, all in a whole state \
         ({missing} generations killed before their enqueue)",
        cursor.block + 1
    );
    assert!(
        killed_mid_tx >= ROUNDS as usize / 2,
        "only {killed_mid_tx} of {ROUNDS} kills landed inside a transaction"
    );
}
