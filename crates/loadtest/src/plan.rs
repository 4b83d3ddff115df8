//! What a load run does: visits, kiosks, readers, faults, the Celo-like chain (`carekiosk-load run`'s options).

use serde::Serialize;

/// What a run does.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Whole visits to complete.
    pub visits: usize,
    /// Kiosks per role.
    pub kiosks_per_role: usize,
    /// At most this many readers (patients in flight).
    pub max_readers: usize,
    /// Anvil stopped and started again from its dumped state.
    pub anvil_restarts: u32,
    /// The node unreachable (every connection cut) for a while.
    pub outages: u32,
    /// pcscd stopped and started.
    pub pcscd_restarts: u32,
    /// Cards pulled (and put back) at random moments of a step.
    pub card_pulls: u32,
    /// Kiosk processes killed with SIGKILL at random moments and restarted.
    pub kiosk_kills: u32,
    /// The SQLite writer killed mid-transaction.
    pub sqlite_kills: u32,
    /// The chain is Celo-like (Celo's rules behind the hostile proxy at the proof conditions) instead of
    /// a plain Anvil; its faults are the proxy's.
    pub celo_like: bool,
    /// The proxy's random seed (`celo_like`).
    pub seed: u64,
}

impl Plan {
    /// The bounded CI run: 300 visits with every fault.
    pub fn bounded() -> Plan {
        Plan {
            visits: 300,
            kiosks_per_role: 2,
            max_readers: 16,
            anvil_restarts: 1,
            outages: 1,
            pcscd_restarts: 1,
            card_pulls: 20,
            kiosk_kills: 12,
            sqlite_kills: 8,
            celo_like: false,
            seed: 0,
        }
    }

    /// The bounded run on the Celo-like chain: 300 visits under rate limits, reorgs, hangs, stale reads, dropped
    /// sends and fee spikes (the proxy's faults; the machine's own are left out).
    pub fn celo_like(seed: u64) -> Plan {
        Plan {
            celo_like: true,
            seed,
            ..Plan::bounded().without_faults()
        }
    }

    /// The full run, on demand.
    pub fn full() -> Plan {
        Plan {
            visits: 1000,
            anvil_restarts: 3,
            outages: 3,
            pcscd_restarts: 3,
            card_pulls: 80,
            kiosk_kills: 40,
            sqlite_kills: 30,
            ..Plan::bounded()
        }
    }

    /// No faults (a throughput run).
    pub fn without_faults(mut self) -> Plan {
        self.anvil_restarts = 0;
        self.outages = 0;
        self.pcscd_restarts = 0;
        self.card_pulls = 0;
        self.kiosk_kills = 0;
        self.sqlite_kills = 0;
        self
    }
}
