//! The hostile JSON-RPC proxy: in front of an Anvil URL, on a loopback port.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, B256};
use carekiosk_chain::devnet::BaseFeeFloor;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::config::{ProxyConfig, Reorgs, LOG_RANGE_ERROR_CODE, RATE_LIMITED_ERROR_CODE};
use crate::http::{self, Outcome, Request, Response};
use crate::rng::Rng;
use crate::stats::{ReorgEvent, Stats};
use crate::CeloLikeError;

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running proxy. Dropping it stops it.
#[derive(Debug)]
pub struct Proxy {
    /// `http://127.0.0.1:PORT`: give this URL to the client under test.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    shared: Arc<Shared>,
    _tasks: Vec<AbortOnDrop>,
}

/// The upstream did not answer (the proxy answers 502).
#[derive(Debug)]
struct UpstreamDown(String);

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct Shared {
    upstream: String,
    client: reqwest::Client,
    config: Mutex<ProxyConfig>,
    rng: Mutex<Rng>,
    bucket: Mutex<Option<Bucket>>,
    stats: Mutex<Stats>,
    /// Transactions whose first send was seen.
    seen_sends: Mutex<HashSet<B256>>,
    /// Transactions that already triggered (or were drawn for) a reorg.
    reorg_triggers: Mutex<HashSet<B256>>,
    /// One reorg at a time.
    reorg_lock: tokio::sync::Mutex<()>,
    fees: Option<BaseFeeFloor>,
}

fn rpc_ok(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

fn rpc_err(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn hex(n: u64) -> String {
    format!("0x{n:x}")
}

fn parse_quantity(v: &Value) -> Option<u64> {
    let s = v.as_str()?;
    let h = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))?;
    u64::from_str_radix(h, 16).ok()
}

/// Methods a public node does not serve, and ours: never limited, delayed or hung.
fn exempt(method: &str) -> bool {
    ["anvil_", "evm_", "hardhat_", "celolike_"]
        .iter()
        .any(|p| method.starts_with(p))
}

impl Proxy {
    /// Starts a proxy in front of `upstream` (an Anvil URL) on `127.0.0.1:port` (0: any free port). `fees` is
    /// the devnet's base-fee floor, needed for `fee_spikes`.
    pub async fn start(
        upstream: impl Into<String>,
        port: u16,
        config: ProxyConfig,
        fees: Option<BaseFeeFloor>,
    ) -> Result<Proxy, CeloLikeError> {
        Self::start_on(upstream, IpAddr::from([127, 0, 0, 1]), port, config, fees).await
    }

    /// [`Proxy::start`] on another address of this machine: a client given a non-loopback URL treats the node
    /// as remote (its timeouts, retries and receipt polling are a public RPC's), as a kiosk would Celo's.
    pub async fn start_on(
        upstream: impl Into<String>,
        host: IpAddr,
        port: u16,
        config: ProxyConfig,
        fees: Option<BaseFeeFloor>,
    ) -> Result<Proxy, CeloLikeError> {
        config.validate()?;
        if config.fee_spikes.is_some() && fees.is_none() {
            return Err(CeloLikeError::Config(
                "fee_spikes need a devnet started with a base-fee floor (DevnetOptions::celo_like)"
                    .into(),
            ));
        }
        let listener = TcpListener::bind((host, port))
            .await
            .map_err(|source| CeloLikeError::Listen { port, source })?;
        let port = listener
            .local_addr()
            .map_err(|source| CeloLikeError::Listen { port, source })?
            .port();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CeloLikeError::Config(format!("HTTP client: {e}")))?;
        let shared = Arc::new(Shared {
            upstream: upstream.into(),
            client,
            rng: Mutex::new(Rng::new(config.seed)),
            bucket: Mutex::new(None),
            config: Mutex::new(config),
            stats: Mutex::new(Stats::default()),
            seen_sends: Mutex::new(HashSet::new()),
            reorg_triggers: Mutex::new(HashSet::new()),
            reorg_lock: tokio::sync::Mutex::new(()),
            fees,
        });
        let accept = {
            let shared = shared.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        http::serve(stream, |req| {
                            let shared = shared.clone();
                            async move { shared.handle(req).await }
                        })
                        .await
                    });
                }
            })
        };
        let spikes = tokio::spawn(fee_spike_schedule(shared.clone()));
        let url = match host {
            IpAddr::V4(h) => format!("http://{h}:{port}"),
            IpAddr::V6(h) => format!("http://[{h}]:{port}"),
        };
        tracing::info!(%url, upstream = %shared.upstream, "celo-like proxy listening");
        Ok(Proxy {
            url,
            port,
            shared,
            _tasks: vec![AbortOnDrop(accept), AbortOnDrop(spikes)],
        })
    }

    /// What the proxy did so far.
    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().expect("stats lock").clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> ProxyConfig {
        self.shared.config.lock().expect("config lock").clone()
    }

    /// Changes the behaviour from the next request on (e.g. deploy through a quiet proxy, then turn hostile).
    /// The random generator keeps its sequence; the token bucket restarts full.
    pub fn set_config(&self, config: ProxyConfig) -> Result<(), CeloLikeError> {
        config.validate()?;
        if config.fee_spikes.is_some() && self.shared.fees.is_none() {
            return Err(CeloLikeError::Config(
                "fee_spikes need a devnet started with a base-fee floor".into(),
            ));
        }
        *self.shared.config.lock().expect("config lock") = config;
        *self.shared.bucket.lock().expect("bucket lock") = None;
        Ok(())
    }

    /// The Anvil URL behind the proxy.
    pub fn upstream(&self) -> &str {
        &self.shared.upstream
    }
}

/// Turns fee spikes on and off on the configured schedule.
async fn fee_spike_schedule(shared: Arc<Shared>) {
    let Some(fees) = shared.fees.clone() else {
        return;
    };
    loop {
        let spikes = shared.config.lock().expect("config lock").fee_spikes;
        let Some(s) = spikes else {
            tokio::time::sleep(Duration::from_millis(250)).await;
            continue;
        };
        tokio::time::sleep(s.every).await;
        if shared
            .config
            .lock()
            .expect("config lock")
            .fee_spikes
            .is_none()
        {
            continue;
        }
        fees.set_spike(Some(s.factor));
        shared.stats.lock().expect("stats lock").fee_spikes += 1;
        tracing::info!(factor = s.factor, lasting = ?s.lasting, "fee spike");
        tokio::time::sleep(s.lasting).await;
        fees.set_spike(None);
    }
}

impl Shared {
    fn cfg(&self) -> ProxyConfig {
        self.config.lock().expect("config lock").clone()
    }

    fn chance(&self, p: f64) -> bool {
        p > 0.0 && self.rng.lock().expect("rng lock").chance(p)
    }

    fn stat(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().expect("stats lock"));
    }

    /// `Some(seconds to wait)` when the bucket is empty; takes a token otherwise.
    fn bucket_refuses(&self, per_second: f64, burst: f64) -> Option<u64> {
        let now = Instant::now();
        let mut g = self.bucket.lock().expect("bucket lock");
        let b = g.get_or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * per_second).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            None
        } else {
            Some((((1.0 - b.tokens) / per_second).ceil() as u64).max(1))
        }
    }

    async fn handle(self: Arc<Self>, req: Request) -> Outcome {
        let parsed: Result<Value, _> = serde_json::from_slice(&req.body);
        let Ok(body) = parsed else {
            let v = rpc_err(&Value::Null, -32700, "parse error: the body is not JSON");
            return Outcome::Respond(Response::json(200, v.to_string().into_bytes()));
        };
        let calls: Vec<Value> = match &body {
            Value::Array(a) => a.clone(),
            v => vec![v.clone()],
        };
        let methods: Vec<String> = calls
            .iter()
            .map(|c| c["method"].as_str().unwrap_or("").to_string())
            .collect();
        self.stat(|s| {
            s.http_requests += 1;
            *s.http_requests_by_path.entry(req.path.clone()).or_default() += 1;
            let by_path = s.calls_by_path.entry(req.path.clone()).or_default();
            for (m, c) in methods.iter().zip(&calls) {
                *s.calls_by_method.entry(m.clone()).or_default() += 1;
                let key = if m == "eth_getBlockByNumber" {
                    match c["params"][0].as_str() {
                        Some(t @ ("latest" | "safe" | "finalized" | "pending" | "earliest")) => {
                            format!("{m}({t})")
                        }
                        _ => format!("{m}(number)"),
                    }
                } else {
                    m.clone()
                };
                *by_path.entry(key).or_default() += 1;
            }
        });
        let cfg = self.cfg();
        let chaos = methods.iter().any(|m| !exempt(m));
        let mut hang = false;
        if chaos {
            let first_id = calls
                .first()
                .map(|c| c["id"].clone())
                .unwrap_or(Value::Null);
            let limited = |retry: u64| {
                let v = rpc_err(
                    &first_id,
                    RATE_LIMITED_ERROR_CODE,
                    "Too Many Requests: rate limit exceeded, retry after the time in Retry-After",
                );
                let mut r = Response::json(429, v.to_string().into_bytes());
                r.headers.push(("retry-after", retry.to_string()));
                Outcome::Respond(r)
            };
            if self.chance(cfg.rate_limited_fraction) {
                self.stat(|s| s.rate_limited_at_random += 1);
                return limited(cfg.retry_after.as_secs().max(1));
            }
            if let Some(b) = cfg.token_bucket {
                if let Some(wait) = self.bucket_refuses(b.per_second, b.burst) {
                    self.stat(|s| s.rate_limited_by_bucket += 1);
                    return limited(wait);
                }
            }
            hang = self.chance(cfg.hang_fraction);
            let mut delay = cfg.latency;
            if !cfg.jitter.is_zero() {
                let ms = self
                    .rng
                    .lock()
                    .expect("rng lock")
                    .up_to(cfg.jitter.as_millis() as u64);
                delay += Duration::from_millis(ms);
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        let mut answers = Vec::with_capacity(calls.len());
        for call in calls {
            match self.clone().call(call, &cfg).await {
                Ok(v) => answers.push(v),
                Err(UpstreamDown(e)) => {
                    self.stat(|s| s.upstream_failures += 1);
                    tracing::warn!(error = %e, "upstream did not answer");
                    return Outcome::Respond(Response::text(502, &format!("upstream: {e}")));
                }
            }
        }
        if hang {
            self.stat(|s| s.hung += 1);
            return Outcome::Hang(cfg.hang_for);
        }
        let out = if body.is_array() {
            Value::Array(answers)
        } else {
            answers.pop().unwrap_or(Value::Null)
        };
        Outcome::Respond(Response::json(200, out.to_string().into_bytes()))
    }

    /// Forwards one call as it is.
    async fn forward(&self, call: &Value) -> Result<Value, UpstreamDown> {
        let resp = self
            .client
            .post(&self.upstream)
            .header("content-type", "application/json")
            .body(call.to_string())
            .send()
            .await
            .map_err(|e| UpstreamDown(e.to_string()))?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| UpstreamDown(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| UpstreamDown(format!("not JSON: {e}")))
    }

    /// Calls a method upstream and returns its result (or the error as text).
    async fn upstream_call(&self, method: &str, params: Value) -> Result<Value, String> {
        let v = self
            .forward(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .await
            .map_err(|e| e.0)?;
        if let Some(err) = v.get("error") {
            return Err(format!("{method}: {err}"));
        }
        Ok(v.get("result").cloned().unwrap_or(Value::Null))
    }

    async fn latest(&self) -> Result<u64, UpstreamDown> {
        let v = self
            .upstream_call("eth_blockNumber", json!([]))
            .await
            .map_err(UpstreamDown)?;
        parse_quantity(&v).ok_or_else(|| UpstreamDown(format!("eth_blockNumber gave {v}")))
    }

    /// A block tag or number as a number (`None` when the node does not know it).
    async fn resolve_block(&self, tag: Option<&Value>) -> Result<Option<u64>, UpstreamDown> {
        let tag = tag.and_then(|t| t.as_str()).unwrap_or("latest");
        if let Some(n) = parse_quantity(&json!(tag)) {
            return Ok(Some(n));
        }
        match tag {
            "earliest" => Ok(Some(0)),
            "latest" | "pending" => self.latest().await.map(Some),
            other => {
                let b = self
                    .upstream_call("eth_getBlockByNumber", json!([other, false]))
                    .await
                    .map_err(UpstreamDown)?;
                Ok(parse_quantity(&b["number"]))
            }
        }
    }

    /// Handles one JSON-RPC call.
    async fn call(
        self: Arc<Self>,
        mut call: Value,
        cfg: &ProxyConfig,
    ) -> Result<Value, UpstreamDown> {
        let id = call.get("id").cloned().unwrap_or(Value::Null);
        let method = call["method"].as_str().unwrap_or("").to_string();
        match method.as_str() {
            "celolike_stats" => {
                let s = self.stats.lock().expect("stats lock").clone();
                Ok(rpc_ok(&id, serde_json::to_value(s).unwrap_or(Value::Null)))
            }
            "eth_getLogs" => {
                if let Some(cap) = cfg.get_logs_max_range {
                    let filter = &call["params"][0];
                    if filter.get("blockHash").is_none_or(|h| h.is_null()) {
                        let from = self.resolve_block(filter.get("fromBlock")).await?;
                        let to = self.resolve_block(filter.get("toBlock")).await?;
                        if let (Some(from), Some(to)) = (from, to) {
                            if to >= from && to - from + 1 > cap {
                                self.stat(|s| s.log_range_errors += 1);
                                return Ok(rpc_err(
                                    &id,
                                    LOG_RANGE_ERROR_CODE,
                                    &format!("query exceeds max block range {cap}"),
                                ));
                            }
                        }
                    }
                }
                self.forward(&call).await
            }
            "eth_blockNumber" => match cfg.stale {
                Some(st) if st.blocks > 0 && self.chance(st.fraction) => {
                    let latest = self.latest().await?;
                    self.stat(|s| s.stale_answers += 1);
                    Ok(rpc_ok(&id, json!(hex(latest.saturating_sub(st.blocks)))))
                }
                _ => self.forward(&call).await,
            },
            "eth_getTransactionCount" => {
                let tag = call["params"][1].as_str().unwrap_or("latest").to_string();
                match cfg.stale {
                    Some(st)
                        if st.blocks > 0
                            && (tag == "latest" || tag == "pending")
                            && self.chance(st.fraction) =>
                    {
                        let latest = self.latest().await?;
                        let at = hex(latest.saturating_sub(st.blocks));
                        if let Some(params) = call["params"].as_array_mut() {
                            params.truncate(1);
                            params.push(json!(at));
                        }
                        self.stat(|s| s.stale_answers += 1);
                        self.forward(&call).await
                    }
                    _ => self.forward(&call).await,
                }
            }
            "eth_sendRawTransaction" => {
                let raw = call["params"][0].as_str().unwrap_or("");
                let bytes = alloy::primitives::hex::decode(raw).unwrap_or_default();
                if !bytes.is_empty() && cfg.drop_first_send_fraction > 0.0 {
                    let hash = keccak256(&bytes);
                    let first = self.seen_sends.lock().expect("sends lock").insert(hash);
                    if first && self.chance(cfg.drop_first_send_fraction) {
                        self.stat(|s| s.dropped_sends.push(hash));
                        tracing::debug!(%hash, "dropped a first send");
                        return Ok(rpc_ok(&id, json!(hash)));
                    }
                }
                self.forward(&call).await
            }
            "eth_getTransactionReceipt" => {
                let answer = self.forward(&call).await?;
                if let (Some(r), Some(receipt)) = (cfg.reorgs, answer.get("result")) {
                    if receipt.is_object() {
                        let hash: Option<B256> = receipt["transactionHash"]
                            .as_str()
                            .and_then(|h| h.parse().ok());
                        if let Some(hash) = hash {
                            self.clone().maybe_reorg(hash, r);
                        }
                    }
                }
                Ok(answer)
            }
            _ => self.forward(&call).await,
        }
    }

    /// Draws whether this receipt triggers a reorg, and makes it in the background.
    fn maybe_reorg(self: Arc<Self>, tx: B256, cfg: Reorgs) {
        if !self.reorg_triggers.lock().expect("reorg lock").insert(tx) {
            return;
        }
        if !self.chance(cfg.probability) {
            return;
        }
        tokio::spawn(async move {
            tokio::time::sleep(cfg.delay).await;
            if let Err(e) = self.reorg(tx, cfg).await {
                self.stat(|s| s.reorg_failures += 1);
                tracing::warn!(error = %e, %tx, "reorg failed");
            }
        });
    }

    /// Pauses mining, reorgs, resumes mining as it was.
    async fn reorg(&self, tx: B256, cfg: Reorgs) -> Result<(), String> {
        let _one = self.reorg_lock.lock().await;
        let automine = self
            .upstream_call("anvil_getAutomine", json!([]))
            .await?
            .as_bool()
            .unwrap_or(false);
        let interval = self
            .upstream_call("anvil_getIntervalMining", json!([]))
            .await?
            .as_u64()
            .filter(|s| *s > 0);
        self.upstream_call("evm_setAutomine", json!([false]))
            .await?;
        self.upstream_call("evm_setIntervalMining", json!([0]))
            .await?;
        let result = self.reorg_paused(tx, cfg).await;
        if let Err(e) = self.keep_the_clock().await {
            tracing::warn!(error = %e, "the chain's clock could not be set after a reorg");
        }
        if automine {
            self.upstream_call("evm_setAutomine", json!([true])).await?;
            // Transactions sent while mining was paused would wait for the next one: mine them now.
            let status = self.upstream_call("txpool_status", json!([])).await?;
            if parse_quantity(&status["pending"]).unwrap_or(0) > 0 {
                self.upstream_call("evm_mine", json!([])).await?;
            }
        } else if let Some(secs) = interval {
            self.upstream_call("evm_setIntervalMining", json!([secs]))
                .await?;
        }
        result
    }

    /// Anvil's clock stays where a reorg left it, behind the wall clock by the pause: a real chain's does not (its
    /// blocks keep their producers' time). The next block is stamped with the wall clock again.
    async fn keep_the_clock(&self) -> Result<(), String> {
        let latest = self
            .upstream_call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        let at = parse_quantity(&latest["timestamp"]).unwrap_or(0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if at < now {
            self.upstream_call("evm_setNextBlockTimestamp", json!([now]))
                .await?;
        }
        Ok(())
    }

    async fn reorg_paused(&self, tx: B256, cfg: Reorgs) -> Result<(), String> {
        let receipt = self
            .upstream_call("eth_getTransactionReceipt", json!([tx]))
            .await?;
        let Some(block) = parse_quantity(&receipt["blockNumber"]) else {
            self.stat(|s| s.reorgs_skipped += 1);
            return Ok(());
        };
        let head = self.latest().await.map_err(|e| e.0)?;
        let min_depth = head.saturating_sub(block) + 1;
        if min_depth > cfg.max_depth || min_depth > head {
            self.stat(|s| s.reorgs_skipped += 1);
            return Ok(());
        }
        let extra = self
            .rng
            .lock()
            .expect("rng lock")
            .up_to(cfg.max_depth - min_depth);
        let depth = (min_depth + extra).min(head);
        let first_block = head - depth + 1;
        let mut txs: Vec<B256> = Vec::new();
        for n in first_block..=head {
            let b = self
                .upstream_call("eth_getBlockByNumber", json!([hex(n), false]))
                .await?;
            for h in b["transactions"].as_array().into_iter().flatten() {
                if let Some(h) = h.as_str().and_then(|h| h.parse().ok()) {
                    txs.push(h);
                }
            }
        }
        let reinclude = self.chance(cfg.reinclude_fraction);
        let mut pairs = Vec::new();
        if reinclude {
            for h in &txs {
                let raw = self
                    .upstream_call("eth_getRawTransactionByHash", json!([h]))
                    .await?;
                if raw.is_string() {
                    pairs.push(json!([raw, depth - 1]));
                }
            }
        }
        self.upstream_call("anvil_reorg", json!([depth, pairs]))
            .await?;
        let mut event = ReorgEvent {
            trigger: tx,
            depth,
            first_block,
            head,
            ..ReorgEvent::default()
        };
        for h in txs {
            let r = self
                .upstream_call("eth_getTransactionReceipt", json!([h]))
                .await?;
            if r.is_object() {
                event.reincluded.push(h);
            } else {
                event.dropped.push(h);
            }
        }
        let new_head = self.latest().await.map_err(|e| e.0)?;
        for n in first_block..=new_head {
            let b = self
                .upstream_call("eth_getBlockByNumber", json!([hex(n), false]))
                .await?;
            if b.is_null() {
                event.unserved.push(n);
            }
        }
        if !event.unserved.is_empty() {
            tracing::warn!(heights = ?event.unserved, "after the reorg the node serves no block at these heights");
        }
        tracing::info!(
            %tx, depth, first_block,
            dropped = event.dropped.len(),
            reincluded = event.reincluded.len(),
            "reorg"
        );
        self.stat(|s| s.reorgs.push(event));
        Ok(())
    }
}
