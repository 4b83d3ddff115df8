//! The OpenPGP card application itself: APDU in, response out. No I/O but the state file.
//!
//! Implemented (OpenPGP card 3.4 §7.2): SELECT, GET DATA, PUT DATA, VERIFY (incl. status query and P1=FF reset),
//! CHANGE REFERENCE DATA, RESET RETRY COUNTER (resetting code or PW3), GENERATE ASYMMETRIC KEY PAIR (generate and
//! read), PSO:COMPUTE DIGITAL SIGNATURE, PSO:DECIPHER (ECDH), INTERNAL AUTHENTICATE, GET RESPONSE, TERMINATE DF,
//! ACTIVATE FILE, and command chaining (CLA bit 0x10). Keys are NIST P-256 only. Long responses are returned in
//! pieces with `61xx` when they exceed Le (or the configured response chunk).

use std::path::PathBuf;

use p256::ecdsa::signature::hazmat::RandomizedPrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};

use crate::apdu::{sw, Command};
use crate::state::{
    default_algo, CardState, KeySlot, PinRecord, Profile, StateError, ALGO_ECDH, ALGO_ECDSA, AUT,
    DEC, MAX_TRIES, P256_OID, PW1_MIN, PW3_MIN, PW_MAX, SIG,
};
use crate::tlv;

/// The OpenPGP application identifier prefix (RID D276000124, PIX application 01).
pub const OPENPGP_AID_PREFIX: [u8; 6] = [0xD2, 0x76, 0x00, 0x01, 0x24, 0x01];

/// The card's ATR: T=1, with the OpenPGP card's historical bytes.
pub const ATR: [u8; 21] = [
    0x3B, 0xDA, 0x18, 0xFF, 0x81, 0xB1, 0xFE, 0x75, 0x1F, 0x03, 0x00, 0x31, 0xC5, 0x73, 0xC0, 0x01,
    0x40, 0x00, 0x90, 0x00, 0x0C,
];

/// Historical bytes in DO 5F52: category 00, card service data, card capabilities (command chaining, no extended
/// Lc/Le — so long responses must come back with `61xx`), status: operational with life-cycle management.
pub const HISTORICAL: [u8; 10] = [0x00, 0x31, 0xC5, 0x73, 0xC0, 0x01, 0x80, 0x05, 0x90, 0x00];

/// Longest chained command the card accepts.
const MAX_CHAIN: usize = 4096;

/// Card options that are not persistent state.
#[derive(Debug, Clone)]
pub struct AppletOptions {
    /// The most data bytes put in one response before `61xx` (at most 256).
    pub response_chunk: usize,
}

impl Default for AppletOptions {
    fn default() -> Self {
        Self {
            response_chunk: 256,
        }
    }
}

/// The OpenPGP card application with its persistent state and its volatile (per power cycle) state.
pub struct Applet {
    state: CardState,
    path: Option<PathBuf>,
    opts: AppletOptions,
    selected: bool,
    pw1_81: bool,
    pw1_82: bool,
    pw3: bool,
    pending: Vec<u8>,
    chain: Option<(u8, u8, u8, Vec<u8>)>,
}

impl std::fmt::Debug for Applet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applet")
            .field("serial", &self.state.serial)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

type Reply = Result<Vec<u8>, u16>;

fn slot_of_crt(data: &[u8]) -> Result<usize, u16> {
    let (t, _) = tlv::read_tlv(data).map_err(|_| sw::WRONG_DATA)?;
    // An extended CRT with a key reference (84 01 xx) names a Yubico attestation key: not on this card.
    if !t.value.is_empty() {
        return Err(sw::WRONG_DATA);
    }
    match t.tag.0 {
        0xB6 => Ok(SIG),
        0xB8 => Ok(DEC),
        0xA4 => Ok(AUT),
        _ => Err(sw::WRONG_DATA),
    }
}

fn public_key_do(secret: &SecretKey) -> Vec<u8> {
    let point = secret.public_key().to_encoded_point(false);
    tlv::encode(0x7F49, &tlv::encode(0x86, point.as_bytes()))
}

impl Applet {
    /// An applet over `state`, saving to `path` after every change (in memory only when `path` is `None`).
    pub fn new(state: CardState, path: Option<PathBuf>, opts: AppletOptions) -> Applet {
        let mut opts = opts;
        opts.response_chunk = opts.response_chunk.clamp(1, 256);
        Applet {
            state,
            path,
            opts,
            selected: false,
            pw1_81: false,
            pw1_82: false,
            pw3: false,
            pending: vec![],
            chain: None,
        }
    }

    /// The persistent state (read-only).
    pub fn state(&self) -> &CardState {
        &self.state
    }

    /// Power-on or reset: forgets PIN verifications, selection, pending responses and chains.
    pub fn reset(&mut self) {
        self.selected = false;
        self.clear_access();
        self.pending.clear();
        self.chain = None;
    }

    fn clear_access(&mut self) {
        self.pw1_81 = false;
        self.pw1_82 = false;
        self.pw3 = false;
    }

    /// Applies a change to the persistent state and saves it; on a save failure the change is undone (`6581`).
    fn commit(&mut self, change: impl FnOnce(&mut CardState)) -> Result<(), u16> {
        let before = self.state.clone();
        change(&mut self.state);
        if let Some(path) = &self.path {
            if let Err(e) = self.state.save(path) {
                tracing::error!(error = %e, "card memory write failed");
                self.state = before;
                return Err(0x6581);
            }
        }
        Ok(())
    }

    /// Saves the state file now (used at start-up).
    pub fn save(&self) -> Result<(), StateError> {
        match &self.path {
            Some(p) => self.state.save(p),
            None => Ok(()),
        }
    }

    /// Processes one command APDU and returns the response APDU (data and status word).
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let (ins, reply, ne) = match Command::parse(apdu) {
            Ok(cmd) => {
                let ins = cmd.ins;
                let ne = cmd.ne;
                (ins, self.dispatch(cmd), ne)
            }
            Err(_) => (
                apdu.get(1).copied().unwrap_or(0),
                Err(sw::WRONG_LENGTH),
                None,
            ),
        };
        let out = match reply {
            Ok(data) if ins == 0xC0 => self.chunk(data, ne),
            Ok(data) => {
                self.pending.clear();
                self.chunk(data, ne)
            }
            Err(code) => {
                if ins != 0xC0 {
                    self.pending.clear();
                }
                code.to_be_bytes().to_vec()
            }
        };
        let n = out.len();
        tracing::debug!(
            ins = format_args!("{ins:02X}"),
            sw = format_args!("{:02X}{:02X}", out[n - 2], out[n - 1]),
            len = n - 2,
            "apdu"
        );
        out
    }

    /// Returns up to min(Ne, chunk) bytes of `data` with 9000, or a piece with `61xx` keeping the rest pending.
    fn chunk(&mut self, mut data: Vec<u8>, ne: Option<usize>) -> Vec<u8> {
        let cap = ne.unwrap_or(256).min(self.opts.response_chunk);
        if data.len() <= cap {
            data.extend_from_slice(&sw::OK.to_be_bytes());
            return data;
        }
        let rest = data.split_off(cap);
        let left = rest.len();
        self.pending = rest;
        data.push(0x61);
        data.push(if left >= 256 { 0 } else { left as u8 });
        data
    }

    fn dispatch(&mut self, cmd: Command) -> Reply {
        if cmd.cla & 0x0C != 0 {
            return Err(sw::SM_NOT_SUPPORTED);
        }
        if cmd.cla & !0x10 != 0 {
            return Err(sw::CLA_NOT_SUPPORTED);
        }
        if cmd.ins == 0xA4 {
            self.chain = None;
            return self.select(&cmd);
        }
        if self.state.profile != Profile::Openpgp || !self.selected {
            return Err(sw::INS_NOT_SUPPORTED);
        }
        if self.state.terminated && cmd.ins != 0x44 {
            return Err(sw::TERMINATED);
        }
        // Command chaining: collect the pieces, run the whole command on the last one.
        let mut cmd = cmd;
        if cmd.cla & 0x10 != 0 {
            let chain = self
                .chain
                .get_or_insert((cmd.ins, cmd.p1, cmd.p2, Vec::new()));
            if (chain.0, chain.1, chain.2) != (cmd.ins, cmd.p1, cmd.p2) {
                self.chain = None;
                return Err(sw::LAST_OF_CHAIN_EXPECTED);
            }
            if chain.3.len() + cmd.data.len() > MAX_CHAIN {
                self.chain = None;
                return Err(sw::WRONG_LENGTH);
            }
            chain.3.extend_from_slice(&cmd.data);
            return Ok(vec![]);
        }
        if let Some((ins, p1, p2, mut data)) = self.chain.take() {
            if (ins, p1, p2) != (cmd.ins, cmd.p1, cmd.p2) {
                return Err(sw::LAST_OF_CHAIN_EXPECTED);
            }
            data.extend_from_slice(&cmd.data);
            cmd.data = data;
        }
        match cmd.ins {
            0xC0 => self.get_response(),
            0xCA => self.get_data(cmd.p1, cmd.p2),
            0xDA => self.put_data(&cmd),
            0x20 => self.verify(&cmd),
            0x24 => self.change_reference_data(&cmd),
            0x2C => self.reset_retry_counter(&cmd),
            0x47 => self.generate(&cmd),
            0x2A => self.pso(&cmd),
            0x88 => self.internal_authenticate(&cmd),
            0xE6 => self.terminate(),
            0x44 => self.activate(),
            _ => Err(sw::INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 != 0x04 {
            return Err(sw::WRONG_P1P2);
        }
        let aid = self.aid();
        let matches = cmd.data.len() >= 5 && aid.starts_with(&cmd.data);
        if !matches || self.state.profile != Profile::Openpgp {
            self.selected = false;
            return Err(sw::NOT_FOUND);
        }
        self.selected = true;
        self.clear_access();
        if self.state.terminated {
            return Err(sw::TERMINATED);
        }
        Ok(vec![])
    }

    fn get_response(&mut self) -> Reply {
        if self.pending.is_empty() {
            return Err(sw::CONDITIONS);
        }
        Ok(std::mem::take(&mut self.pending))
    }

    // ---- data objects ----

    fn aid(&self) -> Vec<u8> {
        let mut v = OPENPGP_AID_PREFIX.to_vec();
        v.extend_from_slice(&[0x03, 0x04]);
        v.extend_from_slice(&self.state.manufacturer.to_be_bytes());
        v.extend_from_slice(&self.state.serial.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v
    }

    fn ext_caps() -> [u8; 10] {
        // PW status changeable 0x10, private-use DOs 0x08, algorithm attributes changeable 0x04;
        // no SM, no GET CHALLENGE, no key import, no AES, no KDF; special DOs up to 255 bytes.
        [0x1C, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00, 0x00]
    }

    fn pw_status(&self) -> Vec<u8> {
        let s = &self.state;
        vec![
            u8::from(s.pw1_cds_multi),
            PW_MAX as u8,
            PW_MAX as u8,
            PW_MAX as u8,
            s.pw1.tries,
            s.rc.as_ref().map_or(0, |r| r.tries),
            s.pw3.tries,
        ]
    }

    fn key_info(&self) -> Vec<u8> {
        let st = |i: usize| self.state.keys[i].as_ref().map_or(0, |k| k.origin);
        vec![0x01, st(SIG), 0x02, st(DEC), 0x03, st(AUT)]
    }

    fn eli() -> Vec<u8> {
        [
            tlv::encode(0x02, &[0x08, 0x00]),
            tlv::encode(0x02, &[0x08, 0x00]),
        ]
        .concat()
    }

    fn algo_info() -> Vec<u8> {
        let mut list = Vec::new();
        for (tag, slot) in [(0xC1, SIG), (0xC2, DEC), (0xC3, AUT)] {
            list.extend(tlv::encode(tag, &default_algo(slot)));
        }
        tlv::encode(0xFA, &list)
    }

    fn discretionary(&self) -> Vec<u8> {
        let s = &self.state;
        let mut v = Vec::new();
        v.extend(tlv::encode(0xC0, &Self::ext_caps()));
        for (tag, slot) in [(0xC1, SIG), (0xC2, DEC), (0xC3, AUT)] {
            v.extend(tlv::encode(tag, &s.algo[slot].0));
        }
        v.extend(tlv::encode(0xC4, &self.pw_status()));
        v.extend(tlv::encode(
            0xC5,
            &s.fingerprints
                .iter()
                .flat_map(|f| f.0.clone())
                .collect::<Vec<_>>(),
        ));
        v.extend(tlv::encode(
            0xC6,
            &s.ca_fingerprints
                .iter()
                .flat_map(|f| f.0.clone())
                .collect::<Vec<_>>(),
        ));
        v.extend(tlv::encode(
            0xCD,
            &s.gen_times
                .iter()
                .flat_map(|t| t.to_be_bytes())
                .collect::<Vec<_>>(),
        ));
        v.extend(tlv::encode(0xDE, &self.key_info()));
        v
    }

    fn cardholder(&self) -> Vec<u8> {
        let s = &self.state;
        [
            tlv::encode(0x5B, &s.name.0),
            tlv::encode(0x5F2D, &s.lang.0),
            tlv::encode(0x5F35, &[s.sex]),
        ]
        .concat()
    }

    fn get_data(&mut self, p1: u8, p2: u8) -> Reply {
        let tag = u16::from_be_bytes([p1, p2]);
        let s = &self.state;
        Ok(match tag {
            0x004F => self.aid(),
            0x005E => s.login.0.clone(),
            0x5F50 => s.url.0.clone(),
            0x5F52 => HISTORICAL.to_vec(),
            0x0065 => self.cardholder(),
            0x006E => [
                tlv::encode(0x4F, &self.aid()),
                tlv::encode(0x5F52, &HISTORICAL),
                tlv::encode(0x7F66, &Self::eli()),
                tlv::encode(0x73, &self.discretionary()),
            ]
            .concat(),
            0x007A => tlv::encode(0x93, &s.sig_count.to_be_bytes()[1..]),
            0x7F66 => Self::eli(),
            0x00C0 => Self::ext_caps().to_vec(),
            0x00C1..=0x00C3 => s.algo[(tag - 0xC1) as usize].0.clone(),
            0x00C4 => self.pw_status(),
            0x00DE => self.key_info(),
            0x00FA => Self::algo_info(),
            0x0101 | 0x0102 => s.private_use[(tag - 0x0101) as usize].0.clone(),
            0x0103 => {
                if !self.pw1_82 {
                    return Err(sw::SECURITY_STATUS);
                }
                s.private_use[2].0.clone()
            }
            0x0104 => {
                if !self.pw3 {
                    return Err(sw::SECURITY_STATUS);
                }
                s.private_use[3].0.clone()
            }
            _ => return Err(sw::DATA_NOT_FOUND),
        })
    }

    fn put_data(&mut self, cmd: &Command) -> Reply {
        let tag = u16::from_be_bytes([cmd.p1, cmd.p2]);
        let needs_pw1 = matches!(tag, 0x0101 | 0x0103);
        if needs_pw1 && !self.pw1_82 || !needs_pw1 && !self.pw3 {
            return Err(sw::SECURITY_STATUS);
        }
        let d = cmd.data.clone();
        let max = |n: usize| {
            if d.len() > n {
                Err(sw::WRONG_LENGTH)
            } else {
                Ok(())
            }
        };
        match tag {
            0x005B => {
                max(39)?;
                self.commit(|s| s.name.0 = d)?;
            }
            0x005E => {
                max(255)?;
                self.commit(|s| s.login.0 = d)?;
            }
            0x5F2D => {
                max(8)?;
                self.commit(|s| s.lang.0 = d)?;
            }
            0x5F35 => {
                if d.len() != 1 {
                    return Err(sw::WRONG_LENGTH);
                }
                self.commit(|s| s.sex = d[0])?;
            }
            0x5F50 => {
                max(255)?;
                self.commit(|s| s.url.0 = d)?;
            }
            0x0101..=0x0104 => {
                max(255)?;
                self.commit(|s| s.private_use[(tag - 0x0101) as usize].0 = d)?;
            }
            0x00C1..=0x00C3 => {
                let slot = (tag - 0xC1) as usize;
                let want = if slot == DEC { ALGO_ECDH } else { ALGO_ECDSA };
                // Algorithm id, the P-256 OID, and an optional import-format byte (00 or FF).
                let ok = d.len() >= 9
                    && d[0] == want
                    && d[1..9] == P256_OID
                    && (d.len() == 9 || d.len() == 10 && matches!(d[9], 0x00 | 0xFF));
                if !ok {
                    return Err(sw::WRONG_DATA);
                }
                self.commit(|s| s.algo[slot].0 = d)?;
            }
            0x00C4 => {
                // One byte (PW1 valid for several PSO:CDS) or four (with lengths, which this card cannot change).
                if d.len() != 1 && d.len() != 4 {
                    return Err(sw::WRONG_LENGTH);
                }
                if d[0] > 1 || d.len() == 4 && d[1..].iter().any(|&b| b & 0x80 != 0) {
                    return Err(sw::WRONG_DATA);
                }
                self.commit(|s| s.pw1_cds_multi = d[0] == 1)?;
            }
            0x00C7..=0x00C9 => {
                if d.len() != 20 {
                    return Err(sw::WRONG_LENGTH);
                }
                self.commit(|s| s.fingerprints[(tag - 0xC7) as usize].0 = d)?;
            }
            0x00CA..=0x00CC => {
                if d.len() != 20 {
                    return Err(sw::WRONG_LENGTH);
                }
                self.commit(|s| s.ca_fingerprints[(tag - 0xCA) as usize].0 = d)?;
            }
            0x00CE..=0x00D0 => {
                let t: [u8; 4] = d.as_slice().try_into().map_err(|_| sw::WRONG_LENGTH)?;
                self.commit(|s| s.gen_times[(tag - 0xCE) as usize] = u32::from_be_bytes(t))?;
            }
            0x00D3 => {
                if d.is_empty() {
                    self.commit(|s| s.rc = None)?;
                } else {
                    if d.len() < PW3_MIN || d.len() > PW_MAX {
                        return Err(sw::WRONG_LENGTH);
                    }
                    let rec = PinRecord::new(&d);
                    self.commit(|s| s.rc = Some(rec))?;
                }
            }
            _ => return Err(sw::DATA_NOT_FOUND),
        }
        Ok(vec![])
    }

    // ---- PINs ----

    fn pin_mut(state: &mut CardState, p2: u8) -> &mut PinRecord {
        if p2 == 0x83 {
            &mut state.pw3
        } else {
            &mut state.pw1
        }
    }

    /// Compares `candidate` with PIN `p2`'s reference data, counting a failure before answering.
    fn check_pin(&mut self, p2: u8, candidate: &[u8]) -> Result<(), u16> {
        let rec = Self::pin_mut(&mut self.state, p2);
        if rec.tries == 0 {
            return Err(sw::BLOCKED);
        }
        if rec.matches(candidate) {
            if rec.tries != MAX_TRIES {
                self.commit(|s| Self::pin_mut(s, p2).tries = MAX_TRIES)?;
            }
            Ok(())
        } else {
            self.commit(|s| Self::pin_mut(s, p2).tries -= 1)?;
            let left = Self::pin_mut(&mut self.state, p2).tries;
            tracing::info!(
                pin = if p2 == 0x83 { "PW3" } else { "PW1" },
                tries_left = left,
                "wrong PIN"
            );
            Err(if left == 0 {
                sw::BLOCKED
            } else {
                sw::tries_left(left)
            })
        }
    }

    fn verify(&mut self, cmd: &Command) -> Reply {
        if !matches!(cmd.p2, 0x81..=0x83) {
            return Err(sw::WRONG_P1P2);
        }
        if cmd.p1 == 0xFF && cmd.data.is_empty() {
            match cmd.p2 {
                0x81 => self.pw1_81 = false,
                0x82 => self.pw1_82 = false,
                _ => self.pw3 = false,
            }
            return Ok(vec![]);
        }
        if cmd.p1 != 0x00 {
            return Err(sw::WRONG_P1P2);
        }
        if cmd.data.is_empty() {
            // Status query: verified, or how many tries are left.
            let verified = match cmd.p2 {
                0x81 => self.pw1_81,
                0x82 => self.pw1_82,
                _ => self.pw3,
            };
            let tries = Self::pin_mut(&mut self.state, cmd.p2).tries;
            return if verified {
                Ok(vec![])
            } else if tries == 0 {
                Err(sw::BLOCKED)
            } else {
                Err(sw::tries_left(tries))
            };
        }
        self.check_pin(cmd.p2, &cmd.data)?;
        match cmd.p2 {
            0x81 => self.pw1_81 = true,
            0x82 => self.pw1_82 = true,
            _ => self.pw3 = true,
        }
        Ok(vec![])
    }

    fn change_reference_data(&mut self, cmd: &Command) -> Reply {
        if cmd.p1 != 0 || !matches!(cmd.p2, 0x81 | 0x83) {
            return Err(sw::WRONG_P1P2);
        }
        let old_len = Self::pin_mut(&mut self.state, cmd.p2).len;
        if cmd.data.len() <= old_len {
            // Cannot even hold the old PIN and a new one: counts as a wrong PIN.
            self.check_pin(cmd.p2, &cmd.data)?;
            return Err(sw::WRONG_LENGTH);
        }
        let (old, new) = cmd.data.split_at(old_len);
        self.check_pin(cmd.p2, old)?;
        let min = if cmd.p2 == 0x83 { PW3_MIN } else { PW1_MIN };
        if new.len() < min || new.len() > PW_MAX {
            return Err(sw::WRONG_LENGTH);
        }
        let rec = PinRecord::new(new);
        let p2 = cmd.p2;
        self.commit(|s| *Self::pin_mut(s, p2) = rec)?;
        Ok(vec![])
    }

    fn reset_retry_counter(&mut self, cmd: &Command) -> Reply {
        if cmd.p2 != 0x81 {
            return Err(sw::WRONG_P1P2);
        }
        let new = match cmd.p1 {
            0x00 => {
                let Some(rc) = self.state.rc.clone() else {
                    return Err(sw::SECURITY_STATUS);
                };
                if rc.tries == 0 {
                    return Err(sw::BLOCKED);
                }
                if cmd.data.len() <= rc.len || !rc.matches(&cmd.data[..rc.len]) {
                    self.commit(|s| {
                        if let Some(r) = s.rc.as_mut() {
                            r.tries -= 1;
                        }
                    })?;
                    let left = rc.tries - 1;
                    return Err(if left == 0 {
                        sw::BLOCKED
                    } else {
                        sw::tries_left(left)
                    });
                }
                self.commit(|s| {
                    if let Some(r) = s.rc.as_mut() {
                        r.tries = MAX_TRIES;
                    }
                })?;
                cmd.data[rc.len..].to_vec()
            }
            0x02 => {
                if !self.pw3 {
                    return Err(sw::SECURITY_STATUS);
                }
                cmd.data.clone()
            }
            _ => return Err(sw::WRONG_P1P2),
        };
        if new.len() < PW1_MIN || new.len() > PW_MAX {
            return Err(sw::WRONG_LENGTH);
        }
        let rec = PinRecord::new(&new);
        self.commit(|s| s.pw1 = rec)?;
        tracing::info!("PW1 reset");
        Ok(vec![])
    }

    // ---- keys ----

    fn secret(&self, slot: usize) -> Result<SecretKey, u16> {
        let k = self.state.keys[slot].as_ref().ok_or(sw::DATA_NOT_FOUND)?;
        SecretKey::from_slice(&k.secret).map_err(|_| sw::UNKNOWN)
    }

    fn generate(&mut self, cmd: &Command) -> Reply {
        if cmd.p2 != 0 {
            return Err(sw::WRONG_P1P2);
        }
        let slot = slot_of_crt(&cmd.data)?;
        match cmd.p1 {
            0x80 => {
                if !self.pw3 {
                    return Err(sw::SECURITY_STATUS);
                }
                let secret = SecretKey::random(&mut rand_core::OsRng);
                let bytes = secret.to_bytes().to_vec();
                self.commit(|s| {
                    s.keys[slot] = Some(KeySlot {
                        secret: bytes,
                        origin: 1,
                    });
                    s.fingerprints[slot].0 = vec![0; 20];
                    s.gen_times[slot] = 0;
                    if slot == SIG {
                        s.sig_count = 0;
                    }
                })?;
                tracing::info!(slot, "key generated");
                Ok(public_key_do(&secret))
            }
            0x81 => Ok(public_key_do(&self.secret(slot)?)),
            _ => Err(sw::WRONG_P1P2),
        }
    }

    fn sign_with(&self, slot: usize, digest: &[u8]) -> Reply {
        let key = SigningKey::from(self.secret(slot)?);
        let sig: Signature = key
            .sign_prehash_with_rng(&mut rand_core::OsRng, digest)
            .map_err(|_| sw::WRONG_DATA)?;
        Ok(sig.to_bytes().to_vec())
    }

    fn pso(&mut self, cmd: &Command) -> Reply {
        match (cmd.p1, cmd.p2) {
            (0x9E, 0x9A) => {
                if !self.pw1_81 {
                    return Err(sw::SECURITY_STATUS);
                }
                if !(16..=64).contains(&cmd.data.len()) {
                    return Err(sw::WRONG_DATA);
                }
                let sig = self.sign_with(SIG, &cmd.data)?;
                if !self.state.pw1_cds_multi {
                    self.pw1_81 = false;
                }
                self.commit(|s| s.sig_count = (s.sig_count + 1) & 0x00FF_FFFF)?;
                Ok(sig)
            }
            (0x80, 0x86) => {
                if !self.pw1_82 {
                    return Err(sw::SECURITY_STATUS);
                }
                // A6 { 7F49 { 86 <uncompressed point> } }
                let cipher = tlv::find(&cmd.data, tlv::Tag(0xA6))
                    .map_err(|_| sw::WRONG_DATA)?
                    .ok_or(sw::WRONG_DATA)?;
                let point = tlv::find(cipher, tlv::Tag(0x86))
                    .map_err(|_| sw::WRONG_DATA)?
                    .ok_or(sw::WRONG_DATA)?;
                let peer = PublicKey::from_sec1_bytes(point).map_err(|_| sw::WRONG_DATA)?;
                let secret = self.secret(DEC)?;
                let shared =
                    p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
                Ok(shared.raw_secret_bytes().to_vec())
            }
            _ => Err(sw::WRONG_P1P2),
        }
    }

    fn internal_authenticate(&mut self, cmd: &Command) -> Reply {
        if !self.pw1_82 {
            return Err(sw::SECURITY_STATUS);
        }
        if !(16..=64).contains(&cmd.data.len()) {
            return Err(sw::WRONG_DATA);
        }
        self.sign_with(AUT, &cmd.data)
    }

    // ---- life cycle ----

    fn terminate(&mut self) -> Reply {
        if !self.pw3 && self.state.pw3.tries != 0 {
            return Err(sw::SECURITY_STATUS);
        }
        self.commit(|s| s.terminated = true)?;
        self.clear_access();
        tracing::info!("application terminated");
        Ok(vec![])
    }

    fn activate(&mut self) -> Reply {
        if self.state.terminated {
            self.commit(|s| {
                s.factory_reset();
            })?;
            self.clear_access();
            tracing::info!("application activated: factory state");
        }
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applet() -> Applet {
        let mut a = Applet::new(
            CardState::blank(Profile::Openpgp, Some(1)),
            None,
            AppletOptions::default(),
        );
        assert_eq!(
            a.process(&[0, 0xA4, 4, 0, 6, 0xD2, 0x76, 0, 1, 0x24, 1]),
            vec![0x90, 0]
        );
        a
    }

    fn sw_of(r: &[u8]) -> u16 {
        u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
    }

    #[test]
    fn atr_checksum() {
        assert_eq!(ATR[1..].iter().fold(0u8, |a, b| a ^ b), 0);
    }

    #[test]
    fn wrong_pin_counts_down_and_blocks() {
        let mut a = applet();
        assert_eq!(
            sw_of(&a.process(&[0, 0x20, 0, 0x81, 3, b'0', b'0', b'0'])),
            0x63C2
        );
        assert_eq!(
            sw_of(&a.process(&[0, 0x20, 0, 0x81, 3, b'0', b'0', b'0'])),
            0x63C1
        );
        assert_eq!(
            sw_of(&a.process(&[0, 0x20, 0, 0x81, 3, b'0', b'0', b'0'])),
            0x6983
        );
        let mut ok = vec![0, 0x20, 0, 0x81, 6];
        ok.extend_from_slice(b"123456");
        assert_eq!(sw_of(&a.process(&ok)), 0x6983);
    }

    #[test]
    fn long_response_is_chained() {
        let mut a = Applet::new(
            CardState::blank(Profile::Openpgp, Some(1)),
            None,
            AppletOptions { response_chunk: 32 },
        );
        a.process(&[0, 0xA4, 4, 0, 6, 0xD2, 0x76, 0, 1, 0x24, 1]);
        let mut r = a.process(&[0, 0xCA, 0, 0x6E, 0]);
        let mut all = Vec::new();
        while r[r.len() - 2] == 0x61 {
            all.extend_from_slice(&r[..r.len() - 2]);
            r = a.process(&[0, 0xC0, 0, 0, r[r.len() - 1]]);
        }
        assert_eq!(sw_of(&r), 0x9000);
        all.extend_from_slice(&r[..r.len() - 2]);
        assert!(all.len() > 200);
        assert!(tlv::parse_all(&all).is_ok());
    }
}
