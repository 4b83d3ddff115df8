//! A software P-256 key that signs EIP-712 digests the way a patient's OpenPGP card does. It exists for the
//! gas table, the chain tests and local demos; the kiosk signs with the real card (or the virtual card behind
//! pcscd). The key lives only in memory.

use alloy::primitives::B256;
use p256::ecdsa::{signature::hazmat::PrehashSigner, Signature, SigningKey};

use crate::eip712::CardSignature;

/// An in-memory P-256 signing key.
pub struct SoftCard {
    key: SigningKey,
}

impl std::fmt::Debug for SoftCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftCard")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

impl SoftCard {
    /// A fresh key from the OS random generator.
    pub fn generate() -> Self {
        Self {
            key: SigningKey::random(&mut rand_core::OsRng),
        }
    }

    /// A key from its 32 secret bytes (a recovery key read from an issue letter).
    pub fn from_bytes(secret: &[u8; 32]) -> Result<Self, crate::ChainError> {
        SigningKey::from_bytes(secret.into())
            .map(|key| Self { key })
            .map_err(|_| crate::ChainError::Failed("not a P-256 secret key".into()))
    }

    /// The public key (x, y).
    pub fn public(&self) -> (B256, B256) {
        let point = self.key.verifying_key().to_encoded_point(false);
        (
            B256::from_slice(point.x().expect("uncompressed")),
            B256::from_slice(point.y().expect("uncompressed")),
        )
    }

    /// The 32 secret bytes (a prescription token's key, to print once), wiped when dropped.
    pub fn secret(&self) -> zeroize::Zeroizing<[u8; 32]> {
        let mut out = zeroize::Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.key.to_bytes());
        out
    }

    /// The patient id this card registers as (keccak256(x ‖ y): also a token key's hash).
    pub fn patient_id(&self) -> B256 {
        let (x, y) = self.public();
        crate::eip712::key_hash(x, y)
    }

    /// Signs a 32-byte digest (low-s).
    pub fn sign(&self, digest: B256) -> CardSignature {
        let sig: Signature = self
            .key
            .sign_prehash(digest.as_slice())
            .expect("a 32-byte prehash always signs");
        let (r, s) = sig.split_bytes();
        let (qx, qy) = self.public();
        CardSignature::new(qx, qy, B256::from_slice(&r), B256::from_slice(&s))
    }
}

/// A stand-in recovery key hash for a patient in chain-level tests and the gas table (the kiosk uses the hash
/// of a real recovery key printed on the issue letter): distinct per patient, as the hub requires.
pub fn recovery_for(patient_id: B256) -> B256 {
    alloy::primitives::keccak256([patient_id.as_slice(), b"recovery"].concat())
}

/// Bytes the size of a real key bundle of a new patient (the compact layout: marker, the history key and three
/// one-key grants: 277 bytes), pseudo-random like ciphertext, so calldata is priced as a real registration's.
pub fn sample_key_bundle() -> alloy::primitives::Bytes {
    const LEN: usize = 1 + 33 + 3 * (33 + 32 + 16);
    let mut v = Vec::with_capacity(LEN + 8);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    while v.len() < LEN {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(LEN);
    v[0] = 0xB2;
    v.into()
}

/// A consent the card has signed, ready for `grantConsent`.
#[derive(Debug, Clone, Copy)]
pub struct SignedConsent {
    /// Scope bits.
    pub scope: u8,
    /// End of the window (unix seconds).
    pub valid_until: u64,
    /// The patient's consent epoch it was signed in.
    pub epoch: u64,
    /// When it was signed (the chain's clock).
    pub signed_at: u64,
    /// The card's signature.
    pub sig: CardSignature,
}

impl SignedConsent {
    /// Sends `grantConsent` for it from `kiosk`.
    pub async fn send(
        &self,
        chain: &crate::Chain,
        d: &crate::Deployment,
        patient_id: B256,
        kiosk: alloy::primitives::Address,
    ) -> Result<alloy::rpc::types::TransactionReceipt, crate::ChainError> {
        let hub = chain.hub(d);
        chain
            .send(
                kiosk,
                hub.grantConsent(
                    patient_id,
                    self.scope,
                    self.valid_until,
                    self.epoch,
                    self.signed_at,
                    self.sig.into(),
                ),
            )
            .await
    }
}

impl SoftCard {
    /// Signs a consent for `institution` of `scope` lasting `days`, in the patient's current epoch, signed at
    /// the chain's latest time (one second after the pair's last signed consent or revocation if that is later).
    pub async fn consent(
        &self,
        chain: &crate::Chain,
        d: &crate::Deployment,
        institution: alloy::primitives::Address,
        scope: u8,
        days: u64,
    ) -> Result<SignedConsent, crate::ChainError> {
        let pid = self.patient_id();
        let hub = chain.hub(d);
        let read = |e| crate::ChainError::from_contract(chain.url(), e);
        let epoch = hub.epochOf(pid).call().await.map_err(read)?;
        let last = hub.consentOf(pid, institution).call().await.map_err(read)?;
        let signed_at = chain.latest_timestamp().await?.max(last.signedAt + 1);
        let valid_until = signed_at + days * 86_400;
        let msg = crate::eip712::Consent {
            patientId: pid,
            institution,
            scope,
            validUntil: valid_until,
            epoch,
            signedAt: signed_at,
        };
        let domain = crate::eip712::domain(d.chain_id, d.contracts.patient_smart_card);
        Ok(SignedConsent {
            scope,
            valid_until,
            epoch,
            signed_at,
            sig: self.sign(crate::eip712::digest(&msg, &domain)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::{signature::hazmat::PrehashVerifier, VerifyingKey};

    #[test]
    fn signatures_verify_and_are_low_s() {
        let card = SoftCard::generate();
        for i in 0..32u8 {
            let digest = B256::repeat_byte(i);
            let sig = card.sign(digest);
            assert!(alloy::primitives::U256::from_be_bytes(sig.s.0) <= crate::eip712::P256_N >> 1);
            let vk = VerifyingKey::from(&card.key);
            let s = Signature::from_scalars(sig.r.0, sig.s.0).unwrap();
            vk.verify_prehash(digest.as_slice(), &s).unwrap();
        }
    }
}
