//! Printing the desks' documents (the prescription token, the dispense receipt): to the desk's printer through
//! CUPS (the preset's `printer`, else the system's default; [`carekiosk_kiosk::print`]), from memory. With no
//! printer, or when CUPS refuses the job, the PDF is written to `<data dir>/print/` (mode 0600), opened with the
//! desktop's PDF handler when one is configured, and the screen says that the file must be deleted once printed —
//! "Printed — delete the file" calls [`print_delete`]. The file's content (a token is a bearer secret) is never
//! logged.

use std::path::{Path, PathBuf};

use carekiosk_kiosk::print::{self as cups, Destination};
use carekiosk_kiosk::Kiosk;
use tauri::State;
use zeroize::Zeroizing;

use super::letter::write_new;
use crate::error::AppError;
use crate::state::AppState;
use crate::views::PrintView;

/// Prints `pdf` on the desk's printer (job name `stem`); without one, or when the printer refuses it, writes it
/// as `<data dir>/print/<stem>.pdf`, remembers it (to delete once printed) and opens it with the desktop's PDF
/// handler when there is one, saying why it was not printed. CUPS (`lpstat`, `lp`, a print server that may be
/// slow to answer) runs on a blocking thread, not on the async runtime's.
pub(super) async fn print(
    k: &Kiosk,
    state: &AppState,
    stem: &str,
    pdf: &[u8],
) -> Result<PrintView, AppError> {
    let (server, printer) = (k.config.print_server.clone(), k.config.printer.clone());
    let (job, doc) = (stem.to_owned(), Zeroizing::new(pdf.to_vec()));
    let sent = tokio::task::spawn_blocking(move || match cups::destination(&printer, &server) {
        Destination::Printer(printer) => Some(cups::print_pdf(&server, &printer, &job, &doc)),
        Destination::None => None,
    })
    .await
    .unwrap_or_else(|e| {
        Some(Err(carekiosk_kiosk::KioskError::Printer {
            printer: k.config.printer.clone(),
            reason: format!("printing stopped unexpectedly ({e})"),
        }))
    });
    let printer_error = match sent {
        Some(Ok(job)) => return Ok(PrintView::sent(job.printer, job.job)),
        Some(Err(e)) => {
            tracing::warn!(error = %e, "the document is saved as a file instead");
            Some(e.to_string())
        }
        None => None,
    };
    let dir = k.config.data_dir.join("print");
    let path = write_new(&dir, stem, pdf)?;
    if let Ok(mut p) = state.printed.lock() {
        p.push(path.clone());
    }
    let opened = open_with_default(&path);
    Ok(PrintView::saved(
        path.display().to_string(),
        opened,
        printer_error,
    ))
}

/// Opens `path` with the desktop's default PDF handler, if one is configured (never waits for it).
fn open_with_default(path: &Path) -> bool {
    if std::env::var_os("CAREKIOSK_NO_OPEN").is_some() {
        return false;
    }
    #[cfg(target_os = "linux")]
    {
        let handler = std::process::Command::new("xdg-mime")
            .args(["query", "default", "application/pdf"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        if handler.is_empty() {
            return false;
        }
        spawn_detached("xdg-open", path)
    }
    #[cfg(target_os = "macos")]
    {
        spawn_detached("open", path)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = path;
        false
    }
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn spawn_detached(program: &str, path: &Path) -> bool {
    use std::process::{Command, Stdio};
    match Command::new(program)
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            // Reaped in the background: the viewer may stay open.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            true
        }
        Err(_) => false,
    }
}

/// Deletes a document this app wrote for printing (once printed). Only its own files: any other path is refused.
#[tauri::command]
pub fn print_delete(path: String, state: State<'_, AppState>) -> Result<(), AppError> {
    let path = PathBuf::from(path);
    let mut printed = state
        .printed
        .lock()
        .map_err(|_| AppError::File("the list of printed files is unavailable".into()))?;
    let Some(at) = printed.iter().position(|p| *p == path) else {
        return Err(AppError::Invalid(
            "this file was not written by this kiosk for printing".into(),
        ));
    };
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(AppError::File(format!(
                "cannot delete {}: {e}; delete it by hand",
                path.display()
            )))
        }
    }
    printed.remove(at);
    Ok(())
}
