//! The prescription token's words (English and French) and its layout on the A4 page.

use zeroize::Zeroizing;

use crate::layout::{draw_qr, draw_rows, field, fixed, long_date, Row, CONTENT_WIDTH, MARGIN, PAD};
use crate::letter::GROUPS_PER_LINE;
use crate::pdf::{self, Content, Font, PAGE_HEIGHT};
use crate::recovery;
use crate::{token_qr_payload, Lang, LetterError, PrescriptionToken};

/// The words of the token in one language.
struct Words {
    title: &'static str,
    warning: &'static str,
    drug: &'static str,
    quantity: &'static str,
    dosage: &'static str,
    substitution: &'static str,
    allowed: &'static str,
    not_allowed: &'static str,
    prescriber: &'static str,
    institution: &'static str,
    valid_until: &'static str,
    prescription_id: &'static str,
    code_heading: &'static str,
}

const EN: Words = Words {
    title: "Prescription token",
    warning: "Whoever presents this token can have this prescription dispensed once, at any pharmacy. Keep it \
              like cash; ask the doctor to cancel it if it is lost.",
    drug: "Drug:",
    quantity: "Quantity:",
    dosage: "Dosage:",
    substitution: "Substitution:",
    allowed: "allowed (the pharmacy may hand out an equivalent drug)",
    not_allowed: "not allowed (only this drug)",
    prescriber: "Prescriber:",
    institution: "Issued by:",
    valid_until: "Valid until:",
    prescription_id: "Prescription id:",
    code_heading: "Token (the pharmacy scans the QR code, or types the prescription id and this code)",
};

// French typography: a no-break space (U+00A0) before « : » and « ; ».
const FR: Words = Words {
    title: "Jeton d’ordonnance",
    warning: "Toute personne qui présente ce jeton peut se faire délivrer cette ordonnance, une seule fois, dans \
              n’importe quelle pharmacie. Gardez-le comme de l’argent liquide\u{a0}; s’il est perdu, demandez au \
              médecin de l’annuler.",
    drug: "Médicament\u{a0}:",
    quantity: "Quantité\u{a0}:",
    dosage: "Posologie\u{a0}:",
    substitution: "Substitution\u{a0}:",
    allowed: "autorisée (la pharmacie peut délivrer un médicament équivalent)",
    not_allowed: "non autorisée (ce médicament uniquement)",
    prescriber: "Prescripteur\u{a0}:",
    institution: "Établissement\u{a0}:",
    valid_until: "Valable jusqu’au\u{a0}:",
    prescription_id: "N° d’ordonnance\u{a0}:",
    code_heading: "Jeton (la pharmacie scanne le code QR, ou saisit le numéro d’ordonnance et ce code)",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// An ATC code, trimmed and in upper case: a full code (`N02BE01`: a letter, two digits, two letters, two
/// digits) or one of its levels (`N`, `N02`, `N02B`, `N02BE`), the first letter one of the 14 anatomical
/// groups.
fn atc(code: &str) -> Result<String, LetterError> {
    let code = code.trim().to_ascii_uppercase();
    let bytes = code.as_bytes();
    let shaped = matches!(bytes.len(), 1 | 3 | 4 | 5 | 7)
        && b"ABCDGHJLMNPRSV".contains(&bytes[0])
        && bytes.iter().enumerate().all(|(i, b)| match i {
            3 | 4 => b.is_ascii_uppercase(),
            _ => i == 0 || b.is_ascii_digit(),
        });
    if shaped {
        Ok(code)
    } else {
        Err(LetterError::InvalidAtcCode)
    }
}

/// Lays the token out and writes the PDF.
pub(crate) fn render(token: &PrescriptionToken) -> Result<Vec<u8>, LetterError> {
    let words = words(token.lang);
    let mut drug = field(token.drug_name, "drug name")?;
    if let Some(code) = token.atc_code {
        drug.extend_from_slice(format!(" (ATC {})", atc(code)?).as_bytes());
    }
    if token.quantity == 0 {
        return Err(LetterError::InvalidQuantity { field: "quantity" });
    }
    let mut quantity = format!("{} ", token.quantity).into_bytes();
    quantity.extend_from_slice(&field(token.form, "form")?);
    let dosage = field(token.dosage, "dosage")?;
    let prescriber = field(token.prescriber, "prescriber")?;
    let institution = field(token.institution, "institution name")?;
    let valid_until = fixed(&long_date(
        token.valid_until,
        token.lang,
        "validity end date",
    )?);
    let id = token.token.prescription_id.to_string().into_bytes();
    let substitution = if token.substitution_allowed {
        words.allowed
    } else {
        words.not_allowed
    };

    let mut page = Content::new();
    let mut y = PAGE_HEIGHT - MARGIN;

    // Title.
    y -= 20.0;
    page.text(Font::Bold, 20.0, MARGIN, y, &fixed(words.title), 0.0);
    y -= 22.0;

    // The warning, boxed in a heavier line.
    let top = y;
    y -= 10.0;
    for line in pdf::wrap(
        Font::Bold,
        12.0,
        &fixed(words.warning),
        CONTENT_WIDTH - 2.0 * PAD,
    ) {
        y -= 12.0;
        page.text(Font::Bold, 12.0, MARGIN + PAD, y, &line, 0.0);
        y -= 4.0;
    }
    y -= 8.0;
    page.stroke_rect(MARGIN, y, CONTENT_WIDTH, top - y, 2.0);
    y -= 30.0;

    // What was prescribed, by whom, until when.
    let rows = [
        Row::text(words.drug, drug, 2, "drug name"),
        Row::text(words.quantity, quantity, 1, "form"),
        Row::text(words.dosage, dosage, 4, "dosage"),
        Row::text(words.substitution, fixed(substitution), 2, "substitution"),
        Row::text(words.prescriber, prescriber, 2, "prescriber"),
        Row::text(
            words.institution,
            institution.clone(),
            2,
            "institution name",
        ),
        Row::text(words.valid_until, valid_until, 1, "validity end date"),
        Row::text(words.prescription_id, id.clone(), 1, "prescription id"),
    ];
    y = draw_rows(&mut page, y, &rows)?;
    y -= 24.0;

    // Box: the token, as a QR code (right) and as the prescription id and code (left).
    let inner_width = CONTENT_WIDTH - 2.0 * PAD;
    let top = y;
    y -= PAD;
    for line in pdf::wrap(Font::Bold, 11.0, &fixed(words.code_heading), inner_width) {
        y -= 11.0;
        page.text(Font::Bold, 11.0, MARGIN + PAD, y, &line, 0.0);
        y -= 3.0;
    }
    // At least the QR code's quiet zone (4 modules) below the heading's descenders.
    y -= 18.0;
    let area_top = y;

    let payload = Zeroizing::new(token_qr_payload(token.token));
    let (qr_left, qr_size) = draw_qr(&mut page, &payload, MARGIN + CONTENT_WIDTH - PAD, area_top)?;

    let code_size = 13.0;
    let mut line_y = area_top - code_size;
    let label = fixed(words.prescription_id);
    page.text(Font::Bold, 11.0, MARGIN + PAD, line_y, &label, 0.0);
    page.text(
        Font::Mono,
        code_size,
        MARGIN + PAD + Font::Bold.width(&label, 11.0) + 6.0,
        line_y,
        &id,
        0.0,
    );
    line_y -= 2.0 * code_size;
    let text = Zeroizing::new(recovery::recovery_text(&token.token.secret));
    for line in recovery::recovery_lines(&text, GROUPS_PER_LINE) {
        debug_assert!(Font::Mono.width(line.as_bytes(), code_size) + 16.0 < qr_left - MARGIN - PAD);
        page.text(
            Font::Mono,
            code_size,
            MARGIN + PAD,
            line_y,
            line.as_bytes(),
            0.0,
        );
        line_y -= 2.0 * code_size;
    }
    y = (area_top - qr_size).min(line_y) - PAD;
    page.stroke_rect(MARGIN, y, CONTENT_WIDTH, top - y, 0.8);

    // Every row has a bounded number of lines: the page always has room.
    debug_assert!(y >= MARGIN, "{y}");
    if y < MARGIN {
        return Err(LetterError::TooLong { field: "dosage" });
    }
    Ok(page.into_pdf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_text_is_printable() {
        for words in [&EN, &FR] {
            for text in [
                words.title,
                words.warning,
                words.drug,
                words.quantity,
                words.dosage,
                words.substitution,
                words.allowed,
                words.not_allowed,
                words.prescriber,
                words.institution,
                words.valid_until,
                words.prescription_id,
                words.code_heading,
            ] {
                assert!(pdf::encode(text).is_ok(), "{text}");
            }
        }
    }

    #[test]
    fn atc_codes_are_checked() {
        for (given, read) in [
            ("N02BE01", "N02BE01"),
            (" j01cr02 ", "J01CR02"),
            ("J01C", "J01C"),
            ("N", "N"),
            ("N02", "N02"),
            ("N02BE", "N02BE"),
        ] {
            assert_eq!(atc(given).unwrap(), read);
        }
        for bad in [
            "", "N0", "N02B0", "N02BE1", "N02BE011", "X02BE01", "NO2BE01", "N02B301", "N02BE0A",
            "Ñ02BE01",
        ] {
            assert_eq!(atc(bad), Err(LetterError::InvalidAtcCode), "{bad:?}");
        }
    }
}
