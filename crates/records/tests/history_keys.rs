//! History keys and the key bundle: one card ECDH opens every record; the letter and the issuing hospital
//! together recover the keys, neither alone; a replacement rotates the key and keeps the old ones.

mod common;

use carekiosk_records::*;
use common::PATIENT_ID;

/// Counts key agreements (a card's ECDH operations).
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

fn issue(card: &SoftKey, hospital: &SoftKey, previous: &[SoftKey]) -> Issued {
    issue_bundle(
        PATIENT_ID,
        &card.public_key(),
        &hospital.public_key(),
        previous,
        None,
        &mut rand_core::OsRng,
    )
    .unwrap()
}

#[test]
fn one_card_operation_opens_a_whole_history() {
    let card = SoftKey::generate();
    let hospital = SoftKey::generate();
    let issued = issue(&card, &hospital, &[]);
    let bytes = issued.bundle.encode();
    let bundle = KeyBundle::decode(&bytes).unwrap();
    assert_eq!(bundle, issued.bundle);
    // 50 records sealed for H (slot 0) and the hospital.
    let records: Vec<Vec<u8>> = (0..50)
        .map(|_| {
            seal(
                &common::condition().into(),
                PATIENT_ID,
                &[bundle.history_public.clone(), hospital.public_key()],
            )
            .unwrap()
        })
        .collect();
    let mut the_card = Counting {
        key: card,
        calls: 0,
    };
    let mut keys = open_card_grant(&bundle, PATIENT_ID, &mut the_card).unwrap();
    assert_eq!(the_card.calls, 1);
    for r in &records {
        let h = keys.last_mut().unwrap();
        assert!(open_as_patient(r, PATIENT_ID, h).is_ok());
    }
    assert_eq!(
        the_card.calls, 1,
        "still one card operation after 50 records"
    );
    // Another card opens nothing.
    let mut other = SoftKey::generate();
    assert!(open_card_grant(&bundle, PATIENT_ID, &mut other).is_err());
}

#[test]
fn recovery_needs_the_letter_and_the_issuing_hospital_together() {
    let card = SoftKey::generate();
    let mut hospital = SoftKey::generate();
    let issued = issue(&card, &hospital, &[]);
    let mut letter = SoftKey::from_bytes(&issued.recovery.to_bytes()).unwrap();
    let keys = recover(&issued.bundle, PATIENT_ID, &mut letter, &mut hospital).unwrap();
    assert_eq!(
        keys.last().unwrap().public_key(),
        issued.bundle.history_public
    );
    // The letter alone: its share is a one-time-padded noise, and it cannot open the hospital's share.
    let mut letter_again = SoftKey::from_bytes(&issued.recovery.to_bytes()).unwrap();
    let mut not_the_hospital = SoftKey::from_bytes(&issued.recovery.to_bytes()).unwrap();
    assert!(recover(
        &issued.bundle,
        PATIENT_ID,
        &mut letter_again,
        &mut not_the_hospital
    )
    .is_err());
    // The hospital alone cannot open the letter's share.
    let mut stranger = SoftKey::generate();
    assert!(recover(&issued.bundle, PATIENT_ID, &mut stranger, &mut hospital).is_err());
    // Another patient's bundle does not open under this patient id.
    let mut other_pid = PATIENT_ID;
    other_pid[0] ^= 1;
    let mut letter3 = SoftKey::from_bytes(&issued.recovery.to_bytes()).unwrap();
    assert!(recover(&issued.bundle, other_pid, &mut letter3, &mut hospital).is_err());
}

#[test]
fn a_replacement_rotates_the_key_and_the_new_card_opens_old_and_new_records() {
    let old_card = SoftKey::generate();
    let hospital = SoftKey::generate();
    let first = issue(&old_card, &hospital, &[]);
    let old_record = seal(
        &common::condition().into(),
        PATIENT_ID,
        &[first.bundle.history_public.clone(), hospital.public_key()],
    )
    .unwrap();
    // The card is lost: the keys come back through recovery, a new card gets a bundle with a new key.
    let new_card = SoftKey::generate();
    let second = issue(&new_card, &hospital, &first.history);
    assert_ne!(second.bundle.history_public, first.bundle.history_public);
    let new_record = seal(
        &common::care_plan().into(),
        PATIENT_ID,
        &[second.bundle.history_public.clone(), hospital.public_key()],
    )
    .unwrap();
    let mut card = Counting {
        key: new_card,
        calls: 0,
    };
    let mut keys = open_card_grant(&second.bundle, PATIENT_ID, &mut card).unwrap();
    assert_eq!((keys.len(), card.calls), (2, 1));
    let opened = |sealed: &[u8], keys: &mut [SoftKey]| {
        keys.iter_mut()
            .rev()
            .any(|k| open_as_patient(sealed, PATIENT_ID, k).is_ok())
    };
    assert!(opened(&old_record, &mut keys));
    assert!(opened(&new_record, &mut keys));
    // The old card opens nothing of the new bundle, and the old key does not open new records.
    let mut old = old_card;
    assert!(open_card_grant(&second.bundle, PATIENT_ID, &mut old).is_err());
    let mut old_h = SoftKey::from_bytes(&first.history[0].to_bytes()).unwrap();
    assert!(open_as_patient(&new_record, PATIENT_ID, &mut old_h).is_err());
}

#[test]
fn bundles_of_any_bytes_never_panic() {
    for len in 0..200 {
        let mut bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
        let _ = KeyBundle::decode(&bytes);
        if let Some(first) = bytes.first_mut() {
            *first = COMPACT_BUNDLE;
            let _ = KeyBundle::decode(&bytes);
        }
    }
}

#[test]
fn a_new_patients_bundle_is_compact_and_its_parts_stay_in_place() {
    let card = SoftKey::generate();
    let mut hospital = SoftKey::generate();
    let issued = issue(&card, &hospital, &[]);
    let bytes = issued.bundle.encode();
    // Marker, H, and three one-key grants of 33 + 32 + 16 bytes (the envelopes layout took 2,391).
    assert_eq!(bytes.len(), 1 + 33 + 3 * (33 + 32 + 16));
    assert_eq!(bytes[0], COMPACT_BUNDLE);
    assert_eq!(issued.bundle.layout, BundleLayout::Compact);
    // Two generations: 32 more bytes a part.
    let second = issue(&card, &hospital, &issued.history);
    assert_eq!(second.bundle.encode().len(), bytes.len() + 3 * 32);

    // A grant moved to another part, or into a bundle of another history key, opens nothing.
    let mut card_key = SoftKey::from_bytes(&card.to_bytes()).unwrap();
    let mut swapped = issued.bundle.clone();
    std::mem::swap(&mut swapped.card_grant, &mut swapped.share_a);
    assert!(open_card_grant(&swapped, PATIENT_ID, &mut card_key).is_err());
    let mut foreign = second.bundle.clone();
    foreign.card_grant = issued.bundle.card_grant.clone();
    assert!(open_card_grant(&foreign, PATIENT_ID, &mut card_key).is_err());
    let mut letter = SoftKey::from_bytes(&issued.recovery.to_bytes()).unwrap();
    let mut mixed = issued.bundle.clone();
    mixed.share_b = second.bundle.share_b.clone();
    mixed.share_b.truncate(issued.bundle.share_b.len());
    assert!(recover(&mixed, PATIENT_ID, &mut letter, &mut hospital).is_err());
    // A flipped byte in a grant is refused, not misread.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let flipped = KeyBundle::decode(&flipped).unwrap();
    assert!(recover(&flipped, PATIENT_ID, &mut letter, &mut hospital).is_err());
    // Lengths that are not three grants of whole keys do not parse.
    for cut in [1, 3, 32, 96] {
        assert!(KeyBundle::decode(&bytes[..bytes.len() - cut]).is_err());
    }
}
