//! Insurer: enrolment, the claim queue, a claim's details opened with the insurer's key and the coverage
//! arithmetic, approve or deny with a reason code, pay, and the paid claims.

use alloy::primitives::{B256, U256};
use carekiosk_records::{self as records, RecordKind, Resource};
use carekiosk_store::Claim;

use carekiosk_chain::bindings::scope;

use super::{default_window_days, grant_consent, require_patient};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// A claim opened for review.
#[derive(Debug, Clone)]
pub struct ClaimReview {
    /// The claim as indexed.
    pub claim: Claim,
    /// The FHIR Claim, opened with the insurer's key.
    pub details: Resource,
    /// Coverage percentage in basis points.
    pub coverage_bps: u16,
    /// What is left of the patient's annual limit.
    pub remaining: U256,
    /// The most the insurer may approve: min(claimed × percentage, remaining).
    pub cap: U256,
}

/// Denial reason codes (no free text goes on chain).
pub const DENIAL_REASONS: [(u16, &str); 4] = [
    (1, "not covered by the policy"),
    (2, "duplicate claim"),
    (3, "missing documentation"),
    (4, "coverage limit reached"),
];

/// Enrols the patient whose card is in the reader: the card grants this insurer READ (its default window),
/// then `bps` of each claim is covered, up to `annual_limit` base units a policy year. An insurer cannot enrol
/// a patient who is not in front of it; a patient moves to another insurer by enrolling there.
pub async fn enroll(
    k: &Kiosk,
    s: &mut PatientSession,
    bps: u16,
    annual_limit: u128,
) -> Result<Submitted, KioskError> {
    require_patient(k, s).await?;
    grant_consent(k, s, scope::INSURER, default_window_days(scope::INSURER)).await?;
    let patient = s.patient_id();
    let data = k
        .chain
        .insurance(&k.deployment)
        .enrollPatient(patient, bps, annual_limit)
        .calldata()
        .clone();
    k.outbox
        .submit(
            &format!("enroll:{patient}:{bps}:{annual_limit}"),
            "enrollPatient",
            call(k, data),
        )
        .await
}

fn call(k: &Kiosk, data: alloy::primitives::Bytes) -> Call {
    Call {
        to: k.deployment.contracts.insurance_provider,
        data,
    }
}

/// Claims waiting for this insurer's decision.
pub async fn queue(k: &Kiosk) -> Result<Vec<Claim>, KioskError> {
    let _ = k.indexer.sync().await;
    Ok(k.store.insurer_queue(&k.institution.into_array())?)
}

/// Claims this insurer paid.
pub async fn paid(k: &Kiosk) -> Result<Vec<Claim>, KioskError> {
    let _ = k.indexer.sync().await;
    Ok(k.store.paid_claims(&k.institution.into_array())?)
}

/// A claim with its decrypted details and the coverage arithmetic.
pub async fn review(k: &mut Kiosk, id: u64) -> Result<ClaimReview, KioskError> {
    let _ = k.indexer.sync().await;
    let claim = k
        .store
        .claim(id)?
        .ok_or_else(|| KioskError::Invalid(format!("no claim {id}")))?;
    let sealed = k.indexer.sealed_payload(B256::from(claim.tx_hash)).await?;
    if records::content_hash(&sealed) != claim.content_hash {
        return Err(KioskError::Invalid(format!(
            "claim {id} does not match its hash on chain"
        )));
    }
    let patient = claim.patient_id;
    let details = records::open_expecting(&sealed, patient, RecordKind::Claim, k.record_key())?;
    let cov = k
        .chain
        .insurance(&k.deployment)
        .coverageOf(B256::from(patient))
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    let claimed = U256::from_be_bytes(claim.claimed.to_be_bytes());
    let by_rate = claimed * U256::from(cov.c.bps) / U256::from(10_000);
    let cap = by_rate.min(cov.remaining);
    Ok(ClaimReview {
        claim,
        details,
        coverage_bps: cov.c.bps,
        remaining: cov.remaining,
        cap,
    })
}

/// Approves `amount` (at most the cap; the contract refuses more).
pub async fn approve(k: &Kiosk, id: u64, amount: U256) -> Result<Submitted, KioskError> {
    let data = k
        .chain
        .insurance(&k.deployment)
        .approveClaim(U256::from(id), amount)
        .calldata()
        .clone();
    k.outbox
        .submit(
            &format!("approve:{id}:{amount}"),
            "approveClaim",
            call(k, data),
        )
        .await
}

/// Denies with one of [`DENIAL_REASONS`].
pub async fn deny(k: &Kiosk, id: u64, reason: u16) -> Result<Submitted, KioskError> {
    if !DENIAL_REASONS.iter().any(|(c, _)| *c == reason) {
        return Err(KioskError::Invalid(format!(
            "unknown denial reason {reason}: use one of the listed codes"
        )));
    }
    let data = k
        .chain
        .insurance(&k.deployment)
        .denyClaim(U256::from(id), reason)
        .calldata()
        .clone();
    k.outbox
        .submit(&format!("deny:{id}:{reason}"), "denyClaim", call(k, data))
        .await
}

/// Pays an approved claim from escrow to the hospital, once.
pub async fn pay(k: &Kiosk, id: u64) -> Result<Submitted, KioskError> {
    let data = k
        .chain
        .insurance(&k.deployment)
        .processPayment(U256::from(id))
        .calldata()
        .clone();
    k.outbox
        .submit(&format!("pay:{id}"), "processPayment", call(k, data))
        .await
}
