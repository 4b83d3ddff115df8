//! A real Anvil node started by carekiosk on a free loopback port (the local profile, tests, benchmarks).
//!
//! Anvil comes from npm (`contracts/node_modules/@foundry-rs/anvil`); `CAREKIOSK_ANVIL` names another binary.
//! By default the node runs Celo's rules: the OP stack (`--optimism`) at Celo's hardfork (`isthmus`, a Prague
//! EVM), with the P256VERIFY precompile at 0x100 for 3,450 gas as on Celo, so the local profile, the tests and the
//! load run pay what Celo charges. `optimism: false, hardfork: None` gives plain Ethereum `osaka` instead
//! (P256VERIFY at 6,900). The node is killed when the [`Devnet`] is dropped.
//!
//! [`DevnetOptions::celo_like`] adds the rest of Celo's behaviour: the OP stack (`--optimism`) at Celo's
//! hardfork (`isthmus`: P256VERIFY at 3,450 gas), 1 s blocks, a 30M gas limit, the base fee held at Celo's
//! 25 gwei floor and `safe`/`finalized` lagging behind `latest`. Anvil keeps no base-fee floor by itself (on
//! empty blocks the base fee decays by 1/250 a block with the OP stack's parameters), so a [`Devnet`] started
//! with a floor runs a background task that pins the next block's base fee with
//! `anvil_setNextBlockBaseFeePerGas` five times a second: every block mined by interval mining then has exactly
//! the floor (or the floor times the spike factor while a fee spike is on, see [`Devnet::set_fee_spike`]).
//! Congestion above the floor is not modelled; a spike stands for it. Blocks mined in a burst (`anvil_mine`,
//! `anvil_reorg`, auto-mining) may sit a fraction of a percent below the floor until the next pin.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::{Provider, RootProvider};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

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
    /// Start with this base fee (`anvil --base-fee`) and hold it as a floor: see the module docs.
    pub base_fee_floor_wei: Option<u64>,
    /// The block gas limit (`anvil --gas-limit`); `None` keeps Anvil's default.
    pub gas_limit: Option<u64>,
    /// `anvil --slots-in-an-epoch N`: the `safe` tag lags `latest` by N blocks and `finalized` by 2N.
    pub slots_in_an_epoch: Option<u64>,
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
            base_fee_floor_wei: None,
            gas_limit: None,
            slots_in_an_epoch: None,
        }
    }
}

/// Celo's base-fee floor: 25 gwei.
pub const CELO_BASE_FEE_FLOOR_WEI: u64 = 25_000_000_000;
/// Celo's block gas limit: 30M.
pub const CELO_GAS_LIMIT: u64 = 30_000_000;
/// The Celo-like chain's epoch: `safe` is `latest - 8`, `finalized` is `latest - 16`. Longer than the deepest
/// reorg the hostile proxy makes (5), so `safe` blocks never reorg, as on Celo.
pub const CELO_LIKE_SLOTS_IN_AN_EPOCH: u64 = 8;

impl DevnetOptions {
    /// A Celo-like chain: `anvil --optimism --hardfork isthmus --chain-id <id> --block-time 1
    /// --gas-limit 30000000 --base-fee 25000000000 --slots-in-an-epoch 8`, with the base fee held at the
    /// 25 gwei floor. Use Celo Sepolia's chain id (11142220) or mainnet's (42220).
    pub fn celo_like(chain_id: u64) -> Self {
        Self {
            chain_id,
            block_time: Some(1),
            optimism: true,
            hardfork: Some("isthmus".to_string()),
            base_fee_floor_wei: Some(CELO_BASE_FEE_FLOOR_WEI),
            gas_limit: Some(CELO_GAS_LIMIT),
            slots_in_an_epoch: Some(CELO_LIKE_SLOTS_IN_AN_EPOCH),
            ..Self::default()
        }
    }
}

/// How often the floor holder pins the next block's base fee.
const FLOOR_PIN_INTERVAL: Duration = Duration::from_millis(200);

/// A handle on a running devnet's base-fee floor: read the target, switch a fee spike on or off. Cheap to
/// clone; a proxy holds one to make fee spikes on a schedule.
#[derive(Debug, Clone)]
pub struct BaseFeeFloor {
    floor_wei: u64,
    target: Arc<watch::Sender<u64>>,
}

impl BaseFeeFloor {
    /// The floor in wei.
    pub fn floor_wei(&self) -> u64 {
        self.floor_wei
    }

    /// The base fee the holder pins now: the floor, or the floor times the spike factor during a spike.
    pub fn target_wei(&self) -> u64 {
        *self.target.borrow()
    }

    /// `Some(k)`: from the next block on, the base fee is the floor times `k` (a fee spike); `None`: back to
    /// the floor.
    pub fn set_spike(&self, factor: Option<u64>) {
        let target = self.floor_wei.saturating_mul(factor.unwrap_or(1).max(1));
        self.target.send_replace(target);
        tracing::info!(target_wei = target, "base fee target changed");
    }

    /// Whether a spike is on.
    pub fn spiking(&self) -> bool {
        self.target_wei() != self.floor_wei
    }
}

/// Aborts the floor holder task when the [`Devnet`] goes away.
#[derive(Debug)]
struct FloorTask(tokio::task::JoinHandle<()>);

impl Drop for FloorTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn hold_floor(url: String, mut target: watch::Receiver<u64>) {
    let Ok(parsed) = url.parse() else {
        tracing::warn!(%url, "base fee floor: bad node URL, floor not held");
        return;
    };
    let provider = RootProvider::<alloy::network::Ethereum>::new_http(parsed);
    let mut ticker = tokio::time::interval(FLOOR_PIN_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            changed = target.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let fee = *target.borrow_and_update();
        let res: Result<serde_json::Value, _> = provider
            .raw_request("anvil_setNextBlockBaseFeePerGas".into(), (U256::from(fee),))
            .await;
        match res {
            Ok(_) => failures = 0,
            Err(e) => {
                failures += 1;
                if failures == 1 || failures.is_multiple_of(50) {
                    tracing::warn!(error = %e, failures, "base fee floor: anvil_setNextBlockBaseFeePerGas failed");
                }
            }
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
    floor: Option<BaseFeeFloor>,
    _floor_task: Option<FloorTask>,
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
        if let Some(fee) = opts.base_fee_floor_wei {
            cmd.args(["--base-fee", &fee.to_string()]);
        }
        if let Some(limit) = opts.gas_limit {
            cmd.args(["--gas-limit", &limit.to_string()]);
        }
        if let Some(n) = opts.slots_in_an_epoch {
            cmd.args(["--slots-in-an-epoch", &n.to_string()]);
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
        let (floor, floor_task) = match opts.base_fee_floor_wei {
            Some(floor_wei) => {
                let (tx, rx) = watch::channel(floor_wei);
                let task = tokio::spawn(hold_floor(url.clone(), rx));
                (
                    Some(BaseFeeFloor {
                        floor_wei,
                        target: Arc::new(tx),
                    }),
                    Some(FloorTask(task)),
                )
            }
            None => (None, None),
        };
        Ok(Devnet {
            child,
            url,
            port,
            chain_id: opts.chain_id,
            floor,
            _floor_task: floor_task,
        })
    }

    /// The base-fee floor this devnet holds, if it was started with one.
    pub fn base_fee_floor(&self) -> Option<BaseFeeFloor> {
        self.floor.clone()
    }

    /// Switches a fee spike on (`Some(k)`: base fee = floor × k from the next block) or off (`None`).
    /// Fails when the devnet was started without `base_fee_floor_wei`.
    pub fn set_fee_spike(&self, factor: Option<u64>) -> Result<(), ChainError> {
        let floor = self.floor.as_ref().ok_or_else(|| {
            ChainError::Devnet(
                "this chain holds no base-fee floor: start it with `base_fee_floor_wei` (e.g. DevnetOptions::celo_like) to make fee spikes".into(),
            )
        })?;
        floor.set_spike(factor);
        Ok(())
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
