//! Deploying and wiring the contracts, registering institutions and kiosks, and the local demo setup.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;

use crate::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess, Role, TestStablecoin,
};
use crate::manifest::{Contracts, InstitutionEntry};
use crate::{Chain, ChainError, Deployment, Profile};

/// One token unit in base units, for an 18-decimal token.
pub const TOKEN_UNIT: u128 = 1_000_000_000_000_000_000;

/// Deploys the four contracts (and the test stablecoin when the profile names no token) from `admin`, who becomes
/// the governance admin, and wires them. Returns the manifest (without institutions).
pub async fn deploy_contracts(
    chain: &Chain,
    admin: Address,
    profile: &Profile,
) -> Result<Deployment, ChainError> {
    chain.expect_chain_id(profile.chain_id, &format!("profile {}", profile.name))?;
    let p = chain.provider();
    let mut deploy_gas = Vec::new();
    let mut created =
        |name: &str, r: &alloy::rpc::types::TransactionReceipt| -> Result<Address, ChainError> {
            deploy_gas.push((name.to_string(), r.gas_used));
            r.contract_address
                .ok_or_else(|| ChainError::Failed(format!("{name} deployment created no contract")))
        };
    let r = chain
        .send(
            admin,
            PatientSmartCard::deploy_builder(
                p,
                admin,
                profile.governance_delay_secs,
                Address::ZERO,
            ),
        )
        .await?;
    let hub = created("PatientSmartCard", &r)?;
    let r = chain
        .send(admin, HospitalRecord::deploy_builder(p, hub))
        .await?;
    let records = created("HospitalRecord", &r)?;
    let r = chain
        .send(admin, PharmacyAccess::deploy_builder(p, hub))
        .await?;
    let pharmacy = created("PharmacyAccess", &r)?;
    let token = match profile.token.address {
        Some(t) => t,
        None => {
            let r = chain.send(admin, TestStablecoin::deploy_builder(p)).await?;
            created("TestStablecoin", &r)?
        }
    };
    let r = chain
        .send(
            admin,
            InsuranceProvider::deploy_builder(p, hub, records, token),
        )
        .await?;
    let insurance = created("InsuranceProvider", &r)?;
    let hub_contract = PatientSmartCard::new(hub, p.clone());
    let r = chain
        .send(admin, hub_contract.wire(records, pharmacy, insurance))
        .await?;
    tracing::info!(%hub, %records, %pharmacy, %insurance, %token, "contracts deployed and wired");
    Ok(Deployment {
        profile: profile.name.clone(),
        chain_id: chain.chain_id(),
        rpc_url: chain.url().to_string(),
        block: r.block_number.unwrap_or_default(),
        admin,
        contracts: Contracts {
            patient_smart_card: hub,
            hospital_record: records,
            pharmacy_access: pharmacy,
            insurance_provider: insurance,
            token,
        },
        deploy_gas,
        institutions: Vec::new(),
    })
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

impl LocalStack {
    /// Starts Anvil with `opts` and deploys and sets up everything on it, on the embedded `local` profile.
    pub async fn start(opts: crate::devnet::DevnetOptions) -> Result<LocalStack, ChainError> {
        let profile = Profile::embedded("local")?;
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
