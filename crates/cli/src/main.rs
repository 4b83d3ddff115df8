//! `carekiosk`, the command line. Its commands only parse arguments, call the libraries and print; errors are
//! mapped to messages and exit codes here, once.

use std::path::PathBuf;
use std::process::ExitCode;

use alloy::signers::local::PrivateKeySigner;
use carekiosk_chain::deploy;
use carekiosk_chain::{Chain, ChainError, Deployment, Profile};
use clap::{Parser, Subcommand};

mod admin_cmd;
#[cfg(feature = "demo")]
mod demo;
mod kiosk_cmd;
mod local_cmd;
mod opts;
use kiosk_cmd::{DoctorCmd, InsurerCmd, KioskOpts, PharmacyCmd, ReceptionCmd};

#[derive(Parser)]
#[command(
    name = "carekiosk",
    version,
    about = "carekiosk: patient-card kiosks on a blockchain",
    after_help = "Where things live:\n  \
        role presets and profiles: built in (kiosk-config/ in the source), or a file given with --config / --profile\n  \
        deployment manifests: kiosk-config/deployments/<profile>.json, or --manifest\n  \
        kiosk databases (SQLCipher): $CAREKIOSK_DATA_DIR, else $XDG_DATA_HOME/carekiosk, else ~/.local/share/carekiosk\n  \
        keys (kiosk signing key, record key, database key): the OS keyring (Secret Service), never a file"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the local chain (a real Anvil), deploy the contracts, register the demo institutions, fund the
    /// insurer's escrow, write the manifest, and keep running until Ctrl-C.
    Up {
        /// Where to write the deployment manifest.
        #[arg(long, default_value = "kiosk-config/deployments/local.json")]
        manifest: PathBuf,
        /// Seconds between blocks (default: a block per transaction). Celo makes one a second.
        #[arg(long)]
        block_time: Option<u64>,
        /// Port to listen on (default: any free loopback port).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Exit once everything is deployed (stops the chain): for scripts that only check the stack.
        #[arg(long)]
        no_wait: bool,
        /// Also register this machine's kiosk keys (from the OS keyring) for all four roles.
        #[arg(long)]
        kiosks: bool,
        /// Also put a virtual patient card (blank, factory PINs) in vpcd's first reader; pcscd must run. Only a
        /// build with the `demo` feature has it.
        #[arg(long)]
        virtual_card: bool,
        /// Issue the virtual card to a demo patient (PIN 482916) and take them through reception, enrolment, a
        /// consultation, a prescription and a claim, so every desk has work (needs --kiosks --virtual-card).
        #[arg(long, requires_all = ["kiosks", "virtual_card"])]
        demo_patient: bool,
    },
    /// Run a whole visit on a fresh local stack — register, check in, consult, prescribe, claim, dispense,
    /// approve, pay — with this machine's kiosk keys (OS keyring) and a virtual card through pcscd.
    Demo,
    /// Deploy and wire the contracts on a profile's network. The deployer (who becomes the governance admin)
    /// signs with the key in the environment variable named by --key-env; it is never written anywhere.
    Deploy {
        /// Profile name (local, celo-sepolia, celo) or a path to a profile .toml.
        #[arg(long, default_value = "local")]
        profile: String,
        /// Override the profile's RPC URL.
        #[arg(long)]
        rpc_url: Option<String>,
        /// Environment variable holding the deployer's private key (hex).
        #[arg(long, default_value = "CAREKIOSK_DEPLOYER_KEY")]
        key_env: String,
        /// Where to write the manifest (default: kiosk-config/deployments/<profile>.json). Progress is kept in
        /// `<manifest>.partial` after every step: run the same command again to resume an interrupted deployment.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Print the plan — each step, its estimated gas and cost — and the deployer's balance; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop after this step (as if interrupted there): for tests of resuming.
        #[arg(long, hide = true)]
        stop_after: Option<String>,
    },
    /// Measure the paper's Table III on our contracts (fresh local chain) and print it side by side.
    GasTable {
        /// Also write the Markdown table here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show a deployment and whether its chain answers.
    Status {
        /// The manifest to read.
        #[arg(long, default_value = "kiosk-config/deployments/local.json")]
        manifest: PathBuf,
    },
    /// List the embedded network profiles.
    Profiles,
    /// Reception kiosk: register new patients, check patients in.
    Reception {
        #[command(subcommand)]
        cmd: ReceptionCmd,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// Doctor kiosk: history, diagnoses, prescriptions, claims.
    Doctor {
        #[command(subcommand)]
        cmd: DoctorCmd,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// Pharmacy kiosk: the patient's prescriptions, dispensing.
    Pharmacy {
        #[command(subcommand)]
        cmd: PharmacyCmd,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// Insurer kiosk: enrolment, claim queue, review, approve or deny, pay.
    Insurer {
        #[command(subcommand)]
        cmd: InsurerCmd,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// Administration: institutions, kiosk keys, escrow, the test token, this machine's kiosk addresses. Takes
    /// the kiosk commands' profile options (--profile, --manifest, --config, --data-dir).
    Admin {
        #[command(subcommand)]
        cmd: admin_cmd::AdminCmd,
        #[command(flatten)]
        net: opts::NetworkOpts,
    },
    /// Send what a kiosk's outbox still holds (after the node was unreachable).
    Outbox {
        /// The kiosk's role.
        #[arg(long)]
        role: carekiosk_kiosk::KioskRole,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// At any desk: the patient's own view — who holds consent, the access log, revoke one or all (card and
    /// PIN: CAREKIOSK_PIN, or asked).
    Patient {
        /// The desk's role.
        #[arg(long)]
        role: carekiosk_kiosk::KioskRole,
        #[command(subcommand)]
        cmd: kiosk_cmd::PatientCmd,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// At a hospital desk (reception or doctor): the patient's emergency data set — show or set it (card and
    /// PIN), or read it in an emergency (card, no PIN; recorded on chain).
    Emergency {
        /// The desk's role (reception or doctor).
        #[arg(long, default_value = "doctor")]
        role: carekiosk_kiosk::KioskRole,
        #[command(subcommand)]
        cmd: kiosk_cmd::EmergencyCmd,
        #[command(flatten)]
        opts: KioskOpts,
    },
    /// At any desk: the patient changes their card's PIN (old PIN: CAREKIOSK_PIN; new PIN twice:
    /// CAREKIOSK_NEW_PIN, or asked twice).
    ChangePin {
        /// The desk's role.
        #[arg(long)]
        role: carekiosk_kiosk::KioskRole,
        #[command(flatten)]
        opts: KioskOpts,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Everything a command can fail with: the libraries' errors, mapped here once to messages and exit codes.
#[derive(Debug)]
enum CliError {
    Chain(ChainError),
    Kiosk(carekiosk_kiosk::KioskError),
    Other(String),
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Chain(e) => e.fmt(f),
            CliError::Kiosk(e) => e.fmt(f),
            CliError::Other(m) => f.write_str(m),
        }
    }
}

impl From<ChainError> for CliError {
    fn from(e: ChainError) -> Self {
        CliError::Chain(e)
    }
}

impl From<carekiosk_letter::LetterError> for CliError {
    fn from(e: carekiosk_letter::LetterError) -> Self {
        CliError::Other(e.to_string())
    }
}

impl From<carekiosk_kiosk::KioskError> for CliError {
    fn from(e: carekiosk_kiosk::KioskError) -> Self {
        match e {
            carekiosk_kiosk::KioskError::Chain(c) => CliError::Chain(c),
            other => CliError::Kiosk(other),
        }
    }
}

/// Exit codes: 2 configuration, 3 node unreachable or rate limiting, 4 contract refused, 5 local chain failed, 6 kiosk not
/// registered, 7 card problem, 8 keyring or database problem, 1 anything else.
fn exit_code(e: &CliError) -> u8 {
    use carekiosk_kiosk::KioskError as K;
    match e {
        CliError::Chain(
            ChainError::Config { .. } | ChainError::Invalid(_) | ChainError::WrongChain { .. },
        ) => 2,
        CliError::Chain(
            ChainError::Node { .. }
            | ChainError::Unreachable { .. }
            | ChainError::RateLimited { .. },
        ) => 3,
        CliError::Chain(ChainError::OutOfFunds { .. } | ChainError::Underpriced { .. }) => 1,
        CliError::Chain(ChainError::Reverted(_) | ChainError::Failed(_)) => 4,
        CliError::Chain(ChainError::Devnet(_)) => 5,
        CliError::Kiosk(K::Refused(_)) => 4,
        CliError::Kiosk(K::NotRegistered { .. }) => 6,
        CliError::Kiosk(K::Card(_) | K::UnknownPatient) => 7,
        CliError::Kiosk(K::Wallet(_) | K::Store(_)) => 8,
        CliError::Kiosk(K::Config { .. }) => 2,
        CliError::Kiosk(_) | CliError::Other(_) => 1,
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Up {
            manifest,
            block_time,
            port,
            no_wait,
            kiosks,
            virtual_card,
            demo_patient,
        } => {
            let opts = local_cmd::UpOptions {
                block_time,
                port,
                no_wait,
                kiosks,
                virtual_card,
                demo_patient,
            };
            local_cmd::up(manifest, opts, cli.json).await
        }
        Command::Demo => local_cmd::demo().await,
        Command::Reception { cmd, opts } => kiosk_cmd::reception(cmd, opts, cli.json).await,
        Command::Doctor { cmd, opts } => kiosk_cmd::doctor(cmd, opts, cli.json).await,
        Command::Pharmacy { cmd, opts } => kiosk_cmd::pharmacy(cmd, opts, cli.json).await,
        Command::Insurer { cmd, opts } => kiosk_cmd::insurer(cmd, opts, cli.json).await,
        Command::Admin { cmd, net } => admin_cmd::run(cmd, net, cli.json).await,
        Command::Outbox { role, opts } => kiosk_cmd::outbox(role, opts, cli.json).await,
        Command::ChangePin { role, opts } => kiosk_cmd::change_pin(role, opts, cli.json).await,
        Command::Patient { role, cmd, opts } => kiosk_cmd::patient(role, cmd, opts, cli.json).await,
        Command::Emergency { role, cmd, opts } => {
            kiosk_cmd::emergency_cmd(role, cmd, opts, cli.json).await
        }
        Command::Deploy {
            profile,
            rpc_url,
            key_env,
            manifest,
            dry_run,
            stop_after,
        } => {
            let o = DeployOptions {
                rpc_url,
                key_env,
                manifest,
                dry_run,
                stop_after,
            };
            deploy_cmd(&profile, o, cli.json).await
        }
        Command::GasTable { out } => local_cmd::gas_table(out, cli.json).await,
        Command::Status { manifest } => status(&manifest, cli.json).await,
        Command::Profiles => {
            for name in Profile::embedded_names() {
                let p = Profile::embedded(name)?;
                let rpc = if p.rpc_url.is_empty() {
                    "(own Anvil)"
                } else {
                    p.rpc_url.as_str()
                };
                println!("{:<14} chain {:<10} {}", p.name, p.chain_id, rpc);
            }
            Ok(())
        }
    }
}

pub(crate) fn print_deployment(d: &Deployment, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(d).expect("serialisable"));
        return;
    }
    println!("chain            {} (chain id {})", d.rpc_url, d.chain_id);
    println!("block            {}", d.block);
    println!("admin            {}", d.admin);
    println!("PatientSmartCard {}", d.contracts.patient_smart_card);
    println!("HospitalRecord   {}", d.contracts.hospital_record);
    println!("PharmacyAccess   {}", d.contracts.pharmacy_access);
    println!("InsuranceProvider {}", d.contracts.insurance_provider);
    println!("token            {}", d.contracts.token);
    for i in &d.institutions {
        let kiosks: Vec<String> = i.kiosks.iter().map(|k| k.to_string()).collect();
        println!(
            "{:<16} {} (id {}, {:?}), kiosks {}",
            i.name,
            i.address,
            i.id,
            i.role,
            kiosks.join(", ")
        );
    }
}

/// `deploy`'s options besides the profile.
struct DeployOptions {
    rpc_url: Option<String>,
    key_env: String,
    manifest: Option<PathBuf>,
    dry_run: bool,
    stop_after: Option<String>,
}

async fn deploy_cmd(profile: &str, o: DeployOptions, json: bool) -> Result<(), CliError> {
    use alloy::providers::Provider as _;
    use carekiosk_chain::manifest::DeployProgress;
    let profile = Profile::load(profile)?;
    let url = o.rpc_url.unwrap_or_else(|| profile.rpc_url.clone());
    if url.is_empty() {
        return Err(ChainError::Invalid(format!(
            "profile {} has no RPC URL: pass --rpc-url, or use `carekiosk up` for the local chain",
            profile.name
        ))
        .into());
    }
    let key_env = o.key_env;
    let key = zeroize::Zeroizing::new(std::env::var(&key_env).map_err(|_| {
        ChainError::Invalid(format!(
            "set {key_env} to the deployer's private key (hex); it is read, never stored"
        ))
    })?);
    let signer: PrivateKeySigner = key.trim().parse().map_err(|_| {
        ChainError::Invalid(format!(
            "{key_env} does not hold a valid private key (64 hex digits)"
        ))
    })?;
    drop(key);
    let stop_after = match o.stop_after.as_deref() {
        Some(s) => {
            let step = deploy::DeployStep::parse(s)?;
            if !deploy::DeployStep::for_profile(&profile).contains(&step) {
                return Err(ChainError::Invalid(format!(
                    "profile {} has no step {} (it names its token)",
                    profile.name,
                    step.name()
                ))
                .into());
            }
            Some(step)
        }
        None => None,
    };
    let chain = Chain::connect(&url, profile.gas, vec![signer.clone()]).await?;
    chain.expect_chain_id(profile.chain_id, &format!("profile {}", profile.name))?;
    let path = o.manifest.unwrap_or_else(|| {
        PathBuf::from(format!("kiosk-config/deployments/{}.json", profile.name))
    });
    let partial = DeployProgress::path_for(&path);
    let origin = partial.display().to_string();
    let mut progress = match DeployProgress::load(&partial)? {
        Some(p) => {
            deploy::verify_progress(&chain, signer.address(), &profile, &p, &origin).await?;
            p
        }
        None if path.exists() => {
            // A finished deployment: nothing to redo, unless it is not on this chain.
            let d = Deployment::load(&path)?;
            let code = chain
                .provider()
                .get_code_at(d.contracts.patient_smart_card)
                .await
                .map_err(|e| ChainError::node(chain.url(), e))?;
            if d.chain_id != chain.chain_id() || code.is_empty() {
                return Err(ChainError::Invalid(format!(
                    "manifest {} names a deployment that is not on this chain (chain id {}): pass another \
                     --manifest, or remove it to deploy anew",
                    path.display(),
                    chain.chain_id()
                ))
                .into());
            }
            if !json {
                println!(
                    "already deployed (manifest {}): nothing sent; to deploy anew, pass another --manifest",
                    path.display()
                );
            }
            print_deployment(&d, json);
            return Ok(());
        }
        None => DeployProgress::new(&profile.name, chain.chain_id(), &url, signer.address()),
    };
    let plan = deploy::plan_deployment(&chain, signer.address(), &profile, &progress).await?;
    if o.dry_run {
        print_plan(&plan, &profile, json);
        if !json {
            println!("dry run: nothing was sent");
        }
        return Ok(());
    }
    plan.check_funds()?;
    if !json {
        print_plan(&plan, &profile, false);
    }
    let d = deploy::deploy_resumable(
        &chain,
        &profile,
        &mut progress,
        |p| p.save(&partial),
        stop_after,
    )
    .await?;
    let Some(d) = d else {
        return Err(CliError::Other(format!(
            "stopped after step {} as asked (--stop-after); progress in {origin}: run the same command again to \
             resume",
            stop_after.map(|s| s.name()).unwrap_or_default()
        )));
    };
    d.save(&path)?;
    std::fs::remove_file(&partial).map_err(|e| ChainError::Config {
        path: origin.clone(),
        reason: format!(
            "the manifest is written, but the progress file could not be removed ({e}): remove it"
        ),
    })?;
    print_deployment(&d, json);
    if !json {
        println!("manifest         {}", path.display());
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn gwei(wei: u128) -> String {
    let g = wei as f64 / 1e9;
    let s = format!("{g:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn print_plan(plan: &deploy::DeployPlan, profile: &Profile, json: bool) {
    let unit = deploy::native_symbol(plan.chain_id);
    let enough = plan.check_funds().is_ok();
    if json {
        let steps: Vec<serde_json::Value> = plan
            .steps
            .iter()
            .map(|s| {
                serde_json::json!({
                    "step": s.step.name(),
                    "done": s.done,
                    "gas": s.gas,
                    "estimated": s.estimated,
                    "gasLimit": s.gas_limit,
                    "costWei": plan.step_cost(s).to_string(),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "profile": profile.name,
                "chainId": plan.chain_id,
                "deployer": plan.deployer,
                "balanceWei": plan.balance.to_string(),
                "maxFeePerGasWei": plan.max_fee_per_gas.to_string(),
                "expectedFeePerGasWei": plan.expected_fee_per_gas.to_string(),
                "steps": steps,
                "totalGas": plan.total_gas(),
                "neededWei": plan.needed().to_string(),
                "expectedCostWei": plan.expected_cost().to_string(),
                "enough": enough,
            })
        );
        return;
    }
    println!(
        "deployment plan: profile {}, chain id {}, deployer {}",
        profile.name, plan.chain_id, plan.deployer
    );
    println!("  {:<18} {:>12}  at most ({unit})", "step", "gas");
    for s in &plan.steps {
        if s.done {
            println!("  {:<18} {:>12}", s.step.name(), "done");
            continue;
        }
        let gas = if s.estimated {
            thousands(s.gas)
        } else {
            format!("~{}", thousands(s.gas))
        };
        println!(
            "  {:<18} {:>12}  {}{}",
            s.step.name(),
            gas,
            deploy::format_native(plan.step_cost(s)),
            if s.estimated {
                ""
            } else {
                "  (fixed estimate: the hub is not deployed yet)"
            }
        );
    }
    println!(
        "total {} gas: about {} {unit} at {} gwei per gas, at most {} {unit} at {} gwei",
        thousands(plan.total_gas()),
        deploy::format_native(plan.expected_cost()),
        gwei(plan.expected_fee_per_gas),
        deploy::format_native(plan.needed()),
        gwei(plan.max_fee_per_gas),
    );
    if enough {
        println!(
            "deployer balance {} {unit}: enough",
            deploy::format_native(plan.balance)
        );
    } else {
        println!(
            "deployer balance {} {unit}: NOT enough, the deployment needs about {} {unit}: fund it",
            deploy::format_native(plan.balance),
            deploy::format_native(plan.needed())
        );
    }
}

async fn status(manifest: &std::path::Path, json: bool) -> Result<(), CliError> {
    let d = Deployment::load(manifest)?;
    let profile = Profile::embedded(&d.profile).or_else(|_| Profile::embedded("local"))?;
    let chain = Chain::connect(&d.rpc_url, profile.gas, vec![]).await?;
    chain.expect_chain_id(d.chain_id, &format!("manifest {}", manifest.display()))?;
    let block = chain.block_number().await?;
    print_deployment(&d, json);
    if !json {
        println!("node answers     block {block}");
    }
    Ok(())
}
