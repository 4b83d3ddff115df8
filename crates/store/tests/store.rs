//! carekiosk-store against real SQLCipher files in temp dirs.

use std::path::Path;

use carekiosk_store::*;
use serde_json::json;

const KEY: [u8; 32] = [0x42; 32];
const CHAIN: u64 = 31337;
const CONTRACT: Address = [0xc0; 20];

fn patient(n: u8) -> B256 {
    [n; 32]
}
fn addr(n: u8) -> Address {
    [n; 20]
}
fn at(block: u64, log_index: u64) -> EventRef {
    EventRef {
        block,
        log_index,
        tx_hash: tx(block, log_index),
    }
}
fn tx(block: u64, log_index: u64) -> B256 {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&block.to_be_bytes());
    h[8..16].copy_from_slice(&log_index.to_be_bytes());
    h
}
fn bhash(block: u64) -> B256 {
    let mut h = [0xbb; 32];
    h[24..].copy_from_slice(&block.to_be_bytes());
    h
}
fn record(p: &B256, index: u64, supersedes: Option<u64>) -> RecordAdded {
    RecordAdded {
        patient_id: *p,
        index,
        author: 7,
        kind: 1,
        time: 1_700_000_000 + index % 1000,
        supersedes,
        content_hash: [index as u8; 32],
        chain_hash: [index as u8 ^ 0x55; 20],
    }
}

fn open(dir: &Path) -> Store {
    Store::open(dir.join("kiosk.db"), &KEY).expect("open")
}

/// Opens the file with a raw rusqlite connection and the test key (to poke at it from outside the API).
fn raw(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    let hex: String = KEY.iter().map(|b| format!("{b:02x}")).collect();
    c.execute_batch(&format!("PRAGMA key = \"x'{hex}'\";"))
        .unwrap();
    c
}

#[test]
fn migrates_an_empty_file_and_reopens_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    {
        let s = Store::open(&path, &KEY).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        s.index_batch(|b| b.record_added(&record(&patient(1), 0, None), &at(5, 0)))
            .unwrap();
        s.enqueue("k1", "grantConsent", &json!({"a": 1})).unwrap();
    }
    let s = Store::open(&path, &KEY).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(s.record_headers(&patient(1)).unwrap().len(), 1);
    assert_eq!(s.pending().unwrap().len(), 1);
    s.integrity_check().unwrap();
    let c = raw(&path);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let app: i64 = c
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app, 0x434b_494f);
}

#[test]
fn refuses_a_file_from_a_newer_build() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    drop(Store::open(&path, &KEY).unwrap());
    raw(&path)
        .execute_batch(&format!("PRAGMA user_version = {};", SCHEMA_VERSION + 1))
        .unwrap();
    let err = Store::open(&path, &KEY).unwrap_err();
    assert!(matches!(err, StoreError::NewerSchema { .. }), "{err}");
    assert!(err.to_string().contains("upgrade carekiosk"), "{err}");
}

#[test]
fn refuses_a_wrong_key_and_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kiosk.db");
    let s = Store::open(&path, &KEY).unwrap();
    s.enqueue("k", "x", &json!(1)).unwrap();
    drop(s);

    let err = Store::open(&path, &[0x43; 32]).unwrap_err();
    assert!(
        matches!(err, StoreError::WrongKeyOrForeign { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("wrong database key or not a carekiosk database"),
        "{err}"
    );
    // The failed attempt did not harm the file.
    assert_eq!(
        Store::open(&path, &KEY).unwrap().pending().unwrap().len(),
        1
    );

    // A plain (unencrypted) SQLite file.
    let plain = dir.path().join("plain.db");
    let c = rusqlite::Connection::open(&plain).unwrap();
    c.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(c);
    let err = Store::open(&plain, &KEY).unwrap_err();
    assert!(
        matches!(err, StoreError::WrongKeyOrForeign { .. }),
        "{err:?}"
    );

    // An encrypted SQLite file with the right key that is not ours.
    let foreign = dir.path().join("foreign.db");
    raw(&foreign).execute_batch("CREATE TABLE t (x);").unwrap();
    let err = Store::open(&foreign, &KEY).unwrap_err();
    assert!(
        matches!(err, StoreError::WrongKeyOrForeign { .. }),
        "{err:?}"
    );

    // Not a database at all.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&junk, &KEY).unwrap_err();
    assert!(
        matches!(err, StoreError::WrongKeyOrForeign { .. }),
        "{err:?}"
    );

    // A directory that does not exist.
    let err = Store::open(dir.path().join("missing/kiosk.db"), &KEY).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("directory exists"), "{err}");
}

fn files_contain(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[test]
fn no_plaintext_on_disk() {
    const MARKER: &[u8] = b"PLAINTEXT-MARKER-diabetes-type-2-E11.9";
    let dir = tempfile::tempdir().unwrap();

    // Control: the same writes through plain SQLite do show the marker, so the scan below can see it.
    let control_dir = tempfile::tempdir().unwrap();
    let c = rusqlite::Connection::open(control_dir.path().join("plain.db")).unwrap();
    c.execute("CREATE TABLE t (b BLOB)", []).unwrap();
    c.execute("INSERT INTO t VALUES (?1)", [MARKER]).unwrap();
    drop(c);
    assert!(
        !files_contain(control_dir.path(), MARKER).is_empty(),
        "control scan found nothing"
    );

    let s = open(dir.path());
    let marker = String::from_utf8(MARKER.to_vec()).unwrap();
    s.cache_put(&patient(1), &[9; 32], &addr(1), MARKER, 100)
        .unwrap();
    s.enqueue("key-1", "addMedicalRecord", &json!({ "note": marker }))
        .unwrap();
    let id = s.enqueue("key-2", "x", &json!(2)).unwrap().entry.id;
    s.mark_failed(id, &marker).unwrap();
    // Look while the data is only in the WAL, and again after a checkpoint moved it into the main file.
    assert_eq!(files_contain(dir.path(), MARKER), Vec::<String>::new());
    let (wal, db) = {
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        (
            names.iter().any(|n| n.ends_with("-wal")),
            names.iter().any(|n| n == "kiosk.db"),
        )
    };
    assert!(wal && db, "expected kiosk.db and its WAL");
    drop(s);
    let c = raw(&dir.path().join("kiosk.db"));
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(c);
    assert_eq!(files_contain(dir.path(), MARKER), Vec::<String>::new());
    // And the data is really there.
    let s = open(dir.path());
    assert_eq!(
        &s.cache_get(&patient(1), &[9; 32])
            .unwrap()
            .unwrap()
            .plaintext[..],
        MARKER
    );
    // Debug output never shows cached plaintext.
    let dbg = format!("{:?}", s.cache_get(&patient(1), &[9; 32]).unwrap());
    assert!(
        !dbg.contains("PLAINTEXT-MARKER") && dbg.contains("redacted"),
        "{dbg}"
    );
}

#[test]
fn record_headers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (p, q) = (patient(1), patient(2));
    s.index_batch(|b| {
        // Out of order, interleaved with another patient, and one amendment.
        for i in [3u64, 0, 2, 1] {
            b.record_added(&record(&p, i, None), &at(10 + i, 0))?;
            b.record_added(&record(&q, i, None), &at(10 + i, 1))?;
        }
        b.record_added(&record(&p, 4, Some(1)), &at(20, 0))?;
        // Re-applying an event is harmless.
        b.record_added(&record(&p, 4, Some(1)), &at(20, 0))
    })
    .unwrap();
    let h = s.record_headers(&p).unwrap();
    assert_eq!(
        h.iter().map(|r| r.index).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(h[4].supersedes, Some(1));
    assert_eq!(h[0].supersedes, None);
    assert_eq!(h[2].block, 12);
    assert_eq!(h[2].tx_hash, tx(12, 0));
    assert_eq!(h[2].chain_hash, [2 ^ 0x55; 20]);
    assert_eq!(s.record_count(&p).unwrap(), 5);
    assert_eq!(s.record_header(&q, 3).unwrap().unwrap().author, 7);
    assert_eq!(s.record_header(&q, 9).unwrap(), None);
    assert!(s.record_headers(&patient(3)).unwrap().is_empty());
}

fn issued(id: u64, p: &B256, valid_until: u64) -> PrescriptionIssued {
    PrescriptionIssued {
        id,
        patient_id: *p,
        issuer: 7,
        issued_at: 1000 + id,
        valid_until,
        content_hash: [id as u8; 32],
    }
}

#[test]
fn open_prescriptions_are_ready_and_unexpired() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (p, q) = (patient(1), patient(2));
    s.index_batch(|b| {
        b.prescription_issued(&issued(1, &p, 5000), &at(1, 0))?; // open
        b.prescription_issued(&issued(2, &p, 1500), &at(1, 1))?; // expired at 2000
        b.prescription_issued(&issued(3, &p, 5000), &at(2, 0))?; // dispensed
        b.prescription_issued(&issued(4, &p, 5000), &at(2, 1))?; // cancelled
        b.prescription_issued(&issued(5, &q, 5000), &at(2, 2))?; // another patient
        b.prescription_issued(&issued(6, &p, 2000), &at(2, 3))?; // valid until exactly now: still open
        assert!(b.prescription_dispensed(3, 9, &at(3, 0))?);
        assert!(b.prescription_cancelled(4, &at(3, 1))?);
        assert!(
            !b.prescription_dispensed(99, 9, &at(3, 2))?,
            "unknown id changes nothing"
        );
        // Re-indexing the issue event must not reopen a dispensed prescription.
        b.prescription_issued(&issued(3, &p, 5000), &at(2, 0))
    })
    .unwrap();
    let open = s.open_prescriptions(&p, 2000).unwrap();
    assert_eq!(open.iter().map(|x| x.id).collect::<Vec<_>>(), [1, 6]);
    assert!(open.iter().all(|x| x.is_open(2000)));
    assert_eq!(s.open_prescriptions(&p, 2001).unwrap().len(), 1);
    let d = s.prescription(3).unwrap().unwrap();
    assert_eq!(d.status, PrescriptionStatus::Completed);
    assert_eq!(d.dispensed_by, Some(9));
    assert_eq!(d.closed_in, Some((3, tx(3, 0))));
    assert_eq!(
        s.prescription(4).unwrap().unwrap().status,
        PrescriptionStatus::Cancelled
    );
    assert_eq!(s.prescriptions_of(&p).unwrap().len(), 5);
    assert_eq!(s.prescription(99).unwrap(), None);
}

fn submitted(id: u64, p: &B256, hospital: u8, insurer: u8, claimed: u128) -> ClaimSubmitted {
    ClaimSubmitted {
        id,
        patient_id: *p,
        hospital: addr(hospital),
        insurer: addr(insurer),
        claimed: Amount::from(claimed),
        content_hash: [id as u8; 32],
    }
}

#[test]
fn insurer_queue_and_paid_claims() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = patient(1);
    let big = Amount::from_be_bytes([0xff; 32]);
    s.index_batch(|b| {
        b.claim_submitted(&submitted(1, &p, 1, 10, 500), &at(1, 0))?;
        b.claim_submitted(&submitted(2, &p, 1, 10, 700), &at(1, 1))?;
        b.claim_submitted(&submitted(3, &p, 2, 10, 900), &at(1, 2))?;
        b.claim_submitted(&submitted(4, &p, 1, 11, 100), &at(1, 3))?; // another insurer
        b.claim_submitted(
            &ClaimSubmitted {
                claimed: big,
                ..submitted(5, &p, 1, 10, 0)
            },
            &at(1, 4),
        )?;
        assert!(b.claim_approved(2, Amount::from(560u128), &at(2, 0))?);
        assert!(b.claim_paid(2, Amount::from(560u128), &at(3, 0))?);
        assert!(b.claim_denied(3, 4, &at(2, 1))?);
        Ok(())
    })
    .unwrap();
    let queue = s.insurer_queue(&addr(10)).unwrap();
    assert_eq!(queue.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 5]);
    assert_eq!(queue[1].claimed, big, "256-bit amounts survive");
    let paid = s.paid_claims(&addr(10)).unwrap();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0].approved.to_u128(), Some(560));
    assert_eq!(paid[0].paid_in, Some((3, tx(3, 0))));
    assert_eq!(paid[0].decided_in, Some((2, tx(2, 0))));
    let denied = s.claim(3).unwrap().unwrap();
    assert_eq!(
        (denied.status, denied.reason_code),
        (ClaimStatus::Denied, Some(4))
    );
    assert_eq!(s.insurer_queue(&addr(11)).unwrap().len(), 1);
    assert_eq!(
        s.claims_for_hospital(&addr(1), ClaimStatus::Submitted)
            .unwrap()
            .len(),
        3
    );
    assert_eq!(s.claims_of_patient(&p).unwrap().len(), 5);
}

fn consent(p: &B256, inst: u8, valid_until: u64) -> ConsentChanged {
    ConsentChanged {
        patient_id: *p,
        institution: addr(inst),
        valid_until,
        scope: if valid_until == 0 { 0 } else { 15 },
    }
}

#[test]
fn consents_follow_the_latest_event() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = patient(1);
    s.index_batch(|b| {
        b.consent_changed(&consent(&p, 1, 1000), &at(5, 0))?;
        b.consent_changed(&consent(&p, 1, 3000), &at(6, 2))?;
        // An older event applied late does not win.
        b.consent_changed(&consent(&p, 1, 2000), &at(6, 1))?;
        b.consent_changed(&consent(&p, 2, 4000), &at(6, 3))?;
        b.consent_changed(&consent(&p, 2, 0), &at(7, 0)) // revoked
    })
    .unwrap();
    let c = s.consent(&p, &addr(1)).unwrap().unwrap();
    assert_eq!((c.valid_until, c.block), (3000, 6));
    assert!(c.is_active(3000) && !c.is_active(3001));
    let r = s.consent(&p, &addr(2)).unwrap().unwrap();
    assert!(!r.is_active(0));
    assert_eq!(s.consents_of(&p).unwrap().len(), 2);
    assert_eq!(s.consent(&p, &addr(3)).unwrap(), None);
}

#[test]
fn purge_removes_plaintext_when_the_consent_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let (me, other) = (addr(1), addr(2));
    let (a, b, c, d) = (patient(1), patient(2), patient(3), patient(4));
    s.index_batch(|x| {
        x.consent_changed(&consent(&a, 1, 1000), &at(1, 0))?; // ends at 1000
        x.consent_changed(&consent(&b, 1, 5000), &at(1, 1))?; // still open
        x.consent_changed(&consent(&c, 1, 5000), &at(1, 2))?;
        x.consent_changed(&consent(&c, 1, 0), &at(2, 0))?; // revoked
        x.consent_changed(&consent(&a, 2, 9000), &at(1, 3)) // another institution's consent does not count
    })
    .unwrap();
    for (p, h) in [(a, 1u8), (a, 2), (b, 3), (c, 4), (d, 5)] {
        s.cache_put(&p, &[h; 32], &me, b"plain", 10).unwrap();
    }
    s.cache_put(&a, &[6; 32], &other, b"plain", 10).unwrap(); // decrypted under the other institution's consent
    assert_eq!(
        s.purge_expired_consents(999).unwrap(),
        2,
        "revoked c and never-consented d"
    );
    assert_eq!(s.cached_for_patient(&a).unwrap().len(), 3);
    assert_eq!(
        s.purge_expired_consents(1000).unwrap(),
        0,
        "the window includes its last second"
    );
    assert_eq!(s.purge_expired_consents(1001).unwrap(), 2);
    assert!(s.cache_get(&a, &[1; 32]).unwrap().is_none());
    assert!(
        s.cache_get(&a, &[6; 32]).unwrap().is_some(),
        "the other institution's consent is open"
    );
    assert!(s.cache_get(&b, &[3; 32]).unwrap().is_some());
    assert_eq!(s.purge_patient_cache(&b).unwrap(), 1);
}

#[test]
fn rewind_undoes_everything_after_the_fork() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = patient(1);
    s.index_batch(|b| {
        for i in 0..4 {
            b.record_added(&record(&p, i, None), &at(10 + i, 0))?; // blocks 10..13
        }
        b.prescription_issued(&issued(1, &p, 9999), &at(10, 1))?;
        b.prescription_dispensed(1, 9, &at(12, 1))?; // after the fork: reopens
        b.prescription_issued(&issued(2, &p, 9999), &at(12, 2))?; // after: deleted
        b.prescription_issued(&issued(3, &p, 9999), &at(10, 2))?;
        b.prescription_cancelled(3, &at(11, 1))?; // before: stays
        b.claim_submitted(&submitted(1, &p, 1, 10, 500), &at(10, 3))?;
        b.claim_approved(1, Amount::from(400u128), &at(11, 2))?; // before: stays approved
        b.claim_paid(1, Amount::from(400u128), &at(12, 3))?; // after: back to approved
        b.claim_submitted(&submitted(2, &p, 1, 10, 500), &at(10, 4))?;
        b.claim_denied(2, 3, &at(13, 1))?; // after: back to submitted
        b.claim_submitted(&submitted(3, &p, 1, 10, 500), &at(12, 4))?; // after: deleted
        b.consent_changed(&consent(&p, 1, 1000), &at(10, 5))?;
        b.consent_changed(&consent(&p, 1, 2000), &at(12, 5))?; // after: back to 1000
        b.consent_changed(&consent(&p, 2, 3000), &at(13, 5))?; // after: gone
        for n in 10..=13 {
            b.block_hash(CHAIN, n, &bhash(n))?;
        }
        b.set_cursor(
            CHAIN,
            &CONTRACT,
            &Cursor {
                block: 13,
                block_hash: bhash(13),
            },
        )
    })
    .unwrap();
    let early = s.enqueue("early", "x", &json!(1)).unwrap().entry.id;
    let late = s.enqueue("late", "x", &json!(2)).unwrap().entry.id;
    s.mark_submitted(early, &addr(1), &tx(11, 9), 0).unwrap();
    s.mark_confirmed(early, 11).unwrap();
    s.mark_submitted(late, &addr(1), &tx(12, 9), 1).unwrap();
    s.mark_confirmed(late, 12).unwrap();

    let report = s.rewind_to(11, &bhash(11)).unwrap();
    assert_eq!(
        report,
        RewindReport {
            records_deleted: 2,
            prescriptions_deleted: 1,
            prescriptions_reopened: 1,
            claims_deleted: 1,
            claims_reverted: 2,
            consent_events_deleted: 2,
            outbox_unconfirmed: 1,
        }
    );
    assert_eq!(s.record_count(&p).unwrap(), 2);
    let p1 = s.prescription(1).unwrap().unwrap();
    assert_eq!(
        (p1.status, p1.dispensed_by, p1.closed_in),
        (PrescriptionStatus::Ready, None, None)
    );
    assert_eq!(s.prescription(2).unwrap(), None);
    assert_eq!(
        s.prescription(3).unwrap().unwrap().status,
        PrescriptionStatus::Cancelled
    );
    let c1 = s.claim(1).unwrap().unwrap();
    assert_eq!(
        (c1.status, c1.approved.to_u128(), c1.paid_in),
        (ClaimStatus::Approved, Some(400), None)
    );
    let c2 = s.claim(2).unwrap().unwrap();
    assert_eq!(
        (c2.status, c2.reason_code, c2.decided_in),
        (ClaimStatus::Submitted, None, None)
    );
    assert_eq!(s.claim(3).unwrap(), None);
    assert_eq!(s.consent(&p, &addr(1)).unwrap().unwrap().valid_until, 1000);
    assert_eq!(s.consent(&p, &addr(2)).unwrap(), None);
    assert_eq!(
        s.outbox_entry(early).unwrap().unwrap().state,
        OutboxState::Confirmed
    );
    let l = s.outbox_entry(late).unwrap().unwrap();
    assert_eq!(
        (l.state, l.block, l.tx_hash),
        (OutboxState::Submitted, None, Some(tx(12, 9)))
    );
    assert_eq!(
        s.cursor(CHAIN, &CONTRACT).unwrap(),
        Some(Cursor {
            block: 11,
            block_hash: bhash(11)
        })
    );
    assert_eq!(s.block_hash(CHAIN, 11).unwrap(), Some(bhash(11)));
    assert_eq!(s.block_hash(CHAIN, 12).unwrap(), None);

    // Re-indexing the new branch works from there.
    s.index_batch(|b| {
        b.record_added(&record(&p, 2, None), &at(12, 0))?;
        b.set_cursor(
            CHAIN,
            &CONTRACT,
            &Cursor {
                block: 12,
                block_hash: [0xee; 32],
            },
        )
    })
    .unwrap();
    assert_eq!(s.record_count(&p).unwrap(), 3);
    assert_eq!(s.prune_block_hashes(CHAIN, 11).unwrap(), 1);
    s.integrity_check().unwrap();
}

#[test]
fn cursor_binds_the_file_to_one_chain_and_batches_are_atomic() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.cursor(CHAIN, &CONTRACT).unwrap(), None);
    assert_eq!(s.chain_id().unwrap(), None);
    let cur = Cursor {
        block: 7,
        block_hash: bhash(7),
    };
    s.index_batch(|b| b.set_cursor(CHAIN, &CONTRACT, &cur))
        .unwrap();
    assert_eq!(s.chain_id().unwrap(), Some(CHAIN));
    let err = s
        .index_batch(|b| b.set_cursor(1, &CONTRACT, &cur))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongChain {
                bound: CHAIN,
                asked: 1
            }
        ),
        "{err}"
    );
    // A batch that fails half-way leaves nothing behind.
    let err = s
        .index_batch(|b| {
            b.record_added(&record(&patient(1), 0, None), &at(8, 0))?;
            b.set_cursor(
                CHAIN,
                &CONTRACT,
                &Cursor {
                    block: 8,
                    block_hash: bhash(8),
                },
            )?;
            b.set_cursor(1, &CONTRACT, &cur) // fails
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongChain { .. }));
    assert_eq!(s.record_count(&patient(1)).unwrap(), 0);
    assert_eq!(s.cursor(CHAIN, &CONTRACT).unwrap(), Some(cur));
    // Out-of-range integers are refused, not wrapped.
    let err = s
        .index_batch(|b| b.record_added(&record(&patient(1), u64::MAX, None), &at(8, 0)))
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
}

#[test]
fn outbox_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let payload = json!({"patient": "0x01", "scope": 15, "nested": {"b": 2, "a": 1}});
    let first = s.enqueue("checkin-42", "grantConsent", &payload).unwrap();
    assert!(first.created);
    assert_eq!(first.entry.state, OutboxState::Queued);
    assert_eq!(first.entry.attempts, 0);
    let again = s.enqueue("checkin-42", "grantConsent", &payload).unwrap();
    assert!(!again.created);
    assert_eq!(again.entry, first.entry);
    // Still the same single entry after it moved on.
    s.mark_submitted(first.entry.id, &addr(1), &tx(1, 1), 5)
        .unwrap();
    let third = s.enqueue("checkin-42", "grantConsent", &payload).unwrap();
    assert_eq!(
        (third.created, third.entry.state),
        (false, OutboxState::Submitted)
    );
    assert_eq!(s.pending().unwrap().len(), 1);
    // The same key for a different write is a bug, said plainly.
    let err = s
        .enqueue("checkin-42", "grantConsent", &json!({"other": 1}))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
    let err = s
        .enqueue("checkin-42", "revokeConsent", &payload)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );
    assert_eq!(
        s.outbox_by_key("checkin-42").unwrap().unwrap().id,
        first.entry.id
    );
    // Refused by the chain, the action asked again with a new signature: a new write; the refused one is kept
    // aside under its own key.
    s.mark_failed(first.entry.id, "reverted: UnknownPatient")
        .unwrap();
    let retry = s
        .enqueue("checkin-42", "grantConsent", &json!({"other": 1}))
        .unwrap();
    assert!(
        retry.created && retry.entry.id != first.entry.id,
        "{retry:?}"
    );
    assert_eq!(retry.entry.state, OutboxState::Queued);
    let aside = s
        .outbox_by_key(&format!("checkin-42#refused-{}", first.entry.id))
        .unwrap()
        .unwrap();
    assert_eq!(
        (aside.id, aside.state),
        (first.entry.id, OutboxState::Failed)
    );
    // A pending or confirmed write is never set aside.
    let err = s
        .enqueue("checkin-42", "grantConsent", &payload)
        .unwrap_err();
    assert!(
        matches!(err, StoreError::IdempotencyConflict { .. }),
        "{err}"
    );

    // Many threads racing on the same keys create one entry per key.
    let ids: Vec<i64> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                sc.spawn(move || {
                    (0..20)
                        .map(|k| {
                            s.enqueue(&format!("race-{k}"), "x", &json!(k))
                                .unwrap()
                                .entry
                                .id
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 20);
    assert_eq!(s.pending().unwrap().len(), 21);
}

#[test]
fn outbox_transitions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let sender = addr(0xaa);
    let a = s.enqueue("a", "grantConsent", &json!(1)).unwrap().entry.id;
    let b = s
        .enqueue("b", "issuePrescription", &json!(2))
        .unwrap()
        .entry
        .id;
    let c = s.enqueue("c", "submitClaim", &json!(3)).unwrap().entry.id;
    assert_eq!(
        s.pending()
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [a, b, c]
    );

    // a: queued → submitted → (replacement) submitted → confirmed
    let e = s.mark_submitted(a, &sender, &tx(1, 0), 7).unwrap();
    assert_eq!(
        (e.state, e.attempts, e.nonce, e.sender),
        (OutboxState::Submitted, 1, Some(7), Some(sender))
    );
    let e = s.mark_submitted(a, &sender, &tx(1, 1), 7).unwrap();
    assert_eq!((e.attempts, e.tx_hash), (2, Some(tx(1, 1))));
    assert_eq!(s.outbox_by_tx_hash(&tx(1, 1)).unwrap().unwrap().id, a);
    let e = s.mark_confirmed(a, 100).unwrap();
    assert_eq!((e.state, e.block), (OutboxState::Confirmed, Some(100)));
    assert!(e.updated_at >= e.created_at);
    // Confirmed is final for sending.
    let err = s.mark_submitted(a, &sender, &tx(1, 2), 8).unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
    assert!(err.to_string().contains("already on chain"), "{err}");
    assert!(matches!(
        s.mark_failed(a, "x").unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));
    assert!(matches!(
        s.requeue(a).unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));

    // b: submitted → failed → (cannot submit) → requeue → submitted with the same nonce → confirmed
    s.mark_submitted(b, &sender, &tx(2, 0), 8).unwrap();
    let e = s.mark_failed(b, "reverted: NoConsent").unwrap();
    assert_eq!(
        (e.state, e.last_error.as_deref()),
        (OutboxState::Failed, Some("reverted: NoConsent"))
    );
    assert!(matches!(
        s.mark_submitted(b, &sender, &tx(2, 1), 8).unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));
    let e = s.requeue(b).unwrap();
    assert_eq!(
        (e.state, e.tx_hash, e.nonce),
        (OutboxState::Queued, None, Some(8)),
        "nonce kept for reuse"
    );
    s.mark_submitted(b, &sender, &tx(2, 2), 8).unwrap();
    let e = s.mark_confirmed(b, 101).unwrap();
    assert_eq!((e.state, e.last_error), (OutboxState::Confirmed, None));

    // c: queued → confirmed straight away (found on chain by state after a crash)
    s.mark_confirmed(c, 102).unwrap();
    assert!(s.pending().unwrap().is_empty());
    assert_eq!(s.highest_nonce(&sender).unwrap(), Some(8));
    assert_eq!(s.highest_nonce(&addr(1)).unwrap(), None);

    // A database error is reported as such, not as a refused transition, and changes nothing.
    let q = s.enqueue("q", "x", &json!(0)).unwrap().entry.id;
    let err = s
        .mark_submitted(q, &sender, &tx(9, 9), u64::MAX)
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlite(_)), "{err}");
    assert_eq!(
        s.outbox_entry(q).unwrap().unwrap().state,
        OutboxState::Queued
    );
    s.mark_confirmed(q, 103).unwrap();
    let err = s.mark_confirmed(999, 1).unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchOutboxEntry { id: 999 }),
        "{err}"
    );
    // Long error texts are cut, not refused.
    let d = s.enqueue("d", "x", &json!(null)).unwrap().entry.id;
    let e = s.mark_failed(d, &"é".repeat(5000)).unwrap();
    assert!(e.last_error.unwrap().len() <= 2000);

    // A refusal can be deferred only for a write whose block was reorged away: c was never reorged.
    let r = s.enqueue("r", "x", &json!(4)).unwrap().entry.id;
    s.mark_submitted(r, &sender, &tx(3, 0), 9).unwrap();
    let err = s.defer(r, "reverted: WrongEpoch").unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition { .. }), "{err}");
    assert_eq!(
        s.outbox_entry(r).unwrap().unwrap().state,
        OutboxState::Submitted
    );
    // confirmed → (reorged away) submitted, with the time → (refused: what it needs is not back) queued → confirmed
    s.mark_confirmed(r, 104).unwrap();
    let e = s.mark_reorged(r).unwrap();
    assert_eq!((e.state, e.block), (OutboxState::Submitted, None));
    assert!(e.reorged_at.is_some_and(|t| t >= e.created_at));
    let e = s.defer(r, "reverted: WrongEpoch").unwrap();
    assert_eq!(
        (e.state, e.tx_hash, e.nonce, e.last_error.as_deref()),
        (
            OutboxState::Queued,
            None,
            Some(9),
            Some("reverted: WrongEpoch")
        )
    );
    assert!(s.pending().unwrap().iter().any(|p| p.id == r));
    s.mark_submitted(r, &sender, &tx(3, 1), 10).unwrap();
    let e = s.mark_confirmed(r, 106).unwrap();
    assert_eq!((e.state, e.last_error), (OutboxState::Confirmed, None));
    assert_eq!(s.attempts(r).unwrap().len(), 2);
    // A confirmed write cannot be deferred.
    assert!(matches!(
        s.defer(r, "x").unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));
    // A write never reorged away, refused while an earlier one was: deferred, its grace starting now (and not
    // moved by a second deferral); a confirmed one cannot be.
    let b = s.enqueue("behind", "x", &json!(5)).unwrap().entry.id;
    let e = s.defer_behind(b, "reverted: WrongEpoch").unwrap();
    let since = e.reorged_at.expect("the grace starts");
    assert_eq!(
        (e.state, e.last_error.as_deref()),
        (OutboxState::Queued, Some("reverted: WrongEpoch"))
    );
    s.mark_submitted(b, &sender, &tx(3, 2), 11).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(5));
    let e = s.defer_behind(b, "reverted again").unwrap();
    assert_eq!((e.state, e.reorged_at), (OutboxState::Queued, Some(since)));
    s.mark_submitted(b, &sender, &tx(3, 3), 12).unwrap();
    s.mark_confirmed(b, 107).unwrap();
    assert!(matches!(
        s.defer_behind(b, "x").unwrap_err(),
        StoreError::InvalidTransition { .. }
    ));
}

#[test]
fn readers_and_writers_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = patient(1);
    std::thread::scope(|sc| {
        let w = s.clone();
        sc.spawn(move || {
            for batch in 0..20u64 {
                w.index_batch(|b| {
                    for i in 0..50 {
                        b.record_added(&record(&p, batch * 50 + i, None), &at(batch, i))?;
                    }
                    Ok(())
                })
                .unwrap();
            }
        });
        for _ in 0..3 {
            let r = s.clone();
            sc.spawn(move || {
                for _ in 0..50 {
                    let n = r.record_headers(&p).unwrap().len();
                    assert_eq!(n % 50, 0, "a reader saw half a batch");
                }
            });
        }
        let o = s.clone();
        sc.spawn(move || {
            for k in 0..50 {
                o.enqueue(&format!("t{k}"), "x", &json!(k)).unwrap();
            }
        });
    });
    assert_eq!(s.record_count(&p).unwrap(), 1000);
    assert_eq!(s.pending().unwrap().len(), 50);
}

#[test]
fn screen_queries_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let c = raw(&dir.path().join("kiosk.db"));
    let plan = |sql: &str| -> String {
        let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = st.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join(" | ")
    };
    let cases = [
        ("SELECT * FROM record_headers WHERE patient_id = x'00' ORDER BY idx", "PRIMARY KEY"),
        (
            "SELECT * FROM prescriptions WHERE patient_id = x'00' AND status = 1 AND valid_until >= 5",
            "prescriptions_patient",
        ),
        (
            "SELECT * FROM claims WHERE insurer = x'00' AND status = 1 ORDER BY id",
            "claims_insurer",
        ),
        ("SELECT * FROM outbox WHERE state IN ('queued', 'submitted') ORDER BY id", "outbox_pending"),
    ];
    for (sql, index) in cases {
        let p = plan(sql);
        assert!(
            p.contains(index) && !p.contains("TEMP B-TREE"),
            "{sql}: {p}"
        );
    }
}

#[test]
fn the_patient_log_and_emergency_traces_follow_the_chain_and_its_reorgs() {
    use carekiosk_store::{EmergencyTrace, PatientEvent};
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let p = patient(1);
    let q = patient(2);
    let ev = |who: &[u8; 32], event: &str, time: u64| PatientEvent {
        patient_id: *who,
        time,
        event: event.into(),
        institution: Some(addr(1)),
        ..Default::default()
    };
    s.index_batch(|b| {
        b.consent_changed(&consent(&p, 1, 5000), &at(10, 0))?;
        b.consent_changed(&consent(&p, 2, 5000), &at(10, 1))?;
        b.patient_event(&ev(&p, "consent", 100), &at(10, 0))?;
        b.patient_event(&ev(&q, "consent", 100), &at(10, 2))?;
        b.patient_event(&ev(&p, "record", 110), &at(11, 0))?;
        // Re-applying an event (a restart) changes nothing.
        b.patient_event(&ev(&p, "record", 110), &at(11, 0))?;
        b.emergency_trace(
            &EmergencyTrace {
                time: 115,
                hospital: addr(1),
                tag: [7; 32],
                note: vec![1; 128],
                block: 11,
            },
            &at(11, 1),
        )?;
        b.all_consents_revoked(&p, &at(12, 0))?;
        b.patient_event(&ev(&p, "all-consents-revoked", 120), &at(12, 0))?;
        b.emergency_trace(
            &EmergencyTrace {
                time: 125,
                hospital: addr(1),
                tag: [8; 32],
                note: vec![2; 128],
                block: 12,
            },
            &at(12, 1),
        )?;
        for n in 10..=12 {
            b.block_hash(CHAIN, n, &bhash(n))?;
        }
        Ok(())
    })
    .unwrap();
    let log: Vec<String> = s
        .patient_log(&p)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(log, ["consent", "record", "all-consents-revoked"]);
    assert_eq!(
        s.patient_log(&q).unwrap().len(),
        1,
        "another patient's events stay theirs"
    );
    assert!(
        s.consents_of(&p)
            .unwrap()
            .iter()
            .all(|c| c.valid_until == 0),
        "revoke-all ends every consent"
    );
    assert_eq!(s.emergency_traces().unwrap().len(), 2);

    // A reorg back to block 11 undoes the revoke-all and the later trace.
    s.rewind_to(11, &bhash(11)).unwrap();
    let log: Vec<String> = s
        .patient_log(&p)
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(log, ["consent", "record"]);
    assert!(s
        .consents_of(&p)
        .unwrap()
        .iter()
        .all(|c| c.valid_until == 5000));
    let traces = s.emergency_traces().unwrap();
    assert_eq!((traces.len(), traces[0].tag), (1, [7; 32]));
}

#[test]
fn finalized_block_only_moves_forward_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        assert_eq!(s.finalized_block().unwrap(), None);
        assert!(
            !s.is_final(0).unwrap(),
            "nothing is final before the indexer saw a finalized block"
        );
        assert_eq!(s.index_batch(|b| b.set_finalized(CHAIN, 100)).unwrap(), 100);
        // A lagging replica's older answer changes nothing.
        assert_eq!(s.index_batch(|b| b.set_finalized(CHAIN, 90)).unwrap(), 100);
        assert_eq!(s.finalized_block().unwrap(), Some(100));
        assert!(s.is_final(100).unwrap());
        assert!(!s.is_final(101).unwrap());
        // Another chain is refused, as for cursors.
        let err = s.index_batch(|b| b.set_finalized(1, 200)).unwrap_err();
        assert!(matches!(err, StoreError::WrongChain { .. }), "{err}");
        // A rewind after a reorg leaves finality alone (it is below any reorg).
        s.rewind_to(50, &bhash(50)).unwrap();
        assert_eq!(s.finalized_block().unwrap(), Some(100));
    }
    let s = open(dir.path());
    assert_eq!(s.finalized_block().unwrap(), Some(100));
    assert_eq!(s.index_batch(|b| b.set_finalized(CHAIN, 150)).unwrap(), 150);
    assert_eq!(s.finalized_block().unwrap(), Some(150));
}

#[test]
fn the_fork_point_search_finds_the_highest_remembered_hash() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    assert_eq!(s.block_hash_at_or_below(CHAIN, 1_000).unwrap(), None);
    s.index_batch(|b| {
        for n in [10, 500, 999] {
            b.block_hash(CHAIN, n, &bhash(n))?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(
        s.block_hash_at_or_below(CHAIN, 1_000).unwrap(),
        Some((999, bhash(999)))
    );
    assert_eq!(
        s.block_hash_at_or_below(CHAIN, 999).unwrap(),
        Some((999, bhash(999)))
    );
    assert_eq!(
        s.block_hash_at_or_below(CHAIN, 998).unwrap(),
        Some((500, bhash(500)))
    );
    assert_eq!(s.block_hash_at_or_below(CHAIN, 9).unwrap(), None);
    assert_eq!(
        s.block_hash_at_or_below(1, 1_000).unwrap(),
        None,
        "another chain's hashes are not ours"
    );
}
