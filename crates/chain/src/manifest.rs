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
