//! The type-ahead search behind [`crate::icd10::search`] and [`crate::formulary::search`]: a prebuilt, folded
//! (lowercase, accents removed) copy of every entry's code and text in one buffer, the entries pre-sorted in
//! ranking order, a SIMD substring search per entry, and a scan that stops once the best `limit` hits are
//! certain. Fast enough for every keystroke over the 74,719 ICD-10-CM codes (`cargo bench -p carekiosk-records
//! --bench codesets`, figures in `docs/benchmarks.md`).
//!
//! # Matching and ranking
//!
//! A query is split into words at white space; an entry matches when **every** word occurs in its code (with or
//! without the dot: `e11.9`, `e119` and `11.9` all find `E11.9`) or in its text, case- and accent-insensitively
//! (`sjogren` finds *Sjögren*). Matches are ranked:
//!
//! 1. the code starts with the query (dots ignored), in code order: `E11` lists `E11.00`, `E11.01`, …;
//! 2. then a word of the text starts with the first query word: shorter codes first (a category before its
//!    subdivisions: `hypertension` puts `I10` *Essential (primary) hypertension* first), then texts that start
//!    with it, then shorter texts (the general entry before its many specific ones), then code order;
//! 3. then the first word anywhere else, likewise.
//!
//! An empty query lists the first `limit` entries in code order.

use memchr::memmem::Finder;

/// How many hits [`crate::icd10::search`] and [`crate::formulary::search`] return.
pub const SEARCH_LIMIT: usize = 50;

/// The folded search copy of a list of entries (the entries themselves live with their owner).
pub(crate) struct Index {
    /// One line per entry, in entry order: `code (folded, no dots) TAB text (folded) LF`.
    text: Vec<u8>,
    /// Where each entry's line starts in `text`, and one more: the end of `text`.
    starts: Vec<u32>,
    /// Where each entry's text starts in `text` (after the code and the tab).
    text_starts: Vec<u32>,
    /// The entries by (code length, text length, entry): the order of the word tiers.
    by_length: Vec<u32>,
    /// Where each code length's run ends in `by_length`.
    length_runs: Vec<usize>,
}

impl Index {
    /// Builds the index over `entries`, each given as (code, text), **sorted by code**.
    pub(crate) fn new<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let entries = entries.into_iter();
        let mut index = Index {
            text: Vec::with_capacity(entries.size_hint().0 * 80),
            starts: Vec::with_capacity(entries.size_hint().0 + 1),
            text_starts: Vec::with_capacity(entries.size_hint().0),
            by_length: Vec::new(),
            length_runs: Vec::new(),
        };
        let mut folded = String::new();
        for (code, text) in entries {
            index.starts.push(offset(index.text.len()));
            folded.clear();
            fold_into(code, &mut folded);
            index
                .text
                .extend(folded.bytes().filter(|b| *b != b'.' && *b != b'\t'));
            index.text.push(b'\t');
            index.text_starts.push(offset(index.text.len()));
            folded.clear();
            fold_into(text, &mut folded);
            index
                .text
                .extend(folded.bytes().map(|b| if b == b'\n' { b' ' } else { b }));
            index.text.push(b'\n');
        }
        index.starts.push(offset(index.text.len()));
        let n = index.len();
        assert!(
            (1..n).all(|e| index.code(e - 1) < index.code(e)),
            "catalog entries must be sorted by code, each once"
        );
        let mut by_length: Vec<u32> = (0..offset(n)).collect();
        by_length.sort_by_key(|&e| {
            let e = e as usize;
            (index.code(e).len(), index.entry_text(e).len(), e)
        });
        let code_len = |i: usize| index.code(by_length[i] as usize).len();
        index.length_runs = (1..=n)
            .filter(|&i| i == n || code_len(i - 1) != code_len(i))
            .collect();
        index.by_length = by_length;
        index
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.text_starts.len()
    }

    /// Entry numbers of the best `limit` matches of `query`, best first (see the module documentation).
    ///
    /// The code-prefix hits are a run of the code order, found by binary search. The word hits are collected
    /// code length by code length (the ranking's next key), shortest texts first, and the scan stops at the
    /// first code length that completes `limit` hits: a frequent word (one letter) touches few entries, a rare
    /// one scans them all, each with a SIMD substring search.
    pub(crate) fn search(&self, query: &str, limit: usize) -> Vec<usize> {
        let mut folded = String::new();
        fold_into(query.trim(), &mut folded);
        let words: Vec<Word> = folded.split_whitespace().map(Word::new).collect();
        let Some(first) = words.first() else {
            return (0..self.len().min(limit)).collect();
        };
        let mut hits: Vec<usize> = Vec::with_capacity(limit.min(self.len()));
        // 1. The code starts with the (one-word) query.
        let prefixed = if words.len() == 1 && !first.undotted.is_empty() {
            let prefix = first.undotted.as_slice();
            let from = self.partition(|code| code < prefix);
            let to = self.partition(|code| code < prefix || code.starts_with(prefix));
            hits.extend((from..to).take(limit));
            from..to
        } else {
            0..0
        };
        // 2. A word of the text starts with the first query word; 3. anywhere (kept in case 2 runs short).
        let word = first.needles[0].needle();
        let mut anywhere: Vec<usize> = Vec::new();
        let mut run_start = 0;
        for &run_end in &self.length_runs {
            if hits.len() >= limit {
                break;
            }
            let mut text_first: Vec<usize> = Vec::new();
            let mut word_first: Vec<usize> = Vec::new();
            for &entry in &self.by_length[run_start..run_end] {
                let entry = entry as usize;
                if prefixed.contains(&entry) {
                    continue;
                }
                let line = self.line(entry);
                if !words.iter().all(|w| w.occurs_in(line)) {
                    continue;
                }
                let text = self.entry_text(entry);
                if text.starts_with(word) {
                    text_first.push(entry);
                } else if starts_a_word(text, &first.needles[0]) {
                    word_first.push(entry);
                } else if anywhere.len() < limit {
                    anywhere.push(entry);
                }
            }
            hits.extend(text_first);
            hits.extend(word_first);
            run_start = run_end;
        }
        hits.extend(anywhere);
        hits.truncate(limit);
        hits
    }

    /// The number of entries, in code order, whose code satisfies `before` (which must hold for a prefix of them).
    fn partition(&self, before: impl Fn(&[u8]) -> bool) -> usize {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if before(self.code(mid)) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn line(&self, entry: usize) -> &[u8] {
        &self.text[self.starts[entry] as usize..self.starts[entry + 1] as usize]
    }

    fn code(&self, entry: usize) -> &[u8] {
        &self.text[self.starts[entry] as usize..self.text_starts[entry] as usize - 1]
    }

    fn entry_text(&self, entry: usize) -> &[u8] {
        &self.text[self.text_starts[entry] as usize..self.starts[entry + 1] as usize - 1]
    }
}

/// One query word and what it may match: itself, and without its dots when it has some.
struct Word {
    needles: Vec<Finder<'static>>,
    undotted: Vec<u8>,
}

impl Word {
    fn new(word: &str) -> Self {
        let undotted: Vec<u8> = word.bytes().filter(|b| *b != b'.').collect();
        let mut needles = vec![Finder::new(word.as_bytes()).into_owned()];
        if undotted.len() != word.len() && !undotted.is_empty() {
            needles.push(Finder::new(&undotted).into_owned());
        }
        Word { needles, undotted }
    }

    fn occurs_in(&self, line: &[u8]) -> bool {
        self.needles.iter().any(|n| n.find(line).is_some())
    }
}

/// Whether `needle` occurs in `text` at the start of a word (after a character that is not a letter or digit).
fn starts_a_word(text: &[u8], needle: &Finder<'_>) -> bool {
    needle
        .find_iter(text)
        .any(|at| at == 0 || !text[at - 1].is_ascii_alphanumeric())
}

/// The text of a gzip file made by `data/generate.py` (one member, no optional header fields). Panics on anything
/// else: the files are part of the crate, and the tests read every one.
pub(crate) fn gunzip(gz: &[u8]) -> String {
    assert!(
        gz.len() > 18 && gz[..4] == [0x1f, 0x8b, 8, 0],
        "embedded code set: not a plain gzip file"
    );
    let body = &gz[10..gz.len() - 8];
    let size = u32::from_le_bytes(gz[gz.len() - 4..].try_into().expect("4 bytes"));
    let text = miniz_oxide::inflate::decompress_to_vec_with_limit(body, size as usize)
        .expect("embedded code set: bad DEFLATE data");
    assert_eq!(text.len(), size as usize, "embedded code set: truncated");
    String::from_utf8(text).expect("embedded code set: not UTF-8")
}

fn offset(n: usize) -> u32 {
    u32::try_from(n).expect("catalog index under 4 GiB")
}

/// Appends `s` lowercased, with the accents of Latin letters removed (`Sjögren` → `sjogren`), to `out`.
pub(crate) fn fold_into(s: &str, out: &mut String) {
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
            continue;
        }
        for l in c.to_lowercase() {
            out.push(match l {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' => 'a',
                'ç' => 'c',
                'è' | 'é' | 'ê' | 'ë' => 'e',
                'ì' | 'í' | 'î' | 'ï' => 'i',
                'ñ' => 'n',
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' => 'o',
                'ù' | 'ú' | 'û' | 'ü' => 'u',
                'ý' | 'ÿ' => 'y',
                other => other,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Index {
        Index::new([
            ("A01.0", "Typhoid fever"),
            ("E11.65", "Type 2 diabetes mellitus with hyperglycemia"),
            ("E11.9", "Type 2 diabetes mellitus without complications"),
            ("G65.0", "Sequelae of Guillain-Barré syndrome"),
            ("I10", "Essential (primary) hypertension"),
            ("I11.0", "Hypertensive heart disease with heart failure"),
            ("R50.9", "Fever, unspecified"),
        ])
    }

    #[test]
    fn ranked_by_tier_code_length_start_and_text_length() {
        let ix = index();
        // Codes of one length: the text starting with the word (R50.9) before a later word starting with it.
        assert_eq!(ix.search("fever", 10), [6, 0]);
        // The shorter code (I10) first, though I11.0's text starts with the word.
        assert_eq!(ix.search("hypert", 10), [4, 5]);
        assert_eq!(ix.search("e11", 10), [1, 2], "code prefix, in code order");
        assert_eq!(ix.search("e11", 1), [1]);
        assert_eq!(ix.search("r", 10)[0], 6, "code prefix before the text hits");
        assert_eq!(
            ix.search("r", 10).len(),
            6,
            "each entry once, E11.9 has no r"
        );
        assert_eq!(ix.search("E11.65", 10), [1]);
        assert_eq!(ix.search("e1165", 10), [1]);
        assert_eq!(ix.search("11.9", 10), [2]);
        assert_eq!(ix.search("diab 2", 10), [2, 1], "shorter code first");
        assert_eq!(ix.search("ertens", 10), [4, 5], "anywhere, shorter first");
        assert_eq!(ix.search("barre", 10), [3], "accents folded");
        assert_eq!(ix.search("BARRÉ", 10), [3]);
        assert!(ix.search("zzz", 10).is_empty());
        assert_eq!(ix.search("type", 1), [2]);
        assert!(ix.search("type", 0).is_empty());
        assert_eq!(ix.search("  ", 3), [0, 1, 2]);
        assert_eq!(ix.search("", 100).len(), 7);
    }

    #[test]
    fn a_hit_in_the_last_entry_counts_once() {
        let ix = index();
        assert_eq!(ix.search("unspecified", 10), [6]);
        assert_eq!(ix.search("e", 10).len(), 7);
        assert_eq!(ix.search("fever fever", 10), [6, 0]);
    }
}
