//! A new kiosk joins its institution on the real parts (Anvil, the OS keyring): it waits for its institution's
//! offer, never takes another institution's, says when it has no gas to accept, accepts once, and then opens.
//!
//! Run inside a keyring session: `scripts/with-keyring.sh cargo test -p carekiosk-kiosk`.

use carekiosk_testkit::stack as common;

use alloy::primitives::{Address, U256};
use carekiosk_kiosk::enrol::{accept_offer, kiosk_address, Enrolment};
use carekiosk_kiosk::{Kiosk, KioskError, KioskRole};
use common::Stack;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kiosk_takes_only_its_institutions_offer_and_then_opens() {
    let st = Stack::new("enrol").await;
    // A profile of its own (a copy of `local` under another name): this kiosk's keys are new.
    let profile = st.dir.join(format!("firstrun-{}.toml", std::process::id()));
    std::fs::copy("../../kiosk-config/profiles/local.toml", &profile).unwrap();
    let mut c = st.config(KioskRole::Pharmacy);
    c.profile = profile.display().to_string();
    let pharmacy = st.actors.pharmacy.address();
    let insurer = st.actors.insurer.address();
    c.institution = Some(pharmacy);
    let me = kiosk_address(&c).unwrap();
    assert!(
        st.d.institutions.iter().all(|i| !i.kiosks.contains(&me)),
        "a new key"
    );

    // Not enrolled: it cannot open, and nothing is offered yet.
    let Err(e) = Kiosk::open(c.clone()).await else {
        panic!("a kiosk opened before it was enrolled")
    };
    assert!(matches!(e, KioskError::NotRegistered { .. }), "{e}");
    assert_eq!(
        accept_offer(&c, pharmacy).await.unwrap(),
        Enrolment::Waiting {
            address: me,
            offer: None
        }
    );

    // Another institution offers first: the kiosk does not take it.
    let hub = st.chain.hub(&st.d);
    st.chain.send(insurer, hub.addKiosk(me)).await.unwrap();
    assert_eq!(
        accept_offer(&c, pharmacy).await.unwrap(),
        Enrolment::Waiting {
            address: me,
            offer: Some(insurer)
        }
    );
    assert_eq!(
        hub.kioskInstitution(me).call().await.unwrap(),
        Address::ZERO
    );

    // Its own institution offers (replacing the other offer); without gas it says so and sends nothing.
    st.chain.send(pharmacy, hub.addKiosk(me)).await.unwrap();
    assert_eq!(
        accept_offer(&c, pharmacy).await.unwrap(),
        Enrolment::NeedsGas { address: me }
    );
    assert_eq!(
        hub.kioskInstitution(me).call().await.unwrap(),
        Address::ZERO
    );

    // Funded: it accepts, once; then it is enrolled and opens as the pharmacy's kiosk.
    st.chain
        .devnet_set_balance(me, U256::from(10u64).pow(U256::from(18u64)))
        .await
        .unwrap();
    assert!(matches!(
        accept_offer(&c, pharmacy).await.unwrap(),
        Enrolment::Accepted(_)
    ));
    assert_eq!(hub.kioskInstitution(me).call().await.unwrap(), pharmacy);
    assert_eq!(
        accept_offer(&c, pharmacy).await.unwrap(),
        Enrolment::Enrolled
    );
    let k = Kiosk::open(c.clone()).await.unwrap();
    assert_eq!((k.address, k.institution), (me, pharmacy));

    // Set up for another institution than the one it belongs to: a clear error, nothing sent.
    let e = accept_offer(&c, insurer).await.unwrap_err().to_string();
    assert!(e.contains("belongs to institution"), "{e}");
    drop(k);
    st.stop().await;
}
