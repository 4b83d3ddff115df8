//! The carekiosk desktop app: a Tauri window over `carekiosk-kiosk`, with the screen of the kiosk's role
//! (reception, doctor, pharmacy or insurer) as its configuration says.
//!
//! It owns the window, the IPC commands — each in `commands/`, each only translating between the UI and the
//! kiosk core — and pushing the core's events (card inserted or removed, new block, outbox changes) to the
//! screen. It must not contain workflow logic, keep a PIN or a patient's data beyond the visit on screen, or log
//! either: everything it does is a call into the kiosk core.

mod commands;
mod error;
mod events;
mod launch;
mod state;
mod views;

pub use launch::Launch;

/// Builds and runs the app until its window closes.
pub fn run() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAREKIOSK_LOG")
                .unwrap_or_else(|_| "info,openpgp_card=warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let launch = match Launch::from_args(std::env::args_os()) {
        Ok(l) => l,
        Err(e) => e.exit(),
    };
    tracing::info!(
        role = launch.role().as_str(),
        first_run = launch.first_run(),
        "starting the kiosk app"
    );
    let kiosk_mode = launch.kiosk_mode();
    tauri::Builder::default()
        .manage(state::AppState::new(launch))
        .setup(move |app| {
            use tauri::Manager;
            if kiosk_mode {
                // Kiosk mode: the whole screen, no title bar to close it from.
                if let Some(w) = app.get_webview_window("main") {
                    w.set_decorations(false)?;
                    // Without a window manager (a bare X session, as kiosks often run) fullscreen is only a
                    // request: the window is also placed over the whole monitor.
                    if let Some(m) = w.current_monitor()?.or(w.primary_monitor()?) {
                        w.set_position(*m.position())?;
                        w.set_size(*m.size())?;
                    }
                    w.set_fullscreen(true)?;
                }
                tracing::info!("kiosk mode: full screen; closing needs the staff code");
            }
            events::spawn(app.handle().clone());
            Ok(())
        })
        .on_window_event(move |window, event| {
            use tauri::{Emitter, Manager};
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                let allowed = window
                    .state::<state::AppState>()
                    .close_allowed
                    .load(std::sync::atomic::Ordering::SeqCst);
                if kiosk_mode && !allowed {
                    // Closing a kiosk takes the staff code: the screen asks for it.
                    api.prevent_close();
                    let _ = window.emit("kiosk://close-refused", ());
                }
            }
        })
        .invoke_handler(commands::handler())
        .run(tauri::generate_context!())
        .expect("the window system could not start the kiosk app");
}
