//! A minimal PDF 1.4 writer: one A4 page, three of the standard 14 fonts (no embedding) in WinAnsiEncoding,
//! text, stroked and filled rectangles, an uncompressed content stream, no metadata.

use std::fmt::Write as _;

use zeroize::Zeroizing;

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.28;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;

/// The fonts of the page. None is embedded: every PDF reader has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Font {
    /// Helvetica.
    Regular,
    /// Helvetica-Bold.
    Bold,
    /// Courier-Bold, for the codes (fixed width, a slashed-looking zero is not needed: the codes have no O).
    Mono,
}

impl Font {
    const ALL: [Font; 3] = [Font::Regular, Font::Bold, Font::Mono];

    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }

    fn base_font(self) -> &'static str {
        match self {
            Font::Regular => "Helvetica",
            Font::Bold => "Helvetica-Bold",
            Font::Mono => "Courier-Bold",
        }
    }

    /// Advance width of a WinAnsi byte, in thousandths of the font size.
    fn advance(self, byte: u8) -> u16 {
        let index = usize::from(byte.saturating_sub(32));
        match self {
            Font::Regular => HELVETICA[index],
            Font::Bold => HELVETICA_BOLD[index],
            Font::Mono => 600,
        }
    }

    /// Width of WinAnsi `text` at `size` points.
    pub(crate) fn width(self, text: &[u8], size: f32) -> f32 {
        let units: u32 = text.iter().map(|b| u32::from(self.advance(*b))).sum();
        units as f32 * size / 1000.0
    }
}

/// The WinAnsiEncoding (Windows-1252) byte of `c`, for the characters the standard fonts can print.
pub(crate) fn winansi(c: char) -> Option<u8> {
    let code = u32::from(c);
    let byte = match code {
        0x20..=0x7e | 0xa0..=0xff => code as u8,
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            _ => return None,
        },
    };
    Some(byte)
}

/// `text` in WinAnsiEncoding, or the 0-based index (in characters) of the first character it cannot hold.
pub(crate) fn encode(text: &str) -> Result<Vec<u8>, usize> {
    text.chars()
        .enumerate()
        .map(|(i, c)| winansi(c).ok_or(i))
        .collect()
}

/// Splits WinAnsi `text` into lines no wider than `max_width` at `size`, breaking at spaces (a word wider than a
/// line is broken where it must be).
pub(crate) fn wrap(font: Font, size: f32, text: &[u8], max_width: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    for word in text.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
        let candidate_width = if line.is_empty() {
            font.width(word, size)
        } else {
            font.width(&line, size) + font.width(b" ", size) + font.width(word, size)
        };
        if candidate_width <= max_width {
            if !line.is_empty() {
                line.push(b' ');
            }
            line.extend_from_slice(word);
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        for &byte in word {
            if !line.is_empty() && font.width(&line, size) + font.width(&[byte], size) > max_width {
                lines.push(std::mem::take(&mut line));
            }
            line.push(byte);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A number as PDF writes it: at most two decimals, no trailing zeros.
fn num(out: &mut Vec<u8>, value: f32) {
    let mut s = format!("{value:.2}");
    while s.contains('.') && (s.ends_with('0') || s.ends_with('.')) {
        s.pop();
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    out.extend_from_slice(s.as_bytes());
}

/// Appends `text` as a PDF literal string, escaping `(`, `)` and `\`.
fn literal(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'(');
    for &byte in text {
        if matches!(byte, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b')');
}

/// The page's content stream. Its buffer is reserved up front and zeroized on drop: it holds the recovery code.
pub(crate) struct Content {
    ops: Zeroizing<Vec<u8>>,
}

impl Content {
    pub(crate) fn new() -> Self {
        // A letter's content is about 11 KiB (most of it the QR code's rectangles): no reallocation leaves a copy
        // of the recovery code behind.
        Content {
            ops: Zeroizing::new(Vec::with_capacity(64 * 1024)),
        }
    }

    /// Shows WinAnsi `text` at (`x`, `y`) (baseline start), with `spacing` points between characters.
    pub(crate) fn text(
        &mut self,
        font: Font,
        size: f32,
        x: f32,
        y: f32,
        text: &[u8],
        spacing: f32,
    ) {
        let o = &mut self.ops;
        o.extend_from_slice(b"BT /");
        o.extend_from_slice(font.resource().as_bytes());
        o.push(b' ');
        num(o, size);
        o.extend_from_slice(b" Tf ");
        num(o, spacing);
        o.extend_from_slice(b" Tc ");
        num(o, x);
        o.push(b' ');
        num(o, y);
        o.extend_from_slice(b" Td ");
        literal(o, text);
        o.extend_from_slice(b" Tj ET\n");
    }

    /// Strokes the rectangle with lower-left corner (`x`, `y`).
    pub(crate) fn stroke_rect(&mut self, x: f32, y: f32, w: f32, h: f32, line_width: f32) {
        let o = &mut self.ops;
        num(o, line_width);
        o.extend_from_slice(b" w ");
        self.rect(x, y, w, h);
        self.ops.extend_from_slice(b"S\n");
    }

    /// Adds a rectangle to the current path (fill it with [`Content::fill`]).
    pub(crate) fn rect(&mut self, x: f32, y: f32, w: f32, h: f32) {
        let o = &mut self.ops;
        for v in [x, y, w, h] {
            num(o, v);
            o.push(b' ');
        }
        o.extend_from_slice(b"re\n");
    }

    /// Fills the current path in black.
    pub(crate) fn fill(&mut self) {
        self.ops.extend_from_slice(b"0 g f\n");
    }

    /// The whole PDF file around this content: catalog, page tree, page, fonts, content stream, cross-reference
    /// table. No document information dictionary or metadata stream: nothing but the page.
    pub(crate) fn into_pdf(self) -> Vec<u8> {
        let mut objects: Vec<Vec<u8>> = Vec::new();
        objects.push(b"<< /Type /Catalog /Pages 2 0 R >>".to_vec());
        objects.push(b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec());
        let mut page = String::new();
        let _ = write!(page, "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] /Resources << /Font <<");
        for (i, font) in Font::ALL.iter().enumerate() {
            let _ = write!(page, " /{} {} 0 R", font.resource(), 4 + i);
        }
        let _ = write!(page, " >> >> /Contents {} 0 R >>", 4 + Font::ALL.len());
        objects.push(page.into_bytes());
        for font in Font::ALL {
            objects.push(
                format!(
                    "<< /Type /Font /Subtype /Type1 /BaseFont /{} /Encoding /WinAnsiEncoding >>",
                    font.base_font()
                )
                .into_bytes(),
            );
        }

        let stream_len = self.ops.len();
        let mut pdf = Vec::with_capacity(stream_len + 2048);
        // The second line marks the file as binary (bytes ≥ 128), as the specification recommends.
        pdf.extend_from_slice(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n");
        let mut offsets = Vec::new();
        for (i, body) in objects.iter().enumerate() {
            offsets.push(pdf.len());
            pdf.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            pdf.extend_from_slice(body);
            pdf.extend_from_slice(b"\nendobj\n");
        }
        offsets.push(pdf.len());
        pdf.extend_from_slice(
            format!(
                "{} 0 obj\n<< /Length {stream_len} >>\nstream\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        pdf.extend_from_slice(&self.ops);
        pdf.extend_from_slice(b"\nendstream\nendobj\n");

        let xref = pdf.len();
        let count = offsets.len() + 1;
        pdf.extend_from_slice(format!("xref\n0 {count}\n0000000000 65535 f\r\n").as_bytes());
        for offset in offsets {
            pdf.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
        }
        pdf.extend_from_slice(
            format!("trailer\n<< /Size {count} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n")
                .as_bytes(),
        );
        pdf
    }
}

// Advance widths of the WinAnsi characters 32–255 (Adobe's Core 14 AFM metrics; the unassigned codes 127, 129,
// 141, 143, 144 and 157 are never written).
#[rustfmt::skip]
const HELVETICA: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 350,
    556, 350, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    350, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 350, 500, 667,
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556, 500,
];

#[rustfmt::skip]
const HELVETICA_BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611,
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778,
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556,
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611,
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 350,
    556, 350, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 350, 611, 350,
    350, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 350, 500, 667,
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737, 333,
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834, 611,
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278, 278,
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667, 611,
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278, 278,
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611, 556,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        let mut out = Vec::new();
        for v in [0.0, 12.0, 12.5, 0.126, -0.001, 595.28] {
            num(&mut out, v);
            out.push(b' ');
        }
        assert_eq!(out, b"0 12 12.5 0.13 0 595.28 ");
    }

    #[test]
    fn literals_escape_parentheses_and_backslashes() {
        let mut out = Vec::new();
        literal(&mut out, b"a(b)c\\d");
        assert_eq!(out, b"(a\\(b\\)c\\\\d)");
    }

    #[test]
    fn winansi_maps_french_and_rejects_the_rest() {
        assert_eq!(
            encode("é è à ç œ ’ «»"),
            Ok(b"\xe9 \xe8 \xe0 \xe7 \x9c \x92 \xab\xbb".to_vec())
        );
        assert_eq!(encode("Łukasz"), Err(0));
        assert_eq!(encode("a\nb"), Err(1));
        assert_eq!(encode("a\u{85}"), Err(1));
    }

    #[test]
    fn widths_match_the_metrics() {
        assert_eq!(
            Font::Regular.width(b"Hello", 10.0),
            (722 + 556 + 222 + 222 + 556) as f32 / 100.0
        );
        assert_eq!(Font::Mono.width(b"1234", 10.0), 24.0);
    }

    #[test]
    fn wrap_breaks_at_spaces_and_inside_long_words() {
        let lines = wrap(Font::Mono, 10.0, b"aaa bbb ccccccccc d", 30.0);
        let expected: Vec<&[u8]> = vec![b"aaa", b"bbb", b"ccccc", b"cccc", b"d"];
        assert_eq!(lines, expected);
    }
}
