//! The kiosk workflows from the command line: one subcommand per step, each only parsing, calling
//! `carekiosk-kiosk`, and printing (text, or `--json`).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use alloy::primitives::{B256, U256};
use carekiosk_card::{PatientCard, Pin};
use carekiosk_kiosk::workflows::{
    self, doctor, emergency, insurer, patient, pharmacy, reception, ConsentChoice,
};
use carekiosk_kiosk::{Kiosk, KioskConfig, KioskError, KioskRole, PatientSession, Submitted};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::CliError;

/// Where the kiosk runs: its role preset, overridden piecemeal (the profile options are shared with the admin
/// commands: [`crate::opts::NetworkOpts`]).
#[derive(Args, Clone)]
pub struct KioskOpts {
    #[command(flatten)]
    net: crate::opts::NetworkOpts,
    /// Card reader name (or part of it).
    #[arg(long, global = true)]
    reader: Option<String>,
}

#[derive(Subcommand)]
pub enum ReceptionCmd {
    /// Issue a blank card to a new patient and register them (PINs: CAREKIOSK_ADMIN_PIN, CAREKIOSK_PIN, or asked).
    Register {
        #[arg(long)]
        name: String,
        /// Birth date, YYYY-MM-DD.
        #[arg(long)]
        birth_date: String,
        /// male, female, other or unknown.
        #[arg(long, default_value = "unknown")]
        gender: String,
        /// Write the patient's issue letter (PDF: reset code and recovery code) to this file for printing.
        /// It holds the patient's codes: print it, hand it over, and delete the file.
        #[arg(long)]
        letter: Option<PathBuf>,
        /// The letter's language (en or fr).
        #[arg(long, default_value = "en")]
        lang: String,
    },
    /// Check a returning patient in with their card and PIN; the card signs the consent chosen here.
    CheckIn {
        #[command(flatten)]
        consent: ConsentArgs,
    },
    /// Unblock a blocked PIN with the reset code from the patient's letter (CAREKIOSK_RESET_CODE, or asked) and
    /// set a new PIN (CAREKIOSK_NEW_PIN, or asked twice).
    Unblock,
    /// Report a patient's card lost with the recovery code from their letter (CAREKIOSK_RECOVERY_CODE, or
    /// asked): from the next block the card signs nothing that counts and every consent made with it is void.
    ReportLost,
    /// Replace a lost card (at the hospital that issued it): the recovery code from the patient's letter
    /// (CAREKIOSK_RECOVERY_CODE, or asked), a blank card in the reader (its admin PIN: CAREKIOSK_ADMIN_PIN), the
    /// patient's new PIN (CAREKIOSK_PIN). The patient keeps their identity and everything on record.
    Replace {
        /// Cardholder name for the new card (as on the patient's ID).
        #[arg(long)]
        name: String,
        /// Write the new issue letter (PDF) to this file for printing; delete it once printed.
        #[arg(long)]
        letter: Option<PathBuf>,
        /// The letter's language (en or fr).
        #[arg(long, default_value = "en")]
        lang: String,
    },
}

/// What the patient allows the desk's institution (default: the role's default, shown by `--help`).
#[derive(Args, Clone, Default)]
pub struct ConsentArgs {
    /// What the institution may do: read, write, prescribe, dispense (comma-separated; "all" = the role's most).
    /// Default: everything the role may hold (hospital: read,write,prescribe; pharmacy: read,dispense).
    #[arg(long)]
    scope: Option<String>,
    /// For how many days (default: hospital 90, pharmacy 3; at most 365 / 30).
    #[arg(long)]
    days: Option<u64>,
}

impl ConsentArgs {
    fn choice(&self, role: KioskRole) -> Result<ConsentChoice, CliError> {
        let mut c = ConsentChoice::default_for(role);
        if let Some(s) = &self.scope {
            c.scope = workflows::parse_scope(s, role)?;
        }
        if let Some(d) = self.days {
            c.days = d;
        }
        c.check(role)?;
        Ok(c)
    }
}

/// The patient's own view, at any desk (card and PIN: CAREKIOSK_PIN, or asked).
#[derive(Subcommand)]
pub enum PatientCmd {
    /// Who holds the patient's consent now.
    Consents,
    /// Every chain event about the patient (records, prescriptions, claims, consents, emergency reads).
    Log,
    /// Revoke one institution's consent (its address), signed by the card.
    Revoke {
        #[arg(long)]
        institution: alloy::primitives::Address,
    },
    /// End every consent of every institution at once, signed by the card.
    RevokeAll,
}

/// The emergency data set (hospital desks).
#[derive(Subcommand)]
pub enum EmergencyCmd {
    /// The patient's current set (card and PIN).
    Show,
    /// Replace the patient's set (card and PIN) with the one in this JSON file ({"allergies": [{"substance",
    /// "high"}], "medications": [], "conditions": [], "implants": [], "blood_group": "A+", "contact": {"name",
    /// "phone"}}); an empty object removes it from the card.
    Set {
        #[arg(long)]
        file: PathBuf,
    },
    /// Emergency read: the card in the reader, **no PIN**. Recorded on chain (hospital, and for the patient's
    /// eyes only, the clinician and the reason).
    Read {
        /// Who reads it.
        #[arg(long)]
        clinician: String,
        /// Why (the patient sees it in their access log).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum DoctorCmd {
    /// The patient's history, opened with their card.
    History,
    /// Record a diagnosis (ICD-10) and an optional treatment plan.
    Diagnose {
        #[arg(long)]
        icd10: String,
        #[arg(long)]
        note: Option<String>,
        /// A plan step (repeat for several).
        #[arg(long = "plan")]
        plan: Vec<String>,
    },
    /// Amend one of this hospital's entries with a corrected diagnosis (a new version; nothing is deleted).
    Amend {
        /// The entry to supersede.
        #[arg(long)]
        index: u64,
        #[arg(long)]
        icd10: String,
        #[arg(long)]
        note: Option<String>,
    },
    /// Prescribe a formulary drug (ATC code). Allergy and duplicate warnings refuse it unless `--confirm`ed.
    Prescribe {
        #[arg(long)]
        atc: String,
        #[arg(long)]
        quantity: f64,
        #[arg(long)]
        dosage: Option<String>,
        /// Days of validity (0: 28).
        #[arg(long, default_value_t = 0)]
        days: u32,
        /// The prescribing doctor, as printed.
        #[arg(long)]
        prescriber: Option<String>,
        /// The pharmacy must hand out exactly this product.
        #[arg(long)]
        no_substitution: bool,
        /// The doctor saw the warnings this prescription raises and prescribes anyway.
        #[arg(long)]
        confirm: bool,
        /// Also print a prescription token for a representative (PDF to this file: print it, hand it over,
        /// delete the file — it lets whoever holds it collect the prescription once).
        #[arg(long)]
        token_pdf: Option<PathBuf>,
    },
    /// The whole consultation in one transaction: the diagnosis (ICD-10) and its plan, the prescriptions and the
    /// claim for the visit. Warnings a prescription raises refuse it all unless `--confirm`ed.
    Consult {
        #[arg(long)]
        icd10: String,
        #[arg(long)]
        note: Option<String>,
        /// A plan step (repeat for several).
        #[arg(long = "plan")]
        plan: Vec<String>,
        /// A prescription: `ATC:QUANTITY` or `ATC:QUANTITY:DOSAGE` (repeat, up to 8).
        #[arg(long = "rx")]
        rx: Vec<String>,
        /// The doctor saw the warnings the prescriptions raise and prescribes anyway.
        #[arg(long)]
        confirm: bool,
        #[command(flatten)]
        billing: Billing,
    },
    /// This hospital's claims and the insurers' decisions (the ClaimResponse, item by item).
    Claims,
    /// Bill the patient's insurer for a visit (the diagnosis record this hospital wrote), in the deployment's
    /// token: `--item SERVICE:QUANTITY:UNIT_PRICE` (whole tokens; repeat), or `--amount` for one consultation.
    Claim {
        #[arg(long)]
        record: u64,
        #[command(flatten)]
        billing: Billing,
    },
    /// Record an allergy or intolerance (`--class`: its ATC class when known, e.g. J01C for penicillins).
    Allergy {
        #[arg(long)]
        substance: String,
        #[arg(long)]
        class: Option<String>,
        /// High criticality (anaphylaxis risk).
        #[arg(long)]
        high: bool,
        #[arg(long)]
        reaction: Option<String>,
    },
    /// The patient's allergies and current medication (from the history and every prescription).
    Medication,
    /// Cancel a prescription this hospital issued.
    Cancel {
        #[arg(long)]
        id: u64,
    },
}

#[derive(Subcommand)]
pub enum PharmacyCmd {
    /// The patient's prescriptions (card and PIN), verified on chain; the card signs the consent chosen here.
    List {
        #[command(flatten)]
        consent: ConsentArgs,
    },
    /// Dispense one (all of it, or `--quantity` of it) on the card's proof of presence.
    Dispense {
        #[arg(long)]
        id: u64,
        /// How much is handed out now, in the prescription's form (default: what remains).
        #[arg(long)]
        quantity: Option<f64>,
        /// The batch (lot) number on the pack.
        #[arg(long)]
        batch: String,
        /// The product handed out instead (a generic of the same substance), where substitution is allowed.
        #[arg(long)]
        substitute: Option<String>,
        /// Write the printable receipt (PDF) to this file.
        #[arg(long)]
        receipt_pdf: Option<PathBuf>,
    },
    /// A representative presents the prescription token (no card): the rest of that prescription is handed out
    /// once. The token's code as printed (QR payload `CKRX1:…`, or `--id` and the typed code).
    Redeem {
        /// The QR payload read from the token (`CKRX1:…`).
        #[arg(long, conflicts_with_all = ["id", "code"])]
        token: Option<String>,
        /// The prescription id printed on the token (with `--code`).
        #[arg(long, requires = "code")]
        id: Option<u64>,
        /// The token code printed under the QR (groups of 4).
        #[arg(long, requires = "id")]
        code: Option<String>,
        /// What is handed out (product name).
        #[arg(long)]
        product: String,
        #[arg(long)]
        quantity: f64,
        /// Unit of the quantity (tablet, capsule, ml…).
        #[arg(long, default_value = "unit")]
        unit: String,
        #[arg(long)]
        batch: String,
    },
}

#[derive(Subcommand)]
pub enum InsurerCmd {
    /// Enrol the patient whose card is in the reader (the card consents to this insurer; percentage of each
    /// claim, annual limit in whole tokens).
    Enroll {
        #[arg(long)]
        percent: u16,
        #[arg(long)]
        limit: u64,
    },
    /// Claims waiting for a decision.
    Queue,
    /// A claim's details and the coverage arithmetic.
    Review {
        #[arg(long)]
        id: u64,
    },
    /// Approve: item by item (`--item SEQUENCE:BENEFIT[:REASON]`, benefit in whole tokens, 0 = not paid; the
    /// total is capped by the coverage), or the whole claim (`--amount` in base units; default: the cap). Above
    /// the insurer's four-eyes threshold it waits for `confirm` from another workstation.
    Approve {
        #[arg(long)]
        id: u64,
        #[arg(long, conflicts_with = "item")]
        amount: Option<U256>,
        #[arg(long = "item")]
        item: Vec<String>,
    },
    /// A second reviewer (another workstation of the insurer) confirms an approval above the threshold.
    Confirm {
        #[arg(long)]
        id: u64,
    },
    /// Claims waiting for a second reviewer.
    Pending,
    /// Deny with a reason code (1 not covered, 2 duplicate, 3 missing documentation, 4 limit reached).
    Deny {
        #[arg(long)]
        id: u64,
        #[arg(long)]
        reason: u16,
    },
    /// Pay an approved claim.
    Pay {
        #[arg(long)]
        id: u64,
    },
    /// Paid claims.
    Paid,
}

fn config(role: KioskRole, o: &KioskOpts) -> Result<KioskConfig, CliError> {
    let overrides = carekiosk_kiosk::ConfigOverrides {
        reader: o.reader.clone(),
        ..o.net.overrides()
    };
    Ok(KioskConfig::resolve(Some(role), &overrides)?)
}

async fn open(role: KioskRole, o: &KioskOpts) -> Result<Kiosk, CliError> {
    Ok(Kiosk::open(config(role, o)?).await?)
}

/// A PIN from the environment variable, else asked on the terminal (never echoed back, never logged).
fn pin(var: &str, what: &str) -> Result<Pin, CliError> {
    if let Ok(p) = std::env::var(var) {
        return Ok(Pin::new(p));
    }
    eprint!("{what}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Other(e.to_string()))?;
    Ok(Pin::new(line.trim_end_matches(['\r', '\n'])))
}

fn card(k: &Kiosk) -> Result<PatientCard, CliError> {
    let pattern = carekiosk_card::ReaderPattern::new(k.config.reader.clone());
    Ok(PatientCard::open_matching(&pattern).map_err(KioskError::from)?)
}

fn session(k: &Kiosk) -> Result<PatientSession, CliError> {
    let c = card(k)?;
    Ok(PatientSession::start(
        c,
        pin("CAREKIOSK_PIN", "patient PIN")?,
    )?)
}

fn show(json: bool, what: &str, r: &Submitted, k: &Kiosk) {
    let (state, hash) = match r {
        Submitted::Confirmed { tx_hash, block, .. } => {
            (format!("confirmed in block {block}"), Some(*tx_hash))
        }
        Submitted::Pending { reason, .. } => {
            (format!("pending (kept in the outbox: {reason})"), None)
        }
    };
    if json {
        println!("{}", json!({ "step": what, "state": state, "tx": hash }));
        return;
    }
    let link = hash
        .and_then(|h| k.profile.tx_link(&h.to_string()))
        .unwrap_or_default();
    match hash {
        Some(h) => println!("{what}: {state}, tx {h} {link}"),
        None => println!("{what}: {state}"),
    }
}

pub async fn reception(cmd: ReceptionCmd, o: KioskOpts, json: bool) -> Result<(), CliError> {
    let k = open(KioskRole::Reception, &o).await?;
    match cmd {
        ReceptionCmd::Register {
            name,
            birth_date,
            gender,
            letter,
            lang,
        } => {
            let c = card(&k)?;
            let new = reception::NewPatient {
                name: name.clone(),
                birth_date,
                gender,
                admin_pin: pin("CAREKIOSK_ADMIN_PIN", "card admin PIN")?,
                pin: pin("CAREKIOSK_PIN", "the patient's new PIN")?,
            };
            eprintln!("issuing the card and registering (keys are generated on the card)…");
            let (s, secrets) = reception::register_patient_with_letter(&k, c, new).await?;
            write_letter(&k, &name, &secrets, letter.as_deref(), &lang)?;
            if json {
                println!("{}", json!({ "patient": s.patient_id() }));
            } else {
                println!(
                    "patient {} registered; consent granted to this hospital",
                    s.patient_id()
                );
            }
        }
        ReceptionCmd::CheckIn { consent } => {
            let choice = consent.choice(k.config.role)?;
            let mut s = session(&k)?;
            eprintln!(
                "checking in: the card signs the consent ({} for {} days)…",
                workflows::scope_names(choice.scope).join(", "),
                choice.days
            );
            let c = reception::check_in_with(&k, &mut s, choice).await?;
            for r in &c.emergency_reads {
                if json {
                    println!(
                        "{}",
                        json!({ "emergencyRead": { "hospital": r.hospital_name, "clinician": r.clinician, "reason": r.reason, "time": r.time } })
                    );
                } else {
                    println!(
                        "emergency read of your emergency data: {} by {} ({}) at {}",
                        r.hospital_name, r.clinician, r.reason, r.time
                    );
                }
            }
            show(json, "consent", &c.consent, &k);
            let name = match &c.patient {
                Some(carekiosk_records::Resource::Patient(p)) => p
                    .name
                    .first()
                    .and_then(|n| n.text.clone())
                    .unwrap_or_default(),
                _ => String::new(),
            };
            if json {
                println!(
                    "{}",
                    json!({ "patient": c.patient_id, "name": name, "records": c.records })
                );
            } else {
                println!(
                    "checked in: {name} ({}), {} record(s)",
                    c.patient_id, c.records
                );
            }
        }
        ReceptionCmd::Unblock => {
            let mut c = card(&k)?;
            let code = pin(
                "CAREKIOSK_RESET_CODE",
                "reset code (from the patient's letter)",
            )?;
            let (new, again) = new_pin_twice()?;
            carekiosk_kiosk::workflows::card::unblock_pin(&mut c, &code, &new, &again)?;
            if json {
                println!("{}", json!({ "unblocked": true }));
            } else {
                println!("PIN unblocked: the patient's new PIN is set");
            }
        }
        ReceptionCmd::ReportLost => {
            let secret = recovery_code()?;
            let (pid, r) = reception::report_lost(&k, &secret).await?;
            show(json, "card reported lost", &r, &k);
            if !json {
                println!("patient {pid}: the lost card signs nothing from now on; issue a replacement with `reception replace`");
            }
        }
        ReceptionCmd::Replace { name, letter, lang } => {
            let secret = recovery_code()?;
            let c = card(&k)?;
            let new = reception::NewCard {
                name: name.clone(),
                admin_pin: pin("CAREKIOSK_ADMIN_PIN", "blank card admin PIN")?,
                pin: pin("CAREKIOSK_PIN", "the patient's new PIN")?,
            };
            eprintln!("issuing the replacement card (keys are generated on the card)…");
            let (s, secrets, r) = reception::replace_card(&k, &secret, c, new).await?;
            show(json, "card replaced", &r, &k);
            write_letter(&k, &name, &secrets, letter.as_deref(), &lang)?;
            if !json {
                println!(
                    "patient {} moved to the new card; every earlier record opens with it",
                    s.patient_id()
                );
            }
        }
    }
    Ok(())
}

/// The recovery code, typed or scanned (CAREKIOSK_RECOVERY_CODE, or asked): the letter's text or its QR payload.
fn recovery_code() -> Result<zeroize::Zeroizing<[u8; 32]>, CliError> {
    let text = pin(
        "CAREKIOSK_RECOVERY_CODE",
        "recovery code (from the patient's letter)",
    )?;
    let t = text.expose_for_letter();
    let parsed = if t.starts_with("carekiosk-recovery:") {
        carekiosk_letter::parse_recovery_qr(t)
    } else {
        carekiosk_letter::parse_recovery_text(t)
    };
    parsed
        .map(zeroize::Zeroizing::new)
        .map_err(|e| CliError::Other(e.to_string()))
}

/// The new PIN, twice (CAREKIOSK_NEW_PIN counts for both, or asked twice).
fn new_pin_twice() -> Result<(Pin, Pin), CliError> {
    if let Ok(p) = std::env::var("CAREKIOSK_NEW_PIN") {
        return Ok((Pin::new(p.clone()), Pin::new(p)));
    }
    Ok((
        pin("CAREKIOSK_NEW_PIN", "new PIN")?,
        pin("CAREKIOSK_NEW_PIN_AGAIN", "new PIN again")?,
    ))
}

/// Renders the issue letter; writes it to `path` if given (with a warning), otherwise says how to get one.
fn write_letter(
    k: &Kiosk,
    name: &str,
    secrets: &reception::LetterSecrets,
    path: Option<&std::path::Path>,
    lang: &str,
) -> Result<(), CliError> {
    let Some(path) = path else {
        eprintln!(
            "no --letter given: the patient's reset and recovery codes were not printed; without them a blocked \
             PIN or a lost card needs the issuing hospital's help"
        );
        return Ok(());
    };
    let today = carekiosk_records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let institution = k
        .deployment
        .institutions
        .iter()
        .find(|i| i.address == k.institution)
        .map(|i| i.name.clone())
        .unwrap_or_else(|| format!("Institution {}", k.institution_id));
    let letter = carekiosk_letter::IssueLetter {
        patient_name: name,
        issued_on: &today,
        institution: &institution,
        reset_code: secrets.reset_code.expose_for_letter(),
        recovery_secret: &secrets.recovery_secret,
        lang: if lang == "fr" {
            carekiosk_letter::Lang::Fr
        } else {
            carekiosk_letter::Lang::En
        },
    };
    let pdf = carekiosk_letter::render_pdf(&letter).map_err(|e| CliError::Other(e.to_string()))?;
    std::fs::write(path, pdf).map_err(|e| {
        CliError::Other(format!(
            "cannot write the letter to {}: {e}",
            path.display()
        ))
    })?;
    eprintln!(
        "issue letter written to {} — it holds the patient's codes: print it, hand it over, and delete the file",
        path.display()
    );
    Ok(())
}

/// At any desk: the patient changes their PIN (old PIN typed for the visit, the new one twice).
pub async fn change_pin(role: KioskRole, o: KioskOpts, json: bool) -> Result<(), CliError> {
    let k = open(role, &o).await?;
    let mut s = session(&k)?;
    let (new, again) = new_pin_twice()?;
    carekiosk_kiosk::workflows::card::change_pin(&mut s, new, &again)?;
    if json {
        println!("{}", json!({ "changed": true }));
    } else {
        println!("PIN changed");
    }
    Ok(())
}

pub async fn patient(
    role: KioskRole,
    cmd: PatientCmd,
    o: KioskOpts,
    json: bool,
) -> Result<(), CliError> {
    let k = open(role, &o).await?;
    let mut s = session(&k)?;
    match cmd {
        PatientCmd::Consents => {
            for c in patient::consents(&k, &s).await? {
                let scope = workflows::scope_names(c.scope).join(",");
                if json {
                    println!(
                        "{}",
                        json!({ "institution": c.institution, "name": c.name, "role": c.role, "scope": scope, "validUntil": c.valid_until })
                    );
                } else {
                    println!(
                        "{} ({}, {}): {scope} until {}",
                        c.name, c.role, c.institution, c.valid_until
                    );
                }
            }
        }
        PatientCmd::Log => {
            for e in patient::access_log(&k, &mut s).await? {
                if json {
                    println!(
                        "{}",
                        json!({ "time": e.time, "event": e.event, "institution": e.institution, "summary": e.summary })
                    );
                } else {
                    println!("{} {}", e.time, e.summary);
                }
            }
        }
        PatientCmd::Revoke { institution } => {
            eprintln!("the card signs the revocation…");
            let r = patient::revoke(&k, &mut s, institution).await?;
            show(json, "revoke", &r, &k);
        }
        PatientCmd::RevokeAll => {
            eprintln!("the card signs the end of every consent…");
            let r = patient::revoke_all(&k, &mut s).await?;
            show(json, "revoke all", &r, &k);
        }
    }
    Ok(())
}

pub async fn emergency_cmd(
    role: KioskRole,
    cmd: EmergencyCmd,
    o: KioskOpts,
    json: bool,
) -> Result<(), CliError> {
    let k = open(role, &o).await?;
    let print = |set: &carekiosk_records::EmergencySet| {
        let v = serde_json::to_value(set).unwrap_or_default();
        if json {
            println!("{}", json!({ "emergencySet": v }));
        } else {
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    };
    match cmd {
        EmergencyCmd::Show => {
            let mut s = session(&k)?;
            print(&emergency::current(&k, &mut s).await?);
        }
        EmergencyCmd::Set { file } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| CliError::Other(format!("{}: {e}", file.display())))?;
            let set: carekiosk_records::EmergencySet =
                serde_json::from_str(&text).map_err(|e| {
                    CliError::Other(format!(
                        "{}: not an emergency set ({e}); see `carekiosk emergency set --help`",
                        file.display()
                    ))
                })?;
            let mut s = session(&k)?;
            let saved = emergency::save(&k, &mut s, set).await?;
            show(json, "emergency set", &saved.record, &k);
            if !json {
                println!(
                    "{}",
                    if saved.on_card {
                        "written to the card (readable by hospital kiosks without the PIN)"
                    } else {
                        "removed from the card"
                    }
                );
            }
        }
        EmergencyCmd::Read { clinician, reason } => {
            let mut c = card(&k)?;
            let v = emergency::read(&k, &mut c, &clinician, &reason).await?;
            if !json {
                println!(
                    "EMERGENCY DATA of {} ({})",
                    v.name.as_deref().unwrap_or("unknown"),
                    v.patient_id
                );
            }
            print(&v.set);
            show(json, "emergency read recorded", &v.trace, &k);
        }
    }
    Ok(())
}

pub async fn doctor(cmd: DoctorCmd, o: KioskOpts, json: bool) -> Result<(), CliError> {
    let k = open(KioskRole::Doctor, &o).await?;
    let mut s = session(&k)?;
    match cmd {
        DoctorCmd::History => {
            for e in doctor::history(&k, &mut s).await? {
                let Some(resource) = &e.resource else {
                    let why = e.unreadable.as_deref().unwrap_or("unknown");
                    if json {
                        println!(
                            "{}",
                            json!({ "index": e.index, "author": e.author, "time": e.time, "unreadable": why })
                        );
                    } else {
                        println!(
                            "#{} by institution {} at {}: cannot be opened ({why})",
                            e.index, e.author, e.time
                        );
                    }
                    continue;
                };
                let body = resource.to_json().map_err(KioskError::from)?;
                if json {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    println!(
                        "{}",
                        json!({ "index": e.index, "author": e.author, "time": e.time, "supersedes": e.supersedes, "resource": v })
                    );
                } else {
                    println!(
                        "#{} {:?} by institution {} at {}: {}",
                        e.index,
                        resource.kind(),
                        e.author,
                        e.time,
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }
        DoctorCmd::Diagnose { icd10, note, plan } => {
            let plan: Vec<&str> = plan.iter().map(String::as_str).collect();
            for r in doctor::add_diagnosis(&k, &mut s, &icd10, note.as_deref(), &plan).await? {
                show(json, "record", &r, &k);
            }
        }
        DoctorCmd::Amend { index, icd10, note } => {
            let code = carekiosk_records::icd10::lookup(&icd10)
                .ok_or_else(|| CliError::Other(format!("{icd10} is not in the ICD-10 list")))?;
            let subject = carekiosk_records::fhir::Reference::patient(&s.patient_id().0);
            let mut c = code.diagnosis(subject);
            if let Some(n) = note {
                c.note.push(carekiosk_records::fhir::Annotation::new(n));
            }
            let r = doctor::amend(
                &k,
                &mut s,
                index,
                &carekiosk_records::Resource::Condition(c),
            )
            .await?;
            show(json, "amendment", &r, &k);
        }
        DoctorCmd::Prescribe {
            atc,
            quantity,
            dosage,
            days,
            prescriber,
            no_substitution,
            confirm,
            token_pdf,
        } => {
            let warnings = doctor::prescription_warnings(&k, &mut s, &atc).await?;
            for w in &warnings {
                if json {
                    println!("{}", json!({ "warning": w }));
                } else {
                    println!("warning: {w}");
                }
            }
            let order = doctor::PrescriptionOrder {
                atc,
                quantity,
                dosage,
                days,
                prescriber,
                substitution_allowed: !no_substitution,
                token: token_pdf.is_some(),
            };
            let confirmed = if confirm { warnings } else { Vec::new() };
            let r = doctor::prescribe_order(&k, &mut s, &order, &confirmed).await?;
            show(json, "prescription", &r.submitted, &k);
            if let Some(id) = r.id {
                if !json {
                    println!("prescription id {id}");
                }
            }
            if let Some(path) = token_pdf {
                let pdf = doctor::token_pdf(&k, &order, &r, carekiosk_letter::Lang::En)?;
                std::fs::write(&path, pdf)
                    .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
                eprintln!(
                    "prescription token written to {}: print it, hand it over, and delete the file",
                    path.display()
                );
            }
        }
        DoctorCmd::Consult {
            icd10,
            note,
            plan,
            rx,
            confirm,
            billing,
        } => {
            let mut prescriptions = Vec::new();
            for r in &rx {
                let mut parts = r.splitn(3, ':');
                let (Some(atc), Some(qty)) = (parts.next(), parts.next()) else {
                    return Err(CliError::Other(format!(
                        "--rx {r:?}: write ATC:QUANTITY or ATC:QUANTITY:DOSAGE, e.g. J01CA04:20"
                    )));
                };
                let quantity = qty.parse::<f64>().map_err(|_| {
                    CliError::Other(format!("--rx {r:?}: the quantity is not a number"))
                })?;
                prescriptions.push(doctor::PrescriptionOrder {
                    atc: atc.into(),
                    quantity,
                    dosage: parts.next().map(str::to_string),
                    substitution_allowed: true,
                    ..Default::default()
                });
            }
            let mut confirmed = Vec::new();
            for o in &prescriptions {
                for w in doctor::prescription_warnings(&k, &mut s, &o.atc).await? {
                    if json {
                        println!("{}", json!({ "warning": w }));
                    } else {
                        println!("warning: {w}");
                    }
                    if confirm {
                        confirmed.push(w);
                    }
                }
            }
            let c = doctor::Consultation {
                id: None,
                icd10,
                note,
                plan,
                prescriptions,
                confirmed,
                services: billing.items()?,
                practitioner: billing.practitioner,
            };
            let r = doctor::consult(&k, &mut s, &c).await?;
            show(json, "consultation", &r.submitted, &k);
            if !json {
                for p in &r.prescriptions {
                    if let Some(id) = p.id {
                        println!("prescription id {id}");
                    }
                }
            }
        }
        DoctorCmd::Claims => {
            for c in doctor::claims(&k).await? {
                let decision = c
                    .response
                    .as_ref()
                    .and_then(|r| r.to_json().ok())
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                if json {
                    let v: serde_json::Value = serde_json::from_str(&decision).unwrap_or_default();
                    println!(
                        "{}",
                        json!({ "id": c.claim.id, "status": format!("{:?}", c.claim.status), "approved": c.claim.approved.to_string(), "response": v })
                    );
                } else {
                    println!(
                        "claim {}: {:?}, approved {} {decision}",
                        c.claim.id, c.claim.status, c.claim.approved
                    );
                }
            }
        }
        DoctorCmd::Claim { record, billing } => {
            let req = doctor::ClaimRequest {
                record,
                items: billing.items()?,
                practitioner: billing.practitioner,
            };
            let r = doctor::submit_claim_items(&k, &mut s, &req).await?;
            show(json, "claim", &r, &k);
        }
        DoctorCmd::Allergy {
            substance,
            class,
            high,
            reaction,
        } => {
            let r = doctor::record_allergy(
                &k,
                &mut s,
                &substance,
                class.as_deref(),
                high,
                reaction.as_deref(),
            )
            .await?;
            show(json, "allergy", &r, &k);
        }
        DoctorCmd::Medication => {
            let o = carekiosk_kiosk::workflows::medication::overview(&k, &mut s).await?;
            if json {
                println!("{}", serde_json::to_string(&o).unwrap_or_default());
            } else {
                for a in &o.allergies {
                    println!(
                        "allergy: {}{} ({})",
                        a.substance,
                        if a.high { ", high risk" } else { "" },
                        a.source
                    );
                }
                for m in &o.current {
                    println!("takes: {} ({})", m.display, m.source);
                }
            }
        }
        DoctorCmd::Cancel { id } => {
            let r = doctor::cancel_prescription(&k, id).await?;
            show(json, "cancel", &r, &k);
        }
    }
    Ok(())
}

pub async fn pharmacy(cmd: PharmacyCmd, o: KioskOpts, json: bool) -> Result<(), CliError> {
    let k = open(KioskRole::Pharmacy, &o).await?;
    if let PharmacyCmd::Redeem {
        token,
        id,
        code,
        product,
        quantity,
        unit,
        batch,
    } = cmd
    {
        let token = match (token, id, code) {
            (Some(t), _, _) => carekiosk_letter::parse_token_qr(&t)?,
            (None, Some(id), Some(code)) => carekiosk_letter::TokenRef {
                chain_id: k.deployment.chain_id,
                contract: k.deployment.contracts.pharmacy_access.into_array(),
                prescription_id: id,
                secret: carekiosk_letter::parse_token_text(&code)?,
            },
            _ => {
                return Err(CliError::Other(
                    "give the token: --token CKRX1:… (the QR), or --id and --code as printed"
                        .into(),
                ))
            }
        };
        let r = pharmacy::dispense_by_token(&k, &token, &product, quantity, &unit, &batch).await?;
        show(json, "dispense by token", &r, &k);
        return Ok(());
    }
    let mut s = session(&k)?;
    match cmd {
        PharmacyCmd::Redeem { .. } => unreachable!("handled above"),
        PharmacyCmd::List { consent } => {
            let choice = consent.choice(k.config.role)?;
            for p in pharmacy::open_patient_with(&k, &mut s, choice).await? {
                let Some(request) = &p.request else {
                    let why = p.unreadable.as_deref().unwrap_or("unknown");
                    if json {
                        println!(
                            "{}",
                            json!({ "id": p.id, "issuer": p.issuer, "status": p.status, "unreadable": why })
                        );
                    } else {
                        println!(
                            "prescription {} (issuer {}): cannot be opened ({why})",
                            p.id, p.issuer
                        );
                    }
                    continue;
                };
                let body = request.to_json().map_err(KioskError::from)?;
                if json {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                    println!(
                        "{}",
                        json!({ "id": p.id, "issuer": p.issuer, "status": p.status, "validUntil": p.valid_until, "dispensable": p.dispensable, "request": v })
                    );
                } else {
                    let state = if p.dispensable {
                        "ready"
                    } else if p.status == 2 {
                        "dispensed"
                    } else if p.status == 3 {
                        "cancelled"
                    } else {
                        "expired"
                    };
                    println!(
                        "prescription {} ({state}, issuer {}, valid until {}): {}",
                        p.id,
                        p.issuer,
                        p.valid_until,
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }
        PharmacyCmd::Dispense {
            id,
            quantity,
            batch,
            substitute,
            receipt_pdf,
        } => {
            let list = pharmacy::open_patient(&k, &mut s).await?;
            let rx = list.iter().find(|p| p.id == id).ok_or_else(|| {
                CliError::Other(format!("prescription {id} is not this patient's"))
            })?;
            eprintln!("the card signs the dispense…");
            let input = pharmacy::DispenseInput {
                quantity,
                substitute,
                batch,
            };
            let d = pharmacy::dispense_part(&k, &mut s, rx, &input).await?;
            show(json, "dispense", &d.submitted, &k);
            println!(
                "{}",
                String::from_utf8_lossy(&d.dispense.to_json().map_err(KioskError::from)?)
            );
            if let Some(path) = receipt_pdf {
                let pdf = pharmacy::receipt_pdf(&k, &s, rx, &d)?;
                std::fs::write(&path, pdf)
                    .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
                eprintln!("receipt written to {}", path.display());
            }
        }
    }
    Ok(())
}

pub async fn insurer(cmd: InsurerCmd, o: KioskOpts, json: bool) -> Result<(), CliError> {
    let k = open(KioskRole::Insurer, &o).await?;
    let print_claims = |claims: Vec<carekiosk_store::Claim>| {
        for c in claims {
            if json {
                println!(
                    "{}",
                    json!({ "id": c.id, "patient": B256::from(c.patient_id), "claimed": c.claimed.to_string(), "approved": c.approved.to_string(), "status": format!("{:?}", c.status) })
                );
            } else {
                println!(
                    "claim {}: {:?}, claimed {}, approved {}",
                    c.id, c.status, c.claimed, c.approved
                );
            }
        }
    };
    match cmd {
        InsurerCmd::Enroll { percent, limit } => {
            if percent == 0 || percent > 100 {
                return Err(CliError::Other("--percent must be 1 to 100".into()));
            }
            let limit = u128::from(limit) * carekiosk_chain::deploy::TOKEN_UNIT;
            let mut s = session(&k)?;
            let r = insurer::enroll(&k, &mut s, percent * 100, limit).await?;
            show(json, "enrolment", &r, &k);
        }
        InsurerCmd::Queue => print_claims(insurer::queue(&k).await?),
        InsurerCmd::Paid => print_claims(insurer::paid(&k).await?),
        InsurerCmd::Review { id } => {
            let r = insurer::review(&k, id).await?;
            let body = r.details.to_json().map_err(KioskError::from)?;
            if json {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                println!(
                    "{}",
                    json!({ "id": id, "claimed": r.claim.claimed.to_string(), "coverageBps": r.coverage_bps, "remaining": r.remaining, "cap": r.cap, "details": v })
                );
            } else {
                println!(
                    "claim {id}: claimed {}, coverage {} %, remaining {}, cap {}",
                    r.claim.claimed,
                    r.coverage_bps / 100,
                    r.remaining,
                    r.cap
                );
                println!("{}", String::from_utf8_lossy(&body));
            }
        }
        InsurerCmd::Approve { id, amount, item } => {
            if !item.is_empty() {
                let review = insurer::review(&k, id).await?;
                let unit = U256::from(10u64).pow(U256::from(review.currency.1));
                let mut decisions = Vec::new();
                for i in &item {
                    let mut parts = i.splitn(3, ':');
                    let (Some(seq), Some(benefit)) = (parts.next(), parts.next()) else {
                        return Err(CliError::Other(format!(
                            "--item {i:?}: write SEQUENCE:BENEFIT[:REASON], e.g. 2:0:not covered"
                        )));
                    };
                    let bad = |w: &str| {
                        CliError::Other(format!("--item {i:?}: the {w} is not a whole number"))
                    };
                    decisions.push(insurer::ItemDecision {
                        sequence: seq.parse().map_err(|_| bad("sequence"))?,
                        benefit: U256::from(benefit.parse::<u64>().map_err(|_| bad("benefit"))?)
                            * unit,
                        reason: parts.next().map(str::to_string),
                    });
                }
                let d = insurer::decide(&k, &review, &decisions).await?;
                show(json, "decision", &d.submitted, &k);
                if d.pending_second && !json {
                    println!(
                        "above the four-eyes threshold: another workstation confirms it (carekiosk insurer confirm --id {id})"
                    );
                }
            } else {
                let amount = match amount {
                    Some(a) => a,
                    None => insurer::review(&k, id).await?.cap,
                };
                show(
                    json,
                    "approval",
                    &insurer::approve(&k, id, amount).await?,
                    &k,
                );
            }
        }
        InsurerCmd::Confirm { id } => {
            show(json, "confirmation", &insurer::confirm(&k, id).await?, &k)
        }
        InsurerCmd::Pending => print_claims(insurer::pending_second(&k).await?),
        InsurerCmd::Deny { id, reason } => {
            show(json, "denial", &insurer::deny(&k, id, reason).await?, &k)
        }
        InsurerCmd::Pay { id } => show(json, "payment", &insurer::pay(&k, id).await?, &k),
    }
    Ok(())
}

/// Sends what a kiosk's outbox still holds (after an outage).
pub async fn outbox(role: KioskRole, o: KioskOpts, json: bool) -> Result<(), CliError> {
    let k = open(role, &o).await?;
    let sent = k.outbox.drain().await?;
    for r in &sent {
        show(json, "write", r, &k);
    }
    let left = k.outbox.pending()?.len();
    if !json {
        println!(
            "{} sent, {left} still pending",
            sent.iter().filter(|r| r.tx_hash().is_some()).count()
        );
    }
    Ok(())
}

/// The services a claim bills: `--amount` (one consultation, whole tokens) or `--item SERVICE:QUANTITY:UNIT_PRICE`.
/// What a visit bills: one consultation at a price, or services item by item (shared by `doctor consult` and
/// `doctor claim`).
#[derive(Debug, clap::Args)]
pub struct Billing {
    /// Bill one consultation at this price (whole tokens).
    #[arg(long, conflicts_with = "item")]
    amount: Option<u64>,
    /// Bill a service: SERVICE:QUANTITY:UNIT_PRICE in whole tokens; repeat (codes: CONS, CONS-EXT, FUP, EMERG,
    /// LAB-BASIC, LAB-GLUC, ECG, XRAY, US, INJ, WOUND, VACC).
    #[arg(long = "item")]
    item: Vec<String>,
    /// The treating practitioner.
    #[arg(long)]
    practitioner: Option<String>,
}

impl Billing {
    fn items(&self) -> Result<Vec<doctor::ClaimItem>, CliError> {
        let unit = U256::from(carekiosk_chain::deploy::TOKEN_UNIT);
        let mut items = Vec::new();
        if let Some(a) = self.amount {
            items.push(doctor::ClaimItem {
                service: "CONS".into(),
                quantity: 1,
                unit_price: U256::from(a) * unit,
            });
        }
        for i in &self.item {
            let parts: Vec<&str> = i.split(':').collect();
            let [service, qty, price] = parts[..] else {
                return Err(CliError::Other(format!(
                    "--item {i:?}: write SERVICE:QUANTITY:UNIT_PRICE, e.g. CONS:1:60"
                )));
            };
            let bad = |what: &str| {
                CliError::Other(format!("--item {i:?}: the {what} is not a whole number"))
            };
            items.push(doctor::ClaimItem {
                service: service.into(),
                quantity: qty.parse().map_err(|_| bad("quantity"))?,
                unit_price: U256::from(price.parse::<u64>().map_err(|_| bad("unit price"))?) * unit,
            });
        }
        Ok(items)
    }
}
