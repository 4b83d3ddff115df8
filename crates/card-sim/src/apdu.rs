//! Command APDUs (ISO 7816-4 §5.1: cases 1–4, short and extended) and the status words the card answers with.

/// A parsed command APDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty when there is no Lc).
    pub data: Vec<u8>,
    /// Ne, the most response bytes the host accepts: `None` when Le is absent; a short Le of 00 means 256, an
    /// extended Le of 0000 means 65536.
    pub ne: Option<usize>,
    /// Whether Lc/Le were in extended form.
    pub extended: bool,
}

/// Why bytes are not a command APDU (the card answers `6700`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed command APDU ({0} bytes)")]
pub struct ApduError(pub usize);

impl Command {
    /// Parses a command APDU; never panics.
    pub fn parse(b: &[u8]) -> Result<Command, ApduError> {
        let err = || ApduError(b.len());
        if b.len() < 4 {
            return Err(err());
        }
        let (cla, ins, p1, p2) = (b[0], b[1], b[2], b[3]);
        let body = &b[4..];
        let mk = |data: &[u8], ne: Option<usize>, extended: bool| Command {
            cla,
            ins,
            p1,
            p2,
            data: data.to_vec(),
            ne,
            extended,
        };
        match body.len() {
            0 => Ok(mk(&[], None, false)),
            1 => Ok(mk(
                &[],
                Some(if body[0] == 0 { 256 } else { body[0] as usize }),
                false,
            )),
            _ if body[0] != 0 => {
                let lc = body[0] as usize;
                let rest = &body[1..];
                if rest.len() == lc {
                    Ok(mk(rest, None, false))
                } else if rest.len() == lc + 1 {
                    let le = rest[lc];
                    Ok(mk(
                        &rest[..lc],
                        Some(if le == 0 { 256 } else { le as usize }),
                        false,
                    ))
                } else {
                    Err(err())
                }
            }
            // Extended: body[0] == 0.
            3 => {
                let le = u16::from_be_bytes([body[1], body[2]]) as usize;
                Ok(mk(&[], Some(if le == 0 { 65536 } else { le }), true))
            }
            n if n > 3 => {
                let lc = u16::from_be_bytes([body[1], body[2]]) as usize;
                let rest = &body[3..];
                if lc == 0 {
                    return Err(err());
                }
                if rest.len() == lc {
                    Ok(mk(rest, None, true))
                } else if rest.len() == lc + 2 {
                    let le = u16::from_be_bytes([rest[lc], rest[lc + 1]]) as usize;
                    Ok(mk(
                        &rest[..lc],
                        Some(if le == 0 { 65536 } else { le }),
                        true,
                    ))
                } else {
                    Err(err())
                }
            }
            _ => Err(err()),
        }
    }

    /// Serialises the command (short form when it fits, else extended); the inverse of [`Command::parse`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        let ext = self.extended || self.data.len() > 255 || self.ne.is_some_and(|n| n > 256);
        if !self.data.is_empty() {
            if ext {
                out.push(0);
                out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
            } else {
                out.push(self.data.len() as u8);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(ne) = self.ne {
            if ext {
                if self.data.is_empty() {
                    out.push(0);
                }
                out.extend_from_slice(&((ne % 65536) as u16).to_be_bytes());
            } else {
                out.push((ne % 256) as u8);
            }
        }
        out
    }
}

/// Status words used by this card (ISO 7816-4 and OpenPGP card 3.4 §7.4).
pub mod sw {
    /// Success.
    pub const OK: u16 = 0x9000;
    /// Selected file or DO in termination state.
    pub const TERMINATED: u16 = 0x6285;
    /// Wrong length.
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Secure messaging not supported.
    pub const SM_NOT_SUPPORTED: u16 = 0x6882;
    /// Last command of the chain expected.
    pub const LAST_OF_CHAIN_EXPECTED: u16 = 0x6883;
    /// Security status not satisfied (PIN not verified).
    pub const SECURITY_STATUS: u16 = 0x6982;
    /// Authentication method blocked (PIN counter at zero).
    pub const BLOCKED: u16 = 0x6983;
    /// Conditions of use not satisfied.
    pub const CONDITIONS: u16 = 0x6985;
    /// Incorrect parameters in the command data field.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// File or application not found.
    pub const NOT_FOUND: u16 = 0x6A82;
    /// Incorrect P1-P2.
    pub const WRONG_P1P2: u16 = 0x6A86;
    /// Referenced data (DO, key) not found.
    pub const DATA_NOT_FOUND: u16 = 0x6A88;
    /// Wrong parameters P1-P2.
    pub const WRONG_PARAMS: u16 = 0x6B00;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// No precise diagnosis.
    pub const UNKNOWN: u16 = 0x6F00;

    /// Wrong PIN, `n` tries left (`63Cn`).
    pub fn tries_left(n: u8) -> u16 {
        0x63C0 | (n.min(15) as u16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        let c = Command::parse(&[0, 0xCA, 0, 0x6E]).unwrap();
        assert_eq!((c.data.len(), c.ne), (0, None));
        let c = Command::parse(&[0, 0xCA, 0, 0x6E, 0]).unwrap();
        assert_eq!(c.ne, Some(256));
        let c = Command::parse(&[0, 0x20, 0, 0x81, 3, 1, 2, 3]).unwrap();
        assert_eq!((c.data, c.ne), (vec![1, 2, 3], None));
        let c = Command::parse(&[0, 0x2A, 0x9E, 0x9A, 2, 1, 2, 0]).unwrap();
        assert_eq!((c.data, c.ne), (vec![1, 2], Some(256)));
        let c = Command::parse(&[0, 0xCA, 0, 0x6E, 0, 0, 0]).unwrap();
        assert_eq!((c.ne, c.extended), (Some(65536), true));
        let c = Command::parse(&[0, 0x2A, 0x9E, 0x9A, 0, 0, 2, 1, 2, 0, 0]).unwrap();
        assert_eq!((c.data, c.ne), (vec![1, 2], Some(65536)));
        assert!(Command::parse(&[0, 0x20, 0, 0x81, 3, 1, 2]).is_err());
        assert!(Command::parse(&[0, 0x20, 0]).is_err());
        assert!(Command::parse(&[0, 0x20, 0, 0x81, 0, 0]).is_err());
    }
}
