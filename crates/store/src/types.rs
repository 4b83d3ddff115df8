//! Plain data types of the store. Addresses and hashes are fixed-size byte arrays (stored as BLOBs of exactly that
//! length); token amounts are 256-bit big-endian ([`Amount`], a 32-byte BLOB); times are unix seconds.

use std::fmt;

/// A 20-byte Ethereum address (`alloy::primitives::Address::from(addr)` / `.into_array()`).
pub type Address = [u8; 20];
/// A 32-byte hash or id (`alloy::primitives::B256::from(b)` / `.0`).
pub type B256 = [u8; 32];
/// The 160-bit link of a patient's record hash chain (`bytes20` on chain).
pub type ChainHash = [u8; 20];

/// A 256-bit unsigned amount, big-endian (`U256::from_be_bytes(a.to_be_bytes())` in alloy).
///
/// Stored as a 32-byte BLOB: it fits no SQLite integer, and big-endian bytes compare like the numbers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount([u8; 32]);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount([0; 32]);

    /// From 32 big-endian bytes.
    pub const fn from_be_bytes(bytes: [u8; 32]) -> Self {
        Amount(bytes)
    }

    /// The 32 big-endian bytes.
    pub const fn to_be_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The value as `u128`, if it fits.
    pub fn to_u128(&self) -> Option<u128> {
        if self.0[..16].iter().any(|&b| b != 0) {
            return None;
        }
        let mut low = [0u8; 16];
        low.copy_from_slice(&self.0[16..]);
        Some(u128::from_be_bytes(low))
    }
}

impl From<u128> for Amount {
    fn from(v: u128) -> Self {
        let mut b = [0u8; 32];
        b[16..].copy_from_slice(&v.to_be_bytes());
        Amount(b)
    }
}

impl fmt::Display for Amount {
    /// Decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Repeated division of the big-endian number by 10.
        let mut n = self.0;
        let mut digits = Vec::with_capacity(78);
        loop {
            let mut rem = 0u32;
            let mut zero = true;
            for byte in n.iter_mut() {
                let cur = (rem << 8) | u32::from(*byte);
                *byte = (cur / 10) as u8;
                rem = cur % 10;
                zero &= *byte == 0;
            }
            digits.push(b'0' + rem as u8);
            if zero {
                break;
            }
        }
        digits.reverse();
        f.pad_integral(
            true,
            "",
            std::str::from_utf8(&digits).expect("ascii digits"),
        )
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where an event was seen: block, log position and transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef {
    /// Block number.
    pub block: u64,
    /// Log index within the block (orders several events of one block).
    pub log_index: u64,
    /// Transaction hash.
    pub tx_hash: B256,
}

/// How far the indexer got for one contract: the last block fully indexed and its hash (for reorg detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The last block fully indexed.
    pub block: u64,
    /// Its hash, as the chain reported it.
    pub block_hash: B256,
}

/// `RecordAdded`: one entry of a patient's record chain (the ciphertext stays on chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordAdded {
    /// `keccak256(card P-256 public key)`.
    pub patient_id: B256,
    /// Position in the patient's chain, from 0.
    pub index: u64,
    /// Institution id of the authoring hospital.
    pub author: u32,
    /// Record kind (the contract's `uint8`).
    pub kind: u8,
    /// Block time of the entry (unix seconds).
    pub time: u64,
    /// The index of the entry this one amends (`None` for an original entry; the contract's `supersedes - 1`).
    pub supersedes: Option<u64>,
    /// Hash of the sealed content.
    pub content_hash: B256,
    /// The patient's hash-chain link after this entry.
    pub chain_hash: ChainHash,
}

/// A record header as stored: the event plus where it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordHeader {
    /// `keccak256(card P-256 public key)`.
    pub patient_id: B256,
    /// Position in the patient's chain, from 0.
    pub index: u64,
    /// Institution id of the authoring hospital.
    pub author: u32,
    /// Record kind.
    pub kind: u8,
    /// Block time of the entry (unix seconds).
    pub time: u64,
    /// The index of the entry this one amends.
    pub supersedes: Option<u64>,
    /// Hash of the sealed content.
    pub content_hash: B256,
    /// The patient's hash-chain link after this entry.
    pub chain_hash: ChainHash,
    /// Block of the `RecordAdded` event.
    pub block: u64,
    /// Its transaction.
    pub tx_hash: B256,
}

/// A prescription's status, numbered as in `PharmacyAccess.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrescriptionStatus {
    /// Issued, not dispensed or cancelled.
    Ready = 1,
    /// Dispensed (the contract's `Completed`).
    Completed = 2,
    /// Cancelled by the issuer.
    Cancelled = 3,
    /// Partly dispensed: the rest can still be handed out.
    Partial = 4,
}

impl PrescriptionStatus {
    pub(crate) fn from_i64(v: i64) -> Option<Self> {
        Some(match v {
            1 => Self::Ready,
            2 => Self::Completed,
            3 => Self::Cancelled,
            4 => Self::Partial,
            _ => return None,
        })
    }
}

/// `PrescriptionIssued`, with the block time as `issued_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrescriptionIssued {
    /// On-chain id.
    pub id: u64,
    /// The patient.
    pub patient_id: B256,
    /// Institution id of the issuing hospital.
    pub issuer: u32,
    /// Block time of issue (unix seconds).
    pub issued_at: u64,
    /// End of validity (unix seconds, inclusive: expired when `now > valid_until`).
    pub valid_until: u64,
    /// Hash of the sealed prescription.
    pub content_hash: B256,
}

/// A prescription as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prescription {
    /// On-chain id.
    pub id: u64,
    /// The patient.
    pub patient_id: B256,
    /// Institution id of the issuing hospital.
    pub issuer: u32,
    /// Current status.
    pub status: PrescriptionStatus,
    /// Block time of issue.
    pub issued_at: u64,
    /// End of validity (inclusive).
    pub valid_until: u64,
    /// Hash of the sealed prescription.
    pub content_hash: B256,
    /// Institution id of the dispensing pharmacy, once dispensed.
    pub dispensed_by: Option<u32>,
    /// Block of the `PrescriptionIssued` event.
    pub block: u64,
    /// Its transaction.
    pub tx_hash: B256,
    /// The dispense or cancel event, once there is one.
    pub closed_in: Option<(u64, B256)>,
    /// Parts handed out so far, of 10,000.
    pub dispensed_bps: u16,
}

impl Prescription {
    /// Ready and not expired at `now` (unix seconds), exactly as `PharmacyAccess.dispense` decides.
    pub fn is_open(&self, now: u64) -> bool {
        matches!(
            self.status,
            PrescriptionStatus::Ready | PrescriptionStatus::Partial
        ) && now <= self.valid_until
    }
}

/// A claim's status, numbered as in `InsuranceProvider.ClaimStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimStatus {
    /// Waiting for the insurer.
    Submitted = 1,
    /// Approved for `approved`, not yet paid.
    Approved = 2,
    /// Denied with a reason code.
    Denied = 3,
    /// Paid from the insurer's escrow.
    Paid = 4,
    /// An approval above the insurer's four-eyes threshold, waiting for a second reviewer.
    PendingSecond = 5,
}

impl ClaimStatus {
    pub(crate) fn from_i64(v: i64) -> Option<Self> {
        Some(match v {
            1 => Self::Submitted,
            2 => Self::Approved,
            3 => Self::Denied,
            4 => Self::Paid,
            5 => Self::PendingSecond,
            _ => return None,
        })
    }
}

/// `ClaimSubmitted`, with the insurer the claim goes to (from the patient's coverage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimSubmitted {
    /// On-chain id.
    pub id: u64,
    /// The patient.
    pub patient_id: B256,
    /// The hospital's institution address.
    pub hospital: Address,
    /// The insurer's institution address.
    pub insurer: Address,
    /// The amount claimed (token base units).
    pub claimed: Amount,
    /// Hash of the sealed claim details.
    pub content_hash: B256,
}

/// A claim as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// On-chain id.
    pub id: u64,
    /// The patient.
    pub patient_id: B256,
    /// The hospital's institution address.
    pub hospital: Address,
    /// The insurer's institution address.
    pub insurer: Address,
    /// The amount claimed.
    pub claimed: Amount,
    /// The amount approved (zero until approved).
    pub approved: Amount,
    /// Current status.
    pub status: ClaimStatus,
    /// The denial reason, when denied.
    pub reason_code: Option<u16>,
    /// Hash of the sealed claim details.
    pub content_hash: B256,
    /// Block of the `ClaimSubmitted` event.
    pub block: u64,
    /// Its transaction.
    pub tx_hash: B256,
    /// The approve/deny event, once there is one.
    pub decided_in: Option<(u64, B256)>,
    /// The payment event, once paid.
    pub paid_in: Option<(u64, B256)>,
    /// Hash of the decision's sealed ClaimResponse (in the decision's calldata).
    pub response_hash: Option<B256>,
}

/// `ConsentGranted` (or `ConsentRevoked`, which is `valid_until == 0, scope == 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentChanged {
    /// The patient.
    pub patient_id: B256,
    /// The institution address holding the consent.
    pub institution: Address,
    /// End of the window (unix seconds, inclusive); 0 when revoked.
    pub valid_until: u64,
    /// Scope bits (READ 1, WRITE 2, PRESCRIBE 4, DISPENSE 8).
    pub scope: u8,
}

/// The current consent an institution holds for a patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The patient.
    pub patient_id: B256,
    /// The institution address.
    pub institution: Address,
    /// End of the window (unix seconds, inclusive); 0 when revoked.
    pub valid_until: u64,
    /// Scope bits.
    pub scope: u8,
    /// Block of the event that set it.
    pub block: u64,
}

impl Consent {
    /// The window is open at `now`, exactly as `PatientSmartCard` decides (`validUntil >= block.timestamp`).
    pub fn is_active(&self, now: u64) -> bool {
        self.valid_until != 0 && now <= self.valid_until
    }
}

/// Decrypted content held in the cache.
#[derive(Clone, PartialEq, Eq)]
pub struct CachedContent {
    /// The patient.
    pub patient_id: B256,
    /// Hash of the sealed content it came from.
    pub content_hash: B256,
    /// The institution whose consent allowed decrypting it.
    pub institution: Address,
    /// The plaintext (wiped from memory on drop).
    pub plaintext: zeroize::Zeroizing<Vec<u8>>,
    /// When it was cached (unix seconds).
    pub cached_at: u64,
}

impl fmt::Debug for CachedContent {
    /// Never prints the plaintext.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedContent")
            .field("content_hash", &Hex(&self.content_hash))
            .field(
                "plaintext",
                &format_args!("<{} bytes redacted>", self.plaintext.len()),
            )
            .field("cached_at", &self.cached_at)
            .finish_non_exhaustive()
    }
}

/// What `rewind_to` undid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewindReport {
    /// Record headers deleted.
    pub records_deleted: usize,
    /// Prescriptions deleted (issued after the block).
    pub prescriptions_deleted: usize,
    /// Prescriptions back to Ready (dispensed or cancelled after the block).
    pub prescriptions_reopened: usize,
    /// Claims deleted (submitted after the block).
    pub claims_deleted: usize,
    /// Claims whose approval, denial or payment was undone.
    pub claims_reverted: usize,
    /// Consent events deleted.
    pub consent_events_deleted: usize,
    /// Outbox entries confirmed after the block, back to `submitted` (their transaction must be looked up again).
    pub outbox_unconfirmed: usize,
}

/// Lower-case hex for logs and Debug output of public values (never secrets).
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_decimal_and_u128() {
        assert_eq!(Amount::ZERO.to_string(), "0");
        assert_eq!(Amount::from(1_234_567_890u128).to_string(), "1234567890");
        assert_eq!(Amount::from(u128::MAX).to_string(), u128::MAX.to_string());
        assert_eq!(Amount::from(u128::MAX).to_u128(), Some(u128::MAX));
        let max = Amount::from_be_bytes([0xff; 32]);
        assert_eq!(
            max.to_string(),
            "115792089237316195423570985008687907853269984665640564039457584007913129639935"
        );
        assert_eq!(max.to_u128(), None);
        assert!(Amount::from(5u128) < Amount::from(300u128));
    }
}

/// One chain event about a patient, for their access log (`event` names it: `record`, `prescribed`,
/// `dispensed`, `rx-cancelled`, `claim`, `claim-approved`, `claim-denied`, `claim-paid`, `consent`,
/// `consent-revoked`, `all-consents-revoked`, `registered`, `card-lost`, `card-replaced`, `enrolled`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PatientEvent {
    /// The patient.
    pub patient_id: B256,
    /// Block time (unix seconds).
    pub time: u64,
    /// What happened.
    pub event: String,
    /// The institution, when the event names its address.
    pub institution: Option<Address>,
    /// The institution id, when the event names it by id (record author, issuer, pharmacy).
    pub institution_id: Option<u32>,
    /// Record index, prescription id or claim id.
    pub ref_id: Option<u64>,
    /// Consent scope.
    pub scope: Option<u8>,
    /// Consent end.
    pub valid_until: Option<u64>,
    /// Money.
    pub amount: Option<Amount>,
    /// Where it is on chain (filled when read back).
    pub block: u64,
    /// Log index within the block (filled when read back).
    pub log_index: u64,
}

/// `PatientSmartCard.EmergencyAccess`: one emergency read, with no patient id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyTrace {
    /// Block time.
    pub time: u64,
    /// The hospital (institution address).
    pub hospital: Address,
    /// The blinded tag.
    pub tag: B256,
    /// The sealed note.
    pub note: Vec<u8>,
    /// Block.
    pub block: u64,
}

/// `PharmacyAccess.PrescriptionDispensed`: one dispense (a part, or the rest by token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispenseEvent {
    /// The prescription.
    pub prescription_id: u64,
    /// The patient.
    pub patient_id: B256,
    /// The pharmacy's institution id.
    pub pharmacy: u32,
    /// The part handed out, of 10,000.
    pub part: u16,
    /// Whether a representative's token redeemed it.
    pub by_token: bool,
    /// Hash of the sealed MedicationDispense (in the transaction's calldata).
    pub content_hash: B256,
    /// Block time.
    pub time: u64,
    /// The transaction (filled when read back).
    pub tx_hash: B256,
}
