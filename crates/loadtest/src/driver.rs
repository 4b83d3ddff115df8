//! The load run: one Anvil mining a block a second, the contracts deployed, eight or more kiosk worker
//! processes (each its own key and SQLite file), one blank virtual card a visit in the vpcd readers, whole
//! visits pipelined (a patient per reader in flight), the faults injected while they run, then the checker and
//! the privacy scanner.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use carekiosk_card_sim::Sim;
use carekiosk_chain::deploy::{self, LocalStack, TOKEN_UNIT};
use carekiosk_chain::devnet::{Devnet, DevnetOptions};
use carekiosk_kiosk::KioskRole;
use rand_core::{OsRng, RngCore};
use serde::Serialize;

use crate::cards::{self, Slot};
use crate::check::{self, CheckReport, GasReport, KioskDb};
use crate::privacy::{self, Needle};
use crate::proto::{FailKind, Op, Reply};
use crate::proxy::Proxy;
use crate::stats::{Latencies, Tail};
use crate::workers::Worker;
use crate::LoadError;

/// The paper's gas for the same visit (its Table III summed; `docs/gas-table.md`).
pub const PAPER_VISIT_GAS: u64 = 934_110;
/// A Celo block: 30M gas a second.
pub const CELO_GAS_PER_SECOND: u64 = 30_000_000;

/// What a run does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Whole visits to complete.
    pub visits: usize,
    /// Kiosks per role.
    pub kiosks_per_role: usize,
    /// At most this many readers (patients in flight).
    pub max_readers: usize,
    /// Anvil stopped and started again from its dumped state.
    pub anvil_restarts: u32,
    /// The node unreachable (every connection cut) for a while.
    pub outages: u32,
    /// pcscd stopped and started.
    pub pcscd_restarts: u32,
    /// Cards pulled (and put back) at random moments of a step.
    pub card_pulls: u32,
    /// Kiosk processes killed with SIGKILL at random moments and restarted.
    pub kiosk_kills: u32,
    /// The SQLite writer killed mid-transaction.
    pub sqlite_kills: u32,
    /// The chain is Celo-like (Celo's rules behind the hostile proxy at the proof conditions) instead of
    /// a plain Anvil; its faults are the proxy's.
    pub celo_like: bool,
    /// The proxy's random seed (`celo_like`).
    pub seed: u64,
}

impl Plan {
    /// The bounded CI run: 300 visits with every fault.
    pub fn bounded() -> Plan {
        Plan {
            visits: 300,
            kiosks_per_role: 2,
            max_readers: 16,
            anvil_restarts: 1,
            outages: 1,
            pcscd_restarts: 1,
            card_pulls: 20,
            kiosk_kills: 12,
            sqlite_kills: 8,
            celo_like: false,
            seed: 0,
        }
    }

    /// The bounded run on the Celo-like chain: 300 visits under rate limits, reorgs, hangs, stale reads, dropped
    /// sends and fee spikes (the proxy's faults; the machine's own are left out).
    pub fn celo_like(seed: u64) -> Plan {
        Plan {
            celo_like: true,
            seed,
            ..Plan::bounded().without_faults()
        }
    }

    /// The full run, on demand.
    pub fn full() -> Plan {
        Plan {
            visits: 1000,
            anvil_restarts: 3,
            outages: 3,
            pcscd_restarts: 3,
            card_pulls: 80,
            kiosk_kills: 40,
            sqlite_kills: 30,
            ..Plan::bounded()
        }
    }

    /// No faults (a throughput run).
    pub fn without_faults(mut self) -> Plan {
        self.anvil_restarts = 0;
        self.outages = 0;
        self.pcscd_restarts = 0;
        self.card_pulls = 0;
        self.kiosk_kills = 0;
        self.sqlite_kills = 0;
        self
    }
}

/// Faults injected and what came of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FaultReport {
    /// Anvil stopped (SIGTERM, state dumped) and started again from the state file.
    pub anvil_restarts: u64,
    /// Node unreachable periods.
    pub outages: u64,
    /// pcscd restarts.
    pub pcscd_restarts: u64,
    /// Cards pulled.
    pub card_pulls: u64,
    /// Steps that failed on the card and were retried.
    pub card_retries: u64,
    /// Steps that failed on the node and were retried.
    pub node_retries: u64,
    /// Kiosk processes killed with SIGKILL.
    pub kiosk_kills: u64,
    /// Steps in flight when their kiosk was killed.
    pub steps_interrupted: u64,
    /// Pending writes a restarted kiosk found and reconciled with the chain.
    pub writes_reconciled: u64,
    /// Kiosk processes that died without being killed.
    pub unexpected_deaths: u64,
    /// SQLite writer killed mid-transaction.
    pub sqlite_kills: u64,
    /// Its transactions found whole after the kills (none partly).
    pub sqlite_committed: u64,
    /// Diagnoses whose kiosk was killed between the condition and the care plan: the plan entered again.
    pub care_plans_again: u64,
    /// Visits given up after a fault interrupted the registration (the card was half issued): redone with a new
    /// patient and card; their writes are checked like all others.
    pub visits_restarted: u64,
}

/// The privacy scan's result.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PrivacyReport {
    /// Needles searched (each as UTF-8 and hex).
    pub needles: usize,
    /// Transactions scanned.
    pub transactions: usize,
    /// Logs scanned.
    pub logs: usize,
    /// Hits on chain.
    pub chain_hits: Vec<String>,
    /// Log files scanned.
    pub log_files: usize,
    /// Bytes of logs scanned.
    pub log_bytes: usize,
    /// Hits in the kiosks' logs.
    pub log_hits: Vec<String>,
    /// Sealed payloads on chain by length (every one must be a bucket size: 512 … 65,536 + 272 bytes).
    pub sealed_sizes: std::collections::BTreeMap<usize, usize>,
    /// Sealed payloads whose length is not a bucket size (must be empty).
    pub off_bucket: Vec<String>,
}

/// A run's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The plan.
    pub plan: Plan,
    /// Kiosk processes.
    pub kiosks: usize,
    /// Readers (patients in flight).
    pub readers: usize,
    /// Visits completed.
    pub visits: usize,
    /// Seconds from the first visit to the last.
    pub seconds: f64,
    /// Completed visits a minute.
    pub visits_per_minute: f64,
    /// Failed visits (must be none), with why.
    pub failures: Vec<String>,
    /// p50/p95/p99 per step (ms), and of the whole visit.
    pub steps: BTreeMap<String, Tail>,
    /// Gas.
    pub gas: GasReport,
    /// Visits a second a Celo block (30M gas, 1 s) could carry at our gas per visit.
    pub celo_visits_per_second: f64,
    /// The same at the paper's gas per visit.
    pub paper_visits_per_second: f64,
    /// Faults.
    pub faults: FaultReport,
    /// The checker.
    pub check: CheckReport,
    /// The privacy scanner.
    pub privacy: PrivacyReport,
    /// The Celo-like chain's faults and what came of them (`--celo-like`).
    pub celo: Option<crate::celo::CeloReport>,
    /// Seconds the whole run took (setup and checks included).
    pub total_seconds: f64,
}

impl Report {
    /// Whether the run passed: every visit done, none failed, nothing lost, doubled or leaked.
    pub fn passed(&self) -> bool {
        self.visits >= self.plan.visits
            && self.failures.is_empty()
            && self.check.clean()
            && self.privacy.chain_hits.is_empty()
            && self.privacy.log_hits.is_empty()
            && self.privacy.off_bucket.is_empty()
            && !self.privacy.sealed_sizes.is_empty()
            && self.faults.unexpected_deaths == 0
            && self.celo.as_ref().is_none_or(|c| c.passed())
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "carekiosk load run: {} kiosk processes, {} readers, {}",
            self.kiosks,
            self.readers,
            if self.plan.celo_like {
                "a Celo-like chain (Anvil at Celo's rules, 1 s blocks) behind a hostile RPC"
            } else {
                "one Anvil (1 s blocks)"
            }
        )?;
        writeln!(
            f,
            "visits: {} complete in {:.1} s = {:.1} visits/min; failures: {}",
            self.visits,
            self.seconds,
            self.visits_per_minute,
            self.failures.len()
        )?;
        writeln!(
            f,
            "{:<10} {:>6} {:>9} {:>9} {:>9}",
            "step", "n", "p50 ms", "p95 ms", "p99 ms"
        )?;
        for (k, t) in &self.steps {
            writeln!(
                f,
                "{k:<10} {:>6} {:>9.1} {:>9.1} {:>9.1}",
                t.n, t.p50, t.p95, t.p99
            )?;
        }
        writeln!(f, "gas per function (median of the run's receipts):")?;
        for (k, (g, n)) in &self.gas.per_function {
            writeln!(f, "  {k:<22} {g:>8} ({n} txs)")?;
        }
        writeln!(
            f,
            "gas per full visit: {} ({} writes at the medians); measured {} (all kiosk gas / visits, retries included)",
            self.gas.per_visit,
            crate::check::visit_writes(),
            self.gas.per_visit_measured
        )?;
        writeln!(
            f,
            "Celo block (30M gas, 1 s): {:.1} visits/s at ours; {:.1} visits/s at the paper's {} gas",
            self.celo_visits_per_second, self.paper_visits_per_second, PAPER_VISIT_GAS
        )?;
        let x = &self.faults;
        writeln!(
            f,
            "faults: anvil restarts {}, outages {}, pcscd restarts {}, card pulls {} ({} steps retried on the card), \
             kiosk SIGKILLs {} ({} steps interrupted, {} pending writes reconciled), SQLite writer kills {} ({} whole \
             transactions, none partial), node retries {}, visits restarted {}, care plans entered again {}, unexpected deaths {}",
            x.anvil_restarts,
            x.outages,
            x.pcscd_restarts,
            x.card_pulls,
            x.card_retries,
            x.kiosk_kills,
            x.steps_interrupted,
            x.writes_reconciled,
            x.sqlite_kills,
            x.sqlite_committed,
            x.node_retries,
            x.visits_restarted,
            x.care_plans_again,
            x.unexpected_deaths
        )?;
        let c = &self.check;
        writeln!(
            f,
            "checker: {} kiosk databases (integrity ok), {} writes confirmed, {} kiosk txs on chain, {} index rows; \
             lost {}, doubled {}, orphan pending {}, refused {} (and {} refused, asked again and landed; {} kiosk txs \
             refused on chain, each its write's), unexplained rows {}",
            c.kiosks,
            c.confirmed,
            c.chain_writes,
            c.rows,
            c.lost.len(),
            c.doubled.len(),
            c.orphans.len(),
            c.refused.len(),
            c.refused_then_landed,
            c.refused_on_chain,
            c.unexplained.len()
        )?;
        for l in c
            .lost
            .iter()
            .chain(&c.doubled)
            .chain(&c.orphans)
            .chain(&c.refused)
            .chain(&c.unexplained)
            .take(20)
        {
            writeln!(f, "  {l}")?;
        }
        let p = &self.privacy;
        writeln!(
            f,
            "privacy: {} needles; chain: {} txs, {} logs, {} hits; kiosk logs: {} files, {} bytes, {} hits",
            p.needles,
            p.transactions,
            p.logs,
            p.chain_hits.len(),
            p.log_files,
            p.log_bytes,
            p.log_hits.len()
        )?;
        let sizes: Vec<String> = p
            .sealed_sizes
            .iter()
            .map(|(len, n)| format!("{len} B × {n}"))
            .collect();
        writeln!(
            f,
            "sealed payloads on chain: {} in {} size(s) [{}], {} off the buckets",
            p.sealed_sizes.values().sum::<usize>(),
            p.sealed_sizes.len(),
            sizes.join(", "),
            p.off_bucket.len()
        )?;
        for h in p
            .chain_hits
            .iter()
            .chain(&p.log_hits)
            .chain(&p.off_bucket)
            .take(20)
        {
            writeln!(f, "  {h}")?;
        }
        if let Some(c) = &self.celo {
            write!(f, "{c}")?;
        }
        for l in self.failures.iter().take(20) {
            writeln!(f, "  failure: {l}")?;
        }
        writeln!(
            f,
            "run took {:.0} s in all; {}",
            self.total_seconds,
            if self.passed() { "PASSED" } else { "FAILED" }
        )
    }
}

const GIVEN: [&str; 20] = [
    "Amelia", "Bruno", "Clara", "Dario", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Karla", "Lorenz", "Mira", "Nils", "Olga", "Paulus", "Quirin", "Rosalind", "Sven", "Tilda",
];
const FAMILY: [&str; 25] = [
    "Achterberg",
    "Brennecke",
    "Castellanos",
    "Dimitriou",
    "Eberhardt",
    "Falkenrath",
    "Gundersen",
    "Hollstein",
    "Ivanova",
    "Jaworski",
    "Kowalczyk",
    "Lindqvist",
    "Morgenstern",
    "Nakamura",
    "Oyelaran",
    "Pettersson",
    "Quaresma",
    "Rasmussen",
    "Szczepanski",
    "Thorvaldsen",
    "Urquhart",
    "Vasquez-Lind",
    "Wojcik",
    "Yilmazer",
    "Zimmerling",
];
const DIAGNOSES: [(&str, &str, [&str; 2]); 6] = [
    (
        "J06.9",
        "sore throat and mild fever for three days",
        ["rest and plenty of fluids", "return if fever persists"],
    ),
    (
        "I10",
        "blood pressure above target on three readings",
        [
            "low-salt diet for three months",
            "home blood pressure diary",
        ],
    ),
    (
        "J20.9",
        "productive cough for ten days, no dyspnoea",
        ["steam inhalation twice daily", "stop smoking counselling"],
    ),
    (
        "M54.50",
        "lower back pain after lifting furniture",
        ["daily stretching programme", "physiotherapy referral"],
    ),
    (
        "J02.9",
        "painful swallowing since the weekend",
        ["warm saline gargles", "soft diet for a week"],
    ),
    (
        "J45.909",
        "wheezing at night twice a week",
        ["inhaler technique training", "avoid known triggers"],
    ),
];
const DRUGS: [&str; 5] = ["J01CA04", "C09AA05", "N02BE01", "J01FA10", "H03AA01"];

/// One simulated patient (the demo data the privacy scanner looks for).
#[derive(Clone)]
pub struct Patient {
    name: String,
    birth_date: String,
    diagnosis: usize,
    drug: &'static carekiosk_records::formulary::Drug,
    pin: String,
    id: Option<B256>,
}

impl Patient {
    fn new(n: usize) -> Patient {
        let letter = (b'A' + ((n / 500) % 26) as u8) as char;
        let name = format!("{} {letter}. {}", GIVEN[n % 20], FAMILY[(n / 20) % 25]);
        let day = 365 + (n as i64 * 7919) % 15_000;
        let birth_date = carekiosk_records::FhirDate::from_unix_seconds(day * 86_400).to_string();
        let drug = DRUGS
            .iter()
            .cycle()
            .skip(n % DRUGS.len())
            .find_map(|c| carekiosk_records::formulary::lookup(c))
            .expect("a formulary drug");
        Patient {
            name,
            birth_date,
            diagnosis: n % DIAGNOSES.len(),
            drug,
            pin: scan_safe_pin(),
            id: None,
        }
    }

    fn needles(&self) -> Vec<Needle> {
        let (code, note, plan) = DIAGNOSES[self.diagnosis];
        let display = carekiosk_records::icd10::lookup(code)
            .map(|c| c.display)
            .unwrap_or(code);
        let mut v = vec![
            Needle::new("patient name", &self.name),
            Needle::new("birth date", &self.birth_date),
            Needle::new("diagnosis text", display),
            Needle::new("diagnosis note", note),
            Needle::new("drug name", self.drug.name),
            Needle::new("dosage text", self.drug.default_dosage),
            Needle::new("PIN", &self.pin),
        ];
        v.extend(plan.iter().map(|p| Needle::new("care plan text", p)));
        v
    }
}

#[derive(Default)]
struct Counters {
    completed: AtomicUsize,
    card_pulls: AtomicU64,
    card_retries: AtomicU64,
    node_retries: AtomicU64,
    interrupted: AtomicU64,
    restarted: AtomicU64,
    care_plans_again: AtomicU64,
    anvil_restarts: AtomicU64,
    outages: AtomicU64,
    pcscd_restarts: AtomicU64,
    sqlite_kills: AtomicU64,
    sqlite_committed: AtomicU64,
    false_offline: AtomicU64,
    retried_after_reorg: AtomicU64,
}

struct Ctx {
    plan: Plan,
    workers: Vec<Arc<Worker>>,
    lat: Mutex<Latencies>,
    n: Counters,
    failures: Mutex<Vec<String>>,
    patients: Mutex<Vec<Patient>>,
    next_patient: AtomicUsize,
    pulls_left: AtomicU64,
    tickets: AtomicUsize,
    devnet: tokio::sync::Mutex<Option<Devnet>>,
    devnet_opts: DevnetOptions,
    proxy: Proxy,
    celo: Option<Arc<crate::celo::CeloChain>>,
    done: AtomicBool,
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
    /// Landed when the patient has this many records (one fewer: half landed, start over).
    Records(B256, u64),
    /// Landed when the patient has at least this many records (fewer: not landed, run again).
    AtLeast(B256, u64),
    /// Landed when the patient has a prescription.
    Prescription(B256),
    /// Landed when the patient has a claim.
    Claim(B256),
}

/// Whether a probe shows a step's writes landed (`None`: half of them).
type Landed = fn(&crate::proto::Probe, u64) -> Option<bool>;

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
            let (pid, landed): (B256, Landed) = match redo {
                Redo::Again => continue,
                Redo::Never => return Ok(Outcome::StartOver(format!("{name} interrupted"))),
                Redo::Records(pid, _) => (pid, |p, want| {
                    if p.records >= want {
                        Some(true)
                    } else if p.records + 1 == want {
                        None
                    } else {
                        Some(false)
                    }
                }),
                Redo::AtLeast(pid, _) => (pid, |p, want| Some(p.records >= want)),
                Redo::Prescription(pid) => (pid, |p, _| Some(p.prescriptions > 0)),
                Redo::Claim(pid) => (pid, |p, _| Some(!p.claims.is_empty())),
            };
            let want = match redo {
                Redo::Records(_, n) | Redo::AtLeast(_, n) => n,
                _ => 0,
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
            match landed(&probe, want) {
                Some(true) => {
                    return Ok(Outcome::Done(Reply {
                        ok: true,
                        ..Reply::default()
                    }))
                }
                Some(false) => continue,
                None => return Ok(Outcome::StartOver(format!("{name} half landed"))),
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
        // The card consents to the insurer at enrolment, then checks in: one card, one desk at a time.
        let enroll = self
            .step(
                &ins,
                Op::Enroll {
                    reader: reader.clone(),
                    pin: pin.clone(),
                },
                Redo::Again,
                Some(slot),
            )
            .await;
        let check_in = self
            .maybe_pull(
                sim,
                self.step(
                    &rec,
                    Op::CheckIn {
                        reader: reader.clone(),
                        pin: pin.clone(),
                    },
                    Redo::Again,
                    Some(slot),
                ),
            )
            .await;
        for r in [enroll?, check_in?] {
            if let Outcome::StartOver(why) = r {
                return Err(why);
            }
        }
        let (code, note, plan) = DIAGNOSES[p.diagnosis];
        let diag = Op::Diagnose {
            reader: reader.clone(),
            pin: pin.clone(),
            icd10: code.into(),
            note: note.into(),
            plan: plan.iter().map(|s| s.to_string()).collect(),
        };
        let rx = Op::Prescribe {
            reader: reader.clone(),
            pin: pin.clone(),
            atc: p.drug.code.into(),
            quantity: 20.0,
            dosage: p.drug.default_dosage.into(),
        };
        if let Outcome::StartOver(_) = self
            .step(&doc, diag, Redo::Records(pid, 3), Some(slot))
            .await?
        {
            // The kiosk stopped between the diagnosis and its care plan: the doctor enters the plan again.
            self.n.care_plans_again.fetch_add(1, Ordering::Relaxed);
            let again = Op::CarePlan {
                reader: reader.clone(),
                pin: pin.clone(),
                icd10: code.into(),
                plan: plan.iter().map(|s| s.to_string()).collect(),
            };
            if let Outcome::StartOver(why) = self
                .step(&doc, again, Redo::AtLeast(pid, 3), Some(slot))
                .await?
            {
                return Err(format!("{why} (patient {pid})"));
            }
        }
        if let Outcome::StartOver(why) = self
            .step(&doc, rx, Redo::Prescription(pid), Some(slot))
            .await?
        {
            return Err(format!("{why} (patient {pid})"));
        }
        let claim = Op::Claim {
            reader: reader.clone(),
            pin: pin.clone(),
            amount: 120,
        };
        if let Outcome::StartOver(why) = self
            .maybe_pull(sim, self.step(&doc, claim, Redo::Claim(pid), Some(slot)))
            .await?
        {
            return Err(why);
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
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        self.lat
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .add("visit", t0.elapsed().as_secs_f64() * 1e3);
        Ok(true)
    }

    /// A reader's loop: visits until the tickets run out.
    async fn runner(self: Arc<Self>, slot: Slot) {
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
                return Err(LoadError::Worker(format!("pcscd.sh {cmd} failed")));
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
    async fn injector(self: Arc<Self>) -> Result<(), LoadError> {
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
    async fn sqlite_faults(self: Arc<Self>, exe: PathBuf, db: PathBuf) -> Result<(), LoadError> {
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
            let committed = tokio::task::spawn_blocking(move || crate::crash::verify(&path))
                .await
                .map_err(|e| LoadError::Worker(e.to_string()))??;
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

/// The repository root (for `scripts/pcscd.sh`).
pub fn workspace() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("Cargo.lock").exists() && d.pop() {}
    d
}

/// Runs `plan` with its files under `dir` (kiosk databases, logs, the chain state, `report.json`).
pub async fn run(plan: Plan, dir: &Path) -> Result<Report, LoadError> {
    let started = Instant::now();
    // A fresh chain: fresh kiosk databases and logs (the driver's own log, already open, stays).
    let _ = std::fs::remove_dir_all(dir.join("kiosks"));
    for f in [
        "anvil-state.json",
        "sqlite-crash.db",
        "sqlite-crash.db-wal",
        "sqlite-crash.db-shm",
    ] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    std::fs::create_dir_all(dir.join("logs"))?;
    for e in std::fs::read_dir(dir.join("logs"))?.flatten() {
        if e.file_name() != "driver.log" {
            let _ = std::fs::remove_file(e.path());
        }
    }
    let exe = std::env::current_exe()?;
    let opts = if plan.celo_like {
        eprintln!(
            "starting a Celo-like chain (Anvil at Celo's rules, a block a second) and deploying"
        );
        DevnetOptions::celo_like(crate::celo::CHAIN_ID)
    } else {
        eprintln!("starting Anvil (a block a second) and deploying");
        DevnetOptions {
            block_time: Some(1),
            state_file: Some(dir.join("anvil-state.json")),
            ..DevnetOptions::default()
        }
    };
    let st = if plan.celo_like {
        LocalStack::start_on(opts.clone(), crate::celo::profile()?).await?
    } else {
        LocalStack::start(opts.clone()).await?
    };
    let devnet_opts = DevnetOptions {
        port: st.devnet.port,
        ..opts
    };
    let proxy = Proxy::start(st.devnet.port).await?;
    let (chain, mut d, actors) = (st.chain, st.deployment, st.actors);
    // Each kiosk its own key; each institution one record key, published on chain (and in the manifest).
    let mut kiosks = Vec::new();
    for role in KioskRole::ALL {
        for n in 0..plan.kiosks_per_role {
            let slot = crate::keys::slot(role, n);
            let keys = crate::keys::kiosk_keys(&slot, role)?;
            let inst = carekiosk_kiosk::local::institution_of(&actors, role);
            let addr = keys.signer.address();
            chain
                .devnet_set_balance(addr, U256::from(100u64) * U256::from(TOKEN_UNIT))
                .await?;
            deploy::enrol_kiosk(&chain, &d, inst, &keys.signer).await?;
            // The institution publishes its record key on chain (kiosks seal claims for the chain's key).
            deploy::publish_record_key(
                &chain,
                &d,
                inst,
                &keys.record_key.public_key().to_sec1_compressed(),
            )
            .await?;
            let public = alloy::hex::encode(keys.record_key.public_key().to_sec1_uncompressed());
            for i in d.institutions.iter_mut().filter(|i| i.address == inst) {
                i.record_key = public.clone();
                i.kiosks.push(addr);
            }
            kiosks.push((role, n, slot, addr, keys.database_key));
        }
    }
    d.rpc_url = format!("http://127.0.0.1:{}", proxy.port);
    let manifest = dir.join("local.json");
    d.save(&manifest)?;
    // The Celo-like run: the hostile proxy in front of the chain; each kiosk its own manifest (its name in the URL).
    let celo = if plan.celo_like {
        let c =
            crate::celo::CeloChain::start(&st.devnet, crate::celo::proof_config(plan.seed)).await?;
        eprintln!(
            "celo-like proxy at {} ({})",
            c.proxy.url,
            if c.remote {
                "kiosks see a remote node"
            } else {
                "no non-loopback address: kiosks see a loopback node"
            }
        );
        Some(Arc::new(c))
    } else {
        None
    };
    let profile = match &celo {
        Some(c) => Some(c.write_profile(dir)?),
        None => None,
    };
    let mut workers: Vec<Arc<Worker>> = Vec::new();
    for (role, n, _, _, _) in &kiosks {
        let mut w = Worker::new(exe.clone(), *role, *n, dir, manifest.clone());
        if let (Some(c), Some(p)) = (&celo, &profile) {
            let m = c.write_manifest(&d, &w.name, dir)?;
            w = w.on_remote_node(m, p.clone());
        }
        workers.push(Arc::new(w));
    }
    eprintln!("starting {} kiosk processes", workers.len());
    for w in &workers {
        w.start().await?;
    }
    let mut slots = cards::free_readers()?;
    slots.truncate(plan.max_readers);
    if slots.is_empty() {
        return Err(LoadError::Worker(
            "no free vpcd reader: is pcscd running with vpcd?".into(),
        ));
    }
    eprintln!(
        "{} readers: {} visits in flight at most",
        slots.len(),
        slots.len()
    );
    let ctx = Arc::new(Ctx {
        pulls_left: AtomicU64::new(u64::from(plan.card_pulls)),
        plan: plan.clone(),
        workers: workers.clone(),
        lat: Mutex::default(),
        n: Counters::default(),
        failures: Mutex::default(),
        patients: Mutex::default(),
        next_patient: AtomicUsize::new(0),
        tickets: AtomicUsize::new(0),
        devnet: tokio::sync::Mutex::new(Some(st.devnet)),
        devnet_opts,
        proxy,
        celo: celo.clone(),
        done: AtomicBool::new(false),
    });
    let t0 = Instant::now();
    let injector = tokio::spawn(ctx.clone().injector());
    let sqlite = tokio::spawn(
        ctx.clone()
            .sqlite_faults(exe.clone(), dir.join("sqlite-crash.db")),
    );
    let watcher = celo.clone().map(|c| {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                c.watch();
            }
        })
    });
    let progress = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(15)).await;
                let done = ctx.n.completed.load(Ordering::Relaxed);
                eprintln!(
                    "  {:>4.0} s: {done} visits, {} failures",
                    t0.elapsed().as_secs_f64(),
                    ctx.failures.lock().unwrap_or_else(|e| e.into_inner()).len()
                );
            }
        })
    };
    let runners: Vec<_> = slots
        .iter()
        .map(|s| tokio::spawn(ctx.clone().runner(s.clone())))
        .collect();
    for r in runners {
        let _ = r.await;
    }
    let seconds = t0.elapsed().as_secs_f64();
    ctx.done.store(true, Ordering::Relaxed);
    progress.abort();
    if let Some(w) = watcher {
        w.abort();
    }
    let mut failures = ctx
        .failures
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    match injector.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(format!("fault injection: {e}")),
        Err(e) => failures.push(format!("fault injection: {e}")),
    }
    match sqlite.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => failures.push(format!("SQLite writer fault: {e}")),
        Err(e) => failures.push(format!("SQLite writer fault: {e}")),
    }
    ctx.proxy.set_up(true);
    eprintln!("visits done in {seconds:.0} s; draining the outboxes and checking");
    for w in &workers {
        let mut ok = false;
        for _ in 0..5 {
            if let Ok(r) = w.call(Op::Finish).await {
                if r.ok {
                    ok = true;
                    break;
                }
            }
            let _ = w.ensure_alive().await;
        }
        if !ok {
            failures.push(format!("{}: could not drain at the end", w.name));
        }
    }
    for w in &workers {
        w.stop().await;
    }
    let txs = check::chain_txs(&chain).await?;
    let patients = ctx
        .patients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let pids: Vec<B256> = patients.iter().filter_map(|p| p.id).collect();
    let dbs: Vec<KioskDb> = kiosks
        .iter()
        .zip(&workers)
        .map(|((role, _, _, addr, key), w)| {
            let mut c = carekiosk_kiosk::KioskConfig::preset(*role);
            c.data_dir = w.data_dir.clone();
            if let Some(p) = &profile {
                c.profile = p.display().to_string(); // the database is named after the network
            }
            KioskDb {
                name: w.name.clone(),
                address: *addr,
                path: c.database_path(),
                key: *key,
            }
        })
        .collect();
    let check = check::check(&txs, &d, &dbs, &pids)?;
    let celo_report = match &celo {
        Some(c) => {
            let named: Vec<(String, KioskDb)> = kiosks
                .iter()
                .zip(&dbs)
                .map(|((role, ..), db)| (role.as_str().to_string(), db.clone()))
                .collect();
            Some(crate::celo::report(
                c,
                &named,
                &txs,
                ctx.n.completed.load(Ordering::Relaxed),
                ctx.n.false_offline.load(Ordering::Relaxed),
                ctx.n.retried_after_reorg.load(Ordering::Relaxed),
            )?)
        }
        None => None,
    };
    let completed = ctx.n.completed.load(Ordering::Relaxed);
    let senders: HashSet<Address> = kiosks.iter().map(|k| k.3).collect();
    let gas = check::gas(&txs, &senders, completed);
    // Privacy: every patient's fields on chain; those, the PINs and the kiosks' keys in the logs.
    let mut needles: Vec<Needle> = patients.iter().flat_map(Patient::needles).collect();
    let chain_scan = privacy::scan_chain(&chain, &needles).await?;
    for (role, _, slot, _, _) in &kiosks {
        for (i, s) in crate::keys::secrets_hex(slot, *role)?.iter().enumerate() {
            needles.push(Needle::new(
                [
                    "kiosk signing key",
                    "institution record key",
                    "database key",
                ][i],
                s,
            ));
        }
    }
    let log_scan = privacy::scan_files(&dir.join("logs"), &needles)?;
    let faults = FaultReport {
        anvil_restarts: ctx.n.anvil_restarts.load(Ordering::Relaxed),
        outages: ctx.n.outages.load(Ordering::Relaxed),
        pcscd_restarts: ctx.n.pcscd_restarts.load(Ordering::Relaxed),
        card_pulls: ctx.n.card_pulls.load(Ordering::Relaxed),
        card_retries: ctx.n.card_retries.load(Ordering::Relaxed),
        node_retries: ctx.n.node_retries.load(Ordering::Relaxed),
        kiosk_kills: workers
            .iter()
            .map(|w| w.kills.load(Ordering::Relaxed))
            .sum(),
        steps_interrupted: ctx.n.interrupted.load(Ordering::Relaxed),
        writes_reconciled: workers
            .iter()
            .map(|w| w.recovered.load(Ordering::Relaxed))
            .sum(),
        unexpected_deaths: workers
            .iter()
            .map(|w| w.unexpected_deaths.load(Ordering::Relaxed))
            .sum(),
        sqlite_kills: ctx.n.sqlite_kills.load(Ordering::Relaxed),
        sqlite_committed: ctx.n.sqlite_committed.load(Ordering::Relaxed),
        visits_restarted: ctx.n.restarted.load(Ordering::Relaxed),
        care_plans_again: ctx.n.care_plans_again.load(Ordering::Relaxed),
    };
    if let Some(devnet) = ctx.devnet.lock().await.take() {
        devnet.stop().await;
    }
    let lat = ctx.lat.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let per_visit = gas.per_visit.max(1);
    let report = Report {
        kiosks: workers.len(),
        readers: slots.len(),
        visits: completed,
        seconds,
        visits_per_minute: completed as f64 / (seconds / 60.0),
        failures,
        steps: lat.tails(),
        celo_visits_per_second: CELO_GAS_PER_SECOND as f64 / per_visit as f64,
        paper_visits_per_second: CELO_GAS_PER_SECOND as f64 / PAPER_VISIT_GAS as f64,
        gas,
        faults,
        check,
        privacy: PrivacyReport {
            needles: needles.len(),
            transactions: chain_scan.items,
            logs: chain_scan.logs,
            chain_hits: chain_scan
                .hits
                .iter()
                .map(|h| format!("{} in {}", h.what, h.place))
                .collect(),
            sealed_sizes: chain_scan.sealed_sizes.clone(),
            off_bucket: chain_scan.off_bucket.clone(),
            log_files: log_scan.items,
            log_bytes: log_scan.bytes,
            log_hits: log_scan
                .hits
                .iter()
                .map(|h| format!("{} in {}", h.what, h.place))
                .collect(),
        },
        celo: celo_report,
        total_seconds: started.elapsed().as_secs_f64(),
        plan,
    };
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_string_pretty(&report).unwrap_or_default(),
    )?;
    Ok(report)
}

/// A random 8-character PIN the privacy scan can look for without false alarms: from letters that never occur in
/// hex or decimal numbers (a random 8-digit PIN is found by chance in the logs' hashes, amounts and timings, about
/// one run in a few). The card takes any ASCII PIN; the desks' PIN pad uses digits.
fn scan_safe_pin() -> String {
    const ALPHABET: &[u8] = b"ghjkmnpqrstuvwxyz";
    (0..8)
        .map(|_| char::from(ALPHABET[(OsRng.next_u32() as usize) % ALPHABET.len()]))
        .collect()
}
