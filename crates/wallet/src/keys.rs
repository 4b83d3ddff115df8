//! The three kinds of key the wallet keeps, each 32 bytes, wiped from memory on drop, never printed.

use std::fmt;

use rand_core::{OsRng, RngCore};
use sha3::{Digest, Keccak256};
use zeroize::Zeroizing;

use crate::error::{Result, WalletError};

mod sealed {
    pub trait Sealed {}
}

/// A kind of key kept in the wallet: [`SigningKey`], [`RecordKey`] or [`DatabaseKey`].
pub trait KeyKind: sealed::Sealed + Sized {
    /// The last part of the keyring account (`<profile>/<role>/<suffix>`).
    const SUFFIX: &'static str;
    /// What it is, for messages.
    const WHAT: &'static str;
    /// Checks and wraps 32 secret bytes.
    fn from_secret(bytes: Zeroizing<[u8; 32]>) -> Result<Self>;
    /// A fresh random key from the OS's random source (32 random bytes, drawn again in the ~2^-128 case that
    /// `from_secret` refuses them).
    fn generate() -> Self {
        loop {
            if let Ok(k) = Self::from_secret(random_bytes()) {
                return k;
            }
        }
    }
    /// The secret bytes.
    fn secret_bytes(&self) -> &[u8; 32];
}

fn random_bytes() -> Zeroizing<[u8; 32]> {
    let mut b = Zeroizing::new([0u8; 32]);
    OsRng.fill_bytes(&mut b[..]);
    b
}

/// `keccak256(data)`.
pub(crate) fn keccak256(data: &[u8]) -> [u8; 32] {
    Keccak256::digest(data).into()
}

/// The kiosk's secp256k1 signing key (the institution registered its address on chain). Turn it into an alloy
/// signer with `PrivateKeySigner::from_bytes(&B256::from(*key.secret_bytes()))`.
#[derive(Clone)]
pub struct SigningKey {
    secret: Zeroizing<[u8; 32]>,
    address: [u8; 20],
}

impl SigningKey {
    /// Checks 32 bytes as a secp256k1 private key (non-zero, below the curve order).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        Self::from_secret(Zeroizing::new(*bytes))
    }

    /// The Ethereum address: the last 20 bytes of `keccak256` of the uncompressed public key (without its `04`).
    pub fn address(&self) -> [u8; 20] {
        self.address
    }

    /// The address as an EIP-55 checksummed `0x…` string.
    pub fn address_checksummed(&self) -> String {
        checksum_address(&self.address)
    }
}

impl sealed::Sealed for SigningKey {}
impl KeyKind for SigningKey {
    const SUFFIX: &'static str = "signing-key";
    const WHAT: &'static str = "kiosk signing key (secp256k1)";

    fn from_secret(secret: Zeroizing<[u8; 32]>) -> Result<Self> {
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let sk = k256::SecretKey::from_bytes(secret.as_ref().into()).map_err(|_| {
            WalletError::InvalidKey {
                what: Self::WHAT,
                reason: "not a secp256k1 private key (zero, or not below the curve order)",
            }
        })?;
        let point = sk.public_key().to_encoded_point(false);
        let hash = keccak256(&point.as_bytes()[1..]);
        let mut address = [0u8; 20];
        address.copy_from_slice(&hash[12..]);
        Ok(SigningKey { secret, address })
    }

    fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("address", &self.address_checksummed())
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The institution's P-256 record-encryption key: record content keys are wrapped for its public key.
#[derive(Clone)]
pub struct RecordKey {
    secret: Zeroizing<[u8; 32]>,
    public: [u8; 65],
}

impl RecordKey {
    /// Checks 32 bytes as a P-256 private key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        Self::from_secret(Zeroizing::new(*bytes))
    }

    /// The public key, SEC1 uncompressed (`04 ‖ x ‖ y`).
    pub fn public_key_sec1(&self) -> [u8; 65] {
        self.public
    }
}

impl sealed::Sealed for RecordKey {}
impl KeyKind for RecordKey {
    const SUFFIX: &'static str = "record-key";
    const WHAT: &'static str = "record-encryption key (P-256)";

    fn from_secret(secret: Zeroizing<[u8; 32]>) -> Result<Self> {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let sk = p256::SecretKey::from_bytes(secret.as_ref().into()).map_err(|_| {
            WalletError::InvalidKey {
                what: Self::WHAT,
                reason: "not a P-256 private key (zero, or not below the curve order)",
            }
        })?;
        let point = sk.public_key().to_encoded_point(false);
        let mut public = [0u8; 65];
        public.copy_from_slice(point.as_bytes());
        Ok(RecordKey { secret, public })
    }

    fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for RecordKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordKey")
            .field("public", &Hex(&self.public))
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What closes a kiosk in kiosk mode: the hash of the staff code (8 digits the administrator sets with
/// `carekiosk admin staff-code`). Only the hash is kept; the code itself is shown once and never stored.
#[derive(Clone)]
pub struct StaffCode {
    secret: Zeroizing<[u8; 32]>,
}

impl StaffCode {
    /// The stored form of `code`.
    pub fn from_code(code: &str) -> Result<Self> {
        let code = code.trim();
        if code.len() < 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WalletError::InvalidKey {
                what: Self::WHAT,
                reason: "a staff code is at least 6 digits",
            });
        }
        let mut data = b"carekiosk staff code\0".to_vec();
        data.extend_from_slice(code.as_bytes());
        Self::from_secret(Zeroizing::new(keccak256(&data)))
    }

    /// Whether `code` is this staff code (compared in constant time).
    pub fn matches(&self, code: &str) -> bool {
        let Ok(other) = Self::from_code(code) else {
            return false;
        };
        let diff = self
            .secret
            .iter()
            .zip(other.secret.iter())
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        diff == 0
    }
}

impl sealed::Sealed for StaffCode {}
impl KeyKind for StaffCode {
    const SUFFIX: &'static str = "staff-code";
    const WHAT: &'static str = "staff code";

    fn from_secret(secret: Zeroizing<[u8; 32]>) -> Result<Self> {
        Ok(StaffCode { secret })
    }

    fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl std::fmt::Debug for StaffCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StaffCode(<redacted>)")
    }
}

/// The 32-byte key of the kiosk's encrypted SQLite file (`carekiosk_store::Store::open(path, key.secret_bytes())`).
#[derive(Clone)]
pub struct DatabaseKey {
    secret: Zeroizing<[u8; 32]>,
}

impl DatabaseKey {
    /// Wraps 32 random bytes (all-zero is refused).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self> {
        Self::from_secret(Zeroizing::new(*bytes))
    }
}

impl sealed::Sealed for DatabaseKey {}
impl KeyKind for DatabaseKey {
    const SUFFIX: &'static str = "db-key";
    const WHAT: &'static str = "database key";

    fn from_secret(secret: Zeroizing<[u8; 32]>) -> Result<Self> {
        if secret.iter().all(|&b| b == 0) {
            return Err(WalletError::InvalidKey {
                what: Self::WHAT,
                reason: "all zero: a database key must be random",
            });
        }
        Ok(DatabaseKey { secret })
    }

    fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }
}

impl fmt::Debug for DatabaseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseKey(<redacted>)")
    }
}

/// Parses 64 hex digits (optionally `0x`-prefixed, surrounding whitespace ignored) into wiped-on-drop bytes.
/// The error never echoes the input.
pub(crate) fn parse_hex_key(what: &'static str, text: &str) -> Result<Zeroizing<[u8; 32]>> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let bad = WalletError::InvalidKey {
        what,
        reason: "expected 64 hex digits (32 bytes), optionally 0x-prefixed",
    };
    if t.len() != 64 {
        return Err(bad);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    for (i, pair) in t.as_bytes().chunks_exact(2).enumerate() {
        let (Some(hi), Some(lo)) = (nibble(pair[0]), nibble(pair[1])) else {
            return Err(bad);
        };
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lower-case hex of secret bytes, in wiped-on-drop memory (what the keyring stores).
pub(crate) fn secret_hex(bytes: &[u8; 32]) -> Zeroizing<String> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = Zeroizing::new(String::with_capacity(64));
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

/// EIP-55 checksummed address.
pub fn checksum_address(address: &[u8; 20]) -> String {
    let lower: String = address.iter().map(|b| format!("{b:02x}")).collect();
    let hash = keccak256(lower.as_bytes());
    let mut out = String::with_capacity(42);
    out.push_str("0x");
    for (i, c) in lower.chars().enumerate() {
        let nib = (hash[i / 2] >> (if i % 2 == 0 { 4 } else { 0 })) & 0x0f;
        out.push(if nib >= 8 { c.to_ascii_uppercase() } else { c });
    }
    out
}

/// Lower-case `0x…` hex of public values.
struct Hex<'a>(&'a [u8]);

impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("0x")?;
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex: &str) -> Zeroizing<[u8; 32]> {
        parse_hex_key("test key", hex).unwrap()
    }

    #[test]
    fn addresses_match_known_vectors() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(
            SigningKey::from_bytes(&one).unwrap().address_checksummed(),
            "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"
        );
        // Anvil's first development account.
        let anvil = key("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
        assert_eq!(
            SigningKey::from_secret(anvil)
                .unwrap()
                .address_checksummed(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
    }

    #[test]
    fn eip55_vectors() {
        for a in [
            "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
            "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
            "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
            "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
        ] {
            let mut b = [0u8; 20];
            for (i, byte) in b.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&a[2 + 2 * i..4 + 2 * i], 16).unwrap();
            }
            assert_eq!(checksum_address(&b), a);
        }
    }

    #[test]
    fn invalid_keys_are_refused_without_echo() {
        let zero = [0u8; 32];
        assert!(SigningKey::from_bytes(&zero).is_err());
        assert!(RecordKey::from_bytes(&zero).is_err());
        assert!(DatabaseKey::from_bytes(&zero).is_err());
        // secp256k1 order n: not a valid scalar.
        let n = key("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141");
        assert!(SigningKey::from_secret(n).is_err());
        for bad in [
            "",
            "0x12",
            "zz0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        ] {
            let err = parse_hex_key("signing key", bad).unwrap_err().to_string();
            assert!(
                err.contains("64 hex digits") && !err.contains("zz0974"),
                "{err}"
            );
        }
        assert_eq!(
            *key("  0X0101010101010101010101010101010101010101010101010101010101010101\n"),
            [1u8; 32]
        );
    }

    #[test]
    fn a_staff_code_matches_only_itself_and_shows_nothing() {
        let c = StaffCode::from_code("48120975").unwrap();
        assert!(c.matches("48120975"));
        assert!(c.matches(" 48120975 "));
        assert!(!c.matches("48120976"));
        assert!(!c.matches("4812097"));
        assert!(!c.matches(""));
        assert!(StaffCode::from_code("12ab5678").is_err());
        assert!(StaffCode::from_code("12345").is_err());
        assert!(!format!("{c:?}").contains("4812"));
        // What the keyring keeps is the hash, and it reads back as the same code.
        let back = StaffCode::from_secret(Zeroizing::new(*c.secret_bytes())).unwrap();
        assert!(back.matches("48120975"));
        assert_ne!(&c.secret_bytes()[..8], b"48120975");
    }

    #[test]
    fn debug_output_is_redacted() {
        let sk = SigningKey::generate();
        let rk = RecordKey::generate();
        let dk = DatabaseKey::generate();
        for (dbg, secret) in [
            (format!("{sk:?}"), secret_hex(sk.secret_bytes())),
            (format!("{rk:?}"), secret_hex(rk.secret_bytes())),
            (format!("{dk:?}"), secret_hex(dk.secret_bytes())),
        ] {
            assert!(
                dbg.contains("redacted") && !dbg.contains(secret.as_str()),
                "{dbg}"
            );
        }
        assert!(format!("{sk:?}").contains(&sk.address_checksummed()));
    }

    #[test]
    fn record_key_public_point() {
        let rk = RecordKey::generate();
        let pk = rk.public_key_sec1();
        assert_eq!(pk[0], 0x04);
        let again = p256::PublicKey::from_sec1_bytes(&pk).unwrap();
        assert_eq!(
            again,
            p256::SecretKey::from_bytes(rk.secret_bytes().into())
                .unwrap()
                .public_key()
        );
        assert_ne!(RecordKey::generate().secret_bytes(), rk.secret_bytes());
    }
}
