//! The patient's history keys and their **key bundle** (`docs/design-v2.md`, "The card's life").
//!
//! Every record's patient slot is sealed for the patient's current history public key H. The history private
//! keys (all generations, oldest first) are granted to the card in one grant: opening it is the visit's only
//! card ECDH, and every record then opens locally. The same keys are split for recovery: share A (keys ⊕ pad)
//! sealed for the recovery key printed on the issue letter, share B (the pad) sealed for the issuing
//! hospital's record key — neither opens anything alone.
//!
//! Bundle bytes (in the registration's or replacement's calldata; its keccak256 is on chain), written compact
//! ([`BundleLayout::Compact`], 277 bytes for a new patient):
//! `0xB2 ‖ H (33, SEC1 compressed) ‖ card grant ‖ share A ‖ share B`, each part
//! `E (33, compressed ephemeral point) ‖ AES-256-GCM(keys, 32 bytes a generation) ‖ tag (16)` for one recipient,
//! its key and nonce from HKDF-SHA256(salt = E uncompressed, ikm = the ECDH x, info = [`GRANT_CONTEXT`] ‖ part
//! index ‖ patient id ‖ H), the AAD the marker byte and H. The parts are not padded: their length tells the
//! number of history-key generations, which the chain already tells (one per `CardReplaced`).
//!
//! Bundles written before (the [`BundleLayout::Envelopes`] layout, 2,391 bytes) still read:
//! `H (33) ‖ n (2) ‖ card grant (n) ‖ n (2) ‖ share A (n) ‖ n (2) ‖ share B (n)`, the three parts v2 envelopes
//! under the frame tag [`KEY_GRANT_TAG`].

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::PublicKey;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::envelope::{open_bytes_slots, PATIENT_SLOT};
use crate::error::{hex, RecordsError};
use crate::keys::{
    hkdf_sha256, key_and_nonce, uncompressed, KeyAgreement, RecipientPublicKey, SoftKey,
};

/// The frame tag of a history-key grant (not a record kind: a grant never opens as a record).
pub const KEY_GRANT_TAG: u8 = 0x80;
/// Most history-key generations a bundle carries (one per card replacement).
pub const MAX_GENERATIONS: usize = 64;
/// The first byte of a compact bundle (a bundle in the envelopes layout starts with H's SEC1 prefix, 02 or 03).
pub const COMPACT_BUNDLE: u8 = 0xB2;
/// The HKDF info prefix of a compact bundle's grant keys.
pub const GRANT_CONTEXT: &[u8] = b"carekiosk/records/bundle-v2/grant";
/// A compact grant's bytes around its keys: the ephemeral point and the AES-GCM tag.
const GRANT_OVERHEAD: usize = 33 + 16;
/// The compact bundle's header: the marker byte and H.
const COMPACT_HEADER: usize = 1 + 33;

/// How a bundle's three parts are sealed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BundleLayout {
    /// Each part is a one-recipient grant (ephemeral point, ciphertext, tag): what this build writes.
    Compact,
    /// Each part is a v2 envelope padded to a bucket: what registrations before the compact layout carry.
    Envelopes,
}

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
    /// How the parts are sealed (and so how they open).
    pub layout: BundleLayout,
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
        let point = self.history_public.to_sec1_compressed();
        let parts = [&self.card_grant, &self.share_a, &self.share_b];
        match self.layout {
            BundleLayout::Compact => {
                let mut out = vec![COMPACT_BUNDLE];
                out.extend_from_slice(&point);
                for part in parts {
                    out.extend_from_slice(part);
                }
                out
            }
            BundleLayout::Envelopes => {
                let mut out = point.to_vec();
                for part in parts {
                    out.extend_from_slice(&(part.len() as u16).to_be_bytes());
                    out.extend_from_slice(part);
                }
                out
            }
        }
    }

    /// Parses bundle bytes of either layout; never panics.
    pub fn decode(bytes: &[u8]) -> Result<KeyBundle, RecordsError> {
        if bytes.first() == Some(&COMPACT_BUNDLE) {
            decode_compact(bytes)
        } else {
            decode_envelopes(bytes)
        }
    }
}

fn bad(why: &'static str) -> RecordsError {
    RecordsError::MalformedContent(why)
}

/// `0xB2 ‖ H ‖` three parts of one length, each a grant of one to [`MAX_GENERATIONS`] keys.
fn decode_compact(bytes: &[u8]) -> Result<KeyBundle, RecordsError> {
    let point = bytes
        .get(1..COMPACT_HEADER)
        .ok_or(bad("key bundle shorter than its key"))?;
    let history_public = RecipientPublicKey::from_sec1_bytes(point)?;
    let rest = &bytes[COMPACT_HEADER..];
    let part = rest.len() / 3;
    let keys = part.saturating_sub(GRANT_OVERHEAD);
    if !rest.len().is_multiple_of(3)
        || part <= GRANT_OVERHEAD
        || !keys.is_multiple_of(32)
        || keys / 32 > MAX_GENERATIONS
    {
        return Err(bad(
            "compact key bundle's parts are not three grants of whole keys",
        ));
    }
    Ok(KeyBundle {
        history_public,
        card_grant: rest[..part].to_vec(),
        share_a: rest[part..2 * part].to_vec(),
        share_b: rest[2 * part..].to_vec(),
        layout: BundleLayout::Compact,
    })
}

/// `H ‖` three length-prefixed v2 envelopes.
fn decode_envelopes(bytes: &[u8]) -> Result<KeyBundle, RecordsError> {
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
        layout: BundleLayout::Envelopes,
    })
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
    let current = history
        .last()
        .map(SoftKey::public_key)
        .ok_or(RecordsError::NoRecipients)?;
    let h = current.to_sec1_compressed();
    let card_grant = seal_grant(CARD_GRANT, &keys, patient_id, &h, card, rng)?;
    let share_a = seal_grant(
        SHARE_A,
        &masked,
        patient_id,
        &h,
        &recovery.public_key(),
        rng,
    )?;
    let share_b = seal_grant(SHARE_B, &pad, patient_id, &h, hospital, rng)?;
    Ok(Issued {
        bundle: KeyBundle {
            history_public: current,
            card_grant,
            share_a,
            share_b,
            layout: BundleLayout::Compact,
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
    let keys = open_part(bundle, CARD_GRANT, &bundle.card_grant, patient_id, card)?;
    split(&keys, bundle)
}

/// Recovers every history key from the letter's recovery key and the issuing hospital's record key together.
pub fn recover(
    bundle: &KeyBundle,
    patient_id: [u8; 32],
    recovery: &mut SoftKey,
    hospital: &mut dyn KeyAgreement,
) -> Result<Vec<SoftKey>, RecordsError> {
    let masked = open_part(bundle, SHARE_A, &bundle.share_a, patient_id, recovery)?;
    let pad = open_part(bundle, SHARE_B, &bundle.share_b, patient_id, hospital)?;
    if masked.len() != pad.len() {
        return Err(RecordsError::MalformedContent(
            "the recovery shares do not belong together",
        ));
    }
    let keys: Zeroizing<Vec<u8>> =
        Zeroizing::new(masked.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect());
    split(&keys, bundle)
}

/// The parts' indexes in the grant key derivation.
const CARD_GRANT: u8 = 0;
const SHARE_A: u8 = 1;
const SHARE_B: u8 = 2;

/// Opens one part of `bundle` with `keys`, whichever layout it has.
fn open_part(
    bundle: &KeyBundle,
    index: u8,
    part: &[u8],
    patient_id: [u8; 32],
    keys: &mut dyn KeyAgreement,
) -> Result<Zeroizing<Vec<u8>>, RecordsError> {
    match bundle.layout {
        BundleLayout::Compact => open_grant(
            index,
            part,
            patient_id,
            &bundle.history_public.to_sec1_compressed(),
            keys,
        ),
        BundleLayout::Envelopes => {
            let (tag, body) = open_bytes_slots(part, patient_id, keys, &[PATIENT_SLOT])?;
            if tag != KEY_GRANT_TAG {
                return Err(RecordsError::MalformedContent("not a history-key grant"));
            }
            Ok(body)
        }
    }
}

/// Seals `body` for `recipient` as part `index` of a compact bundle with history key `h`.
fn seal_grant(
    index: u8,
    body: &[u8],
    patient_id: [u8; 32],
    h: &[u8; 33],
    recipient: &RecipientPublicKey,
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<u8>, RecordsError> {
    let ephemeral = EphemeralSecret::random(rng);
    let ephemeral_public = ephemeral.public_key();
    let shared = ephemeral.diffie_hellman(recipient.public_key());
    let mut shared_x = Zeroizing::new([0u8; 32]);
    shared_x.copy_from_slice(shared.raw_secret_bytes());
    let (key, nonce) = grant_key(
        &shared_x,
        &uncompressed(&ephemeral_public),
        index,
        &patient_id,
        h,
    );
    let mut out = Vec::with_capacity(GRANT_OVERHEAD + body.len());
    out.extend_from_slice(ephemeral_public.to_encoded_point(true).as_bytes());
    let ciphertext = Aes256Gcm::new(key.as_ref().into())
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: body,
                aad: &grant_aad(h),
            },
        )
        .map_err(|_| RecordsError::MalformedContent("history keys too long to grant"))?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens part `index` of a compact bundle with history key `h`: one ECDH on `keys`.
fn open_grant(
    index: u8,
    part: &[u8],
    patient_id: [u8; 32],
    h: &[u8; 33],
    keys: &mut dyn KeyAgreement,
) -> Result<Zeroizing<Vec<u8>>, RecordsError> {
    let (point, ciphertext) = part
        .split_at_checked(33)
        .ok_or(bad("key grant shorter than its ephemeral key"))?;
    let ephemeral = PublicKey::from_sec1_bytes(point)
        .map_err(|_| bad("key grant's ephemeral key is not a P-256 point"))?;
    let ephemeral = uncompressed(&ephemeral);
    let shared_x = Zeroizing::new(keys.ecdh(&ephemeral)?);
    let (key, nonce) = grant_key(&shared_x, &ephemeral, index, &patient_id, h);
    Aes256Gcm::new(key.as_ref().into())
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad: &grant_aad(h),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| RecordsError::NotARecipient {
            key_id: hex(&keys.key_id()),
            recipients: 1,
        })
}

/// HKDF-SHA256(salt = the ephemeral point uncompressed, ikm = shared x,
/// info = GRANT_CONTEXT ‖ part index ‖ patient id ‖ H) → key (32) ‖ nonce (12).
fn grant_key(
    shared_x: &[u8; 32],
    ephemeral_uncompressed: &[u8; 65],
    index: u8,
    patient_id: &[u8; 32],
    h: &[u8; 33],
) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let okm = hkdf_sha256::<44>(
        Some(ephemeral_uncompressed),
        shared_x,
        &[GRANT_CONTEXT, &[index], patient_id, h],
    );
    key_and_nonce(&okm)
}

/// The marker byte and H: a grant opens only in a compact bundle of this history key.
fn grant_aad(h: &[u8; 33]) -> [u8; 34] {
    let mut aad = [0u8; 34];
    aad[0] = COMPACT_BUNDLE;
    aad[1..].copy_from_slice(h);
    aad
}

fn concat(keys: &[SoftKey]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(32 * keys.len()));
    for k in keys {
        out.extend_from_slice(k.to_bytes().as_ref());
    }
    out
}

fn split(keys: &[u8], bundle: &KeyBundle) -> Result<Vec<SoftKey>, RecordsError> {
    if keys.is_empty() || !keys.len().is_multiple_of(32) {
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
