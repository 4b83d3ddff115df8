//! For the indexer's tests and benchmark: a real Anvil with `safe`/`finalized` tags a few blocks behind, the
//! contracts deployed on it, patients registered, and a tiny JSON-RPC proxy in front of it that caps
//! `eth_getLogs` ranges the way public providers do (and can serve logs with a stale block hash once in a while).
//! The proxy forwards everything else to Anvil unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::U256;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use alloy::transports::RpcError;
use carekiosk_chain::deploy::{self, DemoActors, TOKEN_UNIT};
use carekiosk_chain::softcard::{self, SoftCard};
use carekiosk_chain::{eip712, Chain, Deployment, Profile};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

/// A running Anvil (killed on drop) with the contracts and the demo institutions.
pub struct Stack {
    _anvil: Child,
    pub url: String,
    pub chain: Chain,
    pub d: Deployment,
    pub actors: DemoActors,
}

/// Starts Anvil with `safe` = latest − `slots` and `finalized` = latest − 2·`slots`, deploys and sets up.
pub async fn stack(slots: u64) -> Stack {
    let bin = carekiosk_chain::devnet::anvil_path();
    let mut child = Command::new(&bin)
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--hardfork",
            "osaka",
            "--accounts",
            "1",
        ])
        .args(["--slots-in-an-epoch", &slots.to_string(), "--prune-history"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} ({e}): set CAREKIOSK_ANVIL", bin.display()));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("anvil printed its port");
        if let Some(rest) = line.trim().strip_prefix("Listening on ") {
            break rest.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = format!("http://127.0.0.1:{port}");
    let profile = Profile::embedded("local").unwrap();
    let admin = PrivateKeySigner::random();
    let actors = DemoActors::generate();
    let mut signers = vec![admin.clone()];
    signers.extend(actors.signers());
    let chain = Chain::connect(&url, profile.gas, signers).await.unwrap();
    // Before the first block: no EIP-2935 block-hash history contract. Anvil 1.7.1 rebuilds the state root from
    // every storage slot at each block, and that contract fills one slot a block (8,191 of them), so mining slows
    // to ~13 ms a block; without it a day of blocks (86,400) mines in seconds. Nothing of ours reads it (the
    // contracts use no block hashes; the indexer reads headers).
    let _: Value = chain
        .provider()
        .raw_request(
            "anvil_setCode".into(),
            ("0x0000F90827F1C53a10cb7A02335B175320002935", "0x"),
        )
        .await
        .unwrap();
    chain
        .devnet_set_balance(
            admin.address(),
            U256::from(1000u64) * U256::from(TOKEN_UNIT),
        )
        .await
        .unwrap();
    let mut d = deploy::deploy_contracts(&chain, admin.address(), &profile)
        .await
        .unwrap();
    deploy::setup_demo(&chain, &mut d, &actors).await.unwrap();
    Stack {
        _anvil: child,
        url,
        chain,
        d,
        actors,
    }
}

impl Stack {
    /// Registers a new patient from the demo hospital's kiosk; returns the patient id and the block.
    pub async fn register_patient(&self) -> ([u8; 32], u64) {
        let card = SoftCard::generate();
        let pid = card.patient_id();
        let hospital = self.actors.hospital.address();
        let deadline = U256::from(self.chain.latest_timestamp().await.unwrap() + 600);
        let domain = eip712::domain(self.d.chain_id, self.d.contracts.patient_smart_card);
        let sig = card.sign(eip712::digest(
            &eip712::RegisterPatient {
                patientId: pid,
                hospital,
                recoveryKeyHash: softcard::recovery_for(pid),
                keyBundleHash: alloy::primitives::keccak256(softcard::sample_key_bundle()),
                deadline,
            },
            &domain,
        ));
        let r = self
            .chain
            .send(
                self.actors.hospital_kiosk.address(),
                self.chain.hub(&self.d).registerPatient(
                    deadline,
                    softcard::recovery_for(sig.key_hash()),
                    softcard::sample_key_bundle(),
                    sig.into(),
                ),
            )
            .await
            .expect("registerPatient");
        (pid.0, r.block_number.unwrap())
    }

    /// Mines `n` empty blocks (in chunks: Anvil's mining slows as the chain grows).
    pub async fn mine(&self, mut n: u64) {
        while n > 0 {
            let k = n.min(1_000);
            let _: Value = self
                .chain
                .provider()
                .raw_request("anvil_mine".into(), (U256::from(k),))
                .await
                .unwrap();
            n -= k;
        }
    }

    /// The number of the block the node calls `tag`.
    pub async fn tag(&self, tag: &str) -> u64 {
        let b: Value = self
            .chain
            .provider()
            .raw_request("eth_getBlockByNumber".into(), (tag, false))
            .await
            .unwrap();
        u64::from_str_radix(b["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
}

/// How the proxy words its range refusal.
#[derive(Debug, Clone, Copy)]
pub enum Wording {
    /// No number: `block range too large` (the client must halve).
    Plain,
    /// geth's `exceed maximum block range: N`.
    Geth,
}

/// What the proxy saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Every HTTP request (a JSON-RPC batch is one, as public RPCs rate-limit them).
    pub requests: AtomicU64,
    /// Every JSON-RPC call (each call of a batch counts).
    pub calls: AtomicU64,
    /// `eth_getLogs` requests.
    pub get_logs: AtomicU64,
    /// `eth_getLogs` requests refused for their range.
    pub refused: AtomicU64,
    /// The widest `eth_getLogs` range answered, in blocks.
    pub widest_served: AtomicU64,
    /// Serve this many more non-empty `eth_getLogs` answers with a wrong block hash.
    pub tamper: AtomicU64,
    /// Answer `eth_getBlockByNumber` for this block (+ 1; 0: none) with null, as a node with a hole in its store.
    pub hide_block: AtomicU64,
    /// Answer `eth_blockNumber` this many blocks behind the head, as a load-balanced RPC's lagging replica.
    pub lag_head: AtomicU64,
    /// Receipts to answer as they are kept here (by transaction hash), whatever the node says: a replica that has
    /// not seen a reorg yet.
    pub old_receipts: std::sync::Mutex<std::collections::HashMap<String, Value>>,
}

/// The proxy: `url` to connect to; `stats` of what it saw.
pub struct CappedRpc {
    pub url: String,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CappedRpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy to `upstream` that refuses `eth_getLogs` over more than `cap` blocks.
pub async fn capped(upstream: &str, cap: u64, wording: Wording) -> CappedRpc {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let up: DynProvider = ProviderBuilder::new()
        .connect_http(upstream.parse().unwrap())
        .erased();
    let stats = Arc::new(Stats::default());
    let st = stats.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let (up, st) = (up.clone(), st.clone());
            tokio::spawn(async move {
                let _ = sock.set_nodelay(true);
                let mut sock = BufReader::new(sock);
                loop {
                    // Headers, then a Content-Length body; HTTP/1.1 keep-alive.
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if sock.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if sock.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let req: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    st.requests.fetch_add(1, Ordering::Relaxed);
                    let answer = match req {
                        Value::Array(reqs) => {
                            let mut out = Vec::new();
                            for r in reqs {
                                out.push(handle(&up, &st, cap, wording, r).await);
                            }
                            Value::Array(out)
                        }
                        r => handle(&up, &st, cap, wording, r).await,
                    };
                    let body = serde_json::to_vec(&answer).unwrap();
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                        body.len()
                    );
                    let s = sock.get_mut();
                    if s.write_all(head.as_bytes()).await.is_err()
                        || s.write_all(&body).await.is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    CappedRpc { url, stats, task }
}

fn hex_u64(v: &Value) -> Option<u64> {
    u64::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

async fn handle(up: &DynProvider, st: &Stats, cap: u64, wording: Wording, req: Value) -> Value {
    st.calls.fetch_add(1, Ordering::Relaxed);
    let id = req["id"].clone();
    let method = req["method"].as_str().unwrap_or_default().to_string();
    let params = req.get("params").cloned().unwrap_or(json!([]));
    let mut range = 0;
    if method == "eth_getLogs" {
        st.get_logs.fetch_add(1, Ordering::Relaxed);
        // No `toBlock` (or a tag) means the latest block, as providers count it against their cap.
        let to = match hex_u64(&params[0]["toBlock"]) {
            Some(t) => Some(t),
            None => up.get_block_number().await.ok(),
        };
        if let (Some(from), Some(to)) = (hex_u64(&params[0]["fromBlock"]), to) {
            range = to.saturating_sub(from) + 1;
            if range > cap {
                st.refused.fetch_add(1, Ordering::Relaxed);
                let message = match wording {
                    Wording::Plain => "block range too large".to_string(),
                    Wording::Geth => format!("exceed maximum block range: {cap}"),
                };
                return json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32000, "message": message}});
            }
        }
    }
    if method == "eth_getTransactionReceipt" {
        let kept = params[0]
            .as_str()
            .and_then(|h| st.old_receipts.lock().ok()?.get(&h.to_lowercase()).cloned());
        if let Some(r) = kept {
            return json!({"jsonrpc": "2.0", "id": id, "result": r});
        }
    }
    let lag = st.lag_head.load(Ordering::Relaxed);
    if method == "eth_blockNumber" && lag != 0 {
        if let Ok(head) = up.get_block_number().await {
            return json!({"jsonrpc": "2.0", "id": id, "result": format!("0x{:x}", head.saturating_sub(lag))});
        }
    }
    let hidden = st.hide_block.load(Ordering::Relaxed);
    if method == "eth_getBlockByNumber" && hidden != 0 && hex_u64(&params[0]) == Some(hidden - 1) {
        return json!({"jsonrpc": "2.0", "id": id, "result": null});
    }
    match up
        .raw_request::<_, Value>(method.clone().into(), params)
        .await
    {
        Ok(mut result) => {
            if method == "eth_getLogs" {
                st.widest_served.fetch_max(range, Ordering::Relaxed);
                let logs = result.as_array_mut().map(|a| a.len()).unwrap_or(0);
                if logs > 0
                    && st
                        .tamper
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| t.checked_sub(1))
                        .is_ok()
                {
                    for log in result.as_array_mut().unwrap() {
                        log["blockHash"] = json!(format!("0x{}", "de".repeat(32)));
                    }
                }
            }
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        }
        Err(RpcError::ErrorResp(e)) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": e.code, "message": e.message, "data": e.data}})
        }
        Err(e) => {
            json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603, "message": e.to_string()}})
        }
    }
}

/// A connection through `url` that signs for nothing (the indexer only reads).
pub async fn reader(url: &str) -> Chain {
    let profile = Profile::embedded("local").unwrap();
    Chain::connect(url, profile.gas, vec![]).await.unwrap()
}

/// Waits a little (helps a log line or two land in order).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}
