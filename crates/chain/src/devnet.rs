//! A real Anvil node started by carekiosk on a free loopback port (the local profile, tests, benchmarks).
//!
//! Anvil comes from npm (`contracts/node_modules/@foundry-rs/anvil`); `CAREKIOSK_ANVIL` names another binary.
//! By default the node runs Celo's rules: the OP stack (`--optimism`) at Celo's hardfork (`isthmus`, a Prague
//! EVM), with the P256VERIFY precompile at 0x100 for 3,450 gas as on Celo, so the local profile, the tests and the
//! load run pay what Celo charges. `optimism: false, hardfork: None` gives plain Ethereum `osaka` instead
//! (P256VERIFY at 6,900). The node is killed when the [`Devnet`] is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::ChainError;

/// How to start Anvil.
#[derive(Debug, Clone)]
pub struct DevnetOptions {
    /// Chain id to report (31337 locally; Celo's to rehearse a Celo deployment).
    pub chain_id: u64,
    /// Seconds between blocks; `None` mines on every transaction.
    pub block_time: Option<u64>,
    /// Dump state here on exit and load it at start, so the chain survives a restart.
    pub state_file: Option<PathBuf>,
    /// A fixed port (0: any free port).
    pub port: u16,
    /// Run the OP stack's rules (`anvil --optimism`), as Celo since its move to an L2 (the default).
    pub optimism: bool,
    /// The hardfork (`anvil --hardfork`); `None` runs `osaka`. The default is Celo's, `isthmus`.
    pub hardfork: Option<String>,
}

impl Default for DevnetOptions {
    fn default() -> Self {
        Self {
            chain_id: 31337,
            block_time: None,
            state_file: None,
            port: 0,
            optimism: true,
            hardfork: Some("isthmus".to_string()),
        }
    }
}

/// A running Anvil.
#[derive(Debug)]
pub struct Devnet {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    /// Its chain id.
    pub chain_id: u64,
}

/// Where the Anvil binary is: `CAREKIOSK_ANVIL`, else the project's npm install, else `anvil` on PATH.
pub fn anvil_path() -> PathBuf {
    if let Ok(p) = std::env::var("CAREKIOSK_ANVIL") {
        return PathBuf::from(p);
    }
    let rel = Path::new("contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    let mut starts = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")];
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    for start in starts {
        for dir in start.ancestors() {
            let candidate = dir.join(rel);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("anvil")
}

impl Devnet {
    /// Starts Anvil and waits until it listens.
    pub async fn start(opts: DevnetOptions) -> Result<Devnet, ChainError> {
        let bin = anvil_path();
        let mut cmd = Command::new(&bin);
        cmd.args(["--host", "127.0.0.1", "--port", &opts.port.to_string()])
            .args([
                "--chain-id",
                &opts.chain_id.to_string(),
                "--hardfork",
                opts.hardfork.as_deref().unwrap_or("osaka"),
            ])
            .args(["--accounts", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(t) = opts.block_time {
            cmd.args(["--block-time", &t.to_string()]);
        }
        if let Some(state) = &opts.state_file {
            cmd.arg("--state").arg(state);
        }
        if opts.optimism {
            cmd.arg("--optimism");
        }
        let mut child = cmd.spawn().map_err(|e| {
            ChainError::Devnet(format!(
                "cannot run {} ({e}); install it with `cd contracts && npm install` or set CAREKIOSK_ANVIL",
                bin.display()
            ))
        })?;
        let stdout = child.stdout.take().expect("piped");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.trim().strip_prefix("Listening on ") {
                    return rest
                        .rsplit(':')
                        .next()
                        .and_then(|p| p.trim().parse::<u16>().ok());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(port) = port else {
            let _ = child.start_kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ =
                    tokio::time::timeout(Duration::from_secs(2), e.read_to_string(&mut err)).await;
            }
            return Err(ChainError::Devnet(format!(
                "anvil did not start listening: {}",
                err.trim()
            )));
        };
        // Keep draining its output so the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(async move {
                let mut l = BufReader::new(stderr).lines();
                while let Ok(Some(line)) = l.next_line().await {
                    tracing::debug!(target: "anvil", "{line}");
                }
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        tracing::info!(%url, chain_id = opts.chain_id, "local chain listening");
        Ok(Devnet {
            child,
            url,
            port,
            chain_id: opts.chain_id,
        })
    }

    /// Stops the node gracefully (SIGTERM, so `--state` is dumped) and waits for it.
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY-free: plain kill(1) via the shell keeps this crate free of libc.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }

    /// Kills the node at once (SIGKILL), as a crash would.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}
