use std::sync::Arc;

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::bindings::Role;
use carekiosk_chain::{Chain, ChainError, Deployment, Profile};
use carekiosk_records::{RecipientPublicKey, SoftKey};
use carekiosk_store::Store;
use carekiosk_wallet::{KeyKind, RecordKey, Wallet};

/// The keyring slot of the network's emergency key: account `<profile>/emergency/record-key`.
pub const EMERGENCY_SLOT: &str = "emergency";

use crate::indexer::Indexer;
use crate::outbox::Outbox;
use crate::{KioskConfig, KioskError, KioskRole};

/// A running kiosk: its identity (checked on chain), its connection, its database, its outbox.
pub struct Kiosk {
    /// The configuration it was opened with.
    pub config: KioskConfig,
    /// The network profile.
    pub profile: Profile,
    /// Where the contracts are.
    pub deployment: Deployment,
    /// The node connection, signing as the kiosk.
    pub chain: Chain,
    /// The kiosk's encrypted database.
    pub store: Store,
    /// The kiosk's signer address.
    pub address: Address,
    /// Its institution's address.
    pub institution: Address,
    /// Its institution's id on chain.
    pub institution_id: u32,
    /// Writes, at most once each.
    pub outbox: Arc<Outbox>,
    /// Events into the database.
    pub indexer: Indexer,
    record_key: SoftKey,
    /// The network's emergency key (hospital kiosks only): opens the emergency data set on patients' cards.
    emergency_key: Option<SoftKey>,
    /// The deployment token's symbol and decimals, read once from the token contract.
    token_info: std::sync::OnceLock<(String, u8)>,
    /// Patients' key bundles (public bytes, checked against their hash on chain), so that a visit that began
    /// online can go on sealing records while the node is down.
    pub(crate) bundles: std::sync::Mutex<std::collections::HashMap<B256, Vec<u8>>>,
    /// The last gas balance read, and when ([`Kiosk::node_status`] reads it at most once a minute).
    gas_cache: std::sync::Mutex<Option<(std::time::Instant, GasStatus)>>,
}

/// How often [`Kiosk::node_status`] reads the kiosk's balance again.
pub const GAS_STATUS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The kiosk account's balance for gas.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GasStatus {
    /// The kiosk's account.
    pub account: Address,
    /// Its balance, in wei (decimal), or in the fee currency's 18-decimal units when gas is paid in one.
    #[serde(serialize_with = "decimal")]
    pub balance_wei: U256,
    /// Below this, it is low: the profile's `low_balance_wei` (default: about 50 visits at the floor fee).
    #[serde(serialize_with = "decimal")]
    pub threshold_wei: U256,
    /// The balance is below the threshold: fund the account.
    pub low: bool,
    /// The balance in the coin gas is paid in, e.g. `1.25`.
    pub balance: String,
    /// The coin gas is paid in: the native coin (CELO, ETH) or the fee currency (cUSD, USDC).
    pub symbol: String,
}

fn decimal<S: serde::Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.to_string())
}

impl GasStatus {
    /// The warning to show when the balance is low.
    pub fn warning(&self) -> Option<String> {
        self.low.then(|| {
            format!(
                "the kiosk's account {} has {} {} left for gas (below {}): fund it soon",
                self.account,
                self.balance,
                self.symbol,
                alloy::primitives::utils::format_ether(self.threshold_wei)
            )
        })
    }
}

/// The node and the kiosk's gas, for the status line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// False only when no RPC URL can be reached (the "offline" banner).
    pub online: bool,
    /// The node is there but rate limiting: writes wait, not offline.
    pub rate_limited: bool,
    /// The latest block, when the node gave it.
    pub block: Option<u64>,
    /// The kiosk's gas balance (read at most once a minute), when known.
    pub gas: Option<GasStatus>,
}

impl std::fmt::Debug for Kiosk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kiosk")
            .field("role", &self.config.role)
            .field("address", &self.address)
            .field("institution", &self.institution)
            .finish_non_exhaustive()
    }
}

/// The kiosk's keys as kept in the OS keyring.
pub struct KioskKeys {
    /// The transaction signer.
    pub signer: PrivateKeySigner,
    /// The institution's record-encryption key.
    pub record_key: SoftKey,
    /// The database key.
    pub database_key: [u8; 32],
    /// The network's emergency key, on hospital kiosks that were given it (`None` elsewhere).
    pub emergency_key: Option<SoftKey>,
}

/// Kiosk mode's staff code for this machine's `role` kiosk under `profile`: a fresh 8-digit code, whose hash
/// replaces any earlier one in the OS keyring. The code is returned to be shown once; it is never stored.
pub fn set_staff_code(profile: &str, role: KioskRole) -> Result<String, KioskError> {
    use rand_core::RngCore;
    let mut code = String::with_capacity(8);
    while code.len() < 8 {
        let d = rand_core::OsRng.next_u32() % 10;
        code.push(char::from(b'0' + d as u8));
    }
    let wallet = Wallet::open()?;
    let slot = wallet.slot::<carekiosk_wallet::StaffCode>(profile, role.as_str())?;
    slot.delete()?;
    slot.import(carekiosk_wallet::StaffCode::from_code(&code)?)?;
    Ok(code)
}

/// Whether `code` is the staff code set for this machine's `role` kiosk under `profile` (`false` when none is:
/// then only IT closes a kiosk-mode app, by stopping its service).
pub fn staff_code_matches(profile: &str, role: KioskRole, code: &str) -> Result<bool, KioskError> {
    let wallet = Wallet::open()?;
    let stored = wallet
        .slot::<carekiosk_wallet::StaffCode>(profile, role.as_str())?
        .try_load()?;
    Ok(stored.is_some_and(|s| s.matches(code)))
}

impl KioskKeys {
    /// Loads the kiosk's keys from the OS keyring, generating those that do not exist yet.
    pub fn load_or_generate(profile: &str, role: KioskRole) -> Result<KioskKeys, KioskError> {
        // One generation at a time in this process: two racing on an empty slot would each keep a different key.
        static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
        let wallet = Wallet::open()?;
        let signing = wallet
            .signing_key(profile, role.as_str())?
            .generate_or_load()?;
        let signer =
            PrivateKeySigner::from_bytes(&B256::from(*signing.secret_bytes())).map_err(|e| {
                KioskError::Invalid(format!("the keyring's signing key is unusable: {e}"))
            })?;
        let record = wallet
            .record_key(profile, role.institution_slot())?
            .generate_or_load()?;
        let record_key = SoftKey::from_bytes(record.secret_bytes())?;
        let db = wallet
            .database_key(profile, role.as_str())?
            .generate_or_load()?;
        // Only a hospital's kiosks ever load the network's emergency key; other roles never touch its entry.
        let emergency_key = if role.chain_role() == Role::Hospital {
            match wallet
                .slot::<RecordKey>(profile, EMERGENCY_SLOT)?
                .try_load()?
            {
                Some(k) => Some(SoftKey::from_bytes(k.secret_bytes())?),
                None => None,
            }
        } else {
            None
        };
        Ok(KioskKeys {
            signer,
            record_key,
            database_key: *db.secret_bytes(),
            emergency_key,
        })
    }
}

/// The profile and the deployment manifest a configuration names, checked to be of one chain.
pub fn load_network(config: &KioskConfig) -> Result<(Profile, Deployment), KioskError> {
    let profile = Profile::load(&config.profile)?;
    let deployment = Deployment::load(&config.manifest)?;
    if deployment.chain_id != profile.chain_id {
        return Err(KioskError::Config {
            path: config.manifest.display().to_string(),
            reason: format!(
                "the manifest is for chain {}, the profile {} is chain {}",
                deployment.chain_id, profile.name, profile.chain_id
            ),
        });
    }
    Ok((profile, deployment))
}

/// The deployment's node (the manifest's RPC URL, else the profile's), signing with `signer`, checked to be the
/// manifest's chain.
pub(crate) async fn connect(
    profile: &Profile,
    deployment: &Deployment,
    signer: PrivateKeySigner,
) -> Result<Chain, KioskError> {
    let url = if deployment.rpc_url.is_empty() {
        profile.rpc_url.clone()
    } else {
        deployment.rpc_url.clone()
    };
    let chain = Chain::connect_profile(&url, profile, vec![signer]).await?;
    chain.expect_chain_id(deployment.chain_id, "the deployment manifest")?;
    Ok(chain)
}

impl Kiosk {
    /// Opens the kiosk: keys from the OS keyring, the node of the deployment, the role check on chain (a kiosk
    /// refuses to start a role it is not registered for), and its database.
    pub async fn open(config: KioskConfig) -> Result<Kiosk, KioskError> {
        let keys = KioskKeys::load_or_generate(&config.profile_name(), config.role)?;
        Self::open_with(config, keys).await
    }

    /// Like [`Kiosk::open`], with keys already loaded.
    pub async fn open_with(config: KioskConfig, keys: KioskKeys) -> Result<Kiosk, KioskError> {
        let (profile, deployment) = load_network(&config)?;
        let address = keys.signer.address();
        let chain = connect(&profile, &deployment, keys.signer).await?;
        let role: Role = config.role.chain_role();
        let reg = chain
            .hub(&deployment)
            .institutionOf(address, role as u8)
            .call()
            .await;
        let reg = match reg {
            Ok(r) => r,
            Err(e) => {
                let err = ChainError::from_contract_error(chain.url(), e);
                return Err(match err {
                    ChainError::Reverted(r) => KioskError::NotRegistered {
                        role: config.role.as_str().into(),
                        address: address.to_string(),
                        reason: r.detail,
                    },
                    other => other.into(),
                });
            }
        };
        std::fs::create_dir_all(&config.data_dir).map_err(|e| KioskError::Config {
            path: config.data_dir.display().to_string(),
            reason: format!("cannot create the data folder: {e}"),
        })?;
        let store = Store::open(config.database_path(), &keys.database_key)?;
        let outbox = Arc::new(Outbox::new(chain.clone(), store.clone(), address));
        let indexer = Indexer::new(chain.clone(), store.clone(), deployment.clone());
        tracing::info!(role = config.role.as_str(), %address, institution = %reg.institution, "kiosk opened");
        Ok(Kiosk {
            config,
            profile,
            deployment,
            chain,
            store,
            address,
            institution: reg.institution,
            institution_id: reg.id,
            outbox,
            indexer,
            record_key: keys.record_key,
            emergency_key: keys.emergency_key,
            token_info: Default::default(),
            bundles: Default::default(),
            gas_cache: Default::default(),
        })
    }

    /// The kiosk account's balance for gas against the profile's low-balance threshold (read now).
    pub async fn gas_status(&self) -> Result<GasStatus, KioskError> {
        // In the fee currency when the profile pays gas in one (CIP-64): that is what runs out.
        let funds = self.chain.gas_funds(self.address).await?;
        let balance = funds.balance;
        let threshold = U256::from(self.profile.low_balance_threshold_at(funds.price_per_gas));
        let symbol = match (&self.profile.fee_currency, funds.fee_currency) {
            (Some(fc), Some(_)) => fc.symbol.clone(),
            _ => self.chain.native_symbol().to_string(),
        };
        let status = GasStatus {
            account: self.address,
            balance_wei: balance,
            threshold_wei: threshold,
            low: balance < threshold,
            balance: alloy::primitives::utils::format_ether(balance),
            symbol,
        };
        if let Some(w) = status.warning() {
            tracing::warn!("{w}");
        }
        if let Ok(mut c) = self.gas_cache.lock() {
            *c = Some((std::time::Instant::now(), status.clone()));
        }
        Ok(status)
    }

    /// The node (one quick look, no retries: offline only when no RPC URL can be reached) and the kiosk's gas
    /// balance (read again at most every [`GAS_STATUS_EVERY`]), for the status line.
    pub async fn node_status(&self) -> NodeStatus {
        use carekiosk_chain::rpc::Probe;
        let probe = self.chain.probe().await;
        let cached = self.gas_cache.lock().ok().and_then(|c| c.clone());
        let gas = match (&probe, cached) {
            (Probe::Block(_), None) => self.gas_status().await.ok(),
            (Probe::Block(_), Some((at, g))) if at.elapsed() >= GAS_STATUS_EVERY => {
                self.gas_status().await.ok().or(Some(g))
            }
            (_, cached) => cached.map(|(_, g)| g),
        };
        NodeStatus {
            online: probe != Probe::Unreachable,
            rate_limited: probe == Probe::RateLimited,
            block: match probe {
                Probe::Block(b) => Some(b),
                _ => None,
            },
            gas,
        }
    }

    /// The institution's record key (to open what was sealed for it).
    pub fn record_key(&mut self) -> &mut SoftKey {
        &mut self.record_key
    }

    /// A copy of the institution's record key (recovery opens the issuing hospital's share with it).
    /// The network's emergency key, if this is a hospital kiosk that holds it.
    pub(crate) fn emergency_key(&self) -> Option<SoftKey> {
        self.emergency_key.clone()
    }

    pub(crate) fn record_key_copy(&self) -> SoftKey {
        self.record_key.clone()
    }

    /// The institution's record public key.
    pub fn record_public_key(&self) -> RecipientPublicKey {
        self.record_key.public_key()
    }

    /// The ISO 4217 currency a stable token stands for (FHIR `Money.currency` must be one): tUSD, cUSD, USDC and
    /// USDT are USD, cEUR is EUR, cREAL is BRL, cKES is KES; otherwise a three-letter symbol as it is.
    pub fn iso_currency(symbol: &str) -> Option<String> {
        let s = symbol.trim();
        let upper = s.to_ascii_uppercase();
        let code = match upper.as_str() {
            "USDC" | "USDT" | "USD₮" => "USD".to_string(),
            "CREAL" => "BRL".to_string(),
            _ if s.len() == 4 && (s.starts_with('t') || s.starts_with('c')) => {
                upper[1..].to_string()
            }
            _ => upper,
        };
        (code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase())).then_some(code)
    }

    /// The currency every claim, review and payment uses: the deployment token's symbol and decimals (read
    /// once from the token contract; "token" with 18 decimals while the node cannot be asked).
    pub async fn currency(&self) -> (String, u8) {
        if let Some(t) = self.token_info.get() {
            return t.clone();
        }
        let token = self.chain.token(&self.deployment);
        match (token.symbol().call().await, token.decimals().call().await) {
            (Ok(symbol), Ok(decimals)) => {
                self.token_info.get_or_init(|| (symbol, decimals)).clone()
            }
            _ => ("token".into(), 18),
        }
    }

    /// The record-encryption public key the institution at `address` published on chain (`setRecordKey`): what
    /// a claim is sealed for (the insurer) and a claim response (the hospital). Never from a manifest file, which
    /// anyone could hand a kiosk.
    pub async fn record_key_of(&self, address: Address) -> Result<RecipientPublicKey, KioskError> {
        let key = self
            .chain
            .hub(&self.deployment)
            .recordKeyOf(address)
            .call()
            .await
            .map_err(|e| ChainError::from_contract_error(self.chain.url(), e))?;
        if key.is_empty() {
            let name = self
                .deployment
                .institutions
                .iter()
                .find(|i| i.address == address)
                .map_or_else(|| address.to_string(), |i| i.name.clone());
            return Err(KioskError::Invalid(format!(
                "{name} has not published its record key on chain: its administrator runs \
                 `carekiosk admin record-key` (with the institution's key), then try again"
            )));
        }
        Ok(RecipientPublicKey::from_sec1_bytes(&key)?)
    }

    /// Current unix time.
    pub fn now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::{GasStatus, Kiosk};
    use alloy::primitives::{Address, U256};

    #[test]
    fn a_low_balance_says_whom_to_fund_and_serializes_in_decimal() {
        let g = GasStatus {
            account: Address::repeat_byte(0x11),
            balance_wei: U256::from(50_000_000_000_000_000u64),
            threshold_wei: U256::from(1_300_000_000_000_000_000u64),
            low: true,
            balance: "0.050000000000000000".into(),
            symbol: "CELO".into(),
        };
        let w = g.warning().unwrap();
        assert!(
            w.contains("0x1111") && w.contains("CELO") && w.contains("fund it"),
            "{w}"
        );
        let v = serde_json::to_value(&g).unwrap();
        assert_eq!(v["balanceWei"], "50000000000000000");
        assert_eq!(v["thresholdWei"], "1300000000000000000");
        assert_eq!(v["low"], true);
        assert!(GasStatus { low: false, ..g }.warning().is_none());
    }

    #[test]
    fn stable_tokens_name_their_iso_currency() {
        for (token, iso) in [
            ("tUSD", "USD"),
            ("cUSD", "USD"),
            ("USDC", "USD"),
            ("cEUR", "EUR"),
            ("cKES", "KES"),
            ("cREAL", "BRL"),
            ("EUR", "EUR"),
        ] {
            assert_eq!(Kiosk::iso_currency(token).as_deref(), Some(iso), "{token}");
        }
        assert_eq!(Kiosk::iso_currency("CELO"), None);
        assert_eq!(Kiosk::iso_currency("token"), None);
    }
}
