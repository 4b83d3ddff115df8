//! The dispense receipt's words (English and French) and its layout on the A4 page.

use crate::layout::{draw_rows, field, fixed, long_date, Row, CONTENT_WIDTH, MARGIN};
use crate::pdf::{Content, Font, PAGE_HEIGHT};
use crate::{DispenseReceipt, Lang, LetterError};

/// The words of the receipt in one language.
struct Words {
    title: &'static str,
    pharmacy: &'static str,
    date: &'static str,
    patient: &'static str,
    prescription_id: &'static str,
    dispensed: &'static str,
    substituted: &'static str,
    /// Followed by the prescribed drug and `)`.
    substituted_yes: &'static str,
    substituted_no: &'static str,
    quantity: &'static str,
    /// Between the quantity handed out and the quantity prescribed.
    of: &'static str,
    /// Before and after the quantity handed out earlier.
    before: (&'static str, &'static str),
    /// Before and after what remains.
    remaining: (&'static str, &'static str),
    completed: &'static str,
    batch: &'static str,
    transaction: &'static str,
}

const EN: Words = Words {
    title: "Dispense receipt",
    pharmacy: "Pharmacy:",
    date: "Date:",
    patient: "Patient:",
    prescription_id: "Prescription id:",
    dispensed: "Dispensed:",
    substituted: "Substituted:",
    substituted_yes: "yes (prescribed: ",
    substituted_no: "no",
    quantity: "Quantity:",
    of: " of ",
    before: (" (", " handed out before)"),
    remaining: (", ", " remaining"),
    completed: ", completed",
    batch: "Batch:",
    transaction: "Transaction:",
};

// French typography: a no-break space (U+00A0) before « : ».
const FR: Words = Words {
    title: "Reçu de délivrance",
    pharmacy: "Pharmacie\u{a0}:",
    date: "Date\u{a0}:",
    patient: "Patient\u{a0}:",
    prescription_id: "N° d’ordonnance\u{a0}:",
    dispensed: "Délivré\u{a0}:",
    substituted: "Substitution\u{a0}:",
    substituted_yes: "oui (prescrit\u{a0}: ",
    substituted_no: "non",
    quantity: "Quantité\u{a0}:",
    of: " sur ",
    before: (" (", " déjà délivrés)"),
    remaining: (", reste ", ""),
    completed: ", ordonnance terminée",
    batch: "Lot\u{a0}:",
    transaction: "Transaction\u{a0}:",
};

fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &EN,
        Lang::Fr => &FR,
    }
}

/// `0x` and 64 lower-case hexadecimal digits.
fn hash_hex(hash: &[u8; 32]) -> Vec<u8> {
    let mut out = b"0x".to_vec();
    for byte in hash {
        out.extend_from_slice(format!("{byte:02x}").as_bytes());
    }
    out
}

/// Lays the receipt out and writes the PDF.
pub(crate) fn render(receipt: &DispenseReceipt) -> Result<Vec<u8>, LetterError> {
    let words = words(receipt.lang);
    let pharmacy = field(receipt.pharmacy, "pharmacy name")?;
    let date = fixed(&long_date(
        receipt.dispensed_on,
        receipt.lang,
        "dispense date",
    )?);
    let patient = match receipt.patient_name {
        Some(name) if !name.trim().is_empty() => Some(field(name, "patient name")?),
        _ => None,
    };
    let drug = field(receipt.drug, "drug name")?;
    let substituted = match receipt.prescribed_drug {
        Some(prescribed) => {
            let mut text = fixed(words.substituted_yes);
            text.extend_from_slice(&field(prescribed, "prescribed drug")?);
            text.push(b')');
            text
        }
        None => fixed(words.substituted_no),
    };

    let (handed_out, prescribed, before) = (
        receipt.quantity,
        receipt.prescribed_quantity,
        receipt.dispensed_before,
    );
    if handed_out == 0 {
        return Err(LetterError::InvalidQuantity {
            field: "quantity handed out",
        });
    }
    if prescribed == 0 {
        return Err(LetterError::InvalidQuantity {
            field: "quantity prescribed",
        });
    }
    let remaining = u64::from(prescribed)
        .checked_sub(u64::from(before) + u64::from(handed_out))
        .ok_or(LetterError::OverDispensed {
            prescribed,
            before,
            handed_out,
        })?;
    let form = field(receipt.form, "form")?;
    let mut quantity = format!("{handed_out}").into_bytes();
    quantity.extend_from_slice(&fixed(words.of));
    quantity.extend_from_slice(format!("{prescribed} ").as_bytes());
    quantity.extend_from_slice(&form);
    if before > 0 {
        quantity.extend_from_slice(&fixed(words.before.0));
        quantity.extend_from_slice(format!("{before}").as_bytes());
        quantity.extend_from_slice(&fixed(words.before.1));
    }
    if remaining == 0 {
        quantity.extend_from_slice(&fixed(words.completed));
    } else {
        quantity.extend_from_slice(&fixed(words.remaining.0));
        quantity.extend_from_slice(format!("{remaining}").as_bytes());
        quantity.extend_from_slice(&fixed(words.remaining.1));
    }
    let batch = field(receipt.batch, "batch number")?;

    let mut page = Content::new();
    let mut y = PAGE_HEIGHT - MARGIN;

    // Title, and a rule under it.
    y -= 20.0;
    page.text(Font::Bold, 20.0, MARGIN, y, &fixed(words.title), 0.0);
    y -= 12.0;
    page.rect(MARGIN, y, CONTENT_WIDTH, 0.8);
    page.fill();
    y -= 28.0;

    let mut rows = vec![
        Row::text(words.pharmacy, pharmacy, 2, "pharmacy name"),
        Row::text(words.date, date, 1, "dispense date"),
    ];
    if let Some(patient) = patient {
        rows.push(Row::text(words.patient, patient, 2, "patient name"));
    }
    rows.extend([
        Row::text(
            words.prescription_id,
            receipt.prescription_id.to_string().into_bytes(),
            1,
            "prescription id",
        ),
        Row::text(words.dispensed, drug, 2, "drug name"),
        Row::text(words.substituted, substituted, 3, "prescribed drug"),
        Row::text(words.quantity, quantity, 2, "form"),
        Row::text(words.batch, batch, 1, "batch number"),
        Row {
            font: Font::Mono,
            min_size: 6.0,
            ..Row::text(
                words.transaction,
                hash_hex(receipt.transaction_hash),
                1,
                "transaction hash",
            )
        },
    ]);
    y = draw_rows(&mut page, y, &rows)?;
    // At most 15 lines of rows under the title: the page always has room.
    debug_assert!(y >= MARGIN, "{y}");
    Ok(page.into_pdf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf;

    #[test]
    fn every_template_text_is_printable() {
        for words in [&EN, &FR] {
            for text in [
                words.title,
                words.pharmacy,
                words.date,
                words.patient,
                words.prescription_id,
                words.dispensed,
                words.substituted,
                words.substituted_yes,
                words.substituted_no,
                words.quantity,
                words.of,
                words.before.0,
                words.before.1,
                words.remaining.0,
                words.remaining.1,
                words.completed,
                words.batch,
                words.transaction,
            ] {
                assert!(pdf::encode(text).is_ok(), "{text}");
            }
        }
    }

    #[test]
    fn hashes_are_0x_and_64_digits() {
        let mut hash = [0u8; 32];
        hash[0] = 0xab;
        hash[31] = 0x01;
        let text = String::from_utf8(hash_hex(&hash)).unwrap();
        assert_eq!(text.len(), 66);
        assert!(
            text.starts_with("0xab00") && text.ends_with("0001"),
            "{text}"
        );
    }
}
