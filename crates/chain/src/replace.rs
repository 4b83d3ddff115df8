//! Stuck and lost transactions: a replacement with higher fees for the same nonce, the finalized block, and the
//! fees a node requires of a replacement.

use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::{BlockNumberOrTag, Decodable2718, Encodable2718};
use alloy::network::{NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::Address;
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;

use crate::{Chain, ChainError, GasPolicy, SignedTx};

/// How much more a replacement must pay than the transaction it replaces, in percent: geth's and op-geth's txpool
/// refuse a replacement below +10 % on both the fee cap and the tip (`--txpool.pricebump`, default 10).
pub const REPLACEMENT_BUMP_PERCENT: u128 = 10;

/// `fee` raised by [`REPLACEMENT_BUMP_PERCENT`], rounded up, plus one wei (so a node's integer check passes).
pub fn bumped(fee: u128) -> u128 {
    fee.saturating_mul(100 + REPLACEMENT_BUMP_PERCENT)
        .div_ceil(100)
        .saturating_add(1)
}

/// The fees of a signed transaction: `(gas_price or max_fee, priority)`.
pub fn fees_of(raw: &[u8]) -> Result<(u128, Option<u128>), ChainError> {
    if raw.first() == Some(&crate::cip64::CIP64_TX_TYPE) {
        let tx = crate::cip64::SignedCip64::decode_2718(raw)?.tx;
        return Ok((tx.max_fee_per_gas, Some(tx.max_priority_fee_per_gas)));
    }
    let tx = decode(raw)?;
    Ok(match tx.max_priority_fee_per_gas() {
        Some(tip) => (tx.max_fee_per_gas(), Some(tip)),
        None => (tx.gas_price().unwrap_or_default(), None),
    })
}

fn decode(raw: &[u8]) -> Result<TxEnvelope, ChainError> {
    TxEnvelope::decode_2718(&mut &raw[..])
        .map_err(|e| ChainError::Invalid(format!("not a signed transaction we can replace: {e}")))
}

impl Chain {
    /// The chain's finalized block number (`finalized` tag): a block at or below it cannot be reorged away.
    pub async fn finalized_block(&self) -> Result<u64, ChainError> {
        let b = self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Finalized)
            .await
            .map_err(|e| ChainError::node(self.url(), e))?;
        Ok(b.map(|b| b.header.number).unwrap_or_default())
    }

    /// The latest block's base fee (EIP-1559 chains), in wei.
    pub async fn latest_base_fee(&self) -> Result<Option<u128>, ChainError> {
        Ok(self
            .provider()
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::node(self.url(), e))?
            .and_then(|b| b.header.base_fee_per_gas)
            .map(u128::from))
    }

    /// Whether the signed transaction `raw` can still be included at today's base fee (its fee cap is at least
    /// the base fee): one that cannot waits in the pool until the fee comes down, or until it is replaced.
    pub async fn priced_out(&self, raw: &[u8]) -> Result<bool, ChainError> {
        let (cap, _) = fees_of(raw)?;
        Ok(match self.latest_base_fee().await? {
            Some(base) => cap < base,
            None => false,
        })
    }

    /// A replacement of the signed transaction `raw`: the same call, sender, gas limit and nonce, with fees raised
    /// by what nodes require of a replacement ([`bumped`]) and at least what the gas policy asks at today's base
    /// fee. At most one of the two can land, since they share the nonce.
    /// `from` is its sender (one of this connection's signers).
    pub async fn replacement(&self, from: Address, raw: &[u8]) -> Result<SignedTx, ChainError> {
        if raw.first() == Some(&crate::cip64::CIP64_TX_TYPE) {
            return self.cip64_replacement(from, raw).await;
        }
        let old = decode(raw)?;
        let mut req = TransactionRequest::default()
            .with_from(from)
            .with_nonce(old.nonce())
            .with_gas_limit(old.gas_limit())
            .with_value(old.value())
            .with_input(old.input().clone());
        if let Some(to) = old.to() {
            req = req.with_to(to);
        }
        if let Some(id) = old.chain_id() {
            req = req.with_chain_id(id);
        }
        let base = self.latest_base_fee().await?;
        let (policy_price, policy_cap, policy_tip) = self.policy().fees(base);
        match (old.max_priority_fee_per_gas(), self.policy()) {
            (Some(tip), _) => {
                let tip = bumped(tip).max(policy_tip.unwrap_or_default());
                let cap = bumped(old.max_fee_per_gas())
                    .max(policy_cap.unwrap_or_default())
                    .max(tip);
                req = req
                    .with_max_fee_per_gas(cap)
                    .with_max_priority_fee_per_gas(tip);
                if let Some(list) = old.access_list() {
                    req = req.with_access_list(list.clone());
                }
            }
            (None, GasPolicy::Legacy { .. } | GasPolicy::Eip1559 { .. }) => {
                let price = bumped(old.gas_price().unwrap_or_default())
                    .max(policy_price.unwrap_or_default())
                    .max(base.map(|b| b.saturating_mul(2)).unwrap_or_default());
                req = req.with_gas_price(price);
            }
        }
        let envelope = req.build(self.wallet()).await.map_err(|e| {
            ChainError::Invalid(format!("cannot sign the replacement as {from}: {e}"))
        })?;
        Ok(SignedTx {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
            nonce: old.nonce(),
            from,
        })
    }
}

impl Chain {
    /// A CIP-64 transaction's replacement: fees raised as [`bumped`] and at least what the node asks in the fee
    /// currency now.
    async fn cip64_replacement(&self, from: Address, raw: &[u8]) -> Result<SignedTx, ChainError> {
        let mut tx = crate::cip64::SignedCip64::decode_2718(raw)?.tx;
        let fc = tx.fee_currency.or(self.fee_currency()).ok_or_else(|| {
            ChainError::Invalid("a CIP-64 transaction without a fee currency".into())
        })?;
        let now = crate::cip64::fees(self.provider(), self.url(), fc).await?;
        tx.max_priority_fee_per_gas =
            bumped(tx.max_priority_fee_per_gas).max(now.max_priority_fee_per_gas);
        tx.max_fee_per_gas = bumped(tx.max_fee_per_gas)
            .max(now.max_fee_per_gas)
            .max(tx.max_priority_fee_per_gas);
        let nonce = tx.nonce;
        let signed = tx.sign(self.signer_for(from)?)?;
        Ok(SignedTx {
            hash: signed.hash,
            raw: signed.encoded_2718().into(),
            nonce,
            from,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fees_of_a_cip64_transaction_are_read_from_its_bytes() {
        use alloy::primitives::{Bytes, TxKind, U256};
        let signer = alloy::signers::local::PrivateKeySigner::random();
        let tx = crate::cip64::TxCip64 {
            chain_id: 42220,
            nonce: 3,
            max_priority_fee_per_gas: 1_000_000_000,
            max_fee_per_gas: 52_000_000_000,
            gas_limit: 100_000,
            to: TxKind::Call(Address::repeat_byte(1)),
            value: U256::ZERO,
            input: Bytes::new(),
            access_list: Default::default(),
            fee_currency: Some(Address::repeat_byte(2)),
        };
        let raw = tx.sign(&signer).unwrap().encoded_2718();
        assert_eq!(
            fees_of(&raw).unwrap(),
            (52_000_000_000, Some(1_000_000_000))
        );
        assert!(fees_of(&raw[1..]).is_err(), "not a transaction");
    }

    #[test]
    fn a_replacement_pays_at_least_ten_percent_more() {
        assert_eq!(bumped(100), 111);
        assert_eq!(bumped(25_000_000_000), 27_500_000_001);
        // Rounded up: a node computing old * 110 / 100 never finds the replacement short.
        for fee in [1u128, 7, 9, 13, 999, 1_000_000_007] {
            assert!(bumped(fee) * 100 >= fee * 110, "{fee}");
        }
    }
}
