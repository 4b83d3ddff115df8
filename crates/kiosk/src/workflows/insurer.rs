//! Insurer: enrolment, the claim queue, a claim's details opened with the insurer's key and the coverage
//! arithmetic, approve or deny with a reason code, pay, and the paid claims.

use alloy::primitives::{B256, U256};
use carekiosk_records::{self as records, RecordKind, Resource};
use carekiosk_store::Claim;

use carekiosk_chain::bindings::scope;

use super::{consent_now, default_window_days, domain, require_patient};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};
use carekiosk_chain::bindings::InsuranceProvider;
use carekiosk_chain::eip712;

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
    /// The claim's items, as the hospital billed them (amounts in token base units).
    pub items: Vec<ReviewItem>,
    /// The deployment token (symbol, decimals): the currency of every amount here.
    pub currency: (String, u8),
}

/// One billed item of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    /// Its sequence in the claim.
    pub sequence: u32,
    /// Service code and text.
    pub service: String,
    /// How many.
    pub quantity: u32,
    /// Line total in token base units.
    pub net: U256,
}

/// The reviewer's decision on one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDecision {
    /// The item's sequence.
    pub sequence: u32,
    /// What the insurer pays for it (base units; 0 = denied for the item).
    pub benefit: U256,
    /// Why it is reduced or denied (adjudication reason text), if it is.
    pub reason: Option<String>,
}

/// What a decision did.
#[derive(Debug)]
pub struct Decided {
    /// The write.
    pub submitted: Submitted,
    /// The amount approved (0 for a denial).
    pub amount: U256,
    /// Whether it waits for a second reviewer (above the insurer's four-eyes threshold).
    pub pending_second: bool,
    /// Whether it was paid in the same transaction ([`settle`]).
    pub paid: bool,
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
    let patient = s.patient_id();
    // The same enrolment asked again (a second click, a restarted kiosk) is the same write.
    let key = format!("enroll:{patient}:{bps}:{annual_limit}");
    if let Some(done) = k.outbox.resume(&key).await? {
        return Ok(done);
    }
    // One transaction (`enrollWithConsent`): the insurer's consent, signed by the card, and the enrolment.
    let msg = consent_now(
        k,
        patient,
        scope::INSURER,
        default_window_days(scope::INSURER),
    )
    .await?;
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let terms = InsuranceProvider::ConsentTerms {
        scope: msg.scope,
        validUntil: msg.validUntil,
        epoch: msg.epoch,
        signedAt: msg.signedAt,
    };
    let data = k
        .chain
        .insurance(&k.deployment)
        .enrollWithConsent(patient, bps, annual_limit, terms, sig.into())
        .calldata()
        .clone();
    k.outbox
        .submit(&key, "enrollWithConsent", call(k, data))
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

/// Approvals above this insurer's four-eyes threshold waiting for a second reviewer.
pub async fn pending_second(k: &Kiosk) -> Result<Vec<Claim>, KioskError> {
    let _ = k.indexer.sync().await;
    Ok(k.store.claims_for_insurer(
        &k.institution.into_array(),
        carekiosk_store::ClaimStatus::PendingSecond,
    )?)
}

/// Claims this insurer paid.
pub async fn paid(k: &Kiosk) -> Result<Vec<Claim>, KioskError> {
    let _ = k.indexer.sync().await;
    Ok(k.store.paid_claims(&k.institution.into_array())?)
}

/// A claim with its decrypted details and the coverage arithmetic.
pub async fn review(k: &Kiosk, id: u64) -> Result<ClaimReview, KioskError> {
    let _ = k.indexer.sync().await;
    let claim = k.store.claim(id)?.ok_or(KioskError::NoSuchClaim(id))?;
    let sealed = k
        .indexer
        .sealed_payload(B256::from(claim.tx_hash), claim.content_hash)
        .await?;
    if records::content_hash(&sealed) != claim.content_hash {
        return Err(KioskError::Invalid(format!(
            "claim {id} does not match its hash on chain"
        )));
    }
    let patient = claim.patient_id;
    let details = records::open_expecting(
        &sealed,
        patient,
        RecordKind::Claim,
        &mut k.record_key_copy(),
    )?;
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
    let currency = k.currency().await;
    let items = match &details {
        Resource::Claim(c) => c
            .item
            .iter()
            .map(|i| ReviewItem {
                sequence: i.sequence,
                service: i
                    .product_or_service
                    .coding
                    .first()
                    .and_then(|c| c.code.clone())
                    .map(|code| {
                        format!(
                            "{code} {}",
                            i.product_or_service.coding[0]
                                .display
                                .clone()
                                .unwrap_or_default()
                        )
                    })
                    .or_else(|| i.product_or_service.text.clone())
                    .unwrap_or_default(),
                quantity: i.quantity.as_ref().and_then(|q| q.value).unwrap_or(1.0) as u32,
                net: base_units(
                    i.net.as_ref().map_or(0.0, |m| m.value.unwrap_or(0.0)),
                    currency.1,
                ),
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(ClaimReview {
        claim,
        details,
        coverage_bps: cov.c.bps,
        remaining: cov.remaining,
        cap,
        items,
        currency,
    })
}

/// A decimal token amount in base units.
fn base_units(value: f64, decimals: u8) -> U256 {
    // Through a decimal string: exact for the amounts the desks enter (two decimals).
    let scaled = format!("{:.0}", value * 10f64.powi(i32::from(decimals.min(30))));
    scaled.parse::<U256>().unwrap_or_default()
}

fn money(amount: U256, currency: &(String, u8)) -> serde_json::Value {
    let iso = Kiosk::iso_currency(&currency.0).unwrap_or_else(|| currency.0.clone());
    serde_json::json!({ "value": super::doctor::tokens(amount, currency.1), "currency": iso })
}

fn category(code: &str) -> serde_json::Value {
    serde_json::json!({ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/adjudication", "code": code }] })
}

/// The FHIR ClaimResponse of a decision, with each item's adjudication, sealed for the patient (their history
/// key), this insurer and the claim's hospital.
async fn sealed_response(
    k: &Kiosk,
    review: &ClaimReview,
    decisions: &[ItemDecision],
    amount: U256,
    disposition: &str,
) -> Result<alloy::primitives::Bytes, KioskError> {
    let pid = B256::from(review.claim.patient_id);
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64).to_string();
    let mut items = Vec::new();
    for i in &review.items {
        let d = decisions.iter().find(|d| d.sequence == i.sequence);
        let benefit = d.map_or(U256::ZERO, |d| d.benefit);
        let mut benefit_adj = serde_json::json!({ "category": category("benefit"), "amount": money(benefit, &review.currency) });
        if let Some(reason) = d
            .and_then(|d| d.reason.as_deref())
            .filter(|r| !r.trim().is_empty())
        {
            benefit_adj["reason"] = serde_json::json!({ "text": reason.trim() });
        }
        items.push(serde_json::json!({
            "itemSequence": i.sequence,
            "adjudication": [
                { "category": category("submitted"), "amount": money(i.net, &review.currency) },
                benefit_adj,
            ],
        }));
    }
    let claimed = U256::from_be_bytes(review.claim.claimed.to_be_bytes());
    let (insurer_name, _) = super::patient::institution_name(k, &k.institution);
    let response = serde_json::json!({
        "resourceType": "ClaimResponse",
        "status": "active",
        "type": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional" }] },
        "use": "claim",
        "patient": { "reference": records::fhir::Reference::patient(&pid.0).reference },
        "created": today,
        "insurer": { "reference": format!("Organization/{}", k.institution_id), "display": insurer_name },
        "request": { "reference": format!("Claim/{}", review.claim.id) },
        "outcome": if amount.is_zero() { "error" } else if amount < claimed { "partial" } else { "complete" },
        "disposition": disposition,
        "item": items,
        "total": [
            { "category": category("submitted"), "amount": money(claimed, &review.currency) },
            { "category": category("benefit"), "amount": money(amount, &review.currency) },
        ],
    });
    let response = Resource::from_json(response.to_string().as_bytes())?;
    response.validate(records::FhirDate::from_unix_seconds(Kiosk::now() as i64))?;
    let bundle = super::key_bundle(k, pid).await?;
    let hospital = k
        .record_key_of(alloy::primitives::Address::from(review.claim.hospital))
        .await?;
    let recipients = records::recipients_for(
        RecordKind::ClaimResponse,
        &bundle.history_public,
        &k.record_public_key(),
        &[hospital],
    )?;
    Ok(records::seal(&response, pid.0, &recipients)?.into())
}

/// Decides a claim item by item: the approved amount is the sum of the items' benefits, capped by the coverage
/// (`review.cap`); the FHIR ClaimResponse with every item's adjudication goes on chain sealed for the patient,
/// this insurer and the hospital. Nothing approved is a denial (reason 1, not covered). Above the insurer's
/// four-eyes threshold the approval waits for another kiosk of the insurer ([`confirm`]).
pub async fn decide(
    k: &Kiosk,
    review: &ClaimReview,
    decisions: &[ItemDecision],
) -> Result<Decided, KioskError> {
    decide_with(k, review, decisions, false).await
}

/// [`decide`], paying in the same transaction (`settleClaim`) when `pay` and the amount needs no second
/// reviewer.
pub async fn decide_with(
    k: &Kiosk,
    review: &ClaimReview,
    decisions: &[ItemDecision],
    pay: bool,
) -> Result<Decided, KioskError> {
    for d in decisions {
        let Some(item) = review.items.iter().find(|i| i.sequence == d.sequence) else {
            return Err(KioskError::Invalid(format!(
                "the claim has no item {}",
                d.sequence
            )));
        };
        if d.benefit > item.net {
            return Err(KioskError::Invalid(format!(
                "item {}: the benefit is more than was billed for it",
                d.sequence
            )));
        }
    }
    let id = review.claim.id;
    // Every decision names the claim's content: a reorganisation can renumber claims, and a decision sent again
    // must refuse (ClaimChanged), not decide another patient's claim; the outbox key names it too. An approval
    // names the claim's patient too (its coverage is counted; the chain checks the id against the claim's).
    let hash = B256::from(review.claim.content_hash);
    let patient = B256::from(review.claim.patient_id);
    let total: U256 = decisions
        .iter()
        .map(|d| d.benefit)
        .fold(U256::ZERO, |a, b| a + b);
    let amount = total.min(review.cap);
    // A decision of this claim already recorded (asked again: a second click, a desk restarted, a claim still in
    // the queue because the index is behind) is that write, driven on: not another sealed response under the
    // same key.
    if amount.is_zero() {
        let key = format!("deny:{id}:{hash}:1");
        let submitted = match k.outbox.resume(&key).await? {
            Some(done) => done,
            None => {
                let sealed =
                    sealed_response(k, review, decisions, U256::ZERO, "denied: not covered")
                        .await?;
                let data = k
                    .chain
                    .insurance(&k.deployment)
                    .denyClaim(U256::from(id), hash, 1, sealed)
                    .calldata()
                    .clone();
                k.outbox.submit(&key, "denyClaim", call(k, data)).await?
            }
        };
        return Ok(Decided {
            submitted,
            amount,
            pending_second: false,
            paid: false,
        });
    }
    let disposition = if amount < total {
        "approved up to the coverage"
    } else {
        "approved"
    };
    let insurance = k.chain.insurance(&k.deployment);
    let threshold = insurance
        .approvalThresholdOf(k.institution)
        .call()
        .await
        .unwrap_or_default();
    let pending_second = !threshold.is_zero() && amount > threshold;
    // Approve and pay: one transaction, one write.
    let settle = pay && !pending_second;
    let (key, kind) = if settle {
        (format!("settle:{id}:{hash}:{amount}"), "settleClaim")
    } else {
        (format!("approve:{id}:{hash}:{amount}"), "approveClaim")
    };
    let submitted = match k.outbox.resume(&key).await? {
        Some(done) => done,
        None => {
            let sealed = sealed_response(k, review, decisions, amount, disposition).await?;
            let data = if settle {
                insurance
                    .settleClaim(U256::from(id), patient, hash, amount, sealed)
                    .calldata()
                    .clone()
            } else {
                insurance
                    .approveClaim(U256::from(id), patient, hash, amount, sealed)
                    .calldata()
                    .clone()
            };
            k.outbox.submit(&key, kind, call(k, data)).await?
        }
    };
    let _ = k.indexer.sync().await;
    Ok(Decided {
        submitted,
        amount,
        pending_second,
        paid: pay && !pending_second,
    })
}

/// The second reviewer (another kiosk of the same insurer) confirms an approval above the four-eyes threshold.
pub async fn confirm(k: &Kiosk, id: u64) -> Result<Submitted, KioskError> {
    let (patient, hash) = indexed_claim(k, id).await?;
    let data = k
        .chain
        .insurance(&k.deployment)
        .confirmApproval(U256::from(id), patient, hash)
        .calldata()
        .clone();
    let r = k
        .outbox
        .submit(
            &format!("confirm:{id}:{hash}"),
            "confirmApproval",
            call(k, data),
        )
        .await?;
    let _ = k.indexer.sync().await;
    Ok(r)
}

/// Approves `amount` for the whole claim (as [`approve`]) and pays it in the same transaction
/// (`settleClaim`) when the amount is within the insurer's four-eyes threshold; above it, the approval waits for
/// a second reviewer as before and nothing is paid yet (`Decided::paid` says which).
pub async fn settle(k: &Kiosk, id: u64, amount: U256) -> Result<Decided, KioskError> {
    let review = review(k, id).await?;
    let decisions = spread(&review, amount);
    decide_with(k, &review, &decisions, true).await
}

/// `amount` spread over the claim's items in order.
fn spread(review: &ClaimReview, amount: U256) -> Vec<ItemDecision> {
    let mut left = amount;
    review
        .items
        .iter()
        .map(|i| {
            let benefit = i.net.min(left);
            left -= benefit;
            ItemDecision {
                sequence: i.sequence,
                benefit,
                reason: (benefit < i.net).then(|| "coverage percentage".to_string()),
            }
        })
        .collect()
}

/// Approves `amount` for the whole claim (spread over its items in order), with its ClaimResponse.
pub async fn approve(k: &Kiosk, id: u64, amount: U256) -> Result<Submitted, KioskError> {
    let review = review(k, id).await?;
    if amount > review.cap {
        // Let the chain refuse it with its own error (ExceedsCoverage): nothing else checks the cap twice.
        let sealed = sealed_response(k, &review, &[], amount, "approved").await?;
        let hash = B256::from(review.claim.content_hash);
        let data = k
            .chain
            .insurance(&k.deployment)
            .approveClaim(
                U256::from(id),
                B256::from(review.claim.patient_id),
                hash,
                amount,
                sealed,
            )
            .calldata()
            .clone();
        return k
            .outbox
            .submit(
                &format!("approve:{id}:{hash}:{amount}"),
                "approveClaim",
                call(k, data),
            )
            .await;
    }
    let decisions = spread(&review, amount);
    Ok(decide(k, &review, &decisions).await?.submitted)
}

/// Denies with one of [`DENIAL_REASONS`] (every item: no benefit), with its ClaimResponse.
pub async fn deny(k: &Kiosk, id: u64, reason: u16) -> Result<Submitted, KioskError> {
    let Some((_, text)) = DENIAL_REASONS.iter().find(|(c, _)| *c == reason) else {
        return Err(KioskError::Invalid(format!(
            "unknown denial reason {reason}: use one of the listed codes"
        )));
    };
    let review = review(k, id).await?;
    let decisions: Vec<ItemDecision> = review
        .items
        .iter()
        .map(|i| ItemDecision {
            sequence: i.sequence,
            benefit: U256::ZERO,
            reason: Some((*text).to_string()),
        })
        .collect();
    let sealed = sealed_response(
        k,
        &review,
        &decisions,
        U256::ZERO,
        &format!("denied: {text}"),
    )
    .await?;
    let hash = B256::from(review.claim.content_hash);
    let data = k
        .chain
        .insurance(&k.deployment)
        .denyClaim(U256::from(id), hash, reason, sealed)
        .calldata()
        .clone();
    k.outbox
        .submit(
            &format!("deny:{id}:{hash}:{reason}"),
            "denyClaim",
            call(k, data),
        )
        .await
}

/// Pays an approved claim from escrow to the hospital, once.
pub async fn pay(k: &Kiosk, id: u64) -> Result<Submitted, KioskError> {
    let hash = indexed_claim_hash(k, id).await?;
    let data = k
        .chain
        .insurance(&k.deployment)
        .processPayment(U256::from(id), hash)
        .calldata()
        .clone();
    k.outbox
        .submit(&format!("pay:{id}:{hash}"), "processPayment", call(k, data))
        .await
}

/// The content hash of claim `id` as this kiosk's index has it (after a sync): what a decision names.
async fn indexed_claim_hash(k: &Kiosk, id: u64) -> Result<B256, KioskError> {
    Ok(indexed_claim(k, id).await?.1)
}

/// The patient and the content hash of claim `id` as this kiosk's index has it (after a sync): what a decision
/// that counts against the patient's coverage names.
async fn indexed_claim(k: &Kiosk, id: u64) -> Result<(B256, B256), KioskError> {
    let _ = k.indexer.sync().await;
    let claim = k.store.claim(id)?.ok_or(KioskError::NoSuchClaim(id))?;
    Ok((B256::from(claim.patient_id), B256::from(claim.content_hash)))
}
