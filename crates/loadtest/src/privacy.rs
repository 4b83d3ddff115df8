//! The privacy scanner: looks for patient fields, PINs and keys in bytes (transaction inputs, logs, files), as
//! UTF-8 and as hex text of their UTF-8 (either case).

use crate::LoadError;

/// Something that must not appear, with a label for the report (the label never holds the secret itself).
#[derive(Clone)]
pub struct Needle {
    /// What it is ("patient name", "kiosk key", …).
    pub label: String,
    forms: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Needle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label)
    }
}

impl Needle {
    /// `text` and the hex of its UTF-8 bytes, lower and upper case.
    pub fn new(label: impl Into<String>, text: &str) -> Needle {
        let hex = alloy::hex::encode(text.as_bytes());
        let mut forms = vec![text.as_bytes().to_vec(), hex.clone().into_bytes()];
        forms.push(hex.to_uppercase().into_bytes());
        if text.chars().any(|c| c.is_ascii_hexdigit()) && text.len() >= 32 {
            // A key in hex: also its other case.
            forms.push(text.to_uppercase().into_bytes());
            forms.push(text.to_lowercase().into_bytes());
        }
        forms.dedup();
        Needle {
            label: label.into(),
            forms,
        }
    }

    /// Whether any form occurs in `hay`.
    pub fn found_in(&self, hay: &[u8]) -> bool {
        self.forms
            .iter()
            .any(|f| !f.is_empty() && hay.windows(f.len()).any(|w| w == f.as_slice()))
    }
}

/// A hit: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Where (a transaction hash, a file).
    pub place: String,
    /// The needle's label.
    pub what: String,
}

/// Bytes scanned and hits.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    /// Transactions (or files) read.
    pub items: usize,
    /// Logs read.
    pub logs: usize,
    /// Bytes searched.
    pub bytes: usize,
    /// What was found.
    pub hits: Vec<Hit>,
    /// Sealed payloads (records, prescriptions, claims) found in transaction inputs, by length.
    pub sealed_sizes: std::collections::BTreeMap<usize, usize>,
    /// Sealed payloads whose length is not one of the envelope's bucket sizes (must stay empty).
    pub off_bucket: Vec<String>,
}

/// All needles in one automaton (Aho-Corasick): each haystack is read once, whatever the number of needles.
pub struct Scanner {
    ac: aho_corasick::AhoCorasick,
    label_of: Vec<String>,
}

impl Scanner {
    /// A scanner for `needles`.
    pub fn new(needles: &[Needle]) -> Result<Scanner, LoadError> {
        let mut patterns = Vec::new();
        let mut label_of = Vec::new();
        for n in needles {
            for f in n.forms.iter().filter(|f| !f.is_empty()) {
                patterns.push(f.clone());
                label_of.push(n.label.clone());
            }
        }
        let ac = aho_corasick::AhoCorasick::new(&patterns)?;
        Ok(Scanner { ac, label_of })
    }

    /// Searches `hay`; one hit per needle label found.
    pub fn scan(&self, place: &str, hay: &[u8], report: &mut ScanReport) {
        report.bytes += hay.len();
        let mut found: Vec<&str> = self
            .ac
            .find_overlapping_iter(hay)
            .map(|m| self.label_of[m.pattern().as_usize()].as_str())
            .collect();
        found.sort_unstable();
        found.dedup();
        for what in found {
            report.hits.push(Hit {
                place: place.to_string(),
                what: what.to_string(),
            });
        }
    }
}

/// Searches `hay` for every needle.
pub fn scan_bytes(place: &str, hay: &[u8], needles: &[Needle], report: &mut ScanReport) {
    match Scanner::new(needles) {
        Ok(s) => s.scan(place, hay, report),
        Err(_) => {
            report.bytes += hay.len();
            for n in needles.iter().filter(|n| n.found_in(hay)) {
                report.hits.push(Hit {
                    place: place.to_string(),
                    what: n.label.clone(),
                });
            }
        }
    }
}

/// Every transaction's input and every log (topics and data) of the blocks read, and the inputs of `extra`
/// (kiosk transactions found by hash in blocks the node would not serve: their logs go unread).
pub fn scan_chain(
    read: &crate::check::ChainRead,
    extra: &[(alloy::primitives::B256, &alloy::primitives::Bytes)],
    needles: &[Needle],
) -> Result<ScanReport, LoadError> {
    let scanner = Scanner::new(needles)?;
    let mut report = ScanReport::default();
    let input = |hash: alloy::primitives::B256, input: &[u8], report: &mut ScanReport| {
        scanner.scan(&format!("tx {hash} input"), input, report);
        report.items += 1;
        for sealed in carekiosk_chain::payloads::sealed_payloads(input) {
            *report.sealed_sizes.entry(sealed.len()).or_default() += 1;
            if !carekiosk_records::is_sealed_len(sealed.len()) {
                report.off_bucket.push(format!(
                    "tx {hash}: a sealed payload of {} bytes",
                    sealed.len()
                ));
            }
        }
    };
    for (block, receipts) in &read.blocks {
        for tx in block.transactions.txns() {
            let bytes = alloy::consensus::Transaction::input(tx.inner.inner());
            input(*tx.inner.tx_hash(), bytes, &mut report);
        }
        for r in receipts {
            for log in r.inner.logs() {
                let mut bytes = log.data().data.to_vec();
                for t in log.topics() {
                    bytes.extend_from_slice(t.as_slice());
                }
                scanner.scan(
                    &format!("log of tx {}", r.transaction_hash),
                    &bytes,
                    &mut report,
                );
                report.logs += 1;
            }
        }
    }
    for (hash, bytes) in extra {
        input(*hash, bytes, &mut report);
    }
    Ok(report)
}

/// Every file in `dir` (the kiosks' logs).
pub fn scan_files(dir: &std::path::Path, needles: &[Needle]) -> Result<ScanReport, LoadError> {
    let scanner = Scanner::new(needles)?;
    let mut report = ScanReport::default();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.is_file() {
            let bytes = std::fs::read(&p)?;
            scanner.scan(&p.display().to_string(), &bytes, &mut report);
            report.items += 1;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_text_and_its_hex_and_nothing_else() {
        let n = Needle::new("name", "Jane Roe");
        assert!(n.found_in(b"xx Jane Roe yy"));
        assert!(n.found_in(alloy::hex::encode("..Jane Roe..").as_bytes()));
        assert!(n.found_in(alloy::hex::encode_upper("Jane Roe").as_bytes()));
        assert!(!n.found_in(b"Jane Ro e"));
        let key = "ab".repeat(32);
        let k = Needle::new("key", &key);
        assert!(k.found_in(key.to_uppercase().as_bytes()));
        let mut r = ScanReport::default();
        scan_bytes("here", b"a Jane Roe", &[n, k], &mut r);
        assert_eq!(
            r.hits,
            vec![Hit {
                place: "here".into(),
                what: "name".into()
            }]
        );
        assert_eq!(format!("{:?}", Needle::new("pin", "12345678")), "pin");
    }
}
