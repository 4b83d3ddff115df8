//! The IPC commands, one module per screen (and the patient's view and the emergency set, reached from the desks). Each only translates: arguments from the UI into a call of the kiosk
//! core, its result into a view, its error into an [`AppError`](crate::error::AppError). The capability file
//! (`src-tauri/capabilities/kiosk.json`) grants the webview exactly these.

mod card;
mod doctor;
mod emergency;
mod firstrun;
mod insurer;
mod letter;
mod patient;
mod pharmacy;
mod print;
mod reception;
mod setup;

use tauri::ipc::Invoke;
use tauri::Runtime;

/// Every command, for the builder.
pub fn handler<R: Runtime>() -> impl Fn(Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        setup::kiosk_info,
        setup::kiosk_status,
        setup::kiosk_close,
        firstrun::firstrun_manifest,
        firstrun::firstrun_readers,
        firstrun::firstrun_save,
        firstrun::firstrun_reset,
        setup::icd10_search,
        setup::formulary_search,
        setup::service_codes,
        setup::denial_reasons,
        card::card_peek,
        card::card_unlock,
        card::card_unblock,
        card::card_change_pin,
        card::session_end,
        reception::reception_check_in,
        reception::reception_register,
        reception::reception_report_lost,
        reception::reception_replace,
        letter::letter_show,
        letter::letter_save_pdf,
        letter::letter_delete_pdf,
        letter::letter_done,
        print::print_delete,
        doctor::doctor_timeline,
        doctor::doctor_overview,
        doctor::doctor_record_allergy,
        doctor::doctor_diagnose,
        doctor::doctor_warnings,
        doctor::doctor_prescribe,
        doctor::doctor_consult,
        doctor::doctor_cancel_prescription,
        doctor::doctor_claim,
        doctor::doctor_claims,
        pharmacy::pharmacy_open,
        pharmacy::pharmacy_dispense,
        pharmacy::pharmacy_token_check,
        pharmacy::pharmacy_token_dispense,
        insurer::insurer_enroll,
        insurer::insurer_queue,
        insurer::insurer_pending,
        insurer::insurer_review,
        insurer::insurer_decide,
        insurer::insurer_confirm,
        insurer::insurer_pay,
        insurer::insurer_paid,
        patient::patient_consents,
        patient::patient_access_log,
        patient::patient_revoke,
        patient::patient_revoke_all,
        emergency::emergency_current,
        emergency::emergency_save,
        emergency::emergency_read,
    ]
}

/// The names of every command, as `build.rs` declares them.
#[cfg(test)]
const NAMES: &[&str] = include!("names.rs");

/// A link to the transaction on the profile's explorer (Celo profiles), none locally.
fn linker(k: &carekiosk_kiosk::Kiosk) -> impl Fn(&str) -> Option<String> + '_ {
    |h| k.profile.tx_link(h)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_capability_grants_exactly_the_commands() {
        let cap: serde_json::Value =
            serde_json::from_str(include_str!("../../capabilities/kiosk.json")).unwrap();
        let mut granted: Vec<String> = cap["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p.as_str())
            .filter_map(|p| p.strip_prefix("allow-"))
            .map(|p| p.replace('-', "_"))
            .collect();
        granted.sort();
        let mut names: Vec<String> = super::NAMES.iter().map(|s| s.to_string()).collect();
        names.sort();
        assert_eq!(granted, names);
        let build = include_str!("../../build.rs");
        assert!(
            build.contains("include!(\"src/commands/names.rs\")"),
            "build.rs declares the commands from names.rs"
        );
    }
}
