//! Declares the app's commands so that Tauri generates one permission each (`allow-<command>`); the capability
//! file `capabilities/kiosk.json` grants the webview exactly these.

const COMMANDS: &[&str] = include!("src/commands/names.rs");

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step failed");
}
