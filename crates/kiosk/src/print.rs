//! Printing the desks' documents (issue letter, prescription token, dispense receipt) through CUPS.
//!
//! Owns: choosing the printer (the preset's `printer`, else the system's default destination) and handing a PDF
//! to CUPS with `lp`, from memory: the document is never written to a file of ours on the way (a token is a
//! bearer secret, a letter holds the patient's codes). Must not: log a document's content, or decide what happens
//! when there is no printer (the caller saves the file instead and says so).
//!
//! CUPS keeps its own spool copy until the job is printed (and, by default, a day after: set
//! `PreserveJobFiles No` in the kiosk's `cupsd.conf`, see docs/operations).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::KioskError;

/// Where a desk's documents go, as its configuration says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A CUPS destination (a printer or a class).
    Printer(String),
    /// No printer: documents are saved as files.
    None,
}

/// The preset's `printer` setting resolved: a name is that CUPS destination; `"none"` means no printer; empty
/// means the default destination of the CUPS server (`server`, else the system's), or no printer when there is
/// none (or no CUPS).
pub fn destination(printer: &str, server: &str) -> Destination {
    match printer.trim() {
        "none" => Destination::None,
        "" => default_destination(server).map_or(Destination::None, Destination::Printer),
        name => Destination::Printer(name.to_owned()),
    }
}

/// A CUPS client command talking to `server` (`host[:port]`; empty: the system's CUPS server).
fn cups_command(program: &str, server: &str) -> Command {
    let mut c = Command::new(program);
    if !server.trim().is_empty() {
        c.env("CUPS_SERVER", server.trim());
    }
    c
}

/// The default CUPS destination, if CUPS answers and has one.
fn default_destination(server: &str) -> Option<String> {
    let out = cups_command("lpstat", server)
        .arg("-d")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_default(&String::from_utf8_lossy(&out.stdout))
}

fn parse_default(text: &str) -> Option<String> {
    // "system default destination: office" (or "no system default destination").
    text.lines()
        .find_map(|l| l.trim().strip_prefix("system default destination:"))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty())
}

/// A job CUPS accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintJob {
    /// The destination it was sent to.
    pub printer: String,
    /// CUPS's job id (`<printer>-<n>`), as `lpstat -o` lists it.
    pub job: String,
}

/// Sends `pdf` to `printer` on the CUPS server `server` (empty: the system's) with `lp`, the document on its
/// standard input, `title` as the job's name (shown in the print queue: never patient data). Returns the job
/// CUPS queued; an error says what to check.
pub fn print_pdf(
    server: &str,
    printer: &str,
    title: &str,
    pdf: &[u8],
) -> Result<PrintJob, KioskError> {
    let fail = |reason: String| KioskError::Printer {
        printer: printer.to_owned(),
        reason,
    };
    let mut child = cups_command("lp", server)
        .args([
            "-d",
            printer,
            "-t",
            title,
            "-o",
            "document-format=application/pdf",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run lp ({e}): install the CUPS client (apt install cups-client)"
            ))
        })?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(pdf))
        .unwrap_or(Ok(()));
    let out = child
        .wait_with_output()
        .map_err(|e| fail(format!("lp did not finish: {e}")))?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    if !out.status.success() {
        return Err(fail(if stderr.is_empty() {
            format!("lp failed ({})", out.status)
        } else {
            stderr
        }));
    }
    if let Err(e) = written {
        return Err(fail(format!("the document did not reach lp: {e}")));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let job = parse_job(&stdout).ok_or_else(|| {
        fail(format!(
            "lp did not say which job it queued ({:?})",
            stdout.trim()
        ))
    })?;
    tracing::info!(printer, job = %job, bytes = pdf.len(), "document sent to the printer");
    Ok(PrintJob {
        printer: printer.to_owned(),
        job,
    })
}

fn parse_job(text: &str) -> Option<String> {
    // "request id is office-12 (0 file(s))"
    text.lines()
        .find_map(|l| l.trim().strip_prefix("request id is "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_destination_is_read_from_lpstat() {
        assert_eq!(
            parse_default("system default destination: office\n"),
            Some("office".into())
        );
        assert_eq!(parse_default("no system default destination\n"), None);
        assert_eq!(parse_default(""), None);
    }

    #[test]
    fn the_job_id_is_read_from_lp() {
        assert_eq!(
            parse_job("request id is office-12 (0 file(s))\n"),
            Some("office-12".into())
        );
        assert_eq!(parse_job("lp: something else\n"), None);
    }

    #[test]
    fn none_and_a_name_need_no_cups() {
        assert_eq!(destination("none", ""), Destination::None);
        assert_eq!(
            destination(" front-desk ", ""),
            Destination::Printer("front-desk".into())
        );
    }
}
