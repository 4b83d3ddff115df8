//! Recipient keys: public keys to seal for, and the [`KeyAgreement`] that opens (a card, or [`SoftKey`]).

use std::fmt;

use hkdf::Hkdf;
use p256::elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint};
use p256::{EncodedPoint, PublicKey, SecretKey};
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use sha3::{Digest, Keccak256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{hex, KeyAgreementError, RecordsError};

/// keccak256, as the contracts compute it.
pub fn keccak256(bytes: &[u8]) -> [u8; 32] {
    Keccak256::digest(bytes).into()
}

/// The key id of a P-256 public key given as SEC1 uncompressed bytes (`04 ‖ x ‖ y`):
/// `keccak256(x ‖ y)`, the 64 coordinate bytes without the `04` prefix. This is the same hash the contracts
/// use for a patient id from a card's key (`carekiosk_chain::eip712::key_hash(qx, qy)`).
pub fn key_id(uncompressed: &[u8; 65]) -> [u8; 32] {
    keccak256(&uncompressed[1..])
}

/// Computes a raw ECDH shared secret with the private half of a P-256 key it holds — in software
/// ([`SoftKey`]) or on a card (OpenPGP card PSO:DECIPHER with the decryption key).
///
/// `&mut self` because a card session is stateful; the error lets a card say it was removed or refused.
/// Implementations return the 32-byte **x-coordinate** of `d · E` where `E` is the ephemeral point — what
/// PSO:DECIPHER returns for an ECDH key on NIST P-256 (if a card returns the whole point `04 ‖ x ‖ y`, pass
/// on `x`). This crate zeroizes its copy as soon as the key-encryption key is derived.
pub trait KeyAgreement {
    /// [`key_id`] of this key's public key. Must be cheap (no card round trip per call: cache it).
    fn key_id(&self) -> [u8; 32];

    /// ECDH with `ephemeral_public_sec1_uncompressed` (`04 ‖ x ‖ y`, already checked to be on the curve).
    fn ecdh(
        &mut self,
        ephemeral_public_sec1_uncompressed: &[u8; 65],
    ) -> Result<[u8; 32], KeyAgreementError>;
}

impl<K: KeyAgreement + ?Sized> KeyAgreement for &mut K {
    fn key_id(&self) -> [u8; 32] {
        (**self).key_id()
    }

    fn ecdh(&mut self, ephemeral: &[u8; 65]) -> Result<[u8; 32], KeyAgreementError> {
        (**self).ecdh(ephemeral)
    }
}

/// A P-256 public key a record is sealed for (a card's decryption key, an institution's or insurer's
/// encryption key).
#[derive(Clone, PartialEq, Eq)]
pub struct RecipientPublicKey {
    key: PublicKey,
    key_id: [u8; 32],
}

impl RecipientPublicKey {
    /// From SEC1 bytes, compressed (33) or uncompressed (65); rejects points not on the curve.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, RecordsError> {
        PublicKey::from_sec1_bytes(bytes)
            .map(Self::from)
            .map_err(|_| RecordsError::InvalidPublicKey)
    }

    /// From affine coordinates (as the contracts store a card key: `qx`, `qy`).
    pub fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<Self, RecordsError> {
        let point = EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
        Option::<PublicKey>::from(PublicKey::from_encoded_point(&point))
            .map(Self::from)
            .ok_or(RecordsError::InvalidPublicKey)
    }

    /// SEC1 compressed bytes (`02/03 ‖ x`), as the hub stores the emergency key.
    pub fn to_sec1_compressed(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out.copy_from_slice(self.key.to_encoded_point(true).as_bytes());
        out
    }

    /// SEC1 uncompressed encoding (`04 ‖ x ‖ y`).
    pub fn to_sec1_uncompressed(&self) -> [u8; 65] {
        uncompressed(&self.key)
    }

    /// `keccak256(x ‖ y)`, see [`key_id`].
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.key
    }
}

impl From<PublicKey> for RecipientPublicKey {
    fn from(key: PublicKey) -> Self {
        let key_id = key_id(&uncompressed(&key));
        Self { key, key_id }
    }
}

impl fmt::Debug for RecipientPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecipientPublicKey")
            .field("key_id", &hex(&self.key_id))
            .finish()
    }
}

/// HKDF-SHA256: `N` bytes from `ikm` under `salt` (`None`: the RFC's all-zero salt) and the concatenation of the
/// `info` parts. Every key this crate derives goes through it.
pub(crate) fn hkdf_sha256<const N: usize>(
    salt: Option<&[u8]>,
    ikm: &[u8],
    info: &[&[u8]],
) -> Zeroizing<[u8; N]> {
    let mut okm = Zeroizing::new([0u8; N]);
    Hkdf::<Sha256>::new(salt, ikm)
        .expand_multi_info(info, okm.as_mut())
        .expect("HKDF-SHA256 gives up to 8,160 bytes; callers ask for at most 44");
    okm
}

/// The first 32 bytes of a 44-byte HKDF output as an AES-256 key, the last 12 as its GCM nonce.
pub(crate) fn key_and_nonce(okm: &[u8; 44]) -> (Zeroizing<[u8; 32]>, [u8; 12]) {
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&okm[..32]);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    (key, nonce)
}

pub(crate) fn uncompressed(key: &PublicKey) -> [u8; 65] {
    let point = key.to_encoded_point(false);
    let mut out = [0u8; 65];
    out.copy_from_slice(point.as_bytes());
    out
}

/// A P-256 key held in memory (the institution's encryption key, kept by another crate in the OS keyring, or
/// a test key). The secret scalar is zeroized on drop (by `p256::SecretKey`); `Debug` prints the key id only.
#[derive(Clone)]
pub struct SoftKey {
    secret: SecretKey,
    public: RecipientPublicKey,
}

impl SoftKey {
    /// A fresh key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self::generate_with(&mut rand_core::OsRng)
    }

    /// A fresh key from `rng`.
    pub fn generate_with(rng: &mut (impl CryptoRng + RngCore)) -> Self {
        Self::from_secret(SecretKey::random(rng))
    }

    /// From the 32-byte big-endian secret scalar (as stored in the keyring).
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, RecordsError> {
        SecretKey::from_bytes(secret.into())
            .map(Self::from_secret)
            .map_err(|_| RecordsError::InvalidSecretKey)
    }

    /// The 32-byte big-endian secret scalar, to store; zeroized when dropped.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut field = self.secret.to_bytes();
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&field);
        field.zeroize();
        out
    }

    /// The public half, to seal for.
    pub fn public_key(&self) -> RecipientPublicKey {
        self.public.clone()
    }

    fn from_secret(secret: SecretKey) -> Self {
        let public = RecipientPublicKey::from(secret.public_key());
        Self { secret, public }
    }
}

impl KeyAgreement for SoftKey {
    fn key_id(&self) -> [u8; 32] {
        self.public.key_id
    }

    fn ecdh(&mut self, ephemeral: &[u8; 65]) -> Result<[u8; 32], KeyAgreementError> {
        let peer = PublicKey::from_sec1_bytes(ephemeral).map_err(|_| {
            KeyAgreementError::Failed("the ephemeral key is not a P-256 point".into())
        })?;
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), peer.as_affine());
        let mut out = [0u8; 32];
        out.copy_from_slice(shared.raw_secret_bytes());
        Ok(out)
    }
}

impl fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftKey")
            .field("key_id", &hex(&self.public.key_id))
            .field("secret", &"<redacted>")
            .finish()
    }
}
