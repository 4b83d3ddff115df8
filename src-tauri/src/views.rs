//! What the screen receives: plain serde views of the core's types (camelCase for TypeScript). Amounts travel
//! as decimal strings (they exceed JavaScript's safe integers); FHIR resources travel as their own JSON. The front
//! end's types (`ui/src/views.gen.ts`) are generated from these by ts-rs in a test (`bindings` below).

use alloy::primitives::{B256, U256};
use carekiosk_kiosk::workflows::{
    self, doctor, insurer::ClaimReview, medication, patient, pharmacy::PharmacyPrescription,
    HistoryEntry,
};
use carekiosk_kiosk::Submitted;
use carekiosk_records::emergency::{Allergy, Contact, EmergencySet};
use carekiosk_store::{Claim, ClaimStatus, OutboxEntry};
use serde::{Deserialize, Serialize};

/// Who this kiosk is, for the start screen and the header.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KioskInfo {
    #[cfg_attr(test, ts(type = "Role"))]
    pub role: String,
    pub lang: String,
    /// Whether the kiosk opened (registered for its role, node reached, database open).
    pub ready: bool,
    /// Why it did not, with what to do.
    pub error: Option<String>,
    pub profile: String,
    pub chain_id: Option<u64>,
    pub rpc_url: Option<String>,
    pub explorer: Option<String>,
    pub address: Option<String>,
    pub institution: Option<String>,
    pub institution_id: Option<u32>,
    pub reader: String,
    pub idle_timeout_secs: u64,
    pub token_symbol: Option<String>,
    pub token_decimals: Option<u8>,
    /// What this desk may ask the patient to consent to, and what it asks by default.
    pub consent: ConsentLimits,
    /// The role preset's text size in percent (the screen's control overrides it).
    pub text_scale: Option<u16>,
    /// Kiosk mode: full screen, closed only with the staff code.
    pub kiosk_mode: bool,
    /// No desk is set up yet: the first-run set-up is shown.
    pub first_run: bool,
    /// The desk comes from the first-run set-up (a staff action may reset it).
    pub from_setup: bool,
    /// A kiosk set up on its first run and not enrolled yet: its address and where the enrolment stands.
    pub enrolment: Option<EnrolmentView>,
}

/// Where a new kiosk's enrolment stands, for the set-up screen: its address (as text and as a QR code for the
/// institution's administrator) and what it waits for.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrolmentView {
    pub address: String,
    /// `waiting` (no offer yet), `other-offer` (another institution offered: not taken), `needs-gas` (offered,
    /// but the kiosk has nothing to pay the acceptance with).
    #[cfg_attr(test, ts(type = "'waiting' | 'other-offer' | 'needs-gas'"))]
    pub state: String,
    /// The institution it was set up for.
    pub institution: String,
    /// Another institution's offer, when there is one.
    pub offer: Option<String>,
    /// The QR code of `ethereum:<address>@<chain id>` (EIP-681): its width and its modules row by row.
    pub qr_width: usize,
    pub qr_modules: String,
}

/// A deployment manifest read on the first-run set-up: its chain and the institutions a kiosk can join.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstRunManifestView {
    pub chain_id: u64,
    pub profile: String,
    pub institutions: Vec<FirstRunInstitution>,
}

/// An institution of the manifest.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FirstRunInstitution {
    pub name: String,
    /// `reception`/`doctor` desks join a hospital, `pharmacy` a pharmacy, `insurer` an insurer.
    #[cfg_attr(test, ts(type = "'hospital' | 'pharmacy' | 'insurer'"))]
    pub role: String,
    pub address: String,
}

/// The role's consent ceiling and default, for the consent choice the screen shows before the card signs.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentLimits {
    /// The most scope this role may hold (bits: read 1, write 2, prescribe 4, dispense 8).
    pub ceiling: u8,
    /// Its longest window, in days.
    pub max_days: u64,
    /// The scope preselected.
    pub default_scope: u8,
    /// The window preselected, in days.
    pub default_days: u64,
}

impl ConsentLimits {
    pub fn of(role: carekiosk_kiosk::KioskRole) -> Self {
        let (ceiling, max_days) = workflows::role_limits(role);
        let default = workflows::ConsentChoice::default_for(role);
        ConsentLimits {
            ceiling,
            max_days,
            default_scope: default.scope,
            default_days: default.days,
        }
    }
}

/// A consent as the card signed it: its scope by name and its end.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedView {
    /// "read", "write", "prescribe", "dispense".
    #[cfg_attr(test, ts(type = "Array<ScopeName>"))]
    pub scope: Vec<String>,
    /// End of the window (unix seconds).
    pub valid_until: u64,
}

impl SignedView {
    pub fn new(scope: u8, valid_until: u64) -> Self {
        SignedView {
            scope: names(scope),
            valid_until,
        }
    }
}

fn names(scope: u8) -> Vec<String> {
    workflows::scope_names(scope)
        .into_iter()
        .map(String::from)
        .collect()
}

/// What the reader holds, as the screen names it (`no-service`, `no-reader`, `empty`, `card`).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ReaderState {
    /// pcscd is unreachable.
    #[default]
    NoService,
    /// No reader matches the desk's.
    NoReader,
    /// The reader is empty.
    Empty,
    /// A card is in the reader.
    Card,
}

/// The card reader as the monitor sees it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReaderView {
    pub state: ReaderState,
    /// The reader's name, when there is one.
    pub reader: Option<String>,
}

/// The footer's live status.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    /// False only when no RPC URL can be reached (the "offline" banner).
    pub online: bool,
    /// The node is there but rate limiting: writes wait, not offline.
    pub rate_limited: bool,
    /// The kiosk's balance for gas (`gas.low`: fund it), when known.
    pub gas: Option<GasView>,
    pub block: Option<u64>,
    pub chain_id: Option<u64>,
    pub pending: Vec<PendingWrite>,
    /// Writes included in a block whose block is not final yet (a reorg could still undo them; the outbox
    /// would send them again).
    pub not_final: usize,
    pub reader: ReaderView,
}

/// The kiosk account's balance for gas ([`carekiosk_kiosk::kiosk::GasStatus`]).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GasView {
    pub account: String,
    /// In wei (decimal), or in the fee currency's 18-decimal units when gas is paid in one.
    pub balance_wei: String,
    pub threshold_wei: String,
    /// Below the threshold: IT must fund the account.
    pub low: bool,
    /// In the coin gas is paid in, e.g. `1.25`.
    pub balance: String,
    /// The coin gas is paid in: the native coin (CELO, ETH) or the fee currency (cUSD, USDC).
    pub symbol: String,
}

impl From<&carekiosk_kiosk::kiosk::GasStatus> for GasView {
    fn from(g: &carekiosk_kiosk::kiosk::GasStatus) -> Self {
        GasView {
            account: g.account.to_string(),
            balance_wei: g.balance_wei.to_string(),
            threshold_wei: g.threshold_wei.to_string(),
            low: g.low,
            balance: g.balance.clone(),
            symbol: g.symbol.clone(),
        }
    }
}

/// A write not yet confirmed.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingWrite {
    pub id: i64,
    pub kind: String,
    pub state: String,
    pub tx_hash: Option<String>,
    pub link: Option<String>,
    pub attempts: u32,
}

impl PendingWrite {
    pub fn from_entry(e: &OutboxEntry, link: impl Fn(&str) -> Option<String>) -> Self {
        let hash = e.tx_hash.map(|h| B256::from(h).to_string());
        PendingWrite {
            id: e.id,
            kind: e.kind.clone(),
            state: e.state.as_str().into(),
            link: hash.as_deref().and_then(link),
            tx_hash: hash,
            attempts: e.attempts,
        }
    }
}

/// A write's outcome.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TxView {
    /// `confirmed` (included in a block; final minutes later on Celo), or `pending` (queued while the node is
    /// unreachable, rate limited, or not mined yet; sent when it can be).
    #[cfg_attr(test, ts(type = "'confirmed' | 'pending'"))]
    pub state: String,
    pub tx_hash: Option<String>,
    pub block: Option<u64>,
    pub link: Option<String>,
    pub reason: Option<String>,
}

impl TxView {
    pub fn from(s: &Submitted, link: impl Fn(&str) -> Option<String>) -> Self {
        match s {
            Submitted::Confirmed { tx_hash, block, .. } => {
                let h = tx_hash.to_string();
                TxView {
                    state: "confirmed".into(),
                    link: link(&h),
                    tx_hash: Some(h),
                    block: Some(*block),
                    reason: None,
                }
            }
            Submitted::Pending { reason, .. } => TxView {
                state: "pending".into(),
                tx_hash: None,
                block: None,
                link: None,
                reason: Some(reason.clone()),
            },
        }
    }
}

/// The patient at the kiosk once their PIN was accepted.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PatientView {
    pub patient_id: String,
    /// Cardholder name as written on the card.
    pub name: String,
    pub card: String,
}

impl PatientView {
    pub fn of(s: &carekiosk_kiosk::PatientSession) -> Self {
        PatientView {
            patient_id: s.patient_id().to_string(),
            name: s.info.name.clone(),
            card: s.info.ident.clone(),
        }
    }
}

/// A check-in's outcome.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckInView {
    pub patient_id: String,
    /// The patient's demographics (FHIR Patient), opened with the card.
    #[cfg_attr(test, ts(type = "FhirResource | null"))]
    pub patient: Option<serde_json::Value>,
    pub records: usize,
    pub consent: TxView,
    /// What the card signed.
    pub signed: SignedView,
    /// Every emergency read of the patient's emergency set (oldest first), to show them prominently.
    pub emergency_reads: Vec<EmergencyReadView>,
}

/// One emergency read of the patient's emergency set, as the patient sees it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyReadView {
    /// When the trace landed on chain.
    pub time: u64,
    /// When the card was read.
    pub read_at: u64,
    /// The hospital's name.
    pub hospital: String,
    pub clinician: String,
    pub reason: String,
}

impl From<&patient::EmergencyRead> for EmergencyReadView {
    fn from(r: &patient::EmergencyRead) -> Self {
        EmergencyReadView {
            time: r.time,
            read_at: r.read_at,
            hospital: r.hospital_name.clone(),
            clinician: r.clinician.clone(),
            reason: r.reason.clone(),
        }
    }
}

/// A consent the patient holds open now, in their view.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldConsentView {
    /// The institution's address (what a revoke names).
    pub institution: String,
    pub name: String,
    /// "hospital", "pharmacy", "insurer" ("unknown").
    pub role: String,
    /// "read", "write", "prescribe", "dispense".
    #[cfg_attr(test, ts(type = "Array<ScopeName>"))]
    pub scope: Vec<String>,
    /// End of the window (unix seconds).
    pub valid_until: u64,
}

impl From<&patient::HeldConsent> for HeldConsentView {
    fn from(c: &patient::HeldConsent) -> Self {
        HeldConsentView {
            institution: c.institution.to_string(),
            name: c.name.clone(),
            role: c.role.clone(),
            scope: names(c.scope),
            valid_until: c.valid_until,
        }
    }
}

/// One line of the patient's access log.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntryView {
    pub time: u64,
    pub block: u64,
    /// `record`, `consent`, `emergency-read`, … (`carekiosk_kiosk::workflows::patient::LogEntry`).
    pub event: String,
    pub institution: Option<String>,
    pub summary: String,
}

impl From<&patient::LogEntry> for LogEntryView {
    fn from(e: &patient::LogEntry) -> Self {
        LogEntryView {
            time: e.time,
            block: e.block,
            event: e.event.clone(),
            institution: e.institution.clone(),
            summary: e.summary.clone(),
        }
    }
}

/// The emergency data set as the screen shows and edits it (and sends back to be saved). No `Debug`: it is
/// patient data.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencySetView {
    #[serde(default)]
    pub allergies: Vec<AllergyView>,
    #[serde(default)]
    pub medications: Vec<String>,
    #[serde(default)]
    pub conditions: Vec<String>,
    #[serde(default)]
    pub implants: Vec<String>,
    #[serde(default)]
    pub blood_group: Option<String>,
    #[serde(default)]
    pub contact: Option<ContactView>,
}

#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllergyView {
    pub substance: String,
    /// High criticality (anaphylaxis risk).
    #[serde(default)]
    pub high: bool,
}

#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactView {
    pub name: String,
    pub phone: String,
}

impl From<&EmergencySet> for EmergencySetView {
    fn from(s: &EmergencySet) -> Self {
        EmergencySetView {
            allergies: s
                .allergies
                .iter()
                .map(|a| AllergyView {
                    substance: a.substance.clone(),
                    high: a.high,
                })
                .collect(),
            medications: s.medications.clone(),
            conditions: s.conditions.clone(),
            implants: s.implants.clone(),
            blood_group: s.blood_group.clone(),
            contact: s.contact.as_ref().map(|c| ContactView {
                name: c.name.clone(),
                phone: c.phone.clone(),
            }),
        }
    }
}

impl From<EmergencySetView> for EmergencySet {
    /// What the form sent, trimmed: blank lines dropped, a contact without name and phone is none, a blank blood
    /// group is none (the core checks the rest).
    fn from(v: EmergencySetView) -> Self {
        let lines = |l: Vec<String>| -> Vec<String> {
            l.into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        EmergencySet {
            allergies: v
                .allergies
                .into_iter()
                .map(|a| Allergy {
                    substance: a.substance.trim().into(),
                    high: a.high,
                })
                .filter(|a| !a.substance.is_empty())
                .collect(),
            medications: lines(v.medications),
            conditions: lines(v.conditions),
            implants: lines(v.implants),
            blood_group: v
                .blood_group
                .map(|b| b.trim().to_string())
                .filter(|b| !b.is_empty()),
            contact: v
                .contact
                .map(|c| Contact {
                    name: c.name.trim().into(),
                    phone: c.phone.trim().into(),
                })
                .filter(|c| !c.name.is_empty() || !c.phone.is_empty()),
        }
    }
}

/// The patient's emergency set for the editor, with the blood groups it may name.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyCurrentView {
    pub set: EmergencySetView,
    pub blood_groups: Vec<String>,
}

/// What saving the emergency set did.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencySavedView {
    /// The history record's write.
    pub record: TxView,
    /// Whether the card now carries a set (false: the set was empty and the card's copy is cleared).
    pub on_card: bool,
}

/// An emergency read (no PIN): the set, and the trace of the read (confirmed, or pending while offline).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmergencyView {
    pub patient_id: String,
    /// The cardholder name on the card, if any.
    pub name: Option<String>,
    pub set: EmergencySetView,
    pub trace: TxView,
}

/// The issue letter of the card just issued, to show on screen and print: the reset code, the recovery code as
/// printed and its QR code. It travels to the screen once and is wiped here when dropped.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LetterView {
    pub patient_name: String,
    pub institution: String,
    /// `YYYY-MM-DD`.
    pub issued_on: String,
    /// The card's reset code (8 digits).
    pub reset_code: String,
    /// The recovery code as printed: 14 groups of 4 joined by `-`.
    pub recovery_text: String,
    /// The QR code of the recovery code's scanned form: its width in modules, and its modules row by row from the
    /// top left, `1` dark and `0` light.
    pub qr_width: usize,
    pub qr_modules: String,
}

impl Drop for LetterView {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.reset_code.zeroize();
        self.recovery_text.zeroize();
        self.qr_modules.zeroize();
    }
}

/// A letter written to a file at the operator's request.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedLetter {
    pub path: String,
}

/// A card reported lost at reception.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LostView {
    pub patient_id: String,
    /// The report's write; none when the card had already been reported lost.
    pub tx: Option<TxView>,
    /// Whether the card had been reported lost before (nothing was written; the replacement can go ahead).
    pub already_lost: bool,
}

/// A replacement card issued at reception.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplacedView {
    pub patient: PatientView,
    pub tx: TxView,
}

/// One history entry.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub index: u64,
    pub author: u32,
    pub kind: u8,
    pub time: u64,
    pub supersedes: Option<u64>,
    /// The FHIR resource, or null when the entry cannot be opened.
    #[cfg_attr(test, ts(type = "FhirResource | null"))]
    pub resource: serde_json::Value,
    /// Why the entry cannot be opened (shown as one line).
    pub unreadable: Option<String>,
}

impl From<&HistoryEntry> for HistoryItem {
    fn from(e: &HistoryEntry) -> Self {
        HistoryItem {
            index: e.index,
            author: e.author,
            kind: e.kind,
            time: e.time,
            supersedes: e.supersedes,
            resource: serde_json::to_value(&e.resource).unwrap_or_default(),
            unreadable: e.unreadable.clone(),
        }
    }
}

/// A pick-list entry.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PickItem {
    pub code: String,
    pub display: String,
    /// The usual dosage (drugs only).
    pub dosage: Option<String>,
}

/// A prescription at the pharmacy counter.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrescriptionView {
    pub id: u64,
    pub issuer: u32,
    /// `ready`, `partly-dispensed`, `dispensed`, `cancelled` or `expired`, as the chain says.
    #[cfg_attr(test, ts(type = "PrescriptionStatus"))]
    pub status: String,
    /// What has been handed out so far, in parts of 10,000.
    pub dispensed_bps: u16,
    pub valid_until: u64,
    pub dispensable: bool,
    /// The MedicationRequest, or null when it cannot be opened.
    #[cfg_attr(test, ts(type = "FhirResource | null"))]
    pub request: serde_json::Value,
    /// Why it cannot be opened (shown as one line, without a dispense button).
    pub unreadable: Option<String>,
}

/// A prescription's status as the screen names it (`partly-dispensed`: some parts handed out).
pub fn prescription_status(status: u8, dispensable: bool) -> &'static str {
    match status {
        1 | 4 if !dispensable => "expired",
        1 => "ready",
        4 => "partly-dispensed",
        2 => "dispensed",
        3 => "cancelled",
        _ => "unknown",
    }
}

impl From<&PharmacyPrescription> for PrescriptionView {
    fn from(p: &PharmacyPrescription) -> Self {
        PrescriptionView {
            id: p.id,
            issuer: p.issuer,
            status: prescription_status(p.status, p.dispensable).into(),
            dispensed_bps: p.dispensed_bps,
            valid_until: p.valid_until,
            dispensable: p.dispensable,
            request: serde_json::to_value(&p.request).unwrap_or_default(),
            unreadable: p.unreadable.clone(),
        }
    }
}

/// The pharmacy counter once the card signed the pharmacy's consent: what it signed, the prescriptions.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PharmacyOpenView {
    pub signed: SignedView,
    pub prescriptions: Vec<PrescriptionView>,
}

/// A dispensing's outcome: the part handed out, the prescription's state after it, the MedicationDispense and
/// the receipt written for printing.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseView {
    pub tx: TxView,
    /// The part handed out now, of 10,000.
    pub part: u16,
    /// Parts handed out so far, this one included (of 10,000).
    pub dispensed_bps: u16,
    /// The prescription's status after it (`partly-dispensed` or `dispensed`).
    #[cfg_attr(test, ts(type = "PrescriptionStatus"))]
    pub status: String,
    /// The FHIR MedicationDispense written to the patient's record.
    #[cfg_attr(test, ts(type = "FhirResource"))]
    pub receipt: serde_json::Value,
    /// The receipt PDF to print.
    pub print: Option<PrintView>,
}

/// A dispense on a prescription token: the write and its receipt to print.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenDispenseView {
    pub tx: TxView,
    /// The receipt PDF to print (what was handed out, the batch, the transaction).
    pub print: Option<PrintView>,
}

/// A document printed: sent to a printer (its CUPS job), or, with no printer or when the printer refused it,
/// written to a file (to be deleted once printed) and perhaps opened in the desktop's PDF viewer.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrintView {
    /// The printer it was sent to.
    pub printer: Option<String>,
    /// The CUPS job (`<printer>-<n>`).
    pub job: Option<String>,
    /// The file it was written to instead of a printer.
    pub path: Option<String>,
    /// Whether the desktop's PDF viewer opened that file.
    pub opened: bool,
    /// Why the printer did not take it (the file was written instead).
    pub printer_error: Option<String>,
}

impl PrintView {
    /// Sent to `printer` as CUPS job `job`.
    pub fn sent(printer: String, job: String) -> PrintView {
        PrintView {
            printer: Some(printer),
            job: Some(job),
            path: None,
            opened: false,
            printer_error: None,
        }
    }

    /// Written to `path` instead (`printer_error`: why the printer did not take it, when there is one).
    pub fn saved(path: String, opened: bool, printer_error: Option<String>) -> PrintView {
        PrintView {
            printer: None,
            job: None,
            path: Some(path),
            opened,
            printer_error,
        }
    }
}

/// A prescription token presented at the counter (no card), as the chain holds it.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCheckView {
    pub id: u64,
    /// `ready`, `partly-dispensed`, `dispensed`, `cancelled` or `expired`.
    #[cfg_attr(test, ts(type = "PrescriptionStatus"))]
    pub status: String,
    pub dispensed_bps: u16,
    pub valid_until: u64,
    pub dispensable: bool,
}

/// What prescribing did: the write, the prescription's id, and the token written for printing when asked.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrescribedView {
    pub tx: TxView,
    pub id: Option<u64>,
    pub print: Option<PrintView>,
}

/// The patient's allergies and current medication, before prescribing.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OverviewView {
    pub allergies: Vec<KnownAllergyView>,
    pub current: Vec<CurrentMedicationView>,
}

#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KnownAllergyView {
    pub substance: String,
    pub atc_class: Option<String>,
    pub high: bool,
    pub source: String,
}

#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentMedicationView {
    pub atc: Option<String>,
    pub display: String,
    pub source: String,
}

impl From<&medication::MedicationOverview> for OverviewView {
    fn from(o: &medication::MedicationOverview) -> Self {
        OverviewView {
            allergies: o
                .allergies
                .iter()
                .map(|a| KnownAllergyView {
                    substance: a.substance.clone(),
                    atc_class: a.atc_class.clone(),
                    high: a.high,
                    source: a.source.clone(),
                })
                .collect(),
            current: o
                .current
                .iter()
                .map(|c| CurrentMedicationView {
                    atc: c.atc.clone(),
                    display: c.display.clone(),
                    source: c.source.clone(),
                })
                .collect(),
        }
    }
}

/// One line of the doctor's timeline: a record, a prescription (with its status), a dispense (a part, by token,
/// its batch inside the MedicationDispense).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum TimelineView {
    Record(HistoryItem),
    Prescription {
        id: u64,
        time: u64,
        issuer: u32,
        /// `ready`, `partly-dispensed`, `dispensed`, `cancelled`, `expired`.
        #[cfg_attr(test, ts(type = "PrescriptionStatus"))]
        status: String,
        /// The MedicationRequest, or null when it does not open.
        #[cfg_attr(test, ts(type = "FhirResource | null"))]
        request: serde_json::Value,
    },
    Dispense {
        prescription_id: u64,
        time: u64,
        pharmacy: u32,
        /// Of 10,000.
        part: u16,
        by_token: bool,
        /// The MedicationDispense (quantity, batch, substitution), or null.
        #[cfg_attr(test, ts(type = "FhirResource | null"))]
        dispense: serde_json::Value,
    },
}

impl From<&doctor::TimelineEntry> for TimelineView {
    fn from(e: &doctor::TimelineEntry) -> Self {
        match e {
            doctor::TimelineEntry::Record(h) => TimelineView::Record(HistoryItem::from(h)),
            doctor::TimelineEntry::Prescription {
                id,
                time,
                issuer,
                status,
                request,
            } => TimelineView::Prescription {
                id: *id,
                time: *time,
                issuer: *issuer,
                status: status.replace(' ', "-"),
                request: request
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r).ok())
                    .unwrap_or_default(),
            },
            doctor::TimelineEntry::Dispense {
                prescription_id,
                time,
                pharmacy,
                part,
                by_token,
                dispense,
            } => TimelineView::Dispense {
                prescription_id: *prescription_id,
                time: *time,
                pharmacy: *pharmacy,
                part: *part,
                by_token: *by_token,
                dispense: dispense
                    .as_ref()
                    .and_then(|r| serde_json::to_value(r).ok())
                    .unwrap_or_default(),
            },
        }
    }
}

/// One prescription of a consultation, as the doctor fills it in (days 0: the contract's default of 28).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrescriptionOrderInput {
    pub atc: String,
    pub quantity: f64,
    pub dosage: Option<String>,
    pub days: u32,
    pub prescriber: Option<String>,
    pub substitution_allowed: bool,
    pub token: bool,
}

/// What a consultation did: its one write, and each prescription (its id, a printed token).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsultedView {
    pub tx: TxView,
    pub prescriptions: Vec<PrescribedView>,
}

/// One service of a claim as the doctor bills it (`unitPrice` in token base units, a decimal string).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimItemInput {
    pub service: String,
    pub quantity: u32,
    pub unit_price: String,
}

/// A claim of this hospital with the insurer's decision, item by item (amounts in tokens, as the ClaimResponse
/// holds them).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HospitalClaimView {
    pub claim: ClaimView,
    /// The ClaimResponse's disposition, once decided.
    pub disposition: Option<String>,
    pub items: Vec<DecisionItemView>,
}

/// The insurer's decision on one item.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DecisionItemView {
    pub sequence: u32,
    /// What was billed, in tokens.
    pub submitted: Option<f64>,
    /// What the insurer pays, in tokens.
    pub benefit: Option<f64>,
    /// Why it is reduced or denied.
    pub reason: Option<String>,
}

impl From<&doctor::HospitalClaim> for HospitalClaimView {
    fn from(c: &doctor::HospitalClaim) -> Self {
        let response = c
            .response
            .as_ref()
            .and_then(|r| serde_json::to_value(r).ok());
        HospitalClaimView {
            claim: ClaimView::from(&c.claim),
            disposition: response
                .as_ref()
                .and_then(|r| r["disposition"].as_str().map(String::from)),
            items: response.as_ref().map(decision_items).unwrap_or_default(),
        }
    }
}

/// The items of a FHIR ClaimResponse: each one's submitted and benefit amounts and the benefit's reason.
fn decision_items(r: &serde_json::Value) -> Vec<DecisionItemView> {
    let adjudication = |item: &serde_json::Value, code: &str| -> Option<serde_json::Value> {
        item["adjudication"]
            .as_array()?
            .iter()
            .find(|a| a["category"]["coding"][0]["code"].as_str() == Some(code))
            .cloned()
    };
    r["item"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let benefit = adjudication(i, "benefit");
                    DecisionItemView {
                        sequence: i["itemSequence"].as_u64().unwrap_or(0) as u32,
                        submitted: adjudication(i, "submitted")
                            .and_then(|a| a["amount"]["value"].as_f64()),
                        benefit: benefit.as_ref().and_then(|a| a["amount"]["value"].as_f64()),
                        reason: benefit
                            .as_ref()
                            .and_then(|a| a["reason"]["text"].as_str().map(String::from)),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One billed item under review (`net` in base units).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewItemView {
    pub sequence: u32,
    pub service: String,
    pub quantity: u32,
    pub net: String,
}

/// The reviewer's decision on one item, from the screen (`benefit` in base units).
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemDecisionInput {
    pub sequence: u32,
    pub benefit: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// What deciding a claim did.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidedView {
    pub tx: TxView,
    /// Approved, in base units (0: denied).
    pub amount: String,
    /// Above the four-eyes threshold: waits for a second reviewer at another workstation.
    pub pending_second: bool,
    /// Approved and paid in the same transaction (`settleClaim`).
    pub paid: bool,
}

/// A claim in the insurer's lists.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    pub id: u64,
    pub patient_id: String,
    pub hospital: String,
    pub claimed: String,
    pub approved: String,
    #[cfg_attr(test, ts(type = "ClaimStatus"))]
    pub status: String,
    pub reason_code: Option<u16>,
    pub tx_hash: String,
}

impl From<&Claim> for ClaimView {
    fn from(c: &Claim) -> Self {
        ClaimView {
            id: c.id,
            patient_id: B256::from(c.patient_id).to_string(),
            hospital: alloy::primitives::Address::from(c.hospital).to_string(),
            claimed: U256::from_be_bytes(c.claimed.to_be_bytes()).to_string(),
            approved: U256::from_be_bytes(c.approved.to_be_bytes()).to_string(),
            status: match c.status {
                ClaimStatus::Submitted => "submitted",
                ClaimStatus::Approved => "approved",
                ClaimStatus::Denied => "denied",
                ClaimStatus::Paid => "paid",
                ClaimStatus::PendingSecond => "pending-second",
            }
            .into(),
            reason_code: c.reason_code,
            tx_hash: B256::from(c.tx_hash).to_string(),
        }
    }
}

/// A claim opened for review, with the coverage arithmetic.
#[cfg_attr(test, derive(ts_rs::TS))]
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub claim: ClaimView,
    #[cfg_attr(test, ts(type = "FhirResource"))]
    pub details: serde_json::Value,
    pub coverage_bps: u16,
    pub remaining: String,
    pub cap: String,
    /// The claim's items as billed.
    pub items: Vec<ReviewItemView>,
    /// The token every amount is in.
    pub symbol: String,
    pub decimals: u8,
}

impl From<&ClaimReview> for ReviewView {
    fn from(r: &ClaimReview) -> Self {
        ReviewView {
            claim: ClaimView::from(&r.claim),
            details: serde_json::to_value(&r.details).unwrap_or_default(),
            coverage_bps: r.coverage_bps,
            remaining: r.remaining.to_string(),
            cap: r.cap.to_string(),
            items: r
                .items
                .iter()
                .map(|i| ReviewItemView {
                    sequence: i.sequence,
                    service: i.service.clone(),
                    quantity: i.quantity,
                    net: i.net.to_string(),
                })
                .collect(),
            symbol: r.currency.0.clone(),
            decimals: r.currency.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_response_gives_each_item_its_benefit_and_reason() {
        let r = serde_json::json!({
            "resourceType": "ClaimResponse",
            "item": [
                {"itemSequence": 1, "adjudication": [
                    {"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 60.0, "currency": "USD"}},
                    {"category": {"coding": [{"code": "benefit"}]}, "amount": {"value": 48.0, "currency": "USD"}}]},
                {"itemSequence": 2, "adjudication": [
                    {"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 40.0, "currency": "USD"}},
                    {"category": {"coding": [{"code": "benefit"}]}, "amount": {"value": 0.0, "currency": "USD"},
                     "reason": {"text": "not covered by the policy"}}]}
            ]
        });
        let items = decision_items(&r);
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].benefit, Some(48.0));
        assert_eq!(items[0].reason, None);
        assert_eq!(items[1].submitted, Some(40.0));
        assert_eq!(
            items[1].reason.as_deref(),
            Some("not covered by the policy")
        );
        assert_eq!(prescription_status(4, true), "partly-dispensed");
        assert_eq!(prescription_status(4, false), "expired");
    }

    #[test]
    fn a_pending_write_has_no_hash_and_says_why() {
        let v = TxView::from(
            &Submitted::Pending {
                entry: 3,
                reason: "node unreachable".into(),
            },
            |_| None,
        );
        assert_eq!(v.state, "pending");
        assert!(v.tx_hash.is_none());
        assert_eq!(v.reason.as_deref(), Some("node unreachable"));
        let json = serde_json::to_value(&v).unwrap();
        assert!(json.get("txHash").is_some(), "camelCase for the UI: {json}");
    }

    #[test]
    fn the_emergency_form_is_trimmed_into_a_set_and_an_empty_form_is_no_set() {
        let form: EmergencySetView = serde_json::from_value(serde_json::json!({
            "allergies": [{"substance": " penicillin ", "high": true}, {"substance": "  ", "high": false}],
            "medications": ["metformin 500 mg", ""],
            "conditions": [],
            "implants": [],
            "bloodGroup": "A+",
            "contact": {"name": "Anna", "phone": "+49 170"}
        }))
        .unwrap();
        let set = EmergencySet::from(form);
        assert_eq!(set.allergies.len(), 1);
        assert_eq!(set.allergies[0].substance, "penicillin");
        assert!(set.allergies[0].high);
        assert_eq!(set.medications, vec!["metformin 500 mg".to_string()]);
        assert_eq!(set.blood_group.as_deref(), Some("A+"));
        let back = serde_json::to_value(EmergencySetView::from(&set)).unwrap();
        assert_eq!(back["bloodGroup"], "A+", "camelCase for the UI: {back}");
        let empty: EmergencySetView = serde_json::from_value(serde_json::json!({
            "allergies": [], "medications": [" "], "bloodGroup": "", "contact": {"name": "", "phone": " "}
        }))
        .unwrap();
        assert!(EmergencySet::from(empty).is_empty());
    }

    #[test]
    fn the_consent_limits_are_the_roles() {
        use carekiosk_kiosk::KioskRole;
        let h = ConsentLimits::of(KioskRole::Reception);
        assert_eq!(
            (h.ceiling, h.max_days, h.default_scope, h.default_days),
            (7, 365, 7, 90)
        );
        let p = ConsentLimits::of(KioskRole::Pharmacy);
        assert_eq!(
            (p.ceiling, p.max_days, p.default_scope, p.default_days),
            (9, 30, 9, 3)
        );
        assert_eq!(SignedView::new(9, 5).scope, vec!["read", "dispense"]);
    }

    #[test]
    fn a_confirmed_write_links_to_the_explorer_when_there_is_one() {
        let s = Submitted::Confirmed {
            entry: 1,
            tx_hash: B256::repeat_byte(0xab),
            block: 7,
        };
        let v = TxView::from(&s, |h| Some(format!("https://celoscan.io/tx/{h}")));
        assert_eq!(v.block, Some(7));
        assert!(v.link.unwrap().ends_with(&v.tx_hash.unwrap()));
    }
}

/// The front end's types (`ui/src/views.gen.ts`) are these views, generated by ts-rs: a view changed here and not
/// there fails this test. `CAREKIOSK_WRITE_TYPES=1 cargo test -p carekiosk-app --lib views::bindings` writes the
/// file again.
#[cfg(test)]
mod bindings {
    use super::*;
    use ts_rs::TS;

    const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/src/views.gen.ts");

    #[test]
    fn the_front_ends_types_are_generated_from_the_views() {
        let decls = [
            KioskInfo::decl(),
            EnrolmentView::decl(),
            FirstRunManifestView::decl(),
            FirstRunInstitution::decl(),
            ConsentLimits::decl(),
            SignedView::decl(),
            ReaderState::decl(),
            ReaderView::decl(),
            StatusView::decl(),
            GasView::decl(),
            PendingWrite::decl(),
            TxView::decl(),
            PatientView::decl(),
            CheckInView::decl(),
            EmergencyReadView::decl(),
            HeldConsentView::decl(),
            LogEntryView::decl(),
            EmergencySetView::decl(),
            AllergyView::decl(),
            ContactView::decl(),
            EmergencyCurrentView::decl(),
            EmergencySavedView::decl(),
            EmergencyView::decl(),
            LetterView::decl(),
            SavedLetter::decl(),
            LostView::decl(),
            ReplacedView::decl(),
            HistoryItem::decl(),
            PickItem::decl(),
            PrescriptionView::decl(),
            PharmacyOpenView::decl(),
            DispenseView::decl(),
            TokenDispenseView::decl(),
            PrintView::decl(),
            TokenCheckView::decl(),
            PrescribedView::decl(),
            PrescriptionOrderInput::decl(),
            ConsultedView::decl(),
            OverviewView::decl(),
            KnownAllergyView::decl(),
            CurrentMedicationView::decl(),
            TimelineView::decl(),
            ClaimItemInput::decl(),
            HospitalClaimView::decl(),
            DecisionItemView::decl(),
            ReviewItemView::decl(),
            ItemDecisionInput::decl(),
            DecidedView::decl(),
            ClaimView::decl(),
            ReviewView::decl(),
        ];
        let mut text = String::from(
            "// Generated by ts-rs from src-tauri/src/views.rs: do not edit. To write it again:\n\
             // CAREKIOSK_WRITE_TYPES=1 cargo test -p carekiosk-app --lib views::bindings\n\
             // The narrower names of strings (a role, a status) are the front end's, in types.ts.\n\
             import type { ClaimStatus, FhirResource, PrescriptionStatus, Role, ScopeName } from './types';\n",
        );
        // Integers reach the front end as JSON numbers (every one here below 2^53), not as `bigint`.
        for d in decls {
            text.push_str("\nexport ");
            text.push_str(&d.replace("bigint", "number"));
            text.push('\n');
        }
        if std::env::var_os("CAREKIOSK_WRITE_TYPES").is_some() {
            std::fs::write(FILE, &text).unwrap();
        }
        let on_disk = std::fs::read_to_string(FILE).unwrap_or_default();
        assert!(
            on_disk == text,
            "ui/src/views.gen.ts is not what src-tauri/src/views.rs says: run \
             CAREKIOSK_WRITE_TYPES=1 cargo test -p carekiosk-app --lib views::bindings"
        );
    }
}
