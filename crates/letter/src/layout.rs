//! What the printed documents share: the A4 page's margins, fields checked and encoded for the standard fonts,
//! dates written out, label and value rows, and the QR code drawn as rectangles.

use zeroize::Zeroizing;

use crate::pdf::{self, Content, Font, PAGE_WIDTH};
use crate::{qr_modules, Lang, LetterError};

/// 20 mm.
pub(crate) const MARGIN: f32 = 56.69;
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;
/// Inner padding of the boxes; at least the QR code's quiet zone (4 modules of at most 3 pt).
pub(crate) const PAD: f32 = 14.0;
/// Largest QR module, in points (3 pt ≈ 1.06 mm: a version 6 code is 43 mm wide).
const MAX_MODULE: f32 = 3.0;
/// Largest QR code, in points, quiet zone excluded.
const MAX_QR: f32 = 130.0;
/// Size of the rows' labels and values.
const ROW_SIZE: f32 = 11.0;
/// Baseline to baseline within a value, and between rows.
const ROW_LINE: f32 = 14.0;
const ROW_GAP: f32 = 17.0;

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

fn months(lang: Lang) -> &'static [&'static str; 12] {
    match lang {
        Lang::En => &MONTHS_EN,
        Lang::Fr => &MONTHS_FR,
    }
}

/// Template text, known to be printable (tested for both languages).
pub(crate) fn fixed(text: &str) -> Vec<u8> {
    pdf::encode(text).unwrap_or_else(|_| text.bytes().filter(u8::is_ascii).collect())
}

/// A field the caller gives: trimmed, non-empty, printable in WinAnsiEncoding.
pub(crate) fn field(value: &str, name: &'static str) -> Result<Vec<u8>, LetterError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(LetterError::MissingField { field: name });
    }
    pdf::encode(value).map_err(|index| LetterError::UnprintableCharacter {
        field: name,
        position: index + 1,
        code_point: value.chars().nth(index).map_or(0, u32::from),
    })
}

/// `2026-12-02` as the documents write it: `2 December 2026`, `2 décembre 2026` (`1er` for the first in French).
pub(crate) fn long_date(iso: &str, lang: Lang, field: &'static str) -> Result<String, LetterError> {
    let bytes = iso.trim().as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = bytes.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let parsed = (bytes.len() == 10 && bytes[4] == b'-' && bytes[7] == b'-')
        .then(|| Some((digits(0..4)?, digits(5..7)?, digits(8..10)?)))
        .flatten();
    let Some((year, month, day)) = parsed else {
        return Err(LetterError::InvalidDate { field });
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(LetterError::InvalidDate { field }),
    };
    if day == 0 || day > days_in_month || year < 2000 {
        return Err(LetterError::InvalidDate { field });
    }
    let month_name = months(lang)[month as usize - 1];
    Ok(match (lang, day) {
        (Lang::Fr, 1) => format!("1er {month_name} {year}"),
        _ => format!("{day} {month_name} {year}"),
    })
}

/// The largest size from `max` down to `min` at which `text` fits in `width`, if any.
pub(crate) fn fit(font: Font, text: &[u8], max: f32, min: f32, width: f32) -> Option<f32> {
    let at_one = font.width(text, 1.0);
    if at_one * max <= width {
        return Some(max);
    }
    let size = (width / at_one * 10.0).floor() / 10.0;
    (size >= min).then_some(size)
}

/// A row of a document: a label in bold, and its value to the right (wrapped, or shrunk to one line).
pub(crate) struct Row {
    /// WinAnsi label, e.g. `Drug:`.
    pub(crate) label: Vec<u8>,
    /// WinAnsi value.
    pub(crate) value: Vec<u8>,
    /// The value's font.
    pub(crate) font: Font,
    /// The value's smallest size: from 11 pt down to it, the largest size at which it fits on one line; below,
    /// it is wrapped at 11 pt on at most `max_lines` lines.
    pub(crate) min_size: f32,
    /// The most lines the value may take.
    pub(crate) max_lines: usize,
    /// The field named when the value does not fit.
    pub(crate) field: &'static str,
}

impl Row {
    /// A value in Helvetica that wraps on at most `max_lines` lines.
    pub(crate) fn text(label: &str, value: Vec<u8>, max_lines: usize, field: &'static str) -> Row {
        Row {
            label: fixed(label),
            value,
            font: Font::Regular,
            min_size: ROW_SIZE,
            max_lines,
            field,
        }
    }
}

/// Draws `rows`, the first baseline at `y`, the values aligned after the widest label; returns the last
/// baseline drawn.
///
/// # Errors
///
/// [`LetterError::TooLong`] naming the first row whose value does not fit.
pub(crate) fn draw_rows(page: &mut Content, mut y: f32, rows: &[Row]) -> Result<f32, LetterError> {
    let label_width = rows
        .iter()
        .map(|r| Font::Bold.width(&r.label, ROW_SIZE))
        .fold(0.0, f32::max)
        + 8.0;
    let value_width = CONTENT_WIDTH - label_width;
    for (n, row) in rows.iter().enumerate() {
        if n > 0 {
            y -= ROW_GAP;
        }
        let (size, lines) = match fit(row.font, &row.value, ROW_SIZE, row.min_size, value_width) {
            Some(size) => (size, vec![row.value.clone()]),
            None => (
                ROW_SIZE,
                pdf::wrap(row.font, ROW_SIZE, &row.value, value_width),
            ),
        };
        if lines.len() > row.max_lines {
            return Err(LetterError::TooLong { field: row.field });
        }
        page.text(Font::Bold, ROW_SIZE, MARGIN, y, &row.label, 0.0);
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                y -= ROW_LINE;
            }
            page.text(row.font, size, MARGIN + label_width, y, line, 0.0);
        }
    }
    Ok(y)
}

/// Draws the QR code of `payload` with its top right corner at (`right`, `top`), at most [`MAX_QR`] wide;
/// returns its left edge and its size. The caller leaves a quiet zone of 4 modules (at most [`PAD`]) around it.
pub(crate) fn draw_qr(
    page: &mut Content,
    payload: &str,
    right: f32,
    top: f32,
) -> Result<(f32, f32), LetterError> {
    let (width, modules) = qr_modules(payload)?;
    let modules = Zeroizing::new(modules);
    let module = MAX_MODULE.min(MAX_QR / width as f32);
    let size = module * width as f32;
    let left = right - size;
    for row in 0..width {
        let row_y = top - module * (row + 1) as f32;
        let mut col = 0;
        while col < width {
            if !modules[row * width + col] {
                col += 1;
                continue;
            }
            let start = col;
            while col < width && modules[row * width + col] {
                col += 1;
            }
            page.rect(
                left + module * start as f32,
                row_y,
                module * (col - start) as f32,
                module,
            );
        }
    }
    page.fill();
    Ok((left, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_names_are_printable() {
        for month in MONTHS_EN.iter().chain(&MONTHS_FR) {
            assert!(pdf::encode(month).is_ok(), "{month}");
        }
    }

    #[test]
    fn dates_are_written_out() {
        assert_eq!(
            long_date("2026-12-02", Lang::En, "date").unwrap(),
            "2 December 2026"
        );
        assert_eq!(
            long_date("2026-08-01", Lang::Fr, "date").unwrap(),
            "1er août 2026"
        );
        assert_eq!(
            long_date("2028-02-29", Lang::Fr, "date").unwrap(),
            "29 février 2028"
        );
        for bad in [
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-1-02",
            "02/12/2026",
            "",
            "2026-12-32",
        ] {
            assert!(
                matches!(
                    long_date(bad, Lang::En, "date"),
                    Err(LetterError::InvalidDate { field: "date" })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn fit_shrinks_then_gives_up() {
        assert_eq!(fit(Font::Mono, b"1234", 10.0, 5.0, 100.0), Some(10.0));
        assert_eq!(fit(Font::Mono, b"1234", 10.0, 5.0, 12.0), Some(5.0));
        assert_eq!(fit(Font::Mono, b"1234", 10.0, 5.0, 11.0), None);
    }
}
