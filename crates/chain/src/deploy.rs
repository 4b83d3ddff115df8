//! Deploying and wiring the contracts, registering institutions and kiosks, and the local demo setup.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;

use crate::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess, Role, TestStablecoin,
};
use crate::manifest::{Contracts, DeployProgress, InFlight, InstitutionEntry};
use crate::{Chain, ChainError, Deployment, Profile};

/// One token unit in base units, for an 18-decimal token.
pub const TOKEN_UNIT: u128 = 1_000_000_000_000_000_000;

/// Gas assumed for wiring the hub while the hub is not deployed yet, so it cannot be estimated: three storage
/// slots set from zero and an event (about 95,000 measured on Anvil; a test keeps this above the real figure).
pub const WIRE_GAS_ESTIMATE: u64 = 120_000;

/// One step of a deployment, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployStep {
    /// Deploy the hub (PatientSmartCard), governed by the deployer.
    PatientSmartCard,
    /// Deploy HospitalRecord.
    HospitalRecord,
    /// Deploy PharmacyAccess.
    PharmacyAccess,
    /// Deploy the test stablecoin (only when the profile names no token).
    TestStablecoin,
    /// Deploy InsuranceProvider.
    InsuranceProvider,
    /// Wire the three modules into the hub.
    Wire,
}

impl DeployStep {
    /// Every step, in order.
    pub const ALL: [DeployStep; 6] = [
        DeployStep::PatientSmartCard,
        DeployStep::HospitalRecord,
        DeployStep::PharmacyAccess,
        DeployStep::TestStablecoin,
        DeployStep::InsuranceProvider,
        DeployStep::Wire,
    ];

    /// The step's name, as plans, progress files and `--stop-after` spell it.
    pub fn name(self) -> &'static str {
        match self {
            DeployStep::PatientSmartCard => "PatientSmartCard",
            DeployStep::HospitalRecord => "HospitalRecord",
            DeployStep::PharmacyAccess => "PharmacyAccess",
            DeployStep::TestStablecoin => "TestStablecoin",
            DeployStep::InsuranceProvider => "InsuranceProvider",
            DeployStep::Wire => "wire",
        }
    }

    /// A step by name (any case).
    pub fn parse(name: &str) -> Result<DeployStep, ChainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.name()).collect();
                ChainError::Invalid(format!(
                    "no deployment step {name:?}; the steps are {}",
                    names.join(", ")
                ))
            })
    }

    /// The steps a deployment on `profile` runs (the test stablecoin only when the profile names no token).
    pub fn for_profile(profile: &Profile) -> Vec<DeployStep> {
        Self::ALL
            .into_iter()
            .filter(|s| *s != DeployStep::TestStablecoin || profile.token.address.is_none())
            .collect()
    }

    fn done(self, p: &DeployProgress) -> bool {
        match self {
            DeployStep::Wire => p.wired_block.is_some(),
            s => p.contract(s.name()).is_some(),
        }
    }
}

/// One step of a [`DeployPlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    /// The step.
    pub step: DeployStep,
    /// Done already (an interrupted deployment being resumed): nothing to send.
    pub done: bool,
    /// Estimated gas (`eth_estimateGas`, or [`WIRE_GAS_ESTIMATE`] when the hub does not exist yet); 0 when done.
    pub gas: u64,
    /// Whether `gas` was estimated by the node (`false`: the fixed wiring figure).
    pub estimated: bool,
    /// The gas limit the transaction will carry (the estimate with [`Chain::sign`]'s margin): what the node
    /// wants the deployer to be able to pay for.
    pub gas_limit: u64,
}

/// What a deployment will send and cost, estimated before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployPlan {
    /// The deployer.
    pub deployer: Address,
    /// Chain id of the node.
    pub chain_id: u64,
    /// The deployer's balance now (wei).
    pub balance: U256,
    /// The fee per gas the transactions offer (legacy gas price, or EIP-1559 max fee), in wei.
    pub max_fee_per_gas: u128,
    /// The fee per gas they are expected to pay (gas price, or base fee plus tip), in wei.
    pub expected_fee_per_gas: u128,
    /// The steps, done or to do.
    pub steps: Vec<PlannedStep>,
}

impl DeployPlan {
    /// Estimated gas of the steps still to do.
    pub fn total_gas(&self) -> u64 {
        self.steps.iter().filter(|s| !s.done).map(|s| s.gas).sum()
    }

    /// What the deployer must hold (wei): every remaining transaction's gas limit at the offered fee, which is
    /// what nodes check before they accept a transaction; unused gas is not paid.
    pub fn needed(&self) -> U256 {
        let limits: u64 = self
            .steps
            .iter()
            .filter(|s| !s.done)
            .map(|s| s.gas_limit)
            .sum();
        U256::from(limits) * U256::from(self.max_fee_per_gas)
    }

    /// The expected cost (wei): estimated gas at the expected fee.
    pub fn expected_cost(&self) -> U256 {
        U256::from(self.total_gas()) * U256::from(self.expected_fee_per_gas)
    }

    /// The cost of one step at the offered fee (wei).
    pub fn step_cost(&self, s: &PlannedStep) -> U256 {
        U256::from(s.gas_limit) * U256::from(self.max_fee_per_gas)
    }

    /// Fails, before anything is sent, when the deployer cannot pay for the remaining steps.
    pub fn check_funds(&self) -> Result<(), ChainError> {
        if self.balance < self.needed() {
            let unit = native_symbol(self.chain_id);
            return Err(ChainError::Invalid(format!(
                "the deployer {} has {} {unit}, the deployment needs about {} {unit}: fund it (nothing was sent)",
                self.deployer,
                format_native(self.balance),
                format_native(self.needed()),
            )));
        }
        Ok(())
    }
}

/// The native token's symbol for a chain id (CELO on Celo's chains, ETH elsewhere).
pub fn native_symbol(chain_id: u64) -> &'static str {
    match chain_id {
        42_220 | 11_142_220 | 44_787 => "CELO",
        _ => "ETH",
    }
}

/// An 18-decimal amount in base units as a decimal number without trailing zeros ("0.0123").
pub fn format_native(wei: U256) -> String {
    let unit = U256::from(TOKEN_UNIT);
    let (whole, frac) = (wei / unit, wei % unit);
    if frac.is_zero() {
        return whole.to_string();
    }
    let frac = format!("{:0>18}", frac.to_string());
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

/// The contract addresses a step's constructor or the wiring needs: deployed ones from the progress, the rest
/// predicted from the deployer's nonce (CREATE addresses), for estimation only.
struct Addrs {
    hub: Address,
    records: Address,
    pharmacy: Address,
    token: Address,
    insurance: Address,
}

impl Addrs {
    fn of(p: &DeployProgress, profile: &Profile, admin: Address, mut nonce: u64) -> Addrs {
        let mut get = |step: DeployStep| match p.contract(step.name()) {
            Some(a) => a,
            None => {
                nonce += 1;
                admin.create(nonce - 1)
            }
        };
        let hub = get(DeployStep::PatientSmartCard);
        let records = get(DeployStep::HospitalRecord);
        let pharmacy = get(DeployStep::PharmacyAccess);
        let token = match profile.token.address {
            Some(t) => t,
            None => get(DeployStep::TestStablecoin),
        };
        let insurance = get(DeployStep::InsuranceProvider);
        Addrs {
            hub,
            records,
            pharmacy,
            token,
            insurance,
        }
    }
}

type Provider = alloy::providers::DynProvider;

fn contract_builder<'a>(
    p: &'a Provider,
    step: DeployStep,
    admin: Address,
    profile: &Profile,
    a: &Addrs,
) -> alloy::contract::RawCallBuilder<&'a Provider> {
    match step {
        DeployStep::PatientSmartCard => {
            PatientSmartCard::deploy_builder(p, admin, profile.governance_delay_secs, Address::ZERO)
        }
        DeployStep::HospitalRecord => HospitalRecord::deploy_builder(p, a.hub),
        DeployStep::PharmacyAccess => PharmacyAccess::deploy_builder(p, a.hub),
        DeployStep::TestStablecoin => TestStablecoin::deploy_builder(p),
        DeployStep::InsuranceProvider => {
            InsuranceProvider::deploy_builder(p, a.hub, a.records, a.token)
        }
        DeployStep::Wire => unreachable!("wiring is a call, not a deployment"),
    }
}

fn gas_limit(gas: u64) -> u64 {
    gas + gas / 4 + crate::client::SSTORE_SET_MARGIN
}

/// Whether there is contract code at `a`.
async fn has_code(chain: &Chain, a: Address) -> Result<bool, ChainError> {
    use alloy::providers::Provider as _;
    let code = chain
        .provider()
        .get_code_at(a)
        .await
        .map_err(|e| ChainError::node(chain.url(), e))?;
    Ok(!code.is_empty())
}

/// The hub's wiring, if it is wired (`None` while its modules are unset).
async fn wired_records(chain: &Chain, hub: Address) -> Result<Option<Address>, ChainError> {
    let r = PatientSmartCard::new(hub, chain.provider().clone())
        .hospitalRecord()
        .call()
        .await
        .map_err(|e| ChainError::from_contract(chain.url(), e))?;
    Ok((r != Address::ZERO).then_some(r))
}

/// Estimates every step still to do of a deployment on `profile` from `admin` (`progress` says what is done),
/// at the profile's fees, with the deployer's balance. Sends nothing.
pub async fn plan_deployment(
    chain: &Chain,
    admin: Address,
    profile: &Profile,
    progress: &DeployProgress,
) -> Result<DeployPlan, ChainError> {
    use alloy::providers::Provider as _;
    chain.expect_chain_id(profile.chain_id, &format!("profile {}", profile.name))?;
    let p = chain.provider();
    let node = |e| ChainError::node(chain.url(), e);
    let nonce = chain.nonce(admin, true).await?;
    let a = Addrs::of(progress, profile, admin, nonce);
    let mut steps = Vec::new();
    for step in DeployStep::for_profile(profile) {
        if step.done(progress) {
            steps.push(PlannedStep {
                step,
                done: true,
                gas: 0,
                estimated: true,
                gas_limit: 0,
            });
            continue;
        }
        let (gas, estimated) = if step == DeployStep::Wire {
            if progress
                .contract(DeployStep::PatientSmartCard.name())
                .is_some()
            {
                let hub = PatientSmartCard::new(a.hub, p.clone());
                let gas = chain
                    .estimate(admin, hub.wire(a.records, a.pharmacy, a.insurance))
                    .await?;
                (gas, true)
            } else {
                (WIRE_GAS_ESTIMATE, false)
            }
        } else {
            let call = contract_builder(p, step, admin, profile, &a).from(admin);
            let gas = call
                .estimate_gas()
                .await
                .map_err(|e| ChainError::from_contract(chain.url(), e))?;
            (gas, true)
        };
        steps.push(PlannedStep {
            step,
            done: false,
            gas,
            estimated,
            gas_limit: gas_limit(gas),
        });
    }
    let base_fee = match chain.policy() {
        crate::GasPolicy::Legacy { .. } => None,
        crate::GasPolicy::Eip1559 { .. } => p
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(node)?
            .and_then(|b| b.header.base_fee_per_gas)
            .map(u128::from),
    };
    let (max_fee_per_gas, expected_fee_per_gas) =
        match (chain.policy(), chain.policy().fees(base_fee)) {
            (_, (Some(price), _, _)) => (price, price),
            (
                crate::GasPolicy::Eip1559 {
                    base_fee_floor_wei, ..
                },
                (None, Some(max), Some(tip)),
            ) => {
                let base = base_fee
                    .unwrap_or(u128::from(base_fee_floor_wei))
                    .max(u128::from(base_fee_floor_wei));
                (max, (base + tip).min(max))
            }
            _ => (0, 0),
        };
    let balance = p.get_balance(admin).await.map_err(node)?;
    Ok(DeployPlan {
        deployer: admin,
        chain_id: chain.chain_id(),
        balance,
        max_fee_per_gas,
        expected_fee_per_gas,
        steps,
    })
}

/// Checks that an interrupted deployment's progress belongs to this chain, profile and deployer, and that every
/// contract it records is on chain (code at the address). `origin` names the progress in errors.
pub async fn verify_progress(
    chain: &Chain,
    admin: Address,
    profile: &Profile,
    progress: &DeployProgress,
    origin: &str,
) -> Result<(), ChainError> {
    if progress.chain_id != chain.chain_id() {
        return Err(ChainError::Invalid(format!(
            "{origin} is a deployment on chain id {}, but the node is chain id {}: check the RPC URL, or remove \
             {origin} to deploy anew",
            progress.chain_id,
            chain.chain_id()
        )));
    }
    if progress.profile != profile.name {
        return Err(ChainError::Invalid(format!(
            "{origin} is a deployment with profile {}, not {}: pass --profile {0}, or remove {origin} to deploy anew",
            progress.profile, profile.name
        )));
    }
    if progress.admin != admin {
        return Err(ChainError::Invalid(format!(
            "{origin} is a deployment by {}, but the key given is {admin}'s: use that deployer's key, or remove \
             {origin} to deploy anew",
            progress.admin
        )));
    }
    for (name, a) in &progress.contracts {
        if !has_code(chain, *a).await? {
            return Err(ChainError::Invalid(format!(
                "{origin} records {name} at {a}, but there is no contract there on this chain (was the chain \
                 reset?): remove {origin} to deploy anew"
            )));
        }
    }
    Ok(())
}

/// Waits for a signed transaction: sends it again (harmless if the node has it) and polls for its receipt.
/// `None` when its nonce was taken by another transaction, so it will never be mined — concluded only when the
/// account's nonce has passed it and still no receipt shows after a grace period (a node may count the nonce
/// before it serves the receipt, and a load-balanced RPC may answer from a node a little behind).
async fn settle(
    chain: &Chain,
    tx: &crate::SignedTx,
) -> Result<Option<alloy::rpc::types::TransactionReceipt>, ChainError> {
    let local = crate::rpc::is_loopback(chain.url());
    let pause = std::time::Duration::from_millis(if local { 10 } else { 1000 });
    let grace = std::time::Duration::from_secs(if local { 2 } else { 30 });
    if let Some(r) = chain.receipt(tx.hash).await? {
        return Ok(Some(r));
    }
    let broadcast = if chain.nonce(tx.from, false).await? > tx.nonce {
        Ok(())
    } else {
        chain.broadcast(tx).await
    };
    let started = std::time::Instant::now();
    let mut passed: Option<std::time::Instant> = None;
    loop {
        if let Some(r) = chain.receipt(tx.hash).await? {
            return Ok(Some(r));
        }
        if chain.nonce(tx.from, false).await? > tx.nonce {
            let since = *passed.get_or_insert_with(std::time::Instant::now);
            if since.elapsed() > grace {
                return Ok(None);
            }
        } else if broadcast.is_err() && passed.is_none() {
            return broadcast.map(|()| None);
        }
        if started.elapsed() > crate::client::RECEIPT_TIMEOUT {
            return Err(ChainError::node(
                chain.url(),
                format!(
                    "transaction {} was not mined within {} s; run the deployment again to wait for it",
                    tx.hash,
                    crate::client::RECEIPT_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(pause).await;
    }
}

/// Signs a step's transaction, records it in the progress (saved) before broadcasting it, and waits for it.
async fn send_step<D, F>(
    chain: &Chain,
    progress: &mut DeployProgress,
    save: &mut F,
    step: DeployStep,
    call: alloy::contract::CallBuilder<&Provider, D, alloy::network::Ethereum>,
) -> Result<alloy::rpc::types::TransactionReceipt, ChainError>
where
    D: alloy::contract::CallDecoder,
    F: FnMut(&DeployProgress) -> Result<(), ChainError>,
{
    let admin = progress.admin;
    let nonce = chain.nonce(admin, true).await?;
    let tx = chain.sign(admin, call, nonce).await?;
    progress.in_flight = Some(InFlight {
        step: step.name().to_string(),
        tx: tx.clone(),
    });
    save(progress)?;
    let r = settle(chain, &tx).await?;
    progress.in_flight = None;
    match r {
        Some(r) if r.status() => Ok(r),
        Some(r) => {
            save(progress)?;
            Err(ChainError::Failed(r.transaction_hash.to_string()))
        }
        None => {
            save(progress)?;
            Err(ChainError::Invalid(format!(
                "nonce {nonce} of the deployer {admin} was used by another transaction while {} was being \
                 deployed: run the deployment again",
                step.name()
            )))
        }
    }
}

/// Records a mined step in the progress.
fn record(
    progress: &mut DeployProgress,
    step: DeployStep,
    r: &alloy::rpc::types::TransactionReceipt,
) -> Result<(), ChainError> {
    if step == DeployStep::Wire {
        progress.wired_block = Some(r.block_number.unwrap_or_default());
        return Ok(());
    }
    let a = r.contract_address.ok_or_else(|| {
        ChainError::Failed(format!("{} deployment created no contract", step.name()))
    })?;
    progress.contracts.push((step.name().to_string(), a));
    progress
        .deploy_gas
        .push((step.name().to_string(), r.gas_used));
    Ok(())
}

/// Runs the deployment's steps still to do (`progress` says which are done; empty for a new deployment) from
/// `admin`, who becomes the governance admin. After every step — and before broadcasting each transaction —
/// `save` gets the progress to write down, so a deployment interrupted anywhere resumes with the same progress
/// and never deploys a contract twice (a transaction in flight is sent again byte for byte). With `stop_after`,
/// returns `None` right after that step (tests simulate an interruption so); otherwise the manifest (without
/// institutions).
pub async fn deploy_resumable<F>(
    chain: &Chain,
    profile: &Profile,
    progress: &mut DeployProgress,
    mut save: F,
    stop_after: Option<DeployStep>,
) -> Result<Option<Deployment>, ChainError>
where
    F: FnMut(&DeployProgress) -> Result<(), ChainError>,
{
    chain.expect_chain_id(profile.chain_id, &format!("profile {}", profile.name))?;
    let admin = progress.admin;
    let p = chain.provider();
    if let Some(f) = progress.in_flight.clone() {
        let step = DeployStep::parse(&f.step)?;
        tracing::info!(step = step.name(), hash = %f.tx.hash, "resuming a step in flight");
        let r = settle(chain, &f.tx).await?;
        progress.in_flight = None;
        if let Some(r) = r.filter(|r| r.status()) {
            record(progress, step, &r)?;
        }
        save(progress)?;
    }
    for step in DeployStep::for_profile(profile) {
        if step.done(progress) {
            continue;
        }
        let nonce = chain.nonce(admin, true).await?;
        let a = Addrs::of(progress, profile, admin, nonce);
        if step == DeployStep::Wire {
            match wired_records(chain, a.hub).await? {
                Some(r) if r == a.records => {
                    progress.wired_block = Some(chain.block_number().await?);
                }
                Some(r) => {
                    return Err(ChainError::Invalid(format!(
                        "the hub {} is wired to HospitalRecord {r}, not to this deployment's {}",
                        a.hub, a.records
                    )))
                }
                None => {
                    let hub = PatientSmartCard::new(a.hub, p.clone());
                    let call = hub.wire(a.records, a.pharmacy, a.insurance);
                    let r = send_step(chain, progress, &mut save, step, call).await?;
                    record(progress, step, &r)?;
                }
            }
        } else {
            let call = contract_builder(p, step, admin, profile, &a);
            let r = send_step(chain, progress, &mut save, step, call).await?;
            record(progress, step, &r)?;
        }
        save(progress)?;
        tracing::info!(step = step.name(), "deployment step done");
        if stop_after == Some(step) {
            return Ok(None);
        }
    }
    let a = Addrs::of(progress, profile, admin, 0);
    tracing::info!(hub = %a.hub, records = %a.records, pharmacy = %a.pharmacy, insurance = %a.insurance,
        token = %a.token, "contracts deployed and wired");
    Ok(Some(Deployment {
        profile: profile.name.clone(),
        chain_id: chain.chain_id(),
        rpc_url: chain.url().to_string(),
        block: progress.wired_block.unwrap_or_default(),
        admin,
        contracts: Contracts {
            patient_smart_card: a.hub,
            hospital_record: a.records,
            pharmacy_access: a.pharmacy,
            insurance_provider: a.insurance,
            token: a.token,
        },
        deploy_gas: progress.deploy_gas.clone(),
        institutions: Vec::new(),
    }))
}

/// Deploys the four contracts (and the test stablecoin when the profile names no token) from `admin`, who becomes
/// the governance admin, and wires them, in one go (no progress kept: see [`deploy_resumable`]). Returns the
/// manifest (without institutions).
pub async fn deploy_contracts(
    chain: &Chain,
    admin: Address,
    profile: &Profile,
) -> Result<Deployment, ChainError> {
    let mut progress = DeployProgress::new(&profile.name, chain.chain_id(), chain.url(), admin);
    let d = deploy_resumable(chain, profile, &mut progress, |_| Ok(()), None).await?;
    Ok(d.expect("a deployment without stop_after runs every step"))
}

/// The admin registers an institution through its module (`registerHospital`, `registerPharmacy`,
/// `registerInsurer`), through the hub's governance: scheduled, then executed once the deployment's delay has
/// passed (at once on the local chain). Returns the gas of both transactions and the institution's id; with a
/// delay still running, [`ChainError::Failed`] says when to run the same command again (the schedule is kept).
pub async fn register_institution(
    chain: &Chain,
    d: &Deployment,
    role: Role,
    institution: Address,
) -> Result<(u64, u32), ChainError> {
    let (target, data) = match role {
        Role::Hospital => (
            d.contracts.hospital_record,
            chain
                .records(d)
                .registerHospital(institution)
                .calldata()
                .clone(),
        ),
        Role::Pharmacy => (
            d.contracts.pharmacy_access,
            chain
                .pharmacy(d)
                .registerPharmacy(institution)
                .calldata()
                .clone(),
        ),
        Role::Insurer => (
            d.contracts.insurance_provider,
            chain
                .insurance(d)
                .registerInsurer(institution)
                .calldata()
                .clone(),
        ),
    };
    let gas = govern(chain, d, target, data).await?;
    let reg = chain
        .hub(d)
        .institutions(institution)
        .call()
        .await
        .map_err(|e| ChainError::from_contract(chain.url(), e))?;
    Ok((gas, reg.id))
}

/// Runs one governance action: schedules `target.call(data)` unless it is already scheduled, then executes it
/// if its time has come. Returns the gas used.
pub async fn govern(
    chain: &Chain,
    d: &Deployment,
    target: Address,
    data: alloy::primitives::Bytes,
) -> Result<u64, ChainError> {
    let hub = chain.hub(d);
    let id = alloy::primitives::keccak256(alloy::sol_types::SolValue::abi_encode_params(&(
        target,
        data.clone(),
    )));
    let read = |e| ChainError::from_contract(chain.url(), e);
    let mut gas = 0;
    let mut eta = hub.etaOf(id).call().await.map_err(read)?;
    if eta.is_zero() {
        gas += chain
            .send(d.admin, hub.schedule(target, data.clone()))
            .await?
            .gas_used;
        eta = hub.etaOf(id).call().await.map_err(read)?;
    }
    let now = chain.latest_timestamp().await?;
    if eta > U256::from(now) {
        return Err(ChainError::Failed(format!(
            "governance action {id} is scheduled and can be executed at unix time {eta} \
             (the deployment's governance delay): run the same command again after that"
        )));
    }
    gas += chain
        .send(d.admin, hub.execute(target, data))
        .await?
        .gas_used;
    Ok(gas)
}

/// The institution publishes its record-encryption public key (SEC1 compressed, 33 bytes) on the hub, unless the
/// hub already has exactly that key; `chain` must sign for `institution`. Returns whether it sent a transaction.
pub async fn publish_record_key(
    chain: &Chain,
    d: &Deployment,
    institution: Address,
    compressed: &[u8; 33],
) -> Result<bool, ChainError> {
    let hub = chain.hub(d);
    let published = hub
        .recordKeyOf(institution)
        .call()
        .await
        .map_err(|e| ChainError::from_contract(chain.url(), e))?;
    if published.as_ref() == compressed.as_slice() {
        return Ok(false);
    }
    chain
        .send(institution, hub.setRecordKey(compressed.to_vec().into()))
        .await?;
    Ok(true)
}

/// The institution offers a kiosk signer a place; the kiosk key must accept ([`accept_kiosk`]).
pub async fn add_kiosk(
    chain: &Chain,
    d: &Deployment,
    institution: Address,
    kiosk: Address,
) -> Result<(), ChainError> {
    chain
        .send(institution, chain.hub(d).addKiosk(kiosk))
        .await
        .map(|_| ())
}

/// The kiosk key accepts the institution's offer (sent from the kiosk's own key, which `chain` must hold).
pub async fn accept_kiosk(
    chain: &Chain,
    d: &Deployment,
    kiosk: Address,
    institution: Address,
) -> Result<(), ChainError> {
    chain
        .send(kiosk, chain.hub(d).acceptKiosk(institution))
        .await
        .map(|_| ())
}

/// Offer and acceptance in one go, where the caller holds both keys (local stacks, tests): `chain` signs for
/// the institution; the kiosk's key (which needs gas) accepts.
pub async fn enrol_kiosk(
    chain: &Chain,
    d: &Deployment,
    institution: Address,
    kiosk: &PrivateKeySigner,
) -> Result<(), ChainError> {
    add_kiosk(chain, d, institution, kiosk.address()).await?;
    let as_kiosk = chain.with_signers(vec![kiosk.clone()]).await?;
    accept_kiosk(&as_kiosk, d, kiosk.address(), institution).await
}

/// The demo's identities, keys in memory only.
#[derive(Debug, Clone)]
pub struct DemoActors {
    /// Hospital institution key.
    pub hospital: PrivateKeySigner,
    /// Hospital kiosk key.
    pub hospital_kiosk: PrivateKeySigner,
    /// Pharmacy institution key.
    pub pharmacy: PrivateKeySigner,
    /// Pharmacy kiosk key.
    pub pharmacy_kiosk: PrivateKeySigner,
    /// Insurer institution key.
    pub insurer: PrivateKeySigner,
    /// Insurer kiosk key.
    pub insurer_kiosk: PrivateKeySigner,
}

impl DemoActors {
    /// Fresh random keys.
    pub fn generate() -> Self {
        Self {
            hospital: PrivateKeySigner::random(),
            hospital_kiosk: PrivateKeySigner::random(),
            pharmacy: PrivateKeySigner::random(),
            pharmacy_kiosk: PrivateKeySigner::random(),
            insurer: PrivateKeySigner::random(),
            insurer_kiosk: PrivateKeySigner::random(),
        }
    }

    /// All six signers.
    pub fn signers(&self) -> Vec<PrivateKeySigner> {
        vec![
            self.hospital.clone(),
            self.hospital_kiosk.clone(),
            self.pharmacy.clone(),
            self.pharmacy_kiosk.clone(),
            self.insurer.clone(),
            self.insurer_kiosk.clone(),
        ]
    }
}

/// Escrow the demo insurer starts with (tokens).
pub const DEMO_ESCROW: u128 = 1_000_000;

/// On the local chain: registers a demo hospital, pharmacy and insurer with one kiosk each, funds every key with
/// ETH, mints test dollars to the insurer and funds its escrow. `chain` must sign for the admin and `actors`.
pub async fn setup_demo(
    chain: &Chain,
    d: &mut Deployment,
    actors: &DemoActors,
) -> Result<(), ChainError> {
    for s in actors.signers() {
        chain
            .devnet_set_balance(s.address(), U256::from(1000u64) * U256::from(TOKEN_UNIT))
            .await?;
    }
    let demo = [
        (
            "Demo Hospital",
            Role::Hospital,
            &actors.hospital,
            &actors.hospital_kiosk,
        ),
        (
            "Demo Pharmacy",
            Role::Pharmacy,
            &actors.pharmacy,
            &actors.pharmacy_kiosk,
        ),
        (
            "Demo Insurer",
            Role::Insurer,
            &actors.insurer,
            &actors.insurer_kiosk,
        ),
    ];
    for (name, role, inst, kiosk) in demo {
        let (_, id) = register_institution(chain, d, role, inst.address()).await?;
        add_kiosk(chain, d, inst.address(), kiosk.address()).await?;
        accept_kiosk(chain, d, kiosk.address(), inst.address()).await?;
        d.institutions.push(InstitutionEntry {
            name: name.to_string(),
            role,
            address: inst.address(),
            id,
            kiosks: vec![kiosk.address()],
            record_key: String::new(),
        });
    }
    let escrow = U256::from(DEMO_ESCROW) * U256::from(TOKEN_UNIT);
    let insurer = actors.insurer.address();
    chain
        .send(d.admin, chain.token(d).mint(insurer, escrow))
        .await?;
    chain
        .send(
            insurer,
            chain
                .token(d)
                .approve(d.contracts.insurance_provider, escrow),
        )
        .await?;
    chain
        .send(insurer, chain.insurance(d).fundEscrow(insurer, escrow))
        .await?;
    d.block = chain.block_number().await?;
    Ok(())
}

/// A fresh local stack: a real Anvil, the contracts deployed by a random admin, and the demo institutions set up
/// (the chain signs for the admin and every demo actor). What `carekiosk up`, `demo` and the gas table start from.
/// Only with the `devnet` feature (development, tests, demos), which the shipped kiosk does not enable.
#[cfg(feature = "devnet")]
#[derive(Debug)]
pub struct LocalStack {
    /// The node (stopped on drop).
    pub devnet: crate::devnet::Devnet,
    /// A connection signing for the admin and the demo actors.
    pub chain: Chain,
    /// The deployment, with the demo institutions.
    pub deployment: Deployment,
    /// The governance admin.
    pub admin: PrivateKeySigner,
    /// The demo institutions' and kiosks' keys.
    pub actors: DemoActors,
}

#[cfg(feature = "devnet")]
impl LocalStack {
    /// Starts Anvil with `opts` and deploys and sets up everything on it, on the embedded `local` profile.
    pub async fn start(opts: crate::devnet::DevnetOptions) -> Result<LocalStack, ChainError> {
        Self::start_on(opts, Profile::embedded("local")?).await
    }

    /// [`LocalStack::start`] on another network profile (its chain id, gas policy and governance delay): a
    /// Celo-like chain ([`crate::devnet::DevnetOptions::celo_like`]) with a Celo profile.
    pub async fn start_on(
        opts: crate::devnet::DevnetOptions,
        profile: Profile,
    ) -> Result<LocalStack, ChainError> {
        let devnet = crate::devnet::Devnet::start(opts).await?;
        let admin = PrivateKeySigner::random();
        let actors = DemoActors::generate();
        let mut signers = vec![admin.clone()];
        signers.extend(actors.signers());
        let chain = Chain::connect(&devnet.url, profile.gas, signers).await?;
        chain
            .devnet_set_balance(
                admin.address(),
                U256::from(1000u64) * U256::from(TOKEN_UNIT),
            )
            .await?;
        let mut deployment = deploy_contracts(&chain, admin.address(), &profile).await?;
        setup_demo(&chain, &mut deployment, &actors).await?;
        Ok(LocalStack {
            devnet,
            chain,
            deployment,
            admin,
            actors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devnet::{Devnet, DevnetOptions};
    use alloy::providers::Provider as _;

    async fn funded() -> (Devnet, Chain, PrivateKeySigner, Profile) {
        let devnet = Devnet::start(DevnetOptions::default()).await.unwrap();
        let admin = PrivateKeySigner::random();
        let profile = Profile::embedded("local").unwrap();
        let chain = Chain::connect(&devnet.url, profile.gas, vec![admin.clone()])
            .await
            .unwrap();
        chain
            .devnet_set_balance(admin.address(), U256::from(100u64) * U256::from(TOKEN_UNIT))
            .await
            .unwrap();
        (devnet, chain, admin, profile)
    }

    #[test]
    fn amounts_and_steps_read_as_people_write_them() {
        assert_eq!(format_native(U256::from(TOKEN_UNIT)), "1");
        assert_eq!(
            format_native(U256::from(12_300_000_000_000_000u128)),
            "0.0123"
        );
        assert_eq!(format_native(U256::ZERO), "0");
        assert_eq!(native_symbol(42_220), "CELO");
        assert_eq!(native_symbol(31_337), "ETH");
        assert_eq!(
            DeployStep::parse("hospitalrecord").unwrap(),
            DeployStep::HospitalRecord
        );
        let e = DeployStep::parse("Hub").unwrap_err().to_string();
        assert!(e.contains("PatientSmartCard") && e.contains("wire"), "{e}");
        let celo = Profile::embedded("celo").unwrap();
        assert!(!DeployStep::for_profile(&celo).contains(&DeployStep::TestStablecoin));
        assert_eq!(
            DeployStep::for_profile(&Profile::embedded("local").unwrap()).len(),
            6
        );
    }

    #[tokio::test]
    async fn the_plan_covers_what_the_deployment_uses() {
        let (_devnet, chain, admin, profile) = funded().await;
        let fresh = DeployProgress::new(
            &profile.name,
            chain.chain_id(),
            chain.url(),
            admin.address(),
        );
        let plan = plan_deployment(&chain, admin.address(), &profile, &fresh)
            .await
            .unwrap();
        plan.check_funds().unwrap();
        assert_eq!(
            chain.nonce(admin.address(), true).await.unwrap(),
            0,
            "a plan sends nothing"
        );
        let d = deploy_contracts(&chain, admin.address(), &profile)
            .await
            .unwrap();
        for s in plan.steps.iter().filter(|s| s.step != DeployStep::Wire) {
            let used = d
                .deploy_gas
                .iter()
                .find(|(n, _)| n == s.step.name())
                .map(|(_, g)| *g)
                .unwrap();
            assert!(s.gas >= used && s.gas < used * 2, "{s:?}: used {used}");
        }
        let wire = chain
            .receipt(
                chain
                    .provider()
                    .get_block_by_number(d.block.into())
                    .await
                    .unwrap()
                    .unwrap()
                    .transactions
                    .hashes()
                    .next()
                    .unwrap(),
            )
            .await
            .unwrap()
            .unwrap();
        assert!(
            WIRE_GAS_ESTIMATE >= wire.gas_used,
            "wiring used {}",
            wire.gas_used
        );
        // A poor deployer is told what it has and what it needs.
        let poor = DeployPlan {
            balance: U256::from(1u64),
            ..plan
        };
        let e = poor.check_funds().unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "the deployer {} has 0.000000000000000001 ETH, the deployment needs about",
                admin.address()
            )),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_step_signed_but_never_sent_is_sent_on_resume_not_signed_again() {
        let (_devnet, chain, admin, profile) = funded().await;
        let mut progress = DeployProgress::new(
            &profile.name,
            chain.chain_id(),
            chain.url(),
            admin.address(),
        );
        // "Crash" right after the HospitalRecord transaction was signed and recorded, before it was broadcast.
        let mut snapshot = None;
        let e = deploy_resumable(
            &chain,
            &profile,
            &mut progress,
            |p| {
                if p.in_flight
                    .as_ref()
                    .is_some_and(|f| f.step == "HospitalRecord")
                {
                    snapshot = Some(p.clone());
                    return Err(ChainError::Invalid("crash".into()));
                }
                Ok(())
            },
            None,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("crash"));
        let mut saved = snapshot.unwrap();
        let in_flight = saved.in_flight.clone().unwrap();
        assert_eq!(
            chain.nonce(admin.address(), true).await.unwrap(),
            1,
            "only the hub was sent"
        );
        verify_progress(&chain, admin.address(), &profile, &saved, "progress")
            .await
            .unwrap();
        let d = deploy_resumable(&chain, &profile, &mut saved, |_| Ok(()), None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            d.contracts.hospital_record,
            admin.address().create(in_flight.tx.nonce),
            "the recorded transaction itself deployed HospitalRecord"
        );
        assert!(chain.receipt(in_flight.tx.hash).await.unwrap().is_some());
        assert_eq!(chain.nonce(admin.address(), true).await.unwrap(), 6);
        assert_eq!(
            chain.hub(&d).pharmacyAccess().call().await.unwrap(),
            d.contracts.pharmacy_access
        );
        // A progress whose contracts are not on this chain is refused.
        let mut elsewhere = saved.clone();
        elsewhere.contracts[0].1 = Address::repeat_byte(0x42);
        let e = verify_progress(&chain, admin.address(), &profile, &elsewhere, "p.partial")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no contract there") && e.contains("remove p.partial"),
            "{e}"
        );
    }
}
