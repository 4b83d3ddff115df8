//! The sealed envelope, version 3 (version 2 still read): what goes on chain as a record's bytes. See the crate documentation for the
//! layout and `docs/design-v2.md` for why it looks like this.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::ecdh::EphemeralSecret;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::PublicKey;
use rand_core::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::error::{hex, RecordsError};
use crate::keys::{
    hkdf_sha256, keccak256, key_and_nonce, uncompressed, KeyAgreement, RecipientPublicKey,
};
use crate::{RecordKind, Resource};

/// The envelope format version this build writes (version 2 is still read).
pub const FORMAT_VERSION: u8 = 3;
/// The previous envelope format: records written before version 3 still open.
pub const FORMAT_VERSION_2: u8 = 2;
/// Recipient slots in every envelope: the patient, the author, a third party or a decoy.
pub const SLOTS: usize = 3;
/// The patient's slot (their card today): the only slot a card is asked to open.
pub const PATIENT_SLOT: usize = 0;
/// The authoring institution's slot.
pub const AUTHOR_SLOT: usize = 1;
/// The third party's slot (the insurer of a claim), or a decoy.
pub const THIRD_SLOT: usize = 2;
/// Kept for callers of version 1: every envelope now has exactly [`SLOTS`] recipient slots.
pub const MAX_RECIPIENTS: usize = SLOTS;
/// The sizes the padded plaintext may have: every sealed payload on chain is one of these plus [`OVERHEAD`].
pub const BUCKETS: [usize; 8] = [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536];
/// Largest framed plaintext (kind, flags, length, body) one envelope may carry, in bytes.
pub const MAX_CONTENT_LEN: usize = 65536;

/// Bytes of the fixed header (the version byte).
pub const HEADER_LEN: usize = 1;
/// Bytes of the ephemeral public key (SEC1 compressed) the three slots share (version 3).
pub const EPHEMERAL_LEN: usize = 33;
/// Bytes of one recipient slot (version 3): the content key XOR the slot's key-encryption key.
pub const RECIPIENT_LEN: usize = 32;
/// Bytes of an AES-GCM tag.
pub const TAG_LEN: usize = 16;
/// Bytes a sealed payload has over its padded plaintext: version, ephemeral key, slots, tag (146).
pub const OVERHEAD: usize = HEADER_LEN + EPHEMERAL_LEN + SLOTS * RECIPIENT_LEN + TAG_LEN;
/// Bytes of one recipient slot in version 2: ephemeral public key, SEC1 compressed (33) ‖ wrapped key (48).
pub const RECIPIENT_LEN_V2: usize = 33 + WRAPPED_KEY_LEN_V2;
/// Bytes of the content nonce in version 2 (version 3 has none: its content key is used once).
pub const NONCE_LEN: usize = 12;
/// Bytes a version-2 payload has over its padded plaintext: version, slots, nonce, tag (272).
pub const OVERHEAD_V2: usize = HEADER_LEN + SLOTS * RECIPIENT_LEN_V2 + NONCE_LEN + TAG_LEN;
/// Bytes of the plaintext frame before the body: kind (1) ‖ flags (1) ‖ body length (4, big-endian).
pub const FRAME_LEN: usize = 6;
const WRAPPED_KEY_LEN_V2: usize = 32 + TAG_LEN;
/// Frame flag: the body is raw DEFLATE of the FHIR JSON.
const FLAG_DEFLATE: u8 = 1;

/// HKDF info prefix for a version-2 key-encryption key.
const WRAP_CONTEXT: &[u8] = b"carekiosk/records/v2/key-wrap";
/// HKDF info prefix for a version-3 slot key.
const SLOT_CONTEXT: &[u8] = b"carekiosk/records/v3/slot-key";
/// AAD prefix for the content (both versions: the header after it names the version).
const CONTENT_CONTEXT: &[u8] = b"carekiosk/records/v2/content";

/// The bucket a framed plaintext of `framed_len` bytes is padded to (`None`: larger than the largest).
pub fn bucket_for(framed_len: usize) -> Option<usize> {
    BUCKETS.iter().copied().find(|&b| b >= framed_len)
}

/// The sealed size of a payload whose padded plaintext is `bucket` bytes.
pub const fn sealed_len(bucket: usize) -> usize {
    OVERHEAD + bucket
}

/// Whether `len` is the length of a sealed payload this build writes (one of the eight the contracts accept).
pub fn is_sealed_len(len: usize) -> bool {
    len.checked_sub(OVERHEAD)
        .is_some_and(|b| BUCKETS.contains(&b))
}

fn is_sealed_len_v2(len: usize) -> bool {
    len.checked_sub(OVERHEAD_V2)
        .is_some_and(|b| BUCKETS.contains(&b))
}

/// One recipient slot of a parsed envelope. Slots carry no key id: a reader tries its key (trial decryption).
/// In version 3 the three slots share one ephemeral key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WrappedKey<'a> {
    wrapped: &'a [u8],
    ephemeral_point: PublicKey,
}

impl std::fmt::Debug for WrappedKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedKey").finish_non_exhaustive()
    }
}

/// A structurally valid envelope, borrowed from its bytes: slots readable, content still encrypted (its kind
/// too). Obtained from [`Envelope::parse`]; [`open`] parses for you.
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope<'a> {
    version: u8,
    slots: Vec<WrappedKey<'a>>,
    /// Everything the content's AAD covers after the patient id: version, the ephemeral key or keys, the slots,
    /// and (version 2) the nonce.
    header: &'a [u8],
    nonce: [u8; NONCE_LEN],
    ciphertext: &'a [u8],
}

impl<'a> Envelope<'a> {
    /// Parses `sealed` strictly: version 3 (or 2), a length that is one of the bucket sizes plus that version's
    /// overhead ([`OVERHEAD`], [`OVERHEAD_V2`]), ephemeral keys that are compressed points on the curve. Never
    /// panics, whatever the bytes.
    pub fn parse(sealed: &'a [u8]) -> Result<Self, RecordsError> {
        let (&version, _) = sealed.split_first().ok_or(RecordsError::EnvelopeEmpty)?;
        match version {
            FORMAT_VERSION => Self::parse_v3(sealed),
            FORMAT_VERSION_2 => Self::parse_v2(sealed),
            _ => Err(RecordsError::UnsupportedVersion(version)),
        }
    }

    fn parse_v3(sealed: &'a [u8]) -> Result<Self, RecordsError> {
        if !is_sealed_len(sealed.len()) {
            return Err(RecordsError::NotABucketSize { len: sealed.len() });
        }
        let header_len = HEADER_LEN + EPHEMERAL_LEN + SLOTS * RECIPIENT_LEN;
        let ephemeral_point = compressed_point(&sealed[HEADER_LEN..HEADER_LEN + EPHEMERAL_LEN], 0)?;
        let slots = sealed[HEADER_LEN + EPHEMERAL_LEN..header_len]
            .chunks_exact(RECIPIENT_LEN)
            .map(|wrapped| WrappedKey {
                wrapped,
                ephemeral_point,
            })
            .collect();
        Ok(Self {
            version: FORMAT_VERSION,
            slots,
            header: &sealed[..header_len],
            nonce: [0u8; NONCE_LEN],
            ciphertext: &sealed[header_len..],
        })
    }

    fn parse_v2(sealed: &'a [u8]) -> Result<Self, RecordsError> {
        if !is_sealed_len_v2(sealed.len()) {
            return Err(RecordsError::NotABucketSize { len: sealed.len() });
        }
        let header_len = HEADER_LEN + SLOTS * RECIPIENT_LEN_V2 + NONCE_LEN;
        let mut slots: Vec<WrappedKey<'a>> = Vec::with_capacity(SLOTS);
        for (index, entry) in sealed[HEADER_LEN..HEADER_LEN + SLOTS * RECIPIENT_LEN_V2]
            .chunks_exact(RECIPIENT_LEN_V2)
            .enumerate()
        {
            let (ephemeral, wrapped) = entry.split_at(33);
            slots.push(WrappedKey {
                wrapped,
                ephemeral_point: compressed_point(ephemeral, index)?,
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[header_len - NONCE_LEN..header_len]);
        Ok(Self {
            version: FORMAT_VERSION_2,
            slots,
            header: &sealed[..header_len],
            nonce,
            ciphertext: &sealed[header_len..],
        })
    }

    /// The format version: [`FORMAT_VERSION`] (3) or [`FORMAT_VERSION_2`].
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The recipient slots, in envelope order (always [`SLOTS`]).
    pub fn slots(&self) -> &[WrappedKey<'a>] {
        &self.slots
    }

    /// Padded plaintext length in bytes (a bucket size; the ciphertext without its tag).
    pub fn padded_len(&self) -> usize {
        self.ciphertext.len() - TAG_LEN
    }
}

impl Envelope<'_> {
    /// The padded plaintext under `content_key` (the version's nonce, `aad`); `None` when the tag refuses it.
    fn decrypt(&self, content_key: &[u8; 32], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        aead(content_key)
            .decrypt(
                &Nonce::from(self.nonce),
                Payload {
                    msg: self.ciphertext,
                    aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

/// `a ⊕ b` over 32 bytes (a version-3 slot: the content key and the slot key); `a` shorter than 32 bytes is
/// read as zero-padded (never: a parsed slot is 32 bytes).
fn xor32(a: &[u8], b: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    let mut out = Zeroizing::new(*b);
    for (o, x) in out.iter_mut().zip(a) {
        *o ^= x;
    }
    out
}

/// A compressed SEC1 point on the curve (02/03 ‖ x: `from_sec1_bytes` would also take other forms).
fn compressed_point(bytes: &[u8], index: usize) -> Result<PublicKey, RecordsError> {
    if !matches!(bytes.first(), Some(0x02 | 0x03)) {
        return Err(RecordsError::InvalidEphemeralKey { index });
    }
    PublicKey::from_sec1_bytes(bytes).map_err(|_| RecordsError::InvalidEphemeralKey { index })
}

impl std::fmt::Debug for Envelope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Envelope")
            .field("version", &self.version)
            .field("padded_len", &self.padded_len())
            .finish()
    }
}

/// keccak256 of the sealed bytes: the `contentHash` the contracts compute and store.
pub fn content_hash(sealed: &[u8]) -> [u8; 32] {
    keccak256(sealed)
}

/// The recipients of a record of `kind`, in slot order: the patient, the authoring institution, then at most
/// one `extra` (duplicates dropped). A [`Claim`](RecordKind::Claim) must have the insurer in `extra`, a
/// [`ClaimResponse`](RecordKind::ClaimResponse) (authored by the insurer) the hospital: for those two kinds
/// fewer than three distinct keys is [`RecordsError::ClaimPartyMissing`]; more than three is
/// [`RecordsError::TooManyRecipients`].
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
    if out.len() > SLOTS {
        return Err(RecordsError::TooManyRecipients {
            count: out.len(),
            max: SLOTS,
        });
    }
    if matches!(kind, RecordKind::Claim | RecordKind::ClaimResponse) && out.len() < 3 {
        return Err(RecordsError::ClaimPartyMissing { kind });
    }
    Ok(out)
}

/// Seals `resource` of `patient_id` for `recipients` (slot order: patient, author, third party; one to three
/// keys, the rest filled with decoys) with the operating system's random number generator.
///
/// Does not validate the content: call [`Resource::validate`] first when the record is new.
pub fn seal(
    resource: &Resource,
    patient_id: [u8; 32],
    recipients: &[RecipientPublicKey],
) -> Result<Vec<u8>, RecordsError> {
    seal_with_rng(resource, patient_id, recipients, &mut rand_core::OsRng)
}

/// The framed, compressed and padded plaintext of `resource` (what [`seal`] encrypts). Public so that the
/// privacy figures can be computed without keys.
pub fn padded_plaintext(resource: &Resource) -> Result<Zeroizing<Vec<u8>>, RecordsError> {
    let json = Zeroizing::new(resource.to_json()?);
    frame(resource.kind() as u8, &json)
}

/// `tag (1) ‖ flags (1) ‖ length (4) ‖ body (DEFLATE when shorter) ‖ zeros` up to a bucket size.
fn frame(tag: u8, raw: &[u8]) -> Result<Zeroizing<Vec<u8>>, RecordsError> {
    let deflated = Zeroizing::new(miniz_oxide::deflate::compress_to_vec(raw, 9));
    let (flags, body): (u8, &[u8]) = if deflated.len() < raw.len() {
        (FLAG_DEFLATE, &deflated)
    } else {
        (0, raw)
    };
    let framed_len = FRAME_LEN + body.len();
    let bucket = bucket_for(framed_len).ok_or(RecordsError::ContentTooLarge {
        len: framed_len,
        max: MAX_CONTENT_LEN,
    })?;
    let mut out = Zeroizing::new(Vec::with_capacity(bucket));
    out.push(tag);
    out.push(flags);
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out.resize(bucket, 0);
    Ok(out)
}

/// [`seal`] with a caller-supplied cryptographic RNG (tests, or a platform RNG).
pub fn seal_with_rng(
    resource: &Resource,
    patient_id: [u8; 32],
    recipients: &[RecipientPublicKey],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<u8>, RecordsError> {
    let json = Zeroizing::new(resource.to_json()?);
    seal_bytes_with_rng(resource.kind() as u8, &json, patient_id, recipients, rng)
}

/// Seals raw bytes under a frame `tag` (a [`RecordKind`] for records; [`KEY_GRANT_TAG`](crate::KEY_GRANT_TAG)
/// for history-key grants), compressed and padded like every record.
pub fn seal_bytes_with_rng(
    tag: u8,
    body: &[u8],
    patient_id: [u8; 32],
    recipients: &[RecipientPublicKey],
    rng: &mut (impl CryptoRng + RngCore),
) -> Result<Vec<u8>, RecordsError> {
    if recipients.is_empty() {
        return Err(RecordsError::NoRecipients);
    }
    if recipients.len() > SLOTS {
        return Err(RecordsError::TooManyRecipients {
            count: recipients.len(),
            max: SLOTS,
        });
    }
    for (i, r) in recipients.iter().enumerate() {
        if recipients[..i].iter().any(|o| o.key_id() == r.key_id()) {
            return Err(RecordsError::DuplicateRecipient {
                key_id: hex(&r.key_id()),
            });
        }
    }
    let plaintext = frame(tag, body)?;

    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.try_fill_bytes(content_key.as_mut())
        .map_err(|_| RecordsError::Randomness)?;
    let ephemeral = EphemeralSecret::random(rng);
    let ephemeral_public = ephemeral.public_key();
    let ephemeral_uncompressed = uncompressed(&ephemeral_public);

    let mut out = Vec::with_capacity(sealed_len(plaintext.len()));
    out.push(FORMAT_VERSION);
    out.extend_from_slice(ephemeral_public.to_encoded_point(true).as_bytes());
    for slot in 0..SLOTS {
        let Some(recipient) = recipients.get(slot) else {
            // A decoy: 32 random bytes, like the content key under the key of a recipient nobody is.
            let mut decoy = [0u8; RECIPIENT_LEN];
            rng.try_fill_bytes(&mut decoy)
                .map_err(|_| RecordsError::Randomness)?;
            out.extend_from_slice(&decoy);
            continue;
        };
        let shared = ephemeral.diffie_hellman(recipient.public_key());
        let mut shared_x = Zeroizing::new([0u8; 32]);
        shared_x.copy_from_slice(shared.raw_secret_bytes());
        let slot_key = derive_slot_key(
            &shared_x,
            &ephemeral_uncompressed,
            slot,
            &patient_id,
            &recipient.key_id(),
        );
        out.extend_from_slice(&*xor32(&*content_key, &slot_key));
    }
    let aad = content_aad(&patient_id, &out);
    // The content key is fresh for this one encryption, so the nonce is fixed.
    let ciphertext = aead(&content_key)
        .encrypt(
            &Nonce::from([0u8; NONCE_LEN]),
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
    debug_assert!(is_sealed_len(out.len()));
    Ok(out)
}

/// Opens a sealed record of `patient_id` with `keys`, trying every slot (an institution's
/// [`SoftKey`](crate::SoftKey): one cheap ECDH per slot tried).
pub fn open(
    sealed: &[u8],
    patient_id: [u8; 32],
    keys: &mut dyn KeyAgreement,
) -> Result<Resource, RecordsError> {
    open_slots(
        sealed,
        patient_id,
        keys,
        &[AUTHOR_SLOT, THIRD_SLOT, PATIENT_SLOT],
    )
}

/// Opens a sealed record of `patient_id` as the patient: one ECDH on `keys` (the card), on the patient's slot.
pub fn open_as_patient(
    sealed: &[u8],
    patient_id: [u8; 32],
    keys: &mut dyn KeyAgreement,
) -> Result<Resource, RecordsError> {
    open_slots(sealed, patient_id, keys, &[PATIENT_SLOT])
}

/// [`open`], and the record must be of `expected` kind ([`RecordsError::KindMismatch`] otherwise).
pub fn open_expecting(
    sealed: &[u8],
    patient_id: [u8; 32],
    expected: RecordKind,
    keys: &mut dyn KeyAgreement,
) -> Result<Resource, RecordsError> {
    let resource = open(sealed, patient_id, keys)?;
    if resource.kind() != expected {
        return Err(RecordsError::KindMismatch {
            expected,
            found: resource.kind(),
        });
    }
    Ok(resource)
}

/// Opens with `keys`, trying the listed slots in order (one ECDH each until one unwraps).
pub fn open_slots(
    sealed: &[u8],
    patient_id: [u8; 32],
    keys: &mut dyn KeyAgreement,
    slots: &[usize],
) -> Result<Resource, RecordsError> {
    let (tag, json) = open_bytes_slots(sealed, patient_id, keys, slots)?;
    let kind = RecordKind::try_from(tag)?;
    let resource = Resource::from_json(&json)?;
    if resource.kind() != kind {
        return Err(RecordsError::ContentKindMismatch {
            header: kind,
            content: resource.kind(),
        });
    }
    Ok(resource)
}

/// Opens raw bytes: the frame's tag and body, trying the listed slots in order (version 3: one ECDH with the
/// shared ephemeral key, then each slot's key against the content's tag; version 2: one ECDH a slot tried).
pub fn open_bytes_slots(
    sealed: &[u8],
    patient_id: [u8; 32],
    keys: &mut dyn KeyAgreement,
    slots: &[usize],
) -> Result<(u8, Zeroizing<Vec<u8>>), RecordsError> {
    let envelope = Envelope::parse(sealed)?;
    let aad = content_aad(&patient_id, envelope.header);
    let not_a_recipient = |keys: &dyn KeyAgreement| RecordsError::NotARecipient {
        key_id: hex(&keys.key_id()),
        recipients: slots.len(),
    };
    if envelope.version == FORMAT_VERSION_2 {
        let content_key =
            unwrap_v2(&envelope, patient_id, keys, slots)?.ok_or_else(|| not_a_recipient(keys))?;
        let plaintext = envelope
            .decrypt(&content_key, &aad)
            .ok_or(RecordsError::ContentRejected)?;
        return unframe(&plaintext);
    }
    let Some(first) = envelope.slots.first() else {
        return Err(not_a_recipient(keys));
    };
    let ephemeral = uncompressed(&first.ephemeral_point);
    let shared_x = Zeroizing::new(keys.ecdh(&ephemeral)?);
    let key_id = keys.key_id();
    for &slot in slots {
        let Some(entry) = envelope.slots.get(slot) else {
            continue;
        };
        let slot_key = derive_slot_key(&shared_x, &ephemeral, slot, &patient_id, &key_id);
        // The content's tag tells whether this slot was ours.
        if let Some(plaintext) = envelope.decrypt(&xor32(entry.wrapped, &slot_key), &aad) {
            return unframe(&plaintext);
        }
    }
    Err(not_a_recipient(keys))
}

/// Version 2: the content key from the first of `slots` whose wrap opens (one ECDH a slot tried).
fn unwrap_v2(
    envelope: &Envelope<'_>,
    patient_id: [u8; 32],
    keys: &mut dyn KeyAgreement,
    slots: &[usize],
) -> Result<Option<Zeroizing<[u8; 32]>>, RecordsError> {
    for &slot in slots {
        let Some(entry) = envelope.slots.get(slot) else {
            continue;
        };
        let ephemeral = uncompressed(&entry.ephemeral_point);
        let shared_x = Zeroizing::new(keys.ecdh(&ephemeral)?);
        let (kek, wrap_nonce) = derive_kek(&shared_x, &ephemeral, slot, &patient_id);
        if let Ok(key) = aead(&kek).decrypt(&Nonce::from(wrap_nonce), entry.wrapped) {
            let key = Zeroizing::new(key);
            let key: [u8; 32] = key
                .as_slice()
                .try_into()
                .map_err(|_| RecordsError::WrappedKeyRejected)?;
            return Ok(Some(Zeroizing::new(key)));
        }
    }
    Ok(None)
}

/// Reads the frame: tag, flags, length, body (inflated if flagged), padding all zero.
fn unframe(plaintext: &[u8]) -> Result<(u8, Zeroizing<Vec<u8>>), RecordsError> {
    let malformed = |why: &'static str| RecordsError::MalformedContent(why);
    if plaintext.len() < FRAME_LEN {
        return Err(malformed("shorter than its frame"));
    }
    let kind = plaintext[0];
    let flags = plaintext[1];
    let len = u32::from_be_bytes([plaintext[2], plaintext[3], plaintext[4], plaintext[5]]) as usize;
    let body = plaintext
        .get(FRAME_LEN..FRAME_LEN.saturating_add(len))
        .ok_or(malformed("its length runs past the padding"))?;
    if plaintext[FRAME_LEN + len..].iter().any(|&b| b != 0) {
        return Err(malformed("its padding is not zero"));
    }
    let json = match flags {
        0 => Zeroizing::new(body.to_vec()),
        FLAG_DEFLATE => Zeroizing::new(
            miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_CONTENT_LEN)
                .map_err(|_| malformed("its compressed body does not inflate within 64 KiB"))?,
        ),
        _ => return Err(malformed("unknown frame flags")),
    };
    Ok((kind, json))
}

fn aead(key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

/// Version 2: HKDF-SHA256(salt = ephemeral public key (65, uncompressed), ikm = shared x,
/// info = WRAP_CONTEXT ‖ version ‖ slot ‖ patient id) → KEK (32) ‖ wrap nonce (12).
fn derive_kek(
    shared_x: &[u8; 32],
    ephemeral_uncompressed: &[u8; 65],
    slot: usize,
    patient_id: &[u8; 32],
) -> (Zeroizing<[u8; 32]>, [u8; NONCE_LEN]) {
    let okm = hkdf_sha256::<44>(
        Some(ephemeral_uncompressed),
        shared_x,
        &[WRAP_CONTEXT, &[FORMAT_VERSION_2, slot as u8], patient_id],
    );
    key_and_nonce(&okm)
}

/// Version 3: HKDF-SHA256(salt = the shared ephemeral key (65, uncompressed), ikm = shared x,
/// info = SLOT_CONTEXT ‖ version ‖ slot ‖ patient id ‖ the recipient's key id) → the slot's key (32), XORed with
/// the content key.
fn derive_slot_key(
    shared_x: &[u8; 32],
    ephemeral_uncompressed: &[u8; 65],
    slot: usize,
    patient_id: &[u8; 32],
    recipient_key_id: &[u8; 32],
) -> Zeroizing<[u8; 32]> {
    hkdf_sha256(
        Some(ephemeral_uncompressed),
        shared_x,
        &[
            SLOT_CONTEXT,
            &[FORMAT_VERSION, slot as u8],
            patient_id,
            recipient_key_id,
        ],
    )
}

/// CONTENT_CONTEXT ‖ patient id ‖ header (version, ephemeral key or keys, slots, and version 2's nonce).
fn content_aad(patient_id: &[u8; 32], header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(CONTENT_CONTEXT.len() + 32 + header.len());
    aad.extend_from_slice(CONTENT_CONTEXT);
    aad.extend_from_slice(patient_id);
    aad.extend_from_slice(header);
    aad
}
