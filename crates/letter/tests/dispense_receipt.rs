//! The dispense receipt read back: the PDF parsed by `lopdf` and its text extracted.

use carekiosk_letter::{render_receipt_pdf, DispenseReceipt, Lang, LetterError};

mod common;

use common::*;

const TX: [u8; 32] = [
    0x9a, 0x3f, 0x00, 0x12, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10, 0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78,
];
const TX_HEX: &str = "0x9a3f0012deadbeef0123456789abcdeffedcba98765432100f1e2d3c4b5a6978";

fn receipt(lang: Lang) -> DispenseReceipt<'static> {
    DispenseReceipt {
        pharmacy: "Pharmacie du Marché",
        dispensed_on: "2026-12-03",
        patient_name: Some("Jeanne Dupont"),
        prescription_id: 1207,
        drug: "Paracetamol 500 mg",
        prescribed_drug: None,
        quantity: 20,
        prescribed_quantity: 40,
        dispensed_before: 0,
        form: if lang == Lang::En {
            "tablets"
        } else {
            "comprimés"
        },
        batch: "LOT-24A117",
        transaction_hash: &TX,
        lang,
    }
}

fn text_of(r: &DispenseReceipt) -> String {
    let pdf = render_receipt_pdf(r).unwrap();
    let doc = parse(&pdf);
    assert_eq!(doc.get_pages().len(), 1);
    page_text(&doc)
}

#[test]
fn the_receipt_is_one_page_with_the_dispense() {
    let text = text_of(&receipt(Lang::En));
    for expected in [
        "Dispense receipt",
        "Pharmacy:",
        "Pharmacie du Marché",
        "3 December 2026",
        "Patient:",
        "Jeanne Dupont",
        "Prescription id:",
        "1207",
        "Dispensed:",
        "Paracetamol 500 mg",
        "Substituted:",
        "20 of 40 tablets, 20 remaining",
        "Batch:",
        "LOT-24A117",
        "Transaction:",
        TX_HEX,
    ] {
        assert!(text.contains(expected), "{expected:?} in {text}");
    }
    assert!(
        without_whitespace(&text).contains("Substituted:no"),
        "{text}"
    );
}

#[test]
fn the_rest_of_the_prescription_is_stated() {
    let base = receipt(Lang::En);
    let completed = text_of(&DispenseReceipt {
        quantity: 40,
        ..base
    });
    assert!(
        completed.contains("40 of 40 tablets, completed"),
        "{completed}"
    );
    let second = text_of(&DispenseReceipt {
        dispensed_before: 20,
        ..base
    });
    assert!(
        second.contains("20 of 40 tablets (20 handed out before), completed"),
        "{second}"
    );
    let middle = text_of(&DispenseReceipt {
        quantity: 10,
        dispensed_before: 10,
        ..base
    });
    assert!(
        middle.contains("10 of 40 tablets (10 handed out before), 20 remaining"),
        "{middle}"
    );
}

#[test]
fn a_substitution_names_the_prescribed_drug() {
    let text = text_of(&DispenseReceipt {
        drug: "Paracétamol Biogaran 500 mg",
        prescribed_drug: Some("Doliprane 500 mg"),
        ..receipt(Lang::En)
    });
    assert!(text.contains("Paracétamol Biogaran 500 mg"), "{text}");
    assert!(
        without_whitespace(&text).contains("Substituted:yes(prescribed:Doliprane500mg)"),
        "{text}"
    );
}

#[test]
fn the_patient_name_is_optional() {
    for patient_name in [None, Some(""), Some("   ")] {
        let text = text_of(&DispenseReceipt {
            patient_name,
            ..receipt(Lang::En)
        });
        assert!(!text.contains("Patient"), "{text}");
        assert!(text.contains("Pharmacie du Marché"), "{text}");
    }
}

#[test]
fn the_french_receipt() {
    let pdf = render_receipt_pdf(&DispenseReceipt {
        prescribed_drug: Some("Doliprane 500 mg"),
        ..receipt(Lang::Fr)
    })
    .unwrap();
    let doc = parse(&pdf);
    let content = page_content(&doc);
    assert!(
        !content.windows(2).any(|w| w == "é".as_bytes()),
        "no UTF-8 in the content stream"
    );
    let flat = without_whitespace(&page_text(&doc));
    for expected in [
        "Reçu de délivrance",
        "Pharmacie : Pharmacie du Marché",
        "3 décembre 2026",
        "N° d’ordonnance : 1207",
        "Délivré : Paracetamol 500 mg",
        "Substitution : oui (prescrit : Doliprane 500 mg)",
        "20 sur 40 comprimés, reste 20",
        "Lot : LOT-24A117",
        TX_HEX,
    ] {
        assert!(
            flat.contains(&without_whitespace(expected)),
            "{expected:?} in {flat}"
        );
    }
    let completed = text_of(&DispenseReceipt {
        dispensed_before: 30,
        quantity: 10,
        ..receipt(Lang::Fr)
    });
    assert!(
        completed.contains("10 sur 40 comprimés (30 déjà délivrés), ordonnance terminée"),
        "{completed}"
    );
}

#[test]
fn no_qr_code_no_metadata_same_bytes() {
    let pdf = render_receipt_pdf(&receipt(Lang::En)).unwrap();
    let doc = parse(&pdf);
    // The only filled shape is the rule under the title.
    assert_eq!(filled_rects(&doc).len(), 1);
    let raw = String::from_utf8_lossy(&pdf);
    for key in ["/Info", "/Metadata", "/Title", "/Author", "/CreationDate"] {
        assert!(!raw.contains(key), "{key}");
    }
    assert_eq!(render_receipt_pdf(&receipt(Lang::En)).unwrap(), pdf);
}

#[test]
fn long_fields_fit_or_are_refused() {
    let long = "Centre Hospitalier Universitaire de Clermont-Ferrand, Pharmacie à usage intérieur, Hôpital \
                Gabriel-Montpied";
    for lang in [Lang::En, Lang::Fr] {
        let flat = without_whitespace(&text_of(&DispenseReceipt {
            pharmacy: long,
            patient_name: Some("Marie-Amélie de La Tour d'Auvergne-Lauraguais épouse Quixotic-Whitlock"),
            drug: "Amoxicilline acide clavulanique Arrow 1 g/125 mg, poudre pour suspension buvable en sachet-dose",
            prescribed_drug: Some(
                "Augmentin 1 g/125 mg, poudre pour suspension buvable en sachet-dose adultes",
            ),
            quantity: u32::MAX - 1,
            prescribed_quantity: u32::MAX,
            form: "sachets-doses de poudre pour suspension buvable",
            ..receipt(lang)
        }));
        assert!(flat.contains(&without_whitespace(long)), "{flat}");
        assert!(flat.contains(TX_HEX), "{flat}");
    }
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            batch: &"X".repeat(120),
            ..receipt(Lang::En)
        }),
        Err(LetterError::TooLong {
            field: "batch number"
        })
    );
}

#[test]
fn impossible_quantities_are_refused() {
    let base = receipt(Lang::En);
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            quantity: 0,
            ..base
        }),
        Err(LetterError::InvalidQuantity {
            field: "quantity handed out"
        })
    );
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            prescribed_quantity: 0,
            ..base
        }),
        Err(LetterError::InvalidQuantity {
            field: "quantity prescribed"
        })
    );
    let err = render_receipt_pdf(&DispenseReceipt {
        quantity: 30,
        dispensed_before: 20,
        ..base
    })
    .unwrap_err();
    assert_eq!(
        err,
        LetterError::OverDispensed {
            prescribed: 40,
            before: 20,
            handed_out: 30
        }
    );
    assert_eq!(
        err.to_string(),
        "30 cannot be handed out: 20 of the 40 prescribed remain (20 handed out before); hand out at most what \
         remains"
    );
    // No overflow with the largest numbers.
    assert!(matches!(
        render_receipt_pdf(&DispenseReceipt {
            quantity: u32::MAX,
            dispensed_before: u32::MAX,
            prescribed_quantity: u32::MAX,
            ..base
        }),
        Err(LetterError::OverDispensed { .. })
    ));
    assert!(LetterError::OverDispensed {
        prescribed: 10,
        before: 20,
        handed_out: 1
    }
    .to_string()
    .contains("0 of the 10 prescribed remain"));
}

#[test]
fn bad_fields_are_refused() {
    let base = receipt(Lang::En);
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            pharmacy: "",
            ..base
        }),
        Err(LetterError::MissingField {
            field: "pharmacy name"
        })
    );
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt { batch: " ", ..base }),
        Err(LetterError::MissingField {
            field: "batch number"
        })
    );
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            prescribed_drug: Some(""),
            ..base
        }),
        Err(LetterError::MissingField {
            field: "prescribed drug"
        })
    );
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            patient_name: Some("Łukasz"),
            ..base
        }),
        Err(LetterError::UnprintableCharacter {
            field: "patient name",
            position: 1,
            code_point: 0x141
        })
    );
    assert_eq!(
        render_receipt_pdf(&DispenseReceipt {
            dispensed_on: "2026-12-3",
            ..base
        }),
        Err(LetterError::InvalidDate {
            field: "dispense date"
        })
    );
}

#[test]
fn debug_hides_the_patient_and_the_drug() {
    let shown = format!("{:?}", receipt(Lang::En));
    assert!(
        shown.contains("1207") && shown.contains("2026-12-03"),
        "{shown}"
    );
    for hidden in ["Jeanne", "Paracetamol", "LOT-24A117", "154"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
}
