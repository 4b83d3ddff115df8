//! The load run's `--celo-like` form: the chain is Anvil with Celo's rules (OP stack at Isthmus, 1 s blocks, 30M
//! gas, the 25 gwei base-fee floor, Celo Sepolia's chain id) behind `carekiosk-celo-like`'s hostile JSON-RPC proxy
//! at the proof conditions: 30 % of requests rate limited (and a shared token bucket), requests that hang,
//! stale block numbers and nonces, dropped first sends, reorgs of depth up to 5 after a receipt was seen, and a
//! ×3 base-fee spike on a schedule.
//!
//! The kiosks reach the proxy at this machine's non-loopback address, so they treat it as the remote node it
//! stands for (a public RPC's timeouts, retries and receipt pacing), each with its name in the URL path so the
//! proxy counts requests per kiosk. After the run, [`report`] reads the proxy's counters and the kiosks' outboxes:
//! requests per visit against the budget, every reorged write back on chain once, every replacement at a higher fee,
//! no "offline" on a node that never went away.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy::consensus::Transaction as _;
use alloy::eips::Decodable2718;
use alloy::primitives::B256;
use carekiosk_celo_like::{Proxy, ProxyConfig, Stats, CELO_SEPOLIA_CHAIN_ID};
use carekiosk_chain::devnet::Devnet;
use carekiosk_chain::Deployment;
use carekiosk_store::{OutboxState, Store};
use serde::Serialize;

use crate::check::{ChainTx, KioskDb};
use crate::LoadError;

/// The chain id of the Celo-like chain (Celo Sepolia's).
pub const CHAIN_ID: u64 = CELO_SEPOLIA_CHAIN_ID;

/// The request budget: HTTP requests to the RPC (a JSON-RPC batch is one), all four desks together, per
/// completed visit — every request a kiosk makes counts: reads, receipts (about one a second per waiting write),
/// finality checks, the index, retries after a 429 (with 30 % of requests refused, about 1.4 sent per answer).
/// 16-visit runs measured 378; the run fails above 450 (about 112 per kiosk per visit).
pub const BUDGET_PER_VISIT: f64 = 450.0;

/// The proof conditions (`ProxyConfig::hostile`): 30 % of requests answered 429 at random (Retry-After 1 s) and a
/// shared bucket, 10–40 ms latency, 1 % hung for 30 s, stale reads, 20 % of first sends dropped, a reorg (depth
/// ≤ 5) after 10 % of receipts, a ×3 fee spike of 20 s every 60 s, a 500-block `eth_getLogs` cap. The bucket is
/// sized for the run's eight kiosks behind one address (a rented RPC's plan, not Forno's free tier).
pub fn proof_config(seed: u64) -> ProxyConfig {
    let mut c = ProxyConfig::hostile(seed);
    c.token_bucket = Some(carekiosk_celo_like::TokenBucket {
        per_second: 150.0,
        burst: 300.0,
    });
    c
}

/// The network profile the run deploys with: Celo Sepolia's (chain id, EIP-1559 gas at the 25 gwei floor, the
/// test token), without the governance delay (institutions registered at once, as in a trial).
pub fn profile() -> Result<carekiosk_chain::Profile, LoadError> {
    let mut p = carekiosk_chain::Profile::embedded("celo-sepolia")?;
    p.governance_delay_secs = 0;
    Ok(p)
}

/// The proxy in front of the run's chain, and what the driver watches of it.
pub struct CeloChain {
    /// The proxy.
    pub proxy: Proxy,
    /// Whether the kiosks see it at a non-loopback address (remote pacing); `false` only on a machine without one.
    pub remote: bool,
    last_reorg: Mutex<Option<Instant>>,
    reorgs_seen: Mutex<usize>,
}

impl CeloChain {
    /// Starts the proxy with `config` in front of `devnet` (a [`carekiosk_chain::devnet::DevnetOptions::celo_like`]
    /// chain), on this machine's non-loopback address when it has one.
    pub async fn start(devnet: &Devnet, config: ProxyConfig) -> Result<CeloChain, LoadError> {
        let host = carekiosk_celo_like::non_loopback_address();
        let remote = host.is_some();
        let host = host.unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let proxy =
            Proxy::start_on(devnet.url.clone(), host, 0, config, devnet.base_fee_floor()).await?;
        Ok(CeloChain {
            proxy,
            remote,
            last_reorg: Mutex::new(None),
            reorgs_seen: Mutex::new(0),
        })
    }

    /// The URL kiosk `name` talks to (its name in the path).
    pub fn kiosk_url(&self, name: &str) -> String {
        format!("{}/kiosk/{name}", self.proxy.url)
    }

    /// The network profile a hospital's IT writes for Celo Sepolia, pointing at the proxy.
    pub fn write_profile(&self, dir: &Path) -> Result<PathBuf, LoadError> {
        let path = dir.join("celo-like.toml");
        std::fs::write(
            &path,
            format!(
                "name = \"celo-like\"\nchain_id = {CHAIN_ID}\nrpc_url = \"{}\"\n\
                 governance_delay_secs = 0\n\n\
                 [gas]\nkind = \"eip1559\"\nbase_fee_floor_wei = 25000000000\npriority_fee_wei = 1000000000\n\n\
                 [token]\naddress = \"\"\nsymbol = \"tUSD\"\ndecimals = 18\n",
                self.proxy.url
            ),
        )?;
        Ok(path)
    }

    /// Kiosk `name`'s copy of the deployment manifest, with its own URL.
    pub fn write_manifest(
        &self,
        d: &Deployment,
        name: &str,
        dir: &Path,
    ) -> Result<PathBuf, LoadError> {
        let mut d = d.clone();
        d.rpc_url = self.kiosk_url(name);
        std::fs::create_dir_all(dir.join("manifests"))?;
        let path = dir.join("manifests").join(format!("{name}.json"));
        d.save(&path)?;
        Ok(path)
    }

    /// Notes when the proxy made a new reorg (call about once a second).
    pub fn watch(&self) {
        let n = self.proxy.stats().reorgs.len();
        let mut seen = self.reorgs_seen.lock().unwrap_or_else(|e| e.into_inner());
        if n > *seen {
            *seen = n;
            *self.last_reorg.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
    }

    /// Whether a reorg was made within `within`: a desk that finds something missing (another kiosk's write taken
    /// off the chain, on its way back through that kiosk's outbox) tries again then.
    pub fn reorg_within(&self, within: Duration) -> bool {
        self.watch();
        self.last_reorg
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some_and(|t| t.elapsed() <= within)
    }
}

/// Requests made by the kiosks of one role.
#[derive(Debug, Clone, Serialize)]
pub struct RoleRequests {
    /// HTTP requests (a batch is one).
    pub requests: u64,
    /// Per completed visit.
    pub per_visit: f64,
    /// JSON-RPC calls per completed visit, by method (`eth_getBlockByNumber` by block tag).
    pub calls_per_visit: BTreeMap<String, f64>,
}

/// The `--celo-like` part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct CeloReport {
    /// Whether the kiosks saw the node at a non-loopback address (remote pacing).
    pub remote: bool,
    /// The proxy's configuration, in words.
    pub conditions: String,
    /// HTTP requests the proxy answered (kiosks and the driver).
    pub http_requests: u64,
    /// 429s: at random, and from the bucket.
    pub rate_limited_at_random: u64,
    /// 429s because the shared bucket was empty.
    pub rate_limited_by_bucket: u64,
    /// The share of all requests answered 429.
    pub rate_limited_share: f64,
    /// Requests hung past the client's timeout.
    pub hung: u64,
    /// Stale block numbers and nonces served.
    pub stale_answers: u64,
    /// `eth_getLogs` refused for their range.
    pub log_range_errors: u64,
    /// First sends dropped.
    pub dropped_sends: usize,
    /// Fee spikes (×3 the floor).
    pub fee_spikes: u64,
    /// Reorgs made, by depth.
    pub reorgs_by_depth: BTreeMap<u64, usize>,
    /// Kiosk transactions a reorg took off the chain or moved.
    pub reorged_writes: usize,
    /// Of those, back on chain exactly once (the entry confirmed, its transaction on chain).
    pub reorged_writes_landed_once: usize,
    /// Reorged writes not back (must be none).
    pub reorged_not_back: Vec<String>,
    /// Outbox entries that signed a replacement (same nonce, higher fees) for a stuck or priced-out write.
    pub replaced_writes: usize,
    /// Replacements whose fees were not above the transaction they replace (must be none).
    pub replacements_not_higher: Vec<String>,
    /// Requests per role.
    pub requests_by_role: BTreeMap<String, RoleRequests>,
    /// All kiosks' requests per completed visit.
    pub requests_per_visit: f64,
    /// The budget ([`BUDGET_PER_VISIT`]).
    pub budget_per_visit: f64,
    /// Step failures shown as "offline" (the node unreachable): must be none, the node never went away.
    pub false_offline: u64,
    /// Steps tried again because a reorg had taken off a write they needed.
    pub retried_after_reorg: u64,
    /// Reorged kiosk writes the chain then refused because the reorg had renumbered the claim or prescription they
    /// named (`ClaimChanged`, `PrescriptionChanged`): nothing was decided on another patient's claim.
    pub reorged_renumbered: usize,
    /// Claims the insurer's desk decided again because its first decision was refused so.
    pub decided_again: u64,
    /// Reorged kiosk writes refused afterwards, then asked again by their desk as a new write that landed.
    pub reorged_refused_then_landed: usize,
    /// Heights the node served nothing for right after a reorg (Anvil's fault, not the kiosks').
    pub unserved_after_reorg: Vec<u64>,
}

impl CeloReport {
    /// Whether the Celo-like conditions were met: under budget, no false offline, every reorged write back once,
    /// every replacement at higher fees, and the faults really happened.
    pub fn passed(&self) -> bool {
        self.requests_per_visit <= self.budget_per_visit
            && self.false_offline == 0
            && self.reorged_not_back.is_empty()
            && self.replacements_not_higher.is_empty()
            && self.rate_limited_at_random > 0
            && !self.reorgs_by_depth.is_empty()
            && self.fee_spikes > 0
    }
}

impl std::fmt::Display for CeloReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "celo-like chain: {}", self.conditions)?;
        writeln!(
            f,
            "  proxy: {} requests, {} rate limited ({:.0} %: {} at random, {} by the bucket), {} hung, {} stale \
             answers, {} getLogs range refusals, {} first sends dropped, {} fee spikes",
            self.http_requests,
            self.rate_limited_at_random + self.rate_limited_by_bucket,
            self.rate_limited_share * 100.0,
            self.rate_limited_at_random,
            self.rate_limited_by_bucket,
            self.hung,
            self.stale_answers,
            self.log_range_errors,
            self.dropped_sends,
            self.fee_spikes
        )?;
        let depths: Vec<String> = self
            .reorgs_by_depth
            .iter()
            .map(|(d, n)| format!("depth {d} × {n}"))
            .collect();
        writeln!(
            f,
            "  reorgs: {} [{}]; kiosk writes reorged {}, back on chain once {}, not back {}; steps retried after a \
             reorg {}",
            self.reorgs_by_depth.values().sum::<usize>(),
            depths.join(", "),
            self.reorged_writes,
            self.reorged_writes_landed_once,
            self.reorged_not_back.len(),
            self.retried_after_reorg
        )?;
        if !self.unserved_after_reorg.is_empty() {
            writeln!(
                f,
                "  after a reorg the node served no block at heights {:?} (Anvil's fault: their logs are invisible)",
                self.unserved_after_reorg
            )?;
        }
        writeln!(
            f,
            "  reorged writes refused because the reorg renumbered what they named: {}; refused, asked again and \
             landed: {}; claims decided again: {}",
            self.reorged_renumbered, self.reorged_refused_then_landed, self.decided_again
        )?;
        writeln!(
            f,
            "  writes replaced at a higher fee: {}, not higher: {}; false \"offline\": {}",
            self.replaced_writes,
            self.replacements_not_higher.len(),
            self.false_offline
        )?;
        let roles: Vec<String> = self
            .requests_by_role
            .iter()
            .map(|(r, q)| format!("{r} {:.1}", q.per_visit))
            .collect();
        writeln!(
            f,
            "  requests per visit: {:.1} (budget {:.0}): {}; kiosks saw a {} node",
            self.requests_per_visit,
            self.budget_per_visit,
            roles.join(", "),
            if self.remote { "remote" } else { "loopback" }
        )?;
        for (role, q) in &self.requests_by_role {
            let mut top: Vec<(&String, &f64)> = q.calls_per_visit.iter().collect();
            top.sort_by(|a, b| b.1.total_cmp(a.1));
            let top: Vec<String> = top
                .iter()
                .take(6)
                .map(|(m, n)| format!("{m} {n:.1}"))
                .collect();
            writeln!(f, "    {role}: {}", top.join(", "))?;
        }
        for l in self
            .reorged_not_back
            .iter()
            .chain(&self.replacements_not_higher)
            .take(20)
        {
            writeln!(f, "    {l}")?;
        }
        Ok(())
    }
}

fn conditions(c: &ProxyConfig) -> String {
    let mut v = vec![format!(
        "{:.0} % of requests rate limited at random",
        c.rate_limited_fraction * 100.0
    )];
    if let Some(b) = c.token_bucket {
        v.push(format!(
            "a shared bucket of {:.0} req/s (burst {:.0})",
            b.per_second, b.burst
        ));
    }
    if let Some(r) = c.reorgs {
        v.push(format!(
            "reorgs of depth ≤ {} after {:.0} % of receipts",
            r.max_depth,
            r.probability * 100.0
        ));
    }
    if let Some(s) = c.fee_spikes {
        v.push(format!(
            "×{} base fee for {:?} every {:?}",
            s.factor, s.lasting, s.every
        ));
    }
    v.push(format!(
        "{:.0} % hung {:?}, {:.0} % first sends dropped",
        c.hang_fraction * 100.0,
        c.hang_for,
        c.drop_first_send_fraction * 100.0
    ));
    if let Some(cap) = c.get_logs_max_range {
        v.push(format!("getLogs cap {cap} blocks"));
    }
    v.join(", ")
}

/// What a run did on the Celo-like chain: the proxy's counters, and the kiosks' outboxes against the chain.
/// `kiosks`: each kiosk's database with its role's name; `txs`: the chain's transactions at the end.
pub fn report(
    chain: &CeloChain,
    kiosks: &[(String, KioskDb)],
    txs: &HashMap<B256, ChainTx>,
    visits: usize,
    false_offline: u64,
    retried_after_reorg: u64,
    decided_again: u64,
) -> Result<CeloReport, LoadError> {
    let stats: Stats = chain.proxy.stats();
    let visits_f = visits.max(1) as f64;
    let mut requests_by_role: BTreeMap<String, RoleRequests> = BTreeMap::new();
    let mut kiosk_requests = 0;
    for (role, db) in kiosks {
        let n = stats
            .http_requests_by_path
            .get(&format!("/kiosk/{}", db.name))
            .copied()
            .unwrap_or(0);
        kiosk_requests += n;
        let r = requests_by_role
            .entry(role.clone())
            .or_insert(RoleRequests {
                requests: 0,
                per_visit: 0.0,
                calls_per_visit: BTreeMap::new(),
            });
        r.requests += n;
        r.per_visit = r.requests as f64 / visits_f;
        if let Some(calls) = stats.calls_by_path.get(&format!("/kiosk/{}", db.name)) {
            for (m, c) in calls {
                *r.calls_per_visit.entry(m.clone()).or_default() += *c as f64 / visits_f;
            }
        }
    }
    let mut reorgs_by_depth = BTreeMap::new();
    let mut unserved_after_reorg = Vec::new();
    for r in &stats.reorgs {
        *reorgs_by_depth.entry(r.depth).or_insert(0) += 1;
        unserved_after_reorg.extend(&r.unserved);
    }
    let reorged: HashSet<B256> = stats.reorged_txs().into_iter().collect();
    let (mut reorged_writes, mut landed, mut not_back) = (0, 0, Vec::new());
    let mut reorged_renumbered = 0;
    let mut reorged_refused_then_landed = 0;
    let (mut replaced, mut not_higher) = (0, Vec::new());
    for (_, k) in kiosks {
        let store = Store::open(&k.path, &k.key)?;
        for e in crate::check::outbox_entries(&store)? {
            let attempts = store.attempts(e.id)?;
            let label = format!("{} outbox {} ({})", k.name, e.id, e.kind);
            if attempts
                .iter()
                .any(|a| reorged.contains(&B256::from(a.tx_hash)))
            {
                reorged_writes += 1;
                let on_chain = e.state == OutboxState::Confirmed
                    && e.tx_hash
                        .is_some_and(|h| txs.get(&B256::from(h)).is_some_and(|t| t.ok));
                // Its transactions on chain that succeeded (one refused while what it needed was still off the
                // chain is not a copy: it changed nothing).
                let copies = attempts
                    .iter()
                    .filter(|a| txs.get(&B256::from(a.tx_hash)).is_some_and(|t| t.ok))
                    .count();
                let asked_again = e.state == OutboxState::Failed
                    && e.idempotency_key.contains("#refused-")
                    && crate::check::superseded(&store, &e.idempotency_key)?;
                if crate::check::renumbered(&e) {
                    reorged_renumbered += 1;
                } else if asked_again {
                    // Refused after the reorg (past the grace), asked again by its desk as a new write that
                    // landed: the checker counts it with the refused-then-landed.
                    reorged_refused_then_landed += 1;
                } else if on_chain && copies == 1 {
                    landed += 1;
                } else {
                    not_back.push(format!(
                        "{label}: state {:?}, {copies} of its transactions succeeded on chain",
                        e.state
                    ));
                }
            }
            // Replacements: attempts at one nonce, each paying more than the one before.
            let mut by_nonce: BTreeMap<u64, Vec<(u128, u128)>> = BTreeMap::new();
            for a in &attempts {
                let Some(raw) = a.raw.as_ref() else { continue };
                let Ok(tx) = alloy::consensus::TxEnvelope::decode_2718(&mut raw.as_slice()) else {
                    continue;
                };
                let fees = (
                    tx.max_fee_per_gas(),
                    tx.max_priority_fee_per_gas().unwrap_or_default(),
                );
                by_nonce.entry(a.nonce).or_default().push(fees);
            }
            let mut was_replaced = false;
            for (nonce, fees) in by_nonce {
                for w in fees.windows(2) {
                    was_replaced = true;
                    if !(w[1].0 > w[0].0 && w[1].1 >= w[0].1) {
                        not_higher.push(format!(
                            "{label}: nonce {nonce}: max fee {} → {}, tip {} → {}",
                            w[0].0, w[1].0, w[0].1, w[1].1
                        ));
                    }
                }
            }
            replaced += usize::from(was_replaced);
        }
    }
    let limited = stats.rate_limited_at_random + stats.rate_limited_by_bucket;
    Ok(CeloReport {
        remote: chain.remote,
        conditions: conditions(&chain.proxy.config()),
        http_requests: stats.http_requests,
        rate_limited_at_random: stats.rate_limited_at_random,
        rate_limited_by_bucket: stats.rate_limited_by_bucket,
        rate_limited_share: limited as f64 / stats.http_requests.max(1) as f64,
        hung: stats.hung,
        stale_answers: stats.stale_answers,
        log_range_errors: stats.log_range_errors,
        dropped_sends: stats.dropped_sends.len(),
        fee_spikes: stats.fee_spikes,
        reorgs_by_depth,
        unserved_after_reorg,
        reorged_writes,
        reorged_writes_landed_once: landed,
        reorged_not_back: not_back,
        replaced_writes: replaced,
        replacements_not_higher: not_higher,
        requests_per_visit: kiosk_requests as f64 / visits_f,
        requests_by_role,
        budget_per_visit: BUDGET_PER_VISIT,
        false_offline,
        retried_after_reorg,
        reorged_renumbered,
        decided_again,
        reorged_refused_then_landed,
    })
}
