//! `carekiosk-load`: the load, fault and privacy run (`run`), and the processes it starts (`worker`,
//! `sqlite-writer`).

use std::path::PathBuf;
use std::process::ExitCode;

use carekiosk_kiosk::KioskRole;
use carekiosk_loadtest::{driver, worker, Plan};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "carekiosk-load",
    about = "Whole visits under load and faults, checked against the chain"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs the load with its faults, the checker and the privacy scan; exits non-zero on any failure.
    Run {
        /// The full run (1000 visits, more faults) instead of the bounded one (300 visits).
        #[arg(long)]
        full: bool,
        /// Visits to complete (overrides the plan's).
        #[arg(long)]
        visits: Option<usize>,
        /// No faults: a throughput run.
        #[arg(long)]
        no_faults: bool,
        /// On a Celo-like chain (Anvil at Celo's rules behind a hostile RPC: rate limits, reorgs, hangs, stale
        /// reads, dropped sends, fee spikes) instead of the machine's faults.
        #[arg(long)]
        celo_like: bool,
        /// The Celo-like proxy's random seed.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// At most this many readers (patients in flight).
        #[arg(long)]
        readers: Option<usize>,
        /// Kiosk processes per role.
        #[arg(long)]
        kiosks_per_role: Option<usize>,
        /// Where the run's files go (databases, logs, chain state, report.json).
        #[arg(long, default_value = "target/carekiosk-load")]
        dir: PathBuf,
    },
    /// One kiosk process (started by `run`).
    Worker {
        #[arg(long)]
        role: String,
        #[arg(long)]
        slot: String,
        #[arg(long)]
        manifest: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        log: PathBuf,
        /// A network profile file (the `--celo-like` run's chain).
        #[arg(long)]
        profile: Option<PathBuf>,
        /// The node is remote: the outbox keeps a remote node's pacing and looks for reorged writes.
        #[arg(long)]
        remote_node: bool,
    },
    /// The SQLite writer that gets killed mid-transaction (started by `run`).
    SqliteWriter {
        #[arg(long)]
        db: PathBuf,
    },
}

fn log_to(path: &std::path::Path, default: &str) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREKIOSK_LOAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .init();
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("carekiosk-load: {e}");
            return ExitCode::from(1);
        }
    };
    match cli.cmd {
        Cmd::Run {
            full,
            visits,
            no_faults,
            celo_like,
            seed,
            readers,
            kiosks_per_role,
            dir,
        } => {
            let mut plan = match (full, celo_like) {
                (_, true) => Plan::celo_like(seed),
                (true, false) => Plan::full(),
                (false, false) => Plan::bounded(),
            };
            if no_faults {
                plan = plan.without_faults();
            }
            if let Some(v) = visits {
                plan.visits = v;
            }
            if let Some(r) = readers {
                plan.max_readers = r;
            }
            if let Some(k) = kiosks_per_role {
                plan.kiosks_per_role = k.max(1);
            }
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("carekiosk-load: {}: {e}", dir.display());
                return ExitCode::from(1);
            }
            let _ = std::fs::remove_file(dir.join("logs/driver.log"));
            let _ = std::fs::create_dir_all(dir.join("logs"));
            if let Err(e) = log_to(&dir.join("logs/driver.log"), "info") {
                eprintln!("carekiosk-load: log: {e}");
            }
            match rt.block_on(driver::run(plan, &dir)) {
                Ok(report) => {
                    print!("{report}");
                    println!("report: {}", dir.join("report.json").display());
                    if report.passed() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => {
                    eprintln!("carekiosk-load: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Worker {
            role,
            slot,
            manifest,
            data_dir,
            log,
            profile,
            remote_node,
        } => {
            if let Err(e) = log_to(
                &log,
                "info,carekiosk_kiosk=debug,carekiosk_store=debug,carekiosk_loadtest=debug",
            ) {
                eprintln!("worker: log: {e}");
                return ExitCode::from(1);
            }
            let role: KioskRole = match role.parse() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("worker: {e}");
                    return ExitCode::from(2);
                }
            };
            let args = worker::WorkerArgs {
                role,
                slot,
                manifest,
                data_dir,
                profile,
                remote_node,
            };
            match rt.block_on(worker::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "worker failed");
                    eprintln!("worker: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::SqliteWriter { db } => match carekiosk_loadtest::crash::writer(&db) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sqlite-writer: {e}");
                ExitCode::from(1)
            }
        },
    }
}
