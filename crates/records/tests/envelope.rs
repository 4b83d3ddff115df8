//! The sealed envelope: seal → open for every recipient, wrong keys and tampering fail cleanly, the byte layout,
//! key ids and hashes, sizes.

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
fn every_kind_opens_for_card_and_institution() {
    let mut p = parties();
    for resource in common::all() {
        let kind = resource.kind();
        let mut recipients = vec![p.card.public_key(), p.hospital.public_key()];
        if matches!(kind, RecordKind::Claim | RecordKind::ClaimResponse) {
            recipients.push(p.insurer.public_key());
        }
        let sealed = seal(&resource, PATIENT_ID, &recipients).unwrap();
        assert_eq!(
            sealed.len(),
            sealed_len(recipients.len(), resource.to_json().unwrap().len())
        );
        for key in [&mut p.card, &mut p.hospital] {
            let opened = open(&sealed, PATIENT_ID, kind, key).unwrap();
            assert!(opened == resource, "{kind} opened differently");
        }
        if recipients.len() == 3 {
            assert!(open(&sealed, PATIENT_ID, kind, &mut p.insurer).unwrap() == resource);
        } else {
            assert!(matches!(
                open(&sealed, PATIENT_ID, kind, &mut p.insurer),
                Err(RecordsError::NotARecipient { .. })
            ));
        }
    }
}

#[test]
fn wrong_key_is_not_a_recipient() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let err = open(&sealed, PATIENT_ID, RecordKind::Condition, &mut p.insurer).unwrap_err();
    assert!(
        matches!(&err, RecordsError::NotARecipient { recipients: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("patient's card"), "{err}");
}

/// A key that answers for the card's key id but holds another secret (a wrong card, a buggy driver).
struct Impostor {
    claimed_id: [u8; 32],
    real: SoftKey,
    calls: usize,
}

impl KeyAgreement for Impostor {
    fn key_id(&self) -> [u8; 32] {
        self.claimed_id
    }

    fn ecdh(&mut self, e: &[u8; 65]) -> Result<[u8; 32], KeyAgreementError> {
        self.calls += 1;
        self.real.ecdh(e)
    }
}

#[test]
fn a_key_answering_for_another_key_id_fails_cleanly() {
    let p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    let mut impostor = Impostor {
        claimed_id: p.card.public_key().key_id(),
        real: SoftKey::generate(),
        calls: 0,
    };
    let err = open(&sealed, PATIENT_ID, RecordKind::Condition, &mut impostor).unwrap_err();
    assert!(matches!(err, RecordsError::WrappedKeyRejected), "{err:?}");
    assert_eq!(impostor.calls, 1, "exactly one key agreement per open");
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
    let err = open(&sealed, PATIENT_ID, RecordKind::Condition, &mut card).unwrap_err();
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
        open(&sealed, other_patient, RecordKind::Condition, &mut p.card),
        Err(RecordsError::WrappedKeyRejected)
    ));
    assert!(matches!(
        open(&sealed, PATIENT_ID, RecordKind::CarePlan, &mut p.card),
        Err(RecordsError::KindMismatch {
            expected: RecordKind::CarePlan,
            found: RecordKind::Condition
        })
    ));
    // Relabel the header as a CarePlan and ask for a CarePlan: the key derivation binds the kind.
    let mut relabelled = sealed.clone();
    relabelled[1] = RecordKind::CarePlan as u8;
    assert!(matches!(
        open(&relabelled, PATIENT_ID, RecordKind::CarePlan, &mut p.card),
        Err(RecordsError::WrappedKeyRejected)
    ));
}

#[test]
fn tampering_with_another_recipients_entry_or_the_nonce_fails_the_content() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    // Recipient 1 (the hospital) entry: key id at 3+113, wrapped key at 3+113+65.
    for offset in [3 + 113 + 40, 3 + 113 + 70, 3 + 2 * 113 + 5] {
        let mut t = sealed.clone();
        t[offset] ^= 0x01;
        let err = open(&t, PATIENT_ID, RecordKind::Condition, &mut p.card).unwrap_err();
        assert!(
            matches!(
                err,
                RecordsError::ContentRejected | RecordsError::InvalidEphemeralKey { .. }
            ),
            "offset {offset}: {err:?}"
        );
    }
    // Dropping the hospital's entry (and fixing the count) fails too.
    let mut dropped = sealed[..3 + 113].to_vec();
    dropped[2] = 1;
    dropped.extend_from_slice(&sealed[3 + 2 * 113..]);
    assert!(matches!(
        open(&dropped, PATIENT_ID, RecordKind::Condition, &mut p.card),
        Err(RecordsError::ContentRejected)
    ));
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let mut p = parties();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    for i in 0..sealed.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = sealed.clone();
            t[i] ^= bit;
            let res = open(&t, PATIENT_ID, RecordKind::Condition, &mut p.card);
            assert!(
                res.is_err(),
                "flip of bit {bit:#x} at byte {i} was accepted"
            );
        }
    }
    // Truncation and extension at every length are rejected too.
    for len in 0..sealed.len() {
        assert!(
            open(
                &sealed[..len],
                PATIENT_ID,
                RecordKind::Condition,
                &mut p.card
            )
            .is_err(),
            "prefix {len}"
        );
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(
        open(&longer, PATIENT_ID, RecordKind::Condition, &mut p.card),
        Err(RecordsError::ContentRejected)
    ));
}

#[test]
fn layout_is_as_documented() {
    let p = parties();
    let resource: Resource = common::condition().into();
    let json_len = resource.to_json().unwrap().len();
    let sealed = seal_for(common::condition(), &[&p.card, &p.hospital]);
    assert_eq!(sealed.len(), 3 + 2 * 113 + 12 + json_len + 16);
    assert_eq!(sealed[0], FORMAT_VERSION);
    assert_eq!(sealed[1], RecordKind::Condition as u8);
    assert_eq!(sealed[2], 2);
    assert_eq!(&sealed[3..35], &p.card.public_key().key_id());
    assert!(matches!(sealed[35], 0x02 | 0x03));
    assert_eq!(
        &sealed[3 + 113..3 + 113 + 32],
        &p.hospital.public_key().key_id()
    );

    let env = Envelope::parse(&sealed).unwrap();
    assert_eq!(env.version(), 1);
    assert_eq!(env.kind(), RecordKind::Condition);
    assert_eq!(
        env.recipient_key_ids(),
        vec![
            p.card.public_key().key_id(),
            p.hospital.public_key().key_id()
        ]
    );
    assert_eq!(env.content_len(), json_len);
    assert!(env.is_sealed_for(&p.hospital.key_id()));
    assert!(!env.is_sealed_for(&p.insurer.key_id()));

    // Fresh keys each time: sealing twice gives different bytes.
    assert_ne!(
        sealed,
        seal_for(common::condition(), &[&p.card, &p.hospital])
    );
    // The plaintext is not in the envelope.
    let needle = b"Tonsils enlarged";
    assert!(!sealed.windows(needle.len()).any(|w| w == needle));
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
    let many: Vec<_> = (0..=MAX_RECIPIENTS)
        .map(|_| SoftKey::generate().public_key())
        .collect();
    assert!(matches!(
        seal(&r, PATIENT_ID, &many),
        Err(RecordsError::TooManyRecipients { count: 17, max: 16 })
    ));
    seal(&r, PATIENT_ID, &many[..MAX_RECIPIENTS]).unwrap();

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
    let minimal: Resource = Condition::diagnosis(
        icd10::lookup("I10").unwrap(),
        Reference::patient(&PATIENT_ID),
    )
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
        assert_eq!(sealed.len(), sealed_len(2, json));
        assert_eq!(
            sealed.len() - json,
            15 + 2 * 113 + 16,
            "fixed overhead for 2 recipients"
        );
        assert!(open(&sealed, PATIENT_ID, r.kind(), &mut p.card).unwrap() == *r);
        println!(
            "{label:<22} JSON {json:>5} B -> sealed for card + hospital {:>5} B (+{} B), ~{} calldata gas",
            sealed.len(),
            sealed.len() - json,
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
