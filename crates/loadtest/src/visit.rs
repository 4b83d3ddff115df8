//! Whole visits, step by step across the desks' worker processes, with the faults injected while they run
//! (cards pulled, workers killed, Anvil restarted, the node away, pcscd restarted, the SQLite writer killed).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::B256;
use carekiosk_card_sim::Sim;
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_kiosk::KioskRole;
use rand_core::{OsRng, RngCore};

use crate::cards::{self, Slot};
use crate::driver::workspace;
use crate::patients::{Patient, DIAGNOSES};
use crate::plan::Plan;
use crate::proto::{FailKind, Op, Reply};
use crate::proxy::Proxy;
use crate::stats::Latencies;
use crate::worker_handle::Worker;
use crate::LoadError;

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) completed: AtomicUsize,
    pub(crate) card_pulls: AtomicU64,
    pub(crate) card_retries: AtomicU64,
    pub(crate) node_retries: AtomicU64,
    pub(crate) interrupted: AtomicU64,
    pub(crate) restarted: AtomicU64,
    pub(crate) anvil_restarts: AtomicU64,
    pub(crate) outages: AtomicU64,
    pub(crate) pcscd_restarts: AtomicU64,
    pub(crate) sqlite_kills: AtomicU64,
    pub(crate) sqlite_committed: AtomicU64,
    pub(crate) false_offline: AtomicU64,
    pub(crate) retried_after_reorg: AtomicU64,
    pub(crate) decided_again: AtomicU64,
}

pub(crate) struct Ctx {
    pub(crate) plan: Plan,
    pub(crate) workers: Vec<Arc<Worker>>,
    pub(crate) lat: Mutex<Latencies>,
    pub(crate) n: Counters,
    pub(crate) failures: Mutex<Vec<String>>,
    pub(crate) patients: Mutex<Vec<Patient>>,
    pub(crate) next_patient: AtomicUsize,
    pub(crate) pulls_left: AtomicU64,
    pub(crate) tickets: AtomicUsize,
    pub(crate) devnet: tokio::sync::Mutex<Option<Devnet>>,
    pub(crate) devnet_opts: DevnetOptions,
    pub(crate) proxy: Proxy,
    pub(crate) celo: Option<Arc<crate::celo::CeloChain>>,
    pub(crate) done: AtomicBool,
}

/// How long after a reorg a desk that finds something missing tries again (the kiosk that owned the write finds
/// it gone within its finality check, 10 s, and sends it again).
const REORG_EXPLAINS: Duration = Duration::from_secs(90);

/// How to tell, after a step was interrupted, whether its writes landed.
#[derive(Clone, Copy)]
enum Redo {
    /// Safe to run again (idempotent keys, or a fresh consent is what a re-inserted card gives).
    Again,
    /// Not resumable (a half-issued card): the visit starts over with a new patient.
    Never,
    /// Landed when the patient has a claim (the consultation: all its parts or none).
    Claim(B256),
}

enum Outcome {
    Done(Reply),
    StartOver(String),
}

impl Ctx {
    fn worker(&self, role: KioskRole, i: usize) -> Arc<Worker> {
        let of_role: Vec<_> = self.workers.iter().filter(|w| w.role == role).collect();
        of_role[i % of_role.len()].clone()
    }

    fn fail(&self, what: String) {
        tracing::error!(%what, "visit failed");
        self.failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(what);
    }

    async fn step(
        &self,
        w: &Worker,
        op: Op,
        redo: Redo,
        slot: Option<&Slot>,
    ) -> Result<Outcome, String> {
        let name = op.name();
        let mut after_reorg = 0;
        for _attempt in 0..30 {
            let kind = match w.call(op.clone()).await {
                Ok(r) if r.ok => {
                    self.lat
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .add(name, r.ms);
                    return Ok(Outcome::Done(r));
                }
                Ok(r) => match r.kind.unwrap_or(FailKind::Other) {
                    _ if r.chain_kind.as_deref() == Some("unreachable") && self.celo.is_some() => {
                        // The Celo-like node never goes away: an "offline" is false.
                        self.n.false_offline.fetch_add(1, Ordering::Relaxed);
                        return Err(format!(
                            "{name} at {}: offline on a node that never went away: {}",
                            w.name,
                            r.error.unwrap_or_default()
                        ));
                    }
                    FailKind::Refused
                        if after_reorg < 20
                            && self
                                .celo
                                .as_ref()
                                .is_some_and(|c| c.reorg_within(REORG_EXPLAINS)) =>
                    {
                        after_reorg += 1;
                        self.n.retried_after_reorg.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(step = name, worker = %w.name, error = ?r.error, "refused after a reorg: trying again");
                        tokio::time::sleep(Duration::from_secs(3)).await;
                        continue;
                    }
                    FailKind::Other | FailKind::Refused => {
                        return Err(format!(
                            "{name} at {}: {}",
                            w.name,
                            r.error.unwrap_or_default()
                        ))
                    }
                    FailKind::Card => {
                        // A pulled card comes back within a second; a restarting pcscd takes a few.
                        self.n.card_retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        if let Some(s) = slot {
                            cards::wait_present(s, 30).await;
                        }
                        FailKind::Card
                    }
                    FailKind::Node => {
                        self.n.node_retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        FailKind::Node
                    }
                },
                Err(_died) => {
                    self.n.interrupted.fetch_add(1, Ordering::Relaxed);
                    w.ensure_alive().await.map_err(|e| e.to_string())?;
                    FailKind::Other
                }
            };
            tracing::info!(step = name, worker = %w.name, ?kind, "step interrupted; deciding");
            let pid = match redo {
                Redo::Again => continue,
                Redo::Never => return Ok(Outcome::StartOver(format!("{name} interrupted"))),
                Redo::Claim(pid) => pid,
            };
            let mut probe = None;
            for _ in 0..30 {
                match w.call(Op::Probe { patient: pid }).await {
                    Ok(r) if r.ok => {
                        probe = r.probe;
                        break;
                    }
                    Ok(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Err(_) => {
                        w.ensure_alive().await.map_err(|e| e.to_string())?;
                    }
                }
            }
            let probe = probe.ok_or_else(|| {
                format!("{name}: could not probe the patient after an interruption")
            })?;
            // The consultation is one transaction: its claim is there, or none of it is.
            if !probe.claims.is_empty() {
                return Ok(Outcome::Done(Reply {
                    ok: true,
                    ..Reply::default()
                }));
            }
        }
        Err(format!(
            "{name} at {}: still failing after 30 attempts",
            w.name
        ))
    }

    /// Runs `fut` while (sometimes) a card pull hits it at a random moment.
    async fn maybe_pull<F: std::future::Future<Output = T>, T>(&self, sim: &Arc<Sim>, fut: F) -> T {
        let left = self.pulls_left.load(Ordering::Relaxed);
        let visits_left = self
            .plan
            .visits
            .saturating_sub(self.n.completed.load(Ordering::Relaxed))
            .max(1) as u64;
        // About one pull in three card steps of the visits still to come carry one.
        let hit = left > 0 && OsRng.next_u64() % (visits_left * 3).max(1) < left * 2;
        if !hit
            || self
                .pulls_left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| x.checked_sub(1))
                .is_err()
        {
            return fut.await;
        }
        self.n.card_pulls.fetch_add(1, Ordering::Relaxed);
        let delay = Duration::from_millis(OsRng.next_u64() % 1500);
        let sim = sim.clone();
        let pull = async move {
            tokio::time::sleep(delay).await;
            cards::pull(&sim, Duration::from_millis(400)).await;
        };
        let (r, ()) = tokio::join!(fut, pull);
        r
    }

    /// One whole visit on the blank card in `slot`. `Ok(false)`: interrupted at registration, start over.
    async fn visit(
        &self,
        i: usize,
        slot: &Slot,
        sim: &Arc<Sim>,
        p: &mut Patient,
    ) -> Result<bool, String> {
        let t0 = Instant::now();
        let (rec, doc, ph, ins) = (
            self.worker(KioskRole::Reception, i),
            self.worker(KioskRole::Doctor, i / 2),
            self.worker(KioskRole::Pharmacy, i),
            self.worker(KioskRole::Insurer, i / 2),
        );
        let reader = slot.name.clone();
        let pin = p.pin.clone();
        let reg = Op::Register {
            reader: reader.clone(),
            name: p.name.clone(),
            birth_date: p.birth_date.clone(),
            gender: if i.is_multiple_of(2) {
                "female"
            } else {
                "male"
            }
            .into(),
            pin: pin.clone(),
            admin_pin: "12345678".into(),
        };
        let pid = match self.step(&rec, reg, Redo::Never, Some(slot)).await? {
            Outcome::Done(r) => r.patient.ok_or("register returned no patient")?,
            Outcome::StartOver(_) => return Ok(false),
        };
        p.id = Some(pid);
        // The card consents to the insurer at enrolment (the registration's consent is the new patient's check-in).
        if let Outcome::StartOver(why) = self
            .step(
                &ins,
                Op::Enroll {
                    reader: reader.clone(),
                    pin: pin.clone(),
                },
                Redo::Again,
                Some(slot),
            )
            .await?
        {
            return Err(why);
        }
        // The doctor: the whole consultation in one write (all or nothing: landed when the claim is there).
        let (code, note, plan) = DIAGNOSES[p.diagnosis];
        let consult = Op::Consult {
            // One name for the visit's consultation, however often the step is asked.
            id: format!("visit-{i}-{}", alloy::hex::encode(&pid[..8])),
            reader: reader.clone(),
            pin: pin.clone(),
            icd10: code.into(),
            note: note.into(),
            plan: plan.iter().map(|s| s.to_string()).collect(),
            atc: p.drug.code.into(),
            quantity: 20.0,
            dosage: p.drug.default_dosage.into(),
            amount: 120,
        };
        if let Outcome::StartOver(why) = self
            .maybe_pull(sim, self.step(&doc, consult, Redo::Claim(pid), Some(slot)))
            .await?
        {
            return Err(format!("{why} (patient {pid})"));
        }
        let (pharm, settle) = tokio::join!(
            self.maybe_pull(
                sim,
                self.step(
                    &ph,
                    Op::Pharmacy {
                        reader: reader.clone(),
                        pin: pin.clone()
                    },
                    Redo::Again,
                    Some(slot)
                )
            ),
            self.step(&ins, Op::Settle { patient: pid }, Redo::Again, None)
        );
        for r in [pharm?, settle?] {
            if let Outcome::StartOver(why) = r {
                return Err(why);
            }
        }
        // The visit's end state, as the pharmacy's and the insurer's index see it.
        let probe = |w: Arc<Worker>| async move {
            for _ in 0..30 {
                match w.call(Op::Probe { patient: pid }).await {
                    Ok(r) if r.ok => return r.probe,
                    Ok(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                    Err(_) => {
                        let _ = w.ensure_alive().await;
                    }
                }
            }
            None
        };
        // On a chain that reorgs, a write of the visit may be on its way back: look again for a while.
        let looks = if self.celo.is_some() { 30 } else { 1 };
        for look in 1..=looks {
            let (a, b) = tokio::join!(probe(ph.clone()), probe(ins.clone()));
            let (Some(a), Some(b)) = (a, b) else {
                return Err(format!("visit of {pid}: could not read its end state"));
            };
            if a.records == 3
                && a.prescriptions == 1
                && a.dispensed == 1
                && b.claims.len() == 1
                && b.claims[0].1 == 4
            {
                break;
            }
            if look == looks {
                return Err(format!("visit of {pid} ended wrong: {a:?} {b:?}"));
            }
            // Still in the insurer's queue after a while: its decision was refused because a reorg renumbered
            // the claims (ClaimChanged) — the reviewer sees it waiting and decides it again.
            if look % 10 == 0 && b.claims.len() == 1 && b.claims[0].1 == 1 {
                self.n.decided_again.fetch_add(1, Ordering::Relaxed);
                if let Outcome::StartOver(why) = self
                    .step(&ins, Op::Settle { patient: pid }, Redo::Again, None)
                    .await?
                {
                    return Err(why);
                }
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        self.lat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add("visit", t0.elapsed().as_secs_f64() * 1e3);
        Ok(true)
    }

    /// A reader's loop: visits until the tickets run out.
    pub(crate) async fn runner(self: Arc<Self>, slot: Slot) {
        loop {
            let i = self.tickets.fetch_add(1, Ordering::Relaxed);
            if i >= self.plan.visits {
                return;
            }
            let mut tries = 0;
            loop {
                tries += 1;
                let n = self.next_patient.fetch_add(1, Ordering::Relaxed);
                let mut p = Patient::new(n);
                // pcscd may be restarting (a fault): try for a minute.
                let mut sim = None;
                let mut last = String::new();
                for _ in 0..30 {
                    match cards::insert_blank(&slot).await {
                        Ok(s) => {
                            sim = Some(s);
                            break;
                        }
                        Err(e) => last = e.to_string(),
                    }
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                let Some(sim) = sim else {
                    self.fail(format!("visit {i}: no card in {}: {last}", slot.name));
                    break;
                };
                let r = self.visit(i, &slot, &sim, &mut p).await;
                cards::remove(&slot, sim).await;
                self.patients
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(p);
                match r {
                    Ok(true) => {
                        self.n.completed.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(false) if tries < 4 => {
                        self.n.restarted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(false) => {
                        self.fail(format!("visit {i}: registration interrupted {tries} times"));
                        break;
                    }
                    Err(e) => {
                        self.fail(format!("visit {i}: {e}"));
                        break;
                    }
                }
            }
        }
    }

    /// Waits until `fraction` of the visits are complete (or the run is over).
    async fn at(&self, fraction: f64) {
        let goal = (self.plan.visits as f64 * fraction) as usize;
        while self.n.completed.load(Ordering::Relaxed) < goal && !self.done.load(Ordering::Relaxed)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn restart_anvil(&self) -> Result<(), LoadError> {
        let mut g = self.devnet.lock().await;
        if let Some(d) = g.take() {
            d.stop().await; // SIGTERM: Anvil dumps its state
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        *g = Some(Devnet::start(self.devnet_opts.clone()).await?);
        self.n.anvil_restarts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn restart_pcscd(&self) -> Result<(), LoadError> {
        let script = workspace().join("scripts/pcscd.sh");
        let want = cards::free_readers().map(|r| r.len()).unwrap_or(0);
        let total = carekiosk_card::list_readers(&carekiosk_card::ReaderPattern::new("PCD"))
            .map(|r| r.len())
            .unwrap_or(want);
        for cmd in ["stop", "start"] {
            let out = tokio::process::Command::new("bash")
                .arg(&script)
                .arg(cmd)
                .output()
                .await?;
            tracing::info!(cmd, out = %String::from_utf8_lossy(&out.stdout).trim(), "pcscd");
            if !out.status.success() {
                return Err(LoadError::Pcscd(cmd));
            }
        }
        // Wait for every reader to come back.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if carekiosk_card::list_readers(&carekiosk_card::ReaderPattern::new("PCD"))
                .map(|r| r.len() >= total)
                .unwrap_or(false)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.n.pcscd_restarts.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// The node, pcscd and kiosk faults, spread over the run.
    pub(crate) async fn injector(self: Arc<Self>) -> Result<(), LoadError> {
        #[derive(Debug, Clone, Copy)]
        enum F {
            Anvil,
            Outage,
            Pcscd,
            Kill,
        }
        // Each kind spread evenly over the run, all of them interleaved.
        let mut schedule: Vec<(f64, F)> = Vec::new();
        for (kind, count) in [
            (F::Anvil, self.plan.anvil_restarts),
            (F::Outage, self.plan.outages),
            (F::Pcscd, self.plan.pcscd_restarts),
            (F::Kill, self.plan.kiosk_kills),
        ] {
            for j in 0..count {
                schedule.push(((f64::from(j) + 0.5) / f64::from(count), kind));
            }
        }
        schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total = schedule.len();
        for (n, (_, f)) in schedule.into_iter().enumerate() {
            self.at(0.05 + 0.85 * n as f64 / total.max(1) as f64).await;
            if self.done.load(Ordering::Relaxed) {
                break;
            }
            tracing::info!(fault = ?f, "injecting");
            eprintln!(
                "  fault: {f:?} at {} visits",
                self.n.completed.load(Ordering::Relaxed)
            );
            match f {
                F::Anvil => self.restart_anvil().await?,
                F::Outage => {
                    self.proxy.set_up(false);
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    self.proxy.set_up(true);
                    self.n.outages.fetch_add(1, Ordering::Relaxed);
                }
                F::Pcscd => self.restart_pcscd().await?,
                F::Kill => {
                    let w = self.workers[(OsRng.next_u64() as usize) % self.workers.len()].clone();
                    tokio::time::sleep(Duration::from_millis(OsRng.next_u64() % 1000)).await;
                    w.kill_and_restart().await?;
                }
            }
        }
        Ok(())
    }

    /// The SQLite writer killed mid-transaction, `plan.sqlite_kills` times, checked after each kill.
    pub(crate) async fn sqlite_faults(
        self: Arc<Self>,
        exe: PathBuf,
        db: PathBuf,
    ) -> Result<(), LoadError> {
        use tokio::io::AsyncBufReadExt;
        let mut last = 0;
        for _ in 0..self.plan.sqlite_kills {
            let mut child = tokio::process::Command::new(&exe)
                .arg("sqlite-writer")
                .arg("--db")
                .arg(&db)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()?;
            let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
            let skip = OsRng.next_u64() % 3;
            let mut mids = 0;
            while let Some(line) = lines.next_line().await? {
                if line.starts_with("MID") {
                    if mids == skip {
                        break;
                    }
                    mids += 1;
                }
            }
            child.start_kill()?;
            let _ = child.wait().await;
            self.n.sqlite_kills.fetch_add(1, Ordering::Relaxed);
            let path = db.clone();
            let committed =
                tokio::task::spawn_blocking(move || crate::crash::verify(&path)).await??;
            if committed < last {
                return Err(LoadError::Check(format!(
                    "SQLite writer: {committed} transactions after {last}"
                )));
            }
            last = committed;
            self.n.sqlite_committed.store(committed, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(500 + OsRng.next_u64() % 2000)).await;
        }
        Ok(())
    }
}
