//! The virtual cards: one blank card a visit, in one of vpcd's readers (the two Debian configures, plus the
//! channels `scripts/load.sh` adds), through the real pcscd.

use std::sync::Arc;
use std::time::Duration;

use carekiosk_card::ReaderPattern;
use carekiosk_card_sim::{Sim, SimConfig};

use crate::LoadError;

/// A vpcd reader and the TCP port its card connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// PC/SC reader name.
    pub name: String,
    /// vpcd port.
    pub port: u16,
}

/// The vpcd port behind a reader name: `Virtual PCD 00 0s` (Debian's channel, 35963 + s) or
/// `Load PCD <port> nn 0s` (a channel added by the load script, `<port>` + s).
pub fn port_of(name: &str) -> Option<u16> {
    let words: Vec<&str> = name.split_whitespace().collect();
    let slot: u16 = words.last()?.parse().ok()?;
    match words.as_slice() {
        ["Virtual", "PCD", "00", _] => Some(35963 + slot),
        ["Load", "PCD", base, _, _] => Some(base.parse::<u16>().ok()? + slot),
        _ => None,
    }
}

/// The empty vpcd readers pcscd reports now.
pub fn free_readers() -> Result<Vec<Slot>, LoadError> {
    let mut out: Vec<Slot> = carekiosk_card::list_readers(&ReaderPattern::new("PCD"))?
        .into_iter()
        .filter(|r| !r.card_present)
        .filter_map(|r| port_of(&r.name).map(|port| Slot { name: r.name, port }))
        .collect();
    out.sort_by_key(|s| s.port);
    Ok(out)
}

/// A blank virtual card in `slot`, once pcscd sees it.
pub async fn insert_blank(slot: &Slot) -> Result<Arc<Sim>, LoadError> {
    let slot = slot.clone();
    tokio::task::spawn_blocking(move || {
        let sim = Sim::start(SimConfig::in_memory(slot.port))?;
        if !carekiosk_card::wait_for_card(&slot.name, Duration::from_secs(15))? {
            return Err(LoadError::NoCardSeen(slot.name));
        }
        Ok(Arc::new(sim))
    })
    .await?
}

/// Waits (up to `secs`) until pcscd sees the card in `slot` again.
pub async fn wait_present(slot: &Slot, secs: u64) -> bool {
    let name = slot.name.clone();
    tokio::task::spawn_blocking(move || {
        carekiosk_card::wait_for_card(&name, Duration::from_secs(secs)).unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// Takes the card out (stopping it) and waits until pcscd sees the reader empty.
pub async fn remove(slot: &Slot, sim: Arc<Sim>) {
    let name = slot.name.clone();
    let _ = tokio::task::spawn_blocking(move || {
        sim.remove();
        drop(sim);
        carekiosk_card::wait_for_removal(&name, Duration::from_secs(10)).unwrap_or(false)
    })
    .await;
}

/// Pulls the card and puts it back `after` later (a patient tugging at it mid-step).
pub async fn pull(sim: &Arc<Sim>, after: Duration) {
    sim.remove();
    tokio::time::sleep(after).await;
    sim.insert();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_names_map_to_vpcd_ports() {
        assert_eq!(port_of("Virtual PCD 00 00"), Some(35963));
        assert_eq!(port_of("Virtual PCD 00 01"), Some(35964));
        assert_eq!(port_of("Load PCD 35965 01 00"), Some(35965));
        assert_eq!(port_of("Load PCD 35977 07 01"), Some(35978));
        assert_eq!(port_of("Virtual PCD 01 00"), None);
        assert_eq!(port_of("Yubico YubiKey"), None);
    }
}
