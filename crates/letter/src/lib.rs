//! carekiosk's printed documents: the issue letter a patient takes home with their new card, the prescription
//! token a representative takes to a pharmacy, and the pharmacy's dispense receipt.
//!
//! It owns:
//! - rendering the **issue letter** as a one-page A4 PDF ([`render_pdf`]), in English or French ([`Lang`]): the
//!   title, the patient's name, the issuing institution and date, a box with the card's reset code, a box with the
//!   recovery code (as text and as a QR code), and three short notes (what to do if the card is lost; nobody from
//!   the hospital asks for these codes by phone; the letter alone cannot read the records). Nothing else is
//!   printed — no patient id, no PIN, no birth date — and the file carries no metadata (no title, author or dates);
//! - the **recovery code's printed form** ([`recovery_text`], read back by [`parse_recovery_text`]): 14 groups of
//!   4 characters of Crockford base32, the last a check group that detects any single typo and names its group,
//!   and any two typos;
//! - its **scanned form** ([`recovery_qr_payload`], read back by [`parse_recovery_qr`]), and the QR matrix
//!   ([`qr_modules`]) the letter draws and an app may draw on screen;
//! - rendering the **prescription token** ([`render_token_pdf`]; gematik's E-Rezept token): one A4 page
//!   in English or French with a boxed warning that it is a bearer document ("Whoever presents this token can have
//!   this prescription dispensed once, at any pharmacy. Keep it like cash; ask the doctor to cancel it if it is
//!   lost."), what was prescribed (drug and ATC code, quantity and form, dosage, substitution), the prescriber, the
//!   institution, the validity end date and the prescription id, and the token as a QR code and as text. No patient
//!   name is printed;
//! - the token's **scanned form** ([`token_qr_payload`], read back by [`parse_token_qr`] into a [`TokenRef`]:
//!   `CKRX1:<chain id>:<PharmacyAccess address>:<prescription id>:<token code>`, see below) and its **printed
//!   form** ([`token_text`], read back by [`parse_token_text`]: the recovery code's encoding, check group
//!   included);
//! - rendering the **dispense receipt** ([`render_receipt_pdf`]): one A4 page with the pharmacy, date, patient
//!   (optional), prescription id, the drug handed out and whether it was substituted, the quantity handed out and
//!   what remains ("20 of 40 tablets, 20 remaining", "…, completed"), the batch and the transaction hash.
//!
//! It must not do I/O of any kind (no files, printing, network, clock or logging): it returns bytes, and the
//! kiosk prints them. It must not hold keys beyond the call: nothing is cached or kept in a static, its own
//! buffers that hold a secret's forms (recovery secret, token secret) are zeroized when dropped, and so is a
//! [`TokenRef`]'s secret (the `qrcode` crate's internal buffers are not); neither [`IssueLetter`]'s,
//! [`PrescriptionToken`]'s, [`TokenRef`]'s nor [`DispenseReceipt`]'s `Debug` nor any error shows a secret, the
//! reset code, a name or what was prescribed. The secrets themselves (P-256 keys: the recovery key,
//! `docs/design-v2.md`, "The card's life"; the token key) are generated and checked elsewhere: to this crate they
//! are 32 bytes. It must not decide whether a token may be redeemed (the chain does: the token key's hash, the
//! prescription's status) nor check that a scanned token belongs to this kiosk's deployment (the caller compares
//! [`TokenRef::chain_id`] and [`TokenRef::contract`] with its own).
//!
//! # The token's QR payload
//!
//! ```text
//! CKRX1:<chain id>:<contract>:<prescription id>:<token code>
//! ```
//!
//! `CKRX` and the format version `1`; the chain id and the prescription id in decimal without leading zeros; the
//! PharmacyAccess contract's address as 40 upper-case hexadecimal digits without `0x`; the 32-byte token secret as
//! the 56 characters of [`token_text`] without dashes (Crockford base32, the last four a check group). Every
//! character is QR alphanumeric, so the code is one alphanumeric segment (about 110 characters: version 7 at
//! level Q). [`parse_token_qr`] ignores surrounding white space and ASCII case and nothing else, and names the
//! part that is wrong ([`LetterError::NotTokenQr`], [`LetterError::UnsupportedTokenQrVersion`],
//! [`LetterError::MalformedTokenQr`], [`LetterError::TokenQrSecretLength`], [`LetterError::DamagedTokenQr`]).
//!
//! # The PDF
//!
//! Each document is hand-written PDF 1.4, about 12 KB with a QR code: one page, three of the standard 14 fonts
//! (Helvetica, Helvetica-Bold, Courier-Bold; nothing embedded) in WinAnsiEncoding, so French accents print; an
//! uncompressed content stream of text and rectangles (a QR code is drawn as filled rectangles at error correction level Q: the letter's,
//! version 6, at 3 pt ≈ 1 mm per module; the token's, version 7, at 2.9 pt).
//! The same document always gives the same bytes. Fields must be printable in WinAnsiEncoding (Latin-1 plus a few
//! characters such as `œ`, `’`, `€`): a name with other characters is refused with the character's position, so
//! the kiosk can ask for a Latin spelling.
//!
//! # Example
//!
//! ```
//! use carekiosk_letter::{parse_recovery_qr, parse_recovery_text, recovery_qr_payload, recovery_text};
//! use carekiosk_letter::{render_pdf, IssueLetter, Lang};
//!
//! let secret = [42u8; 32];
//! let letter = IssueLetter {
//!     patient_name: "Jeanne Dupont",
//!     issued_on: "2026-12-02",
//!     institution: "Hôpital Saint-Louis",
//!     reset_code: "48120975",
//!     recovery_secret: &secret,
//!     lang: Lang::Fr,
//! };
//! let pdf = render_pdf(&letter)?;
//! assert!(pdf.starts_with(b"%PDF-1.4"));
//!
//! let text = recovery_text(&secret); // 14 groups of 4 joined by dashes
//! assert_eq!(text.len(), 14 * 4 + 13);
//! assert_eq!(parse_recovery_text(&text.to_lowercase().replace('-', " "))?, secret);
//! assert_eq!(parse_recovery_qr(&recovery_qr_payload(&secret))?, secret);
//! # Ok::<(), carekiosk_letter::LetterError>(())
//! ```
//!
//! The prescription token, and the same token scanned and typed back at a pharmacy:
//!
//! ```
//! use carekiosk_letter::{parse_token_qr, parse_token_text, token_qr_payload, token_text};
//! use carekiosk_letter::{render_token_pdf, Lang, PrescriptionToken, TokenRef};
//!
//! let token = TokenRef { chain_id: 42220, contract: [0x5f; 20], prescription_id: 1207, secret: [7; 32] };
//! let pdf = render_token_pdf(&PrescriptionToken {
//!     token: &token,
//!     drug_name: "Paracetamol 500 mg",
//!     atc_code: Some("N02BE01"),
//!     quantity: 40,
//!     form: "tablets",
//!     dosage: "1 tablet up to 4 times a day",
//!     substitution_allowed: true,
//!     prescriber: "Dr Amélie Laurent",
//!     institution: "Hôpital Saint-Louis",
//!     valid_until: "2027-01-31",
//!     lang: Lang::En,
//! })?;
//! assert!(pdf.starts_with(b"%PDF-1.4"));
//!
//! let payload = token_qr_payload(&token);
//! assert!(payload.starts_with("CKRX1:42220:5F5F5F5F"));
//! assert_eq!(parse_token_qr(&payload)?, token);
//! assert_eq!(parse_token_text(&token_text(&token.secret))?, token.secret);
//! # Ok::<(), carekiosk_letter::LetterError>(())
//! ```

mod layout;
mod letter;
mod pdf;
mod receipt;
mod recovery;
mod token;
mod token_page;

use std::fmt;

use qrcode::bits::Bits;
use qrcode::{Color, EcLevel, QrCode, Version};

pub use recovery::{parse_recovery_qr, parse_recovery_text, recovery_qr_payload, recovery_text};
pub use token::{parse_token_qr, parse_token_text, token_qr_payload, token_text, TokenRef};

/// What the issue letter prints. Every text field is trimmed; none may be empty.
#[derive(Clone, Copy)]
pub struct IssueLetter<'a> {
    /// The patient's name, printed as given (WinAnsi characters only).
    pub patient_name: &'a str,
    /// The issue date, `YYYY-MM-DD` (e.g. `2026-12-02`); printed written out (`2 December 2026`).
    pub issued_on: &'a str,
    /// The issuing hospital's name: printed, and named as the place to go if the card is lost.
    pub institution: &'a str,
    /// The card's reset code (PUK), exactly 8 digits, printed.
    pub reset_code: &'a str,
    /// The recovery secret, printed as [`recovery_text`] and as a QR code of [`recovery_qr_payload`].
    pub recovery_secret: &'a [u8; 32],
    /// The letter's language.
    pub lang: Lang,
}

impl fmt::Debug for IssueLetter<'_> {
    /// Shows the language and date only: the name, reset code and secret stay out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueLetter")
            .field("issued_on", &self.issued_on)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// The language of the letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    /// English.
    En,
    /// French.
    Fr,
}

/// Renders the issue letter: a one-page A4 PDF (see the crate docs for what it contains).
///
/// The returned bytes contain the reset code and the recovery secret: send them to the printer and drop them;
/// do not store or log them.
///
/// # Errors
///
/// [`LetterError::MissingField`], [`LetterError::UnprintableCharacter`] or [`LetterError::TooLong`] for a name
/// or institution the letter cannot print, [`LetterError::InvalidDate`] (`issue date`),
/// [`LetterError::InvalidResetCode`].
pub fn render_pdf(letter: &IssueLetter) -> Result<Vec<u8>, LetterError> {
    letter::render(letter)
}

/// What the prescription token prints: a bearer document a representative takes to a pharmacy instead of the
/// patient's card (gematik's E-Rezept token). Every text field is trimmed; none may be empty.
#[derive(Clone, Copy)]
pub struct PrescriptionToken<'a> {
    /// Where the prescription is, and the token's secret: printed as a QR code of [`token_qr_payload`], and as
    /// the prescription id and [`token_text`] for a pharmacy without a scanner.
    pub token: &'a TokenRef,
    /// The drug as prescribed, e.g. `Paracetamol 500 mg`.
    pub drug_name: &'a str,
    /// Its ATC code, e.g. `N02BE01` (a shorter level such as `J01C` is accepted), if the drug is coded.
    pub atc_code: Option<&'a str>,
    /// The quantity prescribed, in units of `form`: at least 1.
    pub quantity: u32,
    /// What the quantity counts, in the token's language: `tablets`, `comprimés`.
    pub form: &'a str,
    /// The dosage instructions as the prescriber wrote them.
    pub dosage: &'a str,
    /// Whether the pharmacy may hand out an equivalent drug instead.
    pub substitution_allowed: bool,
    /// The prescriber's name.
    pub prescriber: &'a str,
    /// The issuing institution's name.
    pub institution: &'a str,
    /// The last day the prescription can be dispensed, `YYYY-MM-DD`; printed written out.
    pub valid_until: &'a str,
    /// The token's language.
    pub lang: Lang,
}

impl fmt::Debug for PrescriptionToken<'_> {
    /// Shows the prescription id, the validity and the language only: the secret and what was prescribed stay
    /// out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrescriptionToken")
            .field("prescription_id", &self.token.prescription_id)
            .field("valid_until", &self.valid_until)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// Renders the prescription token: a one-page A4 PDF with the title, a boxed warning that the token is a bearer
/// document ("Whoever presents this token can have this prescription dispensed once, at any pharmacy. Keep it
/// like cash; ask the doctor to cancel it if it is lost."), the drug (name and ATC code), quantity and form,
/// dosage, whether substitution is allowed, the prescriber, the institution, the validity end date and the
/// prescription id, and a box with the QR code of [`token_qr_payload`] and the prescription id and
/// [`token_text`] as text. The file carries no metadata; the same token always gives the same bytes.
///
/// The returned bytes contain the token secret: send them to the printer and drop them; do not store or log
/// them.
///
/// # Errors
///
/// [`LetterError::MissingField`], [`LetterError::UnprintableCharacter`] or [`LetterError::TooLong`] for a text
/// the page cannot print, [`LetterError::InvalidAtcCode`], [`LetterError::InvalidQuantity`] (`quantity`),
/// [`LetterError::InvalidDate`] (`validity end date`).
pub fn render_token_pdf(token: &PrescriptionToken) -> Result<Vec<u8>, LetterError> {
    token_page::render(token)
}

/// What the dispense receipt prints: the pharmacy's paper record of one dispense, handed to whoever collected
/// the drug. Every text field is trimmed; none may be empty (but `patient_name`, which may be absent).
#[derive(Clone, Copy)]
pub struct DispenseReceipt<'a> {
    /// The pharmacy's name.
    pub pharmacy: &'a str,
    /// The day of the dispense, `YYYY-MM-DD`; printed written out.
    pub dispensed_on: &'a str,
    /// The patient's name as the desk gives it; not printed when absent or blank.
    pub patient_name: Option<&'a str>,
    /// The prescription's id.
    pub prescription_id: u64,
    /// The drug handed out.
    pub drug: &'a str,
    /// The drug prescribed, when another one was handed out (substitution); `None` when it was the one
    /// prescribed. Printed as "Substituted: yes (prescribed: …)" or "Substituted: no".
    pub prescribed_drug: Option<&'a str>,
    /// The quantity handed out now, in units of `form`: at least 1.
    pub quantity: u32,
    /// The quantity the prescription is for: at least 1.
    pub prescribed_quantity: u32,
    /// What earlier dispenses of this prescription handed out (0 for the first).
    pub dispensed_before: u32,
    /// What the quantities count, in the receipt's language: `tablets`, `comprimés`.
    pub form: &'a str,
    /// The batch (lot) number of what was handed out.
    pub batch: &'a str,
    /// The hash of the transaction that recorded the dispense, printed as `0x` and 64 hexadecimal digits.
    pub transaction_hash: &'a [u8; 32],
    /// The receipt's language.
    pub lang: Lang,
}

impl fmt::Debug for DispenseReceipt<'_> {
    /// Shows the prescription id, the date and the language only: the patient's name and the drug stay out of
    /// logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispenseReceipt")
            .field("prescription_id", &self.prescription_id)
            .field("dispensed_on", &self.dispensed_on)
            .field("lang", &self.lang)
            .finish_non_exhaustive()
    }
}

/// Renders the dispense receipt: a one-page A4 PDF with the pharmacy, the date, the patient's name (when
/// given), the prescription id, the drug handed out and whether it was substituted (with the drug prescribed),
/// the quantity handed out and what remains ("20 of 40 tablets, 20 remaining", or "…, completed"), the batch
/// number and the transaction hash. No QR code, no metadata; the same receipt always gives the same bytes.
///
/// # Errors
///
/// [`LetterError::MissingField`], [`LetterError::UnprintableCharacter`] or [`LetterError::TooLong`] for a text
/// the page cannot print, [`LetterError::InvalidQuantity`] for a quantity of 0,
/// [`LetterError::OverDispensed`] when more is handed out than remains, [`LetterError::InvalidDate`]
/// (`dispense date`).
pub fn render_receipt_pdf(receipt: &DispenseReceipt) -> Result<Vec<u8>, LetterError> {
    receipt::render(receipt)
}

/// The QR code of `payload` (error correction level Q, the smallest version that holds it): its width in
/// modules and whether each module is dark, row by row from the top left (`modules[row * width + column]`).
/// Draw it with a quiet zone of at least 4 light modules on every side.
///
/// A payload such as [`recovery_qr_payload`]'s, a lower-case prefix and then upper-case letters, digits and
/// dashes, is encoded as a byte segment and an alphanumeric segment, so every recovery QR code is version 6
/// (41 modules); other payloads use the `qrcode` crate's own segmentation, whichever is smaller.
///
/// # Errors
///
/// [`LetterError::QrTooLong`] when `payload` does not fit in a QR code.
pub fn qr_modules(payload: &str) -> Result<(usize, Vec<bool>), LetterError> {
    let auto = QrCode::with_error_correction_level(payload.as_bytes(), EcLevel::Q);
    let code = match (auto, two_segments(payload.as_bytes())) {
        (Ok(auto), Some(split)) if split.width() < auto.width() => split,
        (Ok(auto), _) => auto,
        (Err(_), Some(split)) => split,
        (Err(qrcode::types::QrError::DataTooLong), None) => {
            return Err(LetterError::QrTooLong { len: payload.len() })
        }
        (Err(other), None) => {
            return Err(LetterError::Qr {
                problem: other.to_string(),
            })
        }
    };
    let width = code.width();
    let mut modules = Vec::with_capacity(width * width);
    for y in 0..width {
        for x in 0..width {
            modules.push(code[(x, y)] == Color::Dark);
        }
    }
    Ok((width, modules))
}

/// `data` as a byte segment followed by an alphanumeric segment (its longest suffix of QR alphanumeric
/// characters), in the smallest version that holds it at level Q.
fn two_segments(data: &[u8]) -> Option<QrCode> {
    let alphanumeric =
        |b: &u8| b.is_ascii_digit() || b.is_ascii_uppercase() || b" $%*+-./:".contains(b);
    let tail_len = data.iter().rev().take_while(|b| alphanumeric(b)).count();
    let (head, tail) = data.split_at(data.len() - tail_len);
    (1..=40).find_map(|version| {
        let mut bits = Bits::new(Version::Normal(version));
        if !head.is_empty() {
            bits.push_byte_data(head).ok()?;
        }
        if !tail.is_empty() {
            bits.push_alphanumeric_data(tail).ok()?;
        }
        bits.push_terminator(EcLevel::Q).ok()?;
        QrCode::with_bits(bits, EcLevel::Q).ok()
    })
}

/// Everything that can go wrong in this crate. Messages say what is wrong and what to do. They never contain a
/// secret (recovery secret, token secret, reset code) or a name; a recovery-code or token-code error may echo the
/// one character that is not allowed, never the code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LetterError {
    // ----- rendering the letter -----
    /// A text field is empty.
    #[error("the {field} is empty: fill it in before printing")]
    MissingField {
        /// `patient name`, `institution name`, `drug name`, `form`, `dosage`, `prescriber`, `pharmacy name`,
        /// `prescribed drug` or `batch number`.
        field: &'static str,
    },
    /// A text field has a character the documents' fonts cannot print (outside WinAnsiEncoding, or a control
    /// character such as a line break).
    #[error(
        "the {field} has a character that cannot be printed (character {position}, U+{code_point:04X}): \
         write it with Latin letters (for example without that accent or mark) and print again"
    )]
    UnprintableCharacter {
        /// The field, named as in [`LetterError::MissingField`].
        field: &'static str,
        /// 1-based position of the character in the trimmed field.
        position: usize,
        /// Its Unicode code point.
        code_point: u32,
    },
    /// A field does not fit on its line even in small print.
    #[error("the {field} is too long to fit on the page: shorten it (for example with an abbreviation) and print again")]
    TooLong {
        /// The field.
        field: &'static str,
    },
    /// A date is not a `YYYY-MM-DD` calendar date (from the year 2000).
    #[error("the {field} must be a calendar date written YYYY-MM-DD (for example 2026-12-02)")]
    InvalidDate {
        /// `issue date`, `validity end date` or `dispense date`.
        field: &'static str,
    },
    /// An ATC code that is not written as ATC codes are.
    #[error(
        "the ATC code must be written like N02BE01 (a letter, two digits, two letters, two digits) or be one of \
         its shorter levels (N, N02, N02B, N02BE): correct it, or leave it out if the drug is not coded"
    )]
    InvalidAtcCode,
    /// A quantity of 0.
    #[error("the {field} must be at least 1")]
    InvalidQuantity {
        /// `quantity`, `quantity handed out` or `quantity prescribed`.
        field: &'static str,
    },
    /// More handed out than remains of the prescription.
    #[error(
        "{handed_out} cannot be handed out: {} of the {prescribed} prescribed remain ({before} handed out \
         before); hand out at most what remains",
        .prescribed.saturating_sub(*.before)
    )]
    OverDispensed {
        /// The quantity prescribed.
        prescribed: u32,
        /// Handed out by earlier dispenses.
        before: u32,
        /// Handed out now.
        handed_out: u32,
    },
    /// The reset code is not 8 digits.
    #[error(
        "the reset code must be exactly 8 digits: pass the code the card was personalised with"
    )]
    InvalidResetCode,

    // ----- QR codes -----
    /// The payload does not fit in a QR code.
    #[error("{len} bytes do not fit in a QR code (error correction level Q holds at most 1,663): shorten the payload")]
    QrTooLong {
        /// Length of the payload in bytes.
        len: usize,
    },
    /// The QR encoder refused the payload for another reason.
    #[error("the QR code could not be built ({problem})")]
    Qr {
        /// The encoder's reason.
        problem: String,
    },

    // ----- reading a recovery code back -----
    /// A character that recovery codes do not use.
    #[error(
        "the recovery code cannot contain {character:?} (in group {group}): recovery codes use digits and the \
         letters A to Z except I, L, O and U; check the code against the letter"
    )]
    RecoveryCharacter {
        /// 1-based group where it was typed.
        group: usize,
        /// The character (U+FFFD for a control character).
        character: char,
    },
    /// The code has too few or too many characters.
    #[error(
        "the recovery code has {found} characters but must have 56 (14 groups of 4): look for a missing or \
         extra character, checking the code against the letter"
    )]
    RecoveryLength {
        /// Characters typed, separators excluded.
        found: usize,
    },
    /// A group, as typed between separators, has too few or too many characters.
    #[error("group {group} of the recovery code has {found} characters instead of 4: check it against the letter")]
    RecoveryGroupLength {
        /// 1-based group.
        group: usize,
        /// Its length.
        found: usize,
    },
    /// The check group shows a typo in one group.
    #[error(
        "the recovery code has a typo in group {group} ({}): check it against the letter",
        group_place(*.group, "the letter")
    )]
    RecoveryTypo {
        /// 1-based group (1–14; 14 is the check group).
        group: usize,
    },
    /// The check group shows more than one typo (or two characters swapped).
    #[error(
        "the recovery code has more than one typo, or two characters swapped: check every group against the letter"
    )]
    RecoveryTypos,
    /// A QR code that is not a carekiosk recovery code.
    #[error("this QR code is not a carekiosk recovery code: scan the QR code in the \"Recovery code\" box of the issue letter")]
    NotRecoveryQr,
    /// A recovery QR code of a letter format this version cannot read.
    #[error(
        "this recovery QR code has format {version}, which this version of carekiosk cannot read: update carekiosk, \
         or type the printed recovery code instead"
    )]
    UnsupportedQrVersion {
        /// The format named in the QR code (`unknown` if it is not a short alphanumeric word).
        version: String,
    },
    /// A recovery QR code whose code does not check (misread or altered).
    #[error("the recovery QR code was not read correctly: scan it again, or type the printed recovery code instead")]
    DamagedQr,

    // ----- reading a prescription token back -----
    /// A character that token codes do not use.
    #[error(
        "the token code cannot contain {character:?} (in group {group}): token codes use digits and the letters \
         A to Z except I, L, O and U; check the code against the prescription token"
    )]
    TokenCharacter {
        /// 1-based group where it was typed.
        group: usize,
        /// The character (U+FFFD for a control character).
        character: char,
    },
    /// The token code has too few or too many characters.
    #[error(
        "the token code has {found} characters but must have 56 (14 groups of 4): look for a missing or extra \
         character, checking the code against the prescription token"
    )]
    TokenLength {
        /// Characters typed, separators excluded.
        found: usize,
    },
    /// A group of the token code, as typed between separators, has too few or too many characters.
    #[error(
        "group {group} of the token code has {found} characters instead of 4: check it against the prescription token"
    )]
    TokenGroupLength {
        /// 1-based group.
        group: usize,
        /// Its length.
        found: usize,
    },
    /// The check group shows a typo in one group of the token code.
    #[error(
        "the token code has a typo in group {group} ({}): check it against the prescription token",
        group_place(*.group, "the token")
    )]
    TokenTypo {
        /// 1-based group (1–14; 14 is the check group).
        group: usize,
    },
    /// The check group shows more than one typo in the token code (or two characters swapped).
    #[error(
        "the token code has more than one typo, or two characters swapped: check every group against the \
         prescription token"
    )]
    TokenTypos,
    /// A QR code that is not a carekiosk prescription token.
    #[error("this QR code is not a carekiosk prescription token: scan the QR code printed on the prescription token")]
    NotTokenQr,
    /// A prescription token of a format this version cannot read.
    #[error(
        "this prescription token's QR code has format {version}, which this version of carekiosk cannot read: \
         update carekiosk, or type the printed prescription id and token code instead"
    )]
    UnsupportedTokenQrVersion {
        /// The format named in the QR code (`unknown` if it is not a short alphanumeric word).
        version: String,
    },
    /// A prescription token QR code with a part that is not as carekiosk writes it.
    #[error(
        "this prescription token's QR code has an invalid {field}: scan it again, or type the printed \
         prescription id and token code instead"
    )]
    MalformedTokenQr {
        /// `layout` (not five parts separated by colons), `chain id`, `contract address` or `prescription id`.
        field: &'static str,
    },
    /// A prescription token QR code whose token code is not 56 characters long.
    #[error(
        "the token code in this QR code has {found} characters instead of 56: scan it again, or type the printed \
         token code instead"
    )]
    TokenQrSecretLength {
        /// Characters found.
        found: usize,
    },
    /// A prescription token QR code whose token code does not check (misread or altered).
    #[error(
        "the prescription token's QR code was not read correctly: scan it again, or type the printed token code \
         instead"
    )]
    DamagedTokenQr,
}

/// Where group `group` (1-based) is printed on `document` (the letter and the token print 7 groups a line).
fn group_place(group: usize, document: &str) -> String {
    let line = (group - 1) / letter::GROUPS_PER_LINE + 1;
    let place = (group - 1) % letter::GROUPS_PER_LINE + 1;
    let ordinal = match place {
        1 => "1st",
        2 => "2nd",
        3 => "3rd",
        _ => return format!("line {line}, {place}th group on {document}"),
    };
    format!("line {line}, {ordinal} group on {document}")
}
