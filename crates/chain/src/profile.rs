//! Network profiles (`kiosk-config/profiles/*.toml`): chain id, RPC URL, gas policy, payment token.
//! The three shipped profiles are embedded in the binary, so `local` works from any directory.

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::{ChainError, GasPolicy};

/// The payment token of a profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Stablecoin address; empty to deploy the test stablecoin.
    #[serde(default, with = "opt_address")]
    pub address: Option<Address>,
    /// Ticker shown to people.
    pub symbol: String,
    /// Decimals of the token.
    pub decimals: u8,
}

/// The fee currency a profile pays gas in (Celo's CIP-64 transactions, `crate::cip64`), so the institution's
/// kiosk need not hold CELO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeCurrencyConfig {
    /// The address Celo's `FeeCurrencyDirectory` allowlists: the token itself for 18-decimal tokens (cUSD), the
    /// token's adapter for the others (USDC, USDT).
    pub address: Address,
    /// Ticker shown to people (the underlying token's, e.g. `USDC`).
    pub symbol: String,
    /// Decimals of the underlying token (6 for USDC and USDT); fees on chain are in 18-decimal units either way.
    pub decimals: u8,
}

/// A network carekiosk can run against. Unknown keys are refused: a misspelt `rpc_url` must not quietly mean
/// "start a local chain".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Profile name (`local`, `celo-sepolia`, `celo`).
    pub name: String,
    /// The chain id the node must report.
    pub chain_id: u64,
    /// JSON-RPC URL; empty on `local` means "start our own Anvil".
    #[serde(default)]
    pub rpc_url: String,
    /// Block explorer base URL, for transaction links (empty: none).
    #[serde(default)]
    pub explorer: String,
    /// How transactions are priced.
    pub gas: GasPolicy,
    /// The token claims are paid in.
    pub token: TokenConfig,
    /// Seconds between scheduling a governance action (registering or suspending an institution, handing over
    /// the admin) and carrying it out, fixed at deployment (0: at once, the local chain).
    #[serde(default)]
    pub governance_delay_secs: u64,
    /// Pay gas in this token instead of CELO (CIP-64, Celo only); absent: pay in the native currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_currency: Option<FeeCurrencyConfig>,
    /// RPC URLs tried, in order, when the primary (`rpc_url`, or the manifest's) cannot be reached or keeps
    /// failing (optional; see [`crate::rpc`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rpc_fallback_urls: Vec<String>,
    /// Time allowed for one RPC request, in milliseconds (optional; default 5,000 on a loopback node, 10,000
    /// on a remote one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpc_timeout_ms: Option<u64>,
    /// Below this balance (wei) of the kiosk's account the kiosk warns that gas runs low (optional; default
    /// [`Profile::low_balance_threshold`]: about 50 visits at the floor fee). An integer or a decimal string
    /// (TOML integers stop at about 9.2e18).
    #[serde(default, with = "opt_wei", skip_serializing_if = "Option::is_none")]
    pub low_balance_wei: Option<u128>,
}

/// Gas of one whole visit, all desks together, rounded up (`docs/gas-table.md`: 968,923 for a returning
/// visit): the unit of [`Profile::low_balance_threshold`].
pub const GAS_PER_VISIT: u128 = 1_000_000;
/// Visits the default low-balance threshold leaves room for.
pub const LOW_BALANCE_VISITS: u128 = 50;

const EMBEDDED: [(&str, &str); 3] = [
    (
        "local",
        include_str!("../../../kiosk-config/profiles/local.toml"),
    ),
    (
        "celo-sepolia",
        include_str!("../../../kiosk-config/profiles/celo-sepolia.toml"),
    ),
    (
        "celo",
        include_str!("../../../kiosk-config/profiles/celo.toml"),
    ),
];

impl Profile {
    /// Names of the embedded profiles.
    pub fn embedded_names() -> Vec<&'static str> {
        EMBEDDED.iter().map(|(n, _)| *n).collect()
    }

    /// An embedded profile by name.
    pub fn embedded(name: &str) -> Result<Profile, ChainError> {
        let (_, text) =
            EMBEDDED
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| ChainError::Config {
                    path: format!("profile {name}"),
                    reason: format!(
                        "no such profile; choose one of {}",
                        Self::embedded_names().join(", ")
                    ),
                })?;
        Self::parse(text, &format!("embedded profile {name}"))
    }

    /// Loads a profile: a path to a `.toml` file, or the name of an embedded profile.
    pub fn load(name_or_path: &str) -> Result<Profile, ChainError> {
        if name_or_path.ends_with(".toml") {
            let text = std::fs::read_to_string(name_or_path).map_err(|e| ChainError::Config {
                path: name_or_path.to_string(),
                reason: format!("cannot read it ({e})"),
            })?;
            return Self::parse(&text, name_or_path);
        }
        Self::embedded(name_or_path)
    }

    /// Parses and checks profile text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Profile, ChainError> {
        let p: Profile = toml::from_str(text).map_err(|e| ChainError::Config {
            path: origin.to_string(),
            reason: toml_error(text, &e),
        })?;
        if p.name.is_empty() {
            return Err(ChainError::Config {
                path: origin.into(),
                reason: "`name` must not be empty".into(),
            });
        }
        if p.chain_id == 0 {
            return Err(ChainError::Config {
                path: origin.into(),
                reason: "`chain_id` must not be 0".into(),
            });
        }
        let url_ok = p.rpc_url.is_empty()
            || p.rpc_url.starts_with("http://")
            || p.rpc_url.starts_with("https://");
        if !url_ok {
            return Err(ChainError::Config {
                path: origin.into(),
                reason: format!(
                    "`rpc_url` must start with http:// or https:// (got {:?})",
                    p.rpc_url
                ),
            });
        }
        if let Some(fc) = &p.fee_currency {
            if fc.address.is_zero() {
                return Err(ChainError::Config {
                    path: origin.into(),
                    reason: "`fee_currency.address` must be the fee currency's token or adapter, not 0x0".into(),
                });
            }
            if !matches!(p.gas, GasPolicy::Eip1559 { .. }) {
                return Err(ChainError::Config {
                    path: origin.into(),
                    reason: "`[fee_currency]` needs `[gas] kind = \"eip1559\"`: CIP-64 transactions take EIP-1559 fees"
                        .into(),
                });
            }
        }
        for f in &p.rpc_fallback_urls {
            if !(f.starts_with("http://") || f.starts_with("https://")) {
                return Err(ChainError::Config {
                    path: origin.into(),
                    reason: format!(
                        "every `rpc_fallback_urls` entry must start with http:// or https:// (got {f:?})"
                    ),
                });
            }
        }
        if p.rpc_timeout_ms == Some(0) {
            return Err(ChainError::Config {
                path: origin.into(),
                reason: "`rpc_timeout_ms` must not be 0 (leave it out for the default)".into(),
            });
        }
        Ok(p)
    }

    /// The balance (wei) below which a kiosk's account is low on gas: `low_balance_wei`, or by default
    /// 50 visits × 1,000,000 gas × the price at the floor (the floor base fee plus the tip, or the legacy gas
    /// price): 1.3 CELO on Celo (25 gwei floor + 1 gwei tip), 0.1 on the local chain (2 gwei).
    pub fn low_balance_threshold(&self) -> u128 {
        self.low_balance_threshold_at(None)
    }

    /// [`Profile::low_balance_threshold`] when gas is paid at `price_per_gas` (a fee currency's price from the
    /// node, in its 18-decimal units; `low_balance_wei` is then in those units too). `None`: the floor price.
    pub fn low_balance_threshold_at(&self, price_per_gas: Option<u128>) -> u128 {
        if let Some(w) = self.low_balance_wei {
            return w;
        }
        if let Some(p) = price_per_gas {
            return LOW_BALANCE_VISITS * GAS_PER_VISIT * p;
        }
        let price = match self.gas {
            GasPolicy::Legacy { gas_price_wei } => u128::from(gas_price_wei),
            GasPolicy::Eip1559 {
                base_fee_floor_wei,
                priority_fee_wei,
            } => u128::from(base_fee_floor_wei) + u128::from(priority_fee_wei),
        };
        LOW_BALANCE_VISITS * GAS_PER_VISIT * price
    }

    /// Whether carekiosk should start its own Anvil for this profile.
    pub fn wants_devnet(&self) -> bool {
        self.rpc_url.is_empty()
    }

    /// A link to a transaction on the profile's explorer, if it has one.
    pub fn tx_link(&self, hash: &str) -> Option<String> {
        (!self.explorer.is_empty())
            .then(|| format!("{}/tx/{hash}", self.explorer.trim_end_matches('/')))
    }
}

/// A TOML error as `line L, column C: what` (the message alone does not say where, or which key).
pub fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let at = span.start.min(text.len());
            let before = text.get(..at).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

mod opt_address {
    use alloy::primitives::Address;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(a: &Option<Address>, s: S) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.serialize_str(&a.to_checksum(None)),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Address>, D::Error> {
        let s = String::deserialize(d)?;
        if s.is_empty() {
            return Ok(None);
        }
        s.parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("not an address: {s:?}")))
    }
}

mod opt_wei {
    use serde::{Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wei {
        Int(u64),
        Text(String),
    }

    pub fn serialize<S: Serializer>(w: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match w {
            Some(w) => s.serialize_str(&w.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        match Wei::deserialize(d)? {
            Wei::Int(i) => Ok(Some(u128::from(i))),
            Wei::Text(t) => t
                .trim()
                .replace('_', "")
                .parse()
                .map(Some)
                .map_err(|_| serde::de::Error::custom(format!("not an amount in wei: {t:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_profiles_parse_with_their_chain_ids() {
        assert_eq!(Profile::embedded("local").unwrap().chain_id, 31337);
        assert_eq!(
            Profile::embedded("celo-sepolia").unwrap().chain_id,
            11_142_220
        );
        let celo = Profile::embedded("celo").unwrap();
        assert_eq!(celo.chain_id, 42_220);
        assert!(celo.token.address.is_some(), "mainnet pays in cUSD");
        assert!(matches!(
            celo.gas,
            GasPolicy::Eip1559 {
                base_fee_floor_wei: 25_000_000_000,
                ..
            }
        ));
        assert_eq!(Profile::embedded("local").unwrap().gas, GasPolicy::PAPER);
        assert!(Profile::embedded("local").unwrap().wants_devnet());
    }

    #[test]
    fn bad_profiles_say_what_is_wrong() {
        let e = Profile::embedded("alfajores").unwrap_err().to_string();
        assert!(e.contains("celo-sepolia"), "{e}");
        let e = Profile::parse("name = \"x\"\nchain_id = 0\n[gas]\nkind = \"legacy\"\ngas_price_wei = 1\n[token]\nsymbol = \"t\"\ndecimals = 18\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("chain_id"), "{e}");
        let e = Profile::parse("name = \"x\"\nchain_id = 5\nrpc_url = \"ftp://x\"\n[gas]\nkind = \"legacy\"\ngas_price_wei = 1\n[token]\nsymbol = \"t\"\ndecimals = 18\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("rpc_url"), "{e}");
        let e = Profile::parse("name = \"x\"\nchain_id = 5\n[gas]\nkind = \"cheap\"\n[token]\nsymbol = \"t\"\ndecimals = 18\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cheap") || e.contains("variant"), "{e}");
    }

    #[test]
    fn fee_currency_is_optional_and_checked() {
        for name in Profile::embedded_names() {
            assert_eq!(
                Profile::embedded(name).unwrap().fee_currency,
                None,
                "{name}"
            );
        }
        let base = "name = \"x\"\nchain_id = 42220\n[gas]\nkind = \"eip1559\"\nbase_fee_floor_wei = 1\npriority_fee_wei = 1\n[token]\nsymbol = \"t\"\ndecimals = 18\n";
        let p = Profile::parse(
            &format!("{base}[fee_currency]\naddress = \"0x2F25deB3848C207fc8E0c34035B3Ba7fC157602B\"\nsymbol = \"USDC\"\ndecimals = 6\n"),
            "t",
        )
        .unwrap();
        let fc = p.fee_currency.unwrap();
        assert_eq!(
            fc.address,
            "0x2F25deB3848C207fc8E0c34035B3Ba7fC157602B"
                .parse::<Address>()
                .unwrap()
        );
        assert_eq!((fc.symbol.as_str(), fc.decimals), ("USDC", 6));
        let e = Profile::parse(
            &format!("{base}[fee_currency]\naddress = \"0x0000000000000000000000000000000000000000\"\nsymbol = \"U\"\ndecimals = 6\n"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("fee_currency.address"), "{e}");
        let legacy = base.replace(
            "kind = \"eip1559\"\nbase_fee_floor_wei = 1\npriority_fee_wei = 1",
            "kind = \"legacy\"\ngas_price_wei = 1",
        );
        let e = Profile::parse(
            &format!("{legacy}[fee_currency]\naddress = \"0x765DE816845861e75A25fCA122bb6898B8B1282a\"\nsymbol = \"cUSD\"\ndecimals = 18\n"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("eip1559"), "{e}");
        let e = Profile::parse(
            &format!("{base}[fee_currency]\naddress = \"0x765DE816845861e75A25fCA122bb6898B8B1282a\"\nsymbol = \"cUSD\"\ndecimals = 18\nadapter = true\n"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("adapter"), "{e}");
    }

    #[test]
    fn documented_fee_currency_examples_parse() {
        // The commented `[fee_currency]` examples in the shipped Celo profiles, uncommented, are valid.
        for (name, text) in EMBEDDED.iter().filter(|(n, _)| n.starts_with("celo")) {
            let example: Vec<&str> = text
                .lines()
                .skip_while(|l| *l != "# [fee_currency]")
                .take_while(|l| *l != "#")
                .map(|l| l.trim_start_matches("# "))
                .collect();
            assert!(!example.is_empty(), "{name} documents no [fee_currency]");
            let p = Profile::parse(&format!("{text}\n{}\n", example.join("\n")), name).unwrap();
            let fc = p.fee_currency.expect("the example sets a fee currency");
            assert_eq!((fc.symbol.as_str(), fc.decimals), ("USDC", 6), "{name}");
        }
    }

    #[test]
    fn rpc_fields_and_low_balance() {
        let base = "name = \"x\"\nchain_id = 5\nrpc_url = \"https://a\"\n";
        let tail = "[gas]\nkind = \"eip1559\"\nbase_fee_floor_wei = 25000000000\npriority_fee_wei = 1000000000\n[token]\nsymbol = \"t\"\ndecimals = 18\n";
        let p = Profile::parse(&format!("{base}{tail}"), "t").unwrap();
        assert!(p.rpc_fallback_urls.is_empty());
        assert_eq!(p.rpc_timeout_ms, None);
        // 50 visits × 1,000,000 gas × 26 gwei.
        assert_eq!(p.low_balance_threshold(), 1_300_000_000_000_000_000);
        let p = Profile::parse(
            &format!("{base}rpc_fallback_urls = [\"https://b\", \"http://c:8545\"]\nrpc_timeout_ms = 2500\nlow_balance_wei = \"20000000000000000000\"\n{tail}"),
            "t",
        )
        .unwrap();
        assert_eq!(p.rpc_fallback_urls, vec!["https://b", "http://c:8545"]);
        assert_eq!(p.rpc_timeout_ms, Some(2500));
        assert_eq!(p.low_balance_threshold(), 20_000_000_000_000_000_000);
        let p = Profile::parse(&format!("{base}low_balance_wei = 7\n{tail}"), "t").unwrap();
        assert_eq!(p.low_balance_threshold(), 7);
        let e = Profile::parse(
            &format!("{base}rpc_fallback_urls = [\"ws://b\"]\n{tail}"),
            "t",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("rpc_fallback_urls"), "{e}");
        let e = Profile::parse(&format!("{base}low_balance_wei = \"lots\"\n{tail}"), "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lots"), "{e}");
        assert_eq!(
            Profile::embedded("local").unwrap().low_balance_threshold(),
            100_000_000_000_000_000
        );
    }

    #[test]
    fn explorer_links() {
        let p = Profile::embedded("celo").unwrap();
        assert_eq!(p.tx_link("0xab").unwrap(), "https://celoscan.io/tx/0xab");
        assert!(Profile::embedded("local")
            .unwrap()
            .tx_link("0xab")
            .is_none());
    }
}
