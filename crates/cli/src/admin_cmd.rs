//! Administration from the command line: institutions, kiosk keys, escrow, and this machine's kiosk addresses.
//! Keys of admins and institutions are read from environment variables (never stored); kiosk keys live in the
//! OS keyring.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::bindings::Role;
use carekiosk_chain::deploy::{self, TOKEN_UNIT};
use carekiosk_chain::{Chain, Deployment};
use carekiosk_kiosk::KioskRole;
use clap::Subcommand;
use serde_json::json;

use crate::opts::{NetworkOpts, Target};
use crate::CliError;

#[derive(Subcommand)]
pub enum AdminCmd {
    /// The governance admin (key in CAREKIOSK_ADMIN_KEY) registers an institution: scheduled, then executed
    /// once the deployment's governance delay has passed (run it again after the time it prints).
    RegisterInstitution {
        /// hospital, pharmacy or insurer.
        #[arg(long)]
        role: String,
        #[arg(long)]
        address: Address,
    },
    /// An institution (key in CAREKIOSK_INSTITUTION_KEY) offers a kiosk signer address a place; the kiosk then
    /// accepts with `accept-kiosk` (its own key, from this machine's keyring).
    AddKiosk {
        #[arg(long)]
        kiosk: Address,
    },
    /// On the kiosk: its key (OS keyring) accepts the institution's offer, so no other institution can claim it.
    AcceptKiosk {
        #[arg(long)]
        role: KioskRole,
        /// The institution that offered (its address).
        #[arg(long)]
        institution: Address,
    },
    /// The institution (or the admin) revokes a kiosk key, e.g. a stolen kiosk.
    RemoveKiosk {
        #[arg(long)]
        kiosk: Address,
    },
    /// The institution (key in CAREKIOSK_INSTITUTION_KEY) publishes its record-encryption key on chain — the one
    /// in this machine's keyring for `--role` — so other institutions' kiosks seal claims and responses for it.
    RecordKey {
        #[arg(long)]
        role: KioskRole,
    },
    /// The insurer (key in CAREKIOSK_INSTITUTION_KEY) sets its four-eyes threshold: an approval above this many
    /// whole tokens needs a second workstation of the insurer to confirm it (0: none).
    ApprovalThreshold {
        #[arg(long)]
        amount: u64,
    },
    /// Fund an insurer's escrow with whole tokens from the key in CAREKIOSK_FUNDER_KEY (approves, then funds).
    FundEscrow {
        #[arg(long)]
        insurer: Address,
        #[arg(long)]
        amount: u64,
    },
    /// Send the chain's native token (CELO) for gas from the key in CAREKIOSK_FUNDER_KEY to a kiosk or an
    /// institution: a plain transfer, as a wallet would make it.
    FundGas {
        /// Who receives it (a kiosk address from `kiosk-address`, or an institution).
        #[arg(long)]
        to: Address,
        /// How much, in whole units with decimals ("0.5" is half a CELO).
        #[arg(long)]
        amount: String,
    },
    /// The network's emergency key (opens patients' emergency data sets at hospital kiosks, without a PIN).
    /// Default: the admin (CAREKIOSK_ADMIN_KEY) generates it in this machine's keyring (or reuses the one there)
    /// and publishes its public half on chain (directly the first time, through governance afterwards).
    /// `--export` prints the secret (hex) once, to carry to each hospital kiosk machine out of band;
    /// `--import` (on a hospital kiosk machine) reads it from stdin into that machine's keyring.
    EmergencyKey {
        /// Print the secret key (hex) to stdout, to install it on hospital kiosks. Handle it like a master key.
        #[arg(long, conflicts_with = "import")]
        export: bool,
        /// Read the secret key (hex) from stdin into this machine's keyring; checked against the chain's key.
        #[arg(long)]
        import: bool,
    },
    /// This machine's kiosk address for a role under the profile given (the key is generated in the OS keyring if
    /// there is none): exactly the key the kiosk opened with the same options signs with.
    KioskAddress {
        #[arg(long)]
        role: KioskRole,
    },
    /// Sets a new staff code for this machine's kiosk of a role (kiosk mode: the code closes the app). Prints the
    /// 8 digits once; only their hash is kept, in the OS keyring. Setting it again replaces the old one.
    StaffCode {
        #[arg(long)]
        role: KioskRole,
    },
    /// Mint whole tokens of the test stablecoin (testnets and the local chain; key of its minter, the deployer, in
    /// CAREKIOSK_ADMIN_KEY). Refused on a real token: buy or transfer that instead.
    Mint {
        /// Who receives them.
        #[arg(long)]
        to: Address,
        /// Whole tokens.
        #[arg(long)]
        amount: u64,
    },
}

fn key(var: &str) -> Result<PrivateKeySigner, CliError> {
    let text = std::env::var(var).map_err(|_| {
        CliError::Other(format!(
            "set {var} to the private key (hex); it is read, never stored"
        ))
    })?;
    text.trim()
        .parse()
        .map_err(|_| CliError::Other(format!("{var} does not hold a valid private key")))
}

/// The target of the options (profile and manifest checked to agree) and a connection signing with `signer`.
async fn connect(
    net: &NetworkOpts,
    role: Option<KioskRole>,
    signer: PrivateKeySigner,
) -> Result<(Chain, Deployment), CliError> {
    let t = Target::resolve(role, net)?;
    let chain = t.connect(vec![signer]).await?;
    Ok((chain, t.deployment))
}

/// This machine's kiosk keys for `role` under the options' profile, as `Kiosk::open` loads them.
fn kiosk_keys(
    net: &NetworkOpts,
    role: KioskRole,
) -> Result<carekiosk_kiosk::kiosk::KioskKeys, CliError> {
    let c = crate::opts::kiosk_config(Some(role), net)?;
    Ok(carekiosk_kiosk::kiosk::KioskKeys::load_or_generate(
        &c.profile_name(),
        role,
    )?)
}

pub async fn run(cmd: AdminCmd, net: NetworkOpts, json: bool) -> Result<(), CliError> {
    let done = |what: &str, r: &alloy::rpc::types::TransactionReceipt| {
        if json {
            println!(
                "{}",
                json!({ "step": what, "tx": r.transaction_hash, "block": r.block_number })
            );
        } else {
            println!(
                "{what}: confirmed in block {}, tx {}",
                r.block_number.unwrap_or_default(),
                r.transaction_hash
            );
        }
    };
    match cmd {
        AdminCmd::RegisterInstitution { role, address } => {
            let role = match role.as_str() {
                "hospital" => Role::Hospital,
                "pharmacy" => Role::Pharmacy,
                "insurer" => Role::Insurer,
                other => {
                    return Err(CliError::Other(format!(
                        "unknown role {other:?}: hospital, pharmacy or insurer"
                    )))
                }
            };
            let (chain, d) = connect(&net, None, key("CAREKIOSK_ADMIN_KEY")?).await?;
            let (gas, id) = deploy::register_institution(&chain, &d, role, address).await?;
            if json {
                println!(
                    "{}",
                    json!({ "institution": address, "id": id, "gas": gas })
                );
            } else {
                println!("{address} registered as {role:?} (id {id}, {gas} gas)");
            }
        }
        AdminCmd::AddKiosk { kiosk } => {
            let signer = key("CAREKIOSK_INSTITUTION_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&net, None, signer).await?;
            let r = chain.send(me, chain.hub(&d).addKiosk(kiosk)).await?;
            done(
                "kiosk offered (on the kiosk, run `carekiosk admin accept-kiosk --role <role> --institution <this institution>`)",
                &r,
            );
        }
        AdminCmd::AcceptKiosk { role, institution } => {
            let keys = kiosk_keys(&net, role)?;
            let me = keys.signer.address();
            let (chain, d) = connect(&net, Some(role), keys.signer.clone()).await?;
            let r = chain
                .send(me, chain.hub(&d).acceptKiosk(institution))
                .await?;
            done("kiosk accepted its institution", &r);
        }
        AdminCmd::RemoveKiosk { kiosk } => {
            let signer =
                key("CAREKIOSK_INSTITUTION_KEY").or_else(|_| key("CAREKIOSK_ADMIN_KEY"))?;
            let me = signer.address();
            let (chain, d) = connect(&net, None, signer).await?;
            let r = chain.send(me, chain.hub(&d).removeKiosk(kiosk)).await?;
            done("kiosk revoked", &r);
        }
        AdminCmd::RecordKey { role } => {
            let keys = kiosk_keys(&net, role)?;
            let signer = key("CAREKIOSK_INSTITUTION_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&net, Some(role), signer).await?;
            let compressed = keys.record_key.public_key().to_sec1_compressed();
            let sent = deploy::publish_record_key(&chain, &d, me, &compressed).await?;
            if json {
                println!("{}", json!({ "step": "record key", "sent": sent }));
            } else if sent {
                println!("record key published");
            } else {
                println!("record key published already (the chain has this key)");
            }
        }
        AdminCmd::ApprovalThreshold { amount } => {
            let signer = key("CAREKIOSK_INSTITUTION_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&net, None, signer).await?;
            let value = U256::from(amount) * U256::from(TOKEN_UNIT);
            let r = chain
                .send(me, chain.insurance(&d).setApprovalThreshold(value))
                .await?;
            done("four-eyes threshold set", &r);
        }
        AdminCmd::FundEscrow { insurer, amount } => {
            let signer = key("CAREKIOSK_FUNDER_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&net, None, signer).await?;
            let value = U256::from(amount) * U256::from(TOKEN_UNIT);
            chain
                .send(
                    me,
                    chain
                        .token(&d)
                        .approve(d.contracts.insurance_provider, value),
                )
                .await?;
            let r = chain
                .send(me, chain.insurance(&d).fundEscrow(insurer, value))
                .await?;
            done("escrow funded", &r);
        }
        AdminCmd::FundGas { to, amount } => {
            let value = alloy::primitives::utils::parse_ether(amount.trim()).map_err(|_| {
                CliError::Other(format!(
                    "--amount {amount:?} is not an amount: whole units with decimals, e.g. 0.5"
                ))
            })?;
            let signer = key("CAREKIOSK_FUNDER_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&net, None, signer).await?;
            let transfer =
                alloy::contract::CallBuilder::new_raw(chain.provider(), Default::default())
                    .to(to)
                    .value(value);
            let r = chain.send(me, transfer).await?;
            let symbol = deploy::native_symbol(d.chain_id);
            done(&format!("{amount} {symbol} sent to {to} for gas"), &r);
        }
        AdminCmd::EmergencyKey { export, import } => {
            use carekiosk_wallet::KeyKind;
            // The keyring profile hospital kiosks load the key under (the profile file's stem for a path).
            let profile = crate::opts::kiosk_config(None, &net)?.profile_name();
            let wallet =
                carekiosk_wallet::Wallet::open().map_err(carekiosk_kiosk::KioskError::from)?;
            let slot = wallet
                .slot::<carekiosk_wallet::RecordKey>(
                    &profile,
                    carekiosk_kiosk::kiosk::EMERGENCY_SLOT,
                )
                .map_err(carekiosk_kiosk::KioskError::from)?;
            let public_of = |k: &carekiosk_wallet::RecordKey| -> Result<Vec<u8>, CliError> {
                let soft = carekiosk_records::SoftKey::from_bytes(k.secret_bytes())
                    .map_err(carekiosk_kiosk::KioskError::from)?;
                Ok(soft.public_key().to_sec1_compressed().to_vec())
            };
            if import {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| CliError::Other(e.to_string()))?;
                let key = slot
                    .import_hex(line.trim())
                    .map_err(carekiosk_kiosk::KioskError::from)?;
                let t = Target::resolve(None, &net)?;
                let chain = t.connect(vec![]).await?;
                let d = t.deployment;
                let on_chain = chain.hub(&d).emergencyKey().call().await.map_err(|e| {
                    carekiosk_chain::ChainError::from_contract_error(chain.url(), e)
                })?;
                if on_chain.as_ref() != public_of(&key)?.as_slice() {
                    let _ = slot.delete();
                    return Err(CliError::Other(
                        "this key is not the network's emergency key on chain: nothing was kept"
                            .into(),
                    ));
                }
                println!("emergency key installed in this machine's keyring ({profile})");
                return Ok(());
            }
            let secret = slot
                .generate_or_load()
                .map_err(carekiosk_kiosk::KioskError::from)?;
            if export {
                eprintln!(
                    "the network's emergency key follows: install it on hospital kiosks with                      `carekiosk admin emergency-key --import`, and keep no copy"
                );
                println!("{}", alloy::hex::encode(k_bytes(&secret)));
                return Ok(());
            }
            let public = public_of(&secret)?;
            let (chain, d) = connect(&net, None, key("CAREKIOSK_ADMIN_KEY")?).await?;
            let hub = chain.hub(&d);
            let current =
                hub.emergencyKey().call().await.map_err(|e| {
                    carekiosk_chain::ChainError::from_contract_error(chain.url(), e)
                })?;
            if current.as_ref() == public.as_slice() {
                println!("the chain already has this emergency key");
            } else if current.is_empty() {
                let r = chain
                    .send(d.admin, hub.setEmergencyKey(public.into()))
                    .await?;
                done("emergency key published", &r);
            } else {
                let data = hub.setEmergencyKey(public.into()).calldata().clone();
                let gas = deploy::govern(&chain, &d, d.contracts.patient_smart_card, data).await?;
                println!("emergency key rotated through governance ({gas} gas)");
            }
        }
        AdminCmd::Mint { to, amount } => {
            let t = Target::resolve(None, &net)?;
            let token = t.deployment.contracts.token;
            let symbol = &t.profile.token.symbol;
            let not_test = || {
                CliError::Other(format!(
                    "{token} ({symbol}) is not the test stablecoin; buy it or transfer it to {to}"
                ))
            };
            if t.profile.token.address.is_some() {
                return Err(not_test());
            }
            let signer = key("CAREKIOSK_ADMIN_KEY")?;
            let me = signer.address();
            let chain = t.connect(vec![signer]).await?;
            let d = t.deployment;
            // Only the test stablecoin has a minter; a real token's call fails.
            let minter = chain
                .token(&d)
                .minter()
                .call()
                .await
                .map_err(|_| not_test())?;
            if minter != me {
                return Err(CliError::Other(format!(
                    "only the test stablecoin's minter {minter} (the deployer) can mint; CAREKIOSK_ADMIN_KEY is {me}'s"
                )));
            }
            let value = U256::from(amount) * U256::from(TOKEN_UNIT);
            let r = chain.send(me, chain.token(&d).mint(to, value)).await?;
            done(&format!("{amount} {symbol} minted to {to}"), &r);
        }
        AdminCmd::StaffCode { role } => {
            let profile = crate::opts::kiosk_config(Some(role), &net)?.profile_name();
            let code = carekiosk_kiosk::kiosk::set_staff_code(&profile, role)?;
            if json {
                println!(
                    "{}",
                    json!({ "role": role.as_str(), "profile": profile, "staffCode": code })
                );
            } else {
                println!(
                    "staff code of the {} kiosk (profile {profile}): {code} — give it to the desk's staff; it is shown only now",
                    role.as_str()
                );
            }
        }
        AdminCmd::KioskAddress { role } => {
            let keys = kiosk_keys(&net, role)?;
            let profile = crate::opts::kiosk_config(Some(role), &net)?.profile_name();
            let record = alloy::hex::encode(keys.record_key.public_key().to_sec1_uncompressed());
            if json {
                println!(
                    "{}",
                    json!({ "role": role.as_str(), "profile": profile, "kiosk": keys.signer.address(), "recordKey": record })
                );
            } else {
                println!(
                    "{} kiosk {} (profile {profile}, record key {record})",
                    role.as_str(),
                    keys.signer.address()
                );
            }
        }
    }
    Ok(())
}

fn k_bytes(k: &carekiosk_wallet::RecordKey) -> [u8; 32] {
    use carekiosk_wallet::KeyKind;
    *k.secret_bytes()
}
