//! The load run: one Anvil mining a block a second, the contracts deployed, eight or more kiosk worker
//! processes (each its own key and SQLite file), one blank virtual card a visit in the vpcd readers, whole
//! visits pipelined (a patient per reader in flight), the faults injected while they run, then the checker and
//! the privacy scanner.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256};
use carekiosk_chain::deploy::LocalStack;
use carekiosk_chain::devnet::DevnetOptions;
use carekiosk_kiosk::KioskRole;

use crate::cards::{self};
use crate::check::{self, KioskDb};
use crate::patients::Patient;
use crate::plan::Plan;
use crate::privacy::{self, Needle};
use crate::proto::Op;
use crate::proxy::Proxy;
use crate::report::{FaultReport, PrivacyReport, Report, CELO_GAS_PER_SECOND, PAPER_VISIT_GAS};
use crate::visit::{Counters, Ctx};
use crate::worker_handle::Worker;
use crate::LoadError;

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
            let addr =
                carekiosk_kiosk::local::register_kiosk(&chain, &mut d, inst, &keys, 100).await?;
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
        return Err(LoadError::NoReader);
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
    let read = check::read_chain(&chain).await?;
    let mut txs = check::chain_txs(&read);
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
    let found_by_hash = check::by_hash(&chain, &dbs, &read.unserved, &mut txs).await?;
    let mut check = check::check(&txs, &d, &dbs, &pids)?;
    check.unserved_blocks = read.unserved.clone();
    check.found_by_hash = found_by_hash;
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
                ctx.n.decided_again.load(Ordering::Relaxed),
            )?)
        }
        None => None,
    };
    let completed = ctx.n.completed.load(Ordering::Relaxed);
    let senders: HashSet<Address> = kiosks.iter().map(|k| k.3).collect();
    let gas = check::gas(&txs, &senders, completed);
    // Privacy: every patient's fields on chain; those, the PINs and the kiosks' keys in the logs.
    let mut needles: Vec<Needle> = patients.iter().flat_map(Patient::needles).collect();
    let in_read: HashSet<B256> = read
        .blocks
        .iter()
        .flat_map(|(b, _)| b.transactions.hashes())
        .collect();
    let extra: Vec<(B256, &alloy::primitives::Bytes)> = txs
        .iter()
        .filter(|(h, _)| !in_read.contains(*h))
        .map(|(h, t)| (*h, &t.input))
        .collect();
    let chain_scan = privacy::scan_chain(&read, &extra, &needles)?;
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
