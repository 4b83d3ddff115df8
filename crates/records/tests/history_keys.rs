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
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
        let _ = KeyBundle::decode(&bytes);
    }
}
