//! Where a command works — network profile, deployment manifest, kiosk data folder — as the kiosk commands and
//! the admin commands both take it: one set of options, resolved here once, so that an administrator enrols
//! exactly the key (and talks to exactly the deployment) the kiosk will use.

use std::path::PathBuf;

use carekiosk_chain::{Chain, ChainError, Deployment, Profile};
use carekiosk_kiosk::{KioskConfig, KioskRole};
use clap::Args;

use crate::CliError;

/// The profile options shared by the kiosk and admin commands.
#[derive(Args, Clone, Default, Debug)]
pub struct NetworkOpts {
    /// A role preset file (kiosk-config/roles/<role>.toml): its profile, manifest and data folder are used unless
    /// given below. Default: the embedded preset of the command's role.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Network profile: a name (local, celo-sepolia, celo) or a path to a profile .toml. Default: the --config
    /// file's, else the (built-in) one the --manifest was deployed with, else local.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Deployment manifest. Default: the --config file's, else kiosk-config/deployments/<profile>.json of a given
    /// --profile, else kiosk-config/deployments/local.json.
    #[arg(long, global = true)]
    pub manifest: Option<PathBuf>,
    /// Folder of the kiosk's database.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

impl NetworkOpts {
    /// These options as the kiosk core's overrides (the reader is the kiosk commands' own option).
    pub fn overrides(&self) -> carekiosk_kiosk::ConfigOverrides {
        carekiosk_kiosk::ConfigOverrides {
            config: self.config.clone(),
            profile: self.profile.clone(),
            manifest: self.manifest.clone(),
            data_dir: self.data_dir.clone(),
            reader: None,
            printer: None,
            print_server: None,
        }
    }
}

/// The kiosk configuration these options give, for `role` ([`KioskConfig::resolve`]: the one resolution the
/// app shares).
pub fn kiosk_config(role: Option<KioskRole>, o: &NetworkOpts) -> Result<KioskConfig, CliError> {
    Ok(KioskConfig::resolve(role, &o.overrides())?)
}

/// A resolved place to work: the kiosk configuration, its profile, and the deployment, checked to agree.
#[derive(Debug)]
pub struct Target {
    /// The kiosk configuration (profile string, manifest path, data folder).
    pub config: KioskConfig,
    /// The loaded profile.
    pub profile: Profile,
    /// The loaded manifest.
    pub deployment: Deployment,
}

impl Target {
    /// Resolves the options, loads profile and manifest, and fails clearly when they are for different chains.
    pub fn resolve(role: Option<KioskRole>, o: &NetworkOpts) -> Result<Target, CliError> {
        let config = kiosk_config(role, o)?;
        let profile = Profile::load(&config.profile)?;
        let deployment = Deployment::load(&config.manifest)?;
        if deployment.chain_id != profile.chain_id {
            return Err(ChainError::Invalid(format!(
                "manifest {} is for chain id {}, profile {} is chain id {}: pass the profile it was deployed with \
                 (--profile) or the manifest of this profile's deployment (--manifest)",
                config.manifest.display(),
                deployment.chain_id,
                config.profile,
                profile.chain_id
            ))
            .into());
        }
        Ok(Target {
            config,
            profile,
            deployment,
        })
    }

    /// The RPC URL: the manifest's, else the profile's (as the kiosk connects).
    pub fn rpc_url(&self) -> &str {
        if self.deployment.rpc_url.is_empty() {
            &self.profile.rpc_url
        } else {
            &self.deployment.rpc_url
        }
    }

    /// Connects with `signers` and checks the node's chain id against the manifest's.
    pub async fn connect(
        &self,
        signers: Vec<alloy::signers::local::PrivateKeySigner>,
    ) -> Result<Chain, CliError> {
        let chain = Chain::connect(self.rpc_url(), self.profile.gas, signers).await?;
        chain.expect_chain_id(
            self.deployment.chain_id,
            &format!("manifest {}", self.config.manifest.display()),
        )?;
        Ok(chain)
    }
}
