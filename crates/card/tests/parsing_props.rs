//! Bounded property tests over arbitrary bytes for the answer parsing this crate owns (the patient object, P-256
//! points, signatures, ECDH results, names): no panic, and round trips hold. 256 cases each by default
//! (`PROPTEST_CASES` overrides), so CI time stays bounded.

use carekiosk_card::{
    decode_name, encode_name, parse_ecdh_secret, CardSignature, P256PublicKey, PatientObject,
};
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

proptest! {
    #![proptest_config(config())]

    #[test]
    fn card_answers_never_panic_the_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = PatientObject::parse(&bytes);
        let _ = P256PublicKey::from_sec1(&bytes);
        let _ = CardSignature::parse(&bytes);
        let _ = parse_ecdh_secret(&bytes);
        let _ = decode_name(&bytes);
    }

    #[test]
    fn patient_objects_round_trip(id in any::<[u8; 32]>(), chain in any::<u64>(),
                                  extra in proptest::collection::vec(any::<u8>(), 0..40)) {
        let p = PatientObject { patient_id: id, chain_id: chain };
        let enc = p.encode();
        prop_assert_eq!(PatientObject::parse(&enc).unwrap(), Some(p));
        // Unknown trailing fields are skipped when well formed; any truncation is an error, never a panic.
        let mut longer = enc.clone();
        longer.extend_from_slice(&[0x7E, extra.len() as u8]);
        longer.extend_from_slice(&extra);
        prop_assert_eq!(PatientObject::parse(&longer).unwrap(), Some(p));
        for cut in 1..enc.len() {
            prop_assert!(PatientObject::parse(&enc[..cut]).is_err());
        }
    }

    #[test]
    fn mutated_patient_objects_fail_cleanly(id in any::<[u8; 32]>(), pos in 0usize..45, byte in any::<u8>()) {
        let mut enc = PatientObject { patient_id: id, chain_id: 5 }.encode();
        let i = pos % enc.len();
        enc[i] = byte;
        let _ = PatientObject::parse(&enc);
    }

    #[test]
    fn signatures_come_out_low_s_and_points_round_trip(seed in any::<[u8; 32]>(), digest in any::<[u8; 32]>()) {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let Ok(sk) = p256::ecdsa::SigningKey::from_slice(&seed) else { return Ok(()) };
        let (sig, _): (p256::ecdsa::Signature, _) = sk.sign_prehash(&digest).map(|s| (s, ())).unwrap();
        // The high-s twin, as a card may return it.
        let high = p256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
        let key = P256PublicKey::from(p256::PublicKey::from(sk.verifying_key())).to_sec1();
        let key = P256PublicKey::from_sec1(&key).unwrap();
        for raw in [sig.to_bytes(), high.to_bytes()] {
            let parsed = CardSignature::parse(&raw).unwrap();
            prop_assert!(parsed.to_p256().normalize_s().is_none(), "low-s");
            prop_assert!(parsed.verify(&key, &digest));
        }
    }

    #[test]
    fn names_round_trip(name in "[ -~\u{a0}-\u{ff}]{0,39}") {
        let enc = encode_name(&name).unwrap();
        prop_assert_eq!(decode_name(&enc), name);
    }
}
