//! The paper's Table III, measured on our contracts: each of its eleven functions run in a realistic visit on a
//! fresh local chain (receipts for writes; `eth_estimateGas` for the view functions, as the paper measured them),
//! side by side with the paper's figures.
//!
//! Two visits run: the first for a new patient on a fresh system, the second for the same patient returning
//! (their records, the hospital's token balance and the coverage counters already exist). The "ours" column is
//! the returning visit, the recurring cost; the first visit's figures are shown beside it.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::signers::local::PrivateKeySigner;

use crate::bindings::{scope, Role};
use crate::deploy::{self, DemoActors, TOKEN_UNIT};
use crate::devnet::DevnetOptions;
use crate::eip712::{self, Dispense, RegisterPatient};
use crate::softcard::SoftCard;
use crate::{Chain, ChainError, Deployment};

/// Table III of the paper (Hardhat, solc 0.8.0, 200 runs, 2 gwei): function, contract, gas.
pub const PAPER: [(&str, &str, u64); 11] = [
    ("registerPatient", "PatientSmartCard", 119_237),
    ("getPatientInfo", "PatientSmartCard", 34_491),
    ("updateMedicalHistory", "HospitalRecord", 97_050),
    ("registerHospital", "HospitalRecord", 94_419),
    ("addMedicalRecord", "HospitalRecord", 187_731),
    ("getMedicalRecords", "HospitalRecord", 40_354),
    ("registerPharmacy", "PharmacyAccess", 25_152),
    ("getPatientFullInfo", "PharmacyAccess", 42_354),
    ("approveClaim", "InsuranceProvider", 98_045),
    ("processPayment", "InsuranceProvider", 151_058),
    ("getClaimStatus", "InsuranceProvider", 44_219),
];

/// Padded plaintext of the encrypted record written by `addMedicalRecord` and `updateMedicalHistory` (bytes; a
/// diagnosis with a note compresses into this bucket, docs/benchmarks.md). The sealed size is this + 272.
pub const RECORD_BYTES: usize = 1024;
/// Padded plaintext of the encrypted claim details (bytes).
pub const CLAIM_BYTES: usize = 1024;
/// Padded plaintext of the encrypted prescription (bytes).
pub const PRESCRIPTION_BYTES: usize = 512;
/// Padded plaintext of the ClaimResponse an approval carries (per-item adjudication, compressed: one 512 bucket).
pub const RESPONSE_BYTES: usize = 512;

/// One row of the table.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GasRow {
    /// Function name (the paper's).
    pub function: &'static str,
    /// Contract it lives in.
    pub contract: &'static str,
    /// The paper's figure.
    pub paper: u64,
    /// Ours, first visit on a fresh system.
    pub first: u64,
    /// Ours, returning visit.
    pub ours: u64,
}

/// The whole measurement.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GasReport {
    /// The eleven rows, in the paper's order.
    pub rows: Vec<GasRow>,
    /// Deployment gas per contract.
    pub deploy: Vec<(String, u64)>,
}

impl GasReport {
    /// Sum of the paper's column.
    pub fn paper_total(&self) -> u64 {
        self.rows.iter().map(|r| r.paper).sum()
    }
    /// Sum of ours (returning visit).
    pub fn ours_total(&self) -> u64 {
        self.rows.iter().map(|r| r.ours).sum()
    }
    /// Sum of ours (first visit).
    pub fn first_total(&self) -> u64 {
        self.rows.iter().map(|r| r.first).sum()
    }
    /// A row by function name.
    pub fn row(&self, function: &str) -> Option<&GasRow> {
        self.rows.iter().find(|r| r.function == function)
    }
}

/// Why a row is above the paper's figure, where it is.
pub fn explanation(function: &str) -> Option<&'static str> {
    match function {
        "registerPharmacy" => Some(
            "The paper's 25,152 gas is less than a transaction (21,000) plus one new storage slot (22,100): its \
             function cannot have stored a new pharmacy. Ours stores one packed slot (role, active, id) and the \
             id's address through the hub, and goes through governance: two transactions, `schedule` (the call \
             stored with its time) then `execute` after the deployment's delay (docs/design-v2.md); the figure is \
             both.",
        ),
        "registerPatient" => Some(
            "Registration now carries the card's history-key bundle (2,391 bytes of calldata, ~38,000 gas) and \
             stores three more slots (the recovery key hash, the bundle hash, and the recovery key's patient so \
             reception finds the patient from the issue letter: ~66,000 gas): the price of a lost card losing \
             nothing (docs/design-v2.md, \"The card's life\"). Paid once per card.",
        ),
        "registerHospital" => Some(
            "Governance goes through a delay since v2: two transactions, `schedule` then `execute` (42,000 gas of \
             intrinsic cost, the scheduled call stored and deleted), so a compromised admin key is seen days \
             before it acts. The registration itself stores one packed slot and the id's address.",
        ),
        "approveClaim" => Some(
            "Since issue 13 an approval carries the insurer's FHIR ClaimResponse (the adjudication of every item, \
             sealed for the patient, the hospital and the insurer: 784 bytes of calldata, ~13,000 gas) so the \
             hospital and the patient see what was paid for what, and it checks the insurer's four-eyes \
             threshold.",
        ),
        "getPatientFullInfo" => Some(
            "A view. Ours checks the pharmacy's consent on chain (a call into the hub) and returns the patient's \
             card key hash and nonce plus a page of their prescriptions (three storage slots each; the returning \
             patient has two), where the paper's returned one patient's stored fields.",
        ),
        _ => None,
    }
}

/// A sealed payload of the envelope's shape (version 2, a padded plaintext of `bucket` bytes): ciphertext is
/// incompressible, so random bytes price calldata as a real encrypted record.
fn random_bytes(bucket: usize) -> Bytes {
    let mut v = vec![0u8; bucket + 272];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut v);
    v[0] = 2;
    Bytes::from(v)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

struct Visit {
    gas: std::collections::HashMap<&'static str, u64>,
}

struct World {
    chain: Chain,
    d: Deployment,
    actors: DemoActors,
}

impl World {
    fn hospital_kiosk(&self) -> Address {
        self.actors.hospital_kiosk.address()
    }
    fn pharmacy_kiosk(&self) -> Address {
        self.actors.pharmacy_kiosk.address()
    }
    fn insurer_kiosk(&self) -> Address {
        self.actors.insurer_kiosk.address()
    }
    fn domain(&self) -> alloy::sol_types::Eip712Domain {
        eip712::domain(self.d.chain_id, self.d.contracts.patient_smart_card)
    }

    async fn consent(
        &self,
        card: &SoftCard,
        institution: Address,
        kiosk: Address,
        scope: u8,
    ) -> Result<(), ChainError> {
        let pid = card.patient_id();
        let signed = card
            .consent(&self.chain, &self.d, institution, scope, 3)
            .await?;
        signed.send(&self.chain, &self.d, pid, kiosk).await?;
        Ok(())
    }

    /// One visit of `card`'s patient; `register` when the patient is new.
    async fn visit(&self, card: &SoftCard, register: bool) -> Result<Visit, ChainError> {
        let mut gas = std::collections::HashMap::new();
        let c = &self.chain;
        let d = &self.d;
        let pid = card.patient_id();
        let hospital = self.actors.hospital.address();
        let pharmacy = self.actors.pharmacy.address();
        let deadline = U256::from(now() + 3600);
        if register {
            let msg = RegisterPatient {
                patientId: pid,
                hospital,
                recoveryKeyHash: crate::softcard::recovery_for(pid),
                keyBundleHash: alloy::primitives::keccak256(crate::softcard::sample_key_bundle()),
                deadline,
            };
            let sig = card.sign(eip712::digest(&msg, &self.domain()));
            let r = c
                .send(
                    self.hospital_kiosk(),
                    c.hub(d).registerPatient(
                        deadline,
                        crate::softcard::recovery_for(sig.key_hash()),
                        crate::softcard::sample_key_bundle(),
                        sig.into(),
                    ),
                )
                .await?;
            gas.insert("registerPatient", r.gas_used);
        }
        // Reception: check-in is the card-signed consent for the hospital.
        self.consent(card, hospital, self.hospital_kiosk(), scope::HOSPITAL)
            .await?;
        gas.insert(
            "getPatientInfo",
            c.estimate(self.hospital_kiosk(), c.hub(d).getPatientInfo(pid))
                .await?,
        );
        // Doctor: a record, then an amendment of it.
        let r = c
            .send(
                self.hospital_kiosk(),
                c.records(d)
                    .addMedicalRecord(pid, random_bytes(RECORD_BYTES)),
            )
            .await?;
        gas.insert("addMedicalRecord", r.gas_used);
        let count = c
            .records(d)
            .recordCount(pid)
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let index = count - U256::from(1);
        let r = c
            .send(
                self.hospital_kiosk(),
                c.records(d)
                    .updateMedicalHistory(pid, index, random_bytes(RECORD_BYTES)),
            )
            .await?;
        gas.insert("updateMedicalHistory", r.gas_used);
        gas.insert(
            "getMedicalRecords",
            c.estimate(
                self.hospital_kiosk(),
                c.records(d)
                    .getMedicalRecords(pid, U256::ZERO, U256::from(10)),
            )
            .await?,
        );
        // Prescription, dispensed at the pharmacy on the card's proof of presence.
        let r = c
            .send(
                self.hospital_kiosk(),
                c.pharmacy(d).issuePrescription(
                    pid,
                    alloy::primitives::aliases::U40::ZERO,
                    B256::ZERO,
                    random_bytes(PRESCRIPTION_BYTES),
                ),
            )
            .await?;
        let rx = c
            .pharmacy(d)
            .prescriptionCount()
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let _ = r;
        self.consent(
            card,
            pharmacy,
            self.pharmacy_kiosk(),
            scope::READ | scope::DISPENSE,
        )
        .await?;
        gas.insert(
            "getPatientFullInfo",
            c.estimate(
                self.pharmacy_kiosk(),
                c.pharmacy(d)
                    .getPatientFullInfo(pid, U256::ZERO, U256::from(10)),
            )
            .await?,
        );
        let nonce = c.hub(d).nonces(pid).call().await.map_err(|e| err(c, e))?;
        let sealed_dispense = random_bytes(PRESCRIPTION_BYTES);
        let msg = Dispense {
            prescriptionId: rx,
            pharmacy,
            part: 10_000,
            contentHash: alloy::primitives::keccak256(&sealed_dispense),
            nonce,
            deadline,
        };
        let sig = card.sign(eip712::digest(&msg, &self.domain()));
        c.send(
            self.pharmacy_kiosk(),
            c.pharmacy(d)
                .dispensePrescription(rx, 10_000, deadline, sealed_dispense, sig.into()),
        )
        .await?;
        // Insurance: enrol (first visit), the hospital bills the record, the insurer approves and pays.
        if register {
            // Enrolment needs the patient's consent for the insurer (its card, at the insurer's desk).
            let insurer = self.actors.insurer.address();
            self.consent(card, insurer, self.insurer_kiosk(), scope::INSURER)
                .await?;
            let limit = 5_000u128 * TOKEN_UNIT;
            c.send(
                self.insurer_kiosk(),
                c.insurance(d).enrollPatient(pid, 8000, limit),
            )
            .await?;
        }
        let amount = U256::from(120u128 * TOKEN_UNIT);
        c.send(
            self.hospital_kiosk(),
            c.insurance(d)
                .submitClaim(pid, U256::from(index), amount, random_bytes(CLAIM_BYTES)),
        )
        .await?;
        let claim = c
            .insurance(d)
            .claimCount()
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let approve = amount * U256::from(8000) / U256::from(10_000);
        let r = c
            .send(
                self.insurer_kiosk(),
                c.insurance(d)
                    .approveClaim(claim, approve, random_bytes(RESPONSE_BYTES)),
            )
            .await?;
        gas.insert("approveClaim", r.gas_used);
        let r = c
            .send(self.insurer_kiosk(), c.insurance(d).processPayment(claim))
            .await?;
        gas.insert("processPayment", r.gas_used);
        gas.insert(
            "getClaimStatus",
            c.estimate(self.insurer_kiosk(), c.insurance(d).getClaimStatus(claim))
                .await?,
        );
        // Governance: a new hospital and a new pharmacy join.
        let (g, _) = deploy::register_institution(
            c,
            d,
            Role::Hospital,
            PrivateKeySigner::random().address(),
        )
        .await?;
        gas.insert("registerHospital", g);
        let (g, _) = deploy::register_institution(
            c,
            d,
            Role::Pharmacy,
            PrivateKeySigner::random().address(),
        )
        .await?;
        gas.insert("registerPharmacy", g);
        Ok(Visit { gas })
    }
}

fn err(c: &Chain, e: alloy::contract::Error) -> ChainError {
    ChainError::from_contract(c.url(), e)
}

/// Runs the measurement on a fresh Anvil started for it.
pub async fn measure() -> Result<GasReport, ChainError> {
    let stack = deploy::LocalStack::start(DevnetOptions::default()).await?;
    let devnet = stack.devnet;
    let (chain, d, actors) = (stack.chain, stack.deployment, stack.actors);
    let world = World { chain, d, actors };
    let card = SoftCard::generate();
    let first = world.visit(&card, true).await?;
    let again = world.visit(&card, false).await?;
    // registerPatient happens once per patient: its recurring figure is another new patient's.
    let other = SoftCard::generate();
    let second_patient = world.visit(&other, true).await?;
    let rows = PAPER
        .iter()
        .map(|&(function, contract, paper)| {
            let first_gas = first.gas[function];
            let ours = again
                .gas
                .get(function)
                .copied()
                .unwrap_or(second_patient.gas[function]);
            GasRow {
                function,
                contract,
                paper,
                first: first_gas,
                ours,
            }
        })
        .collect();
    let report = GasReport {
        rows,
        deploy: world.d.deploy_gas.clone(),
    };
    devnet.stop().await;
    Ok(report)
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Why the "at most half the paper" target is out of reach with this design's guarantees, in figures.
pub const FLOOR_NOTE: &str = "\
## Against the target of half the paper (467,055 gas)

Not reached: the table above is the honest figure. What the eleven calls cannot avoid, before any logic:

| unavoidable cost | gas |
|---|---:|
| 11 transactions' intrinsic cost (21,000 each; the paper's views were measured the same way) | 231,000 |
| 1 KiB of ciphertext in `addMedicalRecord` and in `updateMedicalHistory` (16 gas a non-zero calldata byte) | ~32,800 |
| new storage the functions must create: a patient, two record entries (pagination needs them), two institutions | 110,500 |
| P-256 verification of the card's signature (precompile) | 6,900 |
| **sum** | **~381,200** |

That leaves ~86,000 gas for seven role checks (two cold reads each, ~29,400), the consent checks, the token \
transfer and escrow (~18,000), the coverage arithmetic (~14,000), the views' reads (~12,000) and seven events \
(~10,000): ~83,000 already, with nothing left for the hash chain, argument decoding or a second cold contract. \
Half the paper is reachable only by giving up a guarantee (unverified card signatures, plaintext or smaller \
payloads, no on-chain pagination, no per-call role and consent checks). We kept the guarantees. Four rows are \
above the paper's, each for a guarantee explained under the table: registration (the card's recovery), the two \
institution registrations (governance through a delay, two transactions) and, since issue 13, the approval (it \
carries the per-item ClaimResponse, 103 % of the paper's). The other recurring writes (`addMedicalRecord`, \
`updateMedicalHistory`, `processPayment`) stay at 39–95 % of the paper's.
";

/// The report as a Markdown table (with notes), as written to `docs/gas-table.md`.
pub fn to_markdown(r: &GasReport) -> String {
    let mut s = String::new();
    s.push_str(
        "| function | contract | paper | ours (returning visit) | ratio | ours (first visit) |\n",
    );
    s.push_str("|---|---|---:|---:|---:|---:|\n");
    for row in &r.rows {
        let mark = if explanation(row.function).is_some() {
            " ¹"
        } else {
            ""
        };
        s.push_str(&format!(
            "| {}{} | {} | {} | {} | {:.2} | {} |\n",
            row.function,
            mark,
            row.contract,
            thousands(row.paper),
            thousands(row.ours),
            row.ours as f64 / row.paper as f64,
            thousands(row.first)
        ));
    }
    s.push_str(&format!(
        "| **total** | | **{}** | **{}** | **{:.2}** | {} |\n",
        thousands(r.paper_total()),
        thousands(r.ours_total()),
        r.ours_total() as f64 / r.paper_total() as f64,
        thousands(r.first_total())
    ));
    for row in &r.rows {
        if let Some(e) = explanation(row.function) {
            s.push_str(&format!("\n¹ `{}`: {}\n", row.function, e));
        }
    }
    s.push_str("\nDeployment gas:\n\n| contract | gas |\n|---|---:|\n");
    for (name, gas) in &r.deploy {
        s.push_str(&format!("| {} | {} |\n", name, thousands(*gas)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_total_is_the_papers() {
        assert_eq!(PAPER.iter().map(|r| r.2).sum::<u64>(), 934_110);
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(934110), "934,110");
        assert_eq!(thousands(21000), "21,000");
        assert_eq!(thousands(999), "999");
    }
}
