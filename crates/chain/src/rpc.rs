//! The one RPC layer every [`crate::Chain`] talks through: a per-request timeout, retries with exponential
//! backoff and jitter on HTTP 429, 5xx, timeouts and connection errors (waiting at least the `Retry-After` a
//! node asks for), a bound on attempts and on total time, and fallback RPC URLs used when the primary is
//! unreachable or keeps failing.
//!
//! It is an alloy transport (a tower `Service` over reqwest): alloy's own HTTP transport drops `Retry-After`
//! when a 429 carries a JSON-RPC body, its `RetryBackoffLayer` has neither exponential backoff, jitter, a time
//! bound nor retries on connection errors, and `FallbackLayer` ranks endpoints by racing them (several requests
//! for one: a public RPC's rate limit is spent faster).
//!
//! What is never retried: a JSON-RPC error answered by the node (a revert, insufficient funds, a fee too low, a
//! nonce too low…) — those are answers, not failures of the transport, and go back to the caller at once. A
//! retried `eth_sendRawTransaction` sends the same signed bytes again, which cannot change what lands; if the
//! first copy did reach the node, its "already known" answer to the retry — or "nonce too low" when the node has
//! mined it meanwhile and knows it by its hash — is turned into the transaction's hash, as the first answer would
//! have been.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use alloy::primitives::{keccak256, Bytes};
use alloy::transports::http::reqwest;
use alloy::transports::{TransportError, TransportErrorKind, TransportFut};
use alloy_json_rpc::{ErrorPayload, RequestPacket, Response, ResponsePacket, ResponsePayload};
use rand_core::{OsRng, RngCore};

/// How long one request may take on a loopback node.
pub const LOOPBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one request may take on a remote node.
pub const REMOTE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the layer keeps using a fallback before it tries the primary URL again.
pub const PRIMARY_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Timeouts, retries and URLs of the RPC layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcConfig {
    /// The primary URL first, then the fallbacks, in the order they are tried.
    pub urls: Vec<String>,
    /// Time allowed for one HTTP request (connect, send, whole answer).
    pub timeout: Duration,
    /// Attempts for one JSON-RPC request, all URLs together (at least 1).
    pub max_attempts: u32,
    /// Time after which no new attempt is started (the last attempt can add up to one `timeout`).
    pub max_elapsed: Duration,
    /// First backoff; doubled at each retry up to `max_backoff`, with jitter.
    pub base_backoff: Duration,
    /// Longest backoff between two attempts (a node's `Retry-After` is honoured even when longer, within
    /// `max_elapsed`).
    pub max_backoff: Duration,
}

impl RpcConfig {
    /// Defaults for one URL: on loopback (a local Anvil) 5 s a request, 4 attempts within 10 s; on a remote
    /// node 10 s a request, 6 attempts within 60 s.
    pub fn for_url(url: &str) -> RpcConfig {
        if is_loopback(url) {
            RpcConfig {
                urls: vec![url.to_string()],
                timeout: LOOPBACK_TIMEOUT,
                max_attempts: 4,
                max_elapsed: Duration::from_secs(10),
                base_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
            }
        } else {
            RpcConfig {
                urls: vec![url.to_string()],
                timeout: REMOTE_TIMEOUT,
                max_attempts: 6,
                max_elapsed: Duration::from_secs(60),
                base_backoff: Duration::from_millis(250),
                max_backoff: Duration::from_secs(10),
            }
        }
    }

    /// The defaults for `url`, with the profile's timeout and fallback URLs (a fallback equal to `url` is
    /// skipped).
    pub fn from_profile(url: &str, profile: &crate::Profile) -> RpcConfig {
        let mut c = RpcConfig::for_url(url);
        if let Some(ms) = profile.rpc_timeout_ms {
            c.timeout = Duration::from_millis(ms.max(1));
        }
        for f in &profile.rpc_fallback_urls {
            if f != url && !c.urls.contains(f) {
                c.urls.push(f.clone());
            }
        }
        c
    }

    /// The primary URL.
    pub fn primary(&self) -> &str {
        self.urls.first().map(String::as_str).unwrap_or_default()
    }
}

/// Whether a URL names this machine.
pub fn is_loopback(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    rest.starts_with("127.") || rest.starts_with("localhost") || rest.starts_with("[::1]")
}

/// What one look at the node found ([`RpcService::probe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The node answered with its latest block.
    Block(u64),
    /// The node is there but rate limiting.
    RateLimited,
    /// No URL could be reached: offline.
    Unreachable,
    /// The node answered, with an error.
    Failing(String),
}

/// Why the layer gave up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The node kept answering 429 (or "rate limit" / a `Retry-After`): it is there, but busy.
    RateLimited,
    /// No URL could be reached: connection refused, DNS, a connection not made in time, a gateway with no node
    /// behind it (502/503/504 without `Retry-After`).
    Unreachable,
    /// A node took the connection but did not answer in time (it hangs): reachable, so not "offline".
    Slow,
    /// The node kept answering with another server error (500 and the like).
    Server,
}

/// The layer gave up on a request after its retries and fallbacks (carried inside alloy's transport error;
/// [`crate::ChainError`] turns it into `RateLimited`, `Unreachable` or `Node`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail} ({attempts} attempts in {elapsed_ms} ms, last at {url})")]
pub struct RpcFailure {
    /// What kind of failure the last attempt was.
    pub class: FailureClass,
    /// Attempts made, all URLs together.
    pub attempts: u32,
    /// The last `Retry-After` a node sent, if any.
    pub retry_after: Option<Duration>,
    /// The URL of the last attempt.
    pub url: String,
    /// What the last attempt came to.
    pub detail: String,
    /// Time spent on the request.
    pub elapsed_ms: u64,
}

impl RpcFailure {
    /// The layer's failure inside an alloy transport error, if that is what it is.
    pub fn find(err: &TransportError) -> Option<&RpcFailure> {
        err.as_transport_err()
            .and_then(|k| k.as_custom())
            .and_then(|c| c.downcast_ref::<RpcFailure>())
    }
}

/// The JSON-RPC transport: cheap to clone, all clones share the client and the choice of URL.
#[derive(Debug, Clone)]
pub struct RpcService {
    config: Arc<RpcConfig>,
    client: reqwest::Client,
    /// The URL in use and since when (it moves to a fallback when the one in use fails).
    active: Arc<Mutex<(usize, Instant)>>,
}

/// One failed attempt that may be retried.
#[derive(Debug)]
struct Retryable {
    class: FailureClass,
    retry_after: Option<Duration>,
    detail: String,
}

enum Attempt {
    Done(Result<ResponsePacket, TransportError>),
    Retry(Retryable),
}

impl RpcService {
    /// A transport for `config` (fails on a URL that does not parse).
    pub fn new(config: RpcConfig) -> Result<RpcService, String> {
        if config.urls.is_empty() {
            return Err("no RPC URL".into());
        }
        for u in &config.urls {
            reqwest::Url::parse(u).map_err(|e| format!("not a URL: {u} ({e})"))?;
        }
        let client = reqwest::Client::builder()
            // Shorter than the request's timeout, so a host that cannot be reached at all (packets dropped) is
            // told apart from a node that took the connection and hangs.
            .connect_timeout(connect_timeout(config.timeout))
            .timeout(config.timeout)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(RpcService {
            config: Arc::new(RpcConfig {
                max_attempts: config.max_attempts.max(1),
                ..config
            }),
            client,
            active: Arc::new(Mutex::new((0, Instant::now()))),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RpcConfig {
        &self.config
    }

    /// The URL requests go to now (the primary, or a fallback after the primary failed).
    pub fn active_url(&self) -> &str {
        &self.config.urls[self.active_index()]
    }

    fn active_index(&self) -> usize {
        let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if a.0 != 0 && a.1.elapsed() >= PRIMARY_RETRY_AFTER {
            tracing::info!(url = %self.config.urls[0], "trying the primary RPC URL again");
            *a = (0, Instant::now());
        }
        a.0
    }

    fn set_active(&self, idx: usize) {
        let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if a.0 != idx {
            tracing::warn!(from = %self.config.urls[a.0], to = %self.config.urls[idx], "switching RPC URL");
            *a = (idx, Instant::now());
        }
    }

    /// The backoff before retry number `retry` (1 for the first): `base · 2^(retry-1)` capped at `max_backoff`,
    /// of which the upper half is random ("equal jitter"), so kiosks rate limited together do not come back
    /// together.
    fn backoff(&self, retry: u32) -> Duration {
        let c = &self.config;
        let exp = c
            .base_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(c.max_backoff);
        let half = exp / 2;
        let jitter_ms = (half.as_millis() as u64).max(1);
        half + Duration::from_millis(OsRng.next_u64() % jitter_ms)
    }

    /// One quick look at the node, for a status line: `eth_blockNumber` once at each URL, from the one in use,
    /// without retries or backoff (a status polled every second must not queue up retries).
    pub async fn probe(&self) -> Probe {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#;
        let n = self.config.urls.len();
        let first = self.active_index();
        let mut seen = Vec::new();
        for k in 0..n {
            let idx = (first + k) % n;
            match self.attempt(&self.config.urls[idx], body).await {
                Attempt::Done(Ok(packet)) => {
                    let block = packet.as_single().and_then(|r| match &r.payload {
                        ResponsePayload::Success(v) => {
                            serde_json::from_str::<alloy::primitives::U64>(v.get())
                                .ok()
                                .map(|b| b.to::<u64>())
                        }
                        ResponsePayload::Failure(_) => None,
                    });
                    return match block {
                        Some(b) => {
                            self.set_active(idx);
                            Probe::Block(b)
                        }
                        None => Probe::Failing(format!("{:?}", packet.as_error())),
                    };
                }
                Attempt::Done(Err(e)) => return Probe::Failing(e.to_string()),
                Attempt::Retry(f) => seen.push(f.class),
            }
        }
        if seen.contains(&FailureClass::RateLimited) {
            Probe::RateLimited
        } else if seen.contains(&FailureClass::Server) {
            Probe::Failing("server errors".into())
        } else if seen.contains(&FailureClass::Slow) {
            Probe::Failing("no answer in time".into())
        } else {
            Probe::Unreachable
        }
    }

    async fn request(self, req: RequestPacket) -> Result<ResponsePacket, TransportError> {
        let body = serde_json::to_vec(&req).map_err(TransportError::ser_err)?;
        let method = match &req {
            RequestPacket::Single(r) => r.method().to_string(),
            RequestPacket::Batch(_) => "batch".to_string(),
        };
        let c = self.config.clone();
        let n = c.urls.len();
        let start = Instant::now();
        let first = self.active_index();
        let mut idx = first;
        let mut tried = vec![false; n];
        let mut strikes = 0u32;
        let mut attempts = 0u32;
        let mut last_retry_after = None;
        // The last failure of a URL that was there (rate limited, slow, a server error): giving up after it is
        // not "unreachable", even if a later attempt could not connect.
        let mut reachable: Option<FailureClass> = None;
        loop {
            attempts += 1;
            tried[idx] = true;
            let fail = match self.attempt(&c.urls[idx], &body).await {
                Attempt::Done(Ok(packet)) => {
                    self.set_active(idx);
                    if attempts > 1 {
                        return Ok(self.retried_broadcast(&req, packet, &c.urls[idx]).await);
                    }
                    return Ok(packet);
                }
                Attempt::Done(Err(e)) => return Err(e),
                Attempt::Retry(f) => f,
            };
            if fail.retry_after.is_some() {
                last_retry_after = fail.retry_after;
            }
            if fail.class != FailureClass::Unreachable {
                reachable = Some(fail.class);
            }
            tracing::debug!(%method, url = %c.urls[idx], attempts, detail = %fail.detail, "RPC attempt failed");
            strikes += 1;
            // Move on at once from a URL that cannot be reached, after two failures from one that answers badly.
            let switch = n > 1 && (fail.class == FailureClass::Unreachable || strikes >= 2);
            let delay = if switch {
                idx = (idx + 1) % n;
                strikes = 0;
                if tried[idx] {
                    self.backoff(attempts)
                } else {
                    Duration::ZERO
                }
            } else {
                match fail.retry_after {
                    // At least what the node asked for, plus a little jitter.
                    Some(ra) => ra + Duration::from_millis(OsRng.next_u64() % 100),
                    None => self.backoff(attempts),
                }
            };
            if attempts >= c.max_attempts || start.elapsed() + delay > c.max_elapsed {
                let url = c.urls[if switch { (idx + n - 1) % n } else { idx }].clone();
                tracing::warn!(%method, %url, attempts, class = ?fail.class, "RPC request given up");
                return Err(TransportErrorKind::custom(RpcFailure {
                    class: reachable.unwrap_or(fail.class),
                    attempts,
                    retry_after: last_retry_after,
                    url,
                    detail: fail.detail,
                    elapsed_ms: start.elapsed().as_millis() as u64,
                }));
            }
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, url: &str, body: &[u8]) -> Attempt {
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(unreachable(&e)),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let bytes = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return Attempt::Retry(unreachable(&e)),
        };
        let packet: Option<ResponsePacket> = serde_json::from_slice(&bytes).ok();
        let text = || String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
        if status == 429 {
            return Attempt::Retry(Retryable {
                class: FailureClass::RateLimited,
                retry_after,
                detail: format!("HTTP 429 Too Many Requests: {}", text()),
            });
        }
        if (200..300).contains(&status) {
            return match packet {
                Some(p) => match p.as_error().filter(|e| is_rate_limit_payload(e)) {
                    Some(e) => Attempt::Retry(Retryable {
                        class: FailureClass::RateLimited,
                        retry_after,
                        detail: format!("rate limited: {} ({})", e.message, e.code),
                    }),
                    None => Attempt::Done(Ok(p)),
                },
                None => Attempt::Done(Err(TransportError::deser_err(
                    serde_json::from_slice::<ResponsePacket>(&bytes).unwrap_err(),
                    text(),
                ))),
            };
        }
        if status >= 500 || status == 408 {
            // A node's own error answered with a 5xx (some gateways do) is an answer: a revert is never retried.
            if let Some(p) = &packet {
                if p.as_error().is_some_and(is_answer) {
                    return Attempt::Done(Ok(packet.expect("checked")));
                }
            }
            let class = if retry_after.is_some() || status == 529 {
                FailureClass::RateLimited
            } else if matches!(status, 502..=504) || status == 408 {
                FailureClass::Unreachable
            } else {
                FailureClass::Server
            };
            return Attempt::Retry(Retryable {
                class,
                retry_after,
                detail: format!("HTTP {status}: {}", text()),
            });
        }
        // Any other status: a JSON-RPC answer if there is one, else an HTTP error (not retried).
        match packet {
            Some(p) => Attempt::Done(Ok(p)),
            None => Attempt::Done(Err(TransportErrorKind::http_error(status, text()))),
        }
    }
}

/// How long making the connection may take: half the request's time, at most 3 s.
fn connect_timeout(request: Duration) -> Duration {
    (request / 2)
        .min(Duration::from_secs(3))
        .max(Duration::from_millis(1))
}

fn unreachable(e: &reqwest::Error) -> Retryable {
    // Connected, then no answer in time: the node is there (hanging, overloaded), not unreachable.
    let slow = e.is_timeout() && !e.is_connect();
    let what = if slow {
        "no answer in time (timed out)"
    } else if e.is_timeout() {
        "timed out connecting"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection failed"
    };
    // reqwest's own text hides the cause (refused, DNS…) in its source chain.
    let mut detail = format!("{what}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        detail.push_str(&format!(": {s}"));
        src = s.source();
    }
    Retryable {
        class: if slow {
            FailureClass::Slow
        } else {
            FailureClass::Unreachable
        },
        retry_after: None,
        detail,
    }
}

/// A JSON-RPC error that means "slow down" (HTTP-200 rate limits of some providers).
fn is_rate_limit_payload(e: &ErrorPayload) -> bool {
    let m = e.message.to_lowercase();
    e.code == 429
        || m.contains("rate limit")
        || m.contains("too many requests")
        || (e.code == -32005 && m.contains("limit"))
}

/// A JSON-RPC error that is the node's answer to the request (not an overloaded server): never retried.
fn is_answer(e: &ErrorPayload) -> bool {
    let m = e.message.to_lowercase();
    e.code == 3
        || e.data.is_some()
        || m.contains("revert")
        || m.contains("insufficient funds")
        || m.contains("underpriced")
        || m.contains("nonce")
        || m.contains("fee")
}

/// On a retried `eth_sendRawTransaction`, "already known" means the first attempt reached the node: answer
/// with the transaction's hash, as the node would have then.
impl RpcService {
    /// The answer to a retried `eth_sendRawTransaction` when the first copy did reach the node: "already known"
    /// (still in its pool), or "nonce too low" when the node already mined it — told apart from another
    /// transaction having taken the nonce by asking for ours by hash. Either way the caller gets the hash, as the
    /// first answer would have been. Any other answer passes unchanged.
    async fn retried_broadcast(
        &self,
        req: &RequestPacket,
        packet: ResponsePacket,
        url: &str,
    ) -> ResponsePacket {
        let (Some(r), Some(err)) = (req.as_single(), packet.as_error()) else {
            return packet;
        };
        let m = err.message.to_lowercase();
        let known = m.contains("already known") || m.contains("already imported");
        let nonce_used = m.contains("nonce too low");
        if r.method() != "eth_sendRawTransaction" || !(known || nonce_used) {
            return packet;
        }
        let Some(raw) = r
            .params()
            .and_then(|p| serde_json::from_str::<(Bytes,)>(p.get()).ok())
        else {
            return packet;
        };
        let hash = keccak256(&raw.0);
        if nonce_used {
            let body = serde_json::json!({
                "jsonrpc": "2.0", "id": 0, "method": "eth_getTransactionByHash", "params": [hash]
            });
            let ours = match self.attempt(url, body.to_string().as_bytes()).await {
                Attempt::Done(Ok(ResponsePacket::Single(Response {
                    payload: ResponsePayload::Success(v),
                    ..
                }))) => v.get() != "null",
                _ => false,
            };
            if !ours {
                return packet;
            }
            tracing::info!(%hash, "a retried broadcast found its nonce used: by this very transaction");
        } else {
            tracing::info!(%hash, "a retried broadcast was already known: the first one arrived");
        }
        let Ok(value) = serde_json::value::RawValue::from_string(format!("\"{hash}\"")) else {
            return packet;
        };
        ResponsePacket::Single(Response {
            id: r.id().clone(),
            payload: ResponsePayload::Success(value),
        })
    }
}

impl tower_service::Service<RequestPacket> for RpcService {
    type Response = ResponsePacket;
    type Error = TransportError;
    type Future = TransportFut<'static>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: RequestPacket) -> Self::Future {
        Box::pin(self.clone().request(req))
    }
}

#[cfg(test)]
mod tests {
    //! The layer against a tiny HTTP server of the test's own, answering from a script.

    use std::sync::atomic::{AtomicUsize, Ordering};

    use alloy::providers::{Provider, ProviderBuilder, RootProvider};
    use alloy::rpc::client::ClientBuilder;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::ChainError;

    /// One scripted answer.
    #[derive(Clone)]
    enum Reply {
        /// HTTP status, extra headers, body (`ID` is replaced by the request's id).
        Http(u16, &'static str, &'static str),
        /// Read the request, then answer nothing for a long time.
        Hang,
    }

    const OK: Reply = Reply::Http(200, "", r#"{"jsonrpc":"2.0","id":ID,"result":"0x2a"}"#);

    /// Serves `script` in order (the last reply repeats); counts the requests.
    struct Server {
        url: String,
        hits: Arc<AtomicUsize>,
    }

    async fn serve(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (counter, script) = (counter.clone(), script.clone());
                tokio::spawn(async move {
                    let _ = answer(sock, &counter, &script).await;
                });
            }
        });
        Server { url, hits }
    }

    /// Answers the requests of one connection (reqwest keeps connections alive).
    async fn answer(
        mut sock: TcpStream,
        counter: &AtomicUsize,
        script: &[Reply],
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        loop {
            // Headers, then a body of Content-Length bytes.
            let head_end = loop {
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
                let mut chunk = [0u8; 4096];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().unwrap())
                .unwrap_or(0);
            while buf.len() < head_end + len {
                let mut chunk = [0u8; 4096];
                let n = sock.read(&mut chunk).await?;
                if n == 0 {
                    return Ok(());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body: serde_json::Value =
                serde_json::from_slice(&buf[head_end..head_end + len]).unwrap();
            buf.drain(..head_end + len);
            let n = counter.fetch_add(1, Ordering::SeqCst);
            match script[n.min(script.len() - 1)].clone() {
                Reply::Hang => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return Ok(());
                }
                Reply::Http(status, headers, text) => {
                    let text = text.replace("ID", &body["id"].to_string());
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    sock.write_all(resp.as_bytes()).await?;
                }
            }
        }
    }

    fn config(urls: Vec<String>) -> RpcConfig {
        RpcConfig {
            urls,
            timeout: Duration::from_millis(300),
            max_attempts: 4,
            max_elapsed: Duration::from_secs(10),
            base_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(200),
        }
    }

    fn provider(config: RpcConfig) -> (RootProvider, RpcService) {
        let service = RpcService::new(config).unwrap();
        let client = ClientBuilder::default().transport(service.clone(), true);
        let p = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(client);
        (p, service)
    }

    /// A loopback URL nothing listens on.
    async fn refused_url() -> String {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        drop(l);
        url
    }

    #[tokio::test]
    async fn a_429_waits_the_retry_after_then_succeeds() {
        let s = serve(vec![
            Reply::Http(429, "retry-after: 1\r\n", "too many requests"),
            OK,
        ])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let t = Instant::now();
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_429_with_a_json_rpc_body_keeps_its_retry_after() {
        let s = serve(vec![
            Reply::Http(
                429,
                "retry-after: 1\r\n",
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32005,"message":"rate limit exceeded"}}"#,
            ),
            OK,
        ])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let t = Instant::now();
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
        assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_503_is_retried_with_backoff() {
        let s = serve(vec![
            Reply::Http(503, "", "upstream unavailable"),
            Reply::Http(502, "", "bad gateway"),
            OK,
        ])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let t = Instant::now();
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert_eq!(s.hits.load(Ordering::SeqCst), 3);
        // Backoffs of at least 10 ms then 20 ms (the lower halves of 20 and 40 ms).
        assert!(
            t.elapsed() >= Duration::from_millis(30),
            "{:?}",
            t.elapsed()
        );
    }

    #[tokio::test]
    async fn a_rate_limit_that_lasts_is_rate_limited_not_offline() {
        let s = serve(vec![Reply::Http(429, "retry-after: 0\r\n", "slow down")]).await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let e = ChainError::node(&s.url, p.get_block_number().await.unwrap_err());
        assert_eq!(e.kind(), "rate-limited", "{e}");
        assert!(!e.is_unreachable());
        assert!(e.is_transient());
        assert!(
            matches!(
                e,
                ChainError::RateLimited {
                    attempts: 4,
                    retry_after_secs: Some(0),
                    ..
                }
            ),
            "{e:?}"
        );
        assert_eq!(s.hits.load(Ordering::SeqCst), 4);
        // Rate limits in a 200 answer (some providers) are retried the same way.
        let s = serve(vec![Reply::Http(
            200,
            "",
            r#"{"jsonrpc":"2.0","id":ID,"error":{"code":429,"message":"Too Many Requests"}}"#,
        )])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let e = ChainError::node(&s.url, p.get_block_number().await.unwrap_err());
        assert_eq!(e.kind(), "rate-limited", "{e}");
        assert_eq!(s.hits.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn a_retry_after_past_the_time_budget_gives_up_at_once() {
        let s = serve(vec![Reply::Http(429, "retry-after: 60\r\n", "")]).await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let t = Instant::now();
        let e = ChainError::node(&s.url, p.get_block_number().await.unwrap_err());
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert!(
            matches!(
                e,
                ChainError::RateLimited {
                    attempts: 1,
                    retry_after_secs: Some(60),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("60 s"), "{e}");
    }

    #[tokio::test]
    async fn a_node_that_hangs_times_out_and_is_slow_not_offline() {
        let s = serve(vec![Reply::Hang]).await;
        let mut c = config(vec![s.url.clone()]);
        c.max_attempts = 2;
        let (p, _) = provider(c);
        let t = Instant::now();
        let e = ChainError::node(&s.url, p.get_block_number().await.unwrap_err());
        assert!(
            t.elapsed() >= Duration::from_millis(600),
            "{:?}",
            t.elapsed()
        );
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        // The node took the connection: it is there (hanging), so the write waits but no "offline" banner.
        assert_eq!(e.kind(), "node", "{e}");
        assert!(!e.is_unreachable());
        assert!(e.is_transient());
        assert!(e.to_string().contains("timed out"), "{e}");
        assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_hang_then_an_answer_succeeds() {
        let s = serve(vec![Reply::Hang, OK]).await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert_eq!(s.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_primary_falls_back_and_stays_there() {
        let primary = refused_url().await;
        let fallback = serve(vec![OK]).await;
        let (p, service) = provider(config(vec![primary.clone(), fallback.url.clone()]));
        assert_eq!(service.active_url(), primary);
        let t = Instant::now();
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert!(
            t.elapsed() < Duration::from_millis(250),
            "no wait before a first fallback"
        );
        assert_eq!(fallback.hits.load(Ordering::SeqCst), 1);
        assert_eq!(service.active_url(), fallback.url);
        // The next request goes to the fallback directly.
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert_eq!(fallback.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_primary_that_keeps_failing_falls_back() {
        let primary = serve(vec![Reply::Http(500, "", "internal error")]).await;
        let fallback = serve(vec![OK]).await;
        let (p, service) = provider(config(vec![primary.url.clone(), fallback.url.clone()]));
        assert_eq!(p.get_block_number().await.unwrap(), 42);
        assert_eq!(primary.hits.load(Ordering::SeqCst), 2);
        assert_eq!(fallback.hits.load(Ordering::SeqCst), 1);
        assert_eq!(service.active_url(), fallback.url);
    }

    #[tokio::test]
    async fn nothing_reachable_is_unreachable() {
        let (a, b) = (refused_url().await, refused_url().await);
        let (p, _) = provider(config(vec![a.clone(), b.clone()]));
        let e = ChainError::node(&a, p.get_block_number().await.unwrap_err());
        assert_eq!(e.kind(), "unreachable", "{e}");
        assert!(e.to_string().contains("4 attempts"), "{e}");
    }

    /// A node's answers to a transaction are answers: classified, never retried.
    #[tokio::test]
    async fn node_error_texts_are_classified_and_not_retried() {
        let cases = [
            (
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"insufficient funds for gas * price + value: address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 have 0 want 2100000000000000"}}"#,
                "out-of-funds",
            ),
            (
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32003,"message":"Insufficient funds for gas * price + value"}}"#,
                "out-of-funds",
            ),
            (
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"replacement transaction underpriced"}}"#,
                "underpriced",
            ),
            (
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"max fee per gas less than block base fee: address 0x70997970C51812dc3A010C7d01b50e0d17dc79C8, maxFeePerGas: 1000000000, baseFee: 25000000000"}}"#,
                "underpriced",
            ),
            (
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"transaction underpriced"}}"#,
                "underpriced",
            ),
            (
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"nonce too high"}}"#,
                "node",
            ),
        ];
        for (body, kind) in cases {
            let s = serve(vec![Reply::Http(200, "", body)]).await;
            let (p, _) = provider(config(vec![s.url.clone()]));
            let e = ChainError::node(
                &s.url,
                p.send_raw_transaction(&[1, 2, 3]).await.unwrap_err(),
            );
            assert_eq!(e.kind(), kind, "{body}: {e}");
            assert!(!e.is_unreachable());
            assert_eq!(s.hits.load(Ordering::SeqCst), 1, "{body}");
        }
    }

    #[tokio::test]
    async fn a_revert_is_never_retried_even_behind_a_5xx() {
        let data = alloy::hex::encode(alloy::sol_types::SolError::abi_encode(
            &alloy::sol_types::Revert::from("bad"),
        ));
        let revert: &'static str = Box::leak(
            format!(
                r#"{{"jsonrpc":"2.0","id":ID,"error":{{"code":3,"message":"execution reverted","data":"0x{data}"}}}}"#
            )
            .into_boxed_str(),
        );
        for status in [200, 500] {
            let s = serve(vec![Reply::Http(status, "", revert)]).await;
            let (p, _) = provider(config(vec![s.url.clone()]));
            let e = ChainError::node(&s.url, p.get_block_number().await.unwrap_err());
            assert_eq!(e.kind(), "reverted", "{e}");
            assert_eq!(e.revert().unwrap().detail, "bad");
            assert_eq!(s.hits.load(Ordering::SeqCst), 1);
        }
    }

    #[tokio::test]
    async fn a_resent_transaction_already_known_is_the_first_ones_hash() {
        let s = serve(vec![
            Reply::Hang,
            Reply::Http(
                200,
                "",
                r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"already known"}}"#,
            ),
        ])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let raw = [0x02u8, 0xaa, 0xbb];
        let pending = p.send_raw_transaction(&raw).await.unwrap();
        assert_eq!(*pending.tx_hash(), keccak256(raw));
        assert_eq!(s.hits.load(Ordering::SeqCst), 2);
        // Not on a first attempt: then "already known" is the node's answer, for the caller to judge.
        let s = serve(vec![Reply::Http(
            200,
            "",
            r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"already known"}}"#,
        )])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        assert!(p.send_raw_transaction(&raw).await.is_err());
    }

    #[tokio::test]
    async fn a_retried_transaction_mined_meanwhile_is_the_first_ones_hash() {
        let too_low =
            r#"{"jsonrpc":"2.0","id":ID,"error":{"code":-32000,"message":"nonce too low"}}"#;
        let raw = [0x02u8, 0xcc, 0xdd];
        // The first copy hung but reached the node and was mined; the retry hears "nonce too low"; the node has
        // the transaction by its hash: it is ours, the broadcast succeeded.
        let s = serve(vec![
            Reply::Hang,
            Reply::Http(200, "", too_low),
            Reply::Http(
                200,
                "",
                r#"{"jsonrpc":"2.0","id":ID,"result":{"hash":"0x01"}}"#,
            ),
        ])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let pending = p.send_raw_transaction(&raw).await.unwrap();
        assert_eq!(*pending.tx_hash(), keccak256(raw));
        assert_eq!(s.hits.load(Ordering::SeqCst), 3);
        // Another transaction took the nonce (the node does not know ours): the refusal stands.
        let s = serve(vec![
            Reply::Hang,
            Reply::Http(200, "", too_low),
            Reply::Http(200, "", r#"{"jsonrpc":"2.0","id":ID,"result":null}"#),
        ])
        .await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        let e = p.send_raw_transaction(&raw).await.unwrap_err();
        assert!(e.to_string().contains("nonce too low"), "{e}");
        // On a first attempt "nonce too low" is the node's answer: nothing else is asked.
        let s = serve(vec![Reply::Http(200, "", too_low)]).await;
        let (p, _) = provider(config(vec![s.url.clone()]));
        assert!(p.send_raw_transaction(&raw).await.is_err());
        assert_eq!(s.hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_probe_tells_offline_from_busy() {
        let (dead, busy) = (
            refused_url().await,
            serve(vec![Reply::Http(429, "retry-after: 5\r\n", "")]).await,
        );
        let s = RpcService::new(config(vec![dead.clone()])).unwrap();
        assert_eq!(s.probe().await, Probe::Unreachable);
        let s = RpcService::new(config(vec![busy.url.clone()])).unwrap();
        let t = Instant::now();
        assert_eq!(s.probe().await, Probe::RateLimited);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "a probe does not wait"
        );
        assert_eq!(busy.hits.load(Ordering::SeqCst), 1);
        let up = serve(vec![OK]).await;
        let s = RpcService::new(config(vec![dead, up.url.clone()])).unwrap();
        assert_eq!(s.probe().await, Probe::Block(42));
        assert_eq!(s.active_url(), up.url);
        // A node that takes the connection and hangs is failing, not offline.
        let hung = serve(vec![Reply::Hang]).await;
        let s = RpcService::new(config(vec![hung.url.clone()])).unwrap();
        assert!(
            matches!(s.probe().await, Probe::Failing(ref m) if m.contains("in time")),
            "a hang is not offline"
        );
    }

    #[test]
    fn the_connection_gets_part_of_the_request_time() {
        assert_eq!(
            connect_timeout(Duration::from_secs(10)),
            Duration::from_secs(3)
        );
        assert_eq!(
            connect_timeout(Duration::from_millis(300)),
            Duration::from_millis(150)
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let s = RpcService::new(config(vec!["http://127.0.0.1:1".into()])).unwrap();
        for retry in 1..10 {
            let exp = (20u64 << (retry - 1)).min(200);
            let d = s.backoff(retry).as_millis() as u64;
            assert!(d >= exp / 2 && d < exp, "retry {retry}: {d} ms");
        }
    }

    #[test]
    fn defaults_and_profiles() {
        let local = RpcConfig::for_url("http://127.0.0.1:8545");
        assert_eq!(local.timeout, LOOPBACK_TIMEOUT);
        let remote = RpcConfig::for_url("https://forno.celo.org");
        assert_eq!(remote.timeout, REMOTE_TIMEOUT);
        let mut p = crate::Profile::embedded("celo").unwrap();
        p.rpc_fallback_urls = vec![
            "https://forno.celo.org".into(),
            "https://rpc.example".into(),
        ];
        p.rpc_timeout_ms = Some(1500);
        let c = RpcConfig::from_profile("https://forno.celo.org", &p);
        assert_eq!(
            c.urls,
            vec!["https://forno.celo.org", "https://rpc.example"]
        );
        assert_eq!(c.timeout, Duration::from_millis(1500));
        assert!(RpcService::new(RpcConfig::for_url("not a url")).is_err());
    }
}
