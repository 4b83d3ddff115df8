//! The recovery code's printed form (groups of Crockford base32 with a check group) and its QR payload.
//! The prescription token's printed code uses the same encoding (`token.rs`), so the code reader below is shared
//! and its errors are named for one or the other.
//!
//! # Text form
//!
//! The 32 bytes are read as 256 bits, most significant bit of byte 0 first, and cut into 52 symbols of 5 bits
//! (the last symbol holds the final bit and four zero bits). Each symbol is a character of Crockford's base32
//! alphabet, `0123456789ABCDEFGHJKMNPQRSTVWXYZ` (no I, L, O or U). Four check symbols follow. The 56 characters
//! are printed as 14 groups of 4 joined by `-`: groups 1–13 carry the secret, group 14 is the check group.
//!
//! # Check group
//!
//! The symbols are elements of GF(32) (polynomial x⁵ + x² + 1, α = x). Data symbol *j* (0–51) has the column
//! `(1, α^a, α^(2a + 5b), α^(3a + 11b))` where *j* = 31·*b* + *a*; check symbol *k* has the unit column
//! `e_k`. The check symbols are chosen so that Σ symbol · column = 0 (a linear code of length 56 with 4 check
//! symbols). Every column is non-zero and no two are proportional, so:
//!
//! - any single wrong character is detected, and its group is located: a wrong data character gives a syndrome
//!   proportional to its column (four non-zero parts), a wrong check character a syndrome with one non-zero part;
//! - any two wrong characters are detected, and a swap of two neighbouring characters is never taken for a
//!   single typo (neighbouring data columns differ in every part after the first);
//! - random garbage passes with probability 2⁻²⁰.
//!
//! Two or more typos can, rarely (about 0.2 %), look like a single typo in another group: the message then
//! points at a group that is in fact right, and the person checks the rest.

use zeroize::Zeroizing;

use crate::LetterError;

/// Crockford's base32 alphabet.
pub(crate) const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols carrying the secret: ⌈256 / 5⌉.
const DATA_SYMBOLS: usize = 52;
/// Check symbols (the last group).
const CHECK_SYMBOLS: usize = 4;
/// Characters in the code, separators excluded.
pub(crate) const CODE_CHARS: usize = DATA_SYMBOLS + CHECK_SYMBOLS;
/// Characters per group.
pub(crate) const GROUP_LEN: usize = 4;
/// Groups in the code.
pub(crate) const GROUPS: usize = CODE_CHARS / GROUP_LEN;
/// The separator between groups in the printed form.
const SEPARATOR: char = '-';
/// What the QR code encodes before the text form.
pub(crate) const QR_SCHEME: &str = "carekiosk-recovery:";
/// The version of the QR payload this crate writes and reads.
pub(crate) const QR_VERSION: &str = "v1";

// ----- GF(32) -----

/// x⁵ + x² + 1, a primitive polynomial: α = x generates the 31 non-zero elements.
const POLY: u8 = 0b10_0101;

const fn gf_mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0;
    while b != 0 {
        if b & 1 != 0 {
            product ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x20 != 0 {
            a ^= POLY;
        }
    }
    product
}

const fn gf_alpha_pow(exponent: usize) -> u8 {
    let mut value = 1;
    let mut i = 0;
    while i < exponent % 31 {
        value = gf_mul(value, 2);
        i += 1;
    }
    value
}

/// a⁻¹ = a³⁰ for a ≠ 0.
fn gf_inv(a: u8) -> u8 {
    debug_assert!(a != 0);
    (0..30).fold(1, |acc, _| gf_mul(acc, a))
}

/// The column of data symbol `j` (see the module docs).
const fn data_column(j: usize) -> [u8; CHECK_SYMBOLS] {
    let a = j % 31;
    let b = j / 31;
    [
        1,
        gf_alpha_pow(a),
        gf_alpha_pow(2 * a + 5 * b),
        gf_alpha_pow(3 * a + 11 * b),
    ]
}

const COLUMNS: [[u8; CHECK_SYMBOLS]; DATA_SYMBOLS] = {
    let mut columns = [[0; CHECK_SYMBOLS]; DATA_SYMBOLS];
    let mut j = 0;
    while j < DATA_SYMBOLS {
        columns[j] = data_column(j);
        j += 1;
    }
    columns
};

/// Σ data symbol · column: the check symbols of `data`, or, with the check symbols XORed in, the syndrome.
fn data_syndrome(data: &[u8]) -> [u8; CHECK_SYMBOLS] {
    let mut syndrome = [0; CHECK_SYMBOLS];
    for (symbol, column) in data.iter().zip(COLUMNS.iter()) {
        for (s, c) in syndrome.iter_mut().zip(column) {
            *s ^= gf_mul(*symbol, *c);
        }
    }
    syndrome
}

// ----- text form -----

/// The 56 symbols (values 0–31) of a secret: 52 data, 4 check.
fn symbols(secret: &[u8; 32]) -> Zeroizing<[u8; CODE_CHARS]> {
    let mut out = Zeroizing::new([0u8; CODE_CHARS]);
    for (i, symbol) in out.iter_mut().take(DATA_SYMBOLS).enumerate() {
        let mut value = 0;
        for bit in 5 * i..5 * i + 5 {
            let set = bit < 256 && secret[bit / 8] & (0x80 >> (bit % 8)) != 0;
            value = (value << 1) | u8::from(set);
        }
        *symbol = value;
    }
    let check = data_syndrome(&out[..DATA_SYMBOLS]);
    out[DATA_SYMBOLS..].copy_from_slice(&check);
    out
}

/// The printed form of a recovery secret: 14 groups of 4 characters joined by `-`, the last group a check group,
/// e.g. `7ZQ4-…-K3PA`. [`parse_recovery_text`] reads it back.
///
/// The returned string is the secret in another form: the caller should not log it, and may zeroize it.
pub fn recovery_text(secret: &[u8; 32]) -> String {
    let symbols = symbols(secret);
    let mut text = String::with_capacity(CODE_CHARS + GROUPS - 1);
    for (i, symbol) in symbols.iter().enumerate() {
        if i > 0 && i % GROUP_LEN == 0 {
            text.push(SEPARATOR);
        }
        text.push(char::from(ALPHABET[usize::from(*symbol)]));
    }
    text
}

/// The groups of [`recovery_text`] as the letter prints them: `lines` lines, each line's groups joined by `-`,
/// every line but the last ending in `-` (so the lines, concatenated, are the text form).
pub(crate) fn recovery_lines(text: &str, groups_per_line: usize) -> Vec<Zeroizing<String>> {
    let groups: Vec<&str> = text.split(SEPARATOR).collect();
    let mut lines = Vec::new();
    for (n, chunk) in groups.chunks(groups_per_line).enumerate() {
        let mut line = Zeroizing::new(String::with_capacity(groups_per_line * (GROUP_LEN + 1)));
        for (i, group) in chunk.iter().enumerate() {
            if i > 0 {
                line.push(SEPARATOR);
            }
            line.push_str(group);
        }
        if (n + 1) * groups_per_line < groups.len() {
            line.push(SEPARATOR);
        }
        lines.push(line);
    }
    lines
}

/// Whether `c` may separate groups when the code is typed: white space and dashes of any kind.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}'
        )
}

/// The symbol of a typed character: case-insensitive, with Crockford's aliases (O → 0, I and L → 1).
fn symbol_of(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    if !c.is_ascii() {
        return None;
    }
    ALPHABET.iter().position(|&a| a == c as u8).map(|p| p as u8)
}

/// What is wrong with a typed code (a recovery code or a prescription token's code: the same encoding), before
/// it is named for one or the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeError {
    /// A character outside the alphabet (U+FFFD for a control character), in a 1-based group.
    Character { group: usize, character: char },
    /// Not 56 characters.
    Length { found: usize },
    /// 14 groups as typed, one of the wrong length.
    GroupLength { group: usize, found: usize },
    /// One typo, in this 1-based group.
    Typo { group: usize },
    /// More than one typo.
    Typos,
}

/// Reads a recovery code typed back (at a reception desk, from the letter): tolerant of spaces, dashes, case and
/// the look-alikes O/0 and I/L/1; checks the check group and names the group with the typo.
///
/// # Errors
///
/// A [`LetterError`] naming what is wrong and where: a character that is not in recovery codes, a group or a
/// code of the wrong length, a typo (with its group), or several typos.
pub fn parse_recovery_text(text: &str) -> Result<[u8; 32], LetterError> {
    parse_code(text).map_err(|e| match e {
        CodeError::Character { group, character } => {
            LetterError::RecoveryCharacter { group, character }
        }
        CodeError::Length { found } => LetterError::RecoveryLength { found },
        CodeError::GroupLength { group, found } => {
            LetterError::RecoveryGroupLength { group, found }
        }
        CodeError::Typo { group } => LetterError::RecoveryTypo { group },
        CodeError::Typos => LetterError::RecoveryTypos,
    })
}

/// Reads a typed code back into its 32 bytes (see [`parse_recovery_text`]).
pub(crate) fn parse_code(text: &str) -> Result<[u8; 32], CodeError> {
    // Groups as typed: only used to say which group is too short or too long.
    let typed_groups: Vec<usize> = text
        .split(is_separator)
        .filter(|g| !g.is_empty())
        .map(|g| g.chars().count())
        .collect();

    let mut symbols = Zeroizing::new([0u8; CODE_CHARS]);
    let mut count = 0;
    for c in text.chars().filter(|c| !is_separator(*c)) {
        let Some(symbol) = symbol_of(c) else {
            return Err(CodeError::Character {
                group: count / GROUP_LEN + 1,
                character: if c.is_control() {
                    char::REPLACEMENT_CHARACTER
                } else {
                    c
                },
            });
        };
        if count < CODE_CHARS {
            symbols[count] = symbol;
        }
        count += 1;
    }
    if count != CODE_CHARS {
        if typed_groups.len() == GROUPS {
            if let Some(group) = typed_groups.iter().position(|&len| len != GROUP_LEN) {
                return Err(CodeError::GroupLength {
                    group: group + 1,
                    found: typed_groups[group],
                });
            }
        }
        return Err(CodeError::Length { found: count });
    }

    let mut syndrome = data_syndrome(&symbols[..DATA_SYMBOLS]);
    for (s, check) in syndrome.iter_mut().zip(&symbols[DATA_SYMBOLS..]) {
        *s ^= check;
    }
    if syndrome != [0; CHECK_SYMBOLS] {
        return Err(locate(syndrome));
    }

    let mut secret = [0u8; 32];
    for bit in 0..DATA_SYMBOLS * 5 {
        let set = symbols[bit / 5] & (0x10 >> (bit % 5)) != 0;
        if bit < 256 {
            if set {
                secret[bit / 8] |= 0x80 >> (bit % 8);
            }
        } else if set {
            // The padding bits of the last data symbol are zero in every code this crate prints: with a zero
            // syndrome, only three or more typos get here.
            zeroize::Zeroize::zeroize(&mut secret);
            return Err(CodeError::Typos);
        }
    }
    Ok(secret)
}

/// The error for a non-zero syndrome: a single typo's group when the syndrome is one column's multiple.
fn locate(syndrome: [u8; CHECK_SYMBOLS]) -> CodeError {
    let nonzero = syndrome.iter().filter(|s| **s != 0).count();
    if nonzero == 1 {
        // A wrong check symbol.
        return CodeError::Typo { group: GROUPS };
    }
    if syndrome[0] != 0 {
        let inv = gf_inv(syndrome[0]);
        let normalized = syndrome.map(|s| gf_mul(s, inv));
        if let Some(j) = COLUMNS.iter().position(|c| *c == normalized) {
            return CodeError::Typo {
                group: j / GROUP_LEN + 1,
            };
        }
    }
    CodeError::Typos
}

// ----- QR payload -----

/// What the letter's QR code encodes: `carekiosk-recovery:v1:` followed by the [`recovery_text`].
pub fn recovery_qr_payload(secret: &[u8; 32]) -> String {
    let text = Zeroizing::new(recovery_text(secret));
    let mut payload = String::with_capacity(QR_SCHEME.len() + QR_VERSION.len() + 1 + text.len());
    payload.push_str(QR_SCHEME);
    payload.push_str(QR_VERSION);
    payload.push(':');
    payload.push_str(&text);
    payload
}

/// Reads what a scanner gives back from the letter's QR code (surrounding white space is ignored).
///
/// # Errors
///
/// [`LetterError::NotRecoveryQr`] for any other QR code, [`LetterError::UnsupportedQrVersion`] for a newer
/// letter format, [`LetterError::DamagedQr`] when the code inside does not check.
pub fn parse_recovery_qr(payload: &str) -> Result<[u8; 32], LetterError> {
    let payload = payload.trim();
    let Some(rest) = payload.strip_prefix(QR_SCHEME) else {
        return Err(LetterError::NotRecoveryQr);
    };
    let Some((version, text)) = rest.split_once(':') else {
        return Err(LetterError::NotRecoveryQr);
    };
    if version != QR_VERSION {
        let printable = version.len() <= 8 && version.bytes().all(|b| b.is_ascii_alphanumeric());
        return Err(LetterError::UnsupportedQrVersion {
            version: if printable {
                version.to_owned()
            } else {
                "unknown".to_owned()
            },
        });
    }
    parse_recovery_text(text).map_err(|_| LetterError::DamagedQr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_generates_the_field() {
        let mut seen = [false; 32];
        for e in 0..31 {
            let v = gf_alpha_pow(e);
            assert!(v != 0 && v < 32 && !seen[usize::from(v)], "α^{e} repeats");
            seen[usize::from(v)] = true;
        }
        assert_eq!(gf_alpha_pow(31), 1);
        for a in 1..32u8 {
            assert_eq!(gf_mul(a, gf_inv(a)), 1);
        }
    }

    /// All columns, data then check.
    fn all_columns() -> Vec<[u8; 4]> {
        let mut cols = COLUMNS.to_vec();
        for k in 0..4 {
            let mut unit = [0; 4];
            unit[k] = 1;
            cols.push(unit);
        }
        cols
    }

    #[test]
    fn any_two_errors_are_detected() {
        // No column is zero and no two are proportional: every pattern of one or two wrong symbols has a
        // non-zero syndrome.
        let cols = all_columns();
        for (i, a) in cols.iter().enumerate() {
            assert_ne!(*a, [0; 4]);
            for b in &cols[i + 1..] {
                for scale in 1..32u8 {
                    assert_ne!(
                        a.map(|x| gf_mul(x, scale)),
                        *b,
                        "columns {a:?} and {b:?} are proportional"
                    );
                }
            }
        }
    }

    #[test]
    fn neighbour_swaps_are_not_mistaken_for_a_single_typo() {
        // Swapping neighbours i, i+1 adds d·(col_i + col_i+1), which has at least two non-zero parts (not a check
        // typo) and is not a multiple of a data column.
        let cols = all_columns();
        for i in 0..CODE_CHARS - 1 {
            let sum: Vec<u8> = cols[i]
                .iter()
                .zip(&cols[i + 1])
                .map(|(a, b)| a ^ b)
                .collect();
            assert!(sum.iter().filter(|s| **s != 0).count() >= 2, "swap at {i}");
            let syndrome = [sum[0], sum[1], sum[2], sum[3]];
            assert!(matches!(locate(syndrome), CodeError::Typos), "swap at {i}");
        }
    }

    #[test]
    fn every_single_typo_is_located() {
        let secret = [0xa5u8; 32];
        let good = symbols(&secret);
        for position in 0..CODE_CHARS {
            for delta in 1..32u8 {
                let mut bad = *good;
                bad[position] ^= delta;
                let mut syndrome = data_syndrome(&bad[..DATA_SYMBOLS]);
                for (s, c) in syndrome.iter_mut().zip(&bad[DATA_SYMBOLS..]) {
                    *s ^= c;
                }
                match locate(syndrome) {
                    CodeError::Typo { group } => {
                        assert_eq!(group, position / GROUP_LEN + 1)
                    }
                    other => panic!("position {position}: {other:?}"),
                }
            }
        }
    }
}
