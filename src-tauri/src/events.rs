//! What the core says on its own, pushed to the screen: the kiosk opening (or why not), the card entering and
//! leaving the reader, and every second the node's block height and the outbox's pending writes. When the node
//! is back, pending writes are sent from here (the outbox decides what and how).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use carekiosk_card::{CardEvent, CardMonitor, ReaderInfo, ReaderPattern};
use carekiosk_kiosk::{Kiosk, KioskConfig, KioskError};
use tauri::{AppHandle, Emitter, Manager, Runtime};

use crate::state::AppState;
use crate::views::{
    ConsentLimits, EnrolmentView, GasView, KioskInfo, PendingWrite, ReaderState, ReaderView,
    StatusView,
};

/// Event names the UI listens to.
pub const INFO: &str = "kiosk://info";
pub const CARD: &str = "kiosk://card";
pub const STATUS: &str = "kiosk://status";

/// Starts the background tasks.
pub fn spawn(app: AppHandle) {
    tauri::async_runtime::spawn(keep_open(app.clone()));
    let card_app = app.clone();
    std::thread::Builder::new()
        .name("card-events".into())
        .spawn(move || tauri::async_runtime::block_on(watch_card(card_app)))
        .ok();
    tauri::async_runtime::spawn(status_loop(app));
}

/// Opens the kiosk again (after its set-up was reset): only once it had opened, as the first attempts go on
/// until it does.
pub fn reopen<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(keep_open(app));
}

/// Opens the kiosk; until it opens (node down, not registered yet, not set up yet), tries again every few
/// seconds. A kiosk set up on its first run takes its institution's offer to enrol it as soon as it is on chain.
async fn keep_open<R: Runtime>(app: AppHandle<R>) {
    loop {
        let state = app.state::<AppState>();
        if state.is_open().await {
            return;
        }
        if state.launch.first_run() {
            if let Ok(mut slot) = state.open_error.lock() {
                *slot = None;
            }
        } else {
            let opened = match state.launch.kiosk_config() {
                Ok(c) => open_or_enrol(&state, c).await,
                Err(e) => Err(e),
            };
            match opened {
                Ok(k) => {
                    tracing::info!(address = %k.address, role = k.config.role.as_str(), "kiosk open");
                    if let Ok(mut e) = state.enrolment.lock() {
                        *e = None;
                    }
                    state.set_kiosk(k).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the kiosk could not open");
                    if let Ok(mut slot) = state.open_error.lock() {
                        *slot = Some(e.to_string());
                    }
                }
            }
        }
        let _ = app.emit(INFO, info(&state).await);
        if state.is_open().await {
            return;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
}

/// Opens the kiosk; one set up on its first run and not enrolled yet looks for its institution's offer and
/// accepts it (then opens), or records what it waits for.
async fn open_or_enrol(state: &AppState, c: KioskConfig) -> Result<Kiosk, KioskError> {
    use carekiosk_kiosk::enrol::{accept_offer, Enrolment};
    let refused = match Kiosk::open(c.clone()).await {
        Err(e @ KioskError::NotRegistered { .. }) => e,
        other => return other,
    };
    let Some(institution) = c.institution else {
        return Err(refused);
    };
    let (address, what, offer) = match accept_offer(&c, institution).await? {
        Enrolment::Enrolled | Enrolment::Accepted(_) => return Kiosk::open(c).await,
        Enrolment::Waiting {
            address,
            offer: None,
        } => (address, "waiting", None),
        Enrolment::Waiting {
            address,
            offer: Some(o),
        } => (address, "other-offer", Some(o.to_string())),
        Enrolment::NeedsGas { address } => (address, "needs-gas", None),
    };
    let chain_id = carekiosk_kiosk::kiosk::load_network(&c)
        .map(|(_, d)| d.chain_id)
        .unwrap_or_default();
    let (qr_width, modules) =
        carekiosk_letter::qr_modules(&format!("ethereum:{address}@{chain_id}"))
            .map_err(|e| KioskError::Invalid(format!("the address's QR code: {e}")))?;
    if let Ok(mut slot) = state.enrolment.lock() {
        *slot = Some(EnrolmentView {
            address: address.to_string(),
            state: what.into(),
            institution: institution.to_string(),
            offer,
            qr_width,
            qr_modules: modules.iter().map(|d| if *d { '1' } else { '0' }).collect(),
        });
    }
    Err(refused)
}

/// The kiosk's identity, for the screen.
pub async fn info(state: &AppState) -> KioskInfo {
    let config = state.launch.kiosk_config().ok();
    let error = state.open_error.lock().ok().and_then(|e| e.clone());
    let base = KioskInfo {
        role: state.launch.role().as_str().into(),
        lang: state.launch.lang.clone(),
        ready: false,
        error,
        profile: config
            .as_ref()
            .map(|c| c.profile_name())
            .unwrap_or_default(),
        chain_id: None,
        rpc_url: None,
        explorer: None,
        address: None,
        institution: None,
        institution_id: None,
        reader: config
            .as_ref()
            .map(|c| c.reader.clone())
            .unwrap_or_default(),
        idle_timeout_secs: config.as_ref().map(|c| c.idle_timeout_secs).unwrap_or(120),
        token_symbol: None,
        token_decimals: None,
        consent: ConsentLimits::of(
            config
                .as_ref()
                .map(|c| c.role)
                .unwrap_or(state.launch.role()),
        ),
        text_scale: config.as_ref().and_then(|c| c.text_scale),
        kiosk_mode: state.launch.kiosk_mode(),
        first_run: state.launch.first_run(),
        from_setup: state.launch.from_setup(),
        enrolment: state.enrolment.lock().ok().and_then(|e| e.clone()),
    };
    match state.kiosk().await {
        Ok(k) => KioskInfo {
            ready: true,
            error: None,
            role: k.config.role.as_str().into(),
            profile: k.profile.name.clone(),
            chain_id: Some(k.chain.chain_id()),
            rpc_url: Some(k.chain.url().to_string()),
            explorer: (!k.profile.explorer.is_empty()).then(|| k.profile.explorer.clone()),
            address: Some(k.address.to_string()),
            institution: Some(k.institution.to_string()),
            institution_id: Some(k.institution_id),
            token_symbol: Some(k.profile.token.symbol.clone()),
            token_decimals: Some(k.profile.token.decimals),
            consent: ConsentLimits::of(k.config.role),
            ..base
        },
        Err(_) => base,
    }
}

/// The reader state from the monitor's snapshot.
fn reader_view(readers: &[ReaderInfo], service_up: bool) -> ReaderView {
    if !service_up {
        return ReaderView {
            state: ReaderState::NoService,
            reader: None,
        };
    }
    if let Some(r) = readers.iter().find(|r| r.card_present) {
        return ReaderView {
            state: ReaderState::Card,
            reader: Some(r.name.clone()),
        };
    }
    match readers.first() {
        Some(r) => ReaderView {
            state: ReaderState::Empty,
            reader: Some(r.name.clone()),
        },
        None => ReaderView {
            state: ReaderState::NoReader,
            reader: None,
        },
    }
}

/// Follows the reader: publishes its state; when the card leaves, the patient's session ends at once.
async fn watch_card(app: AppHandle) {
    let state = app.state::<AppState>();
    let pattern = state
        .launch
        .kiosk_config()
        .map(|c| c.reader)
        .unwrap_or_default();
    let monitor = loop {
        match CardMonitor::start(ReaderPattern::new(pattern.clone())) {
            Ok(m) => break m,
            Err(e) => {
                tracing::warn!(error = %e, "card monitor not started; retrying");
                publish_reader(
                    &app,
                    ReaderView {
                        state: ReaderState::NoService,
                        reader: None,
                    },
                );
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let mut rx = monitor.subscribe();
    let mut service_up = true;
    publish_reader(&app, reader_view(&monitor.readers(), service_up));
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        };
        match &ev {
            CardEvent::ServiceUnavailable => service_up = false,
            CardEvent::ServiceRestored => service_up = true,
            _ => {}
        }
        let view = reader_view(&monitor.readers(), service_up);
        if view.state != ReaderState::Card {
            // The card is gone: whatever was open for the patient closes now.
            state.card_left();
            let app2 = app.clone();
            tauri::async_runtime::spawn(
                async move { app2.state::<AppState>().end_session().await },
            );
        }
        tracing::debug!(state = ?view.state, "reader");
        publish_reader(&app, view);
    }
}

fn publish_reader(app: &AppHandle, view: ReaderView) {
    let state = app.state::<AppState>();
    let changed = match state.reader.lock() {
        Ok(mut r) => {
            let changed = *r != view;
            *r = view.clone();
            changed
        }
        Err(_) => true,
    };
    if changed {
        let _ = app.emit(CARD, view);
    }
}

/// Node, block and outbox, now.
pub async fn status(state: &AppState) -> StatusView {
    let reader = state.reader.lock().map(|r| r.clone()).unwrap_or_default();
    let Ok(k) = state.kiosk().await else {
        return StatusView {
            online: false,
            rate_limited: false,
            gas: None,
            block: None,
            chain_id: None,
            pending: vec![],
            not_final: 0,
            reader,
        };
    };
    // One look at the node, no retries: offline only when it cannot be reached (or does not answer in time).
    let node = tokio::time::timeout(Duration::from_secs(3), k.node_status())
        .await
        .ok();
    let pending = k
        .outbox
        .pending()
        .map(|p| {
            p.iter()
                .map(|e| PendingWrite::from_entry(e, |h| k.profile.tx_link(h)))
                .collect()
        })
        .unwrap_or_default();
    let not_final = k.store.unfinal().map(|v| v.len()).unwrap_or_default();
    StatusView {
        online: node.as_ref().is_some_and(|n| n.online),
        rate_limited: node.as_ref().is_some_and(|n| n.rate_limited),
        gas: node
            .as_ref()
            .and_then(|n| n.gas.as_ref())
            .map(GasView::from),
        block: node.and_then(|n| n.block),
        chain_id: Some(k.chain.chain_id()),
        pending,
        not_final,
        reader,
    }
}

/// Every second: the status to the screen; pending writes sent once the node answers; included writes checked
/// for finality (and sent again if a reorg took them) now and then, by the outbox's drain.
async fn status_loop(app: AppHandle) {
    let draining = Arc::new(AtomicBool::new(false));
    loop {
        let state = app.state::<AppState>();
        let s = status(&state).await;
        let due = !s.pending.is_empty() || s.not_final > 0;
        // Not while the node rate limits: draining would only add to its load.
        if s.online && !s.rate_limited && due && !draining.swap(true, Ordering::SeqCst) {
            let app2 = app.clone();
            let flag = draining.clone();
            tauri::async_runtime::spawn(async move {
                let state = app2.state::<AppState>();
                if let Ok(k) = state.kiosk().await {
                    match k.outbox.drain().await {
                        Ok(sent) if !sent.is_empty() => {
                            tracing::info!(count = sent.len(), "pending writes sent")
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "pending writes not sent yet"),
                    }
                }
                flag.store(false, Ordering::SeqCst);
            });
        }
        let _ = app.emit(STATUS, s);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, card: bool) -> ReaderInfo {
        ReaderInfo {
            name: name.into(),
            card_present: card,
            atr: None,
        }
    }

    #[test]
    fn the_reader_state_follows_the_snapshot() {
        assert_eq!(reader_view(&[], true).state, ReaderState::NoReader);
        assert_eq!(
            reader_view(&[r("A", false)], true).state,
            ReaderState::Empty
        );
        let v = reader_view(&[r("A", false), r("B", true)], true);
        assert_eq!(
            (v.state, v.reader.as_deref()),
            (ReaderState::Card, Some("B"))
        );
        assert_eq!(
            reader_view(&[r("A", true)], false).state,
            ReaderState::NoService
        );
    }
}
