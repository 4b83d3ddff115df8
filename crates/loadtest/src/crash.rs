//! The SQLite writer killed mid-transaction: a child process writes long transactions to a kiosk-format
//! database (SQLCipher, the store's schema) and says `MID g` from inside transaction `g`; the driver kills it
//! there with SIGKILL. Afterwards the file must open, pass `integrity_check`, and hold every transaction whole
//! or not at all.

use std::io::Write;
use std::path::Path;

use carekiosk_store::{Cursor, EventRef, RecordAdded, Store};

use crate::LoadError;

/// The scratch database's key (not a kiosk's).
pub const KEY: [u8; 32] = [0x5c; 32];
const CHAIN: u64 = 31337;
const CONTRACT: [u8; 20] = [0xc0; 20];
const PATIENT: [u8; 32] = [0x01; 32];
/// Rows a transaction: long enough that a kill lands inside it.
pub const ROWS: u64 = 1500;

/// The child: transaction `g` writes rows `g*ROWS ..` and moves the cursor to `g`; forever.
pub fn writer(path: &Path) -> Result<(), LoadError> {
    let store = Store::open(path, &KEY)?;
    let mut g = store.cursor(CHAIN, &CONTRACT)?.map_or(0, |c| c.block + 1);
    let mut out = std::io::stdout();
    loop {
        store.index_batch(|b| {
            for i in 0..ROWS {
                let index = g * ROWS + i;
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
                if i == ROWS / 2 {
                    let _ = writeln!(out, "MID {g}");
                    let _ = out.flush();
                }
            }
            b.set_cursor(
                CHAIN,
                &CONTRACT,
                &Cursor {
                    block: g,
                    block_hash: [g as u8; 32],
                },
            )
        })?;
        let _ = writeln!(out, "COMMITTED {g}");
        let _ = out.flush();
        g += 1;
    }
}

/// Opens the file after a kill: integrity, and every transaction whole. Returns the transactions committed.
pub fn verify(path: &Path) -> Result<u64, LoadError> {
    let store = Store::open(path, &KEY)?;
    store.integrity_check()?;
    let committed = store.cursor(CHAIN, &CONTRACT)?.map_or(0, |c| c.block + 1);
    let rows = store.record_count(&PATIENT)?;
    if rows != committed * ROWS {
        return Err(LoadError::Check(format!(
            "{rows} rows for {committed} committed transactions of {ROWS}: a transaction is partly there"
        )));
    }
    Ok(committed)
}
