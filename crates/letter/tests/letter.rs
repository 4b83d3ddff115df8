//! The issue letter read back the way a person and a scanner would: the PDF parsed by `lopdf`, its text
//! extracted, its QR code rasterised and decoded by `rqrr`, and the recovery code typed back with typos.

use carekiosk_letter::{
    parse_recovery_qr, parse_recovery_text, qr_modules, recovery_qr_payload, recovery_text,
    render_pdf, IssueLetter, Lang, LetterError,
};

mod common;

use common::*;

fn letter<'a>(name: &'a str, secret: &'a [u8; 32], lang: Lang) -> IssueLetter<'a> {
    IssueLetter {
        patient_name: name,
        issued_on: "2026-12-02",
        institution: "Hôpital Saint-Louis",
        reset_code: "48120975",
        recovery_secret: secret,
        lang,
    }
}

#[test]
fn the_letter_is_one_page_with_the_name_reset_code_and_recovery_code() {
    let secret = XorShift(1).secret();
    let pdf = render_pdf(&letter("Marie-Hélène Tremblay", &secret, Lang::En)).unwrap();
    let doc = parse(&pdf);
    assert_eq!(doc.get_pages().len(), 1);

    let text = page_text(&doc);
    assert!(text.contains("Your carekiosk patient card"), "{text}");
    assert!(text.contains("Marie-Hélène Tremblay"), "{text}");
    assert!(text.contains("Hôpital Saint-Louis"), "{text}");
    assert!(text.contains("2 December 2026"), "{text}");
    assert!(text.contains("48120975"), "{text}");
    assert!(
        text.contains("Reset code (unblocks your PIN if you forget it)"),
        "{text}"
    );
    // The recovery code is printed on two lines, split after a group's dash.
    assert!(
        without_whitespace(&text).contains(&recovery_text(&secret)),
        "{text}"
    );
    assert!(
        without_whitespace(&text)
            .contains("gotothereceptionofHôpitalSaint-Louiswiththisletterandanidentitydocument"),
        "{text}"
    );
    assert!(without_whitespace(&text)
        .contains("Nobodyfromthehospitalwilleveraskyouforthesecodesbyphone"));
    assert!(text.contains("This letter alone cannot be used to read your medical records."));
}

#[test]
fn the_qr_code_on_the_page_scans_back_to_the_secret() {
    let mut rng = XorShift(2);
    for lang in [Lang::En, Lang::Fr] {
        let secret = rng.secret();
        let doc = parse(&render_pdf(&letter("Jeanne Dupont", &secret, lang)).unwrap());
        let payload = scan_pdf(&doc);
        assert_eq!(payload, recovery_qr_payload(&secret));
        assert_eq!(parse_recovery_qr(&payload).unwrap(), secret);
    }
}

#[test]
fn qr_modules_scan_back_to_the_secret() {
    let mut rng = XorShift(3);
    for _ in 0..10 {
        let secret = rng.secret();
        let (width, modules) = qr_modules(&recovery_qr_payload(&secret)).unwrap();
        assert_eq!(modules.len(), width * width);
        assert_eq!(width, 41, "version 6 at level Q, whatever the secret");
        let payload = scan_modules(width, &modules);
        assert!(payload.starts_with("carekiosk-recovery:v1:"), "{payload}");
        assert_eq!(parse_recovery_qr(&payload).unwrap(), secret);
    }
}

#[test]
fn recovery_text_round_trips_for_random_secrets() {
    let mut rng = XorShift(4);
    let mut secrets: Vec<[u8; 32]> = (0..200).map(|_| rng.secret()).collect();
    secrets.push([0; 32]);
    secrets.push([0xff; 32]);
    for secret in secrets {
        let text = recovery_text(&secret);
        assert_eq!(text.len(), 14 * 4 + 13);
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.len(), 14);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 4 && g.chars().all(|c| ALPHABET.contains(c))),
            "{text}"
        );
        assert_eq!(parse_recovery_text(&text).unwrap(), secret);
        // As someone might type it.
        assert_eq!(parse_recovery_text(&text.to_lowercase()).unwrap(), secret);
        assert_eq!(
            parse_recovery_text(&text.replace('-', " ")).unwrap(),
            secret
        );
        assert_eq!(parse_recovery_text(&text.replace('-', "")).unwrap(), secret);
        assert_eq!(
            parse_recovery_text(&format!("  {}\n", text.replace('-', " – "))).unwrap(),
            secret
        );
        let look_alikes = text.replace('0', "O").replace('1', "l");
        assert_eq!(parse_recovery_text(&look_alikes).unwrap(), secret);
        assert_eq!(
            parse_recovery_qr(&recovery_qr_payload(&secret)).unwrap(),
            secret
        );
    }
}

#[test]
fn a_single_changed_character_is_detected_in_every_group() {
    let mut rng = XorShift(5);
    for _ in 0..5 {
        let secret = rng.secret();
        let text: Vec<char> = recovery_text(&secret).chars().collect();
        let mut checked = 0;
        for (i, original) in text.iter().enumerate() {
            if *original == '-' {
                continue;
            }
            let group = i / 5 + 1;
            for replacement in ALPHABET.chars().filter(|c| c != original) {
                let mut typo = text.clone();
                typo[i] = replacement;
                let typo: String = typo.into_iter().collect();
                match parse_recovery_text(&typo) {
                    Err(LetterError::RecoveryTypo { group: found }) => {
                        assert_eq!(found, group, "{typo}")
                    }
                    other => panic!("{typo}: {other:?}"),
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 56 * 31);
    }
    let message = LetterError::RecoveryTypo { group: 3 }.to_string();
    assert!(
        message.starts_with("the recovery code has a typo in group 3"),
        "{message}"
    );
    assert!(
        message.ends_with("check it against the letter"),
        "{message}"
    );
    assert!(LetterError::RecoveryTypo { group: 10 }
        .to_string()
        .contains("line 2, 3rd group"));
}

#[test]
fn two_typos_and_swaps_are_detected() {
    let secret = XorShift(6).secret();
    let text: Vec<char> = recovery_text(&secret).chars().collect();
    let positions: Vec<usize> = (0..text.len()).filter(|i| text[*i] != '-').collect();
    for (n, &i) in positions.iter().enumerate() {
        // Two changed characters, far apart and close together.
        for &j in [
            positions[(n + 1) % positions.len()],
            positions[(n + 23) % positions.len()],
        ]
        .iter()
        {
            let mut typo = text.clone();
            typo[i] = if typo[i] == 'X' { 'Y' } else { 'X' };
            typo[j] = if typo[j] == '7' { '8' } else { '7' };
            let typo: String = typo.into_iter().collect();
            assert!(parse_recovery_text(&typo).is_err(), "{typo}");
        }
        // Neighbours swapped.
        if let Some(&j) = positions.get(n + 1) {
            if text[i] != text[j] {
                let mut swapped = text.clone();
                swapped.swap(i, j);
                let swapped: String = swapped.into_iter().collect();
                assert_eq!(
                    parse_recovery_text(&swapped),
                    Err(LetterError::RecoveryTypos),
                    "{swapped}"
                );
            }
        }
    }
}

#[test]
fn malformed_recovery_codes_say_what_is_wrong() {
    let text = recovery_text(&[7; 32]);
    let short = &text[..text.len() - 1];
    assert_eq!(
        parse_recovery_text(short),
        Err(LetterError::RecoveryGroupLength {
            group: 14,
            found: 3
        })
    );
    assert_eq!(
        parse_recovery_text(&short.replace('-', "")),
        Err(LetterError::RecoveryLength { found: 55 })
    );
    assert_eq!(
        parse_recovery_text(&format!("{text}A")),
        Err(LetterError::RecoveryGroupLength {
            group: 14,
            found: 5
        })
    );
    let mut with_u = text.clone();
    with_u.replace_range(5..6, "U");
    assert_eq!(
        parse_recovery_text(&with_u),
        Err(LetterError::RecoveryCharacter {
            group: 2,
            character: 'U'
        })
    );
    assert_eq!(
        parse_recovery_text(""),
        Err(LetterError::RecoveryLength { found: 0 })
    );

    assert_eq!(
        parse_recovery_qr("https://example.org"),
        Err(LetterError::NotRecoveryQr)
    );
    assert_eq!(parse_recovery_qr(&text), Err(LetterError::NotRecoveryQr));
    assert_eq!(
        parse_recovery_qr(&format!("carekiosk-recovery:v2:{text}")),
        Err(LetterError::UnsupportedQrVersion {
            version: "v2".into()
        })
    );
    let payload = recovery_qr_payload(&[7; 32]);
    let damaged = payload.replace(&text[..4], "ZZZZ");
    assert_ne!(damaged, payload);
    assert_eq!(parse_recovery_qr(&damaged), Err(LetterError::DamagedQr));
    assert_eq!(
        parse_recovery_qr(&format!("{payload}\r\n")).unwrap(),
        [7; 32]
    );
}

#[test]
fn the_french_letter_prints_accents_in_winansi() {
    let secret = XorShift(7).secret();
    let pdf = render_pdf(&letter("François Lefèvre", &secret, Lang::Fr)).unwrap();
    let doc = parse(&pdf);
    let content = page_content(&doc);
    assert!(content.contains(&0xe9), "é as the WinAnsi byte 0xE9");
    assert!(content.windows(8).any(|w| w == b"Fran\xe7ois"), "ç as 0xE7");
    assert!(
        !content.windows(2).any(|w| w == "é".as_bytes()),
        "no UTF-8 in the content stream"
    );
    let fonts = String::from_utf8_lossy(&pdf)
        .matches("/Encoding /WinAnsiEncoding")
        .count();
    assert_eq!(fonts, 3);

    let text = page_text(&doc);
    for expected in [
        "Votre carte patient carekiosk",
        "François Lefèvre",
        "2 décembre 2026",
        "Délivrée par",
        "Code de déblocage (débloque votre code PIN si vous l’oubliez)",
        "présentez-vous à l’accueil de l’établissement qui l’a délivrée (Hôpital Saint-Louis) avec cette lettre",
        "Cette lettre seule ne permet pas de lire votre dossier médical.",
    ] {
        assert!(
            without_whitespace(&text).contains(&without_whitespace(expected)),
            "{expected:?} in {text}"
        );
    }
    assert!(without_whitespace(&text).contains(&recovery_text(&secret)));
}

#[test]
fn nothing_but_the_given_fields_is_printed() {
    let secret = XorShift(8).secret();
    let name = "Zebulon Quixotic-Whitlock";
    let pdf = render_pdf(&letter(name, &secret, Lang::En)).unwrap();
    let doc = parse(&pdf);
    let text = page_text(&doc);

    // The name once, on the page only; no document information or metadata stream.
    assert_eq!(text.matches(name).count(), 1);
    assert_eq!(
        pdf.windows(name.len())
            .filter(|w| *w == name.as_bytes())
            .count(),
        1
    );
    assert!(doc.trailer.get(b"Info").is_err());
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

    // Every digit on the page belongs to the reset code, the date or the recovery code: no patient id, PIN,
    // birth date or phone number.
    let mut rest = without_whitespace(&text);
    for known in [recovery_text(&secret).as_str(), "48120975", "2December2026"] {
        assert_eq!(rest.matches(known).count(), 1, "{known}");
        rest = rest.replace(known, "");
    }
    assert!(!rest.chars().any(|c| c.is_ascii_digit()), "{rest}");

    // Two patients' letters differ only in the name.
    let other = page_text(&parse(
        &render_pdf(&letter("Ada Lovelace", &secret, Lang::En)).unwrap(),
    ));
    assert_eq!(other.replace("Ada Lovelace", name), text);

    // The same letter gives the same bytes (no timestamps, no random ids).
    assert_eq!(render_pdf(&letter(name, &secret, Lang::En)).unwrap(), pdf);
}

#[test]
fn parentheses_and_backslashes_are_escaped() {
    let secret = [1; 32];
    let tricky = IssueLetter {
        institution: r"CHU (site Nord) \ Bâtiment B)",
        ..letter(r"O'Brien (Jr.) \ Smith", &secret, Lang::En)
    };
    let pdf = render_pdf(&tricky).unwrap();
    let text = page_text(&parse(&pdf));
    assert!(text.contains(r"O'Brien (Jr.) \ Smith"), "{text}");
    assert!(text.contains(r"CHU (site Nord) \ Bâtiment B)"), "{text}");
    assert!(String::from_utf8_lossy(&pdf).contains(r"(O'Brien \(Jr.\) \\ Smith) Tj"));
}

#[test]
fn long_fields_shrink_until_they_do_not_fit() {
    let secret = [2; 32];
    let long = "Centre Hospitalier Universitaire de Clermont-Ferrand, Hôpital Gabriel-Montpied";
    let pdf = render_pdf(&IssueLetter {
        institution: long,
        ..letter("A B", &secret, Lang::Fr)
    })
    .unwrap();
    assert!(page_text(&parse(&pdf)).contains(long));
    let too_long = "X".repeat(200);
    assert_eq!(
        render_pdf(&letter(&too_long, &secret, Lang::En)),
        Err(LetterError::TooLong {
            field: "patient name"
        })
    );
}

#[test]
fn bad_fields_are_refused_with_what_to_do() {
    let secret = [3; 32];
    let base = letter("Łukasz Nowak", &secret, Lang::En);
    let err = render_pdf(&base).unwrap_err();
    assert_eq!(
        err,
        LetterError::UnprintableCharacter {
            field: "patient name",
            position: 1,
            code_point: 0x141
        }
    );
    let message = err.to_string();
    assert!(
        message.contains("U+0141") && message.contains("Latin letters") && !message.contains('Ł')
    );

    assert_eq!(
        render_pdf(&IssueLetter {
            patient_name: "Anne\nMarie",
            ..base
        }),
        Err(LetterError::UnprintableCharacter {
            field: "patient name",
            position: 5,
            code_point: 10
        })
    );
    assert_eq!(
        render_pdf(&IssueLetter {
            patient_name: "  ",
            ..base
        }),
        Err(LetterError::MissingField {
            field: "patient name"
        })
    );
    assert_eq!(
        render_pdf(&IssueLetter {
            patient_name: "A",
            institution: "",
            ..base
        }),
        Err(LetterError::MissingField {
            field: "institution name"
        })
    );
    for reset_code in ["1234567", "123456789", "1234567a", "１２３４５６７８"] {
        assert_eq!(
            render_pdf(&IssueLetter {
                patient_name: "A",
                reset_code,
                ..base
            }),
            Err(LetterError::InvalidResetCode)
        );
    }
    for issued_on in ["02/12/2026", "2026-02-30", "tomorrow"] {
        assert_eq!(
            render_pdf(&IssueLetter {
                patient_name: "A",
                issued_on,
                ..base
            }),
            Err(LetterError::InvalidDate {
                field: "issue date"
            })
        );
    }
}

#[test]
fn debug_hides_the_name_reset_code_and_secret() {
    let secret = [0xab; 32];
    let shown = format!("{:?}", letter("Jeanne Dupont", &secret, Lang::Fr));
    assert!(
        shown.contains("2026-12-02") && shown.contains("Fr"),
        "{shown}"
    );
    for hidden in ["Jeanne", "48120975", "171", "ab", "AB", "Hôpital"] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
}

#[test]
fn qr_modules_refuses_what_does_not_fit() {
    assert_eq!(
        qr_modules(&"x".repeat(5000)),
        Err(LetterError::QrTooLong { len: 5000 })
    );
    let (width, modules) = qr_modules("hello").unwrap();
    assert_eq!(scan_modules(width, &modules), "hello");
}
