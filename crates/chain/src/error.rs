use alloy::primitives::{Address, U256};
use alloy::sol_types::SolInterface;
use alloy::transports::TransportError;

use crate::rpc::{FailureClass, RpcFailure};

use crate::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess, TestStablecoin,
};

/// A contract revert decoded into the custom error's name and fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    /// The custom error's name, e.g. `NoConsent`.
    pub name: String,
    /// The error with its fields, as Rust debug text, e.g. `NoConsent { patientId: 0x…, institution: 0x… }`.
    pub detail: String,
}

impl Revert {
    /// A revert from its recorded detail (as [`Revert::detail`] was written, e.g. in a database): the name is the
    /// custom error's, when the detail starts with one (`NoConsent { … }`), else `Error`.
    pub fn recorded(detail: &str) -> Revert {
        let ident = detail.split([' ', '{', '(']).next().filter(|w| {
            w.starts_with(|c: char| c.is_ascii_uppercase())
                && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        let bare = ident.is_some_and(|w| {
            let rest = detail[w.len()..].trim_start();
            rest.is_empty() || rest.starts_with('{') || rest.starts_with('(')
        });
        Revert {
            name: ident.filter(|_| bare).unwrap_or("Error").to_string(),
            detail: detail.to_string(),
        }
    }
}

impl std::fmt::Display for Revert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Everything the chain client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The contract refused the call.
    #[error("the contract refused: {0}")]
    Reverted(Revert),
    /// The node kept answering "too many requests" through every retry: it is there, but busy. Not offline: a
    /// write stays in the outbox and is sent later.
    #[error(
        "the node at {url} is rate limiting this kiosk ({attempts} attempts{}): the write is kept and sent \
         later; if this lasts, use a less busy RPC URL or add `rpc_fallback_urls` to the profile",
        retry_after_secs.map(|s| format!(", it asks to wait {s} s")).unwrap_or_default()
    )]
    RateLimited {
        /// The RPC URL.
        url: String,
        /// The last `Retry-After` the node sent, in seconds.
        retry_after_secs: Option<u64>,
        /// Attempts made.
        attempts: u32,
    },
    /// No RPC URL could be reached (connection refused, DNS, timeouts) through every retry and fallback: the
    /// only error that means "offline".
    #[error(
        "the node at {url} is unreachable ({reason}). Is it running and reachable? Check the network and the \
         RPC URL; writes wait in the outbox and are sent when it is back"
    )]
    Unreachable {
        /// The RPC URL of the last attempt.
        url: String,
        /// What the last attempt came to.
        reason: String,
    },
    /// The account cannot pay for gas × price + value.
    #[error(
        "the kiosk's account {} has {} {symbol}, not enough to pay for gas: fund it, then send again (the node \
         said: {reason})",
        account.map(|a| a.to_string()).unwrap_or_else(|| "(sender)".into()),
        balance_wei.map(alloy::primitives::utils::format_ether).unwrap_or_else(|| "too little".into())
    )]
    OutOfFunds {
        /// The paying account, when known.
        account: Option<Address>,
        /// Its balance, when it could be read.
        balance_wei: Option<U256>,
        /// The chain's native coin (CELO, ETH).
        symbol: String,
        /// What the node said.
        reason: String,
    },
    /// The node refused the transaction's fee as too low: a replacement not paying enough more, a fee under the
    /// pool's minimum, or a max fee below the block's base fee.
    #[error(
        "the node refused the transaction's fee as too low ({reason}): the base fee rose or another \
         transaction with this nonce pays more; send again with a higher fee (if it repeats, raise \
         `priority_fee_wei` or `base_fee_floor_wei` in the profile)"
    )]
    Underpriced {
        /// What the node said.
        reason: String,
    },
    /// The node answered with another error, or did not answer as expected.
    #[error(
        "the node at {url} did not answer as expected: {reason}. Is it running and reachable?"
    )]
    Node {
        /// The RPC URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A transaction was mined but failed without revert data.
    #[error("transaction {0} failed on chain without a reason")]
    Failed(String),
    /// The local Anvil node could not be started.
    #[error("could not start the local chain: {0}")]
    Devnet(String),
    /// A profile or manifest file is missing or malformed.
    #[error("configuration problem in {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The connected chain is not the one the profile or manifest names.
    #[error("connected to chain id {actual}, but {what} expects {expected}: check the RPC URL")]
    WrongChain {
        /// What expected it.
        what: String,
        /// Expected chain id.
        expected: u64,
        /// Actual chain id.
        actual: u64,
    },
    /// Invalid input from the caller.
    #[error("{0}")]
    Invalid(String),
}

impl ChainError {
    /// The decoded revert, when the contract refused.
    pub fn revert(&self) -> Option<&Revert> {
        match self {
            ChainError::Reverted(r) => Some(r),
            _ => None,
        }
    }

    /// A stable name per kind of failure, for screens and exit codes: `reverted`, `rate-limited`,
    /// `unreachable`, `out-of-funds`, `underpriced`, `node`, `failed`, `devnet`, `config`, `wrong-chain`,
    /// `invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainError::Reverted(_) => "reverted",
            ChainError::RateLimited { .. } => "rate-limited",
            ChainError::Unreachable { .. } => "unreachable",
            ChainError::OutOfFunds { .. } => "out-of-funds",
            ChainError::Underpriced { .. } => "underpriced",
            ChainError::Node { .. } => "node",
            ChainError::Failed(_) => "failed",
            ChainError::Devnet(_) => "devnet",
            ChainError::Config { .. } => "config",
            ChainError::WrongChain { .. } => "wrong-chain",
            ChainError::Invalid(_) => "invalid",
        }
    }

    /// Whether the node could not be reached at all (the one error that means "offline").
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ChainError::Unreachable { .. })
    }

    /// Whether trying the same thing later may work without anyone acting: unreachable, rate limited, or
    /// another error of the node (not a revert, a fee or funds problem, or a mistake of ours). A write failing
    /// so stays pending in the outbox.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ChainError::Unreachable { .. }
                | ChainError::RateLimited { .. }
                | ChainError::Node { .. }
        )
    }

    /// Maps a contract-call error, decoding revert data into the contracts' custom errors.
    pub fn from_contract_error(url: &str, err: alloy::contract::Error) -> Self {
        Self::from_contract(url, err)
    }

    pub(crate) fn from_contract(url: &str, err: alloy::contract::Error) -> Self {
        if let Some(data) = err.as_revert_data() {
            return ChainError::Reverted(decode_revert(&data));
        }
        Self::node(url, err)
    }

    /// Maps a node error: the RPC layer's failures become [`ChainError::RateLimited`] or
    /// [`ChainError::Unreachable`], a node's refusal of a transaction [`ChainError::OutOfFunds`] or
    /// [`ChainError::Underpriced`], revert data [`ChainError::Reverted`]; anything else is
    /// [`ChainError::Node`]. Takes alloy's transport, contract and pending-transaction errors (looked into) or
    /// any other error (classified by its text).
    pub fn node<E: std::fmt::Display + 'static>(url: &str, err: E) -> Self {
        let any = &err as &dyn std::any::Any;
        let transport = if let Some(t) = any.downcast_ref::<TransportError>() {
            Some(t)
        } else if let Some(alloy::contract::Error::TransportError(t)) =
            any.downcast_ref::<alloy::contract::Error>()
        {
            Some(t)
        } else if let Some(alloy::providers::PendingTransactionError::TransportError(t)) =
            any.downcast_ref::<alloy::providers::PendingTransactionError>()
        {
            Some(t)
        } else {
            None
        };
        if let Some(t) = transport {
            if let Some(f) = RpcFailure::find(t) {
                return Self::from_failure(f);
            }
            if let Some(data) = t.as_error_resp().and_then(|p| p.as_revert_data()) {
                return ChainError::Reverted(decode_revert(&data));
            }
        }
        Self::from_text(url, err.to_string())
    }

    fn from_failure(f: &RpcFailure) -> Self {
        match f.class {
            FailureClass::RateLimited => ChainError::RateLimited {
                url: f.url.clone(),
                retry_after_secs: f.retry_after.map(|d| d.as_secs()),
                attempts: f.attempts,
            },
            FailureClass::Unreachable => ChainError::Unreachable {
                url: f.url.clone(),
                reason: format!("{} after {} attempts", f.detail, f.attempts),
            },
            FailureClass::Slow => ChainError::Node {
                url: f.url.clone(),
                reason: format!(
                    "the node took the connection but did not answer in time (slow or overloaded, not offline): {f}"
                ),
            },
            FailureClass::Server => ChainError::Node {
                url: f.url.clone(),
                reason: f.to_string(),
            },
        }
    }

    /// Classifies a node's error message (geth, op-geth, anvil, reth and Celo wordings).
    pub fn from_text(url: &str, reason: String) -> Self {
        let m = reason.to_lowercase();
        if m.contains("insufficient funds") {
            return ChainError::OutOfFunds {
                account: None,
                balance_wei: None,
                symbol: String::new(),
                reason,
            };
        }
        const UNDERPRICED: [&str; 7] = [
            "underpriced",
            "max fee per gas less than block base fee",
            "fee too low",
            "feecap too low",
            "fee cap less than block base fee",
            "gas price too low",
            "gas price below minimum",
        ];
        if UNDERPRICED.iter().any(|u| m.contains(u)) {
            return ChainError::Underpriced { reason };
        }
        ChainError::Node {
            url: url.to_string(),
            reason,
        }
    }
}

/// The inner part of a generated error enum's debug text (`Variant(Variant { .. })` → `Variant { .. }`).
fn inner_detail(debug: String) -> String {
    match (debug.find('('), debug.ends_with(')')) {
        (Some(i), true) => debug[i + 1..debug.len() - 1].to_string(),
        _ => debug,
    }
}

/// Decodes revert data against the errors of every carekiosk contract (and the token's). The name comes from the
/// generated decoders (`<Contract>Errors::name_by_selector`), the detail is the decoded error's fields.
pub fn decode_revert(data: &[u8]) -> Revert {
    macro_rules! decode_with {
        ($errors:ty) => {
            if let Ok(e) = <$errors>::abi_decode(data) {
                return Revert {
                    name: <$errors>::name_by_selector(e.selector())
                        .unwrap_or("Unknown")
                        .to_string(),
                    detail: inner_detail(format!("{e:?}")),
                };
            }
        };
    }
    decode_with!(PatientSmartCard::PatientSmartCardErrors);
    decode_with!(HospitalRecord::HospitalRecordErrors);
    decode_with!(PharmacyAccess::PharmacyAccessErrors);
    decode_with!(InsuranceProvider::InsuranceProviderErrors);
    decode_with!(TestStablecoin::TestStablecoinErrors);
    if let Ok(reason) = <alloy::sol_types::Revert as alloy::sol_types::SolError>::abi_decode(data) {
        return Revert {
            name: "Error".into(),
            detail: reason.reason,
        };
    }
    Revert {
        name: "Unknown".into(),
        detail: format!("unknown revert data 0x{}", alloy::hex::encode(data)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, B256};
    use alloy::sol_types::SolError;

    #[test]
    fn decodes_custom_error_with_fields() {
        let err = PatientSmartCard::NoConsent {
            patientId: B256::repeat_byte(7),
            institution: Address::repeat_byte(9),
        };
        let r = decode_revert(&err.abi_encode());
        assert_eq!(r.name, "NoConsent");
        assert!(r.detail.contains("patientId: 0x0707"), "{}", r.detail);
        assert!(r.detail.contains("institution: 0x0909"), "{}", r.detail);
        // Recorded (an outbox row keeps the detail) and read back: the same name.
        let again = Revert::recorded(&r.detail);
        assert_eq!(
            (again.name.as_str(), &again.detail),
            ("NoConsent", &r.detail)
        );
        assert_eq!(Revert::recorded("ZeroAmount").name, "ZeroAmount");
        assert_eq!(
            Revert::recorded("ERC20: transfer amount exceeds balance").name,
            "Error"
        );
        assert_eq!(Revert::recorded("Bad words here").name, "Error");
        assert_eq!(Revert::recorded("").name, "Error");
    }

    #[test]
    fn every_contract_s_errors_are_named_by_their_generated_decoder() {
        let r = decode_revert(&InsuranceProvider::ZeroAmount {}.abi_encode());
        assert_eq!(
            (r.name.as_str(), r.detail.as_str()),
            ("ZeroAmount", "ZeroAmount")
        );
        let r = decode_revert(
            &InsuranceProvider::SameReviewer {
                claimId: alloy::primitives::U256::from(3),
                kiosk: Address::repeat_byte(1),
            }
            .abi_encode(),
        );
        assert_eq!(r.name, "SameReviewer");
        assert!(r.detail.contains("claimId: 3"), "{}", r.detail);
        let r = decode_revert(
            &TestStablecoin::NotMinter {
                caller: Address::ZERO,
            }
            .abi_encode(),
        );
        assert_eq!(r.name, "NotMinter");
        let r = decode_revert(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(r.name, "Unknown");
        assert!(r.detail.contains("0xdeadbeef"), "{}", r.detail);
    }

    #[test]
    fn node_texts_are_classified() {
        let cases = [
            (
                "insufficient funds for gas * price + value: address 0x01 have 0 want 21000",
                "out-of-funds",
            ),
            ("Insufficient funds for gas * price + value", "out-of-funds"),
            ("replacement transaction underpriced", "underpriced"),
            ("transaction underpriced: tip needed 1, tip permitted 0", "underpriced"),
            (
                "max fee per gas less than block base fee: address 0x01, maxFeePerGas: 1, baseFee: 25",
                "underpriced",
            ),
            ("nonce too low", "node"),
            ("header not found", "node"),
        ];
        for (text, kind) in cases {
            let e = ChainError::node("http://x", text.to_string());
            assert_eq!(e.kind(), kind, "{text}");
            assert!(!e.is_unreachable());
        }
        let e = ChainError::node(
            "http://x",
            "replacement transaction underpriced".to_string(),
        );
        assert!(e.to_string().contains("higher fee"), "{e}");
        assert!(!e.is_transient());
    }

    #[test]
    fn out_of_funds_says_whom_to_fund() {
        let e = ChainError::OutOfFunds {
            account: Some(Address::repeat_byte(0xab)),
            balance_wei: Some(U256::from(1_500_000_000_000_000_000u128)),
            symbol: "CELO".into(),
            reason: "insufficient funds".into(),
        };
        let m = e.to_string();
        assert!(m.contains("0xABaB"), "{m}");
        assert!(
            m.contains("1.5") && m.contains("CELO") && m.contains("fund it"),
            "{m}"
        );
    }

    #[test]
    fn decodes_module_errors_and_unknown_data() {
        let err = PharmacyAccess::AlreadyDispensed {
            id: alloy::primitives::U256::from(5),
        };
        assert_eq!(decode_revert(&err.abi_encode()).name, "AlreadyDispensed");
        let r = decode_revert(&[1, 2, 3, 4, 5]);
        assert_eq!(r.name, "Unknown");
        assert!(r.detail.contains("0102030405"));
    }
}
