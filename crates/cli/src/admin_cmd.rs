//! Administration from the command line: institutions, kiosk keys, escrow, and this machine's kiosk addresses.
//! Keys of admins and institutions are read from environment variables (never stored); kiosk keys live in the
//! OS keyring.

use std::path::PathBuf;

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::bindings::Role;
use carekiosk_chain::deploy::{self, TOKEN_UNIT};
use carekiosk_chain::{Chain, Deployment, Profile};
use carekiosk_kiosk::KioskRole;
use clap::Subcommand;
use serde_json::json;

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
        #[arg(long, default_value = "local")]
        profile: String,
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
        #[arg(long, default_value = "local")]
        profile: String,
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
    /// The network's emergency key (opens patients' emergency data sets at hospital kiosks, without a PIN).
    /// Default: the admin (CAREKIOSK_ADMIN_KEY) generates it in this machine's keyring (or reuses the one there)
    /// and publishes its public half on chain (directly the first time, through governance afterwards).
    /// `--export` prints the secret (hex) once, to carry to each hospital kiosk machine out of band;
    /// `--import` (on a hospital kiosk machine) reads it from stdin into that machine's keyring.
    EmergencyKey {
        #[arg(long, default_value = "local")]
        profile: String,
        /// Print the secret key (hex) to stdout, to install it on hospital kiosks. Handle it like a master key.
        #[arg(long, conflicts_with = "import")]
        export: bool,
        /// Read the secret key (hex) from stdin into this machine's keyring; checked against the chain's key.
        #[arg(long)]
        import: bool,
    },
    /// This machine's kiosk address for a role (the key is generated in the OS keyring if there is none).
    KioskAddress {
        #[arg(long)]
        role: KioskRole,
        #[arg(long, default_value = "local")]
        profile: String,
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

async fn connect(
    manifest: &std::path::Path,
    signer: PrivateKeySigner,
) -> Result<(Chain, Deployment), CliError> {
    let d = Deployment::load(manifest)?;
    let profile = Profile::load(&d.profile)?;
    let url = if d.rpc_url.is_empty() {
        profile.rpc_url.clone()
    } else {
        d.rpc_url.clone()
    };
    let chain = Chain::connect(&url, profile.gas, vec![signer]).await?;
    chain.expect_chain_id(d.chain_id, "the manifest")?;
    Ok((chain, d))
}

pub async fn run(cmd: AdminCmd, manifest: PathBuf, json: bool) -> Result<(), CliError> {
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
            let (chain, d) = connect(&manifest, key("CAREKIOSK_ADMIN_KEY")?).await?;
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
            let (chain, d) = connect(&manifest, signer).await?;
            let r = chain.send(me, chain.hub(&d).addKiosk(kiosk)).await?;
            done(
                "kiosk offered (on the kiosk, run `carekiosk admin accept-kiosk --role <role> --institution <this institution>`)",
                &r,
            );
        }
        AdminCmd::AcceptKiosk {
            role,
            institution,
            profile,
        } => {
            let keys = carekiosk_kiosk::kiosk::KioskKeys::load_or_generate(&profile, role)?;
            let me = keys.signer.address();
            let (chain, d) = connect(&manifest, keys.signer.clone()).await?;
            let r = chain
                .send(me, chain.hub(&d).acceptKiosk(institution))
                .await?;
            done("kiosk accepted its institution", &r);
        }
        AdminCmd::RemoveKiosk { kiosk } => {
            let signer =
                key("CAREKIOSK_INSTITUTION_KEY").or_else(|_| key("CAREKIOSK_ADMIN_KEY"))?;
            let me = signer.address();
            let (chain, d) = connect(&manifest, signer).await?;
            let r = chain.send(me, chain.hub(&d).removeKiosk(kiosk)).await?;
            done("kiosk revoked", &r);
        }
        AdminCmd::RecordKey { role, profile } => {
            let keys = carekiosk_kiosk::kiosk::KioskKeys::load_or_generate(&profile, role)?;
            let signer = key("CAREKIOSK_INSTITUTION_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&manifest, signer).await?;
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
            let (chain, d) = connect(&manifest, signer).await?;
            let value = U256::from(amount) * U256::from(TOKEN_UNIT);
            let r = chain
                .send(me, chain.insurance(&d).setApprovalThreshold(value))
                .await?;
            done("four-eyes threshold set", &r);
        }
        AdminCmd::FundEscrow { insurer, amount } => {
            let signer = key("CAREKIOSK_FUNDER_KEY")?;
            let me = signer.address();
            let (chain, d) = connect(&manifest, signer).await?;
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
        AdminCmd::EmergencyKey {
            profile,
            export,
            import,
        } => {
            use carekiosk_wallet::KeyKind;
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
                let d = Deployment::load(&manifest)?;
                let profile_file = Profile::load(&d.profile)?;
                let url = if d.rpc_url.is_empty() {
                    profile_file.rpc_url.clone()
                } else {
                    d.rpc_url.clone()
                };
                let chain = Chain::connect(&url, profile_file.gas, vec![]).await?;
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
            let (chain, d) = connect(&manifest, key("CAREKIOSK_ADMIN_KEY")?).await?;
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
        AdminCmd::KioskAddress { role, profile } => {
            let keys = carekiosk_kiosk::kiosk::KioskKeys::load_or_generate(&profile, role)?;
            let record = alloy::hex::encode(keys.record_key.public_key().to_sec1_uncompressed());
            if json {
                println!(
                    "{}",
                    json!({ "role": role.as_str(), "kiosk": keys.signer.address(), "recordKey": record })
                );
            } else {
                println!(
                    "{} kiosk {} (record key {record})",
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
