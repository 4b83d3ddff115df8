//! The local test chain's commands: `up` (a local Anvil with everything deployed, the kiosks registered, a virtual
//! card), `demo` (a whole visit on it) and `gas-table`. Only the developer build has them (the `demo` feature:
//! scripts/run.sh and the tests); the package's `carekiosk`, built for real kiosks, answers each with what to do
//! instead.

/// `up`'s options besides the manifest (the package's build refuses `up` whatever they are).
#[cfg_attr(not(feature = "demo"), allow(dead_code))]
pub struct UpOptions {
    pub block_time: Option<u64>,
    pub port: u16,
    pub no_wait: bool,
    pub kiosks: bool,
    pub virtual_card: bool,
    pub demo_patient: bool,
}

#[cfg(not(feature = "demo"))]
pub use without_demo::*;

#[cfg(not(feature = "demo"))]
mod without_demo {
    use std::path::PathBuf;

    use crate::CliError;

    /// What the package's build answers for `up`, `demo` and `gas-table`.
    pub const NOT_IN_THIS_BUILD: &str = "this carekiosk is built for real kiosks: it has no virtual card and no \
         local test chain (up, demo, gas-table); insert a patient card in a PC/SC reader, or for a demo use the \
         developer build (cargo build -p carekiosk-cli --features demo, as scripts/run.sh does)";

    pub async fn up(_: PathBuf, _: super::UpOptions, _: bool) -> Result<(), CliError> {
        Err(CliError::Other(NOT_IN_THIS_BUILD.into()))
    }

    pub async fn demo() -> Result<(), CliError> {
        Err(CliError::Other(NOT_IN_THIS_BUILD.into()))
    }

    pub async fn gas_table(_: Option<PathBuf>, _: bool) -> Result<(), CliError> {
        Err(CliError::Other(NOT_IN_THIS_BUILD.into()))
    }
}

#[cfg(feature = "demo")]
pub use with_demo::*;

#[cfg(feature = "demo")]
mod with_demo {
    use std::path::PathBuf;

    use carekiosk_chain::deploy;
    use carekiosk_chain::devnet::DevnetOptions;
    use carekiosk_chain::{gastable, ChainError, Profile};

    use crate::{demo, print_deployment, CliError};

    pub async fn up(manifest: PathBuf, o: super::UpOptions, json: bool) -> Result<(), CliError> {
        let (block_time, port, no_wait) = (o.block_time, o.port, o.no_wait);
        let profile = Profile::embedded("local")?;
        let opts = DevnetOptions {
            chain_id: profile.chain_id,
            block_time,
            port,
            ..Default::default()
        };
        let stack = deploy::LocalStack::start(opts).await?;
        let (devnet, chain, actors) = (stack.devnet, stack.chain, stack.actors);
        let mut d = stack.deployment;
        if o.kiosks {
            carekiosk_kiosk::local::register_local_kiosks(&chain, &mut d, &actors, &profile.name)
                .await?;
        }
        let card = if o.virtual_card {
            Some(demo::VirtualCard::start()?)
        } else {
            None
        };
        d.save(&manifest)?;
        print_deployment(&d, json);
        if let (Some(sim), false) = (&card, json) {
            println!(
                "virtual card     {} in reader \"Virtual PCD 00 00\" (blank; admin PIN 12345678)",
                sim.ident()
            );
        }
        if let (Some(sim), true) = (&card, o.demo_patient) {
            seed_demo_patient(sim, &manifest, json).await?;
        }
        if !json {
            println!("manifest         {}", manifest.display());
            println!(
                "ready: local chain up with everything deployed{}",
                if no_wait { "" } else { "; Ctrl-C stops it" }
            );
        }
        if !no_wait {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .map_err(|e| ChainError::Devnet(e.to_string()))?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        if let Some(sim) = card {
            sim.stop();
        }
        devnet.stop().await;
        Ok(())
    }

    /// `up --demo-patient`: the blank virtual card issued to the demo patient, who goes through reception, the
    /// insurer's enrolment and a consultation with a prescription and a claim (kiosk databases in the data folder).
    async fn seed_demo_patient(
        sim: &demo::VirtualCard,
        manifest: &std::path::Path,
        json: bool,
    ) -> Result<(), CliError> {
        use carekiosk_kiosk::local::demo_patient;
        use carekiosk_kiosk::{Kiosk, KioskConfig, KioskRole};
        sim.wait_in_reader()?;
        let open = |role: KioskRole| {
            let mut c = KioskConfig::preset(role);
            c.manifest = manifest.to_path_buf();
            Kiosk::open(c)
        };
        let reception = open(KioskRole::Reception).await?;
        let doctor = open(KioskRole::Doctor).await?;
        let insurer = open(KioskRole::Insurer).await?;
        let mut say = |line: &str| {
            if !json {
                println!("demo patient     {line}");
            }
        };
        let session = carekiosk_kiosk::local::seed_demo_patient(
            &reception,
            &doctor,
            &insurer,
            "Virtual PCD 00 00",
            &mut say,
        )
        .await?;
        drop(session);
        if !json {
            println!(
                "demo patient     {} on the virtual card, PIN {}",
                demo_patient::NAME,
                demo_patient::PIN
            );
        }
        Ok(())
    }

    pub async fn demo() -> Result<(), CliError> {
        use carekiosk_kiosk::kiosk::KioskKeys;
        use carekiosk_kiosk::{Kiosk, KioskConfig, KioskRole};
        let stack = deploy::LocalStack::start(DevnetOptions::default()).await?;
        let (devnet, chain, actors) = (stack.devnet, stack.chain, stack.actors);
        let mut d = stack.deployment;
        carekiosk_kiosk::local::register_local_kiosks(&chain, &mut d, &actors, "local").await?;
        let dir = std::env::temp_dir().join(format!("carekiosk-demo-{}", std::process::id()));
        let manifest = dir.join("local.json");
        d.save(&manifest)?;
        println!(
            "local chain {} with the contracts deployed; kiosks registered from the OS keyring",
            devnet.url
        );
        let sim = demo::VirtualCard::start()?;
        sim.wait_in_reader()?;
        println!(
            "virtual card {} in reader \"Virtual PCD 00 00\"",
            sim.ident()
        );
        let open = |role: KioskRole| {
            let mut c = KioskConfig::preset(role);
            c.manifest = manifest.clone();
            c.data_dir = dir.join(role.as_str());
            async move {
                let keys = KioskKeys::load_or_generate("local", role)?;
                Kiosk::open_with(c, keys).await
            }
        };
        let reception = open(KioskRole::Reception).await?;
        let doctor = open(KioskRole::Doctor).await?;
        let pharmacy = open(KioskRole::Pharmacy).await?;
        let mut insurer = open(KioskRole::Insurer).await?;
        let started = std::time::Instant::now();
        let mut say = |line: &str| {
            println!(
                "[{:>6.0} ms] {line}",
                started.elapsed().as_secs_f64() * 1000.0
            )
        };
        let result = carekiosk_kiosk::local::demo_visit(
            &reception,
            &doctor,
            &pharmacy,
            &mut insurer,
            "Virtual PCD 00 00",
            &mut say,
        )
        .await;
        sim.stop();
        devnet.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
        result.map_err(CliError::from)
    }

    pub async fn gas_table(out: Option<PathBuf>, json: bool) -> Result<(), CliError> {
        let report = gastable::measure().await?;
        let md = gastable::to_markdown(&report);
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).expect("serialisable")
            );
        } else {
            print!("{md}");
            println!(
                "\nours {} gas against the paper's {}: {:.1} % (target: at most 50 %)",
                report.ours_total(),
                report.paper_total(),
                100.0 * report.ours_total() as f64 / report.paper_total() as f64
            );
        }
        if let Some(path) = out {
            let doc = gastable::document(&report)?;
            std::fs::write(&path, doc).map_err(|e| ChainError::Config {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}
