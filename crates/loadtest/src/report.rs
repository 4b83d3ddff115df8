//! What a load run found: throughput, latencies, gas, faults, the checker's and the privacy scanner's reports.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::check::{CheckReport, GasReport};
use crate::plan::Plan;
use crate::stats::Tail;

/// The paper's gas for the same visit (its Table III summed; `docs/gas-table.md`).
pub const PAPER_VISIT_GAS: u64 = 934_110;
/// A Celo block: 30M gas a second.
pub const CELO_GAS_PER_SECOND: u64 = 30_000_000;

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
    /// Sealed payloads on chain by length (every one must be a bucket size: 512 … 65,536 + 146 bytes).
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
             transactions, none partial), node retries {}, visits restarted {}, unexpected deaths {}",
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
            x.unexpected_deaths
        )?;
        let c = &self.check;
        writeln!(
            f,
            "checker: {} kiosk databases (integrity ok), {} writes confirmed, {} kiosk txs on chain, {} index rows; \
             lost {}, doubled {}, orphan pending {}, refused {} (and {} refused, asked again and landed; {} refused \
             because a reorg renumbered what they named; {} kiosk txs refused on chain, each its write's; {} nonce gaps \
             filled), unexplained rows {}",
            c.kiosks,
            c.confirmed,
            c.chain_writes,
            c.rows,
            c.lost.len(),
            c.doubled.len(),
            c.orphans.len(),
            c.refused.len(),
            c.refused_then_landed,
            c.renumbered,
            c.refused_on_chain,
            c.gap_fillers,
            c.unexplained.len()
        )?;
        if !c.unserved_blocks.is_empty() {
            writeln!(
                f,
                "  the node served no block at heights {:?} (replaced by a reorg): {} kiosk txs there found by hash; \
                 a kiosk tx there without its outbox row could not be seen",
                c.unserved_blocks, c.found_by_hash
            )?;
        }
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
