//! Celo's CIP-64 transactions (EIP-2718 type `0x7b`): EIP-1559 transactions whose gas is paid in an allowlisted
//! ERC-20 token (a "fee currency") instead of CELO, so an institution's kiosk need not hold CELO.
//!
//! No maintained Rust crate encodes them on our alloy version (foundry carries a copy inside its own unpublished
//! crates), so this module does, on `alloy::rlp` and `alloy::primitives`, after the specification
//! (celo-org/celo-proposals, `CIPs/cip-0064.md`):
//!
//! - payload: `0x7b || rlp([chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
//!   accessList, feeCurrency, signatureYParity, signatureR, signatureS])`;
//! - the signature is over `keccak256(0x7b || rlp([chainId, …, accessList, feeCurrency]))`;
//! - the transaction hash is the keccak of the whole payload, as for every typed transaction.
//!
//! As in Celo's node (op-geth `CeloDynamicFeeTxV2`), an absent `to` (contract creation) and an absent
//! `feeCurrency` (pay in CELO) are both the empty string.
//!
//! The fee-currency address is the token itself for 18-decimal tokens (cUSD) and the token's *adapter* for
//! others (USDC, USDT): Celo prices gas in 18 decimals and the adapter converts. Fees (`maxFeePerGas`,
//! `maxPriorityFeePerGas`) are in units of the fee currency (18-decimal units for an adapter): ask the node with
//! [`fees`], which calls `eth_gasPrice` and `eth_maxPriorityFeePerGas` with the fee currency as their parameter
//! (Celo's extension of both methods). Debiting and crediting the fee currency costs gas the plain estimate
//! does not count: [`estimate_gas`] sends `feeCurrency` in the call so a Celo node includes it, and
//! [`FEE_CURRENCY_INTRINSIC_GAS`] is the documented figure to add to an estimate made without it.

use alloy::eips::eip2930::AccessList;
use alloy::primitives::{keccak256, Address, Bytes, Signature, TxKind, B256, U256};
use alloy::providers::Provider;
use alloy::rlp::{BufMut, Decodable, Encodable, Header, EMPTY_STRING_CODE};
use alloy::rpc::types::TransactionRequest;
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::SignerSync;

use crate::{ChainError, SignedTx};

/// The EIP-2718 type byte of a CIP-64 transaction.
pub const CIP64_TX_TYPE: u8 = 0x7b;

/// Extra gas a transaction paying in a fee currency uses for the token's `debitGasFees` and `creditGasFees`
/// calls: "approximately 50k additional gas" (docs.celo.org, fee abstraction), and the `intrinsicGas` of the
/// fee currencies in Celo's own node tests (op-geth tracer fixture `fee_currency.json`: a 21,000-gas transfer
/// uses 71,000). The exact figure of each currency is its `intrinsicGas` in the `FeeCurrencyDirectory`
/// contract; the node refuses a transaction whose limit does not cover it.
pub const FEE_CURRENCY_INTRINSIC_GAS: u64 = 50_000;

/// An unsigned CIP-64 transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxCip64 {
    /// Chain id (42220 on Celo mainnet, 11142220 on Celo Sepolia).
    pub chain_id: u64,
    /// Sender's nonce.
    pub nonce: u64,
    /// Tip per gas, in the fee currency's units.
    pub max_priority_fee_per_gas: u128,
    /// Fee cap per gas, in the fee currency's units.
    pub max_fee_per_gas: u128,
    /// Gas limit (including the fee currency's intrinsic gas).
    pub gas_limit: u64,
    /// Recipient, or contract creation.
    pub to: TxKind,
    /// CELO sent along, in wei.
    pub value: U256,
    /// Call data.
    pub input: Bytes,
    /// EIP-2930 access list.
    pub access_list: AccessList,
    /// The token (or adapter) that pays the gas; `None` pays in CELO.
    pub fee_currency: Option<Address>,
}

impl TxCip64 {
    fn fields_length(&self) -> usize {
        self.chain_id.length()
            + self.nonce.length()
            + self.max_priority_fee_per_gas.length()
            + self.max_fee_per_gas.length()
            + self.gas_limit.length()
            + self.to.length()
            + self.value.length()
            + self.input.length()
            + self.access_list.length()
            + self.fee_currency.map_or(1, |a| a.length())
    }

    fn encode_fields(&self, out: &mut dyn BufMut) {
        self.chain_id.encode(out);
        self.nonce.encode(out);
        self.max_priority_fee_per_gas.encode(out);
        self.max_fee_per_gas.encode(out);
        self.gas_limit.encode(out);
        self.to.encode(out);
        self.value.encode(out);
        self.input.encode(out);
        self.access_list.encode(out);
        match self.fee_currency {
            Some(a) => a.encode(out),
            None => out.put_u8(EMPTY_STRING_CODE),
        }
    }

    fn decode_fields(buf: &mut &[u8]) -> alloy::rlp::Result<Self> {
        Ok(TxCip64 {
            chain_id: Decodable::decode(buf)?,
            nonce: Decodable::decode(buf)?,
            max_priority_fee_per_gas: Decodable::decode(buf)?,
            max_fee_per_gas: Decodable::decode(buf)?,
            gas_limit: Decodable::decode(buf)?,
            to: Decodable::decode(buf)?,
            value: Decodable::decode(buf)?,
            input: Decodable::decode(buf)?,
            access_list: Decodable::decode(buf)?,
            fee_currency: match buf.first() {
                Some(&EMPTY_STRING_CODE) => {
                    *buf = &buf[1..];
                    None
                }
                _ => Some(Address::decode(buf)?),
            },
        })
    }

    /// The bytes a sender signs the hash of: `0x7b || rlp([chainId, …, accessList, feeCurrency])`.
    pub fn encoded_for_signing(&self) -> Vec<u8> {
        let header = Header {
            list: true,
            payload_length: self.fields_length(),
        };
        let mut out = Vec::with_capacity(1 + header.length_with_payload());
        out.put_u8(CIP64_TX_TYPE);
        header.encode(&mut out);
        self.encode_fields(&mut out);
        out
    }

    /// The hash a sender signs.
    pub fn signature_hash(&self) -> B256 {
        keccak256(self.encoded_for_signing())
    }

    /// The signed EIP-2718 encoding, `0x7b || rlp([…, feeCurrency, yParity, r, s])`, as `eth_sendRawTransaction`
    /// takes it.
    pub fn encoded_2718(&self, signature: &Signature) -> Vec<u8> {
        let header = Header {
            list: true,
            payload_length: self.fields_length() + signature.v().length() + signature.rlp_rs_len(),
        };
        let mut out = Vec::with_capacity(1 + header.length_with_payload());
        out.put_u8(CIP64_TX_TYPE);
        header.encode(&mut out);
        self.encode_fields(&mut out);
        signature.write_rlp_vrs(&mut out, signature.v());
        out
    }

    /// Signs with `signer` (synchronously: a local key).
    pub fn sign(self, signer: &PrivateKeySigner) -> Result<SignedCip64, ChainError> {
        if self.chain_id == 0 {
            return Err(ChainError::Invalid(
                "a CIP-64 transaction needs the chain id (42220 on Celo, 11142220 on Celo Sepolia)"
                    .into(),
            ));
        }
        if self.max_priority_fee_per_gas > self.max_fee_per_gas {
            return Err(ChainError::Invalid(format!(
                "the tip ({}) is above the fee cap ({}): the node would refuse the transaction",
                self.max_priority_fee_per_gas, self.max_fee_per_gas
            )));
        }
        let signature = signer.sign_hash_sync(&self.signature_hash()).map_err(|e| {
            ChainError::Invalid(format!("signing a CIP-64 transaction failed: {e}"))
        })?;
        Ok(SignedCip64::new(self, signature))
    }
}

/// A signed CIP-64 transaction with its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCip64 {
    /// The transaction.
    pub tx: TxCip64,
    /// The sender's signature over [`TxCip64::signature_hash`].
    pub signature: Signature,
    /// The transaction hash: keccak of the EIP-2718 encoding.
    pub hash: B256,
}

impl SignedCip64 {
    /// Pairs a transaction with its signature and computes the hash.
    pub fn new(tx: TxCip64, signature: Signature) -> Self {
        let hash = keccak256(tx.encoded_2718(&signature));
        SignedCip64 {
            tx,
            signature,
            hash,
        }
    }

    /// The EIP-2718 encoding.
    pub fn encoded_2718(&self) -> Vec<u8> {
        self.tx.encoded_2718(&self.signature)
    }

    /// The sender, recovered from the signature.
    pub fn recover_signer(&self) -> Result<Address, ChainError> {
        self.signature
            .recover_address_from_prehash(&self.tx.signature_hash())
            .map_err(|e| ChainError::Invalid(format!("CIP-64 signature does not recover: {e}")))
    }

    /// Decodes an EIP-2718 encoded CIP-64 transaction; the hash is that of `raw`. Refuses another type, trailing
    /// bytes and non-canonical RLP.
    pub fn decode_2718(raw: &[u8]) -> Result<Self, ChainError> {
        let bad =
            |why: String| ChainError::Invalid(format!("not a valid CIP-64 transaction: {why}"));
        let (&ty, mut buf) = raw.split_first().ok_or_else(|| bad("no bytes".into()))?;
        if ty != CIP64_TX_TYPE {
            return Err(bad(format!("type byte 0x{ty:02x}, expected 0x7b")));
        }
        let header = Header::decode(&mut buf).map_err(|e| bad(e.to_string()))?;
        if !header.list {
            return Err(bad("the payload is not an RLP list".into()));
        }
        if header.payload_length != buf.len() {
            return Err(bad(format!(
                "the list holds {} bytes but {} follow",
                header.payload_length,
                buf.len()
            )));
        }
        let tx = TxCip64::decode_fields(&mut buf).map_err(|e| bad(e.to_string()))?;
        let signature =
            Signature::decode_rlp_vrs(&mut buf, bool::decode).map_err(|e| bad(e.to_string()))?;
        if !buf.is_empty() {
            return Err(bad(format!("{} bytes after the signature", buf.len())));
        }
        Ok(SignedCip64 {
            tx,
            signature,
            hash: keccak256(raw),
        })
    }
}

/// Signs a transaction request as CIP-64, paying gas in `fee_currency`, and returns it ready to broadcast.
///
/// `req` must carry what `Chain::sign` fills in: `chain_id`, `nonce`, `gas` (with
/// [`FEE_CURRENCY_INTRINSIC_GAS`] included), `max_fee_per_gas` and `max_priority_fee_per_gas` (in the fee
/// currency's units, see [`fees`]), and `to` (`TxKind::Create` for a deployment). `from`, if set, must be
/// `signer`. A legacy `gas_price`, blobs or an EIP-7702 authorization list are refused: CIP-64 has no room
/// for them.
pub fn sign_request(
    req: &TransactionRequest,
    fee_currency: Address,
    signer: &PrivateKeySigner,
) -> Result<SignedTx, ChainError> {
    let missing = |what: &str| {
        ChainError::Invalid(format!(
            "a CIP-64 transaction needs `{what}` set before signing"
        ))
    };
    if req.gas_price.is_some() {
        return Err(ChainError::Invalid(
            "CIP-64 transactions take EIP-1559 fees, not a legacy gas price: set the profile's [gas] kind to \"eip1559\""
                .into(),
        ));
    }
    if req
        .blob_versioned_hashes
        .as_ref()
        .is_some_and(|b| !b.is_empty())
        || req.sidecar.is_some()
        || req
            .authorization_list
            .as_ref()
            .is_some_and(|a| !a.is_empty())
    {
        return Err(ChainError::Invalid(
            "CIP-64 transactions carry no blobs and no authorization list".into(),
        ));
    }
    let from = signer.address();
    if let Some(asked) = req.from.filter(|a| *a != from) {
        return Err(ChainError::Invalid(format!(
            "the request is from {asked} but the signer is {from}"
        )));
    }
    let tx = TxCip64 {
        chain_id: req.chain_id.ok_or_else(|| missing("chain_id"))?,
        nonce: req.nonce.ok_or_else(|| missing("nonce"))?,
        max_priority_fee_per_gas: req
            .max_priority_fee_per_gas
            .ok_or_else(|| missing("max_priority_fee_per_gas"))?,
        max_fee_per_gas: req
            .max_fee_per_gas
            .ok_or_else(|| missing("max_fee_per_gas"))?,
        gas_limit: req.gas.ok_or_else(|| missing("gas"))?,
        to: req.to.ok_or_else(|| missing("to"))?,
        value: req.value.unwrap_or_default(),
        input: req.input.input().cloned().unwrap_or_default(),
        access_list: req.access_list.clone().unwrap_or_default(),
        fee_currency: Some(fee_currency),
    };
    let nonce = tx.nonce;
    let signed = tx.sign(signer)?;
    Ok(SignedTx {
        hash: signed.hash,
        raw: signed.encoded_2718().into(),
        nonce,
        from,
    })
}

/// Fee fields for a CIP-64 transaction, in the fee currency's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cip64Fees {
    /// `maxFeePerGas`: twice the node's suggested gas price, so the transaction survives the base fee rising
    /// for a few blocks (unused fee is not charged).
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`: the node's suggested tip, never above the cap.
    pub max_priority_fee_per_gas: u128,
}

impl Cip64Fees {
    /// The fee fields from the node's suggestions in the fee currency: `gas_price` (`eth_gasPrice`: base fee
    /// plus tip) and `tip` (`eth_maxPriorityFeePerGas`).
    pub fn from_suggestions(gas_price: u128, tip: u128) -> Self {
        let max_fee_per_gas = gas_price.saturating_mul(2).max(tip);
        Cip64Fees {
            max_fee_per_gas,
            max_priority_fee_per_gas: tip.min(max_fee_per_gas),
        }
    }
}

/// Asks a Celo node for fees in `fee_currency`: `eth_gasPrice` and `eth_maxPriorityFeePerGas`, each with the
/// fee currency as its one parameter (Celo converts the CELO figures at the `FeeCurrencyDirectory` rate).
/// `url` only names the node in errors.
pub async fn fees<P: Provider>(
    provider: &P,
    url: &str,
    fee_currency: Address,
) -> Result<Cip64Fees, ChainError> {
    let price = gas_price(provider, url, fee_currency).await?;
    let tip: U256 = provider
        .raw_request("eth_maxPriorityFeePerGas".into(), (fee_currency,))
        .await
        .map_err(|e| fee_currency_rpc_error(url, "eth_maxPriorityFeePerGas", fee_currency, e))?;
    let as_u128 = |v: U256, what: &str| {
        u128::try_from(v).map_err(|_| {
            ChainError::node(
                url,
                format!("{what} in {fee_currency} is absurdly large: {v}"),
            )
        })
    };
    Ok(Cip64Fees::from_suggestions(
        price,
        as_u128(tip, "eth_maxPriorityFeePerGas")?,
    ))
}

/// The node's gas price in `fee_currency` (`eth_gasPrice` with the fee currency as its one parameter: the base
/// fee plus a tip, converted at the `FeeCurrencyDirectory` rate). `url` only names the node in errors.
pub async fn gas_price<P: Provider>(
    provider: &P,
    url: &str,
    fee_currency: Address,
) -> Result<u128, ChainError> {
    let price: U256 = provider
        .raw_request("eth_gasPrice".into(), (fee_currency,))
        .await
        .map_err(|e| fee_currency_rpc_error(url, "eth_gasPrice", fee_currency, e))?;
    u128::try_from(price).map_err(|_| {
        ChainError::node(
            url,
            format!("eth_gasPrice in {fee_currency} is absurdly large: {price}"),
        )
    })
}

/// Estimates `req`'s gas as a CIP-64 transaction: `eth_estimateGas` with `feeCurrency` in the call object, so
/// a Celo node counts the fee currency's intrinsic gas. `url` only names the node in errors.
pub async fn estimate_gas<P: Provider>(
    provider: &P,
    url: &str,
    req: &TransactionRequest,
    fee_currency: Address,
) -> Result<u64, ChainError> {
    let mut call = serde_json::to_value(req)
        .map_err(|e| ChainError::Invalid(format!("cannot encode the call: {e}")))?;
    if let Some(o) = call.as_object_mut() {
        o.insert(
            "feeCurrency".into(),
            serde_json::Value::String(fee_currency.to_checksum(None)),
        );
    }
    let gas: U256 = provider
        .raw_request("eth_estimateGas".into(), (call,))
        .await
        .map_err(|e| fee_currency_rpc_error(url, "eth_estimateGas", fee_currency, e))?;
    u64::try_from(gas).map_err(|_| ChainError::node(url, format!("eth_estimateGas answered {gas}")))
}

fn fee_currency_rpc_error(
    url: &str,
    method: &str,
    fee_currency: Address,
    e: alloy::transports::TransportError,
) -> ChainError {
    if let Some(data) = e.as_error_resp().and_then(|p| p.as_revert_data()) {
        return ChainError::Reverted(crate::error::decode_revert(&data));
    }
    ChainError::node(
        url,
        format!(
            "{method} with fee currency {fee_currency} failed ({e}); is the node a Celo node and the currency \
             on the FeeCurrencyDirectory allowlist?"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::eips::eip2930::AccessListItem;
    use alloy::primitives::{address, b256, hex};

    /// Anvil's (and viem's test suite's) first account.
    const KEY0: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const CUSD: Address = address!("765DE816845861e75A25fCA122bb6898B8B1282a");

    /// viem's `src/celo/serializers.test.ts` transaction: cUSD fees, 2 gwei caps, 1 CELO to account 0.
    fn viem_tx() -> TxCip64 {
        TxCip64 {
            chain_id: 42220,
            nonce: 1,
            max_priority_fee_per_gas: 2_000_000_000,
            max_fee_per_gas: 2_000_000_000,
            gas_limit: 0,
            to: TxKind::Call(address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266")),
            value: U256::from(10).pow(U256::from(18)),
            input: Bytes::new(),
            access_list: AccessList::default(),
            fee_currency: Some(CUSD),
        }
    }

    #[test]
    fn viem_unsigned_vector() {
        // viem: 'should be able to serialize a cip64 transaction' (the unsigned serialisation is the signing
        // payload).
        assert_eq!(
            hex::encode(viem_tx().encoded_for_signing()),
            "7bf84482a4ec01847735940084773594008094f39fd6e51aad88f6f4ce6ab8827279cfffb92266880de0b6b3a764000080c094765de816845861e75a25fca122bb6898b8b1282a"
        );
    }

    #[test]
    fn viem_signed_vector_with_known_key() {
        // viem: 'signed' — signTransaction with accounts[0]'s private key.
        let signer: PrivateKeySigner = KEY0.parse().unwrap();
        let signed = viem_tx().sign(&signer).unwrap();
        let expected = hex!("7bf88782a4ec01847735940084773594008094f39fd6e51aad88f6f4ce6ab8827279cfffb92266880de0b6b3a764000080c094765de816845861e75a25fca122bb6898b8b1282a01a087a588ffb7bec68b00d264932305b3badc3bfba2f48e9d3d916d038e1bb831a5a077e665b35849c636b52b3cc205acb98141b4a582fb84a7181e048dc5473c6d6d");
        assert_eq!(hex::encode(signed.encoded_2718()), hex::encode(expected));
        assert_eq!(signed.hash, keccak256(expected));
        assert_eq!(signed.recover_signer().unwrap(), signer.address());
        let decoded = SignedCip64::decode_2718(&expected).unwrap();
        assert_eq!(decoded, signed);
    }

    #[test]
    fn viem_fixed_signature_vectors() {
        // viem: 'signature' — the same transaction with r = s = 0x60fd…72fe and yParity 1, then 0.
        let rs = U256::from_be_bytes(
            b256!("60fdd29ff912ce880cd3edaf9f932dc61d3dae823ea77e0323f94adb9f6a72fe").0,
        );
        let one = SignedCip64::new(viem_tx(), Signature::new(rs, rs, true));
        assert_eq!(
            hex::encode(one.encoded_2718()),
            "7bf88782a4ec01847735940084773594008094f39fd6e51aad88f6f4ce6ab8827279cfffb92266880de0b6b3a764000080c094765de816845861e75a25fca122bb6898b8b1282a01a060fdd29ff912ce880cd3edaf9f932dc61d3dae823ea77e0323f94adb9f6a72fea060fdd29ff912ce880cd3edaf9f932dc61d3dae823ea77e0323f94adb9f6a72fe"
        );
        let zero = SignedCip64::new(viem_tx(), Signature::new(rs, rs, false));
        assert_eq!(
            hex::encode(zero.encoded_2718()),
            "7bf88782a4ec01847735940084773594008094f39fd6e51aad88f6f4ce6ab8827279cfffb92266880de0b6b3a764000080c094765de816845861e75a25fca122bb6898b8b1282a80a060fdd29ff912ce880cd3edaf9f932dc61d3dae823ea77e0323f94adb9f6a72fea060fdd29ff912ce880cd3edaf9f932dc61d3dae823ea77e0323f94adb9f6a72fe"
        );
        assert_ne!(one.hash, zero.hash);
    }

    #[test]
    fn op_geth_mined_vector_decodes_and_recovers_its_sender() {
        // celo-org/op-geth eth/tracers/internal/tracetest/testdata/call_tracer/fee_currency.json: a CIP-64
        // transfer of 2 wei to 0x…deadbeef paying in the fee currency at 0x…ce16, sent by 0x42cf…6a4a.
        let raw = hex!("7bf87e8205390380847735940083015f909400000000000000000000000000000000deadbeef0280c094000000000000000000000000000000000000ce1680a06b175ce301873e64da4ef5c2fa5c8f6eb61b9ab1d7bfbe103812a32ad94a5c4fa05d55f5f23e76ce11491f4776299a1a65d4af48924b330a7681e394b2ef8e173b");
        let signed = SignedCip64::decode_2718(&raw).unwrap();
        assert_eq!(
            signed.tx,
            TxCip64 {
                chain_id: 1337,
                nonce: 3,
                max_priority_fee_per_gas: 0,
                max_fee_per_gas: 2_000_000_000,
                gas_limit: 90_000,
                to: TxKind::Call(address!("00000000000000000000000000000000deadbeef")),
                value: U256::from(2),
                input: Bytes::new(),
                access_list: AccessList::default(),
                fee_currency: Some(address!("000000000000000000000000000000000000ce16")),
            }
        );
        // Recovering the fixture's sender proves the signing hash (type byte, field order, feeCurrency last).
        assert_eq!(
            signed.recover_signer().unwrap(),
            address!("42cf1bbc38baaa3c4898ce8790e21ed2738c6a4a")
        );
        assert_eq!(signed.encoded_2718(), raw.to_vec());
        assert_eq!(signed.hash, keccak256(raw));
    }

    #[test]
    fn round_trips_creation_access_list_data_and_native_fees() {
        let signer = PrivateKeySigner::random();
        let tx = TxCip64 {
            chain_id: 11_142_220,
            nonce: 300,
            max_priority_fee_per_gas: 1,
            max_fee_per_gas: u128::MAX,
            gas_limit: 1_000_000,
            to: TxKind::Create,
            value: U256::ZERO,
            input: Bytes::from(vec![0xde, 0xad, 0xbe, 0xef, 0x00]),
            access_list: AccessList(vec![AccessListItem {
                address: address!("0000000000000000000000000000000000000001"),
                storage_keys: vec![B256::ZERO, B256::repeat_byte(0x42)],
            }]),
            fee_currency: None,
        };
        let signed = tx.clone().sign(&signer).unwrap();
        let raw = signed.encoded_2718();
        let back = SignedCip64::decode_2718(&raw).unwrap();
        assert_eq!(back, signed);
        assert_eq!(back.recover_signer().unwrap(), signer.address());
        // The fee currency is signed: changing it changes the signing hash.
        let mut other = tx;
        other.fee_currency = Some(CUSD);
        assert_ne!(other.signature_hash(), signed.tx.signature_hash());
    }

    #[test]
    fn decoding_refuses_wrong_type_truncation_and_trailing_bytes() {
        let signer: PrivateKeySigner = KEY0.parse().unwrap();
        let raw = viem_tx().sign(&signer).unwrap().encoded_2718();
        let mut wrong_type = raw.clone();
        wrong_type[0] = 0x02;
        let e = SignedCip64::decode_2718(&wrong_type)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0x02"), "{e}");
        assert!(SignedCip64::decode_2718(&raw[..raw.len() - 1]).is_err());
        let mut trailing = raw.clone();
        trailing.push(0);
        assert!(SignedCip64::decode_2718(&trailing).is_err());
        assert!(SignedCip64::decode_2718(&[]).is_err());
    }

    fn request(fee_cap: u128) -> TransactionRequest {
        TransactionRequest {
            to: Some(TxKind::Call(address!(
                "00000000000000000000000000000000deadbeef"
            ))),
            nonce: Some(7),
            chain_id: Some(42220),
            gas: Some(21_000 + FEE_CURRENCY_INTRINSIC_GAS),
            max_fee_per_gas: Some(fee_cap),
            max_priority_fee_per_gas: Some(1),
            input: Bytes::from(vec![1, 2, 3]).into(),
            ..Default::default()
        }
    }

    #[test]
    fn sign_request_gives_a_broadcastable_signed_tx() {
        let signer: PrivateKeySigner = KEY0.parse().unwrap();
        let mut req = request(50_000_000_000);
        req.from = Some(signer.address());
        let s = sign_request(&req, CUSD, &signer).unwrap();
        assert_eq!((s.nonce, s.from), (7, signer.address()));
        assert_eq!(s.raw[0], CIP64_TX_TYPE);
        assert_eq!(s.hash, keccak256(&s.raw));
        let back = SignedCip64::decode_2718(&s.raw).unwrap();
        assert_eq!(back.tx.fee_currency, Some(CUSD));
        assert_eq!(back.tx.gas_limit, 71_000);
        assert_eq!(back.tx.input.as_ref(), &[1, 2, 3]);
        assert_eq!(back.recover_signer().unwrap(), signer.address());
    }

    #[test]
    fn sign_request_says_what_is_missing_or_wrong() {
        let signer: PrivateKeySigner = KEY0.parse().unwrap();
        let mut no_gas = request(10);
        no_gas.gas = None;
        let e = sign_request(&no_gas, CUSD, &signer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`gas`"), "{e}");
        let mut legacy = request(10);
        legacy.gas_price = Some(10);
        let e = sign_request(&legacy, CUSD, &signer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("eip1559"), "{e}");
        let mut other_sender = request(10);
        other_sender.from = Some(Address::repeat_byte(1));
        assert!(sign_request(&other_sender, CUSD, &signer).is_err());
        let e = sign_request(&request(0), CUSD, &signer)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tip"), "{e}");
        let mut no_chain = request(10);
        no_chain.chain_id = Some(0);
        assert!(sign_request(&no_chain, CUSD, &signer).is_err());
    }

    /// A JSON-RPC node on loopback that answers with `answer(method, params)` and records every request.
    fn fake_node(
        answer: fn(&str, &serde_json::Value) -> Result<serde_json::Value, String>,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut length = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            break;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap();
                        }
                    }
                    if line != "\r\n" {
                        break;
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let req: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    log.lock().unwrap().push(req.clone());
                    let out = match answer(req["method"].as_str().unwrap(), &req["params"]) {
                        Ok(result) => {
                            serde_json::json!({"jsonrpc": "2.0", "id": req["id"], "result": result})
                        }
                        Err(message) => serde_json::json!({"jsonrpc": "2.0", "id": req["id"],
                            "error": {"code": -32000, "message": message}}),
                    }
                    .to_string();
                    write!(
                        conn,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{out}",
                        out.len()
                    )
                    .unwrap();
                }
            }
        });
        (url, seen)
    }

    fn celo_like(method: &str, params: &serde_json::Value) -> Result<serde_json::Value, String> {
        let currency = |v: &serde_json::Value| {
            v.as_str().is_some_and(|s| {
                s.eq_ignore_ascii_case("0x765DE816845861e75A25fCA122bb6898B8B1282a")
            })
        };
        match method {
            "eth_chainId" => Ok("0xa4ec".into()),
            "eth_gasPrice" if currency(&params[0]) => Ok("0x6fc23ac00".into()), // 30 gwei
            "eth_maxPriorityFeePerGas" if currency(&params[0]) => Ok("0x3b9aca00".into()), // 1 gwei
            "eth_estimateGas" if currency(&params[0]["feeCurrency"]) => Ok("0x11558".into()), // 71,000
            // balanceOf(…) on the fee currency: 2.5 cUSD.
            "eth_call"
                if currency(&params[0]["to"])
                    && params[0]["input"]
                        .as_str()
                        .or(params[0]["data"].as_str())
                        .is_some_and(|d| d.starts_with("0x70a08231")) =>
            {
                Ok(format!("0x{:064x}", 2_500_000_000_000_000_000u128).into())
            }
            _ => Err(format!("{method}: not a fee currency call: {params}")),
        }
    }

    #[tokio::test]
    async fn fees_and_estimate_ask_the_node_in_the_fee_currency() {
        use alloy::providers::ProviderBuilder;
        let (url, seen) = fake_node(celo_like);
        let provider = ProviderBuilder::new().connect_http(url.parse().unwrap());
        let f = fees(&provider, &url, CUSD).await.unwrap();
        assert_eq!(
            f,
            Cip64Fees {
                max_fee_per_gas: 60_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000
            }
        );
        let gas = estimate_gas(&provider, &url, &request(1), CUSD)
            .await
            .unwrap();
        assert_eq!(gas, 71_000);
        let seen = seen.lock().unwrap();
        let methods: Vec<&str> = seen.iter().map(|r| r["method"].as_str().unwrap()).collect();
        assert_eq!(
            methods,
            [
                "eth_gasPrice",
                "eth_maxPriorityFeePerGas",
                "eth_estimateGas"
            ]
        );
        // The estimated call is the request itself, plus the fee currency.
        assert_eq!(
            seen[2]["params"][0]["to"].as_str().unwrap(),
            "0x00000000000000000000000000000000deadbeef"
        );
    }

    #[tokio::test]
    async fn a_node_without_the_fee_currency_says_what_to_check() {
        use alloy::providers::ProviderBuilder;
        let (url, _) = fake_node(celo_like);
        let provider = ProviderBuilder::new().connect_http(url.parse().unwrap());
        let e = fees(&provider, &url, Address::repeat_byte(7))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("FeeCurrencyDirectory") && e.contains(&url),
            "{e}"
        );
    }

    /// A chain on the fake Celo node whose profile pays gas in cUSD, with KEY0's signer; what the node was asked.
    async fn celo_chain() -> (
        crate::Chain,
        crate::Profile,
        Address,
        std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    ) {
        let (url, seen) = fake_node(celo_like);
        let text = format!(
            "name = \"celo-test\"\nchain_id = 42220\nrpc_url = \"{url}\"\n[gas]\nkind = \"eip1559\"\n\
             base_fee_floor_wei = 25000000000\npriority_fee_wei = 1000000000\n[token]\nsymbol = \"cUSD\"\n\
             decimals = 18\n[fee_currency]\naddress = \"{CUSD}\"\nsymbol = \"cUSD\"\ndecimals = 18\n"
        );
        let profile = crate::Profile::parse(&text, "test").unwrap();
        let signer: PrivateKeySigner = KEY0.parse().unwrap();
        let who = signer.address();
        let chain = crate::Chain::connect_profile(&url, &profile, vec![signer])
            .await
            .unwrap();
        (chain, profile, who, seen)
    }

    #[tokio::test]
    async fn a_chain_with_a_fee_currency_signs_cip64_priced_by_the_node() {
        let (chain, _, from, seen) = celo_chain().await;
        assert_eq!(chain.fee_currency(), Some(CUSD));
        let call =
            alloy::contract::CallBuilder::new_raw(chain.provider(), Bytes::from_static(b"hi"))
                .to(address!("00000000000000000000000000000000deadbeef"));
        let tx = chain.sign(from, call, 7).await.unwrap();
        assert_eq!(tx.raw[0], CIP64_TX_TYPE, "a CIP-64 transaction");
        let back = SignedCip64::decode_2718(&tx.raw).unwrap();
        assert_eq!(back.hash, tx.hash);
        assert_eq!(back.recover_signer().unwrap(), from);
        assert_eq!(back.tx.fee_currency, Some(CUSD));
        assert_eq!(back.tx.nonce, 7);
        // Priced and estimated by the node in the fee currency: 2 × 30 gwei cap, 1 gwei tip, 71,000 gas + margins.
        assert_eq!(back.tx.max_fee_per_gas, 60_000_000_000);
        assert_eq!(back.tx.max_priority_fee_per_gas, 1_000_000_000);
        assert_eq!(
            back.tx.gas_limit,
            71_000 + 71_000 / 4 + crate::client::SSTORE_SET_MARGIN
        );
        let methods: Vec<String> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r["method"].as_str().unwrap().to_string())
            .collect();
        assert!(
            methods.contains(&"eth_estimateGas".to_string()),
            "{methods:?}"
        );
    }

    #[tokio::test]
    async fn gas_funds_are_read_in_the_fee_currency() {
        let (chain, profile, who, seen) = celo_chain().await;
        let funds = chain.gas_funds(who).await.unwrap();
        assert_eq!(funds.fee_currency, Some(CUSD));
        assert_eq!(funds.balance, U256::from(2_500_000_000_000_000_000u128));
        assert_eq!(funds.price_per_gas, Some(30_000_000_000));
        // 50 visits of 1M gas at the node's 30 gwei (in cUSD units): 1.5 cUSD; the balance is above it.
        assert_eq!(
            profile.low_balance_threshold_at(funds.price_per_gas),
            1_500_000_000_000_000_000
        );
        let calls = seen.lock().unwrap();
        let balance_of = calls
            .iter()
            .find(|r| r["method"] == "eth_call")
            .expect("balanceOf asked");
        let input = balance_of["params"][0]["input"]
            .as_str()
            .or(balance_of["params"][0]["data"].as_str())
            .unwrap();
        assert!(
            input.ends_with(&hex::encode(who)),
            "balanceOf the kiosk's account: {input}"
        );
    }

    #[test]
    fn fees_from_suggestions() {
        assert_eq!(
            Cip64Fees::from_suggestions(26, 1),
            Cip64Fees {
                max_fee_per_gas: 52,
                max_priority_fee_per_gas: 1
            }
        );
        // A tip above the price (odd node) still gives a transaction the node accepts: tip <= cap.
        let f = Cip64Fees::from_suggestions(1, 5);
        assert!(f.max_priority_fee_per_gas <= f.max_fee_per_gas);
        assert_eq!(
            Cip64Fees::from_suggestions(u128::MAX, 1).max_fee_per_gas,
            u128::MAX
        );
    }
}
