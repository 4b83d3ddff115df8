//! The issue letter of a card just issued (a new patient, or a replacement card): shown on screen to be printed,
//! written as a PDF only when the operator asks (to be deleted once printed), and forgotten when the step is left.
//! The letter's content comes from `carekiosk-letter`; nothing of it is logged.

use std::io::Write;
use std::path::{Path, PathBuf};

use carekiosk_letter::{IssueLetter, Lang};
use tauri::{AppHandle, Manager, Runtime, State};
use zeroize::Zeroizing;

use crate::error::AppError;
use crate::state::{AppState, PendingLetter};
use crate::views::{LetterView, SavedLetter};

fn no_letter() -> AppError {
    AppError::Invalid(
        "no issue letter is waiting: it is shown once, right after a card is issued".into(),
    )
}

/// What the letter prints, for the screen.
#[tauri::command]
pub fn letter_show(state: State<'_, AppState>) -> Result<LetterView, AppError> {
    let guard = state.letter.lock().map_err(|_| no_letter())?;
    let l = guard.as_ref().ok_or_else(no_letter)?;
    view(l)
}

fn view(l: &PendingLetter) -> Result<LetterView, AppError> {
    let payload = Zeroizing::new(carekiosk_letter::recovery_qr_payload(
        &l.secrets.recovery_secret,
    ));
    let (width, modules) = carekiosk_letter::qr_modules(&payload)?;
    let modules = Zeroizing::new(modules);
    Ok(LetterView {
        patient_name: l.patient_name.clone(),
        institution: l.institution.clone(),
        issued_on: l.issued_on.clone(),
        reset_code: l.secrets.reset_code.expose_for_letter().to_owned(),
        recovery_text: carekiosk_letter::recovery_text(&l.secrets.recovery_secret),
        qr_width: width,
        qr_modules: modules.iter().map(|d| if *d { '1' } else { '0' }).collect(),
    })
}

/// Writes the letter as a one-page PDF in the letter folder (`--letter-dir`, else the Downloads folder), readable
/// by this user only; returns its path. Only when the operator asks: the file holds the patient's codes.
#[tauri::command]
pub fn letter_save_pdf<R: Runtime>(
    lang: String,
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<SavedLetter, AppError> {
    let dir = match &state.launch.letter_dir {
        Some(d) => d.clone(),
        None => app
            .path()
            .download_dir()
            .or_else(|_| app.path().home_dir())
            .map_err(|e| {
                AppError::File(format!(
                    "no folder to save the letter in ({e}): start the app with --letter-dir"
                ))
            })?,
    };
    let mut guard = state.letter.lock().map_err(|_| no_letter())?;
    let l = guard.as_mut().ok_or_else(no_letter)?;
    let pdf = Zeroizing::new(carekiosk_letter::render_pdf(&IssueLetter {
        patient_name: &l.patient_name,
        issued_on: &l.issued_on,
        institution: &l.institution,
        reset_code: l.secrets.reset_code.expose_for_letter(),
        recovery_secret: &l.secrets.recovery_secret,
        lang: if lang == "fr" { Lang::Fr } else { Lang::En },
    })?);
    let path = write_new(&dir, &format!("carekiosk-letter-{}", l.issued_on), &pdf)?;
    l.saved.push(path.clone());
    Ok(SavedLetter {
        path: path.display().to_string(),
    })
}

/// Writes `bytes` to a new file `<stem>[-n].pdf` in `dir` (never over another file), mode 0600 (the letter and
/// the printed documents: they hold secrets).
pub(super) fn write_new(dir: &Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, AppError> {
    let fail = |what: &str, p: &Path, e: std::io::Error| {
        AppError::File(format!(
            "cannot {what} {}: {e} (check the folder, or start the app with --letter-dir or --data-dir)",
            p.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| fail("create the folder", dir, e))?;
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stem}.pdf")
        } else {
            format!("{stem}-{n}.pdf")
        };
        let path = dir.join(name);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&path) {
            Ok(mut f) => {
                f.write_all(bytes)
                    .and_then(|_| f.sync_all())
                    .map_err(|e| fail("write", &path, e))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(fail("write", &path, e)),
        }
    }
    Err(AppError::File(format!(
        "too many files named {stem} in {}: delete the printed ones",
        dir.display()
    )))
}

/// Deletes the letter files saved for this letter (once printed); returns how many were deleted.
#[tauri::command]
pub fn letter_delete_pdf(state: State<'_, AppState>) -> Result<usize, AppError> {
    let mut guard = state.letter.lock().map_err(|_| no_letter())?;
    let l = guard.as_mut().ok_or_else(no_letter)?;
    let mut deleted = 0;
    for p in std::mem::take(&mut l.saved) {
        match std::fs::remove_file(&p) {
            Ok(()) => deleted += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                let msg = format!("cannot delete {}: {e}; delete it by hand", p.display());
                l.saved.push(p);
                return Err(AppError::File(msg));
            }
        }
    }
    Ok(deleted)
}

/// Leaves the letter step: the letter's secrets are wiped. Returns the letter files still on disk (to delete).
#[tauri::command]
pub fn letter_done(state: State<'_, AppState>) -> Vec<String> {
    state
        .forget_letter()
        .iter()
        .map(|p| p.display().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_letter_never_overwrites_and_is_private() {
        let dir =
            std::env::temp_dir().join(format!("carekiosk-letter-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = write_new(&dir, "carekiosk-letter-2026-12-02", b"%PDF-1.4 a").unwrap();
        let b = write_new(&dir, "carekiosk-letter-2026-12-02", b"%PDF-1.4 b").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"%PDF-1.4 a");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&b).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_screen_gets_the_letter_s_codes_and_a_square_qr() {
        let l = PendingLetter {
            patient_name: "Jeanne Dupont".into(),
            institution: "Demo Hospital".into(),
            issued_on: "2026-12-02".into(),
            secrets: carekiosk_kiosk::workflows::reception::LetterSecrets {
                reset_code: carekiosk_card::Pin::new("48120975"),
                recovery_secret: Zeroizing::new([42u8; 32]),
            },
            saved: vec![],
        };
        let v = view(&l).unwrap();
        assert_eq!(v.reset_code, "48120975");
        assert_eq!(
            carekiosk_letter::parse_recovery_text(&v.recovery_text).unwrap(),
            [42u8; 32]
        );
        assert_eq!(v.qr_width, 41, "a version 6 code");
        assert_eq!(v.qr_modules.len(), v.qr_width * v.qr_width);
        assert!(v.qr_modules.bytes().all(|b| b == b'0' || b == b'1'));
        let json = serde_json::to_value(&v).unwrap();
        assert!(json.get("recoveryText").is_some() && json.get("qrModules").is_some());
    }
}
