//! The card in a reader: connects the [`Applet`] to vpcd (the virtual reader driver loaded by pcscd) over TCP,
//! and lets tests and demos insert, remove or pull the card mid-command, or corrupt a response.
//!
//! vpcd wire protocol: each message is a 2-byte big-endian length and a payload. From vpcd, a one-byte payload is
//! a control code (00 power off, 01 power on, 02 reset — no reply; 04 get ATR — reply the ATR); anything longer
//! is a command APDU and gets a response APDU back. vpcd sees the card as present while the TCP connection is up,
//! so "remove" closes the connection and "insert" opens a new one.
//!
//! Latency: vpcd writes length and payload separately without TCP_NODELAY, so the card side would wait ~40 ms for
//! a delayed ACK on every APDU. Setting TCP_QUICKACK before each read (and TCP_NODELAY for our replies) brings an
//! APDU down to ~0.1 ms.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::card::{Applet, AppletOptions, ATR};
use crate::state::{CardState, Profile, StateError};

/// The vpcd port of reader `Virtual PCD 00 00`.
pub const VPCD_PORT_0: u16 = 35963;
/// The vpcd port of reader `Virtual PCD 00 01`.
pub const VPCD_PORT_1: u16 = 35964;

/// Which APDUs a pull or a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsMatch {
    /// Any command APDU.
    Any,
    /// Commands with this INS byte (0x2A PSO, 0x20 VERIFY, 0x47 GENERATE, 0xCA GET DATA…).
    Ins(u8),
}

impl InsMatch {
    fn matches(self, ins: u8) -> bool {
        match self {
            InsMatch::Any => true,
            InsMatch::Ins(i) => i == ins,
        }
    }

    /// Parses `any`, `sign`/`pso`, `decipher`, `verify`, `generate`, `get-data`, or a hex INS like `2a`/`0x2A`.
    pub fn parse(s: &str) -> Option<InsMatch> {
        Some(match s.to_ascii_lowercase().as_str() {
            "any" => InsMatch::Any,
            "sign" | "pso" | "decipher" => InsMatch::Ins(0x2A),
            "verify" => InsMatch::Ins(0x20),
            "generate" => InsMatch::Ins(0x47),
            "get-data" => InsMatch::Ins(0xCA),
            "get-response" => InsMatch::Ins(0xC0),
            other => InsMatch::Ins(u8::from_str_radix(other.trim_start_matches("0x"), 16).ok()?),
        })
    }
}

/// A corruption of the card's next response to a matching APDU (the card's state changes as usual).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer a single byte: less than a status word.
    ShortResponse,
    /// Cut the response data in half, keep `9000`.
    Truncate,
    /// Replace the response data with random bytes, keep `9000`.
    Garbage,
}

impl Fault {
    /// Parses `short`, `truncate`, `garbage`.
    pub fn parse(s: &str) -> Option<Fault> {
        match s {
            "short" => Some(Fault::ShortResponse),
            "truncate" => Some(Fault::Truncate),
            "garbage" => Some(Fault::Garbage),
            _ => None,
        }
    }

    fn apply(self, resp: Vec<u8>) -> Vec<u8> {
        let n = resp.len().saturating_sub(2);
        let sw = resp[n..].to_vec();
        match self {
            Fault::ShortResponse => resp[..1].to_vec(),
            Fault::Truncate => [&resp[..n / 2], &sw[..]].concat(),
            Fault::Garbage => {
                let mut g = vec![0u8; n.max(8)];
                rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut g);
                // A garbage TLV must not accidentally parse: start with a constructed tag and an oversize length.
                g[0] = 0x7F;
                g[1] = 0x49;
                g[2] = 0x82;
                g[3] = 0xFF;
                g.extend_from_slice(&[0x90, 0x00]);
                g
            }
        }
    }
}

/// How to run one virtual card.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where vpcd listens (pcscd's host: 127.0.0.1).
    pub host: String,
    /// vpcd port: [`VPCD_PORT_0`] or [`VPCD_PORT_1`] (more with another reader config).
    pub port: u16,
    /// The state file; `None` keeps the card in memory only.
    pub state_file: Option<PathBuf>,
    /// Profile and serial for a card created now (ignored when the state file exists).
    pub profile: Profile,
    /// Serial for a card created now; random when `None`.
    pub serial: Option<u32>,
    /// Applet options.
    pub applet: AppletOptions,
    /// Start with the card in the reader.
    pub inserted: bool,
    /// Set TCP_QUICKACK before every read (on by default; off only to measure the delayed-ACK trap).
    pub quickack: bool,
}

impl SimConfig {
    /// A card on `port`, kept in memory, inserted.
    pub fn in_memory(port: u16) -> SimConfig {
        SimConfig {
            host: "127.0.0.1".into(),
            port,
            state_file: None,
            profile: Profile::Openpgp,
            serial: None,
            applet: AppletOptions::default(),
            inserted: true,
            quickack: true,
        }
    }
}

/// Counters and flags of a running card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimStatus {
    /// The card is meant to be in the reader.
    pub inserted: bool,
    /// vpcd has the TCP connection (pcscd may take up to ~400 ms more to notice).
    pub connected: bool,
    /// Command APDUs answered since start.
    pub apdus: u64,
    /// Times the card was pulled mid-command.
    pub pulls: u64,
}

#[derive(Debug)]
struct Ctl {
    inserted: bool,
    stop: bool,
    connected: bool,
    pull_on: Option<InsMatch>,
    faults: VecDeque<(InsMatch, Fault)>,
    apdus: u64,
    pulls: u64,
    stream: Option<TcpStream>,
}

#[derive(Debug)]
struct Shared {
    ctl: Mutex<Ctl>,
    cv: Condvar,
    applet: Mutex<Applet>,
    addr: String,
    quickack: bool,
}

impl Shared {
    fn ctl(&self) -> MutexGuard<'_, Ctl> {
        self.ctl.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn applet(&self) -> MutexGuard<'_, Applet> {
        self.applet.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running virtual card (one thread). Dropping it removes the card and stops the thread.
#[derive(Debug)]
pub struct Sim {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Sim {
    /// Loads (or creates) the card's state and starts talking to vpcd.
    pub fn start(cfg: SimConfig) -> Result<Sim, StateError> {
        let state = match &cfg.state_file {
            Some(p) => CardState::load_or_create(p, cfg.profile, cfg.serial)?,
            None => CardState::blank(cfg.profile, cfg.serial),
        };
        Ok(Self::with_state(cfg, state))
    }

    /// Starts a card with `state` (saved to `cfg.state_file` on every change, when set).
    pub fn with_state(cfg: SimConfig, state: CardState) -> Sim {
        let applet = Applet::new(state, cfg.state_file.clone(), cfg.applet.clone());
        let shared = Arc::new(Shared {
            ctl: Mutex::new(Ctl {
                inserted: cfg.inserted,
                stop: false,
                connected: false,
                pull_on: None,
                faults: VecDeque::new(),
                apdus: 0,
                pulls: 0,
                stream: None,
            }),
            cv: Condvar::new(),
            applet: Mutex::new(applet),
            addr: format!("{}:{}", cfg.host, cfg.port),
            quickack: cfg.quickack,
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("card-sim:{}", cfg.port))
            .spawn(move || run(s))
            .expect("spawn card-sim thread");
        Sim {
            shared,
            thread: Some(thread),
        }
    }

    /// The card's AID ident, `MMMM:SSSSSSSS` (manufacturer and serial, as `openpgp-card` prints it).
    pub fn ident(&self) -> String {
        let a = self.shared.applet();
        format!("{:04X}:{:08X}", a.state().manufacturer, a.state().serial)
    }

    /// A copy of the card's persistent state (for tests: counters, keys).
    pub fn state(&self) -> CardState {
        self.shared.applet().state().clone()
    }

    /// Puts the card in the reader (connects to vpcd).
    pub fn insert(&self) {
        let mut c = self.shared.ctl();
        c.inserted = true;
        self.shared.cv.notify_all();
    }

    /// Takes the card out of the reader (closes the vpcd connection at once, even mid-command).
    pub fn remove(&self) {
        let mut c = self.shared.ctl();
        c.inserted = false;
        if let Some(s) = &c.stream {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.shared.cv.notify_all();
    }

    /// The next APDU matching `m` is never answered: the card is pulled out while the command is in flight.
    pub fn pull_on(&self, m: InsMatch) {
        self.shared.ctl().pull_on = Some(m);
    }

    /// Corrupts the response to the next APDU matching `m`.
    pub fn fault_on(&self, m: InsMatch, f: Fault) {
        self.shared.ctl().faults.push_back((m, f));
    }

    /// Current flags and counters.
    pub fn status(&self) -> SimStatus {
        let c = self.shared.ctl();
        SimStatus {
            inserted: c.inserted,
            connected: c.connected,
            apdus: c.apdus,
            pulls: c.pulls,
        }
    }

    /// Waits until vpcd holds the connection (`true`) or not (`false`), up to `timeout`.
    pub fn wait_connected(&self, connected: bool, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut c = self.shared.ctl();
        while c.connected != connected {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            c = self
                .shared
                .cv
                .wait_timeout(c, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Stops the card (removing it first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut c = self.shared.ctl();
            c.stop = true;
            c.inserted = false;
            if let Some(s) = &c.stream {
                let _ = s.shutdown(Shutdown::Both);
            }
            self.shared.cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: Arc<Shared>) {
    let mut warned = false;
    loop {
        {
            let mut c = shared.ctl();
            while !c.inserted && !c.stop {
                c = shared.cv.wait(c).unwrap_or_else(|e| e.into_inner());
            }
            if c.stop {
                return;
            }
        }
        let stream = match TcpStream::connect(&shared.addr) {
            Ok(s) => s,
            Err(e) => {
                if !warned {
                    tracing::warn!(addr = %shared.addr, error = %e, "vpcd not reachable (is pcscd running with vpcd?); retrying");
                    warned = true;
                }
                let c = shared.ctl();
                let _ = shared.cv.wait_timeout(c, Duration::from_millis(100));
                continue;
            }
        };
        warned = false;
        let _ = stream.set_nodelay(true);
        {
            let mut c = shared.ctl();
            if !c.inserted || c.stop {
                let _ = stream.shutdown(Shutdown::Both);
                continue;
            }
            c.stream = stream.try_clone().ok();
            c.connected = true;
            shared.cv.notify_all();
        }
        tracing::info!(addr = %shared.addr, "card inserted");
        shared.applet().reset();
        let end = serve(&shared, stream);
        shared.applet().reset();
        let mut c = shared.ctl();
        c.stream = None;
        c.connected = false;
        shared.cv.notify_all();
        tracing::info!(addr = %shared.addr, reason = end, "card out of the reader");
        if c.inserted && !c.stop {
            // vpcd closed on us (pcscd stopped?): wait a little before knocking again.
            let _ = shared.cv.wait_timeout(c, Duration::from_millis(200));
        }
    }
}

fn quickack(s: &TcpStream, on: bool) {
    if on {
        let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
    }
}

fn read_msg(s: &mut TcpStream, qa: bool) -> std::io::Result<Vec<u8>> {
    quickack(s, qa);
    let mut len = [0u8; 2];
    s.read_exact(&mut len)?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    quickack(s, qa);
    s.read_exact(&mut buf)?;
    Ok(buf)
}

fn write_msg(s: &mut TcpStream, payload: &[u8]) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 2);
    out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    out.extend_from_slice(payload);
    s.write_all(&out)
}

fn serve(shared: &Shared, mut s: TcpStream) -> &'static str {
    loop {
        let msg = match read_msg(&mut s, shared.quickack) {
            Ok(m) => m,
            Err(_) => return "connection closed",
        };
        match msg.as_slice() {
            [] => continue,
            [0x00] | [0x01] | [0x02] => shared.applet().reset(),
            [0x04] => {
                if write_msg(&mut s, &ATR).is_err() {
                    return "connection closed";
                }
            }
            [_] => {}
            apdu => {
                let ins = apdu.get(1).copied().unwrap_or(0);
                let fault = {
                    let mut c = shared.ctl();
                    c.apdus += 1;
                    if c.pull_on.is_some_and(|m| m.matches(ins)) {
                        c.pull_on = None;
                        c.pulls += 1;
                        c.inserted = false;
                        let _ = s.shutdown(Shutdown::Both);
                        tracing::info!(ins = format_args!("{ins:02X}"), "card pulled mid-command");
                        return "pulled mid-command";
                    }
                    let idx = c.faults.iter().position(|(m, _)| m.matches(ins));
                    idx.and_then(|i| c.faults.remove(i)).map(|(_, f)| f)
                };
                let mut resp = shared.applet().process(apdu);
                if let Some(f) = fault {
                    tracing::info!(ins = format_args!("{ins:02X}"), fault = ?f, "response corrupted on purpose");
                    resp = f.apply(resp);
                }
                if write_msg(&mut s, &resp).is_err() {
                    return "connection closed";
                }
            }
        }
    }
}
