//! What the tests share: reproducible secrets, and the PDF read back the way a person and a scanner would (text
//! extracted by `lopdf`, filled rectangles rasterised and decoded by `rqrr`).

#![allow(dead_code)]

use lopdf::content::Content;
use lopdf::Document;

pub const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A fixed xorshift64*: reproducible "random" secrets without a dependency.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn secret(&mut self) -> [u8; 32] {
        let mut secret = [0u8; 32];
        for chunk in secret.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        secret
    }
}

pub fn parse(pdf: &[u8]) -> Document {
    Document::load_mem(pdf).expect("the PDF parses")
}

pub fn page_text(doc: &Document) -> String {
    doc.extract_text(&[1]).expect("text extracts")
}

pub fn page_content(doc: &Document) -> Vec<u8> {
    let pages = doc.get_pages();
    assert_eq!(pages.len(), 1, "exactly one page");
    doc.get_page_content(pages[&1])
}

pub fn without_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Decodes the single QR code in a greyscale raster (0 black, 255 white).
pub fn scan(width: usize, height: usize, pixel: impl Fn(usize, usize) -> bool) -> String {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        if pixel(x, y) {
            0
        } else {
            255
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code found");
    grids[0].decode().expect("the QR code decodes").1
}

/// Rasterises a module matrix at 4 px per module with a quiet zone of 4 modules, and scans it.
pub fn scan_modules(width: usize, modules: &[bool]) -> String {
    const SCALE: usize = 4;
    const QUIET: usize = 4;
    let size = (width + 2 * QUIET) * SCALE;
    scan(size, size, |x, y| {
        let (mx, my) = (x / SCALE, y / SCALE);
        (QUIET..QUIET + width).contains(&mx)
            && (QUIET..QUIET + width).contains(&my)
            && modules[(my - QUIET) * width + (mx - QUIET)]
    })
}

/// The filled rectangles of the page (x, y, w, h in points): the QR code's modules.
pub fn filled_rects(doc: &Document) -> Vec<[f32; 4]> {
    let content = Content::decode(&page_content(doc)).expect("the content stream parses");
    let mut filled = Vec::new();
    let mut path = Vec::new();
    for op in content.operations {
        match op.operator.as_str() {
            "re" => {
                let v: Vec<f32> = op.operands.iter().map(|o| o.as_float().unwrap()).collect();
                path.push([v[0], v[1], v[2], v[3]]);
            }
            "f" | "f*" => filled.append(&mut path),
            "S" | "s" | "n" | "B" | "b" => path.clear(),
            _ => {}
        }
    }
    filled
}

/// Rasterises the page's filled rectangles at 4 px per point, as a scanner would see the printed letter, and
/// scans the result.
pub fn scan_pdf(doc: &Document) -> String {
    const PX: f32 = 4.0;
    let rects = filled_rects(doc);
    assert!(!rects.is_empty());
    // The area around the code, with a 20 pt margin (the quiet zone is inside the box's padding).
    let left = rects.iter().map(|r| r[0]).fold(f32::MAX, f32::min) - 20.0;
    let right = rects.iter().map(|r| r[0] + r[2]).fold(f32::MIN, f32::max) + 20.0;
    let bottom = rects.iter().map(|r| r[1]).fold(f32::MAX, f32::min) - 20.0;
    let top = rects.iter().map(|r| r[1] + r[3]).fold(f32::MIN, f32::max) + 20.0;
    let width = ((right - left) * PX).ceil() as usize;
    let height = ((top - bottom) * PX).ceil() as usize;
    let mut dark = vec![false; width * height];
    for [x, y, w, h] in rects {
        let x0 = ((x - left) * PX).round() as usize;
        let x1 = ((x + w - left) * PX).round() as usize;
        let y0 = ((top - (y + h)) * PX).round() as usize;
        let y1 = ((top - y) * PX).round() as usize;
        for row in y0..y1 {
            dark[row * width + x0..row * width + x1].fill(true);
        }
    }
    scan(width, height, |x, y| dark[y * width + x])
}
