//! The patient's own view, at any desk with their card and PIN: who holds consent now, the access log (every
//! chain event about them, from the indexer, records opened with their history keys to name their kind, and
//! every emergency read of their emergency set), and revoking one institution's consent or all of them with a
//! card signature.

use alloy::primitives::Address;
use carekiosk_chain::eip712::{self, RevokeAllConsents, RevokeConsent};
use carekiosk_records::emergency;

use super::{domain, history, require_patient, scope_names};
use crate::outbox::{Call, Submitted};
use crate::{Kiosk, KioskError, PatientSession};

/// A consent the patient has given and that is open now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldConsent {
    /// The institution's address.
    pub institution: Address,
    /// Its name (from the deployment's directory; the address when unknown).
    pub name: String,
    /// Its role ("hospital", "pharmacy", "insurer"; "unknown").
    pub role: String,
    /// Scope bits.
    pub scope: u8,
    /// End of the window (unix seconds).
    pub valid_until: u64,
}

/// One line of the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Block time (unix seconds).
    pub time: u64,
    /// Block (orders entries of the same second).
    pub block: u64,
    /// What happened: `record`, `prescribed`, `dispensed`, `rx-cancelled`, `claim`, `claim-approved`,
    /// `claim-denied`, `claim-paid`, `consent`, `consent-revoked`, `all-consents-revoked`, `registered`,
    /// `card-lost`, `card-replaced`, `emergency-read`.
    pub event: String,
    /// The institution it names (its name), if any.
    pub institution: Option<String>,
    /// One human line: "Demo Hospital wrote a Condition", "consent: read, write until 2027-03-02".
    pub summary: String,
}

/// One emergency read of the patient's emergency set, as the patient sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyRead {
    /// When the trace landed on chain.
    pub time: u64,
    /// When the card was read (the reading kiosk's clock).
    pub read_at: u64,
    /// The hospital.
    pub hospital: Address,
    /// Its name.
    pub hospital_name: String,
    /// Who read it.
    pub clinician: String,
    /// Why.
    pub reason: String,
}

/// The name and role of an institution, by address.
pub(crate) fn institution_name(k: &Kiosk, address: &Address) -> (String, String) {
    k.deployment
        .institutions
        .iter()
        .find(|i| &i.address == address)
        .map(|i| (i.name.clone(), role_name(i.role)))
        .unwrap_or_else(|| (address.to_string(), "unknown".into()))
}

/// The name of an institution, by its on-chain id.
pub(crate) fn institution_name_by_id(k: &Kiosk, id: u32) -> String {
    k.deployment
        .institutions
        .iter()
        .find(|i| i.id == id)
        .map(|i| i.name.clone())
        .unwrap_or_else(|| format!("institution #{id}"))
}

fn role_name(role: carekiosk_chain::bindings::Role) -> String {
    use carekiosk_chain::bindings::Role;
    match role {
        Role::Hospital => "hospital",
        Role::Pharmacy => "pharmacy",
        Role::Insurer => "insurer",
    }
    .into()
}

/// Every consent of the patient that is open now, from the index (synced first when the node answers).
pub async fn consents(k: &Kiosk, s: &PatientSession) -> Result<Vec<HeldConsent>, KioskError> {
    let _ = k.indexer.sync().await;
    let now = k
        .chain
        .latest_timestamp()
        .await
        .unwrap_or_else(|_| Kiosk::now());
    let mut out: Vec<HeldConsent> = k
        .store
        .consents_of(&s.patient_id().0)?
        .into_iter()
        .filter(|c| c.valid_until >= now)
        .map(|c| {
            let institution = Address::from(c.institution);
            let (name, role) = institution_name(k, &institution);
            HeldConsent {
                institution,
                name,
                role,
                scope: c.scope,
                valid_until: c.valid_until,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn date(t: u64) -> String {
    carekiosk_records::FhirDate::from_unix_seconds(t as i64).to_string()
}

/// The patient's access log, oldest first: every chain event about them (from the indexer), each record named
/// by its kind (opened with the history keys: the card's one ECDH this visit), and every emergency read.
pub async fn access_log(k: &Kiosk, s: &mut PatientSession) -> Result<Vec<LogEntry>, KioskError> {
    // Syncs the index and opens every record (one card operation).
    let entries = history(k, s).await?;
    let kind_of = |index: u64| {
        entries
            .iter()
            .find(|e| e.index == index)
            .and_then(|e| e.resource.as_ref().map(|r| r.kind().to_string()))
            .unwrap_or_else(|| "an unreadable record".into())
    };
    let mut out = Vec::new();
    for e in k.store.patient_log(&s.patient_id().0)? {
        let by_addr = e
            .institution
            .map(|a| institution_name(k, &Address::from(a)).0);
        let by_id = e.institution_id.map(|id| institution_name_by_id(k, id));
        let who = by_addr.clone().or(by_id.clone());
        let name = who.clone().unwrap_or_else(|| "someone".into());
        let id = e.ref_id.unwrap_or_default();
        let amount = e.amount.map(|a| a.to_string()).unwrap_or_default();
        let summary = match e.event.as_str() {
            "record" => format!("{name} wrote {} (entry {id})", kind_of(id)),
            "prescribed" => format!("{name} issued prescription {id}"),
            "dispensed" => {
                let part = e.valid_until.unwrap_or(10_000);
                let token = if e.scope == Some(1) {
                    ", to a representative with the token"
                } else {
                    ""
                };
                if part >= 10_000 {
                    format!("{name} dispensed prescription {id}{token}")
                } else {
                    format!(
                        "{name} dispensed prescription {id} in part ({}%){token}",
                        part / 100
                    )
                }
            }
            "claim-proposed" => {
                format!("claim {id} approved by a first reviewer, waiting for a second")
            }
            "rx-cancelled" => format!("prescription {id} was cancelled"),
            "claim" => format!("{name} billed claim {id} ({amount} token units)"),
            "claim-approved" => format!("claim {id} approved ({amount} token units)"),
            "claim-denied" => format!("claim {id} denied"),
            "claim-paid" => format!("claim {id} paid ({amount} token units)"),
            "consent" => format!(
                "consent to {name}: {} until {}",
                scope_names(e.scope.unwrap_or_default()).join(", "),
                date(e.valid_until.unwrap_or_default())
            ),
            "consent-revoked" => format!("consent to {name} revoked"),
            "all-consents-revoked" => "every consent ended".into(),
            "registered" => format!("registered at {name}"),
            "card-lost" => "card reported lost".into(),
            "card-replaced" => format!("new card issued at {name}"),
            "enrolled" => format!("enrolled by {name}, with the card's consent"),
            other => other.to_string(),
        };
        out.push(LogEntry {
            time: e.time,
            block: e.block,
            event: e.event,
            institution: who,
            summary,
        });
    }
    for r in emergency_reads(k, s).await? {
        out.push(LogEntry {
            time: r.time,
            block: 0,
            event: "emergency-read".into(),
            institution: Some(r.hospital_name.clone()),
            summary: format!(
                "emergency read at {} by {}: {}",
                r.hospital_name, r.clinician, r.reason
            ),
        });
    }
    out.sort_by_key(|e| e.time);
    Ok(out)
}

/// Every emergency read of this patient's emergency set: the chain's traces (in the index) whose tag one of
/// the patient's trace keys (from their history keys, open this visit) recognises.
pub async fn emergency_reads(
    k: &Kiosk,
    s: &mut PatientSession,
) -> Result<Vec<EmergencyRead>, KioskError> {
    super::unlock_history(k, s).await?;
    let keys = s.trace_keys();
    let mut out = Vec::new();
    for t in k.store.emergency_traces()? {
        for key in &keys {
            if let Ok(Some(note)) = emergency::open_trace(key, &t.tag, &t.note) {
                let hospital = Address::from(t.hospital);
                out.push(EmergencyRead {
                    time: t.time,
                    read_at: note.read_at,
                    hospital,
                    hospital_name: institution_name(k, &hospital).0,
                    clinician: note.clinician.clone(),
                    reason: note.reason.clone(),
                });
                break;
            }
        }
    }
    Ok(out)
}

/// A revocation is signed against the chain's clock and the consent it ends: it needs the node.
fn needs_node(e: KioskError) -> KioskError {
    if e.is_offline() {
        KioskError::Invalid(
            "the node is unreachable and a revocation is checked against the chain: nothing was signed; \
             revoke again when the kiosk is back online"
                .into(),
        )
    } else {
        e
    }
}

/// The card revokes `institution`'s consent (signed now, later than the consent it ends).
pub async fn revoke(
    k: &Kiosk,
    s: &mut PatientSession,
    institution: Address,
) -> Result<Submitted, KioskError> {
    revoke_one(k, s, institution).await.map_err(needs_node)
}

async fn revoke_one(
    k: &Kiosk,
    s: &mut PatientSession,
    institution: Address,
) -> Result<Submitted, KioskError> {
    require_patient(k, s).await?;
    let pid = s.patient_id();
    let hub = k.chain.hub(&k.deployment);
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    let last = hub
        .consentOf(pid, institution)
        .call()
        .await
        .map_err(read)?
        .signedAt;
    let now = k.chain.latest_timestamp().await?;
    let signed_at = now.max(last + 1);
    let msg = RevokeConsent {
        patientId: pid,
        institution,
        signedAt: signed_at,
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = hub
        .revokeConsent(pid, institution, signed_at, sig.into())
        .calldata()
        .clone();
    let r = k
        .outbox
        .submit(
            &format!("revoke:{pid}:{institution}:{signed_at}"),
            "revokeConsent",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    Ok(r)
}

/// The card ends every consent of every institution at once (the patient's epoch moves on), including any
/// consent signed but not yet submitted.
pub async fn revoke_all(k: &Kiosk, s: &mut PatientSession) -> Result<Submitted, KioskError> {
    revoke_every(k, s).await.map_err(needs_node)
}

async fn revoke_every(k: &Kiosk, s: &mut PatientSession) -> Result<Submitted, KioskError> {
    require_patient(k, s).await?;
    let pid = s.patient_id();
    let hub = k.chain.hub(&k.deployment);
    let read = |e| carekiosk_chain::ChainError::from_contract_error(k.chain.url(), e);
    let epoch = hub.epochOf(pid).call().await.map_err(read)?;
    let signed_at = k.chain.latest_timestamp().await?;
    let msg = RevokeAllConsents {
        patientId: pid,
        epoch,
        signedAt: signed_at,
    };
    let sig = s.sign(eip712::digest(&msg, &domain(k)))?;
    let data = hub
        .revokeAllConsents(pid, epoch, signed_at, sig.into())
        .calldata()
        .clone();
    let r = k
        .outbox
        .submit(
            &format!("revoke-all:{pid}:{epoch}"),
            "revokeAllConsents",
            Call {
                to: k.deployment.contracts.patient_smart_card,
                data,
            },
        )
        .await?;
    let _ = k.indexer.sync().await;
    Ok(r)
}
