//! A kiosk worker process: one kiosk (its own key, its own SQLite file) opened through the kiosk core, serving
//! visit steps from the driver concurrently (many patients in flight), logging with `tracing` to its own file.
//!
//! On start it checks its database (`PRAGMA integrity_check`) and drives every write a previous life left in
//! the outbox to the chain before it says it is ready: that is the reconciliation after a SIGKILL.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use carekiosk_card::{PatientCard, Pin};
use carekiosk_chain::deploy::TOKEN_UNIT;
use carekiosk_kiosk::workflows::{doctor, insurer, pharmacy, reception};
use carekiosk_kiosk::{
    Kiosk, KioskConfig, KioskError, KioskRole, Outbox, PatientSession, Submitted,
};
use carekiosk_store::{ClaimStatus, OutboxState};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, RwLock};

use crate::proto::{FailKind, Op, Probe, Reply, Request};
use crate::LoadError;

/// How a worker is started.
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    /// The kiosk's role.
    pub role: KioskRole,
    /// Its keyring slot.
    pub slot: String,
    /// The deployment manifest.
    pub manifest: PathBuf,
    /// Its data folder (its SQLite file).
    pub data_dir: PathBuf,
    /// A network profile file (a chain other than the local profile's), if any.
    pub profile: Option<PathBuf>,
    /// The node is remote (the `--celo-like` run): keep the outbox's pacing for a remote node (receipts about
    /// once a block) and look for reorged writes every second, as a kiosk on Celo does.
    pub remote_node: bool,
}

/// How long a step waits for writes the node could not take (outage, restart) before it gives up.
const SETTLE_LIMIT: Duration = Duration::from_secs(180);

/// Runs the worker until its stdin closes.
pub async fn run(args: WorkerArgs) -> Result<(), LoadError> {
    let mut config = KioskConfig::preset(args.role);
    config.manifest = args.manifest.clone();
    config.data_dir = args.data_dir.clone();
    if let Some(p) = &args.profile {
        config.profile = p.display().to_string();
    }
    let started = Instant::now();
    // The node may be down (a fault): keep trying.
    let mut kiosk = loop {
        let keys = crate::keys::kiosk_keys(&args.slot, args.role)?;
        match Kiosk::open_with(config.clone(), keys).await {
            Ok(k) => break k,
            Err(e) if started.elapsed() < SETTLE_LIMIT && classify(&e) == FailKind::Node => {
                tracing::warn!(error = %e, "node unreachable at start; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    kiosk.store.integrity_check()?;
    if !args.remote_node {
        // Anvil on this machine, a block a second: ask for receipts every 100 ms, and report a write pending after
        // 20 s without one. (A remote node keeps the outbox's own pacing: a receipt asked for about once a block.)
        kiosk.outbox = Arc::new(
            Outbox::new(kiosk.chain.clone(), kiosk.store.clone(), kiosk.address)
                .with_receipt_poll(Duration::from_millis(100))
                .with_receipt_timeout(Duration::from_secs(20)),
        );
    }
    let recovered = kiosk.outbox.pending()?.len() as u64;
    if recovered > 0 {
        tracing::info!(
            recovered,
            "writes left by an earlier run of this kiosk: reconciling"
        );
    }
    settle_waiting(&kiosk).await?;
    let kiosk = Arc::new(RwLock::new(kiosk));
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Reply>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(r) = out_rx.recv().await {
            let mut line = serde_json::to_string(&r).unwrap_or_default();
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
    });
    let _ = out_tx.send(Reply {
        id: 0,
        ok: true,
        recovered,
        ..Reply::default()
    });
    tracing::info!(role = args.role.as_str(), recovered, "worker ready");
    // Writes left waiting by an outage are sent as soon as the node is back; on a remote node, writes a reorg took
    // off the chain are found (at the outbox's finality pace) and sent again even while the desk is idle.
    let remote = args.remote_node;
    let background = {
        let kiosk = kiosk.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let k = kiosk.read().await;
                if remote {
                    k.outbox.check_finality_if_due().await;
                }
                if matches!(k.outbox.waiting(), Ok(w) if !w.is_empty()) {
                    let _ = k.outbox.drain().await;
                }
            }
        })
    };
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let req: Request = serde_json::from_str(&line)?;
        let kiosk = kiosk.clone();
        let out = out_tx.clone();
        tokio::spawn(async move {
            let name = req.op.name();
            let t0 = Instant::now();
            let r = execute(&kiosk, req.op).await;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let reply = match r {
                Ok(mut reply) => {
                    tracing::info!(step = name, ms, "step done");
                    reply.id = req.id;
                    reply.ok = true;
                    reply.ms = ms;
                    reply
                }
                Err(e) => {
                    let kind = classify_step(&e);
                    tracing::warn!(step = name, ?kind, error = %e, "step failed");
                    let chain_kind = match &e {
                        StepError::Kiosk(KioskError::Chain(c)) => Some(c.kind().to_string()),
                        _ => None,
                    };
                    Reply {
                        id: req.id,
                        ms,
                        kind: Some(kind),
                        error: Some(e.to_string()),
                        chain_kind,
                        ..Reply::default()
                    }
                }
            };
            let _ = out.send(reply);
        });
    }
    background.abort();
    drop(out_tx);
    let _ = writer.await;
    Ok(())
}

/// Why a step failed: the kiosk core's error, or what the step saw of the chain through this kiosk's index.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The kiosk core refused or failed.
    #[error(transparent)]
    Kiosk(#[from] KioskError),
    /// The index does not show yet what the step just wrote (tried again, as node trouble).
    #[error("{0}: the index is behind the chain")]
    IndexBehind(&'static str),
    /// Something the step needs is not on chain as this kiosk sees it (a reorg may have taken it: refused).
    #[error("{0}")]
    Missing(&'static str),
}

macro_rules! through_kiosk_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StepError {
            fn from(e: $t) -> Self {
                StepError::Kiosk(e.into())
            }
        }
    )*};
}
through_kiosk_error!(
    carekiosk_card::CardError,
    carekiosk_store::StoreError,
    carekiosk_chain::ChainError
);

/// [`classify`] for a step's error.
pub fn classify_step(e: &StepError) -> FailKind {
    match e {
        StepError::Kiosk(k) => classify(k),
        StepError::IndexBehind(_) => FailKind::Node,
        StepError::Missing(_) => FailKind::Refused,
    }
}

/// Card trouble, node trouble, something missing on chain, or a real failure — by the error's type, not its text.
pub fn classify(e: &KioskError) -> FailKind {
    match e {
        KioskError::Card(_) => FailKind::Card,
        // Refused by the chain, or something a step needs is not there: a reorg may explain it (the driver tries
        // such a step again when one happened lately).
        KioskError::Refused(_)
        | KioskError::Chain(carekiosk_chain::ChainError::Reverted(_))
        | KioskError::UnknownPatient
        | KioskError::NoConsent
        | KioskError::NoInsurer
        | KioskError::NotOnChain(_)
        | KioskError::NoSuchClaim(_)
        | KioskError::NoSuchPrescription(_) => FailKind::Refused,
        // Unreachable, rate limited or another passing node error: the step is tried again.
        KioskError::Chain(c) if c.is_transient() => FailKind::Node,
        _ => FailKind::Other,
    }
}

fn session(reader: &str, pin: &str) -> Result<PatientSession, KioskError> {
    let card = PatientCard::open(reader)?;
    PatientSession::start(card, Pin::new(pin))
}

/// Waits until every outbox entry that was waiting for the node (not being sent by a task) is confirmed.
async fn settle_waiting(k: &Kiosk) -> Result<(), KioskError> {
    let waiting = k.outbox.waiting()?;
    let Some(last) = waiting.iter().map(|e| e.id).max() else {
        return Ok(());
    };
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let _ = k.outbox.drain().await;
        let left: Vec<_> = k
            .outbox
            .pending()?
            .into_iter()
            .filter(|e| e.id <= last)
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(KioskError::Invalid(format!(
                "{} write(s) still pending after {SETTLE_LIMIT:?}",
                left.len()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until the writes `subs` reported pending are confirmed.
async fn settle(k: &Kiosk, subs: &[Submitted]) -> Result<(), KioskError> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    for s in subs {
        let Submitted::Pending { entry, .. } = s else {
            continue;
        };
        loop {
            match k.store.outbox_entry(*entry)?.map(|e| e.state) {
                Some(OutboxState::Confirmed) => break,
                Some(OutboxState::Failed) => {
                    return Err(KioskError::Invalid(format!("write {entry} was refused")))
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(KioskError::Invalid(format!("write {entry} still pending")));
            }
            let _ = k.outbox.drain().await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    settle_waiting(k).await
}

async fn execute(kiosk: &RwLock<Kiosk>, op: Op) -> Result<Reply, StepError> {
    let mut reply = Reply::default();
    match op {
        Op::Register {
            reader,
            name,
            birth_date,
            gender,
            pin,
            admin_pin,
        } => {
            let k = kiosk.read().await;
            let card = PatientCard::open(&reader)?;
            let new = reception::NewPatient {
                name,
                birth_date,
                gender,
                admin_pin: Pin::new(&admin_pin),
                pin: Pin::new(&pin),
            };
            let s = reception::register_patient(&k, card, new).await?;
            let pid = s.patient_id();
            reply.patient = Some(pid);
            drop(s);
            settle_waiting(&k).await?;
            // Reception's step is done when the chain knows the patient: a registration still in flight (sent
            // again after an outage by this kiosk's outbox) is not "waiting", and the next desk would find no
            // patient.
            let deadline = Instant::now() + SETTLE_LIMIT;
            loop {
                let info = k.chain.hub(&k.deployment).getPatientInfo(pid).call().await;
                if info.is_ok_and(|i| i.registered) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(KioskError::Invalid(format!(
                        "the registration did not land within {SETTLE_LIMIT:?}"
                    ))
                    .into());
                }
                let _ = k.outbox.drain().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        Op::Enroll { reader, pin } => {
            let k = kiosk.read().await;
            let mut s = session(&reader, &pin)?;
            let r = insurer::enroll(&k, &mut s, 8000, 5_000 * TOKEN_UNIT).await?;
            settle(&k, &[r]).await?;
        }
        Op::Consult {
            id,
            reader,
            pin,
            icd10,
            note,
            plan,
            atc,
            quantity,
            dosage,
            amount,
        } => {
            let k = kiosk.read().await;
            let mut s = session(&reader, &pin)?;
            let c = doctor::Consultation {
                id: Some(id),
                icd10,
                note: Some(note),
                plan,
                prescriptions: vec![doctor::PrescriptionOrder {
                    atc,
                    quantity,
                    dosage: Some(dosage),
                    substitution_allowed: true,
                    ..Default::default()
                }],
                services: vec![doctor::ClaimItem {
                    service: "CONS".into(),
                    quantity: 1,
                    unit_price: U256::from(amount) * U256::from(TOKEN_UNIT),
                }],
                ..Default::default()
            };
            let r = doctor::consult(&k, &mut s, &c).await?;
            settle(&k, &[r.submitted]).await?;
        }
        Op::Pharmacy { reader, pin } => {
            let k = kiosk.read().await;
            let mut s = session(&reader, &pin)?;
            let list = pharmacy::open_patient(&k, &mut s).await?;
            if list.is_empty() {
                return Err(StepError::Missing("no prescription found for the patient"));
            }
            for rx in list.iter().filter(|p| p.dispensable) {
                let r = pharmacy::dispense(&k, &mut s, rx.id).await?;
                settle(&k, std::slice::from_ref(&r)).await?;
                reply.dispensed += 1;
            }
        }
        Op::Settle { patient } => {
            // The claim was just confirmed by the doctor's kiosk: this kiosk's index shows it within a block or
            // two, or a few more behind a rate-limited node.
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                let claims = {
                    let k = kiosk.read().await;
                    let _ = k.indexer.sync().await;
                    k.store.claims_of_patient(&patient.0)?
                };
                if claims.is_empty() {
                    if Instant::now() > deadline {
                        // The doctor's claim was confirmed; a reorg would have been healed by now.
                        return Err(StepError::Missing(
                            "no claim of the patient reached the insurer's index in 90 s",
                        ));
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                for c in claims {
                    let mut paid = false;
                    if c.status == ClaimStatus::Submitted {
                        let k = kiosk.read().await;
                        let review = insurer::review(&k, c.id).await?;
                        // Approve and pay in one transaction (within the four-eyes threshold).
                        let d = insurer::settle(&k, c.id, review.cap).await?;
                        settle(&k, &[d.submitted]).await?;
                        paid = d.paid;
                    }
                    if !paid && matches!(c.status, ClaimStatus::Submitted | ClaimStatus::Approved) {
                        let k = kiosk.read().await;
                        let r = insurer::pay(&k, c.id).await?;
                        settle(&k, &[r]).await?;
                    }
                }
                break;
            }
        }
        Op::Probe { patient } => {
            let k = kiosk.read().await;
            // An interrupted step's write still in this kiosk's outbox lands (or is refused) before the answer:
            // the driver must not run a step again whose first write is still on its way.
            settle_waiting(&k).await?;
            k.indexer.sync().await?;
            let info = k
                .chain
                .hub(&k.deployment)
                .getPatientInfo(patient)
                .call()
                .await
                .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
            let rx = k.store.prescriptions_of(&patient.0)?;
            reply.probe = Some(Probe {
                registered: info.registered,
                records: k.store.record_count(&patient.0)?,
                prescriptions: rx.len() as u64,
                dispensed: rx
                    .iter()
                    .filter(|p| p.status == carekiosk_store::PrescriptionStatus::Completed)
                    .count() as u64,
                claims: k
                    .store
                    .claims_of_patient(&patient.0)?
                    .iter()
                    .map(|c| (c.id, c.status as u8))
                    .collect(),
            });
        }
        Op::Finish => {
            let k = kiosk.read().await;
            let deadline = Instant::now() + SETTLE_LIMIT;
            while !k.outbox.pending()?.is_empty() {
                if Instant::now() > deadline {
                    return Err(
                        KioskError::Invalid("writes still pending at the end".into()).into(),
                    );
                }
                let _ = k.outbox.drain().await;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            k.indexer.sync().await?;
        }
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_trouble_is_retried_refusals_and_missing_things_are_refused_other_errors_are_failures() {
        let node = KioskError::Chain(carekiosk_chain::ChainError::Node {
            url: "http://127.0.0.1:1".into(),
            reason: "refused".into(),
        });
        assert_eq!(classify(&node), FailKind::Node);
        let busy = KioskError::Chain(carekiosk_chain::ChainError::RateLimited {
            url: "http://127.0.0.1:1".into(),
            retry_after_secs: Some(1),
            attempts: 6,
        });
        assert_eq!(classify(&busy), FailKind::Node);
        let funds = KioskError::Chain(carekiosk_chain::ChainError::Invalid("no key".into()));
        assert_eq!(classify(&funds), FailKind::Other);
        let reverted = carekiosk_chain::Revert::recorded("WrongEpoch { patientId: 0x01 }");
        assert_eq!(classify(&KioskError::Refused(reverted)), FailKind::Refused);
        // A record whose transaction a reorg took off, still in the index until its next sync.
        assert_eq!(
            classify(&KioskError::NotOnChain(alloy::primitives::B256::ZERO)),
            FailKind::Refused
        );
        assert_eq!(classify(&KioskError::NoSuchClaim(3)), FailKind::Refused);
        // A prescription the list showed, renumbered by a reorg: the step is asked again after it.
        assert_eq!(
            classify(&KioskError::NoSuchPrescription(73)),
            FailKind::Refused
        );
        assert_eq!(classify(&KioskError::UnknownPatient), FailKind::Refused);
        // Text does not decide: an invalid input whose words look like a refusal is a failure.
        assert_eq!(
            classify(&KioskError::Invalid(
                "transaction 0x01 reverted in block 9: connection".into()
            )),
            FailKind::Other
        );
        assert_eq!(
            classify(&KioskError::Card(carekiosk_card::CardError::NoReader)),
            FailKind::Card
        );
        // What a step sees through its index: behind (tried again) or missing (a reorg may explain it).
        assert_eq!(
            classify_step(&StepError::IndexBehind(
                "check-in did not open the demographics"
            )),
            FailKind::Node
        );
        assert_eq!(
            classify_step(&StepError::Missing("no prescription found for the patient")),
            FailKind::Refused
        );
        assert_eq!(
            classify_step(&StepError::Missing("no diagnosis in the history to bill")),
            FailKind::Refused
        );
        assert_eq!(
            classify_step(&StepError::Kiosk(KioskError::NoConsent)),
            FailKind::Refused
        );
    }
}
