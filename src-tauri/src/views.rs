//! What the screen receives: plain serde views of the core's types (camelCase for TypeScript). Amounts travel
//! as decimal strings (they exceed JavaScript's safe integers); FHIR resources travel as their own JSON.

use alloy::primitives::{B256, U256};
use carekiosk_kiosk::workflows::{
    insurer::ClaimReview, pharmacy::PharmacyPrescription, HistoryEntry,
};
use carekiosk_kiosk::Submitted;
use carekiosk_store::{Claim, ClaimStatus, OutboxEntry};
use serde::Serialize;

/// Who this kiosk is, for the start screen and the header.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KioskInfo {
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
}

/// The card reader as the monitor sees it.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReaderView {
    /// `no-service` (pcscd unreachable), `no-reader`, `empty` or `card`.
    pub state: String,
    /// The reader's name, when there is one.
    pub reader: Option<String>,
}

/// The footer's live status.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusView {
    pub online: bool,
    pub block: Option<u64>,
    pub chain_id: Option<u64>,
    pub pending: Vec<PendingWrite>,
    pub reader: ReaderView,
}

/// A write not yet confirmed.
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TxView {
    /// `confirmed`, or `pending` (queued while the node is unreachable; sent when it is back).
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckInView {
    pub patient_id: String,
    /// The patient's demographics (FHIR Patient), opened with the card.
    pub patient: Option<serde_json::Value>,
    pub records: usize,
    pub consent: TxView,
}

/// The issue letter of the card just issued, to show on screen and print: the reset code, the recovery code as
/// printed and its QR code. It travels to the screen once and is wiped here when dropped.
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SavedLetter {
    pub path: String,
}

/// A card reported lost at reception.
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplacedView {
    pub patient: PatientView,
    pub tx: TxView,
}

/// One history entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryItem {
    pub index: u64,
    pub author: u32,
    pub kind: u8,
    pub time: u64,
    pub supersedes: Option<u64>,
    /// The FHIR resource, or null when the entry cannot be opened.
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
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PickItem {
    pub code: String,
    pub display: String,
    /// The usual dosage (drugs only).
    pub dosage: Option<String>,
}

/// A prescription at the pharmacy counter.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PrescriptionView {
    pub id: u64,
    pub issuer: u32,
    /// `ready`, `dispensed`, `cancelled` or `expired`, as the chain says.
    pub status: String,
    pub valid_until: u64,
    pub dispensable: bool,
    /// The MedicationRequest, or null when it cannot be opened.
    pub request: serde_json::Value,
    /// Why it cannot be opened (shown as one line, without a dispense button).
    pub unreadable: Option<String>,
}

impl From<&PharmacyPrescription> for PrescriptionView {
    fn from(p: &PharmacyPrescription) -> Self {
        let status = match p.status {
            1 if !p.dispensable => "expired",
            1 => "ready",
            2 => "dispensed",
            3 => "cancelled",
            _ => "unknown",
        };
        PrescriptionView {
            id: p.id,
            issuer: p.issuer,
            status: status.into(),
            valid_until: p.valid_until,
            dispensable: p.dispensable,
            request: serde_json::to_value(&p.request).unwrap_or_default(),
            unreadable: p.unreadable.clone(),
        }
    }
}

/// A dispensing's outcome with its receipt.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DispenseView {
    pub tx: TxView,
    /// The FHIR MedicationDispense handed to the patient.
    pub receipt: serde_json::Value,
}

/// A claim in the insurer's lists.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimView {
    pub id: u64,
    pub patient_id: String,
    pub hospital: String,
    pub claimed: String,
    pub approved: String,
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
            }
            .into(),
            reason_code: c.reason_code,
            tx_hash: B256::from(c.tx_hash).to_string(),
        }
    }
}

/// A claim opened for review, with the coverage arithmetic.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewView {
    pub claim: ClaimView,
    pub details: serde_json::Value,
    pub coverage_bps: u16,
    pub remaining: String,
    pub cap: String,
}

impl From<&ClaimReview> for ReviewView {
    fn from(r: &ClaimReview) -> Self {
        ReviewView {
            claim: ClaimView::from(&r.claim),
            details: serde_json::to_value(&r.details).unwrap_or_default(),
            coverage_bps: r.coverage_bps,
            remaining: r.remaining.to_string(),
            cap: r.cap.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
