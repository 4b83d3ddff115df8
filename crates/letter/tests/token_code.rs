//! The prescription token's QR payload and printed code: round trips, strictness, and a clear error for every
//! malformed payload. Property tests run 256 cases each by default (`PROPTEST_CASES` overrides).

use carekiosk_letter::{
    parse_token_qr, parse_token_text, qr_modules, recovery_qr_payload, token_qr_payload,
    token_text, LetterError, TokenRef,
};
use proptest::prelude::*;

mod common;

use common::*;

const CONTRACT: [u8; 20] = [
    0x5f, 0xbd, 0xb2, 0x31, 0x56, 0x78, 0xaf, 0xec, 0xb3, 0x67, 0xf0, 0x32, 0xd9, 0x3f, 0x64, 0x2f,
    0x64, 0x18, 0x0a, 0xa3,
];

fn token(secret: [u8; 32]) -> TokenRef {
    TokenRef {
        chain_id: 42220,
        contract: CONTRACT,
        prescription_id: 1207,
        secret,
    }
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn any_token() -> impl Strategy<Value = TokenRef> {
    (
        any::<u64>(),
        any::<[u8; 20]>(),
        any::<u64>(),
        any::<[u8; 32]>(),
    )
        .prop_map(|(chain_id, contract, prescription_id, secret)| TokenRef {
            chain_id,
            contract,
            prescription_id,
            secret,
        })
}

/// Characters a damaged or foreign payload is likely made of.
fn payload_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::sample::select(
            "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefxo:-+ ".chars().collect::<Vec<_>>()
        ),
        1 => any::<char>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn payloads_round_trip(t in any_token()) {
        let payload = token_qr_payload(&t);
        prop_assert!(payload.starts_with("CKRX1:"));
        // One QR alphanumeric segment.
        prop_assert!(payload.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b':'), "{}", payload);
        prop_assert_eq!(payload.split(':').count(), 5);
        prop_assert_eq!(&parse_token_qr(&payload).unwrap(), &t);
        prop_assert_eq!(&parse_token_qr(&payload.to_ascii_lowercase()).unwrap(), &t);
        prop_assert_eq!(&parse_token_qr(&format!(" {payload}\r\n")).unwrap(), &t);
        prop_assert_eq!(parse_token_text(&token_text(&t.secret)).unwrap(), t.secret);
    }

    #[test]
    fn the_parser_never_panics_on_any_text(text in any::<String>()) {
        let _ = parse_token_qr(&text);
        let _ = parse_token_text(&text);
    }

    #[test]
    fn the_parser_never_panics_on_near_payloads(
        tail in proptest::collection::vec(payload_char(), 0..160),
    ) {
        let tail: String = tail.into_iter().collect();
        for prefix in ["CKRX1:", "CKRX", "ckrx1:42220:", ""] {
            let text = format!("{prefix}{tail}");
            // Whatever is accepted is exactly what the writer writes, in upper case.
            if let Ok(t) = parse_token_qr(&text) {
                prop_assert_eq!(token_qr_payload(&t), text.trim().to_ascii_uppercase());
            }
            let _ = parse_token_text(&text);
        }
    }

    #[test]
    fn damaged_payloads_are_refused_or_read_exactly(
        t in any_token(),
        position in any::<prop::sample::Index>(),
        replacement in payload_char(),
        cut in any::<prop::sample::Index>(),
    ) {
        let payload = token_qr_payload(&t);
        let mut chars: Vec<char> = payload.chars().collect();
        let i = position.index(chars.len());
        chars[i] = replacement;
        let changed: String = chars.iter().collect();
        match parse_token_qr(&changed) {
            // Only a change of case, or of a character inside a number or address, can still parse: it is then
            // read exactly as printed, never as a different secret with the same payload.
            Ok(read) => prop_assert_eq!(token_qr_payload(&read), changed.trim().to_ascii_uppercase()),
            Err(e) => {
                let message = e.to_string();
                prop_assert!(!message.contains(&payload[payload.len() - 8..]), "{}", message);
            }
        }
        let truncated: String = payload.chars().take(cut.index(payload.len())).collect();
        prop_assert!(parse_token_qr(&truncated).is_err());
    }
}

#[test]
fn the_payload_is_as_documented() {
    let t = token([0; 32]);
    let payload = token_qr_payload(&t);
    let code = token_text(&[0; 32]).replace('-', "");
    assert_eq!(
        payload,
        format!("CKRX1:42220:5FBDB2315678AFECB367F032D93F642F64180AA3:1207:{code}")
    );
    assert_eq!(code.len(), 56);
    assert_eq!(parse_token_qr(&payload).unwrap(), t);
}

#[test]
fn the_qr_code_scans_back_to_the_token() {
    let mut rng = XorShift(11);
    for chain_id in [31337, 42220, 11_142_220, u64::MAX] {
        let t = TokenRef {
            chain_id,
            prescription_id: rng.next(),
            ..token(rng.secret())
        };
        let payload = token_qr_payload(&t);
        let (width, modules) = qr_modules(&payload).unwrap();
        // Version 7 (45 modules) at level Q for real chains, version 8 at the very most.
        assert!(
            width <= 49,
            "{width} modules for {} characters",
            payload.len()
        );
        assert_eq!(parse_token_qr(&scan_modules(width, &modules)).unwrap(), t);
    }
}

#[test]
fn debug_never_shows_the_secret() {
    let t = token([0xab; 32]);
    let shown = format!("{t:?}");
    assert!(shown.contains("42220") && shown.contains("1207"), "{shown}");
    assert!(
        shown.contains("0x5fbdb2315678afecb367f032d93f642f64180aa3"),
        "{shown}"
    );
    assert!(shown.contains("redacted"), "{shown}");
    let code = token_text(&t.secret);
    for hidden in ["171", "[171", &code[..4], &code.replace('-', "")[20..28]] {
        assert!(!shown.contains(hidden), "{hidden} in {shown}");
    }
}

#[test]
fn malformed_payloads_are_refused_with_the_right_error() {
    let good = token_qr_payload(&token(XorShift(12).secret()));
    let parts: Vec<&str> = good.split(':').collect();
    let code = parts[4];
    let with = |index: usize, value: &str| {
        let mut p = parts.clone();
        p[index] = value;
        p.join(":")
    };
    use LetterError::*;

    // Not a token at all.
    for other in [
        "",
        "   ",
        "https://example.org",
        "CKR1:42220",
        &recovery_qr_payload(&[7; 32]),
        code,
    ] {
        assert_eq!(parse_token_qr(other), Err(NotTokenQr), "{other:?}");
    }
    // Another format.
    assert_eq!(
        parse_token_qr(&with(0, "CKRX2")),
        Err(UnsupportedTokenQrVersion {
            version: "2".into()
        })
    );
    assert_eq!(
        parse_token_qr(&with(0, "ckrx10")),
        Err(UnsupportedTokenQrVersion {
            version: "10".into()
        })
    );
    for garbage in ["CKRX", "CKRX-1", "CKRX123456789", "CKRX1 "] {
        assert_eq!(
            parse_token_qr(&with(0, garbage)),
            Err(UnsupportedTokenQrVersion {
                version: "unknown".into()
            }),
            "{garbage:?}"
        );
    }
    // Parts missing or extra.
    for layout in [
        "CKRX1".to_owned(),
        "CKRX1:".to_owned(),
        parts[..4].join(":"),
        format!("{good}:1"),
        good.replacen(':', "::", 2),
    ] {
        assert_eq!(
            parse_token_qr(&layout),
            Err(MalformedTokenQr { field: "layout" }),
            "{layout:?}"
        );
    }
    // Bad numbers.
    for chain in [
        "",
        "042220",
        "+42220",
        "-1",
        "4222O",
        "18446744073709551616",
        "4.2",
    ] {
        assert_eq!(
            parse_token_qr(&with(1, chain)),
            Err(MalformedTokenQr { field: "chain id" }),
            "{chain:?}"
        );
    }
    let address = parts[2];
    for contract in [
        "",
        &format!("0X{address}"),
        &address[2..],
        &format!("{address}00"),
        &address.replacen('F', "G", 1),
        &address.replacen('5', " ", 1),
    ] {
        assert_eq!(
            parse_token_qr(&with(2, contract)),
            Err(MalformedTokenQr {
                field: "contract address"
            }),
            "{contract:?}"
        );
    }
    for id in [
        "",
        "01207",
        "1207 ",
        "12O7",
        "99999999999999999999",
        "0x4b7",
    ] {
        assert_eq!(
            parse_token_qr(&with(3, id)),
            Err(MalformedTokenQr {
                field: "prescription id"
            }),
            "{id:?}"
        );
    }
    // The secret: wrong length, then not checking.
    assert_eq!(
        parse_token_qr(&with(4, &code[1..])),
        Err(TokenQrSecretLength { found: 55 })
    );
    assert_eq!(
        parse_token_qr(&with(4, &format!("{code}0"))),
        Err(TokenQrSecretLength { found: 57 })
    );
    assert_eq!(
        parse_token_qr(&with(4, &"0".repeat(64))),
        Err(TokenQrSecretLength { found: 64 })
    );
    assert_eq!(
        parse_token_qr(&with(4, "")),
        Err(TokenQrSecretLength { found: 0 })
    );
    let grouped = token_text(&XorShift(12).secret());
    assert_eq!(
        parse_token_qr(&with(4, &grouped)),
        Err(TokenQrSecretLength { found: 69 })
    );
    let first = code.as_bytes()[0];
    let typo = format!("{}{}", if first == b'X' { 'Y' } else { 'X' }, &code[1..]);
    assert_eq!(parse_token_qr(&with(4, &typo)), Err(DamagedTokenQr));
    // Look-alikes a person may type are not in a payload.
    let look_alike = format!("O{}", &code[1..]);
    assert_eq!(parse_token_qr(&with(4, &look_alike)), Err(DamagedTokenQr));
    let spaced = format!("{} {}", &code[..28], &code[29..]);
    assert_eq!(parse_token_qr(&with(4, &spaced)), Err(DamagedTokenQr));

    // The messages say what to do, and never show the code.
    for error in [
        NotTokenQr,
        MalformedTokenQr { field: "chain id" },
        TokenQrSecretLength { found: 55 },
        DamagedTokenQr,
    ] {
        let message = error.to_string();
        assert!(
            message.contains("scan") && message.contains("token"),
            "{message}"
        );
    }
    assert!(MalformedTokenQr { field: "chain id" }
        .to_string()
        .contains("invalid chain id"));
}

#[test]
fn the_printed_code_reads_back_with_its_typos_located() {
    let secret = XorShift(13).secret();
    let text = token_text(&secret);
    assert_eq!(text.len(), 14 * 4 + 13);
    assert_eq!(parse_token_text(&text).unwrap(), secret);
    assert_eq!(
        parse_token_text(&text.to_lowercase().replace('-', " ")).unwrap(),
        secret
    );
    let look_alikes = text.replace('0', "O").replace('1', "l");
    assert_eq!(parse_token_text(&look_alikes).unwrap(), secret);

    // A typo in group 10: line 2, 3rd group on the printed token.
    let mut chars: Vec<char> = text.chars().collect();
    let i = 9 * 5;
    chars[i] = if chars[i] == 'X' { 'Y' } else { 'X' };
    let typo: String = chars.into_iter().collect();
    let error = parse_token_text(&typo).unwrap_err();
    assert_eq!(error, LetterError::TokenTypo { group: 10 });
    let message = error.to_string();
    assert!(
        message.contains("group 10 (line 2, 3rd group on the token)")
            && message.contains("prescription token"),
        "{message}"
    );

    assert_eq!(
        parse_token_text(&text[..text.len() - 1]),
        Err(LetterError::TokenGroupLength {
            group: 14,
            found: 3
        })
    );
    assert_eq!(
        parse_token_text(""),
        Err(LetterError::TokenLength { found: 0 })
    );
    let mut with_u = text.clone();
    with_u.replace_range(5..6, "U");
    assert_eq!(
        parse_token_text(&with_u),
        Err(LetterError::TokenCharacter {
            group: 2,
            character: 'U'
        })
    );
    let mut swapped: Vec<char> = text.chars().collect();
    let j = (0..swapped.len() - 1)
        .find(|&j| swapped[j] != swapped[j + 1] && swapped[j] != '-' && swapped[j + 1] != '-')
        .unwrap();
    swapped.swap(j, j + 1);
    assert_eq!(
        parse_token_text(&swapped.into_iter().collect::<String>()),
        Err(LetterError::TokenTypos)
    );
}
