//! What the chain shows of a sealed payload: its size. For every ICD-10 code of the pick list (as the doctor's
//! desk writes a diagnosis, with and without a care plan), every formulary drug (as a prescription with its
//! default dosage), and free-text notes of typical lengths, the sealed size in envelope v1 (no compression, no
//! padding, for card + hospital) and in the current envelope (v3: compressed, padded to a bucket), how many
//! distinct sizes there are and how many of them belong to exactly one code or drug. Prints markdown for
//! docs/benchmarks.md.
//!
//! `cargo run -p carekiosk-records --example sealed_sizes`

use std::collections::BTreeMap;

use carekiosk_records::fhir::{Annotation, CarePlan, CarePlanActivity, Dosage, Period};
use carekiosk_records::{formulary, icd10, padded_plaintext, sealed_len, Reference, Resource};

const PATIENT: [u8; 32] = [0x42; 32];

/// v1: version, kind, count, two recipients of 113 bytes, nonce, the JSON, tag.
fn v1_len(r: &Resource) -> usize {
    15 + 2 * 113 + r.to_json().unwrap().len() + 16
}

fn v2_len(r: &Resource) -> usize {
    sealed_len(padded_plaintext(r).unwrap().len())
}

/// EIP-2028 calldata gas of a sealed payload (ciphertext: ~1/256 zero bytes, priced as all non-zero).
fn calldata_gas(len: usize) -> usize {
    16 * len
}

struct Stats {
    distinct: usize,
    unique: usize,
    min: usize,
    max: usize,
    mean_gas: usize,
}

fn stats(sizes: &[usize]) -> Stats {
    let mut count: BTreeMap<usize, usize> = BTreeMap::new();
    for s in sizes {
        *count.entry(*s).or_default() += 1;
    }
    Stats {
        distinct: count.len(),
        unique: count.values().filter(|&&n| n == 1).count(),
        min: *sizes.iter().min().unwrap(),
        max: *sizes.iter().max().unwrap(),
        mean_gas: sizes.iter().map(|&s| calldata_gas(s)).sum::<usize>() / sizes.len(),
    }
}

fn row(label: &str, n: usize, v1: &[usize], v2: &[usize]) {
    let (a, b) = (stats(v1), stats(v2));
    println!(
        "| {label} | {n} | {}–{} B: {} sizes, {} of one item | {}–{} B: {} size(s), {} of one item | {} | {} |",
        a.min, a.max, a.distinct, a.unique, b.min, b.max, b.distinct, b.unique, a.mean_gas, b.mean_gas
    );
}

fn main() {
    let subject = Reference::patient(&PATIENT);
    println!(
        "| payload | items | v1 (JSON, unpadded) | v3 (DEFLATE, padded) | calldata gas v1 | v3 |"
    );
    println!("|---|---|---|---|---|---|");

    let (mut v1, mut v2, mut p1, mut p2) = (vec![], vec![], vec![], vec![]);
    for code in icd10::all() {
        let r: Resource = code.diagnosis(subject.clone()).into();
        v1.push(v1_len(&r));
        v2.push(v2_len(&r));
        let mut cp = CarePlan::new(subject.clone());
        cp.description = Some(format!("Treatment of {} ({})", code.display, code.code));
        for step in ["rest", "fluids", "review in 7 days"] {
            cp.activity.push(CarePlanActivity::described(step));
        }
        let r: Resource = cp.into();
        p1.push(v1_len(&r));
        p2.push(v2_len(&r));
    }
    row(
        "diagnosis (Condition), each ICD-10 code",
        v1.len(),
        &v1,
        &v2,
    );
    row("care plan naming the code", p1.len(), &p1, &p2);

    let (mut v1, mut v2) = (vec![], vec![]);
    for drug in formulary::all() {
        let mut m = drug.prescription(
            subject.clone(),
            30.0,
            Period::new("2026-12-02", "2026-12-30"),
        );
        m.dosage_instruction = vec![Dosage::text("1 tablet 3 times a day")];
        let r: Resource = m.into();
        v1.push(v1_len(&r));
        v2.push(v2_len(&r));
    }
    row(
        "prescription (MedicationRequest), each drug",
        v1.len(),
        &v1,
        &v2,
    );

    // Free text as a clinician types it: words drawn (deterministically) from a clinical vocabulary.
    let vocabulary = [
        "patient",
        "reports",
        "sore",
        "throat",
        "mild",
        "fever",
        "for",
        "three",
        "days",
        "no",
        "cough",
        "tonsils",
        "red",
        "swollen",
        "advised",
        "rest",
        "fluids",
        "paracetamol",
        "review",
        "if",
        "worse",
        "history",
        "of",
        "asthma",
        "allergic",
        "to",
        "penicillin",
        "blood",
        "pressure",
        "138/86",
        "pulse",
        "72",
        "lungs",
        "clear",
        "abdomen",
        "soft",
        "non-tender",
        "follow-up",
        "in",
        "two",
        "weeks",
        "with",
        "results",
    ];
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut text = String::new();
    while text.len() < 3000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        text.push_str(vocabulary[(seed % vocabulary.len() as u64) as usize]);
        text.push(' ');
    }
    let code = icd10::lookup("J06.9").unwrap();
    println!();
    println!("| diagnosis J06.9 with a note of | v1 | v3 |");
    println!("|---|---|---|");
    for len in [0usize, 100, 300, 1000, 3000] {
        let mut c = code.diagnosis(subject.clone());
        if len > 0 {
            c.note
                .push(Annotation::new(text[..len].trim_end().to_string()));
        }
        let r: Resource = c.into();
        println!("| {len} characters | {} B | {} B |", v1_len(&r), v2_len(&r));
    }
}
