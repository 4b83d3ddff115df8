//! The data the kiosk itself parses from card answers (the rest is parsed by `openpgp-card`): the patient data
//! object, P-256 points, ECDSA signatures and ECDH results. Every parser takes arbitrary bytes and returns an
//! error, never panics (property-tested).

use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;

use crate::CardError;

/// The private-use data object holding the patient object: DO 0102, readable without a PIN, writable only with
/// the admin PIN (PW3), so neither a patient nor a thief can rewrite it. (0101 would be writable with the user PIN.)
pub const PATIENT_DO: u8 = 2;

/// The private-use data object holding the patient's emergency data set, sealed for the network's emergency
/// key: DO 0101, readable without a PIN (a hospital reads it when the patient cannot type one), writable with
/// the patient's PIN (the patient decides whether there is one and what is in it).
pub const EMERGENCY_DO: u8 = 1;

/// Format version byte of the patient object.
pub const PATIENT_OBJECT_VERSION: u8 = 1;

const TAG_PATIENT_ID: u8 = 0x01;
const TAG_CHAIN_ID: u8 = 0x02;

/// What the card says about its patient: the registry's patient id and the chain the registry lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatientObject {
    /// The patient id in the PatientSmartCard registry (keccak256 of the first card's key for a new patient).
    pub patient_id: [u8; 32],
    /// The chain id of the registry's chain.
    pub chain_id: u64,
}

impl PatientObject {
    /// Encodes as: version 01, then simple TLVs `01 20 <patient id>` and `02 08 <chain id, big-endian>`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = vec![PATIENT_OBJECT_VERSION, TAG_PATIENT_ID, 32];
        v.extend_from_slice(&self.patient_id);
        v.extend_from_slice(&[TAG_CHAIN_ID, 8]);
        v.extend_from_slice(&self.chain_id.to_be_bytes());
        v
    }

    /// Parses the DO's content; `Ok(None)` for an empty DO (no patient object yet). Unknown tags are skipped (later
    /// versions may add fields); a truncated entry, a repeated or wrongly sized field, or a missing one is an error.
    pub fn parse(bytes: &[u8]) -> Result<Option<PatientObject>, CardError> {
        let bad = |m: &str| CardError::Malformed(format!("patient object: {m}"));
        let Some((&version, mut rest)) = bytes.split_first() else {
            return Ok(None);
        };
        if version != PATIENT_OBJECT_VERSION {
            return Err(bad(&format!("unknown format version {version}")));
        }
        let (mut id, mut chain) = (None, None);
        while !rest.is_empty() {
            let [tag, len, tail @ ..] = rest else {
                return Err(bad("truncated entry"));
            };
            let len = *len as usize;
            if tail.len() < len {
                return Err(bad("truncated value"));
            }
            let (value, tail) = tail.split_at(len);
            match *tag {
                TAG_PATIENT_ID => {
                    let v: [u8; 32] = value
                        .try_into()
                        .map_err(|_| bad("patient id is not 32 bytes"))?;
                    if id.replace(v).is_some() {
                        return Err(bad("patient id twice"));
                    }
                }
                TAG_CHAIN_ID => {
                    let v: [u8; 8] = value
                        .try_into()
                        .map_err(|_| bad("chain id is not 8 bytes"))?;
                    if chain.replace(u64::from_be_bytes(v)).is_some() {
                        return Err(bad("chain id twice"));
                    }
                }
                _ => {}
            }
            rest = tail;
        }
        match (id, chain) {
            (Some(patient_id), Some(chain_id)) => Ok(Some(PatientObject {
                patient_id,
                chain_id,
            })),
            _ => Err(bad("missing patient id or chain id")),
        }
    }
}

/// A NIST P-256 public key from the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct P256PublicKey(p256::PublicKey);

impl P256PublicKey {
    /// Parses an uncompressed SEC1 point (`04 || x || y`, as the card's DO 86 holds it) and checks it is on the curve.
    pub fn from_sec1(bytes: &[u8]) -> Result<P256PublicKey, CardError> {
        if bytes.len() != 65 || bytes[0] != 0x04 {
            return Err(CardError::Malformed(format!(
                "not an uncompressed P-256 point ({} bytes)",
                bytes.len()
            )));
        }
        p256::PublicKey::from_sec1_bytes(bytes)
            .map(P256PublicKey)
            .map_err(|_| CardError::Malformed("point is not on the P-256 curve".into()))
    }

    /// The uncompressed encoding `04 || x || y`.
    pub fn to_sec1(&self) -> [u8; 65] {
        let p = self.0.to_encoded_point(false);
        let mut out = [0u8; 65];
        out.copy_from_slice(p.as_bytes());
        out
    }

    /// The x coordinate.
    pub fn x(&self) -> [u8; 32] {
        let s = self.to_sec1();
        s[1..33].try_into().expect("32 bytes")
    }

    /// The y coordinate.
    pub fn y(&self) -> [u8; 32] {
        let s = self.to_sec1();
        s[33..].try_into().expect("32 bytes")
    }

    /// The key as a `p256` public key.
    pub fn as_p256(&self) -> &p256::PublicKey {
        &self.0
    }

    /// The key as an ECDSA verifying key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from(&self.0)
    }
}

impl From<p256::PublicKey> for P256PublicKey {
    fn from(k: p256::PublicKey) -> Self {
        P256PublicKey(k)
    }
}

/// An ECDSA P-256 signature made by the card, with s in the lower half of the group order (as the contracts
/// require).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CardSignature {
    /// r, big-endian.
    pub r: [u8; 32],
    /// s, big-endian, ≤ n/2.
    pub s: [u8; 32],
}

impl CardSignature {
    /// Parses the card's `r || s` (64 bytes) and normalises s to low-s (n − s when s > n/2).
    pub fn parse(raw: &[u8]) -> Result<CardSignature, CardError> {
        if raw.len() != 64 {
            return Err(CardError::Malformed(format!(
                "signature of {} bytes, expected 64",
                raw.len()
            )));
        }
        let sig = Signature::from_slice(raw)
            .map_err(|_| CardError::Malformed("signature out of range".into()))?;
        let sig = sig.normalize_s().unwrap_or(sig);
        let (r, s) = sig.split_bytes();
        Ok(CardSignature {
            r: r.into(),
            s: s.into(),
        })
    }

    /// As a `p256` signature.
    pub fn to_p256(&self) -> Signature {
        Signature::from_scalars(self.r, self.s).expect("validated when parsed")
    }

    /// Checks the signature over a 32-byte digest against `key`.
    pub fn verify(&self, key: &P256PublicKey, digest: &[u8; 32]) -> bool {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        key.verifying_key()
            .verify_prehash(digest, &self.to_p256())
            .is_ok()
    }
}

/// The 32-byte ECDH shared secret (the x coordinate of d·Q), wiped on drop.
pub type SharedSecret = zeroize::Zeroizing<[u8; 32]>;

/// Parses the card's PSO:DECIPHER answer for ECDH on P-256: cards return the x coordinate (32 bytes), the point
/// (`04 || x || y`, 65 bytes) or `x || y` (64 bytes); all give x.
pub fn parse_ecdh_secret(raw: &[u8]) -> Result<SharedSecret, CardError> {
    let x = match raw.len() {
        32 => raw,
        64 => &raw[..32],
        65 if raw[0] == 0x04 => &raw[1..33],
        n => return Err(CardError::Malformed(format!("ECDH result of {n} bytes"))),
    };
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    out.copy_from_slice(x);
    Ok(out)
}

/// Encodes a cardholder name for DO 5B: ISO 8859-1, at most 39 bytes.
pub fn encode_name(name: &str) -> Result<Vec<u8>, CardError> {
    let bytes: Option<Vec<u8>> = name.chars().map(|c| u8::try_from(c as u32).ok()).collect();
    let bytes = bytes.ok_or_else(|| {
        CardError::InvalidInput("the name has characters a card cannot store".into())
    })?;
    if bytes.len() > 39 || bytes.iter().any(|&b| b < 0x20 || (0x7F..0xA0).contains(&b)) {
        return Err(CardError::InvalidInput(
            "the name must be at most 39 printable characters".into(),
        ));
    }
    Ok(bytes)
}

/// Decodes DO 5B (ISO 8859-1).
pub fn decode_name(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_object_round_trip() {
        let p = PatientObject {
            patient_id: [7; 32],
            chain_id: 31337,
        };
        assert_eq!(PatientObject::parse(&p.encode()).unwrap(), Some(p));
        assert_eq!(PatientObject::parse(&[]).unwrap(), None);
        let mut longer = p.encode();
        longer.extend_from_slice(&[0x09, 2, 1, 2]);
        assert_eq!(PatientObject::parse(&longer).unwrap(), Some(p));
        let enc = p.encode();
        assert!(PatientObject::parse(&enc[..enc.len() - 1]).is_err());
        assert!(PatientObject::parse(&[2]).is_err());
    }

    #[test]
    fn names_are_latin1() {
        assert_eq!(
            decode_name(&encode_name("Jürgen Müller").unwrap()),
            "Jürgen Müller"
        );
        assert!(encode_name("Łukasz").is_err());
        assert!(encode_name(&"x".repeat(40)).is_err());
    }

    #[test]
    fn ecdh_forms() {
        let x = [5u8; 32];
        let mut point = vec![4];
        point.extend_from_slice(&x);
        point.extend_from_slice(&[6; 32]);
        assert_eq!(*parse_ecdh_secret(&x).unwrap(), x);
        assert_eq!(*parse_ecdh_secret(&point).unwrap(), x);
        assert_eq!(*parse_ecdh_secret(&point[1..]).unwrap(), x);
        assert!(parse_ecdh_secret(&point[..40]).is_err());
    }
}
