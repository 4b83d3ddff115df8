//! Declares the app's commands so that Tauri generates one permission each (`allow-<command>`); the capability
//! file `capabilities/kiosk.json` grants the webview exactly these.

const COMMANDS: &[&str] = &[
    "kiosk_info",
    "kiosk_status",
    "icd10_codes",
    "formulary",
    "denial_reasons",
    "card_peek",
    "card_unlock",
    "session_end",
    "reception_check_in",
    "reception_register",
    "doctor_history",
    "doctor_diagnose",
    "doctor_prescribe",
    "doctor_claim",
    "pharmacy_open",
    "pharmacy_dispense",
    "insurer_queue",
    "insurer_review",
    "insurer_approve",
    "insurer_deny",
    "insurer_pay",
    "insurer_paid",
];

fn main() {
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step failed");
}
