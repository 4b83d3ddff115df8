//! `carekiosk-celo-like`: starts a Celo-like chain and the hostile proxy in front of it, prints the proxy URL
//! on the first line of stdout, and runs until Ctrl-C (then prints what the proxy did, as JSON, on stdout).

use std::path::PathBuf;
use std::time::Duration;

use carekiosk_celo_like::{
    CeloLike, DevnetOptions, FeeSpikes, ProxyConfig, Reorgs, StaleReads, TokenBucket,
    CELO_SEPOLIA_CHAIN_ID,
};
use clap::Parser;

/// A Celo-like chain (Anvil with the OP stack at Isthmus, 1 s blocks, 30M gas, 25 gwei base-fee floor, safe
/// and finalized lagging) behind a hostile JSON-RPC proxy. A test tool.
#[derive(Debug, Parser)]
#[command(name = "carekiosk-celo-like", version)]
struct Args {
    /// Chain id (Celo Sepolia by default; 42220 is mainnet).
    #[arg(long, default_value_t = CELO_SEPOLIA_CHAIN_ID)]
    chain_id: u64,
    /// The proxy's port (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Anvil's port (0: any free port).
    #[arg(long, default_value_t = 0)]
    node_port: u16,
    /// Keep the chain in this file across restarts.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Start from the proof conditions (ProxyConfig::hostile); the options below override them.
    #[arg(long)]
    hostile: bool,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Cap on eth_getLogs block ranges.
    #[arg(long)]
    get_logs_max_range: Option<u64>,
    /// Fraction of requests answered 429 at random (0..1).
    #[arg(long)]
    rate_limited: Option<f64>,
    /// Token bucket: sustained requests per second (with --burst).
    #[arg(long, requires = "burst")]
    rate: Option<f64>,
    /// Token bucket size.
    #[arg(long, requires = "rate")]
    burst: Option<f64>,
    /// Retry-After of random 429s, in seconds.
    #[arg(long)]
    retry_after_secs: Option<u64>,
    /// Latency added to every request, in ms.
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Extra random latency up to this, in ms.
    #[arg(long)]
    jitter_ms: Option<u64>,
    /// Fraction of requests that hang (forwarded, answer withheld).
    #[arg(long)]
    hang: Option<f64>,
    /// How long a hung request hangs, in ms.
    #[arg(long)]
    hang_ms: Option<u64>,
    /// Block numbers and nonces this many blocks behind.
    #[arg(long)]
    stale_blocks: Option<u64>,
    /// Fraction of block-number and nonce calls answered stale.
    #[arg(long)]
    stale_fraction: Option<f64>,
    /// Fraction of transactions whose first send is dropped.
    #[arg(long)]
    drop_first_send: Option<f64>,
    /// Chance that a returned receipt triggers a reorg.
    #[arg(long)]
    reorg_probability: Option<f64>,
    /// Deepest reorg.
    #[arg(long)]
    reorg_max_depth: Option<u64>,
    /// Chance that a reorg re-includes the replaced transactions.
    #[arg(long)]
    reorg_reinclude: Option<f64>,
    /// Fee spikes: base fee = floor × this during a spike.
    #[arg(long)]
    fee_spike_factor: Option<u64>,
    /// Seconds between fee spikes.
    #[arg(long)]
    fee_spike_every_secs: Option<u64>,
    /// Seconds a fee spike lasts.
    #[arg(long)]
    fee_spike_secs: Option<u64>,
}

fn config(a: &Args) -> ProxyConfig {
    let mut c = if a.hostile {
        ProxyConfig::hostile(a.seed)
    } else {
        ProxyConfig {
            seed: a.seed,
            ..ProxyConfig::default()
        }
    };
    if a.get_logs_max_range.is_some() {
        c.get_logs_max_range = a.get_logs_max_range;
    }
    if let Some(f) = a.rate_limited {
        c.rate_limited_fraction = f;
    }
    if let (Some(per_second), Some(burst)) = (a.rate, a.burst) {
        c.token_bucket = Some(TokenBucket { per_second, burst });
    }
    if let Some(s) = a.retry_after_secs {
        c.retry_after = Duration::from_secs(s);
    }
    if let Some(ms) = a.latency_ms {
        c.latency = Duration::from_millis(ms);
    }
    if let Some(ms) = a.jitter_ms {
        c.jitter = Duration::from_millis(ms);
    }
    if let Some(f) = a.hang {
        c.hang_fraction = f;
        if c.hang_for.is_zero() {
            c.hang_for = Duration::from_secs(30);
        }
    }
    if let Some(ms) = a.hang_ms {
        c.hang_for = Duration::from_millis(ms);
    }
    if a.stale_blocks.is_some() || a.stale_fraction.is_some() {
        let prev = c.stale.unwrap_or(StaleReads {
            blocks: 2,
            fraction: 1.0,
        });
        c.stale = Some(StaleReads {
            blocks: a.stale_blocks.unwrap_or(prev.blocks),
            fraction: a.stale_fraction.unwrap_or(prev.fraction),
        });
    }
    if let Some(f) = a.drop_first_send {
        c.drop_first_send_fraction = f;
    }
    if a.reorg_probability.is_some() || a.reorg_max_depth.is_some() || a.reorg_reinclude.is_some() {
        let prev = c.reorgs.unwrap_or(Reorgs {
            probability: 0.1,
            max_depth: 5,
            reinclude_fraction: 0.0,
            delay: Duration::from_millis(100),
        });
        c.reorgs = Some(Reorgs {
            probability: a.reorg_probability.unwrap_or(prev.probability),
            max_depth: a.reorg_max_depth.unwrap_or(prev.max_depth),
            reinclude_fraction: a.reorg_reinclude.unwrap_or(prev.reinclude_fraction),
            delay: prev.delay,
        });
    }
    if a.fee_spike_factor.is_some()
        || a.fee_spike_every_secs.is_some()
        || a.fee_spike_secs.is_some()
    {
        let prev = c.fee_spikes.unwrap_or(FeeSpikes {
            factor: 3,
            every: Duration::from_secs(60),
            lasting: Duration::from_secs(20),
        });
        c.fee_spikes = Some(FeeSpikes {
            factor: a.fee_spike_factor.unwrap_or(prev.factor),
            every: a
                .fee_spike_every_secs
                .map(Duration::from_secs)
                .unwrap_or(prev.every),
            lasting: a
                .fee_spike_secs
                .map(Duration::from_secs)
                .unwrap_or(prev.lasting),
        });
    }
    c
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let cfg = config(&args);
    let opts = DevnetOptions {
        port: args.node_port,
        state_file: args.state.clone(),
        ..DevnetOptions::celo_like(args.chain_id)
    };
    let chain = match CeloLike::start_with(opts, args.port, cfg).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("carekiosk-celo-like: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", chain.url());
    eprintln!(
        "celo-like chain {} — proxy {} (give this to the client), node {} (for the harness); \
         `celolike_stats` on the proxy reports what it did; Ctrl-C stops",
        args.chain_id,
        chain.url(),
        chain.node_url()
    );
    let _ = tokio::signal::ctrl_c().await;
    let stats = chain.proxy.stats();
    println!(
        "{}",
        serde_json::to_string_pretty(&stats).unwrap_or_default()
    );
    chain.stop().await;
    std::process::ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_hostile_preset() {
        let a = Args::parse_from([
            "x",
            "--hostile",
            "--rate-limited",
            "0.5",
            "--reorg-max-depth",
            "3",
            "--get-logs-max-range",
            "100",
        ]);
        let c = config(&a);
        assert_eq!(c.rate_limited_fraction, 0.5);
        assert_eq!(c.reorgs.unwrap().max_depth, 3);
        assert_eq!(c.get_logs_max_range, Some(100));
        assert_eq!(c.fee_spikes.unwrap().factor, 3);
        let quiet = config(&Args::parse_from(["x"]));
        assert_eq!(
            quiet,
            ProxyConfig {
                seed: 1,
                ..ProxyConfig::default()
            }
        );
    }
}
