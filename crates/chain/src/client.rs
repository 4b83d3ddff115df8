//! A connection to a node with the signers of one kiosk (or of a deployment script), sending transactions
//! under the profile's gas policy and decoding reverts.

use std::time::Duration;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::eips::BlockNumberOrTag;
use alloy::eips::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet};
use alloy::network::{NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::fillers::ChainIdFiller;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;

use crate::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess, TestStablecoin,
};
use crate::{ChainError, Deployment, GasPolicy};

/// How long to wait for a transaction to be mined before giving up on it.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Extra gas on every signed write: one storage slot set from zero (EIP-2200's 20,000), see [`Chain::sign`].
pub const SSTORE_SET_MARGIN: u64 = 20_000;

/// A node connection with in-memory signers and a gas policy.
#[derive(Clone)]
pub struct Chain {
    provider: DynProvider,
    url: String,
    policy: GasPolicy,
    chain_id: u64,
    signers: Vec<PrivateKeySigner>,
    wallet: EthereumWallet,
}

/// A transaction signed locally with an explicit nonce: it can be stored before it is broadcast, and broadcast
/// again byte for byte after a crash, so it lands at most once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SignedTx {
    /// Transaction hash.
    pub hash: B256,
    /// EIP-2718 encoding, as `eth_sendRawTransaction` takes it.
    pub raw: Bytes,
    /// Its nonce.
    pub nonce: u64,
    /// Its sender.
    pub from: Address,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("url", &self.url)
            .field("chain_id", &self.chain_id)
            .field(
                "signers",
                &self.signers.iter().map(|s| s.address()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Chain {
    /// Connects to `url`, checks the node answers, and signs with `signers` (the first is the default sender).
    pub async fn connect(
        url: &str,
        policy: GasPolicy,
        signers: Vec<PrivateKeySigner>,
    ) -> Result<Chain, ChainError> {
        let parsed = url
            .parse()
            .map_err(|_| ChainError::Invalid(format!("not a URL: {url}")))?;
        let mut wallet = EthereumWallet::default();
        for s in &signers {
            wallet.register_signer(s.clone());
        }
        // Nonces are asked of the node for every transaction (pending count): a cached nonce manager would skip a
        // nonce whenever gas estimation fails on a revert, and the next transaction would hang behind the gap.
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .with_gas_estimation()
            .with_simple_nonce_management()
            .filler(ChainIdFiller::default())
            .wallet(wallet.clone())
            .connect_http(parsed);
        let local = url.starts_with("http://127.0.0.1") || url.starts_with("http://localhost");
        provider.client().set_poll_interval(if local {
            Duration::from_millis(10)
        } else {
            Duration::from_secs(1)
        });
        let provider = provider.erased();
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| ChainError::node(url, e))?;
        Ok(Chain {
            provider,
            url: url.to_string(),
            policy,
            chain_id,
            signers,
            wallet,
        })
    }

    /// The same connection with more signers.
    pub async fn with_signers(&self, more: Vec<PrivateKeySigner>) -> Result<Chain, ChainError> {
        let mut all = self.signers.clone();
        all.extend(more);
        Chain::connect(&self.url, self.policy, all).await
    }

    /// Fails unless the node reports `expected` as its chain id.
    pub fn expect_chain_id(&self, expected: u64, what: &str) -> Result<(), ChainError> {
        if self.chain_id != expected {
            return Err(ChainError::WrongChain {
                what: what.to_string(),
                expected,
                actual: self.chain_id,
            });
        }
        Ok(())
    }

    /// The provider (for reads and contract instances).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The wallet holding the signers (for signing replacements).
    pub(crate) fn wallet(&self) -> &EthereumWallet {
        &self.wallet
    }

    /// The gas policy.
    pub fn policy(&self) -> GasPolicy {
        self.policy
    }

    /// Addresses of the signers, default sender first.
    pub fn signer_addresses(&self) -> Vec<Address> {
        self.signers.iter().map(|s| s.address()).collect()
    }

    /// The latest block number.
    pub async fn block_number(&self) -> Result<u64, ChainError> {
        self.provider
            .get_block_number()
            .await
            .map_err(|e| ChainError::node(&self.url, e))
    }

    /// The latest block's timestamp (unix seconds): the time the contracts see.
    pub async fn latest_timestamp(&self) -> Result<u64, ChainError> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| ChainError::node(&self.url, e))?
            .ok_or_else(|| ChainError::Failed("the node returned no latest block".into()))?;
        Ok(block.header.timestamp)
    }

    /// Sends a contract call (or deployment) from `from` under the gas policy, waits for its receipt, and turns
    /// a revert into [`ChainError::Reverted`] with the custom error decoded.
    pub async fn send<D: CallDecoder>(
        &self,
        from: Address,
        call: CallBuilder<&DynProvider, D, Ethereum>,
    ) -> Result<TransactionReceipt, ChainError> {
        let base_fee = self.base_fee().await?;
        let (gas_price, max_fee, priority) = self.policy.fees(base_fee);
        let mut call = call.from(from);
        if let Some(p) = gas_price {
            call = call.gas_price(p);
        }
        if let (Some(m), Some(p)) = (max_fee, priority) {
            call = call.max_fee_per_gas(m).max_priority_fee_per_gas(p);
        }
        let pending = call
            .send()
            .await
            .map_err(|e| ChainError::from_contract(&self.url, e))?;
        let hash = *pending.tx_hash();
        tracing::debug!(%hash, "transaction sent");
        let receipt = pending
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(|e| ChainError::node(&self.url, format!("waiting for {hash}: {e}")))?;
        if !receipt.status() {
            // Re-run the call at the receipt's block to learn the reason.
            let replay = call
                .block(receipt.block_number.unwrap_or_default().into())
                .call_raw()
                .await;
            if let Err(e) = replay {
                if let Some(data) = e.as_revert_data() {
                    return Err(ChainError::Reverted(crate::error::decode_revert(&data)));
                }
            }
            return Err(ChainError::Failed(hash.to_string()));
        }
        Ok(receipt)
    }

    /// Estimates a call's gas from `from` (as the paper measured its view functions), decoding reverts.
    pub async fn estimate<D: CallDecoder>(
        &self,
        from: Address,
        call: CallBuilder<&DynProvider, D, Ethereum>,
    ) -> Result<u64, ChainError> {
        call.from(from)
            .estimate_gas()
            .await
            .map_err(|e| ChainError::from_contract(&self.url, e))
    }

    /// Signs a contract call from `from` with `nonce` under the gas policy, without sending it. Gas is
    /// estimated now (a call that would revert fails here, decoded), with a 25 % margin plus the price of one
    /// storage slot going from zero to non-zero (20,000): a write pipelined behind others in a block can find a
    /// counter at zero that was not at estimation (an insurer's reserve paid out meanwhile) and would otherwise
    /// run out of gas. Unused gas is not paid.
    pub async fn sign<D: CallDecoder>(
        &self,
        from: Address,
        call: CallBuilder<&DynProvider, D, Ethereum>,
        nonce: u64,
    ) -> Result<SignedTx, ChainError> {
        let mut req = call.from(from).into_transaction_request();
        req.set_nonce(nonce);
        req.set_chain_id(self.chain_id);
        // Estimated without the nonce: a nonce ahead of the mined ones (writes pipelined in one block) is not an
        // error of the call.
        let mut estimate = req.clone();
        estimate.nonce = None;
        let gas = self
            .provider
            .estimate_gas(estimate)
            .await
            .map_err(|e| self.rpc_error(e))?;
        req.set_gas_limit(gas + gas / 4 + SSTORE_SET_MARGIN);
        let base_fee = self.base_fee().await?;
        match self.policy.fees(base_fee) {
            (Some(p), _, _) => req.set_gas_price(p),
            (None, Some(m), Some(p)) => {
                req.set_max_fee_per_gas(m);
                req.set_max_priority_fee_per_gas(p);
            }
            _ => {}
        }
        let envelope = req
            .build(&self.wallet)
            .await
            .map_err(|e| ChainError::Invalid(format!("cannot sign as {from}: {e}")))?;
        Ok(SignedTx {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718().into(),
            nonce,
            from,
        })
    }

    /// Broadcasts a signed transaction. Sending the same bytes again is harmless: a node that already has it
    /// (or has mined it) is not an error.
    pub async fn broadcast(&self, tx: &SignedTx) -> Result<(), ChainError> {
        match self.provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let text = e.to_string().to_lowercase();
                if text.contains("already known") || text.contains("already imported") {
                    return Ok(());
                }
                if text.contains("nonce too low") {
                    // Either this very transaction was mined, or another took its nonce: the caller checks.
                    return match self.receipt(tx.hash).await? {
                        Some(_) => Ok(()),
                        None => Err(ChainError::Invalid(format!(
                            "nonce {} of {} was used by another transaction",
                            tx.nonce, tx.from
                        ))),
                    };
                }
                Err(self.rpc_error(e))
            }
        }
    }

    /// The receipt of a transaction, if it was mined.
    pub async fn receipt(&self, hash: B256) -> Result<Option<TransactionReceipt>, ChainError> {
        self.provider
            .get_transaction_receipt(hash)
            .await
            .map_err(|e| ChainError::node(&self.url, e))
    }

    /// The account's next nonce: counting pending transactions, or only mined ones.
    pub async fn nonce(&self, who: Address, pending: bool) -> Result<u64, ChainError> {
        let q = self.provider.get_transaction_count(who);
        let r = if pending {
            q.pending().await
        } else {
            q.latest().await
        };
        r.map_err(|e| ChainError::node(&self.url, e))
    }

    async fn base_fee(&self) -> Result<Option<u128>, ChainError> {
        Ok(match self.policy {
            GasPolicy::Legacy { .. } => None,
            GasPolicy::Eip1559 { .. } => self
                .provider
                .get_block_by_number(BlockNumberOrTag::Latest)
                .await
                .map_err(|e| ChainError::node(&self.url, e))?
                .and_then(|b| b.header.base_fee_per_gas)
                .map(u128::from),
        })
    }

    fn rpc_error(&self, e: alloy::transports::TransportError) -> ChainError {
        if let Some(data) = e.as_error_resp().and_then(|p| p.as_revert_data()) {
            return ChainError::Reverted(crate::error::decode_revert(&data));
        }
        ChainError::node(&self.url, e)
    }

    /// Sets an account's balance (Anvil only): how the local chain funds fresh keys.
    pub async fn devnet_set_balance(&self, who: Address, wei: U256) -> Result<(), ChainError> {
        self.provider
            .raw_request::<_, ()>("anvil_setBalance".into(), (who, wei))
            .await
            .map_err(|e| ChainError::node(&self.url, e))
    }

    /// The hub bound to this connection.
    pub fn hub(&self, d: &Deployment) -> PatientSmartCard::PatientSmartCardInstance<DynProvider> {
        PatientSmartCard::new(d.contracts.patient_smart_card, self.provider.clone())
    }

    /// HospitalRecord bound to this connection.
    pub fn records(&self, d: &Deployment) -> HospitalRecord::HospitalRecordInstance<DynProvider> {
        HospitalRecord::new(d.contracts.hospital_record, self.provider.clone())
    }

    /// PharmacyAccess bound to this connection.
    pub fn pharmacy(&self, d: &Deployment) -> PharmacyAccess::PharmacyAccessInstance<DynProvider> {
        PharmacyAccess::new(d.contracts.pharmacy_access, self.provider.clone())
    }

    /// InsuranceProvider bound to this connection.
    pub fn insurance(
        &self,
        d: &Deployment,
    ) -> InsuranceProvider::InsuranceProviderInstance<DynProvider> {
        InsuranceProvider::new(d.contracts.insurance_provider, self.provider.clone())
    }

    /// The payment token (ERC-20 calls work on any token; `mint` only on the test stablecoin).
    pub fn token(&self, d: &Deployment) -> TestStablecoin::TestStablecoinInstance<DynProvider> {
        TestStablecoin::new(d.contracts.token, self.provider.clone())
    }
}
