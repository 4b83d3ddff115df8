//! `carekiosk-card-sim`: one virtual OpenPGP card in one vpcd reader.
//!
//! ```text
//! carekiosk-card-sim run --state card.json [--port 35963] [--control /tmp/card0.sock] [--removed]
//! carekiosk-card-sim ctl --control /tmp/card0.sock remove|insert|pull-on sign|fault truncate 47|status|quit
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use carekiosk_card_sim::{control, AppletOptions, Profile, Sim, SimConfig};

#[derive(Parser)]
#[command(
    name = "carekiosk-card-sim",
    about = "A virtual OpenPGP card (P-256) in a vpcd reader of pcscd"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    /// An OpenPGP card 3.4.
    Openpgp,
    /// A card without the OpenPGP application.
    NotOpenpgp,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one card (until `quit` on the control socket, or SIGINT/SIGTERM).
    Run {
        /// The card's state file (created blank if missing). It holds the card's private keys: test/demo only.
        #[arg(long)]
        state: PathBuf,
        /// vpcd host.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// vpcd port: 35963 is reader "Virtual PCD 00 00", 35964 is "Virtual PCD 00 01".
        #[arg(long, default_value_t = 35963)]
        port: u16,
        /// Control socket path (see `ctl`).
        #[arg(long)]
        control: Option<PathBuf>,
        /// Profile of a card created now.
        #[arg(long, value_enum, default_value = "openpgp")]
        profile: ProfileArg,
        /// Serial number (hex) of a card created now; random by default.
        #[arg(long, value_parser = parse_hex_u32)]
        serial: Option<u32>,
        /// Most data bytes per response before 61xx chaining (1–256).
        #[arg(long, default_value_t = 256)]
        response_chunk: usize,
        /// Start with the card out of the reader.
        #[arg(long)]
        removed: bool,
    },
    /// Send one command to a running card's control socket and print the answer.
    Ctl {
        /// Control socket path.
        #[arg(long)]
        control: PathBuf,
        /// The command: insert, remove, pull-on <ins>, fault <kind> [<ins>], status, wait-connected <bool> [ms], quit.
        #[arg(trailing_var_arg = true, required = true)]
        command: Vec<String>,
    },
}

fn parse_hex_u32(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s.trim_start_matches("0x"), 16).map_err(|e| e.to_string())
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().cmd {
        Cmd::Ctl { control, command } => match control::send(&control, &command.join(" ")) {
            Ok(answer) => {
                println!("{answer}");
                if answer.starts_with("ok") {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::FAILURE
                }
            }
            Err(e) => {
                eprintln!(
                    "carekiosk-card-sim: cannot reach {}: {e}",
                    control.display()
                );
                std::process::ExitCode::FAILURE
            }
        },
        Cmd::Run {
            state,
            host,
            port,
            control,
            profile,
            serial,
            response_chunk,
            removed,
        } => {
            let cfg = SimConfig {
                host,
                port,
                state_file: Some(state),
                profile: match profile {
                    ProfileArg::Openpgp => Profile::Openpgp,
                    ProfileArg::NotOpenpgp => Profile::NotOpenpgp,
                },
                serial,
                applet: AppletOptions { response_chunk },
                inserted: !removed,
                quickack: true,
            };
            let sim = match Sim::start(cfg) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    eprintln!("carekiosk-card-sim: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            };
            let (tx, rx) = std::sync::mpsc::channel();
            if let Some(path) = &control {
                if let Err(e) = control::serve(path, sim.clone(), tx.clone()) {
                    eprintln!("carekiosk-card-sim: control socket {}: {e}", path.display());
                    return std::process::ExitCode::FAILURE;
                }
            }
            let sig_tx = tx.clone();
            std::thread::spawn(move || {
                wait_for_signal();
                let _ = sig_tx.send(());
            });
            println!("ready card {} on port {port}", sim.ident());
            let _ = rx.recv();
            if let Some(path) = &control {
                let _ = std::fs::remove_file(path);
            }
            sim.remove();
            std::process::ExitCode::SUCCESS
        }
    }
}

/// Blocks until SIGINT or SIGTERM (a small tokio runtime just for the signals).
fn wait_for_signal() {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return std::thread::park();
    };
    rt.block_on(async {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    });
}
