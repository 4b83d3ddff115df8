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
use crate::rpc::{RpcConfig, RpcService};
use crate::{ChainError, Deployment, GasPolicy};
use alloy::rpc::client::ClientBuilder;

/// The native coin's ticker for a chain id: CELO on Celo mainnet, Celo Sepolia and Alfajores, else ETH.
pub fn native_symbol(chain_id: u64) -> &'static str {
    match chain_id {
        42_220 | 11_142_220 | 44_787 => "CELO",
        _ => "ETH",
    }
}

/// How long to wait for a transaction to be mined before giving up on it.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// Extra gas on every signed write: one storage slot set from zero (EIP-2200's 20,000), see [`Chain::sign`].
pub const SSTORE_SET_MARGIN: u64 = 20_000;

/// A node connection with in-memory signers and a gas policy.
#[derive(Clone)]
pub struct Chain {
    provider: DynProvider,
    url: String,
    rpc: RpcConfig,
    service: RpcService,
    policy: GasPolicy,
    chain_id: u64,
    signers: Vec<PrivateKeySigner>,
    wallet: EthereumWallet,
    /// Pay gas in this token or adapter (CIP-64, Celo) instead of the native currency.
    fee_currency: Option<Address>,
}

/// What an account pays gas with ([`Chain::gas_funds`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GasFunds {
    /// The balance, in wei or in the fee currency's 18-decimal units.
    pub balance: U256,
    /// The fee currency gas is paid in, if not the native coin.
    pub fee_currency: Option<Address>,
    /// The node's gas price in the fee currency now (`eth_gasPrice`); `None` for the native coin.
    pub price_per_gas: Option<u128>,
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
    /// Connects to `url` with the RPC layer's defaults (no fallback URL), checks the node answers, and signs
    /// with `signers` (the first is the default sender).
    pub async fn connect(
        url: &str,
        policy: GasPolicy,
        signers: Vec<PrivateKeySigner>,
    ) -> Result<Chain, ChainError> {
        Self::connect_with(RpcConfig::for_url(url), policy, signers).await
    }

    /// Connects to `url` as `profile` says: its gas policy, RPC timeout and fallback URLs.
    pub async fn connect_profile(
        url: &str,
        profile: &crate::Profile,
        signers: Vec<PrivateKeySigner>,
    ) -> Result<Chain, ChainError> {
        let mut chain =
            Self::connect_with(RpcConfig::from_profile(url, profile), profile.gas, signers).await?;
        chain.fee_currency = profile.fee_currency.as_ref().map(|f| f.address);
        Ok(chain)
    }

    /// The token (or adapter) gas is paid in, when the profile names one (CIP-64).
    pub fn fee_currency(&self) -> Option<Address> {
        self.fee_currency
    }

    /// Connects through the RPC layer configured by `rpc` (primary URL first), checks the node answers, and
    /// signs with `signers`.
    pub async fn connect_with(
        rpc: RpcConfig,
        policy: GasPolicy,
        signers: Vec<PrivateKeySigner>,
    ) -> Result<Chain, ChainError> {
        let url = rpc.primary().to_string();
        let url = url.as_str();
        let service = RpcService::new(rpc.clone()).map_err(ChainError::Invalid)?;
        let local = crate::rpc::is_loopback(url);
        let client = ClientBuilder::default().transport(service.clone(), local);
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
            .connect_client(client);
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
            rpc,
            service,
            policy,
            chain_id,
            signers,
            wallet,
            fee_currency: None,
        })
    }

    /// The same connection with more signers.
    pub async fn with_signers(&self, more: Vec<PrivateKeySigner>) -> Result<Chain, ChainError> {
        let mut all = self.signers.clone();
        all.extend(more);
        let mut chain = Chain::connect_with(self.rpc.clone(), self.policy, all).await?;
        chain.fee_currency = self.fee_currency;
        Ok(chain)
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

    /// The primary RPC URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The RPC URL requests go to now: the primary, or a fallback while the primary fails.
    pub fn active_url(&self) -> &str {
        self.service.active_url()
    }

    /// The RPC layer's configuration.
    pub fn rpc_config(&self) -> &RpcConfig {
        &self.rpc
    }

    /// One quick look at the node for a status line (no retries): its block, or whether it is rate limiting
    /// or unreachable.
    pub async fn probe(&self) -> crate::rpc::Probe {
        self.service.probe().await
    }

    /// The balance of `who`, in wei.
    pub async fn balance(&self, who: Address) -> Result<U256, ChainError> {
        self.provider
            .get_balance(who)
            .await
            .map_err(|e| ChainError::node(&self.url, e))
    }

    /// What `who` pays gas with and how much it has: with a fee currency (CIP-64), its `balanceOf` (Celo's
    /// adapters answer in 18-decimal units, like the fees) and the node's gas price in it now; natively, the
    /// balance in wei and no price (the profile's floor prices it).
    pub async fn gas_funds(&self, who: Address) -> Result<GasFunds, ChainError> {
        let Some(fc) = self.fee_currency else {
            return Ok(GasFunds {
                balance: self.balance(who).await?,
                fee_currency: None,
                price_per_gas: None,
            });
        };
        // balanceOf(address) has the same selector on the test token, cUSD and Celo's adapters.
        let balance = crate::bindings::TestStablecoin::new(fc, self.provider.clone())
            .balanceOf(who)
            .call()
            .await
            .map_err(|e| ChainError::from_contract_error(&self.url, e))?;
        let price = crate::cip64::gas_price(&self.provider, &self.url, fc).await?;
        Ok(GasFunds {
            balance,
            fee_currency: Some(fc),
            price_per_gas: Some(price),
        })
    }

    /// The chain's native coin: CELO on Celo's networks, ETH elsewhere (the local chain).
    pub fn native_symbol(&self) -> &'static str {
        native_symbol(self.chain_id)
    }

    /// Fills in who has to be funded, and with how much they have, when the node said "insufficient funds".
    async fn with_funds(&self, e: ChainError, from: Address) -> ChainError {
        match e {
            ChainError::OutOfFunds {
                account: None,
                reason,
                ..
            } => ChainError::OutOfFunds {
                account: Some(from),
                balance_wei: self.balance(from).await.ok(),
                symbol: self.native_symbol().to_string(),
                reason,
            },
            other => other,
        }
    }

    /// The chain id the node reported.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The signer of `from` (for signing CIP-64 replacements).
    pub(crate) fn signer_for(&self, from: Address) -> Result<&PrivateKeySigner, ChainError> {
        self.signers
            .iter()
            .find(|s| s.address() == from)
            .ok_or_else(|| ChainError::Invalid(format!("no signer for {from}")))
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

    /// Block `n` with its transactions in full (a block the node does not have is an error).
    pub async fn full_block(&self, n: u64) -> Result<alloy::rpc::types::Block, ChainError> {
        self.provider
            .get_block_by_number(n.into())
            .full()
            .await
            .map_err(|e| ChainError::node(&self.url, e))?
            .ok_or_else(|| ChainError::Failed(format!("the node has no block {n}")))
    }

    /// Sends a contract call (or deployment) from `from` under the gas policy, waits for its receipt, and turns
    /// a revert into [`ChainError::Reverted`] with the custom error decoded.
    pub async fn send<D: CallDecoder>(
        &self,
        from: Address,
        call: CallBuilder<&DynProvider, D, Ethereum>,
    ) -> Result<TransactionReceipt, ChainError> {
        if self.fee_currency.is_some() {
            // alloy's wallet would send a type-2 transaction paid in CELO: sign as CIP-64 and broadcast.
            return self.send_signed(from, call).await;
        }
        let base_fee = self.base_fee().await?;
        let (gas_price, max_fee, priority) = self.policy.fees(base_fee);
        let mut call = call.from(from);
        if let Some(p) = gas_price {
            call = call.gas_price(p);
        }
        if let (Some(m), Some(p)) = (max_fee, priority) {
            call = call.max_fee_per_gas(m).max_priority_fee_per_gas(p);
        }
        let pending = match call.send().await {
            Ok(p) => p,
            Err(e) => {
                let e = ChainError::from_contract(&self.url, e);
                return Err(self.with_funds(e, from).await);
            }
        };
        let hash = *pending.tx_hash();
        tracing::debug!(%hash, "transaction sent");
        let receipt = pending
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(|e| match ChainError::node(&self.url, e) {
                ChainError::Node { url, reason } => ChainError::Node {
                    url,
                    reason: format!("waiting for {hash}: {reason}"),
                },
                other => other,
            })?;
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
        match call.from(from).estimate_gas().await {
            Ok(g) => Ok(g),
            Err(e) => Err(self
                .with_funds(ChainError::from_contract(&self.url, e), from)
                .await),
        }
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
        if let Some(fc) = self.fee_currency {
            return self.sign_cip64(from, req, estimate, fc).await;
        }
        let gas = match self.provider.estimate_gas(estimate).await {
            Ok(g) => g,
            Err(e) => return Err(self.with_funds(self.rpc_error(e), from).await),
        };
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

    /// [`Chain::sign`] on Celo with a fee currency: a CIP-64 transaction (type 0x7b) whose gas is estimated and
    /// priced by the node in the fee currency (which counts the currency's own intrinsic gas).
    async fn sign_cip64(
        &self,
        from: Address,
        mut req: alloy::rpc::types::TransactionRequest,
        estimate: alloy::rpc::types::TransactionRequest,
        fee_currency: Address,
    ) -> Result<SignedTx, ChainError> {
        let gas =
            crate::cip64::estimate_gas(&self.provider, &self.url, &estimate, fee_currency).await?;
        req.set_gas_limit(gas + gas / 4 + SSTORE_SET_MARGIN);
        let fees = crate::cip64::fees(&self.provider, &self.url, fee_currency).await?;
        req.set_max_fee_per_gas(fees.max_fee_per_gas);
        req.set_max_priority_fee_per_gas(fees.max_priority_fee_per_gas);
        crate::cip64::sign_request(&req, fee_currency, self.signer_for(from)?)
    }

    /// Signs with the next nonce, broadcasts, and waits for the receipt (the CIP-64 path of [`Chain::send`]).
    async fn send_signed<D: CallDecoder>(
        &self,
        from: Address,
        call: CallBuilder<&DynProvider, D, Ethereum>,
    ) -> Result<TransactionReceipt, ChainError> {
        let nonce = self.nonce(from, true).await?;
        let tx = self.sign(from, call, nonce).await?;
        self.broadcast(&tx).await?;
        let deadline = std::time::Instant::now() + RECEIPT_TIMEOUT;
        loop {
            if let Some(r) = self.receipt(tx.hash).await? {
                if !r.status() {
                    return Err(ChainError::Failed(tx.hash.to_string()));
                }
                return Ok(r);
            }
            if std::time::Instant::now() > deadline {
                return Err(ChainError::node(
                    &self.url,
                    format!(
                        "{} was not mined within {} s",
                        tx.hash,
                        RECEIPT_TIMEOUT.as_secs()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
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
                Err(self.with_funds(self.rpc_error(e), tx.from).await)
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

#[cfg(test)]
mod tests {
    use alloy::contract::CallBuilder;

    use super::*;
    use crate::devnet::{Devnet, DevnetOptions};

    /// A key with no coin cannot pay for gas: the node's refusal is OutOfFunds, naming the account and balance,
    /// whichever way the transaction goes out.
    #[tokio::test]
    async fn an_unfunded_key_is_out_of_funds_on_anvil() {
        let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
        let poor = PrivateKeySigner::random();
        let chain = Chain::connect(&devnet.url, GasPolicy::PAPER, vec![poor.clone()])
            .await
            .unwrap();
        assert_eq!(chain.balance(poor.address()).await.unwrap(), U256::ZERO);
        let to = Address::repeat_byte(0x11);
        // Signed with an explicit nonce, then broadcast (the outbox's way).
        let call = CallBuilder::new_raw(chain.provider(), Bytes::new()).to(to);
        let tx = chain.sign(poor.address(), call, 0).await.unwrap();
        let e = chain.broadcast(&tx).await.unwrap_err();
        assert_eq!(e.kind(), "out-of-funds", "{e}");
        match &e {
            ChainError::OutOfFunds {
                account,
                balance_wei,
                symbol,
                ..
            } => {
                assert_eq!(*account, Some(poor.address()));
                assert_eq!(*balance_wei, Some(U256::ZERO));
                assert_eq!(symbol, "ETH");
            }
            other => panic!("{other:?}"),
        }
        let m = e.to_string();
        assert!(
            m.contains(&poor.address().to_string()) && m.contains("fund it"),
            "{m}"
        );
        assert!(!e.is_transient() && !e.is_unreachable());
        // Filled and sent by alloy (deployments and admin commands).
        let call = CallBuilder::new_raw(chain.provider(), Bytes::new()).to(to);
        let e = chain.send(poor.address(), call).await.unwrap_err();
        assert_eq!(e.kind(), "out-of-funds", "{e}");
        devnet.stop().await;
    }
}
