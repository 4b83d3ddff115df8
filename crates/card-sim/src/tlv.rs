//! BER-TLV as the OpenPGP card uses it (ISO 7816-4 §5.2 / OpenPGP card 3.4 §4.4.4): one- or multi-byte tags,
//! lengths in one byte (< 0x80), `81 xx` or `82 xx xx`. Parsing never panics and never reads past its input.

use std::fmt;

/// Why bytes are not a TLV.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// The input ended inside a tag, a length or a value.
    #[error("truncated TLV")]
    Truncated,
    /// A length field this profile does not use (`80`, `83`…), or a tag longer than 3 bytes.
    #[error("unsupported TLV encoding")]
    Unsupported,
}

/// A tag, as its raw bytes in a u32 (e.g. `0x7F49`, `0x5F52`, `0x86`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({:X})", self.0)
    }
}

impl Tag {
    /// Whether the tag's first byte marks a constructed object (bit 6).
    pub fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    fn first_byte(self) -> u8 {
        let b = self.0.to_be_bytes();
        *b.iter().find(|&&x| x != 0).unwrap_or(&0)
    }

    /// The tag's encoding.
    pub fn to_bytes(self) -> Vec<u8> {
        let b = self.0.to_be_bytes();
        let start = b.iter().position(|&x| x != 0).unwrap_or(3);
        b[start..].to_vec()
    }
}

/// One parsed TLV, borrowing its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Reads one tag from the front of `input`.
pub fn read_tag(input: &[u8]) -> Result<(Tag, &[u8]), TlvError> {
    let (&first, mut rest) = input.split_first().ok_or(TlvError::Truncated)?;
    let mut tag = first as u32;
    if first & 0x1F == 0x1F {
        // Subsequent bytes follow while bit 8 is set; at most 3 bytes in all here.
        let mut n = 1;
        loop {
            let (&b, r) = rest.split_first().ok_or(TlvError::Truncated)?;
            rest = r;
            n += 1;
            if n > 3 {
                return Err(TlvError::Unsupported);
            }
            tag = (tag << 8) | b as u32;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(tag), rest))
}

/// Reads one length field from the front of `input`.
pub fn read_len(input: &[u8]) -> Result<(usize, &[u8]), TlvError> {
    let (&first, rest) = input.split_first().ok_or(TlvError::Truncated)?;
    match first {
        0x00..=0x7F => Ok((first as usize, rest)),
        0x81 => {
            let (&b, rest) = rest.split_first().ok_or(TlvError::Truncated)?;
            Ok((b as usize, rest))
        }
        0x82 => {
            if rest.len() < 2 {
                return Err(TlvError::Truncated);
            }
            Ok((u16::from_be_bytes([rest[0], rest[1]]) as usize, &rest[2..]))
        }
        _ => Err(TlvError::Unsupported),
    }
}

/// Reads one TLV from the front of `input`, returning it and what follows.
pub fn read_tlv(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), TlvError> {
    let (tag, rest) = read_tag(input)?;
    let (len, rest) = read_len(rest)?;
    if rest.len() < len {
        return Err(TlvError::Truncated);
    }
    let (value, rest) = rest.split_at(len);
    Ok((Tlv { tag, value }, rest))
}

/// Parses a whole buffer as a sequence of TLVs (nothing may be left over).
pub fn parse_all(mut input: &[u8]) -> Result<Vec<Tlv<'_>>, TlvError> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (t, rest) = read_tlv(input)?;
        out.push(t);
        input = rest;
    }
    Ok(out)
}

/// Finds the first TLV with `tag` in `input`, descending into constructed objects.
pub fn find(input: &[u8], tag: Tag) -> Result<Option<&[u8]>, TlvError> {
    for t in parse_all(input)? {
        if t.tag == tag {
            return Ok(Some(t.value));
        }
        if t.tag.is_constructed() {
            if let Some(v) = find(t.value, tag)? {
                return Ok(Some(v));
            }
        }
    }
    Ok(None)
}

/// Encodes a length field.
pub fn encode_len(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = len.min(0xFFFF) as u16;
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Encodes one TLV.
pub fn encode(tag: u32, value: &[u8]) -> Vec<u8> {
    let mut out = Tag(tag).to_bytes();
    encode_len(value.len(), &mut out);
    out.extend_from_slice(value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_lengths() {
        for len in [0usize, 1, 0x7F, 0x80, 0xFF, 0x100, 0x1234] {
            let v = vec![0xAB; len];
            let enc = encode(0x7F49, &v);
            let (t, rest) = read_tlv(&enc).unwrap();
            assert_eq!(t.tag, Tag(0x7F49));
            assert_eq!(t.value, &v[..]);
            assert!(rest.is_empty());
        }
    }

    #[test]
    fn finds_nested() {
        let inner = encode(0x86, &[4, 1, 2]);
        let pk = encode(0x7F49, &inner);
        let outer = encode(0xA6, &pk);
        assert_eq!(find(&outer, Tag(0x86)).unwrap(), Some(&[4u8, 1, 2][..]));
    }

    #[test]
    fn truncated_is_an_error() {
        assert_eq!(read_tlv(&[0x5F]), Err(TlvError::Truncated));
        assert_eq!(read_tlv(&[0x86, 0x05, 1, 2]), Err(TlvError::Truncated));
        assert_eq!(read_tlv(&[0x86, 0x82, 0x01]), Err(TlvError::Truncated));
        assert_eq!(read_tlv(&[0x86, 0x83, 0, 0, 1]), Err(TlvError::Unsupported));
    }
}
