//! Records and key bundles written before envelope version 3 still open: vectors written by the version-2 code
//! (commit 81f3335: a J06.9 diagnosis sealed for a card and a hospital, and a key bundle of the envelopes layout),
//! with fixed test keys (card 0x11…, hospital 0x22…, recovery 0x33…, patient id 0x44…).

use carekiosk_records::*;

const PATIENT_ID: [u8; 32] = [0x44; 32];

fn key(byte: u8) -> SoftKey {
    SoftKey::from_bytes(&[byte; 32]).unwrap()
}

fn vector(hex: &str) -> Vec<u8> {
    let hex = hex.trim();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_version_2_record_opens_for_the_card_and_the_hospital_and_nobody_else() {
    let sealed = vector(include_str!("data/v2-condition.hex"));
    assert_eq!(sealed.len(), 512 + OVERHEAD_V2);
    assert_eq!(sealed[0], FORMAT_VERSION_2);
    let env = Envelope::parse(&sealed).unwrap();
    assert_eq!(
        (env.version(), env.padded_len(), env.slots().len()),
        (2, 512, 3)
    );

    // The card on its slot, with one ECDH; the hospital on its own.
    let Resource::Condition(c) = open_as_patient(&sealed, PATIENT_ID, &mut key(0x11)).unwrap()
    else {
        panic!("not the diagnosis");
    };
    assert!(serde_json::to_string(&c).unwrap().contains("J06.9"));
    assert_eq!(
        open_expecting(&sealed, PATIENT_ID, RecordKind::Condition, &mut key(0x22))
            .unwrap()
            .kind(),
        RecordKind::Condition
    );
    // Another key, another patient, a flipped byte: refused as before.
    assert!(matches!(
        open(&sealed, PATIENT_ID, &mut key(0x33)),
        Err(RecordsError::NotARecipient { .. })
    ));
    assert!(open(&sealed, [0x45; 32], &mut key(0x22)).is_err());
    let mut flipped = sealed.clone();
    flipped[300] ^= 1;
    assert!(matches!(
        open(&flipped, PATIENT_ID, &mut key(0x22)),
        Err(RecordsError::ContentRejected)
    ));
    // The same record sealed today is version 3 and 126 bytes shorter.
    let again = seal(
        &open(&sealed, PATIENT_ID, &mut key(0x22)).unwrap(),
        PATIENT_ID,
        &[key(0x11).public_key(), key(0x22).public_key()],
    )
    .unwrap();
    assert_eq!(
        (again[0], again.len()),
        (FORMAT_VERSION, sealed.len() - 126)
    );
}

#[test]
fn a_key_bundle_of_version_2_envelopes_opens_and_recovers() {
    let bytes = vector(include_str!("data/v2-key-bundle.hex"));
    assert_eq!(bytes.len(), 2_391);
    let bundle = KeyBundle::decode(&bytes).unwrap();
    assert_eq!(bundle.layout, BundleLayout::Envelopes);
    assert_eq!(bundle.encode(), bytes);
    let from_card = open_card_grant(&bundle, PATIENT_ID, &mut key(0x11)).unwrap();
    assert_eq!(from_card.len(), 1);
    assert_eq!(from_card[0].public_key(), bundle.history_public);
    let recovered = recover(&bundle, PATIENT_ID, &mut key(0x33), &mut key(0x22)).unwrap();
    assert_eq!(recovered[0].to_bytes(), from_card[0].to_bytes());
    // The hospital alone, or the letter with another hospital, recovers nothing.
    assert!(recover(&bundle, PATIENT_ID, &mut key(0x33), &mut key(0x55)).is_err());
    assert!(open_card_grant(&bundle, PATIENT_ID, &mut key(0x22)).is_err());
    // The replacement after it writes the compact layout and carries the old history key to the new card.
    let new_card = key(0x66);
    let next = issue_bundle(
        PATIENT_ID,
        &new_card.public_key(),
        &key(0x22).public_key(),
        &recovered,
        None,
        &mut rand_core::OsRng,
    )
    .unwrap();
    assert_eq!(next.bundle.layout, BundleLayout::Compact);
    let carried = open_card_grant(&next.bundle, PATIENT_ID, &mut key(0x66)).unwrap();
    assert_eq!(carried.len(), 2);
    assert_eq!(carried[0].to_bytes(), from_card[0].to_bytes());
}
