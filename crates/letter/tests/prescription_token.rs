//! The prescription token read back the way a pharmacy would: the PDF parsed by `lopdf`, its text extracted, its
//! QR code rasterised and decoded by `rqrr`, and the printed code typed back.

use carekiosk_letter::{
    parse_token_qr, parse_token_text, render_token_pdf, token_qr_payload, token_text, Lang,
    LetterError, PrescriptionToken, TokenRef,
};

mod common;

use common::*;

const CONTRACT: [u8; 20] = [
    0x5f, 0xbd, 0xb2, 0x31, 0x56, 0x78, 0xaf, 0xec, 0xb3, 0x67, 0xf0, 0x32, 0xd9, 0x3f, 0x64, 0x2f,
    0x64, 0x18, 0x0a, 0xa3,
];

const WARNING_EN: &str =
    "Whoever presents this token can have this prescription dispensed once, at any \
                          pharmacy. Keep it like cash; ask the doctor to cancel it if it is lost.";

fn token_ref(seed: u64) -> TokenRef {
    let mut rng = XorShift(seed);
    TokenRef {
        chain_id: 42220,
        contract: CONTRACT,
        prescription_id: 1207,
        secret: rng.secret(),
    }
}

fn token(t: &TokenRef, lang: Lang) -> PrescriptionToken<'_> {
    PrescriptionToken {
        token: t,
        drug_name: "Paracetamol 500 mg",
        atc_code: Some("N02BE01"),
        quantity: 40,
        form: if lang == Lang::En {
            "tablets"
        } else {
            "comprimés"
        },
        dosage: "1 tablet up to 4 times a day, at least 4 hours apart",
        substitution_allowed: true,
        prescriber: "Dr Amélie Laurent",
        institution: "Hôpital Saint-Louis",
        valid_until: "2027-01-31",
        lang,
    }
}

/// The printed token code: the page's lines made only of code characters and dashes.
fn printed_code(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| l.len() >= 20 && l.chars().all(|c| c == '-' || ALPHABET.contains(c)))
        .collect()
}

#[test]
fn the_token_is_one_page_with_the_prescription_and_the_warning() {
    let t = token_ref(1);
    let pdf = render_token_pdf(&token(&t, Lang::En)).unwrap();
    let doc = parse(&pdf);
    assert_eq!(doc.get_pages().len(), 1);
    let text = page_text(&doc);
    let flat = without_whitespace(&text);
    for expected in [
        "Prescription token",
        "Paracetamol 500 mg (ATC N02BE01)",
        "40 tablets",
        "1 tablet up to 4 times a day, at least 4 hours apart",
        "Substitution:",
        "allowed (the pharmacy may hand out an equivalent drug)",
        "Dr Amélie Laurent",
        "Hôpital Saint-Louis",
        "Valid until:",
        "31 January 2027",
        "Prescription id:",
        "1207",
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(flat.contains(&without_whitespace(WARNING_EN)), "{text}");
    assert!(flat.contains(&token_text(&t.secret)), "{text}");
}

#[test]
fn the_qr_code_on_the_page_scans_back_to_the_token() {
    for (seed, lang) in [(2, Lang::En), (3, Lang::Fr)] {
        let t = TokenRef {
            chain_id: 11_142_220,
            prescription_id: 987_654,
            ..token_ref(seed)
        };
        let doc = parse(&render_token_pdf(&token(&t, lang)).unwrap());
        let payload = scan_pdf(&doc);
        assert_eq!(payload, token_qr_payload(&t));
        let read = parse_token_qr(&payload).unwrap();
        assert_eq!(read.chain_id, 11_142_220);
        assert_eq!(read.contract, CONTRACT);
        assert_eq!(read.prescription_id, 987_654);
        assert_eq!(read.secret, t.secret);
    }
}

#[test]
fn the_printed_code_reads_back_to_the_secret() {
    for (seed, lang) in [(4, Lang::En), (5, Lang::Fr)] {
        let t = token_ref(seed);
        let text = page_text(&parse(&render_token_pdf(&token(&t, lang)).unwrap()));
        let code = printed_code(&text);
        assert_eq!(code, token_text(&t.secret), "{text}");
        assert_eq!(parse_token_text(&code).unwrap(), t.secret);
        // Typed as a pharmacist might, line by line with spaces.
        assert_eq!(
            parse_token_text(&code.replace('-', " ").to_lowercase()).unwrap(),
            t.secret
        );
    }
}

#[test]
fn the_french_token_says_the_same() {
    let t = token_ref(6);
    let pdf = render_token_pdf(&PrescriptionToken {
        substitution_allowed: false,
        ..token(&t, Lang::Fr)
    })
    .unwrap();
    let doc = parse(&pdf);
    assert_eq!(doc.get_pages().len(), 1);
    let content = page_content(&doc);
    assert!(
        !content.windows(2).any(|w| w == "é".as_bytes()),
        "no UTF-8 in the content stream"
    );
    let flat = without_whitespace(&page_text(&doc));
    for expected in [
        "Jeton d’ordonnance",
        "Toute personne qui présente ce jeton peut se faire délivrer cette ordonnance, une seule fois, dans \
         n’importe quelle pharmacie. Gardez-le comme de l’argent liquide ; s’il est perdu, demandez au médecin \
         de l’annuler.",
        "Médicament :",
        "40 comprimés",
        "non autorisée (ce médicament uniquement)",
        "31 janvier 2027",
        "N° d’ordonnance : 1207",
    ] {
        assert!(
            flat.contains(&without_whitespace(expected)),
            "{expected:?} in {flat}"
        );
    }
}

#[test]
fn substitution_not_allowed_and_no_atc_code() {
    let t = token_ref(7);
    let text = page_text(&parse(
        &render_token_pdf(&PrescriptionToken {
            substitution_allowed: false,
            atc_code: None,
            ..token(&t, Lang::En)
        })
        .unwrap(),
    ));
    assert!(text.contains("not allowed (only this drug)"), "{text}");
    assert!(!text.contains("ATC"), "{text}");
    assert!(text.contains("Paracetamol 500 mg"), "{text}");
}

#[test]
fn the_longest_fields_still_fit_on_one_page() {
    let t = TokenRef {
        chain_id: u64::MAX,
        prescription_id: u64::MAX,
        ..token_ref(8)
    };
    let long_drug = "Amoxicilline acide clavulanique Arrow 1 g/125 mg, poudre pour suspension buvable en sachet-dose \
                     (enfants et adultes)";
    let long_dosage = "Un sachet matin, midi et soir, au début des repas, pendant huit jours; à diluer dans un demi-verre \
                       d'eau; ne pas arrêter le traitement avant la fin même si les symptômes disparaissent; en cas \
                       d'éruption cutanée, arrêter et consulter";
    for lang in [Lang::En, Lang::Fr] {
        let pdf = render_token_pdf(&PrescriptionToken {
            drug_name: long_drug,
            dosage: long_dosage,
            prescriber:
                "Professeur Marie-Amélie de La Tour d'Auvergne-Lauraguais, Service de pneumologie",
            institution:
                "Centre Hospitalier Universitaire de Clermont-Ferrand, Hôpital Gabriel-Montpied",
            ..token(&t, lang)
        })
        .unwrap();
        let doc = parse(&pdf);
        assert_eq!(doc.get_pages().len(), 1);
        let flat = without_whitespace(&page_text(&doc));
        assert!(flat.contains(&without_whitespace(long_dosage)), "{flat}");
        assert_eq!(
            parse_token_qr(&scan_pdf(&doc)).unwrap().prescription_id,
            u64::MAX
        );
    }
    let too_long = "very long dosage text ".repeat(20);
    assert_eq!(
        render_token_pdf(&PrescriptionToken {
            dosage: &too_long,
            ..token(&t, Lang::En)
        }),
        Err(LetterError::TooLong { field: "dosage" })
    );
}

#[test]
fn nothing_but_the_given_fields_and_no_metadata() {
    let t = token_ref(9);
    let pdf = render_token_pdf(&token(&t, Lang::En)).unwrap();
    let raw = String::from_utf8_lossy(&pdf);
    for key in [
        "/Info",
        "/Metadata",
        "/Title",
        "/Author",
        "/CreationDate",
        "/ModDate",
        "/Producer",
    ] {
        assert!(!raw.contains(key), "{key}");
    }
    // No patient on the token, and the same token gives the same bytes.
    assert_eq!(render_token_pdf(&token(&t, Lang::En)).unwrap(), pdf);
    // Two tokens differ in their secret only (same prescription).
    let other = token_ref(10);
    let a = page_text(&parse(&pdf));
    let b = page_text(&parse(&render_token_pdf(&token(&other, Lang::En)).unwrap()));
    assert_ne!(a, b);
    assert_eq!(
        without_whitespace(&a).replace(&token_text(&t.secret), "CODE"),
        without_whitespace(&b).replace(&token_text(&other.secret), "CODE")
    );
}

#[test]
fn bad_fields_are_refused_with_what_to_do() {
    let t = token_ref(11);
    let base = token(&t, Lang::En);
    assert_eq!(
        render_token_pdf(&PrescriptionToken {
            drug_name: " ",
            ..base
        }),
        Err(LetterError::MissingField { field: "drug name" })
    );
    assert_eq!(
        render_token_pdf(&PrescriptionToken { dosage: "", ..base }),
        Err(LetterError::MissingField { field: "dosage" })
    );
    assert_eq!(
        render_token_pdf(&PrescriptionToken {
            prescriber: "Dr Łukasz Nowak",
            ..base
        }),
        Err(LetterError::UnprintableCharacter {
            field: "prescriber",
            position: 4,
            code_point: 0x141
        })
    );
    for atc_code in ["N02-BE01", "paracetamol", "", "Z99ZZ99"] {
        let err = render_token_pdf(&PrescriptionToken {
            atc_code: Some(atc_code),
            ..base
        })
        .unwrap_err();
        assert_eq!(err, LetterError::InvalidAtcCode, "{atc_code:?}");
        assert!(err.to_string().contains("N02BE01"));
    }
    assert_eq!(
        render_token_pdf(&PrescriptionToken {
            atc_code: Some("j01c"),
            ..base
        })
        .map(|pdf| page_text(&parse(&pdf)).contains("(ATC J01C)")),
        Ok(true)
    );
    let err = render_token_pdf(&PrescriptionToken {
        quantity: 0,
        ..base
    })
    .unwrap_err();
    assert_eq!(err, LetterError::InvalidQuantity { field: "quantity" });
    assert_eq!(err.to_string(), "the quantity must be at least 1");
    for valid_until in ["31/01/2027", "2027-02-29", ""] {
        let err = render_token_pdf(&PrescriptionToken {
            valid_until,
            ..base
        })
        .unwrap_err();
        assert_eq!(
            err,
            LetterError::InvalidDate {
                field: "validity end date"
            }
        );
        assert!(err.to_string().starts_with("the validity end date must be"));
    }
}

#[test]
fn debug_hides_the_secret_and_the_prescription() {
    let t = TokenRef {
        secret: [0xab; 32],
        ..token_ref(12)
    };
    let shown = format!("{:?}", token(&t, Lang::Fr));
    assert!(
        shown.contains("1207") && shown.contains("2027-01-31") && shown.contains("Fr"),
        "{shown}"
    );
    for hidden in [
        "171",
        "ab",
        "AB",
        "Paracetamol",
        "N02BE01",
        "Amélie",
        "Hôpital",
        &token_text(&t.secret)[..4],
    ] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
}
