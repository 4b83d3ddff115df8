//! Bounded property tests (the stable toolchain has no cargo-fuzz here) over arbitrary bytes for the card side's
//! parsers: TLV, command APDUs, and the whole applet fed random commands. None may panic; the applet always
//! answers with a status word. Cases are bounded (256 by default; `PROPTEST_CASES` overrides) so CI stays fast.

use carekiosk_card_sim::apdu::Command;
use carekiosk_card_sim::state::{CardState, Profile};
use carekiosk_card_sim::{tlv, Applet, AppletOptions};
use proptest::prelude::*;

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

fn selected_applet() -> Applet {
    let mut a = Applet::new(
        CardState::blank(Profile::Openpgp, Some(7)),
        None,
        AppletOptions { response_chunk: 64 },
    );
    assert_eq!(
        a.process(&[0, 0xA4, 4, 0, 6, 0xD2, 0x76, 0, 1, 0x24, 1]),
        vec![0x90, 0]
    );
    a
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tlv_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok((t, rest)) = tlv::read_tlv(&bytes) {
            prop_assert!(t.value.len() + rest.len() < bytes.len());
        }
        if let Ok(all) = tlv::parse_all(&bytes) {
            let total: usize = all.iter().map(|t| t.value.len()).sum();
            prop_assert!(total <= bytes.len());
        }
        let _ = tlv::find(&bytes, tlv::Tag(0x86));
    }

    #[test]
    fn tlv_round_trips(tag in prop_oneof![Just(0x86u32), Just(0x7F49), Just(0x5F52), Just(0xA6), Just(0x4F)],
                       value in proptest::collection::vec(any::<u8>(), 0..400)) {
        let enc = tlv::encode(tag, &value);
        let (t, rest) = tlv::read_tlv(&enc).unwrap();
        prop_assert_eq!(t.tag, tlv::Tag(tag));
        prop_assert_eq!(t.value, &value[..]);
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn command_apdus_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(c) = Command::parse(&bytes) {
            let again = Command::parse(&c.to_bytes()).unwrap();
            prop_assert_eq!((&again.data, again.ne), (&c.data, c.ne));
        }
    }

    #[test]
    fn the_applet_answers_every_command_with_a_status_word(
        apdus in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..12),
        ins in proptest::sample::select(vec![0x20u8, 0x24, 0x2C, 0x47, 0x2A, 0x88, 0xCA, 0xDA, 0xC0, 0xE6, 0x44, 0xA4]),
    ) {
        let mut a = selected_applet();
        for mut apdu in apdus {
            // Half of the commands get a real INS and CLA 00 so they reach the handlers.
            if apdu.len() >= 4 && apdu[0] & 1 == 0 {
                apdu[0] = 0;
                apdu[1] = ins;
            }
            let r = a.process(&apdu);
            prop_assert!(r.len() >= 2);
            prop_assert!(r.len() <= 64 + 2);
            let sw1 = r[r.len() - 2];
            prop_assert!(matches!(sw1, 0x61..=0x6F | 0x90), "SW1 {:02X}", sw1);
        }
    }
}
