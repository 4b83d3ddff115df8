//! The first-run set-up of a kiosk installed from the package: the desk's role, the network profile and the
//! deployment manifest, the institution it joins; then its key is made in the OS keyring and the set-up is
//! remembered (`--setup-file`, default ~/.config/carekiosk/desk.toml). The kiosk then waits for its institution's
//! offer, takes it and opens the desk (see `events::keep_open`). A staff action (the staff code) resets it.

use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use carekiosk_chain::{Deployment, Profile};
use carekiosk_kiosk::{KioskConfig, KioskRole};
use tauri::{AppHandle, Emitter, Runtime, State};

use crate::error::AppError;
use crate::state::AppState;
use crate::views::{FirstRunInstitution, FirstRunManifestView};

/// A profile name (local, celo-sepolia, celo) as it is, a profile file as an absolute path.
fn profile_arg(profile: &str) -> Result<String, AppError> {
    let profile = profile.trim();
    if profile.is_empty() {
        return Err(AppError::Invalid(
            "choose a network profile (local, celo-sepolia, celo) or give a profile file".into(),
        ));
    }
    if Profile::embedded_names().contains(&profile) {
        return Ok(profile.to_owned());
    }
    Ok(absolute(Path::new(profile))?.display().to_string())
}

fn absolute(p: &Path) -> Result<PathBuf, AppError> {
    std::path::absolute(p)
        .map_err(|e| AppError::Invalid(format!("{}: not a usable path ({e})", p.display())))
}

/// The profile and the manifest, checked to be of one chain.
fn network(profile: &str, manifest: &str) -> Result<(Profile, Deployment, PathBuf), AppError> {
    let profile =
        Profile::load(&profile_arg(profile)?).map_err(carekiosk_kiosk::KioskError::from)?;
    if manifest.trim().is_empty() {
        return Err(AppError::Invalid(
            "give the deployment manifest's file (the institution's administrator has it)".into(),
        ));
    }
    let path = absolute(Path::new(manifest.trim()))?;
    let d = Deployment::load(&path).map_err(carekiosk_kiosk::KioskError::from)?;
    if d.chain_id != profile.chain_id {
        return Err(AppError::Kiosk(carekiosk_kiosk::KioskError::Config {
            path: path.display().to_string(),
            reason: format!(
                "the manifest is for chain {}, the profile {} is chain {}: pick the profile it was deployed with",
                d.chain_id, profile.name, profile.chain_id
            ),
        }));
    }
    Ok((profile, d, path))
}

fn role_name(role: carekiosk_chain::bindings::Role) -> &'static str {
    use carekiosk_chain::bindings::Role;
    match role {
        Role::Hospital => "hospital",
        Role::Pharmacy => "pharmacy",
        Role::Insurer => "insurer",
    }
}

/// Reads a deployment manifest for the set-up: its chain and its institutions.
#[tauri::command]
pub fn firstrun_manifest(
    profile: String,
    manifest: String,
) -> Result<FirstRunManifestView, AppError> {
    let (p, d, _) = network(&profile, &manifest)?;
    Ok(FirstRunManifestView {
        chain_id: d.chain_id,
        profile: p.name,
        institutions: d
            .institutions
            .iter()
            .map(|i| FirstRunInstitution {
                name: i.name.clone(),
                role: role_name(i.role).into(),
                address: i.address.to_string(),
            })
            .collect(),
    })
}

/// The card readers this machine has (PC/SC names, in PC/SC order), for the set-up to pick the desk's.
#[tauri::command]
pub async fn firstrun_readers() -> Result<Vec<String>, AppError> {
    let all = carekiosk_card::ReaderPattern::new("");
    let readers = tokio::task::spawn_blocking(move || carekiosk_card::list_readers(&all))
        .await
        .map_err(|e| AppError::Invalid(format!("the readers could not be listed: {e}")))??;
    Ok(readers.into_iter().map(|r| r.name).collect())
}

/// Saves the set-up: the role's preset on this profile and manifest, joining `institution`, with the card
/// reader `reader` (a PC/SC name; empty or absent: the preset's); makes the kiosk's key in the OS keyring.
/// Returns the kiosk's address (the set-up screen then shows it with its QR code).
#[tauri::command]
pub async fn firstrun_save(
    role: String,
    profile: String,
    manifest: String,
    institution: String,
    reader: Option<String>,
    state: State<'_, AppState>,
) -> Result<String, AppError> {
    if !state.launch.first_run() {
        return Err(AppError::Invalid(
            "this kiosk is set up already: reset its set-up first (staff code)".into(),
        ));
    }
    let role: KioskRole = role.parse()?;
    let (_, d, manifest) = network(&profile, &manifest)?;
    let institution: Address = institution
        .trim()
        .parse()
        .map_err(|_| AppError::Invalid(format!("{institution:?} is not an institution address")))?;
    let Some(entry) = d.institutions.iter().find(|i| i.address == institution) else {
        return Err(AppError::Invalid(format!(
            "institution {institution} is not in the manifest: pick one of its institutions"
        )));
    };
    if entry.role != role.chain_role() {
        return Err(AppError::Invalid(format!(
            "{} is a {}, not where a {} desk belongs",
            entry.name,
            role_name(entry.role),
            role.as_str()
        )));
    }
    let mut c = KioskConfig::preset(role);
    c.profile = profile_arg(&profile)?;
    c.manifest = manifest;
    c.institution = Some(institution);
    if let Some(reader) = reader
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
    {
        c.reader = reader;
    }
    // The OS keyring answers over D-Bus: off the async threads.
    let keyed = c.clone();
    let address =
        tokio::task::spawn_blocking(move || carekiosk_kiosk::enrol::kiosk_address(&keyed))
            .await
            .map_err(|e| AppError::Invalid(format!("the key could not be made: {e}")))??;
    let path = state.launch.setup_path();
    c.save(&path)?;
    tracing::info!(role = role.as_str(), %address, %institution, reader = %c.reader, file = %path.display(), "kiosk set up");
    Ok(address.to_string())
}

/// Resets the set-up chosen on the first run (with the desk's staff code, `carekiosk admin staff-code`): the
/// kiosk closes and the set-up screen comes back. Its key stays in the OS keyring.
#[tauri::command]
pub async fn firstrun_reset<R: Runtime>(
    code: String,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<(), AppError> {
    if !state.launch.from_setup() {
        return Err(AppError::Invalid(
            "this desk was started with --role or --config: change those instead".into(),
        ));
    }
    let path = state.launch.setup_path();
    let config = state.launch.kiosk_config()?;
    if !carekiosk_kiosk::kiosk::staff_code_matches(&config.profile_name(), config.role, &code)? {
        tracing::warn!("a wrong staff code was given to reset the set-up");
        return Err(AppError::WrongStaffCode);
    }
    std::fs::remove_file(&path).map_err(|e| {
        AppError::File(format!(
            "cannot remove {}: {e}; remove it by hand",
            path.display()
        ))
    })?;
    // The kiosk's opening attempts stop once it is open: start them again then (they go on otherwise).
    let was_open = state.is_open().await;
    state.close_kiosk().await;
    tracing::info!(file = %path.display(), "the kiosk's set-up was reset");
    let _ = app.emit(crate::events::INFO, crate::events::info(&state).await);
    if was_open {
        crate::events::reopen(app);
    }
    Ok(())
}
