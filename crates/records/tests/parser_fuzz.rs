//! Bounded property tests: the envelope parser (and `open`) never panic on arbitrary or mutated bytes, and
//! never accept a mutated envelope.

mod common;

use std::sync::OnceLock;

use carekiosk_records::*;
use proptest::prelude::*;

fn fixture() -> &'static (SoftKey, Vec<u8>) {
    static FIXTURE: OnceLock<(SoftKey, Vec<u8>)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let card = SoftKey::generate();
        let hospital = SoftKey::generate();
        let sealed = seal(
            &common::condition().into(),
            common::PATIENT_ID,
            &[card.public_key(), hospital.public_key()],
        )
        .unwrap();
        (card, sealed)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes: parse returns Ok or a clear error, never panics.
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let _ = Envelope::parse(&bytes);
    }

    /// Bytes of a well-formed length with the version byte, so the fuzzer reaches the slots and the content.
    #[test]
    fn parse_and_open_never_panic_past_a_valid_header(
        bucket in proptest::sample::select(BUCKETS[..3].to_vec()),
        body in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = vec![FORMAT_VERSION];
        bytes.extend(body);
        bytes.resize(OVERHEAD + bucket, 0x02);
        if let Ok(env) = Envelope::parse(&bytes) {
            prop_assert_eq!(env.slots().len(), SLOTS);
            prop_assert_eq!(env.padded_len(), bucket);
        }
        let mut key = fixture().0.clone();
        prop_assert!(open(&bytes, common::PATIENT_ID, &mut key).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, failure_persistence: None, ..ProptestConfig::default() })]

    /// A real envelope with a few bytes overwritten (or truncated): open never panics and never succeeds.
    #[test]
    fn mutated_envelopes_never_open(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (card, sealed) = fixture();
        let mut bytes = sealed.clone();
        for (at, xor) in &edits {
            let i = at.index(bytes.len());
            bytes[i] ^= xor;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut.index(bytes.len()));
        }
        prop_assume!(&bytes != sealed, "the edits cancelled out");
        let mut card = card.clone();
        let res = open_as_patient(&bytes, common::PATIENT_ID, &mut card);
        prop_assert!(res.is_err());
    }
}
