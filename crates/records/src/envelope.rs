//! The sealed envelope: what goes on chain as a record's bytes. See the crate documentation for the layout.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::PublicKey;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{hex, RecordsError};
use crate::keys::{keccak256, uncompressed, KeyAgreement, RecipientPublicKey};
use crate::{RecordKind, Resource};

/// The envelope format version this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;
/// Most recipients one envelope may carry.
pub const MAX_RECIPIENTS: usize = 16;
/// Largest plaintext (FHIR JSON) one envelope may carry, in bytes (64 KiB; ~1 M gas of calldata).
pub const MAX_CONTENT_LEN: usize = 64 * 1024;

/// Bytes of the fixed header (version, kind, recipient count).
pub const HEADER_LEN: usize = 3;
/// Bytes of one recipient entry: key id (32) ‖ ephemeral public key, SEC1 compressed (33) ‖ wrapped key (48).
pub const RECIPIENT_LEN: usize = 32 + 33 + WRAPPED_KEY_LEN;
/// Bytes of the content nonce.
pub const NONCE_LEN: usize = 12;
/// Bytes of an AES-GCM tag.
pub const TAG_LEN: usize = 16;
const WRAPPED_KEY_LEN: usize = 32 + TAG_LEN;

/// HKDF info prefix for a key-encryption key.
const WRAP_CONTEXT: &[u8] = b"carekiosk/records/v1/key-wrap";
/// AAD prefix for the content.
const CONTENT_CONTEXT: &[u8] = b"carekiosk/records/v1/content";

/// The sealed size of a plaintext of `content_len` bytes for `recipients` recipients.
pub const fn sealed_len(recipients: usize, content_len: usize) -> usize {
    HEADER_LEN + recipients * RECIPIENT_LEN + NONCE_LEN + content_len + TAG_LEN
}

/// One recipient entry of a parsed envelope.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WrappedKey<'a> {
    key_id: &'a [u8; 32],
    wrapped: &'a [u8; WRAPPED_KEY_LEN],
    ephemeral_point: PublicKey,
}

impl WrappedKey<'_> {
    /// The recipient's key id (see [`key_id`](crate::key_id)).
    pub fn key_id(&self) -> [u8; 32] {
        *self.key_id
    }
}

impl std::fmt::Debug for WrappedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey")
            .field("key_id", &hex(self.key_id))
            .finish_non_exhaustive()
    }
}

/// A structurally valid envelope, borrowed from its bytes: header and recipients readable, content still
/// encrypted. Obtained from [`Envelope::parse`]; [`open`] parses for you.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    kind: RecordKind,
    recipients: Vec<WrappedKey<'a>>,
    /// Everything the content's AAD covers after the patient id: header, recipients, nonce.
    header: &'a [u8],
    nonce: &'a [u8; NONCE_LEN],
    ciphertext: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Parses `sealed` strictly: version 1, a known kind, 1..=16 recipients with distinct key ids and valid
    /// ephemeral points, a ciphertext of at least one byte plus tag and at most [`MAX_CONTENT_LEN`] plus tag.
    /// Never panics, whatever the bytes.
    pub fn parse(sealed: &'a [u8]) -> Result<Self, RecordsError> {
        let (&version, rest) = sealed.split_first().ok_or(RecordsError::EnvelopeEmpty)?;
        if version != FORMAT_VERSION {
            return Err(RecordsError::UnsupportedVersion(version));
        }
        let needed = HEADER_LEN;
        let truncated = |needed| RecordsError::EnvelopeTruncated {
            len: sealed.len(),
            needed,
        };
        let [kind, count, ..] = rest else {
            return Err(truncated(needed));
        };
        let kind = RecordKind::try_from(*kind)?;
        let count = usize::from(*count);
        if count == 0 {
            return Err(RecordsError::NoRecipients);
        }
        if count > MAX_RECIPIENTS {
            return Err(RecordsError::TooManyRecipients {
                count,
                max: MAX_RECIPIENTS,
            });
        }
        let header_len = HEADER_LEN + count * RECIPIENT_LEN + NONCE_LEN;
        let min = header_len + 1 + TAG_LEN;
        if sealed.len() < min {
            return Err(truncated(min));
        }
        let content_len = sealed.len() - header_len - TAG_LEN;
        if content_len > MAX_CONTENT_LEN {
            return Err(RecordsError::ContentTooLarge {
                len: content_len,
                max: MAX_CONTENT_LEN,
            });
        }

        let mut recipients: Vec<WrappedKey<'a>> = Vec::with_capacity(count);
        for (index, entry) in sealed[HEADER_LEN..HEADER_LEN + count * RECIPIENT_LEN]
            .chunks_exact(RECIPIENT_LEN)
            .enumerate()
        {
            let (key_id, rest) = entry.split_at(32);
            let (ephemeral, wrapped) = rest.split_at(33);
            let key_id: &[u8; 32] = key_id.try_into().map_err(|_| truncated(min))?;
            let ephemeral: &[u8; 33] = ephemeral.try_into().map_err(|_| truncated(min))?;
            let wrapped: &[u8; WRAPPED_KEY_LEN] = wrapped.try_into().map_err(|_| truncated(min))?;
            if recipients.iter().any(|r| r.key_id == key_id) {
                return Err(RecordsError::DuplicateRecipient {
                    key_id: hex(key_id),
                });
            }
            // Compressed only: 02/03 ‖ x, with x on the curve (from_sec1_bytes would also take other forms).
            if !matches!(ephemeral[0], 0x02 | 0x03) {
                return Err(RecordsError::InvalidEphemeralKey { index });
            }
            let ephemeral_point = PublicKey::from_sec1_bytes(ephemeral)
                .map_err(|_| RecordsError::InvalidEphemeralKey { index })?;
            recipients.push(WrappedKey {
                key_id,
                wrapped,
                ephemeral_point,
            });
        }
        let nonce: &[u8; NONCE_LEN] = sealed[header_len - NONCE_LEN..header_len]
            .try_into()
            .map_err(|_| truncated(min))?;
        Ok(Self {
            kind,
            recipients,
            header: &sealed[..header_len],
            nonce,
            ciphertext: &sealed[header_len..],
        })
    }

    /// The format version (always [`FORMAT_VERSION`] for a parsed envelope).
    pub fn version(&self) -> u8 {
        FORMAT_VERSION
    }

    /// The record kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The recipient entries, in envelope order.
    pub fn recipients(&self) -> &[WrappedKey<'a>] {
        &self.recipients
    }

    /// The key ids the record is sealed for, in envelope order.
    pub fn recipient_key_ids(&self) -> Vec<[u8; 32]> {
        self.recipients.iter().map(WrappedKey::key_id).collect()
    }

    /// Plaintext length in bytes (the ciphertext without its tag).
    pub fn content_len(&self) -> usize {
        self.ciphertext.len() - TAG_LEN
    }

    /// Whether `key_id` is among the recipients.
    pub fn is_sealed_for(&self, key_id: &[u8; 32]) -> bool {
        self.recipients.iter().any(|r| r.key_id == key_id)
    }
}

impl std::fmt::Debug for Envelope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("version", &FORMAT_VERSION)
            .field("kind", &self.kind)
            .field("recipients", &self.recipients)
            .field("content_len", &self.content_len())
            .finish()
    }
}

/// keccak256 of the sealed bytes: the `contentHash` the contracts compute and store.
pub fn content_hash(sealed: &[u8]) -> [u8; 32] {
    keccak256(sealed)
}

/// The recipients of a record of `kind`, in envelope order: the patient's card, the authoring institution,
/// then `extra` (duplicates dropped). A [`Claim`](RecordKind::Claim) must have the insurer in `extra`, a
/// [`ClaimResponse`](RecordKind::ClaimResponse) (authored by the insurer) the hospital: for those two kinds
/// fewer than three distinct keys is [`RecordsError::ClaimPartyMissing`].
pub fn recipients_for(
    kind: RecordKind,
    patient_card: &RecipientPublicKey,
    author: &RecipientPublicKey,
    extra: &[RecipientPublicKey],
) -> Result<Vec<RecipientPublicKey>, RecordsError> {
    let mut out = vec![patient_card.clone()];
    for key in std::iter::once(author).chain(extra) {
        if !out.iter().any(|k| k.key_id() == key.key_id()) {
            out.push(key.clone());
        }
    }
    if matches!(kind, RecordKind::Claim | RecordKind::ClaimResponse) && out.len() < 3 {
        return Err(RecordsError::ClaimPartyMissing { kind });
    }
    Ok(out)
}

/// Seals `resource` of `patient_id` for `recipients` with the operating system's random number generator.
///
/// Does not validate the content: call [`Resource::validate`] first when the record is new.
pub fn seal(
    resource: &Resource,
    patient_id: [u8; 32],
    recipients: &[RecipientPublicKey],
) -> Result<Vec<u8>, RecordsError> {
    seal_with_rng(resource, patient_id, recipients, &mut rand_core::OsRng)
}

/// [`seal`] with a caller-supplied cryptographic RNG (tests, or a platform RNG).
pub fn seal_with_rng(
    resource: &Resource,
    patient_id: [u8; 32],
    recipients: &[RecipientPublicKey],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<u8>, RecordsError> {
    if recipients.is_empty() {
        return Err(RecordsError::NoRecipients);
    }
    if recipients.len() > MAX_RECIPIENTS {
        return Err(RecordsError::TooManyRecipients {
            count: recipients.len(),
            max: MAX_RECIPIENTS,
        });
    }
    for (i, r) in recipients.iter().enumerate() {
        if recipients[..i].iter().any(|o| o.key_id() == r.key_id()) {
            return Err(RecordsError::DuplicateRecipient {
                key_id: hex(&r.key_id()),
            });
        }
    }
    let kind = resource.kind();
    let plaintext = Zeroizing::new(resource.to_json()?);
    if plaintext.len() > MAX_CONTENT_LEN {
        return Err(RecordsError::ContentTooLarge {
            len: plaintext.len(),
            max: MAX_CONTENT_LEN,
        });
    }

    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.try_fill_bytes(content_key.as_mut())
        .map_err(|_| RecordsError::Randomness)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.try_fill_bytes(&mut nonce)
        .map_err(|_| RecordsError::Randomness)?;

    let mut out = Vec::with_capacity(sealed_len(recipients.len(), plaintext.len()));
    out.extend_from_slice(&[FORMAT_VERSION, kind as u8, recipients.len() as u8]);
    for recipient in recipients {
        let ephemeral = EphemeralSecret::random(rng);
        let ephemeral_public = ephemeral.public_key();
        let shared = ephemeral.diffie_hellman(recipient.public_key());
        let mut shared_x = Zeroizing::new([0u8; 32]);
        shared_x.copy_from_slice(shared.raw_secret_bytes());
        let (kek, wrap_nonce) = derive_kek(
            &shared_x,
            &uncompressed(&ephemeral_public),
            &recipient.key_id(),
            kind,
            &patient_id,
        );
        let wrapped = aead(&kek)
            .encrypt(&Nonce::from(wrap_nonce), content_key.as_slice())
            .expect("AES-GCM encrypts a 32-byte key");
        debug_assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        out.extend_from_slice(&recipient.key_id());
        out.extend_from_slice(ephemeral_public.to_encoded_point(true).as_bytes());
        out.extend_from_slice(&wrapped);
    }
    out.extend_from_slice(&nonce);
    let aad = content_aad(&patient_id, &out);
    let ciphertext = aead(&content_key)
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| RecordsError::ContentTooLarge {
            len: plaintext.len(),
            max: MAX_CONTENT_LEN,
        })?;
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a sealed record of `patient_id` that the chain lists as `expected_kind`, with `keys` (the patient's
/// card, or an institution's [`SoftKey`](crate::SoftKey)). One ECDH on `keys`, and only if it is a recipient.
pub fn open(
    sealed: &[u8],
    patient_id: [u8; 32],
    expected_kind: RecordKind,
    keys: &mut dyn KeyAgreement,
) -> Result<Resource, RecordsError> {
    let envelope = Envelope::parse(sealed)?;
    if envelope.kind != expected_kind {
        return Err(RecordsError::KindMismatch {
            expected: expected_kind,
            found: envelope.kind,
        });
    }
    let key_id = keys.key_id();
    let entry = envelope
        .recipients
        .iter()
        .find(|r| *r.key_id == key_id)
        .ok_or_else(|| RecordsError::NotARecipient {
            key_id: hex(&key_id),
            recipients: envelope.recipients.len(),
        })?;

    let ephemeral = uncompressed(&entry.ephemeral_point);
    let shared_x = Zeroizing::new(keys.ecdh(&ephemeral)?);
    let (kek, wrap_nonce) = derive_kek(&shared_x, &ephemeral, &key_id, envelope.kind, &patient_id);
    let content_key = Zeroizing::new(
        aead(&kek)
            .decrypt(&Nonce::from(wrap_nonce), entry.wrapped.as_slice())
            .map_err(|_| RecordsError::WrappedKeyRejected)?,
    );
    let content_key: &[u8; 32] = content_key
        .as_slice()
        .try_into()
        .map_err(|_| RecordsError::WrappedKeyRejected)?;

    let aad = content_aad(&patient_id, envelope.header);
    let plaintext = Zeroizing::new(
        aead(content_key)
            .decrypt(
                &Nonce::from(*envelope.nonce),
                Payload {
                    msg: envelope.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| RecordsError::ContentRejected)?,
    );
    let resource = Resource::from_json(&plaintext)?;
    if resource.kind() != envelope.kind {
        return Err(RecordsError::ContentKindMismatch {
            header: envelope.kind,
            content: resource.kind(),
        });
    }
    Ok(resource)
}

fn aead(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// HKDF-SHA256(salt = ephemeral public key (65, uncompressed), ikm = shared x,
/// info = WRAP_CONTEXT ‖ version ‖ kind ‖ patient id ‖ recipient key id) → KEK (32) ‖ wrap nonce (12).
fn derive_kek(
    shared_x: &[u8; 32],
    ephemeral_uncompressed: &[u8; 65],
    recipient_key_id: &[u8; 32],
    kind: RecordKind,
    patient_id: &[u8; 32],
) -> (Zeroizing<[u8; 32]>, [u8; NONCE_LEN]) {
    let hk = Hkdf::<Sha256>::new(Some(ephemeral_uncompressed), shared_x);
    let mut info = Vec::with_capacity(WRAP_CONTEXT.len() + 2 + 64);
    info.extend_from_slice(WRAP_CONTEXT);
    info.extend_from_slice(&[FORMAT_VERSION, kind as u8]);
    info.extend_from_slice(patient_id);
    info.extend_from_slice(recipient_key_id);
    let mut okm = Zeroizing::new([0u8; 32 + NONCE_LEN]);
    hk.expand(&info, okm.as_mut())
        .expect("44 bytes is within HKDF-SHA256's output limit");
    let mut kek = Zeroizing::new([0u8; 32]);
    kek.copy_from_slice(&okm[..32]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&okm[32..]);
    (kek, nonce)
}

/// CONTENT_CONTEXT ‖ patient id ‖ header (version, kind, count, recipient entries, nonce).
fn content_aad(patient_id: &[u8; 32], header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CONTENT_CONTEXT.len() + 32 + header.len());
    aad.extend_from_slice(CONTENT_CONTEXT);
    aad.extend_from_slice(patient_id);
    aad.extend_from_slice(header);
    aad
}
