//! The prescription token's references and secret: its QR payload and its printed code.
//!
//! # QR payload, format 1
//!
//! ```text
//! CKRX1:<chain id>:<contract>:<prescription id>:<token code>
//! CKRX1:42220:5FBDB2315678AFECB367F032D93F642F64180AA3:1207:7ZQ4K3PA…(56 characters)
//! ```
//!
//! - `CKRX` (carekiosk prescription) and the format version, `1`;
//! - the chain id (EIP-155), in decimal without leading zeros;
//! - the address of the PharmacyAccess contract that holds the prescription: 40 hexadecimal digits, upper case,
//!   without `0x`;
//! - the prescription id, in decimal without leading zeros;
//! - the token secret (the 32-byte P-256 private key whose public key hashes to the prescription's
//!   `tokenKeyHash`) as the 56 characters of [`token_text`] without its dashes: Crockford base32, the last four
//!   characters a check group.
//!
//! Every character is in the QR alphanumeric set (digits, upper-case letters, `:`), so the whole payload is one
//! alphanumeric segment: about 110 characters, a version 7 code at level Q for a real chain id.
//!
//! [`parse_token_qr`] ignores surrounding white space and ASCII case and is strict about everything else (no
//! `0x`, no leading zeros, no separators or look-alike letters in the code): a payload it accepts is, in upper
//! case, exactly the one [`token_qr_payload`] writes for the same [`TokenRef`].

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::recovery::{self, CodeError, ALPHABET, CODE_CHARS};
use crate::LetterError;

/// What the QR payload starts with, before the version.
const QR_PREFIX: &str = "CKRX";
/// The payload format this crate writes and reads.
const QR_VERSION: &str = "1";

/// Everything a pharmacy needs to redeem a prescription token: where the prescription is (chain, contract, id)
/// and the token's secret key. The secret is zeroized when the value is dropped and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRef {
    /// The chain id (EIP-155) of the deployment.
    pub chain_id: u64,
    /// The PharmacyAccess contract's address.
    pub contract: [u8; 20],
    /// The prescription's id in that contract.
    pub prescription_id: u64,
    /// The token secret: the P-256 private key (32 bytes, big-endian scalar) that signs `DispenseByToken`.
    pub secret: [u8; 32],
}

impl Drop for TokenRef {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for TokenRef {
    /// Shows where the prescription is; the secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRef")
            .field("chain_id", &self.chain_id)
            .field("contract", &format_args!("0x{}", hex_lower(&self.contract)))
            .field("prescription_id", &self.prescription_id)
            .field("secret", &format_args!("<redacted>"))
            .finish()
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the prescription token's QR code encodes (see the module docs):
/// `CKRX1:<chain id>:<contract>:<prescription id>:<token code>`.
///
/// The returned string holds the token secret: the caller should not log it, and may zeroize it.
pub fn token_qr_payload(token: &TokenRef) -> String {
    let code = Zeroizing::new(recovery::recovery_text(&token.secret));
    let mut payload = String::with_capacity(6 + 20 + 1 + 40 + 1 + 20 + 1 + CODE_CHARS);
    payload.push_str(QR_PREFIX);
    payload.push_str(QR_VERSION);
    payload.push(':');
    payload.push_str(&token.chain_id.to_string());
    payload.push(':');
    for byte in token.contract {
        payload.push_str(&format!("{byte:02X}"));
    }
    payload.push(':');
    payload.push_str(&token.prescription_id.to_string());
    payload.push(':');
    payload.extend(code.chars().filter(|c| *c != '-'));
    payload
}

/// Reads what a scanner gives back from a prescription token's QR code (surrounding white space and ASCII case
/// are ignored).
///
/// # Errors
///
/// [`LetterError::NotTokenQr`] for a QR code that does not start with `CKRX`,
/// [`LetterError::UnsupportedTokenQrVersion`] for another format, [`LetterError::MalformedTokenQr`] naming the
/// part that is not as written by [`token_qr_payload`] (the layout, chain id, contract address or prescription
/// id), [`LetterError::TokenQrSecretLength`] for a token code that is not 56 characters, and
/// [`LetterError::DamagedTokenQr`] for one that does not check.
pub fn parse_token_qr(payload: &str) -> Result<TokenRef, LetterError> {
    let payload = Zeroizing::new(payload.trim().to_ascii_uppercase());
    let mut parts = payload.split(':');
    let head = parts.next().unwrap_or_default();
    let Some(version) = head.strip_prefix(QR_PREFIX) else {
        return Err(LetterError::NotTokenQr);
    };
    if version != QR_VERSION {
        let printable = !version.is_empty()
            && version.len() <= 8
            && version.bytes().all(|b| b.is_ascii_alphanumeric());
        return Err(LetterError::UnsupportedTokenQrVersion {
            version: if printable {
                version.to_owned()
            } else {
                "unknown".to_owned()
            },
        });
    }
    let parts: Vec<&str> = parts.collect();
    let [chain_id, contract, prescription_id, code] = parts[..] else {
        return Err(LetterError::MalformedTokenQr { field: "layout" });
    };
    let chain_id = decimal(chain_id).ok_or(LetterError::MalformedTokenQr { field: "chain id" })?;
    let contract = address(contract).ok_or(LetterError::MalformedTokenQr {
        field: "contract address",
    })?;
    let prescription_id = decimal(prescription_id).ok_or(LetterError::MalformedTokenQr {
        field: "prescription id",
    })?;
    let found = code.chars().count();
    if found != CODE_CHARS {
        return Err(LetterError::TokenQrSecretLength { found });
    }
    // Only the alphabet itself: the look-alikes and separators a person may type are not written by
    // `token_qr_payload`.
    if !code.bytes().all(|b| ALPHABET.contains(&b)) {
        return Err(LetterError::DamagedTokenQr);
    }
    let secret = recovery::parse_code(code).map_err(|_| LetterError::DamagedTokenQr)?;
    Ok(TokenRef {
        chain_id,
        contract,
        prescription_id,
        secret,
    })
}

/// A `u64` in decimal: digits only, no sign, no leading zero (but `0` itself), no overflow.
fn decimal(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// 20 bytes as 40 hexadecimal digits (upper case here: the payload is upper-cased first).
fn address(text: &str) -> Option<[u8; 20]> {
    let bytes = text.as_bytes();
    if bytes.len() != 40 {
        return None;
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 20];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// The token secret's printed form, for a pharmacy without a scanner: the same encoding as the recovery code
/// ([`crate::recovery_text`]), 14 groups of 4 characters joined by `-`, the last group a check group.
/// [`parse_token_text`] reads it back.
///
/// The returned string is the secret in another form: the caller should not log it, and may zeroize it.
pub fn token_text(secret: &[u8; 32]) -> String {
    recovery::recovery_text(secret)
}

/// Reads a token code typed back at a pharmacy desk: tolerant of spaces, dashes, case and the look-alikes O/0
/// and I/L/1; checks the check group and names the group with the typo.
///
/// # Errors
///
/// [`LetterError::TokenCharacter`], [`LetterError::TokenLength`], [`LetterError::TokenGroupLength`],
/// [`LetterError::TokenTypo`] (with its group) or [`LetterError::TokenTypos`].
pub fn parse_token_text(text: &str) -> Result<[u8; 32], LetterError> {
    recovery::parse_code(text).map_err(|e| match e {
        CodeError::Character { group, character } => {
            LetterError::TokenCharacter { group, character }
        }
        CodeError::Length { found } => LetterError::TokenLength { found },
        CodeError::GroupLength { group, found } => LetterError::TokenGroupLength { group, found },
        CodeError::Typo { group } => LetterError::TokenTypo { group },
        CodeError::Typos => LetterError::TokenTypos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("42220"), Some(42220));
        assert_eq!(decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "042",
            "+1",
            "-1",
            "1 ",
            "18446744073709551616",
            "１",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn addresses_are_40_hex_digits() {
        let mut expected = [0u8; 20];
        expected[0] = 0xab;
        expected[19] = 0x01;
        assert_eq!(
            address("AB00000000000000000000000000000000000001"),
            Some(expected)
        );
        for bad in [
            "",
            "0XAB000000000000000000000000000000000001",
            "AB0000000000000000000000000000000000001",
            "AB000000000000000000000000000000000000010",
            "AG00000000000000000000000000000000000001",
        ] {
            assert_eq!(address(bad), None, "{bad:?}");
        }
    }
}
