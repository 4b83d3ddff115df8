//! The EIP-712 messages a patient card signs, computed exactly as the contracts compute them.
//!
//! Domain: name "carekiosk", version "2" (`docs/design-v2.md`), the chain id, and the PatientSmartCard (hub) address, so a signature is
//! bound to one chain and one deployment. The card signs the 32-byte digest with its P-256 key; the contracts
//! accept only low-s signatures, so [`CardSignature::new`] normalises s.

use alloy::primitives::{keccak256, Address, B256, U256};
use alloy::sol_types::{eip712_domain, Eip712Domain, SolStruct};

use crate::bindings;

alloy::sol! {
    /// A hospital registers the patient whose card signs this, with the hash of their recovery key (the issue
    /// letter) and of their key bundle.
    #[derive(Debug)]
    struct RegisterPatient { bytes32 patientId; address hospital; bytes32 recoveryKeyHash; bytes32 keyBundleHash; uint256 deadline; }
    /// The recovery key (the letter) or the card reports the card lost: it signs nothing that counts any more.
    #[derive(Debug)]
    struct ReportLost { bytes32 patientId; uint64 epoch; uint64 signedAt; }
    /// The patient grants an institution `scope` until `validUntil`, in their current consent epoch; `signedAt`
    /// orders it against the same institution's other consents and revocations and must be recent on chain.
    #[derive(Debug)]
    struct Consent { bytes32 patientId; address institution; uint8 scope; uint64 validUntil; uint64 epoch; uint64 signedAt; }
    /// The patient ends an institution's access (beats every consent signed before `signedAt`).
    #[derive(Debug)]
    struct RevokeConsent { bytes32 patientId; address institution; uint64 signedAt; }
    /// The patient ends every institution's access at once: the consent epoch moves on.
    #[derive(Debug)]
    struct RevokeAllConsents { bytes32 patientId; uint64 epoch; uint64 signedAt; }
    /// The patient cancels one of their prescriptions that is still ready.
    #[derive(Debug)]
    struct CancelPrescription { uint256 prescriptionId; uint64 signedAt; }
    /// A new card takes over a patient: signed by the recovery key and by the new card.
    #[derive(Debug)]
    struct ReplaceCard { bytes32 patientId; bytes32 newCardKeyHash; address hospital; bytes32 newRecoveryKeyHash; bytes32 keyBundleHash; uint64 epoch; uint64 signedAt; }
    /// The patient, present at the pharmacy, lets it dispense `part` (of 10,000) of one prescription, with the
    /// sealed dispense record whose hash is `contentHash`.
    #[derive(Debug)]
    struct Dispense { uint256 prescriptionId; address pharmacy; uint16 part; bytes32 contentHash; uint256 nonce; uint256 deadline; }
    /// The prescription token's key (a representative, without the card) lets one pharmacy dispense the rest.
    #[derive(Debug)]
    struct DispenseByToken { uint256 prescriptionId; address pharmacy; bytes32 contentHash; uint256 deadline; }
    /// Registration as one step (`HospitalRecord.registerAndConsent`): the registration and the hospital's
    /// consent (epoch 1) under one card signature.
    #[derive(Debug)]
    struct RegisterWithConsent { RegisterPatient registration; Consent consent; }
    /// The pharmacy's step (`PharmacyAccess.dispenseWithConsent`): its consent and the dispense under one card
    /// signature.
    #[derive(Debug)]
    struct DispenseWithConsent { Consent consent; Dispense dispense; }
}

/// The order n of the NIST P-256 group.
pub const P256_N: U256 = U256::from_be_slice(&alloy::hex!(
    "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"
));

/// The EIP-712 domain of a deployment.
pub fn domain(chain_id: u64, hub: Address) -> Eip712Domain {
    eip712_domain! { name: "carekiosk", version: "2", chain_id: chain_id, verifying_contract: hub, }
}

/// The digest the card signs for `message` under `domain`.
pub fn digest<T: SolStruct>(message: &T, domain: &Eip712Domain) -> B256 {
    message.eip712_signing_hash(domain)
}

/// The patient id (and initial card key hash): keccak256 of the card's public key coordinates.
pub fn key_hash(qx: B256, qy: B256) -> B256 {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(qx.as_slice());
    buf[32..].copy_from_slice(qy.as_slice());
    keccak256(buf)
}

/// A card's public key with its signature over one digest, as the contracts take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardSignature {
    /// Public key x.
    pub qx: B256,
    /// Public key y.
    pub qy: B256,
    /// Signature r.
    pub r: B256,
    /// Signature s, low-s.
    pub s: B256,
}

impl CardSignature {
    /// Builds a signature, normalising s to the lower half of the group order.
    pub fn new(qx: B256, qy: B256, r: B256, s: B256) -> Self {
        Self {
            qx,
            qy,
            r,
            s: low_s(s),
        }
    }

    /// The id of the patient whose card this is (for a card that was never replaced).
    pub fn key_hash(&self) -> B256 {
        key_hash(self.qx, self.qy)
    }
}

/// s, or n − s when s is in the upper half of the group order.
pub fn low_s(s: B256) -> B256 {
    let v = U256::from_be_bytes(s.0);
    if v > P256_N >> 1 {
        B256::from((P256_N - v).to_be_bytes())
    } else {
        s
    }
}

macro_rules! into_card_sig {
    ($($m:ident),*) => {$(
        impl From<CardSignature> for bindings::$m::CardSig {
            fn from(c: CardSignature) -> Self {
                Self { qx: c.qx, qy: c.qy, r: c.r, s: c.s }
            }
        }
    )*};
}
into_card_sig!(
    PatientSmartCard,
    PharmacyAccess,
    HospitalRecord,
    InsuranceProvider
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_s_folds_the_upper_half() {
        let half_n: U256 = P256_N >> 1usize;
        let half = B256::from(half_n.to_be_bytes::<32>());
        assert_eq!(low_s(half), half);
        let high = B256::from((P256_N - U256::from(5)).to_be_bytes::<32>());
        assert_eq!(low_s(high), B256::from(U256::from(5).to_be_bytes::<32>()));
    }

    #[test]
    fn typehashes_match_the_solidity_strings() {
        assert_eq!(
            RegisterPatient::eip712_type_hash(&RegisterPatient {
                patientId: B256::ZERO,
                hospital: Address::ZERO,
                recoveryKeyHash: B256::ZERO,
                keyBundleHash: B256::ZERO,
                deadline: U256::ZERO
            }),
            keccak256("RegisterPatient(bytes32 patientId,address hospital,bytes32 recoveryKeyHash,bytes32 keyBundleHash,uint256 deadline)")
        );
        let d = Dispense {
            prescriptionId: U256::ZERO,
            pharmacy: Address::ZERO,
            part: 0,
            contentHash: B256::ZERO,
            nonce: U256::ZERO,
            deadline: U256::ZERO,
        };
        assert_eq!(
            d.eip712_type_hash(),
            keccak256(
                "Dispense(uint256 prescriptionId,address pharmacy,uint16 part,bytes32 contentHash,uint256 nonce,uint256 deadline)"
            )
        );
        let t = DispenseByToken {
            prescriptionId: U256::ZERO,
            pharmacy: Address::ZERO,
            contentHash: B256::ZERO,
            deadline: U256::ZERO,
        };
        assert_eq!(
            t.eip712_type_hash(),
            keccak256(
                "DispenseByToken(uint256 prescriptionId,address pharmacy,bytes32 contentHash,uint256 deadline)"
            )
        );
        let c = Consent {
            patientId: B256::ZERO,
            institution: Address::ZERO,
            scope: 0,
            validUntil: 0,
            epoch: 0,
            signedAt: 0,
        };
        assert_eq!(
            c.eip712_type_hash(),
            keccak256("Consent(bytes32 patientId,address institution,uint8 scope,uint64 validUntil,uint64 epoch,uint64 signedAt)")
        );
        let r = RevokeAllConsents {
            patientId: B256::ZERO,
            epoch: 0,
            signedAt: 0,
        };
        assert_eq!(
            r.eip712_type_hash(),
            keccak256("RevokeAllConsents(bytes32 patientId,uint64 epoch,uint64 signedAt)")
        );
        let x = CancelPrescription {
            prescriptionId: U256::ZERO,
            signedAt: 0,
        };
        assert_eq!(
            x.eip712_type_hash(),
            keccak256("CancelPrescription(uint256 prescriptionId,uint64 signedAt)")
        );
    }

    #[test]
    fn digest_changes_with_chain_and_deployment() {
        let m = RevokeConsent {
            patientId: B256::repeat_byte(1),
            institution: Address::repeat_byte(2),
            signedAt: 3,
        };
        let a = digest(&m, &domain(31337, Address::repeat_byte(9)));
        assert_ne!(a, digest(&m, &domain(42220, Address::repeat_byte(9))));
        assert_ne!(a, digest(&m, &domain(31337, Address::repeat_byte(8))));
    }
}
