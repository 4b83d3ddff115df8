//! Follows the contracts' events from a stored cursor into the kiosk's database, so the screens answer from
//! the cache: a patient's record headers, open prescriptions, the insurer's claim queue, consents.
//!
//! **Which blocks.** The desks' index follows the latest block on every network ([`IndexerConfig::for_profile`]:
//! on Celo `safe` lags by minutes, and a desk must see what the previous desk wrote a second ago); a reorg is
//! detected by block hash and rewinds the store. [`Follow::Safe`] (the type's default, for a reader that prefers to
//! wait) follows the node's `safe` block; a node that does not know the tag is followed `confirmations` blocks
//! behind its latest block. Every sync also records the `finalized` block the node reports (same fallback), so
//! callers can tell whether an indexed event or a confirmed write is final: [`Indexer::finalized`],
//! [`Indexer::is_final`], [`Store::finalized_block`].
//!
//! **`eth_getLogs` limits.** Logs are asked for in windows that start at `max_window` blocks. When the node
//! refuses a window as too large (every public provider has its own cap and wording: see [`range_refusal`]), the
//! window shrinks — to the size the error suggests when it names one, else by half — down to one block, and the
//! same blocks are asked again. After [`GROW_AFTER`] windows in a row succeed it doubles again up to
//! `max_window`, but not to a size refused in the last [`RETRY_REFUSED_AFTER`] windows, so a provider's fixed
//! cap costs one refused request now and then, not one per window. The size learnt is kept between syncs.
//!
//! **Block hashes.** Before asking for a window's logs the indexer reads the header of the window's last block;
//! every log must carry a block hash, logs of one block must agree on it, and it must be the hash of the header
//! of that number (read once per block that carries logs; the last block's is already known). A disagreement
//! means the chain is reorganising under us: the window is asked again a few times, and if it does not settle
//! the sync stops there (the next one carries on). The last block's hash becomes the cursor's, so a reorg that
//! happens after the window was read shows at the next sync.
//!
//! **Reorgs.** The hash of every window's last block and of every block with logs is kept; when the chain's hash
//! at the cursor differs, the indexer walks back over the kept hashes to the last one the chain still has and
//! rewinds to it. Kept hashes below the finalized block are pruned (the one at or just below it stays).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use alloy::transports::{RpcError, TransportErrorKind};
use carekiosk_chain::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess,
};
use carekiosk_chain::{Chain, ChainError, Deployment};
use carekiosk_store::{self as store, Amount, Cursor, EventRef, Store};

use crate::KioskError;

/// Windows in a row that must succeed before the window doubles.
pub const GROW_AFTER: u32 = 4;
/// Successful windows after which a window size the node refused is tried again.
pub const RETRY_REFUSED_AFTER: u32 = 64;
/// How often a window whose logs disagree with the chain's headers is asked again in one sync.
const HASH_RETRIES: u32 = 3;

/// Which block the index follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Follow {
    /// The node's `safe` block: on an OP-stack chain such as Celo, an L2 block whose data is on L1. What a
    /// kiosk shows from the index then survives an unsafe-head reorg.
    #[default]
    Safe,
    /// The latest block (the local development chain: instant blocks, a kiosk's own writes visible at once).
    Latest,
}

/// How the indexer reads the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexerConfig {
    /// Which block the index follows.
    pub follow: Follow,
    /// Blocks behind the latest that count as safe and as finalized when the node does not know the `safe` or
    /// `finalized` tags (old nodes).
    pub confirmations: u64,
    /// The first and largest `eth_getLogs` window, in blocks (at least 1).
    pub max_window: u64,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            follow: Follow::Safe,
            confirmations: 12,
            max_window: 2_000,
        }
    }
}

impl IndexerConfig {
    /// The configuration the kiosks use, on every network: the index follows the **latest** block, so a desk
    /// sees what the previous desk wrote a second ago (a patient registered at reception is checked in at once;
    /// on Celo `safe` lags by minutes and the check-in showed no name and no record). What that costs is handled:
    /// a reorg is detected by block hash and rewinds the store, and the outbox sends reorged-away writes again;
    /// the `finalized` block is recorded so callers can tell final from merely included. `Follow::Safe` remains
    /// for a reader that prefers to wait (an auditor's export, say).
    pub fn for_profile(_profile: &str) -> Self {
        Self {
            follow: Follow::Latest,
            ..Self::default()
        }
    }
}

/// What one [`Indexer::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Events written.
    pub events: usize,
    /// Last block indexed (the cursor after the sync).
    pub block: u64,
    /// Blocks rewound because of a reorg.
    pub rewound_to: Option<u64>,
    /// The block the index followed this time (`safe`, or the latest, see [`Follow`]).
    pub head: u64,
    /// The finalized block as far as the indexer knows after this sync.
    pub finalized: Option<u64>,
    /// Requests this sync made of the node (HTTP requests: a batch of headers is one).
    pub requests: u64,
    /// `eth_getLogs` windows the node refused as too large.
    pub range_errors: u64,
    /// Windows asked again because their logs disagreed with the chain's block hashes.
    pub hash_mismatches: u64,
    /// The sync stopped before the head: the node was behind the cursor, or the chain kept reorganising under
    /// the window. The next sync carries on.
    pub stopped_early: bool,
    /// The `eth_getLogs` window after this sync, in blocks.
    pub window: u64,
}

/// The event follower. Clones share the learnt window size and the request counter.
#[derive(Debug, Clone)]
pub struct Indexer {
    chain: Chain,
    store: Store,
    d: Deployment,
    config: IndexerConfig,
    shared: Arc<Shared>,
}

/// Headers asked in one JSON-RPC batch at most (public RPCs cap batches; 50 is within every cap we know).
const HEADER_BATCH: usize = 50;

#[derive(Debug)]
struct Shared {
    window: Mutex<Window>,
    requests: AtomicU64,
    /// One sync at a time. Holds the number of the last sync that ended well and its report: a caller that finds
    /// one begun after it arrived takes that report instead of asking the node again.
    gate: tokio::sync::Mutex<Option<(u64, SyncReport)>>,
    /// Syncs begun so far.
    begun: AtomicU64,
    /// Kept block hashes below this block were dropped (see [`Indexer::prune_final`]).
    pruned_below: AtomicU64,
}

/// A block's hash and time, as the node's header gave them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    hash: B256,
    time: u64,
}

/// The block to index up to and the finalized block, this sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    target: u64,
    finalized: Option<u64>,
}

enum Fork {
    /// The cursor's block is still on the chain.
    Same,
    /// The node does not have the cursor's block (behind us): nothing to do this time.
    NodeBehind,
    /// Rewind to this block, whose hash is this.
    Rewind(u64, B256),
}

/// The adaptive `eth_getLogs` window: halves (or takes the node's suggested size) on a range refusal, doubles
/// after [`GROW_AFTER`] successes up to the maximum, and stays below a refused size for
/// [`RETRY_REFUSED_AFTER`] successes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    size: u64,
    max: u64,
    /// The smallest size refused lately: growth stays below it.
    ceiling: Option<u64>,
    streak: u32,
    since_refusal: u32,
    refusals: u64,
}

impl Window {
    pub(crate) fn new(max: u64) -> Self {
        let max = max.max(1);
        Self {
            size: max,
            max,
            ceiling: None,
            streak: 0,
            since_refusal: 0,
            refusals: 0,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// A window of any size was answered.
    pub(crate) fn succeeded(&mut self) {
        self.streak = self.streak.saturating_add(1);
        self.since_refusal = self.since_refusal.saturating_add(1);
        if self.since_refusal >= RETRY_REFUSED_AFTER {
            self.ceiling = None;
        }
        if self.streak >= GROW_AFTER && self.size < self.max {
            let next = self.size.saturating_mul(2).min(self.max);
            if self.ceiling.is_none_or(|c| next < c) {
                self.size = next;
                self.streak = 0;
            }
        }
    }

    /// The node refused a request of `asked` blocks as too large, naming `hint` blocks as what works if it
    /// did. Returns `false` when there is nothing smaller to try (one block was refused).
    pub(crate) fn refused(&mut self, asked: u64, hint: Option<u64>) -> bool {
        self.refusals += 1;
        if asked <= 1 {
            return false;
        }
        let hint = hint.filter(|h| (1..asked).contains(h));
        let ceiling = hint.map_or(asked, |h| h + 1);
        self.ceiling = Some(self.ceiling.map_or(ceiling, |c| c.min(ceiling)));
        self.since_refusal = 0;
        self.streak = 0;
        self.size = hint.unwrap_or((asked / 2).max(1));
        true
    }
}

/// Why one window attempt failed.
pub(crate) enum Refusal<E> {
    /// The node refused the range as too large (with the size it suggests, if it said one).
    Range { hint: Option<u64>, error: E },
    /// Anything else: the sync fails with it.
    Other(E),
}

/// Asks `attempt(start, end)` for the window from `start` (never past `target`), shrinking it on range refusals
/// until one is answered. Returns the window's last block and the answer.
pub(crate) async fn fetch_window<T, E, F, Fut>(
    window: &mut Window,
    start: u64,
    target: u64,
    mut attempt: F,
) -> Result<(u64, T), E>
where
    F: FnMut(u64, u64) -> Fut,
    Fut: Future<Output = Result<T, Refusal<E>>>,
{
    loop {
        let asked = window.size().min(target - start + 1);
        let end = start + asked - 1;
        match attempt(start, end).await {
            Ok(t) => {
                window.succeeded();
                return Ok((end, t));
            }
            Err(Refusal::Range { hint, error }) => {
                if !window.refused(asked, hint) {
                    return Err(error);
                }
                tracing::debug!(
                    asked,
                    now = window.size(),
                    "eth_getLogs window refused as too large; shrinking it"
                );
            }
            Err(Refusal::Other(e)) => return Err(e),
        }
    }
}

/// Whether an `eth_getLogs` error text says the range (or its result) was too large, and the block count the
/// node suggests if it names one (`Some(None)`: a range refusal without a usable number; `None`: another error).
///
/// Wordings collected from providers and node software: Alchemy ("You can make eth_getLogs requests with up to a
/// 500 block range … this block range should work: [0x…, 0x…]", "Log response size exceeded"), Infura ("query
/// returned more than 10000 results", "query timeout exceeded", -32005 "limit exceeded", "range 1000000 exceeds
/// limit of 10000"), QuickNode ("eth_getLogs is limited to a 10,000 range"), geth and geth-based public RPCs
/// such as op-geth behind Forno or Ankr ("exceed maximum block range: 5000"), reth ("query exceeds max block
/// range 5000"), Erigon ("query block range exceeds server limit", "block range too large, max range: N"),
/// Frontier/Moonbeam ("block range is too wide (maximum 1024)"), Tenderly ("range N is bigger than range limit
/// 2000"), Scroll ("block range is bigger than maxBlockRange"), others ("block range too high", "block range is
/// larger than max block range"). Rate limits (-32005 is also Infura's rate-limit code) are not range refusals.
pub fn range_refusal(text: &str, asked: u64) -> Option<Option<u64>> {
    let low = text.to_ascii_lowercase();
    const RATE: [&str; 8] = [
        "rate limit",
        "rate-limit",
        "ratelimit",
        "too many requests",
        "request rate",
        "per second",
        "daily request",
        "compute units",
    ];
    if RATE.iter().any(|w| low.contains(w)) {
        return None;
    }
    // A malformed range (from > to) or one past the node's head: shrinking does not help.
    if low.contains("invalid block range") || low.contains("beyond current head") {
        return None;
    }
    const RANGE: [&str; 20] = [
        "block range",
        "blockrange",
        "range limit",
        "max range",
        "maximum range",
        "range too",
        "range is too",
        "range exceeds",
        "exceeds limit",
        "exceeds the limit",
        "limited to a",
        "too many results",
        "too many logs",
        "returned more than",
        "returns too many",
        "response size",
        "query timeout",
        "limit exceeded",
        "code -32005",
        "error code: -32005",
    ];
    if !RANGE.iter().any(|w| low.contains(w)) {
        return None;
    }
    Some(range_hint(&low, asked))
}

/// The block count a range refusal suggests for a request of `asked` blocks: Alchemy's and Infura's
/// `[0xFROM, 0xTO]`, else the largest number in the text below `asked` (the cap is usually the number nearest
/// to what was asked; negative numbers such as error codes do not count).
fn range_hint(low: &str, asked: u64) -> Option<u64> {
    if let (Some(open), Some(close)) = (low.find('['), low.find(']')) {
        if open < close {
            let nums: Vec<u64> = low[open + 1..close]
                .split(',')
                .filter_map(|p| u64::from_str_radix(p.trim().trim_start_matches("0x"), 16).ok())
                .collect();
            if let [from, to] = nums[..] {
                if to >= from {
                    return Some(to - from + 1);
                }
            }
        }
    }
    let bytes = low.as_bytes();
    // "10,000" → "10000".
    let text: String = low
        .char_indices()
        .filter(|&(i, c)| {
            !(c == ','
                && i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        })
        .map(|(_, c)| c)
        .collect();
    let mut best: Option<u64> = None;
    for token in text.split(|c: char| !c.is_ascii_alphanumeric() && c != '-') {
        if token.starts_with('-') || token.starts_with("0x") {
            continue;
        }
        let (digits, scale) = match token.strip_suffix('k') {
            Some(d) => (d, 1_000),
            None => (token, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = digits.parse::<u64>() {
            let n = n.saturating_mul(scale);
            if n > 0 && n < asked {
                best = Some(best.map_or(n, |b| b.max(n)));
            }
        }
    }
    best
}

/// The text of an RPC error that carries the node's words: the JSON-RPC error (code, message, data) or an HTTP
/// error's body.
fn error_text(e: &RpcError<TransportErrorKind>) -> String {
    match e {
        RpcError::ErrorResp(p) => format!(
            "code {} {} {}",
            p.code,
            p.message,
            p.data.as_ref().map(|d| d.get()).unwrap_or_default()
        ),
        RpcError::Transport(TransportErrorKind::HttpError(h)) => h.body.clone(),
        RpcError::Transport(TransportErrorKind::HttpErrorWithRetryAfter { error, .. }) => {
            error.body.clone()
        }
        other => other.to_string(),
    }
}

impl Indexer {
    /// An indexer of deployment `d` into `store`, configured for the deployment's profile
    /// ([`IndexerConfig::for_profile`]).
    pub fn new(chain: Chain, store: Store, d: Deployment) -> Self {
        let config = IndexerConfig::for_profile(&d.profile);
        Self::with_config(chain, store, d, config)
    }

    /// An indexer of deployment `d` into `store` with `config`.
    pub fn with_config(chain: Chain, store: Store, d: Deployment, config: IndexerConfig) -> Self {
        Self {
            chain,
            store,
            d,
            config,
            shared: Arc::new(Shared {
                window: Mutex::new(Window::new(config.max_window)),
                requests: AtomicU64::new(0),
                gate: tokio::sync::Mutex::new(None),
                begun: AtomicU64::new(0),
                pruned_below: AtomicU64::new(0),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> IndexerConfig {
        self.config
    }

    /// JSON-RPC requests this indexer (and its clones) made so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// The current `eth_getLogs` window, in blocks.
    pub fn window(&self) -> u64 {
        self.lock_window().size()
    }

    /// The chain's finalized block as the indexer last saw it (`None` before the first sync).
    pub fn finalized(&self) -> Result<Option<u64>, KioskError> {
        Ok(self.store.finalized_block()?)
    }

    /// Whether `block` (an indexed event's, a confirmed write's) is final: at or below the finalized block the
    /// indexer last saw. `false` until a sync has seen one.
    pub fn is_final(&self, block: u64) -> Result<bool, KioskError> {
        Ok(self.store.is_final(block)?)
    }

    fn lock_window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.shared
            .window
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn count(&self) {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn cursor_key(&self) -> [u8; 20] {
        self.d.contracts.patient_smart_card.into_array()
    }

    /// A node error, classified by the chain crate (rate limited, unreachable, …).
    fn node_error<E: std::fmt::Display + 'static>(&self, e: E) -> KioskError {
        ChainError::node(self.chain.url(), e).into()
    }

    /// The header of block `number`: its hash and time (`None` when the node does not have it).
    async fn header(&self, number: u64) -> Result<Option<Seen>, KioskError> {
        self.count();
        let b = self
            .chain
            .provider()
            .get_block_by_number(number.into())
            .await
            .map_err(|e| self.node_error(e))?;
        Ok(b.map(|b| Seen {
            hash: b.header.hash,
            time: b.header.timestamp,
        }))
    }

    /// The headers of blocks `numbers`, asked in JSON-RPC batches of up to [`HEADER_BATCH`] (one HTTP request
    /// each): with a desk's events in most blocks, a header a request would cost a rate-limited node a request
    /// per block.
    async fn headers(&self, numbers: &[u64]) -> Result<HashMap<u64, Option<Seen>>, KioskError> {
        let mut out = HashMap::new();
        if let [n] = numbers {
            out.insert(*n, self.header(*n).await?);
            return Ok(out);
        }
        for chunk in numbers.chunks(HEADER_BATCH) {
            self.count();
            let mut batch = alloy::rpc::client::BatchRequest::new(self.chain.provider().client());
            let mut answers = Vec::with_capacity(chunk.len());
            for &n in chunk {
                let w = batch
                    .add_call::<_, Option<alloy::rpc::types::Block>>(
                        "eth_getBlockByNumber",
                        &(BlockNumberOrTag::Number(n), false),
                    )
                    .map_err(|e| self.node_error(e))?;
                answers.push((n, w));
            }
            batch.send().await.map_err(|e| self.node_error(e))?;
            for (n, w) in answers {
                let b = w.await.map_err(|e| self.node_error(e))?;
                out.insert(
                    n,
                    b.map(|b| Seen {
                        hash: b.header.hash,
                        time: b.header.timestamp,
                    }),
                );
            }
        }
        Ok(out)
    }

    /// The number of the block the node calls `tag` (`safe`, `finalized`), or `None` when it does not know the
    /// tag (it answers with an error or nothing). An unreachable node is an error.
    async fn tagged(&self, tag: BlockNumberOrTag) -> Result<Option<u64>, KioskError> {
        self.count();
        match self.chain.provider().get_block_by_number(tag).await {
            Ok(b) => Ok(b.map(|b| b.header.number)),
            Err(RpcError::ErrorResp(e)) => {
                tracing::debug!(%tag, error = %e, "the node does not know the block tag; counting confirmations");
                Ok(None)
            }
            Err(e) => Err(self.node_error(e)),
        }
    }

    async fn latest(&self) -> Result<u64, KioskError> {
        self.count();
        Ok(self.chain.block_number().await?)
    }

    /// Where to index up to, and the finalized block, by the node's tags or, when it does not know them,
    /// `confirmations` below its latest block.
    async fn head(&self) -> Result<Head, KioskError> {
        let c = self.config;
        let depth = |latest: u64| latest.saturating_sub(c.confirmations);
        match c.follow {
            Follow::Safe => match self.tagged(BlockNumberOrTag::Safe).await? {
                Some(safe) => {
                    let finalized = match self.tagged(BlockNumberOrTag::Finalized).await? {
                        Some(f) => f,
                        None => depth(self.latest().await?),
                    };
                    Ok(Head {
                        target: safe,
                        finalized: Some(finalized),
                    })
                }
                None => {
                    let at = depth(self.latest().await?);
                    Ok(Head {
                        target: at,
                        finalized: Some(at),
                    })
                }
            },
            Follow::Latest => {
                let latest = self.latest().await?;
                let finalized = match self.tagged(BlockNumberOrTag::Finalized).await? {
                    Some(f) => f,
                    None => depth(latest),
                };
                Ok(Head {
                    target: latest,
                    finalized: Some(finalized),
                })
            }
        }
    }

    /// Drops the kept block hashes below the highest one at or below both the finalized block and `verified` (a
    /// block whose hash the chain just confirmed): up to there everything is final and was indexed from the chain
    /// that has it. Never above `verified`: the cursor's block may have been replaced by a reorg after it was
    /// indexed (an idle desk's index, left at the head, found behind the finalized block much later), and the fork
    /// search then needs the kept hashes below it — without them it started the index again from the deployment.
    fn prune_final(&self, verified: u64, finalized: Option<u64>) -> Result<(), KioskError> {
        let Some(f) = finalized else {
            return Ok(());
        };
        let chain_id = self.d.chain_id;
        if let Some((n, _)) = self
            .store
            .block_hash_at_or_below(chain_id, f.min(verified))?
        {
            if n > self.shared.pruned_below.load(Ordering::SeqCst) {
                self.store.prune_block_hashes(chain_id, n)?;
                self.shared.pruned_below.store(n, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    /// Whether the chain still has the cursor's block and, if not, the last kept block it still has. `head`: the
    /// node's block to follow; a node at or above the cursor without the cursor's block (a reorg it has not
    /// finished, a hole in its store) is searched below as after a reorg, not waited for: it may never fill it.
    async fn fork_point(&self, cur: &Cursor, floor: u64, head: u64) -> Result<Fork, KioskError> {
        let chain_id = self.d.chain_id;
        match self.header(cur.block).await? {
            None if head < cur.block => return Ok(Fork::NodeBehind),
            None => {
                tracing::warn!(
                    cursor = cur.block,
                    head,
                    "the node has blocks above the index's but not its block; looking below it"
                )
            }
            Some(h) if h.hash.0 == cur.block_hash => return Ok(Fork::Same),
            Some(_) => {}
        }
        let mut below = cur.block;
        while below > floor {
            let Some((n, ours)) = self.store.block_hash_at_or_below(chain_id, below - 1)? else {
                break;
            };
            if n < floor {
                break;
            }
            if let Some(h) = self.header(n).await? {
                if h.hash.0 == ours {
                    return Ok(Fork::Rewind(n, h.hash));
                }
            }
            below = n;
        }
        // No kept block is on the chain any more: index again from the start.
        let h = self.header(floor).await?.ok_or_else(|| {
            self.node_error(format!(
                "the node does not have block {floor}, where this deployment's index starts"
            ))
        })?;
        Ok(Fork::Rewind(floor, h.hash))
    }

    /// One window attempt: the header of its last block, then its logs (`None`: the node does not have the
    /// last block yet).
    async fn attempt(
        &self,
        start: u64,
        end: u64,
    ) -> Result<Option<(Seen, Vec<Log>)>, Refusal<KioskError>> {
        let Some(last) = self.header(end).await.map_err(Refusal::Other)? else {
            return Ok(None);
        };
        let filter = Filter::new()
            .address(vec![
                self.d.contracts.patient_smart_card,
                self.d.contracts.hospital_record,
                self.d.contracts.pharmacy_access,
                self.d.contracts.insurance_provider,
            ])
            .from_block(start)
            .to_block(end);
        self.count();
        match self.chain.provider().get_logs(&filter).await {
            Ok(logs) => Ok(Some((last, logs))),
            Err(e) => {
                let text = error_text(&e);
                let error = self.node_error(e);
                match range_refusal(&text, end - start + 1) {
                    Some(hint) => Err(Refusal::Range { hint, error }),
                    None => Err(Refusal::Other(error)),
                }
            }
        }
    }

    /// Checks every log's block hash: present, the same for all logs of a block, and the hash of the node's
    /// header at that number. Returns the headers of the blocks with logs (and the last block), or what
    /// disagreed.
    async fn check_hashes(
        &self,
        logs: &[Log],
        start: u64,
        end: u64,
        last: Seen,
    ) -> Result<Result<HashMap<u64, Seen>, String>, KioskError> {
        let mut claimed: BTreeMap<u64, B256> = BTreeMap::new();
        for log in logs {
            if log.removed {
                return Ok(Err("the node returned a removed log".into()));
            }
            let (Some(n), Some(h)) = (log.block_number, log.block_hash) else {
                return Ok(Err("a log without its block number or hash".into()));
            };
            if !(start..=end).contains(&n) {
                return Ok(Err(format!("a log of block {n}, outside {start}..={end}")));
            }
            match claimed.get(&n) {
                Some(other) if *other != h => {
                    return Ok(Err(format!("logs of block {n} disagree on its hash")));
                }
                Some(_) => {}
                None => {
                    claimed.insert(n, h);
                }
            }
        }
        let mut seen = HashMap::from([(end, last)]);
        let wanted: Vec<u64> = claimed.keys().copied().filter(|n| *n != end).collect();
        let headers = self.headers(&wanted).await?;
        for (n, h) in claimed {
            let header = if n == end {
                last
            } else {
                match headers.get(&n).copied().flatten() {
                    Some(s) => s,
                    None => {
                        return Ok(Err(format!(
                            "the node has logs of block {n} but not its header"
                        )))
                    }
                }
            };
            if header.hash != h {
                return Ok(Err(format!(
                    "logs of block {n} carry hash {h}, its header {}",
                    header.hash
                )));
            }
            seen.insert(n, header);
        }
        Ok(Ok(seen))
    }

    /// Indexes everything up to the followed block ([`Follow`]) and records the finalized block.
    ///
    /// Syncs of one kiosk (its clones) run one at a time, and concurrent callers share them: a caller that arrives
    /// while a sync runs waits for it, then runs one of its own unless another caller's sync began after it
    /// arrived (that one saw the chain as new as this caller would, and its report is returned, with `requests`
    /// 0). Sixteen desks' steps asking at once cost the node two syncs, not sixteen.
    pub async fn sync(&self) -> Result<SyncReport, KioskError> {
        let arrived = self.shared.begun.load(Ordering::SeqCst);
        let mut last = self.shared.gate.lock().await;
        if let Some((seq, report)) = last.as_ref() {
            if *seq > arrived {
                return Ok(SyncReport {
                    requests: 0,
                    ..report.clone()
                });
            }
        }
        let seq = self.shared.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let r = self.sync_alone().await;
        if let Ok(report) = &r {
            *last = Some((seq, report.clone()));
        }
        r
    }

    async fn sync_alone(&self) -> Result<SyncReport, KioskError> {
        let before = self.requests();
        let mut window = self.lock_window().clone();
        let refusals = window.refusals;
        let mut report = SyncReport::default();
        let result = self.sync_with(&mut window, &mut report).await;
        report.range_errors = window.refusals - refusals;
        report.window = window.size();
        *self.lock_window() = window;
        report.requests = self.requests() - before;
        result.map(|()| report)
    }

    async fn sync_with(
        &self,
        window: &mut Window,
        report: &mut SyncReport,
    ) -> Result<(), KioskError> {
        let chain_id = self.d.chain_id;
        let head = self.head().await?;
        report.head = head.target;
        if let Some(f) = head.finalized {
            let now = self.store.index_batch(|b| b.set_finalized(chain_id, f))?;
            report.finalized = Some(now);
        } else {
            report.finalized = self.store.finalized_block()?;
        }
        let floor = self.d.block.saturating_sub(64);
        let mut from = floor;
        if let Some(cur) = self.store.cursor(chain_id, &self.cursor_key())? {
            report.block = cur.block;
            match self.fork_point(&cur, floor, head.target).await? {
                Fork::Same => {
                    self.prune_final(cur.block, report.finalized)?;
                    from = cur.block + 1
                }
                Fork::NodeBehind => {
                    tracing::debug!(
                        cursor = cur.block,
                        "the node is behind the index; nothing to do"
                    );
                    report.stopped_early = true;
                    return Ok(());
                }
                Fork::Rewind(at, hash) => {
                    self.store.rewind_to(at, &hash.0)?;
                    self.prune_final(at, report.finalized)?;
                    report.rewound_to = Some(at);
                    report.block = at;
                    tracing::warn!(
                        from = cur.block,
                        to = at,
                        "chain reorganised; index rewound"
                    );
                    from = at + 1;
                }
            }
        }
        let mut start = from;
        let mut retries = 0;
        while start <= head.target {
            let (end, got) =
                fetch_window(window, start, head.target, |s, e| self.attempt(s, e)).await?;
            let Some((last, logs)) = got else {
                tracing::debug!(
                    block = end,
                    "the node does not have the window's last block yet"
                );
                report.stopped_early = true;
                break;
            };
            let seen = match self.check_hashes(&logs, start, end, last).await? {
                Ok(seen) => seen,
                Err(why) => {
                    report.hash_mismatches += 1;
                    retries += 1;
                    if retries > HASH_RETRIES {
                        tracing::warn!(start, end, %why, "the chain keeps reorganising under this window; stopping here");
                        report.stopped_early = true;
                        break;
                    }
                    tracing::info!(start, end, %why, "logs disagree with the chain's block hashes; asking again");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(retries))).await;
                    continue;
                }
            };
            retries = 0;
            let end_hash = last.hash;
            let mut decoded = Vec::with_capacity(logs.len());
            for log in &logs {
                // Every log's block is in `seen` (check_hashes read its header).
                let time = log
                    .block_number
                    .and_then(|n| seen.get(&n))
                    .map_or(0, |s| s.time);
                if let Some((at, ev)) = self.decode(log, time).await? {
                    decoded.push((at, ev, time));
                }
            }
            let key = self.cursor_key();
            report.events += self.store.index_batch(|b| {
                let mut n = 0;
                for (at, ev, time) in &decoded {
                    n += 1;
                    let log = |event: &str, patient_id: [u8; 32]| store::PatientEvent {
                        patient_id,
                        time: *time,
                        event: event.into(),
                        ..Default::default()
                    };
                    let entry = match ev {
                        Event::Record(r) => {
                            b.record_added(r, at)?;
                            Some(store::PatientEvent {
                                institution_id: Some(r.author),
                                ref_id: Some(r.index),
                                ..log("record", r.patient_id)
                            })
                        }
                        Event::Consent(c) => {
                            b.consent_changed(c, at)?;
                            let revoked = c.valid_until == 0;
                            Some(store::PatientEvent {
                                institution: Some(c.institution),
                                scope: (!revoked).then_some(c.scope),
                                valid_until: (!revoked).then_some(c.valid_until),
                                ..log(
                                    if revoked {
                                        "consent-revoked"
                                    } else {
                                        "consent"
                                    },
                                    c.patient_id,
                                )
                            })
                        }
                        Event::AllRevoked(pid) => {
                            b.all_consents_revoked(pid, at)?;
                            Some(log("all-consents-revoked", *pid))
                        }
                        Event::Patient(what, pid, hospital) => Some(store::PatientEvent {
                            institution: *hospital,
                            ..log(what, *pid)
                        }),
                        Event::Issued(p) => {
                            b.prescription_issued(p, at)?;
                            Some(store::PatientEvent {
                                institution_id: Some(p.issuer),
                                ref_id: Some(p.id),
                                ..log("prescribed", p.patient_id)
                            })
                        }
                        Event::Dispensed(d) => {
                            let d = store::DispenseEvent {
                                time: *time,
                                ..d.clone()
                            };
                            b.dispense(&d, at)?;
                            Some(store::PatientEvent {
                                institution_id: Some(d.pharmacy),
                                ref_id: Some(d.prescription_id),
                                scope: Some(u8::from(d.by_token)),
                                valid_until: Some(u64::from(d.part)),
                                ..log("dispensed", d.patient_id)
                            })
                        }
                        Event::Proposed(id) => {
                            b.claim_pending_second(*id, at)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                ..log("claim-proposed", pid)
                            })
                        }
                        Event::Cancelled(id) => {
                            b.prescription_cancelled(*id, at)?;
                            b.patient_of("prescriptions", *id)?
                                .map(|pid| store::PatientEvent {
                                    ref_id: Some(*id),
                                    ..log("rx-cancelled", pid)
                                })
                        }
                        Event::Claim(c) => {
                            b.claim_submitted(c, at)?;
                            Some(store::PatientEvent {
                                institution: Some(c.hospital),
                                ref_id: Some(c.id),
                                amount: Some(c.claimed),
                                ..log("claim", c.patient_id)
                            })
                        }
                        Event::Approved(id, amount, response) => {
                            b.claim_approved(*id, *amount, at)?;
                            b.claim_response(*id, response)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                amount: Some(*amount),
                                ..log("claim-approved", pid)
                            })
                        }
                        Event::Denied(id, code, response) => {
                            b.claim_denied(*id, *code, at)?;
                            b.claim_response(*id, response)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                ..log("claim-denied", pid)
                            })
                        }
                        Event::Paid(id, amount) => {
                            b.claim_paid(*id, *amount, at)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                amount: Some(*amount),
                                ..log("claim-paid", pid)
                            })
                        }
                        Event::Emergency(hospital, tag, note) => {
                            b.emergency_trace(
                                &store::EmergencyTrace {
                                    time: *time,
                                    hospital: *hospital,
                                    tag: *tag,
                                    note: note.clone(),
                                    block: at.block,
                                },
                                at,
                            )?;
                            None
                        }
                    };
                    if let Some(e) = entry {
                        b.patient_event(&e, at)?;
                    }
                }
                for (number, s) in &seen {
                    b.block_hash(chain_id, *number, &s.hash.0)?;
                }
                b.set_cursor(
                    chain_id,
                    &key,
                    &Cursor {
                        block: end,
                        block_hash: end_hash.0,
                    },
                )?;
                Ok(n)
            })?;
            report.block = end;
            start = end + 1;
        }
        Ok(())
    }

    async fn decode(&self, log: &Log, time: u64) -> Result<Option<(EventRef, Event)>, KioskError> {
        let at = EventRef {
            block: log.block_number.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
            tx_hash: log.transaction_hash.unwrap_or_default().0,
        };
        let Some(topic0) = log.topic0().copied() else {
            return Ok(None);
        };
        let addr = log.address();
        let c = &self.d.contracts;
        let ev = if addr == c.hospital_record
            && topic0 == HospitalRecord::RecordAdded::SIGNATURE_HASH
        {
            let e = HospitalRecord::RecordAdded::decode_log_data(log.data()).map_err(bad)?;
            Event::Record(store::RecordAdded {
                patient_id: e.patientId.0,
                index: e.index.to::<u64>(),
                author: e.author,
                kind: 0,
                time,
                supersedes: (e.supersedes.to::<u64>() > 0).then(|| e.supersedes.to::<u64>() - 1),
                content_hash: e.contentHash.0,
                chain_hash: e.chainHash.0,
            })
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::ConsentGranted::SIGNATURE_HASH
        {
            let e = PatientSmartCard::ConsentGranted::decode_log_data(log.data()).map_err(bad)?;
            Event::Consent(store::ConsentChanged {
                patient_id: e.patientId.0,
                institution: e.institution.into_array(),
                valid_until: e.validUntil,
                scope: e.scope,
            })
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::ConsentRevoked::SIGNATURE_HASH
        {
            let e = PatientSmartCard::ConsentRevoked::decode_log_data(log.data()).map_err(bad)?;
            Event::Consent(store::ConsentChanged {
                patient_id: e.patientId.0,
                institution: e.institution.into_array(),
                valid_until: 0,
                scope: 0,
            })
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::AllConsentsRevoked::SIGNATURE_HASH
        {
            let e =
                PatientSmartCard::AllConsentsRevoked::decode_log_data(log.data()).map_err(bad)?;
            Event::AllRevoked(e.patientId.0)
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::PatientRegistered::SIGNATURE_HASH
        {
            let e =
                PatientSmartCard::PatientRegistered::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient("registered", e.patientId.0, Some(e.hospital.into_array()))
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::CardReportedLost::SIGNATURE_HASH
        {
            let e = PatientSmartCard::CardReportedLost::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient("card-lost", e.patientId.0, None)
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::CardReplaced::SIGNATURE_HASH
        {
            let e = PatientSmartCard::CardReplaced::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient(
                "card-replaced",
                e.patientId.0,
                Some(e.hospital.into_array()),
            )
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::EmergencyAccess::SIGNATURE_HASH
        {
            let e = PatientSmartCard::EmergencyAccess::decode_log_data(log.data()).map_err(bad)?;
            Event::Emergency(e.hospital.into_array(), e.tag.0, e.note.to_vec())
        } else if addr == c.pharmacy_access
            && topic0 == PharmacyAccess::PrescriptionIssued::SIGNATURE_HASH
        {
            let e = PharmacyAccess::PrescriptionIssued::decode_log_data(log.data()).map_err(bad)?;
            let issued_at = time;
            Event::Issued(store::PrescriptionIssued {
                id: e.id.to::<u64>(),
                patient_id: e.patientId.0,
                issuer: e.issuer,
                issued_at,
                valid_until: e.validUntil.to::<u64>(),
                content_hash: e.contentHash.0,
            })
        } else if addr == c.pharmacy_access
            && topic0 == PharmacyAccess::PrescriptionDispensed::SIGNATURE_HASH
        {
            let e =
                PharmacyAccess::PrescriptionDispensed::decode_log_data(log.data()).map_err(bad)?;
            Event::Dispensed(store::DispenseEvent {
                prescription_id: e.id.to::<u64>(),
                patient_id: e.patientId.0,
                pharmacy: e.pharmacy,
                part: e.part,
                by_token: e.byToken,
                content_hash: e.contentHash.0,
                time: 0,
                tx_hash: at.tx_hash,
            })
        } else if addr == c.pharmacy_access
            && topic0 == PharmacyAccess::PrescriptionCancelled::SIGNATURE_HASH
        {
            let e =
                PharmacyAccess::PrescriptionCancelled::decode_log_data(log.data()).map_err(bad)?;
            Event::Cancelled(e.id.to::<u64>())
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimSubmitted::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimSubmitted::decode_log_data(log.data()).map_err(bad)?;
            self.count();
            let status = InsuranceProvider::new(c.insurance_provider, self.chain.provider())
                .getClaimStatus(e.claimId)
                .call()
                .await
                .map_err(|err| ChainError::from_contract_error(self.chain.url(), err))?;
            Event::Claim(store::ClaimSubmitted {
                id: e.claimId.to::<u64>(),
                patient_id: e.patientId.0,
                hospital: e.hospital.into_array(),
                insurer: status.insurer.into_array(),
                claimed: Amount::from_be_bytes(e.amount.to_be_bytes::<32>()),
                content_hash: e.contentHash.0,
            })
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimApproved::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimApproved::decode_log_data(log.data()).map_err(bad)?;
            Event::Approved(
                e.claimId.to::<u64>(),
                Amount::from_be_bytes(e.amount.to_be_bytes::<32>()),
                e.contentHash.0,
            )
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimDenied::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimDenied::decode_log_data(log.data()).map_err(bad)?;
            Event::Denied(e.claimId.to::<u64>(), e.reasonCode, e.contentHash.0)
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimApprovalProposed::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimApprovalProposed::decode_log_data(log.data())
                .map_err(bad)?;
            Event::Proposed(e.claimId.to::<u64>())
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::PatientEnrolled::SIGNATURE_HASH
        {
            // The enrolment step's consent authorises the enrolment and is not stored: the enrolment is what the
            // patient's log shows of it.
            let e = InsuranceProvider::PatientEnrolled::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient("enrolled", e.patientId.0, Some(e.insurer.into_array()))
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimPaid::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimPaid::decode_log_data(log.data()).map_err(bad)?;
            Event::Paid(
                e.claimId.to::<u64>(),
                Amount::from_be_bytes(e.amount.to_be_bytes::<32>()),
            )
        } else {
            return Ok(None);
        };
        Ok(Some((at, ev)))
    }

    /// The sealed bytes whose content hash is `content_hash` (a prescription, dispense, claim or claim response
    /// event's) that its transaction carried in its calldata: a consultation carries records, prescriptions and
    /// a claim in one call. When none matches, the first (whose mismatch the caller reports).
    pub async fn sealed_payload(
        &self,
        tx_hash: B256,
        content_hash: impl Into<[u8; 32]>,
    ) -> Result<Vec<u8>, KioskError> {
        self.sealed_payload_matching(tx_hash, Some(content_hash.into()))
            .await
    }

    /// [`Indexer::sealed_payload`] for a transaction that may carry several (a visit's records in one
    /// `recordVisit`): the one whose content hash is `want`, else the first (whose mismatch the caller reports).
    pub async fn sealed_payload_matching(
        &self,
        tx_hash: B256,
        want: Option<[u8; 32]>,
    ) -> Result<Vec<u8>, KioskError> {
        use alloy::consensus::Transaction as _;
        self.count();
        let tx = self
            .chain
            .provider()
            .get_transaction_by_hash(tx_hash)
            .await
            .map_err(|e| self.node_error(e))?
            .ok_or(KioskError::NotOnChain(tx_hash))?;
        let to: Option<Address> = tx.inner.to();
        let c = &self.d.contracts;
        let ours = [c.hospital_record, c.pharmacy_access, c.insurance_provider];
        let payloads = if to.is_some_and(|t| ours.contains(&t)) {
            carekiosk_chain::payloads::sealed_payloads(tx.inner.input())
        } else {
            Vec::new()
        };
        let chosen = want
            .and_then(|w| {
                payloads
                    .iter()
                    .find(|p| carekiosk_records::content_hash(p) == w)
            })
            .or(payloads.first());
        match chosen {
            Some(p) => Ok(p.to_vec()),
            None => Err(KioskError::Invalid(format!(
                "transaction {tx_hash} carries no sealed carekiosk payload"
            ))),
        }
    }
}

enum Event {
    Record(store::RecordAdded),
    Consent(store::ConsentChanged),
    AllRevoked([u8; 32]),
    /// Registered / card lost / card replaced, with the hospital when the event names it.
    Patient(&'static str, [u8; 32], Option<[u8; 20]>),
    /// An emergency read: hospital, tag, note.
    Emergency([u8; 20], [u8; 32], Vec<u8>),
    Issued(store::PrescriptionIssued),
    Dispensed(store::DispenseEvent),
    Cancelled(u64),
    Claim(store::ClaimSubmitted),
    Approved(u64, Amount, [u8; 32]),
    Denied(u64, u16, [u8; 32]),
    Proposed(u64),
    Paid(u64, Amount),
}

fn bad(e: impl std::fmt::Display) -> KioskError {
    KioskError::Invalid(format!("malformed contract event or call: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::ready;

    /// The chain crate's envelope constants (the contracts' `Envelope.VERSION` and `OVERHEAD`, which the indexer
    /// and the privacy scan rely on) are what the records crate writes.
    #[test]
    fn the_chains_envelope_shape_is_what_the_records_crate_seals() {
        assert_eq!(
            carekiosk_chain::payloads::ENVELOPE_VERSION,
            carekiosk_records::FORMAT_VERSION
        );
        assert_eq!(
            carekiosk_chain::payloads::ENVELOPE_OVERHEAD,
            carekiosk_records::OVERHEAD
        );
    }

    #[test]
    fn the_window_halves_on_refusal_and_grows_back_after_successes() {
        let mut w = Window::new(2_000);
        assert_eq!(w.size(), 2_000);
        assert!(w.refused(2_000, None));
        assert_eq!(w.size(), 1_000);
        assert!(w.refused(1_000, None));
        assert_eq!(w.size(), 500);
        // 1,000 was refused: the window does not try it again soon, however long it succeeds at 500.
        for _ in 0..RETRY_REFUSED_AFTER - 1 {
            w.succeeded();
            assert_eq!(w.size(), 500);
        }
        // After RETRY_REFUSED_AFTER successes the refused size is tried again, then 2,000 after GROW_AFTER more.
        w.succeeded();
        assert_eq!(w.size(), 1_000);
        for _ in 0..GROW_AFTER {
            w.succeeded();
        }
        assert_eq!(w.size(), 2_000, "back to the maximum");
        for _ in 0..10 * GROW_AFTER {
            w.succeeded();
        }
        assert_eq!(w.size(), 2_000, "never above the maximum");
    }

    #[test]
    fn the_window_takes_the_size_the_node_suggests_and_stops_at_one_block() {
        let mut w = Window::new(2_000);
        assert!(w.refused(2_000, Some(500)));
        assert_eq!(w.size(), 500);
        // A suggestion not below what was asked is no suggestion: halve.
        assert!(w.refused(500, Some(800)));
        assert_eq!(w.size(), 250);
        // 500 was refused just now: the window stays at 250 for a while.
        for _ in 0..GROW_AFTER * 3 {
            w.succeeded();
        }
        assert_eq!(w.size(), 250);
        // The node's own number caps growth: after a suggestion of 500, 500 is tried, 1,000 is not.
        let mut w = Window::new(2_000);
        assert!(w.refused(2_000, Some(500)));
        assert!(w.refused(500, None));
        assert_eq!(w.size(), 250);
        let mut w2 = Window::new(2_000);
        assert!(w2.refused(2_000, Some(500)));
        w2.size = 250;
        for _ in 0..GROW_AFTER * 3 {
            w2.succeeded();
        }
        assert_eq!(w2.size(), 500);
        let mut one = Window::new(1);
        assert!(
            !one.refused(1, None),
            "one block refused: nothing smaller to try"
        );
        let mut w = Window::new(0);
        assert_eq!(w.size(), 1, "a window is at least one block");
        w.succeeded();
        assert_eq!(w.size(), 1);
    }

    /// A fake node that refuses ranges over `cap` blocks, in `wording`, and answers the rest with their length.
    async fn catch_up(
        max: u64,
        cap: u64,
        wording: impl Fn(u64, u64) -> String,
        blocks: u64,
    ) -> (Vec<(u64, u64)>, u64, Window) {
        let mut w = Window::new(max);
        let mut calls = Vec::new();
        let mut refused = 0;
        let mut start = 0;
        while start < blocks {
            let (end, n) = fetch_window(&mut w, start, blocks - 1, |s, e| {
                calls.push((s, e));
                let asked = e - s + 1;
                ready(if asked > cap {
                    refused += 1;
                    let text = wording(s, e);
                    match range_refusal(&text, asked) {
                        Some(hint) => Err(Refusal::Range { hint, error: text }),
                        None => Err(Refusal::Other(text)),
                    }
                } else {
                    Ok(asked)
                })
            })
            .await
            .unwrap();
            assert_eq!(end - start + 1, n);
            assert!(n <= cap);
            start = end + 1;
        }
        (calls, refused, w)
    }

    #[tokio::test]
    async fn a_day_of_celo_under_a_500_block_cap_costs_few_refusals() {
        // No number in the error: halving finds the cap.
        let (calls, refused, w) = catch_up(
            2_000,
            500,
            |_, _| "error code -32005: block range too large".into(),
            86_400,
        )
        .await;
        let answered = calls.len() as u64 - refused;
        assert_eq!(
            answered,
            86_400_u64.div_ceil(500),
            "every answered window is a full 500 blocks"
        );
        assert!(
            refused <= 2 + answered / u64::from(RETRY_REFUSED_AFTER) + 1,
            "{refused} refusals"
        );
        assert_eq!(w.size(), 500);
        // Windows cover every block once, in order.
        let mut next = 0;
        for &(s, e) in &calls {
            if e - s < 500 {
                assert_eq!(s, next);
                next = e + 1;
            }
        }
        assert_eq!(next, 86_400);

        // Alchemy names the range that works: one refusal, then 500 straight away.
        let (calls, refused, _) = catch_up(
            2_000,
            500,
            |s, _| {
                format!(
                    "error code -32600: You can make eth_getLogs requests with up to a 500 block range. Based on your \
                     parameters, this block range should work: [{:#x}, {:#x}]",
                    s,
                    s + 499
                )
            },
            86_400,
        )
        .await;
        assert_eq!(calls[1].1 - calls[1].0 + 1, 500);
        assert!(
            refused <= 1 + (calls.len() as u64) / u64::from(RETRY_REFUSED_AFTER) + 1,
            "{refused}"
        );

        // A cap that is not a power-of-two fraction of the maximum: the window settles below it.
        let (calls, _, w) = catch_up(
            2_000,
            700,
            |_, _| "exceed maximum block range".into(),
            20_000,
        )
        .await;
        assert_eq!(w.size(), 500);
        assert!(calls.len() < 50, "{} calls", calls.len());
    }

    #[tokio::test]
    async fn other_errors_are_not_retried_and_one_refused_block_is_an_error() {
        let mut w = Window::new(2_000);
        let mut calls = 0;
        let err = fetch_window(&mut w, 10, 5_000, |_, _| {
            calls += 1;
            ready(Err::<(), _>(Refusal::Other("connection refused")))
        })
        .await
        .unwrap_err();
        assert_eq!((err, calls), ("connection refused", 1));
        assert_eq!(w.size(), 2_000);
        let mut calls = 0;
        let err = fetch_window(&mut w, 10, 5_000, |_, _| {
            calls += 1;
            ready(Err::<(), _>(Refusal::Range {
                hint: None,
                error: "too many results",
            }))
        })
        .await
        .unwrap_err();
        assert_eq!(err, "too many results");
        assert_eq!(calls, 11, "2000, 1000, 500, … 7, 3, 1, then the error");
        // A window never runs past the target.
        let mut w = Window::new(2_000);
        let (end, ()) = fetch_window(&mut w, 100, 150, |s, e| {
            assert_eq!((s, e), (100, 150));
            ready(Ok::<(), Refusal<()>>(()))
        })
        .await
        .unwrap();
        assert_eq!(end, 150);
    }

    #[test]
    fn providers_range_refusals_are_recognised_with_their_numbers() {
        let cases: [(&str, u64, Option<u64>); 16] = [
            // Alchemy
            ("code -32600 You can make eth_getLogs requests with up to a 500 block range. Based on your parameters, \
              this block range should work: [0x123c9b2, 0x123cba5]", 2_000, Some(500)),
            ("code -32602 Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range \
              and no limit on the response size", 5_000, Some(2_000)),
            // Infura
            ("code -32005 query returned more than 10000 results", 2_000, None),
            ("code -32005 query timeout exceeded", 2_000, None),
            ("code -32602 range 1000000 exceeds limit of 10000", 1_000_000, Some(10_000)),
            ("code -32005 limit exceeded", 2_000, None),
            // QuickNode (HTTP 413 body)
            (r#"{"jsonrpc":"2.0","id":56,"error":{"code":-32614,"message":"eth_getLogs is limited to a 10,000 range"}}"#,
             20_000, Some(10_000)),
            // geth, op-geth (Forno), Ankr and other geth-based RPCs
            ("code -32000 exceed maximum block range: 500", 2_000, Some(500)),
            // reth
            ("code -32602 query exceeds max block range 5000", 8_000, Some(5_000)),
            // Erigon
            ("code -32000 query block range exceeds server limit, narrow your filter: 1000", 2_000, Some(1_000)),
            ("code -32005 block range too large, max range: 1000", 2_000, Some(1_000)),
            // Frontier / Moonbeam
            ("code -32603 block range is too wide (maximum 1024)", 2_000, Some(1_024)),
            // Tenderly, with an error id full of digits
            ("code -32602 invalid params range 2000 is bigger than range limit 500 \
              {\"error_id\":\"4ed94073-0317-4648-a167-107fba5f44b3\"}", 2_000, Some(500)),
            // Scroll, morph, others
            ("code -32000 block range is bigger than maxBlockRange", 2_000, None),
            ("code -32000 block range is larger than max block range, block range = 5120, max block range = 5000",
             5_120, Some(5_000)),
            ("code -32600 block range too high", 2_000, None),
        ];
        for (text, asked, hint) in cases {
            assert_eq!(range_refusal(text, asked), Some(hint), "{text}");
        }
        // Rate limits, a malformed range, a node down: not range refusals.
        for text in [
            "code -32005 project ID request rate exceeded",
            "code -32005 daily request count exceeded, request rate limited",
            "HTTP error 429 with body: Too Many Requests",
            "code -32000 invalid block range params",
            "error sending request for url (http://127.0.0.1:1/): connection refused",
            "code -32601 the method eth_getLogs does not exist/is not available",
        ] {
            assert_eq!(range_refusal(text, 2_000), None, "{text}");
        }
    }
}
