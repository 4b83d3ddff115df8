//! Reader and card events as a stream: one background thread blocks in `SCardGetStatusChange` (with the PnP
//! pseudo-reader, so readers plugged in later are seen) and broadcasts what changed to every subscriber.
//!
//! Events lag reality by pcscd's polling interval (200–400 ms with vpcd and most readers). A card operation can
//! therefore fail with [`crate::CardError::CardRemoved`] before [`CardEvent::CardRemoved`] arrives; after a
//! [`CardEvent::CardInserted`] the card can be opened at once (pcscd has powered it by then).

use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use pcsc::{Context, ReaderState, Scope, State, PNP_NOTIFICATION};
use tokio::sync::broadcast;

use crate::readers::{reader_names, ReaderInfo, ReaderPattern};
use crate::CardError;

/// Something that happened at a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardEvent {
    /// A matching reader appeared.
    ReaderAdded {
        /// Its name.
        reader: String,
    },
    /// A reader went away (its card with it).
    ReaderRemoved {
        /// Its name.
        reader: String,
    },
    /// A card was inserted.
    CardInserted {
        /// The reader.
        reader: String,
        /// The card's ATR.
        atr: Vec<u8>,
    },
    /// The card was taken out.
    CardRemoved {
        /// The reader.
        reader: String,
    },
    /// pcscd is not reachable; the monitor keeps retrying every second.
    ServiceUnavailable,
    /// pcscd is reachable again.
    ServiceRestored,
}

/// Watches the readers matching a pattern and broadcasts [`CardEvent`]s. Stops when dropped.
pub struct CardMonitor {
    tx: broadcast::Sender<CardEvent>,
    snapshot: Arc<Mutex<Vec<ReaderInfo>>>,
    stop: Arc<AtomicBool>,
    ctx: Arc<Mutex<Option<Context>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CardMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardMonitor")
            .field("readers", &self.readers())
            .finish_non_exhaustive()
    }
}

impl CardMonitor {
    /// Starts watching. Subscribe before acting on [`CardMonitor::readers`] to miss nothing.
    pub fn start(pattern: ReaderPattern) -> Result<CardMonitor, CardError> {
        let (tx, _) = broadcast::channel(64);
        let snapshot = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Arc::new(Mutex::new(None));
        let w = Watcher {
            pattern,
            tx: tx.clone(),
            snapshot: snapshot.clone(),
            stop: stop.clone(),
            ctx: ctx.clone(),
            known: HashMap::new(),
            pending: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("card-monitor".into())
            .spawn(move || w.run())
            .map_err(|e| CardError::Pcsc(format!("cannot start the card monitor: {e}")))?;
        Ok(CardMonitor {
            tx,
            snapshot,
            stop,
            ctx,
            thread: Some(thread),
        })
    }

    /// A new receiver of events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<CardEvent> {
        self.tx.subscribe()
    }

    /// The readers and card presence as last seen.
    pub fn readers(&self) -> Vec<ReaderInfo> {
        self.snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(ctx) = self.ctx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = ctx.cancel();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CardMonitor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Watcher {
    pattern: ReaderPattern,
    tx: broadcast::Sender<CardEvent>,
    snapshot: Arc<Mutex<Vec<ReaderInfo>>>,
    stop: Arc<AtomicBool>,
    ctx: Arc<Mutex<Option<Context>>>,
    /// Reader name → (pcsc-lite event counter, card present, ATR).
    known: HashMap<String, (u32, bool, Vec<u8>)>,
    /// Events waiting for the next snapshot.
    pending: Vec<CardEvent>,
}

impl Watcher {
    /// Queues an event; [`Watcher::publish`] updates the snapshot first and then sends the queue, so a
    /// subscriber that reacts to an event finds the snapshot already showing it.
    fn emit(&mut self, e: CardEvent) {
        self.pending.push(e);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn run(mut self) {
        let mut service_down = false;
        while !self.stopped() {
            let ctx = match Context::establish(Scope::User) {
                Ok(c) => c,
                Err(_) => {
                    if !service_down {
                        service_down = true;
                        self.emit(CardEvent::ServiceUnavailable);
                        self.publish();
                    }
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            *self.ctx.lock().unwrap_or_else(|e| e.into_inner()) = Some(ctx.clone());
            if self.stopped() {
                return;
            }
            if service_down {
                self.emit(CardEvent::ServiceRestored);
            }
            match self.watch(&ctx) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = ?e, "card monitor lost pcscd");
                    service_down = true;
                    self.emit(CardEvent::ServiceUnavailable);
                    for (name, _) in std::mem::take(&mut self.known) {
                        self.emit(CardEvent::ReaderRemoved { reader: name });
                    }
                    self.publish();
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        }
    }

    fn publish(&mut self) {
        let mut v: Vec<ReaderInfo> = self
            .known
            .iter()
            .map(|(n, (_, p, atr))| ReaderInfo {
                name: n.clone(),
                card_present: *p,
                atr: p.then(|| atr.clone()),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = v;
        for e in std::mem::take(&mut self.pending) {
            tracing::debug!(event = ?e, "card event");
            let _ = self.tx.send(e);
        }
    }

    /// Watches until stopped (`Ok`) or the service fails (`Err`).
    fn watch(&mut self, ctx: &Context) -> Result<(), pcsc::Error> {
        // Reader states persist across calls: `sync_current_state` carries pcsc-lite's event counter, without
        // which every call would report a change at once.
        let mut pnp = ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE);
        let mut readers: Vec<ReaderState> = Vec::new();
        let mut relist = true;
        loop {
            if self.stopped() {
                return Ok(());
            }
            if relist {
                relist = false;
                let names: Vec<String> = match reader_names(ctx) {
                    Ok(v) => v.into_iter().filter(|n| self.pattern.matches(n)).collect(),
                    Err(crate::CardError::ServiceUnavailable(_)) => {
                        return Err(pcsc::Error::NoService)
                    }
                    Err(_) => vec![],
                };
                let gone: Vec<String> = self
                    .known
                    .keys()
                    .filter(|k| !names.contains(k))
                    .cloned()
                    .collect();
                for g in gone {
                    if self.known.remove(&g).is_some_and(|k| k.1) {
                        self.emit(CardEvent::CardRemoved { reader: g.clone() });
                    }
                    self.emit(CardEvent::ReaderRemoved { reader: g });
                }
                let mut old: HashMap<String, ReaderState> = readers
                    .drain(..)
                    .map(|r| (r.name().to_string_lossy().into_owned(), r))
                    .collect();
                for n in &names {
                    match old.remove(n) {
                        Some(r) => readers.push(r),
                        None => {
                            if let Ok(c) = CString::new(n.as_str()) {
                                readers.push(ReaderState::new(c, State::UNAWARE));
                            }
                        }
                    }
                }
                self.publish();
            }
            let mut states: Vec<ReaderState> = Vec::with_capacity(readers.len() + 1);
            states.push(std::mem::replace(
                &mut pnp,
                ReaderState::new(PNP_NOTIFICATION(), State::UNAWARE),
            ));
            states.append(&mut readers);
            let r = ctx.get_status_change(Duration::from_secs(2), &mut states);
            readers = states.split_off(1);
            pnp = states.pop().expect("pnp state");
            match r {
                Ok(()) => {}
                // Re-list now and then, for PC/SC stacks without PnP notification.
                Err(pcsc::Error::Timeout) => {
                    relist = true;
                    continue;
                }
                Err(pcsc::Error::Cancelled) => return Ok(()),
                Err(pcsc::Error::UnknownReader) => {
                    relist = true;
                    continue;
                }
                Err(
                    e @ (pcsc::Error::NoService
                    | pcsc::Error::ServiceStopped
                    | pcsc::Error::InvalidHandle),
                ) => return Err(e),
                Err(e) => {
                    tracing::debug!(error = ?e, "get_status_change");
                    std::thread::sleep(Duration::from_millis(200));
                    relist = true;
                    continue;
                }
            }
            if pnp.event_state().contains(State::CHANGED) {
                relist = true;
            }
            pnp.sync_current_state();
            for s in readers.iter_mut() {
                let ev = s.event_state();
                if !ev.contains(State::CHANGED) {
                    continue;
                }
                s.sync_current_state();
                let name = s.name().to_string_lossy().into_owned();
                if ev.contains(State::UNKNOWN) || ev.contains(State::IGNORE) {
                    relist = true;
                    continue;
                }
                let present = ev.contains(State::PRESENT) && !ev.contains(State::MUTE);
                let atr = s.atr().to_vec();
                let count = s.event_count();
                match self
                    .known
                    .insert(name.clone(), (count, present, atr.clone()))
                {
                    None => {
                        self.emit(CardEvent::ReaderAdded {
                            reader: name.clone(),
                        });
                        if present {
                            self.emit(CardEvent::CardInserted { reader: name, atr });
                        }
                    }
                    Some((_, was, _)) if was != present => {
                        if present {
                            self.emit(CardEvent::CardInserted { reader: name, atr });
                        } else {
                            self.emit(CardEvent::CardRemoved { reader: name });
                        }
                    }
                    // Out and in again between two polls: the event counter moved, the presence did not.
                    Some((old, true, _)) if old != count => {
                        self.emit(CardEvent::CardRemoved {
                            reader: name.clone(),
                        });
                        self.emit(CardEvent::CardInserted { reader: name, atr });
                    }
                    Some(_) => {}
                }
            }
            self.publish();
        }
    }
}
