//! The patient's history keys and their **key bundle** (`docs/design-v2.md`, "The card's life").
//!
//! Every record's patient slot is sealed for the patient's current history public key H. The history private
//! keys (all generations, oldest first) are granted to the card in one envelope: opening it is the visit's only
//! card ECDH, and every record then opens locally. The same keys are split for recovery: share A (keys ⊕ pad)
//! sealed for the recovery key printed on the issue letter, share B (the pad) sealed for the issuing
//! hospital's record key — neither opens anything alone.
//!
//! Bundle bytes (in the registration's or replacement's calldata; its keccak256 is on chain):
//! `H (33, SEC1 compressed) ‖ n (2) ‖ card grant (n) ‖ n (2) ‖ share A (n) ‖ n (2) ‖ share B (n)`, the three
//! parts v2 envelopes under the frame tag [`KEY_GRANT_TAG`].

use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::envelope::{open_bytes_slots, seal_bytes_with_rng, PATIENT_SLOT};
use crate::error::RecordsError;
use crate::keys::{KeyAgreement, RecipientPublicKey, SoftKey};

/// The frame tag of a history-key grant (not a record kind: a grant never opens as a record).
pub const KEY_GRANT_TAG: u8 = 0x80;
/// Most history-key generations a bundle carries (one per card replacement).
pub const MAX_GENERATIONS: usize = 64;

/// The parsed key bundle of a patient.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyBundle {
    /// The current history public key: what new records are sealed for.
    pub history_public: RecipientPublicKey,
    /// Every history private key, sealed for the card's decryption key.
    pub card_grant: Vec<u8>,
    /// The keys XOR a pad, sealed for the recovery key (the letter).
    pub share_a: Vec<u8>,
    /// The pad, sealed for the issuing hospital's record key.
    pub share_b: Vec<u8>,
}

impl std::fmt::Debug for KeyBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyBundle")
            .field("history_public", &self.history_public)
            .finish_non_exhaustive()
    }
}

impl KeyBundle {
    /// The bytes that go on chain.
    pub fn encode(&self) -> Vec<u8> {
        let point = self.history_public.public_key().to_encoded_point(true);
        let mut out = point.as_bytes().to_vec();
        for part in [&self.card_grant, &self.share_a, &self.share_b] {
            out.extend_from_slice(&(part.len() as u16).to_be_bytes());
            out.extend_from_slice(part);
        }
        out
    }

    /// Parses bundle bytes; never panics.
    pub fn decode(bytes: &[u8]) -> Result<KeyBundle, RecordsError> {
        let bad = |why: &'static str| RecordsError::MalformedContent(why);
        let point = bytes
            .get(..33)
            .ok_or(bad("key bundle shorter than its key"))?;
        let history_public = RecipientPublicKey::from_sec1_bytes(point)?;
        let mut rest = &bytes[33..];
        let mut parts = Vec::with_capacity(3);
        for _ in 0..3 {
            let len = rest.get(..2).ok_or(bad("key bundle truncated"))?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            let part = rest
                .get(2..2 + len)
                .ok_or(bad("key bundle part truncated"))?;
            parts.push(part.to_vec());
            rest = &rest[2 + len..];
        }
        if !rest.is_empty() {
            return Err(bad("key bundle has trailing bytes"));
        }
        let share_b = parts.pop().unwrap_or_default();
        let share_a = parts.pop().unwrap_or_default();
        let card_grant = parts.pop().unwrap_or_default();
        Ok(KeyBundle {
            history_public,
            card_grant,
            share_a,
            share_b,
        })
    }
}

/// A new bundle and the secrets only the issuing desk sees (briefly).
pub struct Issued {
    /// The bundle to put on chain.
    pub bundle: KeyBundle,
    /// Every history key, oldest first; the last is the current one (what new records are sealed for).
    pub history: Vec<SoftKey>,
    /// The recovery key: its secret is printed on the letter and then forgotten.
    pub recovery: SoftKey,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("bundle", &self.bundle)
            .finish_non_exhaustive()
    }
}

/// Issues a bundle for `patient_id`: a new history key after `previous` (none for a new patient; every earlier
/// key after a card replacement), granted to `card`, split between `recovery` (a new one if `None`) and
/// `hospital`.
pub fn issue_bundle(
    patient_id: [u8; 32],
    card: &RecipientPublicKey,
    hospital: &RecipientPublicKey,
    previous: &[SoftKey],
    recovery: Option<SoftKey>,
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Issued, RecordsError> {
    if previous.len() >= MAX_GENERATIONS {
        return Err(RecordsError::MalformedContent(
            "too many history-key generations",
        ));
    }
    let mut history = previous.to_vec();
    history.push(SoftKey::generate_with(rng));
    let recovery = recovery.unwrap_or_else(|| SoftKey::generate_with(rng));
    let keys = concat(&history);
    let mut pad = Zeroizing::new(vec![0u8; keys.len()]);
    rng.try_fill_bytes(&mut pad)
        .map_err(|_| RecordsError::Randomness)?;
    let masked: Zeroizing<Vec<u8>> =
        Zeroizing::new(keys.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect());
    let card_grant = seal_bytes_with_rng(
        KEY_GRANT_TAG,
        &keys,
        patient_id,
        std::slice::from_ref(card),
        rng,
    )?;
    let share_a = seal_bytes_with_rng(
        KEY_GRANT_TAG,
        &masked,
        patient_id,
        &[recovery.public_key()],
        rng,
    )?;
    let share_b = seal_bytes_with_rng(
        KEY_GRANT_TAG,
        &pad,
        patient_id,
        std::slice::from_ref(hospital),
        rng,
    )?;
    let current = history
        .last()
        .map(SoftKey::public_key)
        .ok_or(RecordsError::NoRecipients)?;
    Ok(Issued {
        bundle: KeyBundle {
            history_public: current,
            card_grant,
            share_a,
            share_b,
        },
        history,
        recovery,
    })
}

/// Opens the card grant with the card: one ECDH. Returns every history key, oldest first.
pub fn open_card_grant(
    bundle: &KeyBundle,
    patient_id: [u8; 32],
    card: &mut dyn KeyAgreement,
) -> Result<Vec<SoftKey>, RecordsError> {
    let (tag, keys) = open_bytes_slots(&bundle.card_grant, patient_id, card, &[PATIENT_SLOT])?;
    split(tag, &keys, bundle)
}

/// Recovers every history key from the letter's recovery key and the issuing hospital's record key together.
pub fn recover(
    bundle: &KeyBundle,
    patient_id: [u8; 32],
    recovery: &mut SoftKey,
    hospital: &mut dyn KeyAgreement,
) -> Result<Vec<SoftKey>, RecordsError> {
    let (tag_a, masked) = open_bytes_slots(&bundle.share_a, patient_id, recovery, &[PATIENT_SLOT])?;
    let (tag_b, pad) = open_bytes_slots(&bundle.share_b, patient_id, hospital, &[PATIENT_SLOT])?;
    if tag_a != KEY_GRANT_TAG || masked.len() != pad.len() {
        return Err(RecordsError::MalformedContent(
            "the recovery shares do not belong together",
        ));
    }
    let keys: Zeroizing<Vec<u8>> =
        Zeroizing::new(masked.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect());
    split(tag_b, &keys, bundle)
}

fn concat(keys: &[SoftKey]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(32 * keys.len()));
    for k in keys {
        out.extend_from_slice(k.to_bytes().as_ref());
    }
    out
}

fn split(tag: u8, keys: &[u8], bundle: &KeyBundle) -> Result<Vec<SoftKey>, RecordsError> {
    if tag != KEY_GRANT_TAG || keys.is_empty() || !keys.len().is_multiple_of(32) {
        return Err(RecordsError::MalformedContent("not a history-key grant"));
    }
    let out = keys
        .chunks_exact(32)
        .map(|c| {
            let bytes: [u8; 32] = c.try_into().map_err(|_| RecordsError::InvalidSecretKey)?;
            SoftKey::from_bytes(&bytes)
        })
        .collect::<Result<Vec<_>, _>>()?;
    if out.last().map(SoftKey::public_key) != Some(bundle.history_public.clone()) {
        return Err(RecordsError::MalformedContent(
            "the granted keys do not match the bundle's history key",
        ));
    }
    Ok(out)
}
