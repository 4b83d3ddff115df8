//! The driver's side of a kiosk worker process: spawn it, send it steps, kill it (SIGKILL) and start it again.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use carekiosk_kiosk::KioskRole;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::proto::{Op, Reply, Request};
use crate::LoadError;

type Pending = Arc<StdMutex<HashMap<u64, oneshot::Sender<Reply>>>>;

struct Live {
    child: Child,
    tx: mpsc::UnboundedSender<String>,
    pending: Pending,
}

/// The worker process died while a step was in flight (killed by a fault, or crashed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Died;

/// One kiosk worker process, restartable.
pub struct Worker {
    /// `doctor-1`.
    pub name: String,
    /// Its role.
    pub role: KioskRole,
    /// Its keyring slot.
    pub slot: String,
    /// Its data folder.
    pub data_dir: PathBuf,
    /// Its log file (tracing).
    pub log: PathBuf,
    manifest: PathBuf,
    profile: Option<PathBuf>,
    remote_node: bool,
    exe: PathBuf,
    live: Mutex<Option<Live>>,
    next_id: AtomicU64,
    /// Times it was killed and started again.
    pub kills: AtomicU64,
    /// Pending writes found and reconciled at restarts.
    pub recovered: AtomicU64,
    /// Times it died without being killed.
    pub unexpected_deaths: AtomicU64,
}

impl Worker {
    /// A worker (not started yet).
    pub fn new(
        exe: PathBuf,
        role: KioskRole,
        n: usize,
        dir: &std::path::Path,
        manifest: PathBuf,
    ) -> Worker {
        let name = format!("{}-{n}", role.as_str());
        Worker {
            slot: crate::keys::slot(role, n),
            data_dir: dir.join("kiosks").join(&name),
            log: dir.join("logs").join(format!("{name}.log")),
            name,
            role,
            manifest,
            profile: None,
            remote_node: false,
            exe,
            live: Mutex::new(None),
            next_id: AtomicU64::new(1),
            kills: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            unexpected_deaths: AtomicU64::new(0),
        }
    }

    /// On a remote node (the `--celo-like` run): its own manifest (its name in the RPC URL) and the network's
    /// profile file.
    pub fn on_remote_node(mut self, manifest: PathBuf, profile: PathBuf) -> Worker {
        self.manifest = manifest;
        self.profile = Some(profile);
        self.remote_node = true;
        self
    }

    async fn spawn(&self) -> Result<Live, LoadError> {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log.with_extension("stderr.log"))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("worker");
        if let Some(p) = &self.profile {
            cmd.arg("--profile").arg(p);
        }
        if self.remote_node {
            cmd.arg("--remote-node");
        }
        let mut child = cmd
            .args(["--role", self.role.as_str(), "--slot", &self.slot])
            .arg("--manifest")
            .arg(&self.manifest)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--log")
            .arg(&self.log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            while let Some(line) = rx.recv().await {
                if stdin.write_all(line.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let (ready_tx, ready_rx) = oneshot::channel::<Reply>();
        {
            let pending = pending.clone();
            let mut ready = Some(ready_tx);
            tokio::spawn(async move {
                let mut lines = BufReader::new(stdout).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let Ok(reply) = serde_json::from_str::<Reply>(&line) else {
                        continue;
                    };
                    if reply.id == 0 {
                        if let Some(r) = ready.take() {
                            let _ = r.send(reply);
                        }
                    } else if let Some(s) = pending
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(&reply.id)
                    {
                        let _ = s.send(reply);
                    }
                }
                // The process is gone: every step in flight learns it.
                pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
            });
        }
        match tokio::time::timeout(Duration::from_secs(240), ready_rx).await {
            Ok(Ok(r)) => {
                self.recovered.fetch_add(r.recovered, Ordering::Relaxed);
                Ok(Live { child, tx, pending })
            }
            _ => {
                let _ = child.start_kill();
                Err(LoadError::WorkerNotReady {
                    name: self.name.clone(),
                    log: self.log.display().to_string(),
                })
            }
        }
    }

    /// Starts the process and waits until it is ready.
    pub async fn start(&self) -> Result<(), LoadError> {
        let live = self.spawn().await?;
        *self.live.lock().await = Some(live);
        Ok(())
    }

    /// Sends a step and waits for its reply.
    pub async fn call(&self, op: Op) -> Result<Reply, Died> {
        let (tx, pending) = {
            let g = self.live.lock().await;
            let live = g.as_ref().ok_or(Died)?;
            (live.tx.clone(), live.pending.clone())
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (otx, orx) = oneshot::channel();
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, otx);
        let mut line = serde_json::to_string(&Request { id, op }).map_err(|_| Died)?;
        line.push('\n');
        tx.send(line).map_err(|_| Died)?;
        orx.await.map_err(|_| Died)
    }

    /// SIGKILL, then start again (the new process reconciles its outbox before it is ready). Steps wait meanwhile.
    pub async fn kill_and_restart(&self) -> Result<(), LoadError> {
        let mut g = self.live.lock().await;
        if let Some(mut live) = g.take() {
            let _ = live.child.start_kill();
            let _ = live.child.wait().await;
        }
        self.kills.fetch_add(1, Ordering::Relaxed);
        tracing::info!(worker = %self.name, "killed with SIGKILL; restarting");
        *g = Some(self.spawn().await?);
        Ok(())
    }

    /// Starts the process again if it died on its own (counted as an unexpected death).
    pub async fn ensure_alive(&self) -> Result<(), LoadError> {
        let mut g = self.live.lock().await;
        let dead = match g.as_mut() {
            Some(live) => live.child.try_wait()?.is_some(),
            None => true,
        };
        if dead {
            self.unexpected_deaths.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(worker = %self.name, "died on its own; restarting");
            *g = Some(self.spawn().await?);
        }
        Ok(())
    }

    /// Closes its stdin and waits for it to exit.
    pub async fn stop(&self) {
        let mut g = self.live.lock().await;
        if let Some(mut live) = g.take() {
            drop(live.tx);
            if tokio::time::timeout(Duration::from_secs(30), live.child.wait())
                .await
                .is_err()
            {
                let _ = live.child.start_kill();
                let _ = live.child.wait().await;
            }
        }
    }

    /// The OS process id, while running.
    pub async fn pid(&self) -> Option<u32> {
        self.live.lock().await.as_ref().and_then(|l| l.child.id())
    }
}
