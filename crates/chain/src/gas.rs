//! How transactions are priced on each network.

use serde::{Deserialize, Serialize};

/// The gas pricing a profile asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum GasPolicy {
    /// Legacy (type 0) transactions at a fixed gas price: the paper's setting (2 gwei) on the local chain.
    Legacy {
        /// Gas price in wei.
        gas_price_wei: u64,
    },
    /// EIP-1559 (type 2) transactions. The max fee is at least `base_fee_floor_wei` (Celo's 25 gwei floor)
    /// plus the tip, and at least twice the node's current base fee.
    Eip1559 {
        /// The network's base-fee floor, in wei.
        base_fee_floor_wei: u64,
        /// Priority fee (tip), in wei.
        priority_fee_wei: u64,
    },
}

/// One gwei in wei.
pub const GWEI: u64 = 1_000_000_000;

impl GasPolicy {
    /// The paper's fixed 2 gwei, as legacy transactions.
    pub const PAPER: GasPolicy = GasPolicy::Legacy {
        gas_price_wei: 2 * GWEI,
    };

    /// The fee fields for a transaction, given the node's latest base fee: `(gas_price, max_fee, max_priority)`.
    pub fn fees(&self, base_fee: Option<u128>) -> (Option<u128>, Option<u128>, Option<u128>) {
        match *self {
            GasPolicy::Legacy { gas_price_wei } => (Some(u128::from(gas_price_wei)), None, None),
            GasPolicy::Eip1559 {
                base_fee_floor_wei,
                priority_fee_wei,
            } => {
                let (floor, tip) = (u128::from(base_fee_floor_wei), u128::from(priority_fee_wei));
                let base = base_fee.unwrap_or(floor).max(floor);
                (
                    None,
                    Some(base.saturating_mul(2).saturating_add(tip)),
                    Some(tip),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_is_fixed_price() {
        assert_eq!(
            GasPolicy::PAPER.fees(Some(7)),
            (Some(2_000_000_000), None, None)
        );
    }

    #[test]
    fn eip1559_respects_floor_and_base_fee() {
        let p = GasPolicy::Eip1559 {
            base_fee_floor_wei: 25 * GWEI,
            priority_fee_wei: GWEI,
        };
        let g = u128::from(GWEI);
        assert_eq!(p.fees(Some(g)), (None, Some(51 * g), Some(g)));
        assert_eq!(p.fees(Some(40 * g)), (None, Some(81 * g), Some(g)));
        assert_eq!(p.fees(None), (None, Some(51 * g), Some(g)));
    }
}
