//! The sealed envelope, version 2: seal → open for every slot, wrong keys and tampering fail cleanly, the byte
//! layout, padding to bucket sizes, decoys, key ids and hashes.

mod common;

use carekiosk_records::*;
use common::PATIENT_ID;

struct Parties {
    card: SoftKey,
    hospital: SoftKey,
    insurer: SoftKey,
}

fn parties() -> Parties {
    Parties {
        card: SoftKey::generate(),
        hospital: SoftKey::generate(),
        insurer: SoftKey::generate(),
    }
}

fn seal_for(resource: impl Into<Resource>, keys: &[&SoftKey]) -> Vec<u8> {
    let recipients: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
    seal(&resource.into(), PATIENT_ID, &recipients).unwrap()
}

#[test]
fn every_kind_opens_for_patient_and_institution_and_has_a_bucket_size() {
    let mut p = parties();
    for resource in common::all() {
        let kind = resource.kind();
        let mut recipients = vec![p.card.public_key(), p.hospital.public_key()];
        if matches!(kind, RecordKind::Claim | RecordKind::ClaimResponse) {
            recipients.push(p.insurer.public_key());
        }
        let sealed = seal(&resource, PATIENT_ID, &recipients).unwrap();
        assert!(
            is_sealed_len(sealed.len()),
            "{kind}: {} bytes",
            sealed.len()
        );
        assert_eq!(
            sealed.len(),
            sealed_len(padded_plaintext(&resource).unwrap().len())
        );
        let opened = open_as_patient(&sealed, PATIENT_ID, &mut p.card).unwrap();
        assert!(
            opened == resource,
            "{kind} opened differently by the patient"
        );
        let opened = open(&sealed, PATIENT_ID, &mut p.hospital).unwrap();
        assert!(
            opened == resource,
            "{kind} opened differently by the author"
        );
        assert!(open_expecting(&sealed, PATIENT_ID, kind, &mut p.hospital).is_ok());
        if recipients.len() == 3 {
            assert!(open(&sealed, PATIENT_ID, &mut p.insurer).unwrap() == resource);
        } else {
            assert!(matches!(
                open(&sealed, PATIENT_ID, &mut p.insurer),
                Err(RecordsError::NotARecipient { .. })
            ));
        }
    }
}

#[test]
fn wrong_key_is_not_a_recipient_and_the_card_tries_one_slot() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let err = open(&sealed, PATIENT_ID, &mut p.insurer).unwrap_err();
    assert!(
        matches!(&err, RecordsError::NotARecipient { recipients: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("patient's card"), "{err}");
    // The author's key is not in the patient's slot.
    let mut counting = Counting {
        key: SoftKey::generate(),
        calls: 0,
    };
    assert!(open_as_patient(&sealed, PATIENT_ID, &mut counting).is_err());
    assert_eq!(
        counting.calls, 1,
        "a card is asked for exactly one ECDH per record"
    );
    assert!(matches!(
        open_as_patient(&sealed, PATIENT_ID, &mut p.hospital),
        Err(RecordsError::NotARecipient { .. })
    ));
    // An institution tries three slots with one ECDH (version 3 shares the ephemeral key), found or not.
    let mut hospital = Counting {
        key: SoftKey::from_bytes(&p.hospital.to_bytes()).unwrap(),
        calls: 0,
    };
    assert!(open(&sealed, PATIENT_ID, &mut hospital).is_ok());
    let mut stranger = Counting {
        key: SoftKey::generate(),
        calls: 0,
    };
    assert!(open(&sealed, PATIENT_ID, &mut stranger).is_err());
    assert_eq!((hospital.calls, stranger.calls), (1, 1));
}

/// Counts key agreements.
struct Counting {
    key: SoftKey,
    calls: usize,
}

impl KeyAgreement for Counting {
    fn key_id(&self) -> [u8; 32] {
        self.key.key_id()
    }

    fn ecdh(&mut self, e: &[u8; 65]) -> Result<[u8; 32], KeyAgreementError> {
        self.calls += 1;
        self.key.ecdh(e)
    }
}

/// A card pulled out mid-read.
struct PulledCard(SoftKey);

impl KeyAgreement for PulledCard {
    fn key_id(&self) -> [u8; 32] {
        self.0.key_id()
    }

    fn ecdh(&mut self, _: &[u8; 65]) -> Result<[u8; 32], KeyAgreementError> {
        Err(KeyAgreementError::Unavailable("card removed".into()))
    }
}

#[test]
fn a_failing_card_surfaces_its_error() {
    let p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let mut card = PulledCard(p.card);
    let err = open_as_patient(&sealed, PATIENT_ID, &mut card).unwrap_err();
    assert!(
        matches!(&err, RecordsError::KeyAgreement(KeyAgreementError::Unavailable(m)) if m == "card removed")
    );
    assert!(err.to_string().contains("insert the card"), "{err}");
}

#[test]
fn another_patient_or_kind_fails() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let mut other_patient = PATIENT_ID;
    other_patient[31] ^= 1;
    assert!(matches!(
        open_as_patient(&sealed, other_patient, &mut p.card),
        Err(RecordsError::NotARecipient { .. })
    ));
    assert!(matches!(
        open_expecting(&sealed, PATIENT_ID, RecordKind::CarePlan, &mut p.card),
        Err(RecordsError::KindMismatch {
            expected: RecordKind::CarePlan,
            found: RecordKind::Condition
        })
    ));
}

#[test]
fn moving_or_tampering_with_a_slot_or_the_ephemeral_key_fails() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let slot = |i: usize| HEADER_LEN + EPHEMERAL_LEN + i * RECIPIENT_LEN;
    // The author's slot (1) moved into the patient's slot (0): the slot index and the recipient's key id are
    // bound by the key derivation, and the header by the content's AAD.
    let mut moved = sealed.clone();
    moved.copy_within(slot(1)..slot(2), slot(0));
    assert!(open(&moved, PATIENT_ID, &mut p.hospital).is_err());
    assert!(open_as_patient(&moved, PATIENT_ID, &mut p.card).is_err());
    // Swapped slots open for nobody.
    let mut swapped = sealed.clone();
    swapped[slot(0)..slot(1)].copy_from_slice(&sealed[slot(1)..slot(2)]);
    swapped[slot(1)..slot(2)].copy_from_slice(&sealed[slot(0)..slot(1)]);
    assert!(open(&swapped, PATIENT_ID, &mut p.hospital).is_err());
    assert!(open_as_patient(&swapped, PATIENT_ID, &mut p.card).is_err());
    // A flip in another slot, the decoy or the ephemeral key fails the content for the patient (the AAD covers
    // the header), and a reader cannot tell which.
    for offset in [slot(1) + 7, slot(2) + 31, HEADER_LEN + 20] {
        let mut t = sealed.clone();
        t[offset] ^= 0x01;
        assert!(
            open_as_patient(&t, PATIENT_ID, &mut p.card).is_err(),
            "offset {offset}"
        );
        assert!(
            open(&t, PATIENT_ID, &mut p.hospital).is_err(),
            "offset {offset}"
        );
    }
    // The untouched record opens for both.
    assert!(open_as_patient(&sealed, PATIENT_ID, &mut p.card).is_ok());
    assert!(open(&sealed, PATIENT_ID, &mut p.hospital).is_ok());
}

#[test]
fn every_single_bit_flip_and_every_other_length_is_rejected() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    for i in 0..sealed.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = sealed.clone();
            t[i] ^= bit;
            let res = open_as_patient(&t, PATIENT_ID, &mut p.card);
            assert!(
                res.is_err(),
                "flip of bit {bit:#x} at byte {i} was accepted"
            );
        }
    }
    for len in 0..sealed.len() {
        assert!(
            open_as_patient(&sealed[..len], PATIENT_ID, &mut p.card).is_err(),
            "prefix {len}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(
        open_as_patient(&longer, PATIENT_ID, &mut p.card),
        Err(RecordsError::NotABucketSize { .. })
    ));
    let mut v1 = sealed.clone();
    v1[0] = 1;
    assert!(matches!(
        open_as_patient(&v1, PATIENT_ID, &mut p.card),
        Err(RecordsError::UnsupportedVersion(1))
    ));
    // A version-3 record relabelled version 2 has no version-2 length.
    let mut v2 = sealed.clone();
    v2[0] = FORMAT_VERSION_2;
    assert!(matches!(
        open_as_patient(&v2, PATIENT_ID, &mut p.card),
        Err(RecordsError::NotABucketSize { .. })
    ));
}

#[test]
fn layout_is_as_documented_and_names_nobody() {
    let p = parties();
    let resource: Resource = common::condition().into();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let padded = padded_plaintext(&resource).unwrap();
    assert!(BUCKETS.contains(&padded.len()));
    assert_eq!(padded[0], RecordKind::Condition as u8);
    assert_eq!(OVERHEAD, 146);
    assert_eq!(OVERHEAD_V2, 272);
    assert_eq!(sealed.len(), 1 + 33 + 3 * 32 + padded.len() + 16);
    assert_eq!(sealed[0], FORMAT_VERSION);
    assert_eq!(FORMAT_VERSION, 3);
    assert!(matches!(sealed[1], 0x02 | 0x03), "the ephemeral key");
    let env = Envelope::parse(&sealed).unwrap();
    assert_eq!(env.version(), 3);
    assert_eq!(env.slots().len(), 3);
    assert_eq!(env.padded_len(), padded.len());
    // No key id, no kind byte, no plaintext anywhere in the bytes.
    for id in [p.card.key_id(), p.hospital.key_id()] {
        assert!(!sealed.windows(32).any(|w| w == id));
    }
    let needle = b"Tonsils enlarged";
    assert!(!sealed.windows(needle.len()).any(|w| w == needle));
    // Fresh keys each time: sealing twice gives different bytes of the same length.
    let again = seal_for(common::condition(), &[&p.card, &p.hospital]);
    assert_ne!(sealed, again);
    assert_eq!(sealed.len(), again.len());
}

#[test]
fn the_same_record_for_one_two_or_three_recipients_has_one_size() {
    let p = parties();
    let a = seal_for(common::condition(), &[&p.card]);
    let b = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let c = seal_for(common::condition(), &[&p.card, &p.hospital, &p.insurer]);
    assert_eq!(a.len(), b.len());
    assert_eq!(b.len(), c.len());
}

#[test]
fn kinds_and_diagnoses_share_sizes() {
    // Every ICD-10 code of the pick list as a diagnosis, every formulary drug as a prescription: all fall in
    // one or two buckets, so no size names a code or a drug (docs/benchmarks.md prints the figures).
    let mut sizes = std::collections::BTreeSet::new();
    for code in icd10::all() {
        let r: Resource = code.diagnosis(Reference::patient(&PATIENT_ID)).into();
        sizes.insert(padded_plaintext(&r).unwrap().len());
    }
    assert!(sizes.len() <= 2, "diagnoses fall in {sizes:?}");
    assert!(sizes.iter().all(|s| BUCKETS.contains(s)));
}

#[test]
fn recipient_lists_are_checked() {
    let p = parties();
    let r: Resource = common::condition().into();
    assert!(matches!(
        seal(&r, PATIENT_ID, &[]),
        Err(RecordsError::NoRecipients)
    ));
    let dup = [p.card.public_key(), p.card.public_key()];
    assert!(matches!(
        seal(&r, PATIENT_ID, &dup),
        Err(RecordsError::DuplicateRecipient { .. })
    ));
    let many: Vec<_> = (0..=SLOTS)
        .map(|_| SoftKey::generate().public_key())
        .collect();
    assert!(matches!(
        seal(&r, PATIENT_ID, &many),
        Err(RecordsError::TooManyRecipients { count: 4, max: 3 })
    ));
    seal(&r, PATIENT_ID, &many[..SLOTS]).unwrap();

    let (card, hosp, ins) = (
        p.card.public_key(),
        p.hospital.public_key(),
        p.insurer.public_key(),
    );
    assert!(matches!(
        recipients_for(RecordKind::Claim, &card, &hosp, &[]),
        Err(RecordsError::ClaimPartyMissing {
            kind: RecordKind::Claim
        })
    ));
    assert!(matches!(
        recipients_for(RecordKind::Claim, &card, &hosp, std::slice::from_ref(&hosp)),
        Err(RecordsError::ClaimPartyMissing { .. })
    ));
    let claim =
        recipients_for(RecordKind::Claim, &card, &hosp, std::slice::from_ref(&ins)).unwrap();
    assert_eq!(
        claim
            .iter()
            .map(RecipientPublicKey::key_id)
            .collect::<Vec<_>>(),
        [card.key_id(), hosp.key_id(), ins.key_id()]
    );
    assert_eq!(
        recipients_for(RecordKind::Condition, &card, &hosp, &[])
            .unwrap()
            .len(),
        2
    );
    assert!(matches!(
        recipients_for(
            RecordKind::Condition,
            &card,
            &hosp,
            &[ins.clone(), SoftKey::generate().public_key()]
        ),
        Err(RecordsError::TooManyRecipients { .. })
    ));
}

#[test]
fn key_ids_hashes_and_key_encodings() {
    // keccak256("") — the well-known empty hash.
    assert_eq!(
        content_hash(b""),
        *b"\xc5\xd2\x46\x01\x86\xf7\x23\x3c\x92\x7e\x7d\xb2\xdc\xc7\x03\xc0\xe5\x00\xb6\x53\xca\x82\x27\x3b\x7b\xfa\xd8\x04\x5d\x85\xa4\x70"
    );
    let key = SoftKey::generate();
    let public = key.public_key();
    let sec1 = public.to_sec1_uncompressed();
    assert_eq!(sec1[0], 4);
    assert_eq!(
        public.key_id(),
        keccak256(&sec1[1..]),
        "key id = keccak256(x ‖ y)"
    );
    assert_eq!(public.key_id(), key_id(&sec1));
    assert_eq!(key.key_id(), public.key_id());
    let x: [u8; 32] = sec1[1..33].try_into().unwrap();
    let y: [u8; 32] = sec1[33..].try_into().unwrap();
    assert_eq!(
        RecipientPublicKey::from_coordinates(&x, &y).unwrap(),
        public
    );
    assert_eq!(RecipientPublicKey::from_sec1_bytes(&sec1).unwrap(), public);
    let mut off_curve = y;
    off_curve[31] ^= 1;
    assert!(matches!(
        RecipientPublicKey::from_coordinates(&x, &off_curve),
        Err(RecordsError::InvalidPublicKey)
    ));
    assert!(matches!(
        RecipientPublicKey::from_sec1_bytes(&[4u8; 65]),
        Err(RecordsError::InvalidPublicKey)
    ));

    let sealed = seal_for(common::condition(), &[&key]);
    assert_eq!(content_hash(&sealed), keccak256(&sealed));
}

#[test]
fn soft_key_bytes_round_trip_and_are_checked() {
    let key = SoftKey::generate();
    let bytes = key.to_bytes();
    let again = SoftKey::from_bytes(&bytes).unwrap();
    assert_eq!(again.public_key(), key.public_key());
    assert!(matches!(
        SoftKey::from_bytes(&[0u8; 32]),
        Err(RecordsError::InvalidSecretKey)
    ));
    assert!(matches!(
        SoftKey::from_bytes(&[0xffu8; 32]),
        Err(RecordsError::InvalidSecretKey)
    ));
    let printed = format!("{key:?}");
    let secret_hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        !printed.contains(&secret_hex[..16]) && printed.contains("<redacted>"),
        "{printed}"
    );
}

/// NIST CAVP "ECC CDH Primitive" test vector, P-256, COUNT = 0: SoftKey's ECDH returns the x-coordinate.
#[test]
fn soft_key_ecdh_matches_the_nist_vector() {
    fn h(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    let d: [u8; 32] = h("7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534")
        .try_into()
        .unwrap();
    let mut key = SoftKey::from_bytes(&d).unwrap();
    let q = key.public_key().to_sec1_uncompressed();
    assert_eq!(
        q[1..33],
        h("ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230")[..]
    );
    assert_eq!(
        q[33..],
        h("28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141")[..]
    );
    let mut peer = vec![4u8];
    peer.extend(h(
        "700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",
    ));
    peer.extend(h(
        "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac",
    ));
    let z = key.ecdh(&peer.try_into().unwrap()).unwrap();
    assert_eq!(
        z[..],
        h("46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b")[..]
    );
}

#[test]
fn recipient_debug_shows_the_key_id_only() {
    let key = SoftKey::generate();
    let printed = format!("{:?}", key.public_key());
    assert!(
        printed.starts_with("RecipientPublicKey { key_id: \"0x"),
        "{printed}"
    );
    let sealed = seal_for(common::condition(), &[&key]);
    let printed = format!("{:?}", Envelope::parse(&sealed).unwrap());
    assert!(!printed.contains("Tonsils"));
}

/// Sizes for the gas budget: a minimal diagnosis, a realistic diagnosis + treatment plan (the doctor's
/// consultation), a prescription and a claim. Run with `--nocapture` to see them.
#[test]
fn record_sizes() {
    let mut p = parties();
    let two = [p.card.public_key(), p.hospital.public_key()];
    let minimal: Resource = icd10::lookup("I10")
        .unwrap()
        .diagnosis(Reference::patient(&PATIENT_ID))
        .into();
    let condition: Resource = common::condition().into();
    let plan: Resource = common::care_plan().into();
    let prescription: Resource = common::medication_request().into();
    let mut consultation = 0;
    for (label, r) in [
        ("Condition, minimal", &minimal),
        ("Condition, with note", &condition),
        ("CarePlan", &plan),
        ("MedicationRequest", &prescription),
    ] {
        let json = r.to_json().unwrap().len();
        let sealed = seal(r, PATIENT_ID, &two).unwrap();
        assert!(is_sealed_len(sealed.len()));
        assert!(open_as_patient(&sealed, PATIENT_ID, &mut p.card).unwrap() == *r);
        println!(
            "{label:<22} JSON {json:>5} B -> sealed for card + hospital {:>5} B ({:+} B), ~{} calldata gas",
            sealed.len(),
            sealed.len() as i64 - json as i64,
            calldata_gas(&sealed)
        );
        if matches!(r.kind(), RecordKind::CarePlan) || std::ptr::eq(r, &condition) {
            consultation += sealed.len();
        }
    }
    println!("Consultation (Condition with note + CarePlan): {consultation} B sealed");
    let claim: Resource = common::claim().into();
    let three = [
        p.card.public_key(),
        p.hospital.public_key(),
        p.insurer.public_key(),
    ];
    let sealed = seal(&claim, PATIENT_ID, &three).unwrap();
    println!(
        "Claim (card + hospital + insurer): JSON {} B -> sealed {} B, ~{} calldata gas",
        claim.to_json().unwrap().len(),
        sealed.len(),
        calldata_gas(&sealed)
    );
}

/// EIP-2028 calldata gas: 16 per non-zero byte, 4 per zero byte.
fn calldata_gas(bytes: &[u8]) -> usize {
    bytes.iter().map(|b| if *b == 0 { 4 } else { 16 }).sum()
}
