//! What the proxy does to the requests it forwards. Everything is off by default: a default [`ProxyConfig`]
//! forwards every request untouched.

use std::time::Duration;

use crate::CeloLikeError;

/// The JSON-RPC error code of the `eth_getLogs` range cap: -32005, "limit exceeded" in EIP-1474 (Infura answers
/// its log limits with it). The message is `query exceeds max block range <cap>`. Clients should recognise a
/// range error by this code or by "block range" in the message, and retry with a smaller window.
pub const LOG_RANGE_ERROR_CODE: i64 = -32005;

/// The JSON-RPC error code in the body of a 429 answer (Alchemy's form: the HTTP status is 429 and the body a
/// JSON-RPC error with code 429). The HTTP status and its `Retry-After` header are what a client should use.
pub const RATE_LIMITED_ERROR_CODE: i64 = 429;

/// A token bucket: `per_second` tokens refill continuously up to `burst`; a request takes one token or is
/// answered 429 with `Retry-After` = the whole seconds until a token is there (at least 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenBucket {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Bucket size: requests allowed in a burst.
    pub burst: f64,
}

/// Stale reads, as from a load-balanced RPC whose backends lag: `eth_blockNumber` answers `latest - blocks`,
/// and `eth_getTransactionCount` with the tag `latest` or `pending` (or none) is answered at block
/// `latest - blocks`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StaleReads {
    /// How many blocks behind.
    pub blocks: u64,
    /// The fraction of those calls answered stale (1.0: all).
    pub fraction: f64,
}

/// Reorgs after a receipt was seen: when `eth_getTransactionReceipt` returns a receipt, with `probability`
/// the proxy (after `delay`) pauses mining and calls `anvil_reorg` with a depth drawn in
/// `[latest - receipt block + 1, max_depth]`, so the transaction's block is among the replaced ones (skipped
/// when the block is already deeper than `max_depth`). Each transaction triggers at most one reorg.
///
/// What Anvil does: `anvil_reorg(depth, [])` rewinds to `latest - depth` and mines `depth` new empty blocks:
/// every transaction of the replaced blocks is gone (no receipt, not back in the pool; the senders' nonces go
/// back). With probability `reinclude_fraction` the proxy passes the replaced blocks' transactions (raw, in
/// their order) to be mined again in the last new block: the receipts come back in another block (another hash,
/// maybe another number). Transactions Anvil then finds invalid are dropped. The stats list both sets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorgs {
    /// Chance that a returned receipt triggers a reorg.
    pub probability: f64,
    /// Deepest reorg (keep it below the chain's `slots_in_an_epoch`: `safe` blocks never reorg).
    pub max_depth: u64,
    /// Chance that a reorg mines the replaced transactions again instead of dropping them.
    pub reinclude_fraction: f64,
    /// Wait this long after answering the receipt before reorging.
    pub delay: Duration,
}

/// Fee spikes on a schedule, through the devnet's base-fee floor holder: every `every`, the base fee goes to
/// floor × `factor` for `lasting`, then back to the floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeeSpikes {
    /// Multiplier of the floor during a spike (3 for the proof).
    pub factor: u64,
    /// Time between the end of one spike (or the start) and the next spike.
    pub every: Duration,
    /// How long a spike lasts.
    pub lasting: Duration,
}

/// How hostile the proxy is. `Default` is a transparent proxy.
///
/// Methods a public Celo node does not serve (`anvil_*`, `evm_*`, `hardhat_*`) and the proxy's own
/// `celolike_*` are never rate limited, delayed or hung: a test harness can fund accounts and mine through the
/// proxy. Rate limiting, latency and hangs apply per HTTP request (a batch is limited as a whole, as providers
/// do); the method-specific behaviours apply per call inside a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyConfig {
    /// Seed of the random choices (which requests are limited, hung, dropped, reorged).
    pub seed: u64,
    /// `eth_getLogs` may span at most this many blocks (`to - from + 1`); more is answered with
    /// [`LOG_RANGE_ERROR_CODE`] "query exceeds max block range N". Tags are resolved first. A `blockHash` filter
    /// is never capped.
    pub get_logs_max_range: Option<u64>,
    /// A token bucket for all requests (all clients share it: they are all on 127.0.0.1, as kiosks behind one
    /// hospital NAT share a public RPC's per-IP limit).
    pub token_bucket: Option<TokenBucket>,
    /// The fraction of requests answered 429 at random (before the bucket is asked).
    pub rate_limited_fraction: f64,
    /// `Retry-After` of the random 429s (0 is sent as 1 s).
    pub retry_after: Duration,
    /// Added to every request.
    pub latency: Duration,
    /// A uniform extra delay in `[0, jitter]`.
    pub jitter: Duration,
    /// The fraction of requests that hang: the request *is* forwarded (a hung `eth_sendRawTransaction` still
    /// reaches the node), but the answer is held for `hang_for` and the connection then closed without one.
    pub hang_fraction: f64,
    /// How long a hung request hangs (make it longer than the client's timeout).
    pub hang_for: Duration,
    /// Stale block numbers and nonces.
    pub stale: Option<StaleReads>,
    /// The fraction of transactions whose first `eth_sendRawTransaction` is dropped: answered with the
    /// transaction hash (success) but not forwarded. A second send of the same transaction is forwarded.
    pub drop_first_send_fraction: f64,
    /// Reorgs after a receipt was seen.
    pub reorgs: Option<Reorgs>,
    /// Base-fee spikes (needs a devnet with a base-fee floor).
    pub fee_spikes: Option<FeeSpikes>,
}

impl ProxyConfig {
    /// The proof conditions: 30 % of requests rate limited (Retry-After 1 s) plus a 50 req/s bucket,
    /// 10–40 ms latency, 1 % of requests hung for 30 s, block numbers and nonces 2 blocks behind on a third of
    /// the calls, 20 % of first sends dropped, a reorg (depth up to 5, half of them re-including the
    /// transactions) after 10 % of receipts, a ×3 fee spike of 20 s every 60 s, and a 500-block `eth_getLogs`
    /// cap. A starting point: tune the fields for a given run.
    pub fn hostile(seed: u64) -> Self {
        ProxyConfig {
            seed,
            get_logs_max_range: Some(500),
            token_bucket: Some(TokenBucket {
                per_second: 50.0,
                burst: 100.0,
            }),
            rate_limited_fraction: 0.3,
            retry_after: Duration::from_secs(1),
            latency: Duration::from_millis(10),
            jitter: Duration::from_millis(30),
            hang_fraction: 0.01,
            hang_for: Duration::from_secs(30),
            stale: Some(StaleReads {
                blocks: 2,
                fraction: 0.33,
            }),
            drop_first_send_fraction: 0.2,
            reorgs: Some(Reorgs {
                probability: 0.1,
                max_depth: 5,
                reinclude_fraction: 0.5,
                delay: Duration::from_millis(100),
            }),
            fee_spikes: Some(FeeSpikes {
                factor: 3,
                every: Duration::from_secs(60),
                lasting: Duration::from_secs(20),
            }),
        }
    }

    /// Checks fractions and sizes; says which field is wrong.
    pub fn validate(&self) -> Result<(), CeloLikeError> {
        let bad = |what: &str| Err(CeloLikeError::Config(what.to_string()));
        let fraction = |p: f64| (0.0..=1.0).contains(&p);
        if !fraction(self.rate_limited_fraction) {
            return bad("rate_limited_fraction must be within 0..=1");
        }
        if !fraction(self.hang_fraction) {
            return bad("hang_fraction must be within 0..=1");
        }
        if !fraction(self.drop_first_send_fraction) {
            return bad("drop_first_send_fraction must be within 0..=1");
        }
        if self.get_logs_max_range == Some(0) {
            return bad("get_logs_max_range must be at least 1 block");
        }
        if let Some(b) = self.token_bucket {
            if !(b.per_second > 0.0 && b.burst >= 1.0) {
                return bad("token_bucket needs per_second > 0 and burst >= 1");
            }
        }
        if let Some(s) = self.stale {
            if !fraction(s.fraction) {
                return bad("stale.fraction must be within 0..=1");
            }
        }
        if let Some(r) = self.reorgs {
            if !fraction(r.probability) || !fraction(r.reinclude_fraction) {
                return bad(
                    "reorgs.probability and reorgs.reinclude_fraction must be within 0..=1",
                );
            }
            if r.max_depth == 0 {
                return bad("reorgs.max_depth must be at least 1");
            }
        }
        if let Some(f) = self.fee_spikes {
            if f.factor == 0 || f.every.is_zero() || f.lasting.is_zero() {
                return bad("fee_spikes needs factor >= 1 and non-zero every and lasting");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_transparent_and_bad_fields_are_named() {
        let d = ProxyConfig::default();
        d.validate().unwrap();
        assert!(
            d.get_logs_max_range.is_none() && d.reorgs.is_none() && d.rate_limited_fraction == 0.0
        );
        ProxyConfig::hostile(1).validate().unwrap();
        let c = ProxyConfig {
            hang_fraction: 1.5,
            ..ProxyConfig::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("hang_fraction"), "{e}");
        let c = ProxyConfig {
            reorgs: Some(Reorgs {
                probability: 0.5,
                max_depth: 0,
                reinclude_fraction: 0.0,
                delay: Duration::ZERO,
            }),
            ..ProxyConfig::default()
        };
        assert!(c.validate().unwrap_err().to_string().contains("max_depth"));
    }
}
