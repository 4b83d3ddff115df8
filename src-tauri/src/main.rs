//! Placeholder for the kiosk app: the Tauri shell over the kiosk core arrives with the app issue. Until then it
//! only says so, so the workspace builds without the webview toolchain.

fn main() {
    println!("carekiosk app: not built yet; use the `carekiosk` command (cargo run -p carekiosk-cli -- --help)");
}
