//! The real pcscd with vpcd's two virtual readers, and exclusive use of a reader per test (the card tests of
//! `carekiosk-card-sim` and `carekiosk-card`, and [`crate::stack`]).
//!
//! If pcscd is not reachable, [`require_pcscd`] runs `scripts/pcscd.sh start` (as root; set
//! `CAREKIOSK_PCSCD_NO_START=1` to forbid it) and then waits for both readers. When they do not appear the test
//! fails with instructions; it never skips.

use std::ffi::CString;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// vpcd's readers and their TCP ports.
pub const READERS: [(&str, u16); 2] = [("Virtual PCD 00 00", 35963), ("Virtual PCD 00 01", 35964)];

const HELP: &str =
    "the card tests need the real pcscd with vpcd: `apt-get install -y pcscd libpcsclite-dev \
vsmartcard-vpcd`, then (as root) `scripts/pcscd.sh start`";

fn list() -> Result<Vec<String>, pcsc::Error> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    Ok(ctx
        .list_readers_owned()?
        .into_iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect())
}

fn workspace_root() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("Cargo.lock").exists() && d.pop() {}
    d
}

fn init() -> Result<(), String> {
    if list().is_err() && std::env::var_os("CAREKIOSK_PCSCD_NO_START").is_none() {
        let script = workspace_root().join("scripts/pcscd.sh");
        eprintln!("pcscd not reachable: running {} start", script.display());
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .output()
            .map_err(|e| format!("cannot run {}: {e}; {HELP}", script.display()))?;
        eprint!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        match list() {
            Ok(names) if READERS.iter().all(|(r, _)| names.iter().any(|n| n == r)) => return Ok(()),
            Ok(names) => last = format!("readers {names:?}"),
            Err(e) => last = format!("{e:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!(
        "pcscd with vpcd's readers is not available (last: {last}); {HELP}"
    ))
}

/// Makes sure pcscd with both vpcd readers answers; panics with instructions otherwise.
pub fn require_pcscd() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(m) = READY.get_or_init(init) {
        panic!("{m}");
    }
}

/// Waits until pcscd reports the card in `reader` as present (or absent).
pub fn wait_card(reader: &str, present: bool, timeout: Duration) -> bool {
    let Ok(ctx) = pcsc::Context::establish(pcsc::Scope::User) else {
        return false;
    };
    let Ok(name) = CString::new(reader) else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    let mut st = [pcsc::ReaderState::new(name, pcsc::State::UNAWARE)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if ctx.get_status_change(left, &mut st).is_err() {
            return false;
        }
        let ev = st[0].event_state();
        if ev.contains(pcsc::State::PRESENT) == present && !ev.contains(pcsc::State::MUTE) {
            return true;
        }
        if left.is_zero() {
            return false;
        }
        st[0].sync_current_state();
    }
}

static SLOTS: Mutex<[bool; 2]> = Mutex::new([false, false]);
static FREED: Condvar = Condvar::new();

/// Exclusive use of one vpcd reader (tests in one binary run in parallel; there are two readers).
pub struct ReaderSlot(usize);

impl ReaderSlot {
    /// The reader's name.
    pub fn name(&self) -> &'static str {
        READERS[self.0].0
    }
    /// The vpcd port a card process connects to.
    pub fn port(&self) -> u16 {
        READERS[self.0].1
    }
}

impl Drop for ReaderSlot {
    fn drop(&mut self) {
        // The card was stopped before the slot is dropped; let pcscd see it gone before the next test.
        wait_card(self.name(), false, Duration::from_secs(3));
        SLOTS.lock().unwrap_or_else(|e| e.into_inner())[self.0] = false;
        FREED.notify_all();
    }
}

/// Takes `n` readers (1 or 2), waiting while other tests hold them.
pub fn readers(n: usize) -> Vec<ReaderSlot> {
    require_pcscd();
    let mut s = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let free: Vec<usize> = (0..2).filter(|&i| !s[i]).collect();
        if free.len() >= n {
            let take: Vec<usize> = free.into_iter().take(n).collect();
            for &i in &take {
                s[i] = true;
            }
            drop(s);
            let slots: Vec<ReaderSlot> = take.into_iter().map(ReaderSlot).collect();
            for r in &slots {
                assert!(
                    wait_card(r.name(), false, Duration::from_secs(3)),
                    "{} still has a card",
                    r.name()
                );
            }
            return slots;
        }
        s = FREED.wait(s).unwrap_or_else(|e| e.into_inner());
    }
}

/// Takes one reader.
pub fn reader() -> ReaderSlot {
    readers(1).pop().expect("one reader")
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "carekiosk-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
