//! The issue letter's words (English and French) and its layout on the A4 page.

use zeroize::Zeroizing;

use crate::layout::{draw_qr, field, fit, fixed, long_date, CONTENT_WIDTH, MARGIN, PAD};
use crate::pdf::{self, Content, Font, PAGE_HEIGHT};
use crate::recovery::{self, GROUPS};
use crate::{IssueLetter, Lang, LetterError};

/// Recovery-code groups per printed line.
pub(crate) const GROUPS_PER_LINE: usize = 7;

/// The words of the letter in one language.
struct Words {
    title: &'static str,
    name: &'static str,
    institution: &'static str,
    date: &'static str,
    reset_heading: &'static str,
    recovery_heading: &'static str,
    notes_heading: &'static str,
    /// The three notes; `{institution}` is replaced by the institution's name.
    notes: [&'static str; 3],
}

const EN: Words = Words {
    title: "Your carekiosk patient card",
    name: "Name:",
    institution: "Issued by:",
    date: "Issued on:",
    reset_heading: "Reset code (unblocks your PIN if you forget it)",
    recovery_heading: "Recovery code (replaces a lost card; keep this letter at home, apart from the card)",
    notes_heading: "Important",
    notes: [
        "If your card is lost or stolen, go to the reception of {institution} with this letter and an identity \
         document. The lost card will be blocked and you will be given a new one.",
        "Nobody from the hospital will ever ask you for these codes by phone, e-mail or text message. If someone \
         does, it is a scam: do not give them.",
        "This letter alone cannot be used to read your medical records.",
    ],
};

// French typography: a no-break space (U+00A0) before « : » and « ; ».
const FR: Words = Words {
    title: "Votre carte patient carekiosk",
    name: "Nom\u{a0}:",
    institution: "Délivrée par\u{a0}:",
    date: "Délivrée le\u{a0}:",
    reset_heading: "Code de déblocage (débloque votre code PIN si vous l’oubliez)",
    recovery_heading: "Code de récupération (remplace une carte perdue\u{a0}; gardez cette lettre chez vous, à \
                       l’écart de la carte)",
    notes_heading: "Important",
    notes: [
        "Si votre carte est perdue ou volée, présentez-vous à l’accueil de l’établissement qui l’a délivrée \
         ({institution}) avec cette lettre et une pièce d’identité. La carte perdue sera bloquée et une nouvelle \
         carte vous sera remise.",
        "Personne de l’hôpital ne vous demandera jamais ces codes par téléphone, e-mail ou SMS. Si quelqu’un le \
         fait, c’est une arnaque\u{a0}: ne les donnez pas.",
        "Cette lettre seule ne permet pas de lire votre dossier médical.",
    ],
};

impl Lang {
    fn words(self) -> &'static Words {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

/// Lays the letter out and writes the PDF.
pub(crate) fn render(letter: &IssueLetter) -> Result<Vec<u8>, LetterError> {
    let words = letter.lang.words();
    let name = field(letter.patient_name, "patient name")?;
    let institution = field(letter.institution, "institution name")?;
    if letter.reset_code.len() != 8 || !letter.reset_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LetterError::InvalidResetCode);
    }
    let date = fixed(&long_date(letter.issued_on, letter.lang, "issue date")?);

    let mut page = Content::new();
    let mut y = PAGE_HEIGHT - MARGIN;

    // Title.
    y -= 20.0;
    page.text(Font::Bold, 20.0, MARGIN, y, &fixed(words.title), 0.0);
    y -= 34.0;

    // Name, institution, date.
    let labels = [words.name, words.institution, words.date].map(fixed);
    let label_width = labels
        .iter()
        .map(|l| Font::Bold.width(l, 11.0))
        .fold(0.0, f32::max)
        + 8.0;
    let value_width = CONTENT_WIDTH - label_width;
    let rows = [
        (&labels[0], &name, "patient name"),
        (&labels[1], &institution, "institution name"),
        (&labels[2], &date, "issue date"),
    ];
    for (label, value, field) in rows {
        let size = fit(Font::Regular, value, 11.0, 7.0, value_width)
            .ok_or(LetterError::TooLong { field })?;
        page.text(Font::Bold, 11.0, MARGIN, y, label, 0.0);
        page.text(Font::Regular, size, MARGIN + label_width, y, value, 0.0);
        y -= 17.0;
    }
    y -= 12.0;

    // Box: reset code.
    let inner_width = CONTENT_WIDTH - 2.0 * PAD;
    let top = y;
    y -= PAD;
    for line in pdf::wrap(Font::Bold, 11.0, &fixed(words.reset_heading), inner_width) {
        y -= 11.0;
        page.text(Font::Bold, 11.0, MARGIN + PAD, y, &line, 0.0);
        y -= 3.0;
    }
    y -= 28.0;
    page.text(
        Font::Mono,
        24.0,
        MARGIN + PAD,
        y,
        letter.reset_code.as_bytes(),
        4.0,
    );
    y -= 6.0 + PAD;
    page.stroke_rect(MARGIN, y, CONTENT_WIDTH, top - y, 0.8);
    y -= 18.0;

    // Box: recovery code, as text (left) and QR code (right).
    let top = y;
    y -= PAD;
    for line in pdf::wrap(
        Font::Bold,
        11.0,
        &fixed(words.recovery_heading),
        inner_width,
    ) {
        y -= 11.0;
        page.text(Font::Bold, 11.0, MARGIN + PAD, y, &line, 0.0);
        y -= 3.0;
    }
    // At least the QR code's quiet zone (4 modules) below the heading's descenders.
    y -= 18.0;
    let area_top = y;

    let payload = Zeroizing::new(recovery::recovery_qr_payload(letter.recovery_secret));
    let qr_right = MARGIN + CONTENT_WIDTH - PAD;
    let qr_top = area_top;
    let (qr_left, qr_size) = draw_qr(&mut page, &payload, qr_right, qr_top)?;

    let text = Zeroizing::new(recovery::recovery_text(letter.recovery_secret));
    let code_size = 13.0;
    let mut line_y = area_top - code_size;
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
    debug_assert_eq!(GROUPS.div_ceil(GROUPS_PER_LINE), 2);
    y = (qr_top - qr_size).min(line_y) - PAD;
    page.stroke_rect(MARGIN, y, CONTENT_WIDTH, top - y, 0.8);

    // Notes.
    y -= 30.0;
    page.text(
        Font::Bold,
        12.0,
        MARGIN,
        y,
        &fixed(words.notes_heading),
        0.0,
    );
    y -= 6.0;
    let bullet_indent = 14.0;
    for note in words.notes {
        let mut bytes = Vec::new();
        for (i, part) in note.split("{institution}").enumerate() {
            if i > 0 {
                bytes.extend_from_slice(&institution);
            }
            bytes.extend_from_slice(&fixed(part));
        }
        y -= 8.0;
        for (i, line) in pdf::wrap(Font::Regular, 11.0, &bytes, CONTENT_WIDTH - bullet_indent)
            .iter()
            .enumerate()
        {
            y -= 11.0;
            if i == 0 {
                page.text(Font::Regular, 11.0, MARGIN, y, &[0x95], 0.0); // •
            }
            page.text(Font::Regular, 11.0, MARGIN + bullet_indent, y, line, 0.0);
            y -= 3.5;
        }
    }
    // The fields that could push the text down are limited to one line (name, date) or a few (institution).
    if y < MARGIN {
        return Err(LetterError::TooLong {
            field: "institution name",
        });
    }
    Ok(page.into_pdf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_text_is_printable() {
        for words in [&EN, &FR] {
            let all = [
                words.title,
                words.name,
                words.institution,
                words.date,
                words.reset_heading,
            ]
            .into_iter()
            .chain([words.recovery_heading, words.notes_heading])
            .chain(words.notes);
            for text in all {
                assert!(pdf::encode(text).is_ok(), "{text}");
            }
        }
    }
}
