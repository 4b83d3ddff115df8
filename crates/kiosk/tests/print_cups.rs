//! Printing through the real CUPS (a private cupsd with a sink printer): a document reaches the printer byte for
//! byte from memory, the default printer is found, and a printer that refuses jobs gives an error that names it.

use carekiosk_kiosk::print::{destination, print_pdf, Destination};
use carekiosk_kiosk::KioskError;
use carekiosk_testkit::cups::Cups;

#[test]
fn a_document_reaches_the_printer_and_a_refusal_names_the_printer() {
    let cups = Cups::start("core", "counter");
    let pdf = b"%PDF-1.7\n% a prescription token\n%%EOF\n".to_vec();

    // Named: the job is queued and comes out of the printer as sent.
    let job = print_pdf(&cups.server, "counter", "prescription-token-7", &pdf).unwrap();
    assert_eq!(job.printer, "counter");
    assert!(job.job.starts_with("counter-"), "{job:?}");
    assert_eq!(cups.wait_job(&job.job), pdf);

    // No printer named and no default on that server: nothing to print to (the desk saves a file instead).
    assert_eq!(destination("", &cups.server), Destination::None);
    // The server's default destination is used when the preset names none.
    let out = std::process::Command::new("lpadmin")
        .args(["-h", &cups.server, "-d", "counter"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        destination("", &cups.server),
        Destination::Printer("counter".into())
    );
    // `none` never asks CUPS.
    assert_eq!(destination("none", &cups.server), Destination::None);

    // An unknown printer, and a printer that refuses jobs: errors that name it; nothing more is printed.
    let before = cups.printed().len();
    let e = print_pdf(&cups.server, "front-desk", "receipt", &pdf).unwrap_err();
    assert!(
        matches!(&e, KioskError::Printer { printer, .. } if printer == "front-desk"),
        "{e}"
    );
    cups.reject();
    let e = print_pdf(&cups.server, "counter", "receipt", &pdf).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(&e, KioskError::Printer { printer, .. } if printer == "counter"),
        "{text}"
    );
    assert!(text.contains("not accepting"), "{text}");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(cups.printed().len(), before);
}

#[test]
fn a_server_that_is_not_there_is_no_printer() {
    // A port nobody listens on: no default destination, and a named printer gives an error, not a hang.
    let server = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    assert_eq!(destination("", &server), Destination::None);
    let e = print_pdf(&server, "counter", "receipt", b"%PDF-1.7\n").unwrap_err();
    assert!(matches!(e, KioskError::Printer { .. }), "{e}");
}
