//! The four roles' workflows, one module each. Shared steps (consent, sealing, opening) live here.

pub mod card;
pub mod doctor;
pub mod emergency;
pub mod insurer;
pub mod medication;
pub mod patient;
pub mod pharmacy;
pub mod reception;

use alloy::primitives::{Bytes, B256};
use carekiosk_chain::eip712::{self, Consent};
use carekiosk_records::{self as records, RecipientPublicKey, Resource};

use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// One entry of a patient's history, opened with their card.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    /// Position in the patient's record chain.
    pub index: u64,
    /// Institution id of the author.
    pub author: u32,
    /// The record kind (0 when the entry could not be opened: the kind is inside the encryption).
    pub kind: u8,
    /// Block time.
    pub time: u64,
    /// The index it amends, if it is an amendment.
    pub supersedes: Option<u64>,
    /// The content, or `None` when the entry cannot be opened (see `unreadable`).
    pub resource: Option<Resource>,
    /// Why the entry cannot be opened (garbage written by a faulty kiosk, sealed for a card that is gone, …):
    /// shown as one line, never an error for the whole history.
    pub unreadable: Option<String>,
}

/// The default consent window of each role, in days (Germany's ePA: 90 for hospitals, 3 for pharmacies); the
/// hub caps them at 365 / 30 / 365 (`docs/design-v2.md`).
pub fn default_window_days(scope: u8) -> u64 {
    if scope & carekiosk_chain::bindings::scope::DISPENSE != 0 {
        3
    } else {
        90
    }
}

/// What the patient agrees to at a desk: the scope bits and the window in days. The screen shows the role's
/// default ([`ConsentChoice::default_for`]) preselected; the patient may narrow it; the card signs exactly this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentChoice {
    /// Scope bits (`carekiosk_chain::bindings::scope`).
    pub scope: u8,
    /// Window in days from now.
    pub days: u64,
}

/// The most scope a role's institution may hold, and its longest window in days (the hub's ceilings).
pub fn role_limits(role: crate::KioskRole) -> (u8, u64) {
    use carekiosk_chain::bindings::{scope, Role};
    match role.chain_role() {
        Role::Hospital => (scope::HOSPITAL, 365),
        Role::Pharmacy => (scope::PHARMACY, 30),
        Role::Insurer => (scope::INSURER, 365),
    }
}

/// The names of the scope bits, for screens and logs ("read", "write", "prescribe", "dispense").
pub fn scope_names(bits: u8) -> Vec<&'static str> {
    use carekiosk_chain::bindings::scope;
    [
        (scope::READ, "read"),
        (scope::WRITE, "write"),
        (scope::PRESCRIBE, "prescribe"),
        (scope::DISPENSE, "dispense"),
    ]
    .into_iter()
    .filter(|(b, _)| bits & b != 0)
    .map(|(_, n)| n)
    .collect()
}

/// Parses scope names ("read,write" or "read write"; "all" = the role's ceiling) into bits.
pub fn parse_scope(text: &str, role: crate::KioskRole) -> Result<u8, KioskError> {
    use carekiosk_chain::bindings::scope;
    let mut bits = 0u8;
    for word in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
    {
        bits |= match word.to_ascii_lowercase().as_str() {
            "read" => scope::READ,
            "write" => scope::WRITE,
            "prescribe" => scope::PRESCRIBE,
            "dispense" => scope::DISPENSE,
            "all" => role_limits(role).0,
            other => {
                return Err(KioskError::Invalid(format!(
                    "unknown consent scope {other:?}: use read, write, prescribe, dispense (or all)"
                )))
            }
        };
    }
    Ok(bits)
}

impl ConsentChoice {
    /// The role's default: its whole ceiling for its default window.
    pub fn default_for(role: crate::KioskRole) -> ConsentChoice {
        let scope = role_limits(role).0;
        ConsentChoice {
            scope,
            days: default_window_days(scope),
        }
    }

    /// Refuses, before the card is asked, a choice the hub would refuse: nothing chosen, more than the role may
    /// hold, a window of zero days or longer than the role's ceiling.
    pub fn check(&self, role: crate::KioskRole) -> Result<(), KioskError> {
        let (ceiling, max_days) = role_limits(role);
        if self.scope == 0 {
            return Err(KioskError::Invalid(
                "choose at least one thing to allow (read, …) before the card signs".into(),
            ));
        }
        if self.scope & !ceiling != 0 {
            return Err(KioskError::Invalid(format!(
                "a {} may hold at most {}: {} is not allowed",
                role.as_str(),
                scope_names(ceiling).join(", "),
                scope_names(self.scope & !ceiling).join(", ")
            )));
        }
        if self.days == 0 || self.days > max_days {
            return Err(KioskError::Invalid(format!(
                "the window must be 1 to {max_days} days for a {} (got {})",
                role.as_str(),
                self.days
            )));
        }
        Ok(())
    }
}

/// The consent the card would sign now for this institution: `scope` for `days`, in the patient's current epoch,
/// signed later than the pair's last consent or revocation (the chain's clock, or one second after the last one
/// when two land within a second).
pub(crate) async fn consent_now(
    k: &Kiosk,
    pid: B256,
    scope: u8,
    days: u64,
) -> Result<Consent, KioskError> {
    let hub = k.chain.hub(&k.deployment);
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    // Epoch 0 is a patient the chain does not know yet: this kiosk's registration is still in its outbox (sent
    // while the node was away). A consent counts only after that registration, which starts the epoch at 1, and
    // the outbox sends the two in order; signing 0 would make a consent the chain must refuse (`WrongEpoch`).
    let epoch = hub.epochOf(pid).call().await.map_err(read)?.max(1);
    let last = hub
        .consentOf(pid, k.institution)
        .call()
        .await
        .map(|c| c.signedAt)
        .unwrap_or_default();
    // The chain's clock when the node answers (the contract checks against it), the kiosk's otherwise.
    let now = k
        .chain
        .latest_timestamp()
        .await
        .unwrap_or_else(|_| Kiosk::now());
    let signed_at = now.max(last + 1);
    Ok(Consent {
        patientId: pid,
        institution: k.institution,
        scope,
        validUntil: signed_at + days * 86_400,
        epoch,
        signedAt: signed_at,
    })
}

/// The card signs the institution's consent ([`consent_now`]) and the kiosk submits it: a check-in. Returns the
/// write and the consent's end.
pub(crate) async fn grant_consent(
    k: &Kiosk,
    s: &mut PatientSession,
    scope: u8,
    days: u64,
) -> Result<(Submitted, u64), KioskError> {
    let pid = s.patient_id();
    // A consent of this step still on its way (the step asked again after a timeout, a pulled card, a node that
    // went away) is driven on, not signed anew: the chain keeps only the newest signing time per institution, so
    // a second consent landing first would make the first one refused as stale.
    if let Some(found) = pending_consent(k, pid, scope, days)? {
        if let Some(done) = k.outbox.resume(&found.0).await? {
            return Ok((done, found.1));
        }
    }
    let mut msg = consent_now(k, pid, scope, days).await?;
    // The same step run again within the same second (a kiosk restarted, a card pulled and put back) finds its
    // own write under the same key: it goes on with that one instead of asking the card to sign again. A key
    // whose write the chain refused is passed over (a later second).
    loop {
        let key = format!("consent:{pid}:{}:{}", k.institution, msg.signedAt);
        match k.store.outbox_by_key(&key)? {
            Some(e) if e.state == carekiosk_store::OutboxState::Failed => msg.signedAt += 1,
            Some(_) => {
                if let Some(done) = k.outbox.resume(&key).await? {
                    return Ok((done, msg.signedAt + days * 86_400));
                }
                msg.signedAt += 1;
            }
            None => break,
        }
    }
    msg.validUntil = msg.signedAt + days * 86_400;
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = k
        .chain
        .hub(&k.deployment)
        .grantConsent(
            pid,
            scope,
            msg.validUntil,
            msg.epoch,
            msg.signedAt,
            sig.into(),
        )
        .calldata()
        .clone();
    let key = format!("consent:{pid}:{}:{}", k.institution, msg.signedAt);
    let r = k
        .outbox
        .submit(
            &key,
            "grantConsent",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    Ok((r, msg.validUntil))
}

/// The newest consent of this kiosk for `pid` with `scope` and a window of `days` that is still in the outbox (not
/// yet on chain, or sent again after a reorg): its key and its end.
fn pending_consent(
    k: &Kiosk,
    pid: B256,
    scope: u8,
    days: u64,
) -> Result<Option<(String, u64)>, KioskError> {
    use alloy::sol_types::SolCall;
    let prefix = format!("consent:{pid}:{}:", k.institution);
    for e in k.outbox.pending()?.into_iter().rev() {
        if !e.idempotency_key.starts_with(&prefix) {
            continue;
        }
        let Ok(call) = serde_json::from_value::<Call>(e.payload) else {
            continue;
        };
        let Ok(c) =
            carekiosk_chain::bindings::PatientSmartCard::grantConsentCall::abi_decode(&call.data)
        else {
            continue;
        };
        if c.scope == scope && c.validUntil.saturating_sub(c.signedAt) == days * 86_400 {
            return Ok(Some((e.idempotency_key, c.validUntil)));
        }
    }
    Ok(None)
}

pub(crate) fn domain(k: &Kiosk) -> alloy::sol_types::Eip712Domain {
    eip712::domain(
        k.deployment.chain_id,
        k.deployment.contracts.patient_smart_card,
    )
}

/// Seals `resource` for the patient (their current history key), this institution, and `extra` recipients;
/// opens the patient's history keys first if this visit has not yet.
pub(crate) async fn seal(
    k: &Kiosk,
    s: &mut PatientSession,
    resource: &Resource,
    extra: &[RecipientPublicKey],
) -> Result<Bytes, KioskError> {
    unlock_history(k, s).await?;
    let today = records::FhirDate::from_unix_seconds(Kiosk::now() as i64);
    resource.validate(today)?;
    let recipients = records::recipients_for(
        resource.kind(),
        &s.history_public()?,
        &k.record_public_key(),
        extra,
    )?;
    Ok(records::seal(resource, s.patient_id().0, &recipients)?.into())
}

/// Appends a sealed record (or an amendment of `supersedes`) to the patient's chain; returns its index.
pub(crate) async fn write_record(
    k: &Kiosk,
    s: &mut PatientSession,
    resource: &Resource,
    supersedes: Option<u64>,
) -> Result<(Submitted, B256), KioskError> {
    let pid = s.patient_id();
    let sealed = seal(k, s, resource, &[]).await?;
    let content = records::content_hash(&sealed);
    let recs = k.chain.records(&k.deployment);
    let data = match supersedes {
        None => recs.addMedicalRecord(pid, sealed).calldata().clone(),
        Some(i) => recs
            .updateMedicalHistory(pid, alloy::primitives::U256::from(i), sealed)
            .calldata()
            .clone(),
    };
    let key = format!("record:{pid}:{}", alloy::hex::encode(content));
    let r = k
        .outbox
        .submit(
            &key,
            "addMedicalRecord",
            Call {
                to: k.deployment.contracts.hospital_record,
                data,
            },
        )
        .await?;
    Ok((r, B256::from(content)))
}

/// The patient's history from the cache (filled by the indexer), each entry opened with the card (or from the
/// decrypted cache while this institution's consent lasts).
pub(crate) async fn history(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<HistoryEntry>, KioskError> {
    let _ = k.indexer.sync().await; // offline: what the cache has
                                    // Decrypted content goes when the institution's consent window for the patient has ended.
    k.store.purge_expired_consents(Kiosk::now())?;
    // The visit's one card operation (skipped when the node is down and everything is in the cache).
    let mut unlock_error = unlock_history(k, s).await.err();
    let pid = s.patient_id();
    let mut out = Vec::new();
    for h in k.store.record_headers(&pid.0)? {
        let opened = match k.store.cache_get(&pid.0, &h.content_hash)? {
            Some(c) => Resource::from_json(&c.plaintext).map_err(|e| e.to_string()),
            None => {
                let sealed = k
                    .indexer
                    .sealed_payload_matching(B256::from(h.tx_hash), Some(h.content_hash))
                    .await?;
                if records::content_hash(&sealed) != h.content_hash {
                    Err("its bytes do not match their hash on chain".to_string())
                } else if let Some(e) = unlock_error.take() {
                    // The card failed (pulled, PIN) or the node is down: that stops the read.
                    return Err(e);
                } else {
                    match s.open(&sealed) {
                        Ok(r) => {
                            k.store.cache_put(
                                &pid.0,
                                &h.content_hash,
                                &k.institution.into_array(),
                                &r.to_json()?,
                                Kiosk::now(),
                            )?;
                            Ok(r)
                        }
                        // The card itself failed (pulled, PIN): that stops the read, as it should.
                        Err(e @ KioskError::Card(_)) => return Err(e),
                        Err(e) => Err(e.to_string()),
                    }
                }
            }
        };
        let (resource, unreadable) = match opened {
            Ok(r) => (Some(r), None),
            Err(why) => {
                tracing::warn!(index = h.index, "a record of the patient cannot be opened");
                (None, Some(why))
            }
        };
        out.push(HistoryEntry {
            index: h.index,
            author: h.author,
            kind: resource.as_ref().map_or(0, |r| u8::from(r.kind())),
            time: h.time,
            supersedes: h.supersedes,
            resource,
            unreadable,
        });
    }
    Ok(out)
}

/// The patient's key bundle: found in the calldata of their registration or latest card replacement (the
/// chain's events say which transaction), checked against the hash the hub keeps, and remembered by the kiosk.
pub async fn key_bundle(k: &Kiosk, pid: B256) -> Result<records::KeyBundle, KioskError> {
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    let cached = k.bundles.lock().ok().and_then(|m| m.get(&pid).cloned());
    let hub = k.chain.hub(&k.deployment);
    let want = match hub.keyBundleOf(pid).call().await {
        Ok(h) => h,
        // Node down: the bundle this kiosk saw last (public bytes, checked when they were fetched).
        Err(e) => {
            return match cached {
                Some(b) => Ok(records::KeyBundle::decode(&b)?),
                None => Err(read(e).into()),
            }
        }
    };
    if want == B256::ZERO {
        return Err(KioskError::UnknownPatient);
    }
    if let Some(b) = cached.filter(|b| carekiosk_chain::bundle::is_bundle(b, want)) {
        return Ok(records::KeyBundle::decode(&b)?);
    }
    // Where this kiosk's index saw the patient registered or their card replaced: each block asked alone (a
    // public RPC refuses a scan from the deployment block); without an index row, the whole range.
    let blocks: Vec<u64> = k
        .store
        .patient_log(&pid)?
        .iter()
        .filter(|e| e.event == "registered" || e.event == "card-replaced")
        .map(|e| e.block)
        .collect();
    let found = carekiosk_chain::bundle::key_bundle_bytes(
        &k.chain,
        k.deployment.contracts.patient_smart_card,
        pid,
        want,
        &blocks,
        k.deployment.block,
    )
    .await?;
    if let Some(bytes) = found {
        let bundle = records::KeyBundle::decode(&bytes)?;
        if let Ok(mut m) = k.bundles.lock() {
            m.insert(pid, bytes);
        }
        return Ok(bundle);
    }
    // The hub knows the bundle's hash, so its transaction is on chain: the node's logs are behind its state (a
    // load-balanced RPC, a reorg just healed). A node error: the desk tries again.
    Err(carekiosk_chain::ChainError::Node {
        url: k.chain.url().to_string(),
        reason: format!(
            "the key bundle of patient {pid} is not in its logs yet (its state has it): try again in a moment"
        ),
    }
    .into())
}

/// Opens the patient's history keys for this visit: the bundle's card grant, one card ECDH. Nothing to do when
/// they are already open.
pub async fn unlock_history(k: &Kiosk, s: &mut PatientSession) -> Result<(), KioskError> {
    if s.history_unlocked() {
        return Ok(());
    }
    let bundle = key_bundle(k, s.patient_id()).await?;
    let keys = s.open_card_grant(&bundle)?;
    s.set_history(keys, bundle.history_public);
    Ok(())
}

/// Fails unless the patient is registered and the card is their current one.
pub(crate) async fn require_patient(k: &Kiosk, s: &PatientSession) -> Result<(), KioskError> {
    let info = k
        .chain
        .hub(&k.deployment)
        .getPatientInfo(s.patient_id())
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    if !info.registered {
        return Err(KioskError::UnknownPatient);
    }
    let lost = k
        .chain
        .hub(&k.deployment)
        .cardLost(s.patient_id())
        .call()
        .await
        .map_err(|e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e))?;
    if lost {
        return Err(KioskError::Invalid(
            "this card was reported lost and signs nothing any more: the patient gets a new card at \
             reception, with their issue letter"
                .into(),
        ));
    }
    let key = &s.info.signing_key;
    if info.cardKeyHash != eip712::key_hash(B256::from(key.x()), B256::from(key.y())) {
        return Err(KioskError::Invalid(
            "this card was replaced by a newer one: use the patient's current card".into(),
        ));
    }
    Ok(())
}
