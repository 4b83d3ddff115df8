//! Follows the contracts' events from a stored cursor into the kiosk's database, so the screens answer from
//! the cache: a patient's record headers, open prescriptions, the insurer's claim queue, consents.
//!
//! Restarts resume at the cursor. Reorgs: the hash of every indexed block is kept; when the chain's hash at the
//! cursor differs, the indexer walks back to the last block whose hash still matches and rewinds to it.

use alloy::primitives::{Address, B256};
use alloy::providers::Provider;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use carekiosk_chain::bindings::{
    HospitalRecord, InsuranceProvider, PatientSmartCard, PharmacyAccess,
};
use carekiosk_chain::{Chain, ChainError, Deployment};
use carekiosk_store::{self as store, Amount, Cursor, EventRef, Store};

use crate::KioskError;

/// Blocks asked for in one `eth_getLogs`.
const CHUNK: u64 = 2_000;

/// What one [`Indexer::sync`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Events written.
    pub events: usize,
    /// Last block indexed.
    pub block: u64,
    /// Blocks rewound because of a reorg.
    pub rewound_to: Option<u64>,
}

/// The event follower.
#[derive(Debug, Clone)]
pub struct Indexer {
    chain: Chain,
    store: Store,
    d: Deployment,
}

impl Indexer {
    /// An indexer of deployment `d` into `store`.
    pub fn new(chain: Chain, store: Store, d: Deployment) -> Self {
        Self { chain, store, d }
    }

    fn cursor_key(&self) -> [u8; 20] {
        self.d.contracts.patient_smart_card.into_array()
    }

    async fn hash_of(&self, block: u64) -> Result<Option<B256>, KioskError> {
        let b = self
            .chain
            .provider()
            .get_block_by_number(block.into())
            .await
            .map_err(|e| ChainError::Node {
                url: self.chain.url().into(),
                reason: e.to_string(),
            })?;
        Ok(b.map(|b| b.header.hash))
    }

    /// Indexes everything up to the chain's latest block.
    pub async fn sync(&self) -> Result<SyncReport, KioskError> {
        let chain_id = self.d.chain_id;
        let latest = self.chain.block_number().await?;
        let mut report = SyncReport::default();
        let mut from = self.d.block.saturating_sub(64);
        if let Some(cur) = self.store.cursor(chain_id, &self.cursor_key())? {
            let mut at = cur.block.min(latest);
            // Walk back while our stored hash disagrees with the chain's (a reorg).
            loop {
                let ours = if at == cur.block {
                    Some(cur.block_hash)
                } else {
                    self.store.block_hash(chain_id, at)?
                };
                let theirs = self.hash_of(at).await?;
                match (ours, theirs) {
                    (Some(o), Some(t)) if o == t.0 => break,
                    (None, _) if at < cur.block => {
                        at = at.saturating_sub(1);
                        if at == 0 {
                            break;
                        }
                        continue;
                    }
                    _ if at == 0 => break,
                    _ => at -= 1,
                }
            }
            if at < cur.block {
                let h = self.hash_of(at).await?.unwrap_or_default();
                self.store.rewind_to(at, &h.0)?;
                report.rewound_to = Some(at);
                tracing::warn!(
                    from = cur.block,
                    to = at,
                    "chain reorganised; index rewound"
                );
            }
            from = at + 1;
        }
        let mut start = from;
        while start <= latest {
            let end = (start + CHUNK - 1).min(latest);
            let filter = Filter::new()
                .address(vec![
                    self.d.contracts.patient_smart_card,
                    self.d.contracts.hospital_record,
                    self.d.contracts.pharmacy_access,
                    self.d.contracts.insurance_provider,
                ])
                .from_block(start)
                .to_block(end);
            let logs =
                self.chain
                    .provider()
                    .get_logs(&filter)
                    .await
                    .map_err(|e| ChainError::Node {
                        url: self.chain.url().into(),
                        reason: e.to_string(),
                    })?;
            let mut decoded = Vec::with_capacity(logs.len());
            let mut times = std::collections::HashMap::new();
            for log in &logs {
                if let Some((at, ev)) = self.decode(log).await? {
                    let time = match (log.block_timestamp, times.get(&at.block)) {
                        (Some(t), _) => t,
                        (None, Some(t)) => *t,
                        (None, None) => {
                            let t = self.block_time(at.block).await?;
                            times.insert(at.block, t);
                            t
                        }
                    };
                    decoded.push((at, ev, time));
                }
            }
            let end_hash = self.hash_of(end).await?.unwrap_or_default();
            let key = self.cursor_key();
            report.events += self.store.index_batch(|b| {
                let mut n = 0;
                for (at, ev, time) in &decoded {
                    n += 1;
                    let log = |event: &str, patient_id: [u8; 32]| store::PatientEvent {
                        patient_id,
                        time: *time,
                        event: event.into(),
                        ..Default::default()
                    };
                    let entry = match ev {
                        Event::Record(r) => {
                            b.record_added(r, at)?;
                            Some(store::PatientEvent {
                                institution_id: Some(r.author),
                                ref_id: Some(r.index),
                                ..log("record", r.patient_id)
                            })
                        }
                        Event::Consent(c) => {
                            b.consent_changed(c, at)?;
                            let revoked = c.valid_until == 0;
                            Some(store::PatientEvent {
                                institution: Some(c.institution),
                                scope: (!revoked).then_some(c.scope),
                                valid_until: (!revoked).then_some(c.valid_until),
                                ..log(
                                    if revoked {
                                        "consent-revoked"
                                    } else {
                                        "consent"
                                    },
                                    c.patient_id,
                                )
                            })
                        }
                        Event::AllRevoked(pid) => {
                            b.all_consents_revoked(pid, at)?;
                            Some(log("all-consents-revoked", *pid))
                        }
                        Event::Patient(what, pid, hospital) => Some(store::PatientEvent {
                            institution: *hospital,
                            ..log(what, *pid)
                        }),
                        Event::Issued(p) => {
                            b.prescription_issued(p, at)?;
                            Some(store::PatientEvent {
                                institution_id: Some(p.issuer),
                                ref_id: Some(p.id),
                                ..log("prescribed", p.patient_id)
                            })
                        }
                        Event::Dispensed(d) => {
                            let d = store::DispenseEvent {
                                time: *time,
                                ..d.clone()
                            };
                            b.dispense(&d, at)?;
                            Some(store::PatientEvent {
                                institution_id: Some(d.pharmacy),
                                ref_id: Some(d.prescription_id),
                                scope: Some(u8::from(d.by_token)),
                                valid_until: Some(u64::from(d.part)),
                                ..log("dispensed", d.patient_id)
                            })
                        }
                        Event::Proposed(id) => {
                            b.claim_pending_second(*id, at)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                ..log("claim-proposed", pid)
                            })
                        }
                        Event::Cancelled(id) => {
                            b.prescription_cancelled(*id, at)?;
                            b.patient_of("prescriptions", *id)?
                                .map(|pid| store::PatientEvent {
                                    ref_id: Some(*id),
                                    ..log("rx-cancelled", pid)
                                })
                        }
                        Event::Claim(c) => {
                            b.claim_submitted(c, at)?;
                            Some(store::PatientEvent {
                                institution: Some(c.hospital),
                                ref_id: Some(c.id),
                                amount: Some(c.claimed),
                                ..log("claim", c.patient_id)
                            })
                        }
                        Event::Approved(id, amount, response) => {
                            b.claim_approved(*id, *amount, at)?;
                            b.claim_response(*id, response)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                amount: Some(*amount),
                                ..log("claim-approved", pid)
                            })
                        }
                        Event::Denied(id, code, response) => {
                            b.claim_denied(*id, *code, at)?;
                            b.claim_response(*id, response)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                ..log("claim-denied", pid)
                            })
                        }
                        Event::Paid(id, amount) => {
                            b.claim_paid(*id, *amount, at)?;
                            b.patient_of("claims", *id)?.map(|pid| store::PatientEvent {
                                ref_id: Some(*id),
                                amount: Some(*amount),
                                ..log("claim-paid", pid)
                            })
                        }
                        Event::Emergency(hospital, tag, note) => {
                            b.emergency_trace(
                                &store::EmergencyTrace {
                                    time: *time,
                                    hospital: *hospital,
                                    tag: *tag,
                                    note: note.clone(),
                                    block: at.block,
                                },
                                at,
                            )?;
                            None
                        }
                    };
                    if let Some(e) = entry {
                        b.patient_event(&e, at)?;
                    }
                }
                b.block_hash(chain_id, end, &end_hash.0)?;
                b.set_cursor(
                    chain_id,
                    &key,
                    &Cursor {
                        block: end,
                        block_hash: end_hash.0,
                    },
                )?;
                Ok(n)
            })?;
            report.block = end;
            start = end + 1;
        }
        Ok(report)
    }

    async fn decode(&self, log: &Log) -> Result<Option<(EventRef, Event)>, KioskError> {
        let at = EventRef {
            block: log.block_number.unwrap_or_default(),
            log_index: log.log_index.unwrap_or_default(),
            tx_hash: log.transaction_hash.unwrap_or_default().0,
        };
        let Some(topic0) = log.topic0().copied() else {
            return Ok(None);
        };
        let addr = log.address();
        let c = &self.d.contracts;
        let ev = if addr == c.hospital_record
            && topic0 == HospitalRecord::RecordAdded::SIGNATURE_HASH
        {
            let e = HospitalRecord::RecordAdded::decode_log_data(log.data()).map_err(bad)?;
            let time = match log.block_timestamp {
                Some(t) => t,
                None => self.block_time(at.block).await?,
            };
            Event::Record(store::RecordAdded {
                patient_id: e.patientId.0,
                index: e.index.to::<u64>(),
                author: e.author,
                kind: 0,
                time,
                supersedes: (e.supersedes.to::<u64>() > 0).then(|| e.supersedes.to::<u64>() - 1),
                content_hash: e.contentHash.0,
                chain_hash: e.chainHash.0,
            })
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::ConsentGranted::SIGNATURE_HASH
        {
            let e = PatientSmartCard::ConsentGranted::decode_log_data(log.data()).map_err(bad)?;
            Event::Consent(store::ConsentChanged {
                patient_id: e.patientId.0,
                institution: e.institution.into_array(),
                valid_until: e.validUntil,
                scope: e.scope,
            })
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::ConsentRevoked::SIGNATURE_HASH
        {
            let e = PatientSmartCard::ConsentRevoked::decode_log_data(log.data()).map_err(bad)?;
            Event::Consent(store::ConsentChanged {
                patient_id: e.patientId.0,
                institution: e.institution.into_array(),
                valid_until: 0,
                scope: 0,
            })
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::AllConsentsRevoked::SIGNATURE_HASH
        {
            let e =
                PatientSmartCard::AllConsentsRevoked::decode_log_data(log.data()).map_err(bad)?;
            Event::AllRevoked(e.patientId.0)
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::PatientRegistered::SIGNATURE_HASH
        {
            let e =
                PatientSmartCard::PatientRegistered::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient("registered", e.patientId.0, Some(e.hospital.into_array()))
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::CardReportedLost::SIGNATURE_HASH
        {
            let e = PatientSmartCard::CardReportedLost::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient("card-lost", e.patientId.0, None)
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::CardReplaced::SIGNATURE_HASH
        {
            let e = PatientSmartCard::CardReplaced::decode_log_data(log.data()).map_err(bad)?;
            Event::Patient(
                "card-replaced",
                e.patientId.0,
                Some(e.hospital.into_array()),
            )
        } else if addr == c.patient_smart_card
            && topic0 == PatientSmartCard::EmergencyAccess::SIGNATURE_HASH
        {
            let e = PatientSmartCard::EmergencyAccess::decode_log_data(log.data()).map_err(bad)?;
            Event::Emergency(e.hospital.into_array(), e.tag.0, e.note.to_vec())
        } else if addr == c.pharmacy_access
            && topic0 == PharmacyAccess::PrescriptionIssued::SIGNATURE_HASH
        {
            let e = PharmacyAccess::PrescriptionIssued::decode_log_data(log.data()).map_err(bad)?;
            let issued_at = match log.block_timestamp {
                Some(t) => t,
                None => self.block_time(at.block).await?,
            };
            Event::Issued(store::PrescriptionIssued {
                id: e.id.to::<u64>(),
                patient_id: e.patientId.0,
                issuer: e.issuer,
                issued_at,
                valid_until: e.validUntil.to::<u64>(),
                content_hash: e.contentHash.0,
            })
        } else if addr == c.pharmacy_access
            && topic0 == PharmacyAccess::PrescriptionDispensed::SIGNATURE_HASH
        {
            let e =
                PharmacyAccess::PrescriptionDispensed::decode_log_data(log.data()).map_err(bad)?;
            Event::Dispensed(store::DispenseEvent {
                prescription_id: e.id.to::<u64>(),
                patient_id: e.patientId.0,
                pharmacy: e.pharmacy,
                part: e.part,
                by_token: e.byToken,
                content_hash: e.contentHash.0,
                time: 0,
                tx_hash: at.tx_hash,
            })
        } else if addr == c.pharmacy_access
            && topic0 == PharmacyAccess::PrescriptionCancelled::SIGNATURE_HASH
        {
            let e =
                PharmacyAccess::PrescriptionCancelled::decode_log_data(log.data()).map_err(bad)?;
            Event::Cancelled(e.id.to::<u64>())
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimSubmitted::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimSubmitted::decode_log_data(log.data()).map_err(bad)?;
            let status = InsuranceProvider::new(c.insurance_provider, self.chain.provider())
                .getClaimStatus(e.claimId)
                .call()
                .await
                .map_err(|err| ChainError::from_contract_error(self.chain.url(), err))?;
            Event::Claim(store::ClaimSubmitted {
                id: e.claimId.to::<u64>(),
                patient_id: e.patientId.0,
                hospital: e.hospital.into_array(),
                insurer: status.insurer.into_array(),
                claimed: Amount::from_be_bytes(e.amount.to_be_bytes::<32>()),
                content_hash: e.contentHash.0,
            })
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimApproved::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimApproved::decode_log_data(log.data()).map_err(bad)?;
            Event::Approved(
                e.claimId.to::<u64>(),
                Amount::from_be_bytes(e.amount.to_be_bytes::<32>()),
                e.contentHash.0,
            )
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimDenied::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimDenied::decode_log_data(log.data()).map_err(bad)?;
            Event::Denied(e.claimId.to::<u64>(), e.reasonCode, e.contentHash.0)
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimApprovalProposed::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimApprovalProposed::decode_log_data(log.data())
                .map_err(bad)?;
            Event::Proposed(e.claimId.to::<u64>())
        } else if addr == c.insurance_provider
            && topic0 == InsuranceProvider::ClaimPaid::SIGNATURE_HASH
        {
            let e = InsuranceProvider::ClaimPaid::decode_log_data(log.data()).map_err(bad)?;
            Event::Paid(
                e.claimId.to::<u64>(),
                Amount::from_be_bytes(e.amount.to_be_bytes::<32>()),
            )
        } else {
            return Ok(None);
        };
        Ok(Some((at, ev)))
    }

    async fn block_time(&self, block: u64) -> Result<u64, KioskError> {
        let b = self
            .chain
            .provider()
            .get_block_by_number(block.into())
            .await
            .map_err(|e| ChainError::Node {
                url: self.chain.url().into(),
                reason: e.to_string(),
            })?;
        Ok(b.map(|b| b.header.timestamp).unwrap_or_default())
    }

    /// The sealed bytes a record, prescription or claim event's transaction carried in its calldata.
    pub async fn sealed_payload(&self, tx_hash: B256) -> Result<Vec<u8>, KioskError> {
        use alloy::consensus::Transaction as _;
        use alloy::sol_types::SolCall;
        let tx = self
            .chain
            .provider()
            .get_transaction_by_hash(tx_hash)
            .await
            .map_err(|e| ChainError::Node {
                url: self.chain.url().into(),
                reason: e.to_string(),
            })?
            .ok_or_else(|| {
                KioskError::Invalid(format!("transaction {tx_hash} is not on this chain"))
            })?;
        let input = tx.inner.input();
        let to: Option<Address> = tx.inner.to();
        let c = &self.d.contracts;
        let sealed = if to == Some(c.hospital_record) {
            if let Ok(call) = HospitalRecord::addMedicalRecordCall::abi_decode(input) {
                call.sealedRecord
            } else {
                HospitalRecord::updateMedicalHistoryCall::abi_decode(input)
                    .map_err(bad)?
                    .sealedRecord
            }
        } else if to == Some(c.pharmacy_access) {
            if let Ok(call) = PharmacyAccess::issuePrescriptionCall::abi_decode(input) {
                call.sealedPrescription
            } else if let Ok(call) = PharmacyAccess::dispensePrescriptionCall::abi_decode(input) {
                call.sealedDispense
            } else {
                PharmacyAccess::dispenseByTokenCall::abi_decode(input)
                    .map_err(bad)?
                    .sealedDispense
            }
        } else if to == Some(c.insurance_provider) {
            if let Ok(call) = InsuranceProvider::submitClaimCall::abi_decode(input) {
                call.sealedClaim
            } else if let Ok(call) = InsuranceProvider::approveClaimCall::abi_decode(input) {
                call.sealedResponse
            } else {
                InsuranceProvider::denyClaimCall::abi_decode(input)
                    .map_err(bad)?
                    .sealedResponse
            }
        } else {
            return Err(KioskError::Invalid(format!(
                "transaction {tx_hash} carries no sealed carekiosk payload"
            )));
        };
        Ok(sealed.to_vec())
    }
}

enum Event {
    Record(store::RecordAdded),
    Consent(store::ConsentChanged),
    AllRevoked([u8; 32]),
    /// Registered / card lost / card replaced, with the hospital when the event names it.
    Patient(&'static str, [u8; 32], Option<[u8; 20]>),
    /// An emergency read: hospital, tag, note.
    Emergency([u8; 20], [u8; 32], Vec<u8>),
    Issued(store::PrescriptionIssued),
    Dispensed(store::DispenseEvent),
    Cancelled(u64),
    Claim(store::ClaimSubmitted),
    Approved(u64, Amount, [u8; 32]),
    Denied(u64, u16, [u8; 32]),
    Proposed(u64),
    Paid(u64, Amount),
}

fn bad(e: impl std::fmt::Display) -> KioskError {
    KioskError::Invalid(format!("malformed contract event or call: {e}"))
}
