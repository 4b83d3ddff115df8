//! Card readers through PC/SC: list them, pick one by the kiosk config's name pattern, wait for a card.
//!
//! pcscd polls its readers (every 400 ms for vpcd and most USB readers without interrupt support), so an
//! insertion or removal shows up here 200–400 ms after it happened. Waiting functions therefore take a timeout of
//! at least a second, and a card operation may fail with [`CardError::CardRemoved`] before the removal is reported
//! as an event: the app treats both the same way.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State};

use crate::error::from_pcsc;
use crate::CardError;

/// A reader name pattern from the kiosk config: `*` matches any run of characters; a pattern without `*` matches
/// any reader whose name contains it; matching ignores case; the empty pattern matches every reader.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReaderPattern(pub String);

impl ReaderPattern {
    /// A pattern.
    pub fn new(p: impl Into<String>) -> ReaderPattern {
        ReaderPattern(p.into())
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let p = self.0.to_lowercase();
        let n = name.to_lowercase();
        if !p.contains('*') {
            return n.contains(&p);
        }
        glob(p.as_bytes(), n.as_bytes())
    }
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    // Iterative wildcard match with backtracking to the last '*'.
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && p[pi] != b'*' && p[pi] == n[ni] {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A reader and whether a card is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The reader's PC/SC name, e.g. `Virtual PCD 00 00`.
    pub name: String,
    /// A card is present.
    pub card_present: bool,
    /// The card's ATR, when present.
    pub atr: Option<Vec<u8>>,
}

pub(crate) fn context() -> Result<Context, CardError> {
    Context::establish(Scope::User).map_err(from_pcsc)
}

pub(crate) fn reader_names(ctx: &Context) -> Result<Vec<String>, CardError> {
    match ctx.list_readers_owned() {
        Ok(v) => Ok(v
            .into_iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect()),
        Err(pcsc::Error::NoReadersAvailable) => Ok(vec![]),
        Err(e) => Err(from_pcsc(e)),
    }
}

pub(crate) fn status_of(ctx: &Context, names: &[String]) -> Result<Vec<ReaderInfo>, CardError> {
    let mut states: Vec<ReaderState> = names
        .iter()
        .filter_map(|n| CString::new(n.as_str()).ok())
        .map(|c| ReaderState::new(c, State::UNAWARE))
        .collect();
    if states.is_empty() {
        return Ok(vec![]);
    }
    ctx.get_status_change(Duration::ZERO, &mut states)
        .map_err(from_pcsc)?;
    Ok(states
        .iter()
        .map(|s| {
            let present = s.event_state().contains(State::PRESENT);
            ReaderInfo {
                name: s.name().to_string_lossy().into_owned(),
                card_present: present,
                atr: present.then(|| s.atr().to_vec()),
            }
        })
        .collect())
}

/// Lists the readers matching `pattern`, with card presence.
pub fn list_readers(pattern: &ReaderPattern) -> Result<Vec<ReaderInfo>, CardError> {
    let ctx = context()?;
    let names: Vec<String> = reader_names(&ctx)?
        .into_iter()
        .filter(|n| pattern.matches(n))
        .collect();
    status_of(&ctx, &names)
}

/// The first reader (in PC/SC order) matching `pattern`.
pub fn find_reader(pattern: &ReaderPattern) -> Result<String, CardError> {
    let ctx = context()?;
    reader_names(&ctx)?
        .into_iter()
        .find(|n| pattern.matches(n))
        .ok_or(CardError::NoReader)
}

fn wait_for(reader: &str, present: bool, timeout: Duration) -> Result<bool, CardError> {
    let ctx = context()?;
    let name = CString::new(reader)
        .map_err(|_| CardError::InvalidInput("reader name contains NUL".into()))?;
    let deadline = Instant::now() + timeout;
    let mut states = [ReaderState::new(name, State::UNAWARE)];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => return Ok(false),
            Err(e) => return Err(from_pcsc(e)),
        }
        let ev = states[0].event_state();
        if ev.contains(State::UNKNOWN) || ev.contains(State::UNAVAILABLE) {
            return Err(CardError::NoReader);
        }
        if ev.contains(State::PRESENT) == present && !ev.contains(State::MUTE) {
            return Ok(true);
        }
        if left.is_zero() {
            return Ok(false);
        }
        states[0].sync_current_state();
    }
}

/// Waits until a card is in `reader` (`Ok(false)` on timeout). Allow for pcscd's 200–400 ms polling delay.
pub fn wait_for_card(reader: &str, timeout: Duration) -> Result<bool, CardError> {
    wait_for(reader, true, timeout)
}

/// Waits until `reader` is empty (`Ok(false)` on timeout).
pub fn wait_for_removal(reader: &str, timeout: Duration) -> Result<bool, CardError> {
    wait_for(reader, false, timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let p = ReaderPattern::new("virtual pcd 00 01");
        assert!(p.matches("Virtual PCD 00 01"));
        assert!(!p.matches("Virtual PCD 00 00"));
        assert!(ReaderPattern::new("").matches("anything"));
        assert!(ReaderPattern::new("Yubico*CCID*").matches("Yubico YubiKey OTP+FIDO+CCID 00 00"));
        assert!(!ReaderPattern::new("Yubico*CCID").matches("Yubico YubiKey OTP+FIDO+CCID 00 00"));
        assert!(ReaderPattern::new("*00 00").matches("Virtual PCD 00 00"));
    }
}
