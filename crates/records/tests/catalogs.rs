//! The code sets: ICD-10-CM (every billable code) and the formulary: well-formed, unique, searchable.

use std::collections::HashSet;

use carekiosk_records::{formulary, icd10};

/// An ICD-10-CM code as written with its dot: a letter, two characters (digits, or since FY2026 a letter and a
/// digit, `QA0`), then optionally a dot and one to four letters or digits.
fn is_icd10_cm(code: &str) -> bool {
    let b = code.as_bytes();
    let head = b.len() >= 3
        && b[0].is_ascii_uppercase()
        && b[1..3]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        && b[2].is_ascii_digit() | b[2].is_ascii_uppercase();
    let tail = &b[3.min(b.len())..];
    head && (tail.is_empty()
        || (tail.len() >= 2
            && tail.len() <= 5
            && tail[0] == b'.'
            && tail[1..]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())))
}

fn is_atc_level5(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 7
        && b[0].is_ascii_uppercase()
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3..5].iter().all(u8::is_ascii_uppercase)
        && b[5..7].iter().all(u8::is_ascii_digit)
}

fn codes(q: &str) -> Vec<&'static str> {
    icd10::search(q).iter().map(|c| c.code).collect()
}

#[test]
fn icd10_cm_is_complete_well_formed_sorted_and_unique() {
    let all = icd10::all();
    assert!(
        (74_000..76_000).contains(&all.len()),
        "{} billable codes",
        all.len()
    );
    let mut seen = HashSet::new();
    for c in all {
        assert!(is_icd10_cm(c.code), "{}", c.code);
        assert!(!c.display.trim().is_empty(), "{}", c.code);
        assert_eq!(c.display, c.display.trim(), "{}", c.code);
        assert!(!c.display.contains(['\t', '\n']), "{}", c.code);
        assert!(seen.insert(c.code), "duplicate {}", c.code);
    }
    assert!(all.windows(2).all(|w| w[0].code < w[1].code), "code order");
    // Every code is found by lookup, with and without its dot, in any case (a sample keeps the debug test fast).
    for c in all.iter().step_by(97) {
        assert_eq!(icd10::lookup(c.code), Some(c));
        assert_eq!(
            icd10::lookup(&c.code.replace('.', "").to_lowercase()),
            Some(c)
        );
    }
    // No category that has subdivisions: billable codes only.
    for c in all.windows(2) {
        assert!(
            !c[1]
                .code
                .replace('.', "")
                .starts_with(&c[0].code.replace('.', "")),
            "{} has subdivision {}",
            c[0].code,
            c[1].code
        );
    }
}

#[test]
fn icd10_lookup_gives_the_official_titles() {
    for (code, title) in [
        ("E11.9", "Type 2 diabetes mellitus without complications"),
        ("I10", "Essential (primary) hypertension"),
        ("J06.9", "Acute upper respiratory infection, unspecified"),
        ("J45.909", "Unspecified asthma, uncomplicated"),
        ("J02.9", "Acute pharyngitis, unspecified"),
        ("J03.90", "Acute tonsillitis, unspecified"),
        ("M54.50", "Low back pain, unspecified"),
        ("R50.9", "Fever, unspecified"),
        ("U07.1", "COVID-19"),
        ("N39.0", "Urinary tract infection, site not specified"),
        (
            "Z00.00",
            "Encounter for general adult medical examination without abnormal findings",
        ),
        ("J00", "Acute nasopharyngitis [common cold]"),
        // A 7th character the tabular list defines once for the category (CMS order file wording).
        (
            "S52.521A",
            "Torus fracture of lower end of right radius, initial encounter for closed fracture",
        ),
        (
            "T36.0X1A",
            "Poisoning by penicillins, accidental (unintentional), initial encounter",
        ),
        // The FY2026 category with a letter in second place.
        ("QA0.0151", "FOXG1 syndrome"),
        ("G65.0", "Sequelae of Guillain-Barré syndrome"),
    ] {
        assert_eq!(
            icd10::lookup(code).map(|c| c.display),
            Some(title),
            "{code}"
        );
    }
    assert_eq!(icd10::lookup("i10").unwrap().code, "I10");
    assert_eq!(icd10::lookup(" j069 ").unwrap().code, "J06.9");
    assert_eq!(icd10::lookup("s52521a").unwrap().code, "S52.521A");
    assert_eq!(icd10::lookup("E11.9").unwrap().category(), "E11");
}

#[test]
fn icd10_lookup_rejects_unknown_and_non_billable_codes() {
    for code in [
        "", "  ", ".", "A00.2", "E11.99", "ZZZ", "E119X", "I10.0", "e11.9.9",
    ] {
        assert_eq!(icd10::lookup(code), None, "{code:?}");
    }
    // Categories with subdivisions are not billable: their subdivisions are.
    for (category, billable) in [
        ("E11", "E11.9"),
        ("J45.9", "J45.909"),
        ("M54.5", "M54.50"),
        ("J03.9", "J03.90"),
        ("S52.521", "S52.521A"),
    ] {
        assert_eq!(icd10::lookup(category), None, "{category}");
        assert!(icd10::lookup(billable).is_some(), "{billable}");
    }
}

#[test]
fn icd10_search_ranks_codes_and_words() {
    let e11 = codes("E11");
    assert_eq!(e11.len(), icd10::SEARCH_LIMIT);
    assert!(e11.iter().all(|c| c.starts_with("E11.")), "{e11:?}");
    assert!(
        e11.windows(2).all(|w| w[0] < w[1]),
        "code prefix hits in code order"
    );
    assert_eq!(codes("E11.9")[0], "E11.9");
    assert_eq!(codes("e119")[0], "E11.9");
    assert_eq!(codes("j069"), ["J06.9"]);
    assert_eq!(codes("J06")[..2], ["J06.0", "J06.9"]);
    // A word: the category-level code before its many specific ones.
    assert_eq!(codes("hypertension")[0], "I10");
    assert_eq!(codes("diabetes type 2")[0], "E11.9");
    assert_eq!(codes("type 2 diab")[0], "E11.9");
    assert!(
        codes("hypert")[..5].contains(&"I10"),
        "{:?}",
        codes("hypert")
    );
    assert!(codes("asthma").contains(&"J45.909"));
    assert!(codes("pharyngitis")[..5].contains(&"J02.9"));
    assert_eq!(codes("common cold")[0], "J00");
    assert_eq!(codes("covid")[0], "U07.1");
    assert_eq!(codes("urinary tract infection")[0], "N39.0");
    // Every word must match; case and accents do not matter.
    assert!(codes("asthma status").iter().all(|c| icd10::lookup(c)
        .unwrap()
        .display
        .contains("status asthmaticus")));
    // The tabular list writes G61.0 without the accent and G65.0 with it: both are found either way.
    assert_eq!(codes("guillain barre")[..2], ["G61.0", "G65.0"]);
    assert_eq!(codes("GUILLAIN-BARRÉ")[..2], ["G61.0", "G65.0"]);
    assert!(codes("zzzz").is_empty());
    assert!(codes("diabetes zzzz").is_empty());
    // At most SEARCH_LIMIT hits, or as many as asked; an empty query lists the first codes.
    assert_eq!(codes("a").len(), icd10::SEARCH_LIMIT);
    assert_eq!(icd10::search_limit("fracture", 500).len(), 500);
    assert!(icd10::search_limit("diabetes", 10_000).len() > 300);
    assert_eq!(
        icd10::search(""),
        icd10::all()[..icd10::SEARCH_LIMIT]
            .iter()
            .collect::<Vec<_>>()
    );
    let coding = icd10::lookup("E11.9").unwrap().coding();
    assert_eq!(
        coding.system.as_deref(),
        Some("http://hl7.org/fhir/sid/icd-10-cm")
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
        assert_eq!(d.class(), &d.code[..5]);
        assert_eq!(formulary::class_of(d.code).as_deref(), Some(d.class()));
    }
    assert!(all.windows(2).all(|w| w[0].code < w[1].code), "ATC order");
    assert_eq!(formulary::lookup("J01CA99"), None);
    assert_eq!(formulary::lookup(""), None);
}

#[test]
fn formulary_classes_group_substances() {
    assert_eq!(formulary::lookup("J01CA04").unwrap().class(), "J01CA");
    assert_eq!(formulary::class_of("j01ca04").as_deref(), Some("J01CA"));
    // Any well-formed level-5 code has a class, in the formulary or not.
    assert_eq!(formulary::class_of(" J01CA01 ").as_deref(), Some("J01CA"));
    for bad in [
        "", "J01CA", "J01CA0", "J01CA045", "101CA04", "J0XCA04", "J0112304",
    ] {
        assert_eq!(formulary::class_of(bad), None, "{bad:?}");
    }
    assert!(formulary::same_class("J01CA04", "j01ca01"));
    assert!(!formulary::same_class("J01CA04", "J01CR02"));
    assert!(!formulary::same_class("J01CA04", "nonsense"));
    // Two statins, two ACE inhibitors would share a class; the formulary holds one product per class here.
    let classes: HashSet<_> = formulary::all().iter().map(|d| d.class()).collect();
    assert_eq!(classes.len(), formulary::all().len());
}

#[test]
fn formulary_search_finds_by_name_code_and_form() {
    let amox = formulary::search("amox");
    assert_eq!(amox[0].code, "J01CA04", "plain amoxicillin first");
    assert!(amox.iter().any(|d| d.code == "J01CR02"));
    assert_eq!(formulary::search("J01CA")[0].name, "Amoxicillin");
    assert_eq!(formulary::search("J01C").len(), 2);
    assert!(formulary::search("inhal")
        .iter()
        .all(|d| d.code.starts_with("R03")));
    assert!(formulary::search("metformin 500")
        .iter()
        .any(|d| d.code == "A10BA02"));
    assert_eq!(formulary::search("chloramphenicol 0.5")[0].code, "S01AA01");
    assert!(formulary::search("zzzz").is_empty());
    assert_eq!(formulary::search("").len(), formulary::all().len());
    assert_eq!(formulary::search_limit("", 3).len(), 3);
    let drug = formulary::lookup("j01ca04").unwrap();
    assert_eq!(drug.display(), "Amoxicillin 500 mg capsule");
    let cc = drug.codeable_concept();
    assert_eq!(cc.code_in(formulary::SYSTEM), Some("J01CA04"));
    assert_eq!(cc.text.as_deref(), Some("Amoxicillin 500 mg capsule"));
}
