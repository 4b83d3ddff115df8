//! The paper's Table III, measured on our contracts: each of its eleven functions run in a realistic visit on a
//! fresh local chain at Celo's rules (Anvil with the OP stack at Isthmus: P256VERIFY at 3,450 gas; receipts for
//! writes; `eth_estimateGas` for the view functions, as the paper measured them), side by side with the paper's
//! figures, and what a whole visit costs on Celo in CELO and in a stable token.
//!
//! Two visits run: the first for a new patient on a fresh system, the second for the same patient returning
//! (their records, the hospital's token balance and the coverage counters already exist). The "ours" column is
//! the returning visit, the recurring cost; the first visit's figures are shown beside it. The cost on Celo is
//! priced from two more visits of another patient made as the kiosks make them, one write a desk step.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;

use crate::bindings::{scope, Role};
use crate::deploy::{self, DemoActors, TOKEN_UNIT};
use crate::devnet::DevnetOptions;
use crate::eip712::{self, Dispense, RegisterPatient};
use crate::gas::{GasPolicy, GWEI};
use crate::softcard::SoftCard;
use crate::{Chain, ChainError, Deployment, Profile};

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
/// diagnosis with a note compresses into this bucket, docs/benchmarks.md). The sealed size is this + 146.
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
    /// Every kiosk write of the first visit as the kiosks send it, one write a desk step (function, gas), in
    /// the order sent.
    pub first_visit: Vec<(String, u64)>,
    /// Every kiosk write of the returning visit as the kiosks send it (function, gas), in the order sent.
    pub returning_visit: Vec<(String, u64)>,
    /// The same two visits made of the paper's single calls (the table's visits): writes and gas.
    pub single_calls: [(usize, u64); 2],
    /// What the kiosks' CELO balances fell by over the returning visit beyond gas used × gas price, in wei: an
    /// OP-stack L1 data fee or operator fee would show here (0 on Anvil and on Celo).
    pub other_fees_wei: u128,
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
    /// Gas of the first visit's kiosk writes.
    pub fn first_visit_gas(&self) -> u64 {
        self.first_visit.iter().map(|w| w.1).sum()
    }
    /// Gas of the returning visit's kiosk writes.
    pub fn returning_visit_gas(&self) -> u64 {
        self.returning_visit.iter().map(|w| w.1).sum()
    }
}

/// The chain the table is measured on: Anvil at Celo's rules, the OP stack (`--optimism`) at Celo's hardfork
/// (`isthmus`, a Prague EVM), where P256VERIFY at 0x100 costs 3,450 gas as on Celo (Osaka's price is 6,900).
pub fn devnet_options() -> DevnetOptions {
    DevnetOptions {
        optimism: true,
        hardfork: Some("isthmus".to_string()),
        ..DevnetOptions::default()
    }
}

/// What P256VERIFY costs on Celo (RIP-7212 on the OP stack since Fjord).
pub const P256VERIFY_GAS: u64 = 3_450;

/// The P256VERIFY precompile's address.
pub const P256VERIFY: Address =
    alloy::primitives::address!("0000000000000000000000000000000000000100");

/// Extra gas a transaction costs when its gas is paid in a stable token (a CIP-64 transaction with a fee
/// currency) rather than CELO: "approximately 50k" (docs.celo.org, "Fee currency"): the node debits and credits
/// the token around the transaction. The exact figure is the currency's `intrinsicGas` in Celo's
/// FeeCurrencyDirectory.
pub const FEE_CURRENCY_EXTRA_GAS: u64 = 50_000;

/// CELO prices (USD for one CELO) the stable-token figures are shown at. Assumptions, not quotes: CELO's price
/// moves, and every stable-token figure scales linearly with it (the table states the rate beside each figure).
pub const CELO_USD_RATES: [f64; 3] = [0.25, 0.50, 1.00];

/// The fees a kiosk pays per gas on Celo when blocks are not congested: `(base-fee floor, tip)` in wei, from the
/// embedded `celo` profile (25 gwei floor, 1 gwei tip).
pub fn celo_fees() -> Result<(u64, u64), ChainError> {
    match Profile::embedded("celo")?.gas {
        GasPolicy::Eip1559 {
            base_fee_floor_wei,
            priority_fee_wei,
        } => Ok((base_fee_floor_wei, priority_fee_wei)),
        GasPolicy::Legacy { .. } => Err(ChainError::Failed(
            "the embedded celo profile must price gas as EIP-1559 (kiosk-config/profiles/celo.toml)".into(),
        )),
    }
}

/// `gas` at `wei_per_gas`, in CELO (18 decimals).
pub fn celo_cost(gas: u64, wei_per_gas: u64) -> f64 {
    (u128::from(gas) * u128::from(wei_per_gas)) as f64 / 1e18
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
            "Registration now carries the card's history-key bundle (277 bytes of calldata in its compact layout, \
             ~4,400 gas) and \
             stores one more slot (the recovery key's patient, which is both how reception finds the patient from \
             the issue letter and the only record of the recovery key: ~22,000 gas; the bundle's hash prefix \
             shares the epoch's slot): the price of a lost card losing nothing (docs/design-v2.md, \"The card's \
             life\"). Paid once per card.",
        ),
        "registerHospital" => Some(
            "Governance goes through a delay since v2: two transactions, `schedule` then `execute` (42,000 gas of \
             intrinsic cost, the scheduled call stored and deleted), so a compromised admin key is seen days \
             before it acts. The registration itself stores one packed slot and the id's address.",
        ),
        "approveClaim" => Some(
            "An approval carries the insurer's FHIR ClaimResponse (the adjudication of every item, \
             sealed for the patient, the hospital and the insurer: 658 bytes of calldata, ~10,500 gas) so the \
             hospital and the patient see what was paid for what, and it checks the insurer's four-eyes \
             threshold.",
        ),
        "getPatientFullInfo" => Some(
            "A view. Ours checks the pharmacy's consent on chain (a call into the hub), reads the patient's \
             prescription list from HospitalRecord (a second contract: the list shares the record chain's slot, \
             which saves the consultation a new slot) and returns the patient's card key hash and nonce plus a \
             page of their prescriptions (one storage slot each; the returning patient has two), where the \
             paper's returned one patient's stored fields.",
        ),
        _ => None,
    }
}

/// A sealed payload of the envelope's shape (version 3, a padded plaintext of `bucket` bytes): ciphertext is
/// incompressible, so random bytes price calldata as a real encrypted record.
fn random_bytes(bucket: usize) -> Bytes {
    let mut v = vec![0u8; bucket + crate::payloads::ENVELOPE_OVERHEAD];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut v);
    v[0] = crate::payloads::ENVELOPE_VERSION;
    Bytes::from(v)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

struct Visit {
    /// The paper's functions measured in this visit.
    gas: std::collections::HashMap<&'static str, u64>,
    /// Every kiosk write, in order: (function, gas used, gas used × effective gas price).
    writes: Vec<(&'static str, u64, u128)>,
}

/// Sends `call` from `from` and records its receipt as a write of `function` ([`write`]); returns its gas.
async fn send_write<D: alloy::contract::CallDecoder>(
    c: &Chain,
    writes: &mut Vec<(&'static str, u64, u128)>,
    from: alloy::primitives::Address,
    function: &'static str,
    call: alloy::contract::CallBuilder<&alloy::providers::DynProvider, D, alloy::network::Ethereum>,
) -> Result<u64, ChainError> {
    let r = c.send(from, call).await?;
    Ok(write(writes, function, &r))
}

fn write(
    writes: &mut Vec<(&'static str, u64, u128)>,
    function: &'static str,
    r: &alloy::rpc::types::TransactionReceipt,
) -> u64 {
    writes.push((
        function,
        r.gas_used,
        u128::from(r.gas_used) * r.effective_gas_price,
    ));
    r.gas_used
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
    ) -> Result<alloy::rpc::types::TransactionReceipt, ChainError> {
        let pid = card.patient_id();
        let signed = card
            .consent(&self.chain, &self.d, institution, scope, 3)
            .await?;
        signed.send(&self.chain, &self.d, pid, kiosk).await
    }

    /// The kiosks' CELO balances, summed.
    async fn kiosk_balances(&self) -> Result<U256, ChainError> {
        let mut sum = U256::ZERO;
        for k in [
            self.hospital_kiosk(),
            self.pharmacy_kiosk(),
            self.insurer_kiosk(),
        ] {
            sum += self
                .chain
                .provider()
                .get_balance(k)
                .await
                .map_err(|e| ChainError::node(self.chain.url(), e))?;
        }
        Ok(sum)
    }

    /// One visit of `card`'s patient; `register` when the patient is new.
    async fn visit(&self, card: &SoftCard, register: bool) -> Result<Visit, ChainError> {
        let mut gas = std::collections::HashMap::new();
        let mut writes = Vec::new();
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
            gas.insert(
                "registerPatient",
                send_write(
                    c,
                    &mut writes,
                    self.hospital_kiosk(),
                    "registerPatient",
                    c.hub(d).registerPatient(
                        deadline,
                        crate::softcard::recovery_for(sig.key_hash()),
                        crate::softcard::sample_key_bundle(),
                        sig.into(),
                    ),
                )
                .await?,
            );
        }
        // Reception: check-in is the card-signed consent for the hospital.
        let r = self
            .consent(card, hospital, self.hospital_kiosk(), scope::HOSPITAL)
            .await?;
        write(&mut writes, "grantConsent", &r);
        gas.insert(
            "getPatientInfo",
            c.estimate(self.hospital_kiosk(), c.hub(d).getPatientInfo(pid))
                .await?,
        );
        // Doctor: a record, then an amendment of it.
        gas.insert(
            "addMedicalRecord",
            send_write(
                c,
                &mut writes,
                self.hospital_kiosk(),
                "addMedicalRecord",
                c.records(d)
                    .addMedicalRecord(pid, random_bytes(RECORD_BYTES)),
            )
            .await?,
        );
        let count = c
            .records(d)
            .recordCount(pid)
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let index = count - U256::from(1);
        gas.insert(
            "updateMedicalHistory",
            send_write(
                c,
                &mut writes,
                self.hospital_kiosk(),
                "updateMedicalHistory",
                c.records(d)
                    .updateMedicalHistory(pid, index, random_bytes(RECORD_BYTES)),
            )
            .await?,
        );
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
        send_write(
            c,
            &mut writes,
            self.hospital_kiosk(),
            "issuePrescription",
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
        let r = self
            .consent(
                card,
                pharmacy,
                self.pharmacy_kiosk(),
                scope::READ | scope::DISPENSE,
            )
            .await?;
        write(&mut writes, "grantConsent", &r);
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
        send_write(
            c,
            &mut writes,
            self.pharmacy_kiosk(),
            "dispensePrescription",
            c.pharmacy(d).dispensePrescription(
                rx,
                pid,
                10_000,
                deadline,
                sealed_dispense,
                sig.into(),
            ),
        )
        .await?;
        // Insurance: enrol (first visit), the hospital bills the record, the insurer approves and pays.
        if register {
            // Enrolment needs the patient's consent for the insurer (its card, at the insurer's desk).
            let insurer = self.actors.insurer.address();
            let r = self
                .consent(card, insurer, self.insurer_kiosk(), scope::INSURER)
                .await?;
            write(&mut writes, "grantConsent", &r);
            let limit = 5_000u128 * TOKEN_UNIT;
            send_write(
                c,
                &mut writes,
                self.insurer_kiosk(),
                "enrollPatient",
                c.insurance(d).enrollPatient(pid, 8000, limit),
            )
            .await?;
        }
        let amount = U256::from(120u128 * TOKEN_UNIT);
        let sealed_claim = random_bytes(CLAIM_BYTES);
        // Decisions name the claim's content hash, as a kiosk's do (a reorganisation can renumber claims).
        let claim_hash = alloy::primitives::keccak256(&sealed_claim);
        send_write(
            c,
            &mut writes,
            self.hospital_kiosk(),
            "submitClaim",
            c.insurance(d)
                .submitClaim(pid, U256::from(index), amount, sealed_claim),
        )
        .await?;
        let claim = c
            .insurance(d)
            .claimCount()
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let approve = amount * U256::from(8000) / U256::from(10_000);
        gas.insert(
            "approveClaim",
            send_write(
                c,
                &mut writes,
                self.insurer_kiosk(),
                "approveClaim",
                c.insurance(d).approveClaim(
                    claim,
                    pid,
                    claim_hash,
                    approve,
                    random_bytes(RESPONSE_BYTES),
                ),
            )
            .await?,
        );
        gas.insert(
            "processPayment",
            send_write(
                c,
                &mut writes,
                self.insurer_kiosk(),
                "processPayment",
                c.insurance(d).processPayment(claim, claim_hash),
            )
            .await?,
        );
        gas.insert(
            "getClaimStatus",
            c.estimate(self.insurer_kiosk(), c.insurance(d).getClaimStatus(claim))
                .await?,
        );
        // Governance (the admin's, not a kiosk's): a new hospital and a new pharmacy join.
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
        Ok(Visit { gas, writes })
    }
}

impl World {
    /// One visit as the kiosks send it, one write a desk step (docs/design-v2.md, "Step functions" and "The
    /// consultation step"): a new patient registers (the registration is the check-in) and enrols; a returning
    /// one checks in; then the consultation (diagnosis, care plan, a prescription, the claim), the pharmacy's
    /// consent with the dispense, and the insurer's settle.
    async fn step_visit(
        &self,
        card: &SoftCard,
        register: bool,
    ) -> Result<Vec<(&'static str, u64, u128)>, ChainError> {
        use crate::bindings::{HospitalRecord, InsuranceProvider, PharmacyAccess};
        let mut writes = Vec::new();
        let c = &self.chain;
        let d = &self.d;
        let pid = card.patient_id();
        let hospital = self.actors.hospital.address();
        let pharmacy = self.actors.pharmacy.address();
        let deadline = U256::from(now() + 3600);
        if register {
            let bundle = crate::softcard::sample_key_bundle();
            let recovery = crate::softcard::recovery_for(pid);
            let signed_at = c.latest_timestamp().await?;
            let valid_until = signed_at + 90 * 86_400;
            let msg = eip712::RegisterWithConsent {
                registration: RegisterPatient {
                    patientId: pid,
                    hospital,
                    recoveryKeyHash: recovery,
                    keyBundleHash: alloy::primitives::keccak256(&bundle),
                    deadline,
                },
                consent: eip712::Consent {
                    patientId: pid,
                    institution: hospital,
                    scope: scope::HOSPITAL,
                    validUntil: valid_until,
                    epoch: 1,
                    signedAt: signed_at,
                },
            };
            let sig = card.sign(eip712::digest(&msg, &self.domain()));
            let terms = HospitalRecord::ConsentTerms {
                scope: scope::HOSPITAL,
                validUntil: valid_until,
                epoch: 1,
                signedAt: signed_at,
            };
            send_write(
                c,
                &mut writes,
                self.hospital_kiosk(),
                "registerAndConsent",
                c.records(d).registerAndConsent(
                    deadline,
                    recovery,
                    bundle,
                    terms,
                    random_bytes(RESPONSE_BYTES),
                    sig.into(),
                ),
            )
            .await?;
            let insurer = self.actors.insurer.address();
            let signed = card.consent(c, d, insurer, scope::INSURER, 90).await?;
            let terms = InsuranceProvider::ConsentTerms {
                scope: signed.scope,
                validUntil: signed.valid_until,
                epoch: signed.epoch,
                signedAt: signed.signed_at,
            };
            send_write(
                c,
                &mut writes,
                self.insurer_kiosk(),
                "enrollWithConsent",
                c.insurance(d).enrollWithConsent(
                    pid,
                    8000,
                    5_000u128 * TOKEN_UNIT,
                    terms,
                    signed.sig.into(),
                ),
            )
            .await?;
        } else {
            let r = self
                .consent(card, hospital, self.hospital_kiosk(), scope::HOSPITAL)
                .await?;
            write(&mut writes, "grantConsent", &r);
        }
        let sealed_rx = random_bytes(PRESCRIPTION_BYTES);
        let sealed_claim = random_bytes(RESPONSE_BYTES);
        let claim_hash = alloy::primitives::keccak256(&sealed_claim);
        let amount = U256::from(120u128 * TOKEN_UNIT);
        let order = HospitalRecord::PrescriptionOrder {
            validUntil: alloy::primitives::aliases::U40::ZERO,
            tokenKeyHash: B256::ZERO,
            sealedPrescription: sealed_rx,
        };
        send_write(
            c,
            &mut writes,
            self.hospital_kiosk(),
            "consult",
            c.records(d).consult(
                pid,
                vec![random_bytes(RESPONSE_BYTES), random_bytes(RESPONSE_BYTES)],
                vec![order],
                amount,
                sealed_claim,
            ),
        )
        .await?;
        let rx = c
            .pharmacy(d)
            .prescriptionCount()
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let claim = c
            .insurance(d)
            .claimCount()
            .call()
            .await
            .map_err(|e| err(c, e))?;
        let signed = card
            .consent(c, d, pharmacy, scope::READ | scope::DISPENSE, 3)
            .await?;
        let nonce = c.hub(d).nonces(pid).call().await.map_err(|e| err(c, e))?;
        let sealed_dispense = random_bytes(PRESCRIPTION_BYTES);
        let step = eip712::DispenseWithConsent {
            consent: eip712::Consent {
                patientId: pid,
                institution: pharmacy,
                scope: signed.scope,
                validUntil: signed.valid_until,
                epoch: signed.epoch,
                signedAt: signed.signed_at,
            },
            dispense: Dispense {
                prescriptionId: rx,
                pharmacy,
                part: 10_000,
                contentHash: alloy::primitives::keccak256(&sealed_dispense),
                nonce,
                deadline,
            },
        };
        let sig = card.sign(eip712::digest(&step, &self.domain()));
        let terms = PharmacyAccess::ConsentTerms {
            scope: signed.scope,
            validUntil: signed.valid_until,
            epoch: signed.epoch,
            signedAt: signed.signed_at,
        };
        send_write(
            c,
            &mut writes,
            self.pharmacy_kiosk(),
            "dispenseWithConsent",
            c.pharmacy(d).dispenseWithConsent(
                rx,
                pid,
                10_000,
                deadline,
                sealed_dispense,
                terms,
                sig.into(),
            ),
        )
        .await?;
        let approve = amount * U256::from(8000) / U256::from(10_000);
        send_write(
            c,
            &mut writes,
            self.insurer_kiosk(),
            "settleClaim",
            c.insurance(d).settleClaim(
                claim,
                pid,
                claim_hash,
                approve,
                random_bytes(RESPONSE_BYTES),
            ),
        )
        .await?;
        Ok(writes)
    }
}

fn err(c: &Chain, e: alloy::contract::Error) -> ChainError {
    ChainError::from_contract(c.url(), e)
}

/// Runs the measurement on a fresh Anvil at Celo's rules ([`devnet_options`]) started for it.
pub async fn measure() -> Result<GasReport, ChainError> {
    let stack = deploy::LocalStack::start(devnet_options()).await?;
    let devnet = stack.devnet;
    let (chain, d, actors) = (stack.chain, stack.deployment, stack.actors);
    let world = World { chain, d, actors };
    let card = SoftCard::generate();
    let first = world.visit(&card, true).await?;
    let again = world.visit(&card, false).await?;
    // The visits as the kiosks send them (step functions), for another patient.
    let stepper = SoftCard::generate();
    let step_first = world.step_visit(&stepper, true).await?;
    let before = world.kiosk_balances().await?;
    let step_again = world.step_visit(&stepper, false).await?;
    let after = world.kiosk_balances().await?;
    let paid: u128 = step_again.iter().map(|w| w.2).sum();
    let fell: u128 = before.saturating_sub(after).to();
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
    let writes = |v: &[(&'static str, u64, u128)]| -> Vec<(String, u64)> {
        v.iter().map(|&(f, g, _)| (f.to_string(), g)).collect()
    };
    let single = |v: &Visit| (v.writes.len(), v.writes.iter().map(|w| w.1).sum());
    let report = GasReport {
        rows,
        deploy: world.d.deploy_gas.clone(),
        first_visit: writes(&step_first),
        returning_visit: writes(&step_again),
        single_calls: [single(&first), single(&again)],
        other_fees_wei: fell.saturating_sub(paid),
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
| P-256 verification of the card's signature (P256VERIFY precompile, Celo's price) | 3,450 |
| **sum** | **~377,750** |

That leaves ~89,000 gas for seven role checks (two cold reads each, ~29,400), the consent checks, the token \
transfer and escrow (~18,000), the coverage arithmetic (~14,000), the views' reads (~12,000) and seven events \
(~10,000): ~83,000 already, with nothing left for the hash chain, argument decoding or a second cold contract. \
Half the paper is reachable only by giving up a guarantee (unverified card signatures, plaintext or smaller \
payloads, no on-chain pagination, no per-call role and consent checks). We kept the guarantees. Four rows are \
above the paper's, each for a guarantee explained under the table: registration (the card's recovery), the two \
institution registrations (governance through a delay, two transactions) and the pharmacy's view (a consent \
check and a page of prescriptions). The recurring writes (`addMedicalRecord`, `updateMedicalHistory`, \
`approveClaim` with its per-item ClaimResponse, `processPayment`) stay below the paper's.
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

/// A CELO amount for the table: six decimals.
fn celo(v: f64) -> String {
    format!("{v:.6}")
}

/// A stable-token (USD) amount for the table: four decimals (hundredths of a cent).
fn usd(v: f64) -> String {
    format!("{v:.4}")
}

/// "What a visit costs on Celo": every kiosk write of both visits priced at Celo's base-fee floor, in CELO and
/// in a stable token at the stated CELO/USD rates, paid in CELO or in the token itself (CIP-64), and the L1
/// data fee.
pub fn cost_markdown(r: &GasReport) -> Result<String, ChainError> {
    let (floor, tip) = celo_fees()?;
    let gwei = |w: u64| w as f64 / GWEI as f64;
    let visits = [
        (
            "first (a new patient: registration, enrolment)",
            &r.first_visit,
            r.first_visit_gas(),
        ),
        (
            "returning (the recurring cost)",
            &r.returning_visit,
            r.returning_visit_gas(),
        ),
    ];
    let mut s = String::new();
    s.push_str(&format!(
        "## What a visit costs on Celo\n\n\
         A visit as the kiosks pay for it: every write a kiosk sends, one a desk step (docs/design-v2.md, \"Step \
         functions\": the registration with its consent and demographics, the enrolment with its consent, the \
         consultation with its two records, prescription and claim, the pharmacy's consent with the dispense, the \
         insurer's settle; a returning patient checks in instead of registering and enrolling), every sealed \
         payload 658 bytes as in the load run. Views cost nothing; institution registrations are governance, paid \
         once by the deployment's admin. The table's visits made of the paper's single calls would cost {} gas in \
         {} writes (first) and {} in {} (returning). Priced at Celo's base-fee floor, {} gwei a gas (the base fee \
         never goes below it and rises above it only under congestion), and with the `celo` profile's {} gwei tip \
         on top.\n\n",
        thousands(r.single_calls[0].1),
        r.single_calls[0].0,
        thousands(r.single_calls[1].1),
        r.single_calls[1].0,
        gwei(floor),
        gwei(tip)
    ));
    s.push_str(&format!(
        "| visit | kiosk writes | gas | CELO at {} gwei | CELO at {} gwei (with the tip) |\n|---|---:|---:|---:|---:|\n",
        gwei(floor),
        gwei(floor + tip)
    ));
    for (name, writes, gas) in &visits {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            name,
            writes.len(),
            thousands(*gas),
            celo(celo_cost(*gas, floor)),
            celo(celo_cost(*gas, floor + tip))
        ));
    }
    for (name, writes, _) in &visits {
        let mut counted: Vec<(String, usize, u64)> = Vec::new();
        for (f, g) in writes.iter() {
            match counted.iter_mut().find(|c| &c.0 == f) {
                Some(c) => {
                    c.1 += 1;
                    c.2 += g;
                }
                None => counted.push((f.clone(), 1, *g)),
            }
        }
        let list: Vec<String> = counted
            .iter()
            .map(|(f, n, g)| {
                if *n > 1 {
                    format!("`{f}` ×{n} ({})", thousands(*g))
                } else {
                    format!("`{f}` ({})", thousands(*g))
                }
            })
            .collect();
        let visit = name.split(' ').next().unwrap_or(name);
        s.push_str(&format!(
            "\nThe {visit} visit's writes: {}.\n",
            list.join(", ")
        ));
    }
    s.push_str(&format!(
        "\n### In the stable token\n\n\
         CELO's price moves, so the figures below state the CELO/USD rate they use (assumed round rates, not \
         quotes: take the day's rate and scale linearly); 1 cUSD ≈ 1 USD. Two ways to pay, both at {} gwei \
         (floor + tip):\n\n\
         - **in CELO** bought with the stable token: the CELO figure above × the rate;\n\
         - **in the stable token itself** (a CIP-64 transaction naming the token as its fee currency, so the \
         institution holds no CELO): the node prices the gas in the token at the FeeCurrencyDirectory's oracle \
         rate, and every transaction costs about {} gas more for debiting and crediting the token \
         (docs.celo.org, \"Fee currency\"; the exact figure is the currency's `intrinsicGas` in the \
         FeeCurrencyDirectory): {} more a first visit, {} more a returning one.\n\n",
        gwei(floor + tip),
        thousands(FEE_CURRENCY_EXTRA_GAS),
        thousands(FEE_CURRENCY_EXTRA_GAS * r.first_visit.len() as u64),
        thousands(FEE_CURRENCY_EXTRA_GAS * r.returning_visit.len() as u64),
    ));
    s.push_str(
        "| 1 CELO = | first visit, gas in CELO | first visit, gas in the token | returning visit, gas in CELO | returning visit, gas in the token |\n\
         |---:|---:|---:|---:|---:|\n",
    );
    for rate in CELO_USD_RATES {
        let mut row = format!("| {rate:.2} USD |");
        for (_, writes, gas) in &visits {
            let in_celo = celo_cost(*gas, floor + tip) * rate;
            let extra = FEE_CURRENCY_EXTRA_GAS * writes.len() as u64;
            let in_token = celo_cost(*gas + extra, floor + tip) * rate;
            row.push_str(&format!(" {} | {} |", usd(in_celo), usd(in_token)));
        }
        s.push_str(&row);
        s.push('\n');
    }
    s.push_str(&format!(
        "\n### No L1 data fee\n\n\
         An OP-stack chain normally charges each transaction an L1 data fee on top of its gas (receipts carry it \
         as `l1Fee`; it is not in `eth_estimateGas`). Celo does not: its GasPriceOracle's base-fee and blob \
         base-fee scalars are set to zero, so the L1 fee (and the operator fee) is always zero, and Celo covers \
         its data availability (EigenDA) through the base-fee floor instead (docs.celo.org, \"Transaction \
         fees\": \"Zero L1 & Operator Fees\"). Anvil `--optimism` (1.7.1) charges none either: its receipts \
         carry no `l1Fee` field, the GasPriceOracle and L1Block predeploys are absent, and over the returning \
         visit the kiosks' balances fell by exactly gas used × gas price ({} wei more). The figures above are \
         the whole fee, on Anvil and on Celo.\n",
        r.other_fees_wei
    ));
    Ok(s)
}

/// The whole `docs/gas-table.md`: how it was measured, the table with its notes, what a visit costs on Celo
/// and why half the paper is out of reach.
pub fn document(r: &GasReport) -> Result<String, ChainError> {
    Ok(format!(
        "# Gas: our contracts against the paper's Table III\n\n\
         Measured by `cargo run -p carekiosk-cli -- gas-table --out docs/gas-table.md` on a fresh local Anvil at \
         Celo's rules (`anvil --optimism --hardfork isthmus`: the OP stack at Celo's hardfork, a Prague EVM, \
         P256VERIFY at 0x100 for {} gas as on Celo; legacy transactions at the paper's 2 gwei, which changes no \
         gas figure). The contracts are compiled for Prague (`contracts/foundry.toml`). Writes from receipts, \
         view functions by `eth_estimateGas`, as the paper measured them. Every sealed payload has a v3 \
         envelope's shape (padded plaintext + 146 bytes): records and amendments {} + 146 bytes, claims {} + \
         146, prescriptions {} + 146; a registration carries the patient's 277-byte key bundle; every card \
         signature is verified on chain (P-256 precompile). Contracts v2 (docs/design-v2.md): consents with \
         epoch and signing time, governance through a delay (`registerHospital`, `registerPharmacy` are \
         `schedule` + `execute`), escrow reserved at approval, the card's recovery key and key bundle at \
         registration.\n\n\
         \"First visit\" is a new patient on a fresh system; \"returning visit\" is the same patient's next \
         visit (their record chain, coverage counters and the hospital's token balance exist), the recurring \
         cost. `registerPatient` happens once per patient, so its returning figure is a second new \
         patient's.\n\n{}\n{}\n{}",
        thousands(P256VERIFY_GAS),
        RECORD_BYTES,
        CLAIM_BYTES,
        PRESCRIPTION_BYTES,
        to_markdown(r),
        cost_markdown(r)?,
        FLOOR_NOTE
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_total_is_the_papers() {
        assert_eq!(PAPER.iter().map(|r| r.2).sum::<u64>(), 934_110);
    }

    #[test]
    fn costs_in_celo() {
        assert_eq!(celo_cost(1_000_000, 25 * GWEI), 0.025);
        assert_eq!(celo_cost(0, 25 * GWEI), 0.0);
        assert_eq!(celo_fees().unwrap(), (25 * GWEI, GWEI));
    }

    fn sample_report() -> GasReport {
        let w = |v: &[(&str, u64)]| v.iter().map(|&(f, g)| (f.to_string(), g)).collect();
        GasReport {
            rows: vec![],
            deploy: vec![],
            first_visit: w(&[
                ("registerPatient", 200_000),
                ("grantConsent", 70_000),
                ("grantConsent", 70_000),
            ]),
            returning_visit: w(&[("grantConsent", 70_000), ("addMedicalRecord", 90_000)]),
            single_calls: [(12, 1_239_776), (9, 846_357)],
            other_fees_wei: 0,
        }
    }

    #[test]
    fn visit_cost_section_prices_every_write() {
        let r = sample_report();
        assert_eq!(r.first_visit_gas(), 340_000);
        assert_eq!(r.returning_visit_gas(), 160_000);
        let md = cost_markdown(&r).unwrap();
        // First visit: 340,000 gas at 25 gwei = 0.0085 CELO; at 26 gwei = 0.00884.
        assert!(md.contains("| 3 | 340,000 | 0.008500 | 0.008840 |"), "{md}");
        // In the token at 0.50 USD a CELO: (340,000 + 3 × 50,000) gas × 26 gwei × 0.5 = 0.00637 USD.
        assert!(
            md.contains("| 0.50 USD | 0.0044 | 0.0064 | 0.0021 | 0.0034 |"),
            "{md}"
        );
        assert!(md.contains("`grantConsent` ×2 (140,000)"), "{md}");
        assert!(md.contains("(0 wei more)"), "{md}");
        assert!(
            md.contains("would cost 1,239,776 gas in 12 writes (first) and 846,357 in 9"),
            "{md}"
        );
    }

    /// P256VERIFY answers within Celo's 3,450 gas on `opts`' chain: an `eth_call` straight to 0x100 whose gas
    /// limit leaves the call at most ~3,800 gas after the intrinsic cost succeeds with 1 (Osaka's 6,900 would
    /// run out of gas; a chain without the precompile returns nothing).
    async fn p256_within_celos_price(opts: DevnetOptions) -> Result<Bytes, String> {
        use alloy::rpc::types::TransactionRequest;
        let devnet = crate::devnet::Devnet::start(opts).await.unwrap();
        let card = SoftCard::generate();
        let digest = alloy::primitives::keccak256(b"celo");
        let sig = card.sign(digest);
        let input = [digest, sig.r, sig.s, sig.qx, sig.qy].concat();
        let zeros = input.iter().filter(|b| **b == 0).count() as u64;
        let nonzeros = input.len() as u64 - zeros;
        // Intrinsic cost, and EIP-7623's calldata floor (Prague), which a gas limit must also cover.
        let intrinsic = 21_000 + 4 * zeros + 16 * nonzeros;
        let floor = 21_000 + 10 * (zeros + 4 * nonzeros);
        let limit = (intrinsic + P256VERIFY_GAS).max(floor);
        assert!(
            limit - intrinsic < 6_900,
            "the limit must rule out Osaka's price"
        );
        let provider =
            alloy::providers::ProviderBuilder::new().connect_http(devnet.url.parse().unwrap());
        let tx = TransactionRequest::default()
            .to(P256VERIFY)
            .input(Bytes::from(input).into())
            .gas_limit(limit);
        let out = provider.call(tx).await.map_err(|e| e.to_string());
        devnet.stop().await;
        out
    }

    #[tokio::test]
    async fn the_gas_tables_chain_prices_p256_as_celo() {
        let out = p256_within_celos_price(devnet_options()).await.unwrap();
        assert_eq!(out.as_ref(), U256::from(1).to_be_bytes::<32>().as_slice());
    }

    #[tokio::test]
    async fn the_default_local_chain_runs_celos_rules() {
        let out = p256_within_celos_price(DevnetOptions::default())
            .await
            .unwrap();
        assert_eq!(out.as_ref(), U256::from(1).to_be_bytes::<32>().as_slice());
    }

    #[tokio::test]
    async fn osaka_would_not_fit_celos_price() {
        // The check above can fail: on Osaka (6,900) the same call runs out of gas.
        let out = p256_within_celos_price(DevnetOptions {
            optimism: false,
            hardfork: Some("osaka".to_string()),
            ..DevnetOptions::default()
        })
        .await;
        let e = out.expect_err("6,900 gas cannot fit");
        assert!(e.contains("PrecompileOOG"), "{e}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(934110), "934,110");
        assert_eq!(thousands(21000), "21,000");
        assert_eq!(thousands(999), "999");
    }
}
