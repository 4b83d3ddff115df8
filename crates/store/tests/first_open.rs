//! The first databases a process opens, opened from many threads at once: SQLCipher finishes its own set-up only
//! after SQLite reports itself initialised, so a connection keyed in that gap was refused (`SQLITE_ERROR`, no
//! message) — seen once in CI. Alone in its binary so that this test really is the process's first open.

use std::sync::{Arc, Barrier};

use carekiosk_store::Store;

#[test]
fn many_threads_open_their_first_databases_at_once() {
    const THREADS: usize = 16;
    let dir = tempfile::tempdir().unwrap();
    let start = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|i| {
            let path = dir.path().join(format!("kiosk-{i}.db"));
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                Store::open(&path, &[i as u8; 32]).map(|s| s.schema_version())
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let opened = h.join().expect("thread");
        assert!(
            matches!(opened, Ok(Ok(v)) if v == carekiosk_store::SCHEMA_VERSION),
            "store {i}: {opened:?}"
        );
    }
}
