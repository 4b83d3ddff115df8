//! The local stack's kiosks: this machine's kiosk keys (from the OS keyring) registered with the demo
//! institutions of a fresh local deployment, and the institutions' record keys published in its manifest.

use alloy::primitives::{Address, U256};
use carekiosk_chain::deploy::{self, DemoActors, TOKEN_UNIT};
use carekiosk_chain::{Chain, Deployment};

use crate::kiosk::KioskKeys;
use crate::{KioskError, KioskRole};

/// The institution address of `role` among the demo actors.
pub fn institution_of(actors: &DemoActors, role: KioskRole) -> Address {
    match role {
        KioskRole::Reception | KioskRole::Doctor => actors.hospital.address(),
        KioskRole::Pharmacy => actors.pharmacy.address(),
        KioskRole::Insurer => actors.insurer.address(),
    }
}

/// Registers the keyring's kiosk key of every role with its demo institution (funding it with test ETH), and
/// writes each institution's record public key into `d`. `chain` must sign for the demo institutions.
pub async fn register_local_kiosks(
    chain: &Chain,
    d: &mut Deployment,
    actors: &DemoActors,
    profile: &str,
) -> Result<(), KioskError> {
    // The network's emergency key: generated into this machine's keyring (where the local hospital kiosks find
    // it) and published on chain by the admin, once per deployment.
    let wallet = carekiosk_wallet::Wallet::open()?;
    let emergency = wallet
        .slot::<carekiosk_wallet::RecordKey>(profile, crate::kiosk::EMERGENCY_SLOT)?
        .generate_or_load()?;
    let emergency = {
        use carekiosk_wallet::KeyKind;
        carekiosk_records::SoftKey::from_bytes(emergency.secret_bytes())?
    };
    let compressed = emergency.public_key().to_sec1_compressed().to_vec();
    chain
        .send(d.admin, chain.hub(d).setEmergencyKey(compressed.into()))
        .await?;
    for role in KioskRole::ALL {
        let keys = KioskKeys::load_or_generate(profile, role)?;
        let inst = institution_of(actors, role);
        let kiosk = register_kiosk(chain, d, inst, &keys, 10).await?;
        tracing::info!(role = role.as_str(), %kiosk, "kiosk registered");
    }
    Ok(())
}

/// Registers one kiosk on a local chain: funds it with `tokens` whole tokens for fees, its institution `inst`
/// offers to enrol it and it accepts, the institution publishes the kiosk's record key on chain (what other kiosks
/// seal for it), and the manifest `d` records both. Returns the kiosk's address.
pub async fn register_kiosk(
    chain: &Chain,
    d: &mut Deployment,
    inst: Address,
    keys: &KioskKeys,
    tokens: u64,
) -> Result<Address, KioskError> {
    let kiosk = keys.signer.address();
    chain
        .devnet_set_balance(kiosk, U256::from(tokens) * U256::from(TOKEN_UNIT))
        .await?;
    deploy::enrol_kiosk(chain, d, inst, &keys.signer).await?;
    deploy::publish_record_key(
        chain,
        d,
        inst,
        &keys.record_key.public_key().to_sec1_compressed(),
    )
    .await?;
    let public = alloy::hex::encode(keys.record_key.public_key().to_sec1_uncompressed());
    for i in d.institutions.iter_mut().filter(|i| i.address == inst) {
        i.record_key = public.clone();
        if !i.kiosks.contains(&kiosk) {
            i.kiosks.push(kiosk);
        }
    }
    Ok(kiosk)
}

/// One line of a demo's progress.
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// The demo patient (fictional), as `carekiosk demo` and `carekiosk up --demo-patient` issue them.
pub mod demo_patient {
    /// Full name.
    pub const NAME: &str = "Jane Roe-Example";
    /// Birth date.
    pub const BIRTH_DATE: &str = "1984-03-12";
    /// The PIN the patient chose.
    pub const PIN: &str = "482916";
    /// The blank card's admin PIN (issuer).
    pub const ADMIN_PIN: &str = "12345678";
}

/// The first half of the demo visit, up to the pharmacy counter and the insurer's desk: the blank card in
/// `reader` is issued to the demo patient at reception, the insurer enrols them (80 %, 5,000 a year), they check
/// in, the doctor writes a diagnosis with a care plan, prescribes amoxicillin and bills the insurer. Returns the
/// open session (card and PIN) for the rest of the visit.
pub async fn seed_demo_patient(
    reception_kiosk: &crate::Kiosk,
    doctor_kiosk: &crate::Kiosk,
    insurer_kiosk: &crate::Kiosk,
    reader: &str,
    say: Progress<'_>,
) -> Result<crate::PatientSession, KioskError> {
    use crate::workflows::{doctor, insurer, reception};
    use carekiosk_card::{PatientCard, Pin};

    let card = PatientCard::open(reader)?;
    let new = reception::NewPatient {
        name: demo_patient::NAME.into(),
        birth_date: demo_patient::BIRTH_DATE.into(),
        gender: "female".into(),
        admin_pin: Pin::new(demo_patient::ADMIN_PIN),
        pin: Pin::new(demo_patient::PIN),
    };
    say("reception: issuing a blank card (keys generated on the card), registering the patient");
    let session = reception::register_patient(reception_kiosk, card, new).await?;
    let pid = session.patient_id();
    say(&format!(
        "  patient {pid} registered; consent granted; demographics sealed on chain"
    ));
    let mut s = crate::PatientSession::start(session.into_card(), Pin::new(demo_patient::PIN))?;
    insurer::enroll(insurer_kiosk, &mut s, 8000, 5_000 * TOKEN_UNIT).await?;
    say("insurer: enrolled at 80 %, 5,000 a year (the card consented to the insurer)");
    let checked = reception::check_in(reception_kiosk, &mut s).await?;
    say(&format!(
        "reception: check-in by card and PIN, {} record(s) opened with the card",
        checked.records
    ));
    doctor::add_diagnosis(
        doctor_kiosk,
        &mut s,
        "J06.9",
        Some("sore throat, 3 days"),
        &["rest", "fluids"],
    )
    .await?;
    let history = doctor::history(doctor_kiosk, &mut s).await?;
    say(&format!(
        "doctor: diagnosis J06.9 and a care plan written; history has {} entries",
        history.len()
    ));
    doctor::prescribe(
        doctor_kiosk,
        &mut s,
        "J01CA04",
        20.0,
        Some("1 tablet 3 times a day"),
        0,
    )
    .await?;
    say("doctor: amoxicillin prescribed (valid 28 days)");
    let condition = history
        .iter()
        .find(|e| matches!(e.resource, Some(carekiosk_records::Resource::Condition(_))))
        .map(|e| e.index)
        .unwrap_or_default();
    let claimed = U256::from(120u128 * TOKEN_UNIT);
    doctor::submit_claim(doctor_kiosk, &mut s, condition, claimed).await?;
    say("doctor: claim of 120 submitted to the insurer (details sealed for it)");
    Ok(s)
}

/// A whole visit on the local stack, as `carekiosk demo` shows it: [`seed_demo_patient`], then the pharmacy
/// dispenses on the card's proof of presence and the insurer approves and pays the claim.
/// `kiosks` are opened on the deployment's manifest; `say` receives one line per step.
pub async fn demo_visit(
    reception_kiosk: &crate::Kiosk,
    doctor_kiosk: &crate::Kiosk,
    pharmacy_kiosk: &crate::Kiosk,
    insurer_kiosk: &mut crate::Kiosk,
    reader: &str,
    say: Progress<'_>,
) -> Result<(), KioskError> {
    use crate::workflows::{insurer, pharmacy};

    let mut s = seed_demo_patient(
        reception_kiosk,
        doctor_kiosk,
        insurer_kiosk,
        reader,
        &mut *say,
    )
    .await?;
    let list = pharmacy::open_patient(pharmacy_kiosk, &mut s).await?;
    say(&format!(
        "pharmacy: {} prescription(s) found, verified on chain and opened with the card",
        list.len()
    ));
    for rx in list.iter().filter(|p| p.dispensable) {
        let r = pharmacy::dispense(pharmacy_kiosk, &mut s, rx.id).await?;
        say(&format!(
            "  prescription {} dispensed on the card's proof of presence ({:?})",
            rx.id,
            r.tx_hash()
        ));
    }
    for claim in insurer::queue(insurer_kiosk).await? {
        let review = insurer::review(insurer_kiosk, claim.id).await?;
        insurer::approve(insurer_kiosk, claim.id, review.cap).await?;
        insurer::pay(insurer_kiosk, claim.id).await?;
        say(&format!(
            "insurer: claim {} approved for {} (80 % cap) and paid from escrow",
            claim.id, review.cap
        ));
    }
    say("visit complete: nothing about the patient is readable on chain without their card");
    Ok(())
}
