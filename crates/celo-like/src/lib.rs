//! A Celo-like chain on this machine, for tests: Anvil with Celo's rules ([`DevnetOptions::celo_like`]) behind
//! a hostile JSON-RPC [`Proxy`] that behaves like a public, rate-limited, load-balanced RPC: an `eth_getLogs`
//! range cap, 429s with `Retry-After`, latency and jitter, requests that hang past the client's timeout, stale
//! block numbers and nonces, dropped first sends, reorgs after a receipt was seen, and base-fee spikes.
//!
//! A test tool: nothing that ships (kiosk, cli, app) may depend on this crate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), carekiosk_celo_like::CeloLikeError> {
//! use carekiosk_celo_like::{CeloLike, ProxyConfig};
//! let chain = CeloLike::start(11_142_220, ProxyConfig::hostile(7)).await?;
//! // Point the client under test at chain.url(); fund accounts through chain.node_url().
//! let stats = chain.proxy.stats();
//! # Ok(()) }
//! ```

pub mod config;
mod http;
pub mod proxy;
mod rng;
pub mod stats;

pub use carekiosk_chain::devnet::{BaseFeeFloor, Devnet, DevnetOptions};
pub use config::{
    FeeSpikes, ProxyConfig, Reorgs, StaleReads, TokenBucket, LOG_RANGE_ERROR_CODE,
    RATE_LIMITED_ERROR_CODE,
};
pub use proxy::Proxy;
pub use stats::{ReorgEvent, Stats};

/// An address of this machine other than loopback (the one its default route leaves from), if it has one: a
/// proxy listening there ([`Proxy::start_on`]) looks remote to a client. No packet is sent to find it.
pub fn non_loopback_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // A documentation address (RFC 5737): connecting a UDP socket only picks the route.
    s.connect("203.0.113.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Celo Sepolia's chain id.
pub const CELO_SEPOLIA_CHAIN_ID: u64 = 11_142_220;

/// Everything this crate can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CeloLikeError {
    /// Anvil could not be started.
    #[error("{0}")]
    Chain(#[from] carekiosk_chain::ChainError),
    /// The proxy's port is taken or not allowed.
    #[error("the proxy cannot listen on 127.0.0.1:{port}: {source}; pick another port, or 0 for any free one")]
    Listen {
        /// The port asked for.
        port: u16,
        /// Why not.
        source: std::io::Error,
    },
    /// The configuration does not hold together.
    #[error("bad celo-like configuration: {0}")]
    Config(String),
}

/// Anvil with Celo's rules and the proxy in front of it. Dropping it stops both.
#[derive(Debug)]
pub struct CeloLike {
    /// The chain (its URL is the node's own, without the proxy).
    pub devnet: Devnet,
    /// The proxy.
    pub proxy: Proxy,
}

impl CeloLike {
    /// A Celo-like chain ([`DevnetOptions::celo_like`]) with `chain_id`, behind a proxy on any free port.
    pub async fn start(chain_id: u64, config: ProxyConfig) -> Result<CeloLike, CeloLikeError> {
        Self::start_with(DevnetOptions::celo_like(chain_id), 0, config).await
    }

    /// Any devnet behind a proxy on `proxy_port` (0: any free port). Refuses reorgs deeper than the chain's
    /// `slots_in_an_epoch` (they would reorg `safe` blocks, which Celo never does).
    pub async fn start_with(
        devnet: DevnetOptions,
        proxy_port: u16,
        config: ProxyConfig,
    ) -> Result<CeloLike, CeloLikeError> {
        config.validate()?;
        if let (Some(r), Some(epoch)) = (config.reorgs, devnet.slots_in_an_epoch) {
            if r.max_depth > epoch {
                return Err(CeloLikeError::Config(format!(
                    "reorgs.max_depth {} exceeds slots_in_an_epoch {epoch}: safe blocks would reorg",
                    r.max_depth
                )));
            }
        }
        let devnet = Devnet::start(devnet).await?;
        let proxy = Proxy::start(
            devnet.url.clone(),
            proxy_port,
            config,
            devnet.base_fee_floor(),
        )
        .await?;
        Ok(CeloLike { devnet, proxy })
    }

    /// The proxy's URL: what the client under test talks to.
    pub fn url(&self) -> &str {
        &self.proxy.url
    }

    /// Anvil's own URL, for the test harness (funding, mining, checking what really is on chain).
    pub fn node_url(&self) -> &str {
        &self.devnet.url
    }

    /// Stops the proxy and the chain.
    pub async fn stop(self) {
        drop(self.proxy);
        self.devnet.stop().await;
    }
}
