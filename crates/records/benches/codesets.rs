//! The code sets a doctor searches: how many codes, how long the first use takes (decompress, parse, index), and
//! the latency of type-ahead queries, one per keystroke, as a doctor types them.
//!
//! `cargo bench -p carekiosk-records --bench codesets` (release build; `--profile dev` for the debug figures).
//! No assertion on timing: it prints figures for `docs/benchmarks.md` ("Code sets").

use std::hint::black_box;
use std::time::{Duration, Instant};

use carekiosk_records::{formulary, icd10};

/// What a doctor types into the diagnosis picker, keystroke by keystroke: words, codes, two-word queries.
const DIAGNOSES: &[&str] = &[
    "diabetes",
    "diab 2",
    "hypertension",
    "hypert",
    "asthma",
    "pneumonia",
    "otitis media",
    "low back pain",
    "fracture femur",
    "covid",
    "pregnancy",
    "sjogren",
    "fever",
    "E11.9",
    "J45.909",
    "I10",
    "S72.0",
    "z00",
    "r51",
];

/// And into the drug picker.
const DRUGS: &[&str] = &[
    "amox",
    "amoxicillin",
    "J01C",
    "J01CA04",
    "para",
    "metformin 500",
    "inhal",
];

/// Runs of each query (its fastest is kept as its latency: the figures are about the search, not the machine's
/// noise).
const RUNS: usize = 7;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let profile = if cfg!(debug_assertions) {
        "dev (debug)"
    } else {
        "release"
    };
    let rss_before = rss_kib();
    let t = Instant::now();
    icd10::preload();
    let load = t.elapsed();
    let rss_after = rss_kib();
    let t = Instant::now();
    let _ = formulary::search("");
    let drug_load = t.elapsed();

    println!("Profile: {profile}.");
    println!();
    println!("| code set | codes | first use (load + index) | memory | queries | p50 | p99 | max | hits, typical |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let memory = match (rss_before, rss_after) {
        (Some(b), Some(a)) => format!("{:.1} MiB", a.saturating_sub(b) as f64 / 1024.0),
        _ => "–".into(),
    };
    let (n, lat, hits) = keystrokes(DIAGNOSES, |q| icd10::search(q).len());
    row(
        &format!("ICD-10-CM {}", icd10::VERSION),
        icd10::all().len(),
        load,
        &memory,
        n,
        &lat,
        &hits,
    );
    let (n, lat, hits) = keystrokes(DRUGS, |q| formulary::search(q).len());
    row(
        "formulary (ATC)",
        formulary::all().len(),
        drug_load,
        "–",
        n,
        &lat,
        &hits,
    );

    println!();
    println!("Slowest diagnosis queries:");
    let mut slow: Vec<(Duration, String)> = Vec::new();
    for word in DIAGNOSES {
        for q in prefixes(word) {
            slow.push((fastest(|| icd10::search(&q).len()), q));
        }
    }
    slow.sort_by_key(|s| std::cmp::Reverse(s.0));
    for (d, q) in slow.iter().take(5) {
        println!("- `{q}`: {}", ms(*d));
    }
    println!();
    println!("Top hits:");
    for q in ["diab", "hypert", "asthma", "E11", "J01C", "amox"] {
        let shown: Vec<String> = if q == "J01C" || q == "amox" {
            formulary::search(q)
                .iter()
                .take(3)
                .map(|d| format!("{} {}", d.code, d.display()))
                .collect()
        } else {
            icd10::search(q)
                .iter()
                .take(3)
                .map(|c| format!("{} {}", c.code, c.display))
                .collect()
        };
        println!("- `{q}`: {}", shown.join(" · "));
    }
}

/// Every prefix of `word` a doctor types on the way to it (1, 2, … characters), skipping blank ones.
fn prefixes(word: &str) -> Vec<String> {
    word.char_indices()
        .map(|(i, c)| word[..i + c.len_utf8()].to_string())
        .filter(|q| !q.ends_with(' '))
        .collect()
}

/// Latency of every keystroke query of `words` (fastest of [`RUNS`]), and the hit counts.
fn keystrokes(
    words: &[&str],
    search: impl Fn(&str) -> usize,
) -> (usize, Vec<Duration>, Vec<usize>) {
    let mut latencies = Vec::new();
    let mut hits = Vec::new();
    for word in words {
        for q in prefixes(word) {
            latencies.push(fastest(|| search(&q)));
            hits.push(search(&q));
        }
    }
    latencies.sort();
    hits.sort();
    (latencies.len(), latencies, hits)
}

fn fastest(f: impl Fn() -> usize) -> Duration {
    (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            black_box(f());
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn row(
    name: &str,
    codes: usize,
    load: Duration,
    memory: &str,
    n: usize,
    lat: &[Duration],
    hits: &[usize],
) {
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!(
        "| {name} | {codes} | {} | {memory} | {n} | {} | {} | {} | {} |",
        ms(load),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*lat.last().unwrap()),
        hits[hits.len() / 2],
    );
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Resident memory of this process (Linux), in KiB.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
