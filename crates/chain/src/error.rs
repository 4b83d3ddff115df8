use alloy::sol_types::SolInterface;

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
    /// The node could not be reached or answered with an error.
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

    /// Maps a contract-call error, decoding revert data into the contracts' custom errors.
    pub fn from_contract_error(url: &str, err: alloy::contract::Error) -> Self {
        Self::from_contract(url, err)
    }

    pub(crate) fn from_contract(url: &str, err: alloy::contract::Error) -> Self {
        if let Some(data) = err.as_revert_data() {
            return ChainError::Reverted(decode_revert(&data));
        }
        ChainError::Node {
            url: url.to_string(),
            reason: err.to_string(),
        }
    }

    pub fn node(url: &str, err: impl std::fmt::Display) -> Self {
        ChainError::Node {
            url: url.to_string(),
            reason: err.to_string(),
        }
    }
}

fn named(detail: String) -> Revert {
    // Debug text of the generated enums reads `Variant(Variant { .. })`; keep the inner part.
    let inner = match (detail.find('('), detail.ends_with(')')) {
        (Some(i), true) => detail[i + 1..detail.len() - 1].to_string(),
        _ => detail,
    };
    let name = inner
        .split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_string();
    Revert {
        name,
        detail: inner,
    }
}

/// Decodes revert data against the errors of every carekiosk contract (and the token's).
pub fn decode_revert(data: &[u8]) -> Revert {
    if let Ok(e) = PatientSmartCard::PatientSmartCardErrors::abi_decode(data) {
        return named(format!("{e:?}"));
    }
    if let Ok(e) = HospitalRecord::HospitalRecordErrors::abi_decode(data) {
        return named(format!("{e:?}"));
    }
    if let Ok(e) = PharmacyAccess::PharmacyAccessErrors::abi_decode(data) {
        return named(format!("{e:?}"));
    }
    if let Ok(e) = InsuranceProvider::InsuranceProviderErrors::abi_decode(data) {
        return named(format!("{e:?}"));
    }
    if let Ok(e) = TestStablecoin::TestStablecoinErrors::abi_decode(data) {
        return named(format!("{e:?}"));
    }
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
