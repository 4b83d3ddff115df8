//! Typed bindings generated from `contracts/artifacts/*.json` (ABI + bytecode, committed, so no node is needed
//! to build).

#![allow(missing_docs, clippy::too_many_arguments)]

alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    PatientSmartCard,
    "../../contracts/artifacts/PatientSmartCard.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    HospitalRecord,
    "../../contracts/artifacts/HospitalRecord.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    PharmacyAccess,
    "../../contracts/artifacts/PharmacyAccess.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    InsuranceProvider,
    "../../contracts/artifacts/InsuranceProvider.json"
);
alloy::sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    TestStablecoin,
    "../../contracts/artifacts/TestStablecoin.json"
);

/// Roles as the contracts number them (`enum Role` in CareTypes.sol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum Role {
    /// Hospitals: register patients, write records, prescribe, bill.
    Hospital = 1,
    /// Pharmacies: dispense prescriptions.
    Pharmacy = 2,
    /// Insurers: enrol patients, decide and pay claims.
    Insurer = 3,
}

/// Consent scope bits (`library Scope` in CareTypes.sol).
pub mod scope {
    /// Read the patient's records.
    pub const READ: u8 = 1;
    /// Write records.
    pub const WRITE: u8 = 2;
    /// Issue prescriptions.
    pub const PRESCRIBE: u8 = 4;
    /// Dispense prescriptions.
    pub const DISPENSE: u8 = 8;
    /// The most a hospital may hold (the hub's `HOSPITAL_SCOPES`): read, write, prescribe.
    pub const HOSPITAL: u8 = READ | WRITE | PRESCRIBE;
    /// The most a pharmacy may hold (`PHARMACY_SCOPES`): read, dispense.
    pub const PHARMACY: u8 = READ | DISPENSE;
    /// The most an insurer may hold (`INSURER_SCOPES`): read (enrolment and claims).
    pub const INSURER: u8 = READ;
}
