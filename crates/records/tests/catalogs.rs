//! The ICD-10 subset and the formulary: well-formed, unique, searchable.

use std::collections::HashSet;

use carekiosk_records::{formulary, icd10};

fn is_who_icd10(code: &str) -> bool {
    let b = code.as_bytes();
    let head =
        b.len() >= 3 && b[0].is_ascii_uppercase() && b[1].is_ascii_digit() && b[2].is_ascii_digit();
    head && (b.len() == 3 || (b.len() == 5 && b[3] == b'.' && b[4].is_ascii_digit()))
}

fn is_atc_level5(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 7
        && b[0].is_ascii_uppercase()
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3..5].iter().all(u8::is_ascii_uppercase)
        && b[5..7].iter().all(u8::is_ascii_digit)
}

#[test]
fn icd10_subset_is_well_formed_and_unique() {
    let all = icd10::all();
    assert!(all.len() >= 40, "{}", all.len());
    let mut seen = HashSet::new();
    for c in all {
        assert!(is_who_icd10(c.code), "{}", c.code);
        assert!(!c.display.trim().is_empty());
        assert!(seen.insert(c.code), "duplicate {}", c.code);
        assert_eq!(icd10::lookup(c.code), Some(c));
    }
    assert_eq!(
        icd10::lookup("J45.909"),
        None,
        "ICD-10-CM codes are not WHO ICD-10"
    );
    assert_eq!(
        icd10::lookup("i10").unwrap().display,
        "Essential (primary) hypertension"
    );
    assert_eq!(icd10::lookup(""), None);
}

#[test]
fn icd10_search_finds_by_words_and_codes() {
    let codes = |q: &str| icd10::search(q).iter().map(|c| c.code).collect::<Vec<_>>();
    let hyper = codes("hyper");
    assert!(
        hyper.contains(&"I10") && hyper.contains(&"E78.5"),
        "{hyper:?}"
    );
    assert_eq!(codes("J06")[0], "J06.9");
    assert_eq!(codes("j069"), ["J06.9"]);
    assert_eq!(codes("diabetes type 2"), ["E11.9"]);
    assert!(codes("asthma").contains(&"J45.9"));
    assert!(codes("zzzz").is_empty());
    assert_eq!(icd10::search("").len(), icd10::all().len());
    let coding = icd10::lookup("E11.9").unwrap().coding();
    assert_eq!(
        coding.system.as_deref(),
        Some("http://hl7.org/fhir/sid/icd-10")
    );
}

#[test]
fn formulary_is_well_formed_and_unique() {
    let all = formulary::all();
    assert!(all.len() >= 30, "{}", all.len());
    let mut seen = HashSet::new();
    for d in all {
        assert!(is_atc_level5(d.code), "{}", d.code);
        for field in [d.name, d.strength, d.form, d.default_dosage] {
            assert!(!field.trim().is_empty(), "{}", d.code);
        }
        assert!(seen.insert(d.code), "duplicate {}", d.code);
        assert_eq!(formulary::lookup(d.code), Some(d));
    }
}

#[test]
fn formulary_search_finds_by_name_code_and_form() {
    let amox = formulary::search("amox");
    assert_eq!(amox[0].code, "J01CA04", "plain amoxicillin first");
    assert!(amox.iter().any(|d| d.code == "J01CR02"));
    assert_eq!(formulary::search("J01CA")[0].name, "Amoxicillin");
    assert!(formulary::search("inhal")
        .iter()
        .all(|d| d.code.starts_with("R03")));
    assert!(formulary::search("metformin 500")
        .iter()
        .any(|d| d.code == "A10BA02"));
    let drug = formulary::lookup("j01ca04").unwrap();
    assert_eq!(drug.display(), "Amoxicillin 500 mg capsule");
    let cc = drug.codeable_concept();
    assert_eq!(cc.code_in(formulary::SYSTEM), Some("J01CA04"));
    assert_eq!(cc.text.as_deref(), Some("Amoxicillin 500 mg capsule"));
}
