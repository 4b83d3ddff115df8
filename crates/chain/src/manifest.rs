//! The deployment manifest (`kiosk-config/deployments/<profile>.json`): where the contracts are on a chain.

use std::path::Path;

use alloy::primitives::Address;
use serde::{Deserialize, Serialize};

use crate::bindings::Role;
use crate::ChainError;

/// The addresses of one deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    /// PatientSmartCard, the hub (also the EIP-712 verifying contract).
    pub patient_smart_card: Address,
    /// HospitalRecord.
    pub hospital_record: Address,
    /// PharmacyAccess.
    pub pharmacy_access: Address,
    /// InsuranceProvider.
    pub insurance_provider: Address,
    /// The payment token.
    pub token: Address,
}

/// An institution registered at deployment (the local demo's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstitutionEntry {
    /// A human name ("Demo Hospital").
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its institution address.
    pub address: Address,
    /// Its id on chain.
    pub id: u32,
    /// Its kiosk signer addresses.
    pub kiosks: Vec<Address>,
    /// Its P-256 record-encryption public key (SEC1 uncompressed, hex), which others seal for (a claim for the
    /// insurer, say). Public; empty when not published.
    #[serde(default)]
    pub record_key: String,
}

/// A deployment of the four contracts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployment {
    /// Profile it was made with.
    pub profile: String,
    /// Chain id.
    pub chain_id: u64,
    /// RPC URL used.
    pub rpc_url: String,
    /// Block of the last deployment transaction.
    pub block: u64,
    /// Governance admin (and deployer).
    pub admin: Address,
    /// Contract addresses.
    pub contracts: Contracts,
    /// Gas each contract's deployment used, by contract name.
    pub deploy_gas: Vec<(String, u64)>,
    /// Institutions registered with it.
    #[serde(default)]
    pub institutions: Vec<InstitutionEntry>,
}

impl Deployment {
    /// Writes the manifest as pretty JSON, creating the folder.
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let cfg = |e: std::io::Error| ChainError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(cfg)?;
        }
        let text = serde_json::to_string_pretty(self).expect("a manifest always serialises");
        std::fs::write(path, text + "\n").map_err(cfg)
    }

    /// Reads a manifest.
    pub fn load(path: &Path) -> Result<Deployment, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|e| ChainError::Config {
            path: path.display().to_string(),
            reason: format!(
                "cannot read it ({e}); deploy first (`carekiosk up` or `carekiosk deploy`)"
            ),
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses manifest text; `origin` names it in errors (which give the line and column).
    pub fn parse(text: &str, origin: &str) -> Result<Deployment, ChainError> {
        serde_json::from_str(text).map_err(|e| ChainError::Config {
            path: origin.to_string(),
            reason: format!("not a manifest: {e}"),
        })
    }

    /// The first registered institution with `role`.
    pub fn institution(&self, role: Role) -> Option<&InstitutionEntry> {
        self.institutions.iter().find(|i| i.role == role)
    }
}

/// A deployment under way: `<manifest>.partial`, written after every step (and before every transaction is
/// broadcast), so that `carekiosk deploy` run again with the same manifest resumes where it stopped and never
/// deploys a contract twice. Removed once the manifest is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployProgress {
    /// Profile the deployment is made with (its `name`).
    pub profile: String,
    /// Chain id it is made on.
    pub chain_id: u64,
    /// RPC URL used.
    pub rpc_url: String,
    /// The deployer, who becomes the governance admin.
    pub admin: Address,
    /// Contracts deployed so far, by step name (`PatientSmartCard`, …), in order.
    pub contracts: Vec<(String, Address)>,
    /// Gas each contract's deployment used, by contract name.
    pub deploy_gas: Vec<(String, u64)>,
    /// The step whose transaction was signed (and perhaps broadcast) but whose receipt was not seen yet: sent
    /// again byte for byte on resume, so it lands at most once.
    #[serde(default)]
    pub in_flight: Option<InFlight>,
    /// Block of the wiring transaction, once the hub is wired.
    #[serde(default)]
    pub wired_block: Option<u64>,
}

/// A signed step transaction recorded before it is broadcast.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    /// The step's name.
    pub step: String,
    /// The signed transaction.
    pub tx: crate::SignedTx,
}

impl DeployProgress {
    /// A deployment not started yet.
    pub fn new(profile: &str, chain_id: u64, rpc_url: &str, admin: Address) -> DeployProgress {
        DeployProgress {
            profile: profile.to_string(),
            chain_id,
            rpc_url: rpc_url.to_string(),
            admin,
            contracts: Vec::new(),
            deploy_gas: Vec::new(),
            in_flight: None,
            wired_block: None,
        }
    }

    /// The progress file of a manifest: `<manifest>.partial`.
    pub fn path_for(manifest: &Path) -> std::path::PathBuf {
        let mut name = manifest.as_os_str().to_owned();
        name.push(".partial");
        name.into()
    }

    /// The address a step deployed, if it is done.
    pub fn contract(&self, step: &str) -> Option<Address> {
        self.contracts
            .iter()
            .find(|(n, _)| n == step)
            .map(|(_, a)| *a)
    }

    /// Writes the progress file (to a temporary file first, then renamed: a crash leaves the old or the new one).
    pub fn save(&self, path: &Path) -> Result<(), ChainError> {
        let cfg = |e: std::io::Error| ChainError::Config {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(cfg)?;
        }
        let text = serde_json::to_string_pretty(self).expect("progress always serialises");
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, text + "\n").map_err(cfg)?;
        std::fs::rename(&tmp, path).map_err(cfg)
    }

    /// Reads a progress file, `None` when there is none.
    pub fn load(path: &Path) -> Result<Option<DeployProgress>, ChainError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ChainError::Config {
                    path: path.display().to_string(),
                    reason: format!("cannot read it ({e})"),
                })
            }
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| ChainError::Config {
                path: path.display().to_string(),
                reason: format!(
                    "not a deployment progress file ({e}): remove it to start the deployment over"
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_round_trips_next_to_its_manifest() {
        let dir = std::env::temp_dir().join(format!("carekiosk-progress-{}", std::process::id()));
        let manifest = dir.join("celo.json");
        let path = DeployProgress::path_for(&manifest);
        assert_eq!(path, dir.join("celo.json.partial"));
        assert_eq!(DeployProgress::load(&path).unwrap(), None);
        let mut p = DeployProgress::new("celo", 42_220, "http://x", Address::repeat_byte(1));
        p.contracts
            .push(("PatientSmartCard".into(), Address::repeat_byte(2)));
        p.save(&path).unwrap();
        let back = DeployProgress::load(&path).unwrap().unwrap();
        assert_eq!(back, p);
        assert_eq!(
            back.contract("PatientSmartCard"),
            Some(Address::repeat_byte(2))
        );
        assert_eq!(back.contract("HospitalRecord"), None);
        std::fs::write(&path, "{").unwrap();
        let e = DeployProgress::load(&path).unwrap_err().to_string();
        assert!(e.contains("remove it"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
