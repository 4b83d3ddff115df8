//! A patient at the kiosk: their card in the reader and the PIN they typed, for the length of one visit.

use alloy::primitives::B256;
use carekiosk_card::{P256PublicKey, PatientCard, PatientInfo, Pin};
use carekiosk_chain::eip712::CardSignature;
use carekiosk_records::{KeyAgreement, KeyAgreementError, RecipientPublicKey, Resource};

use crate::KioskError;

/// The patient's card and PIN during a visit. The PIN lives only here, in memory, and goes with the session.
pub struct PatientSession {
    card: PatientCard,
    pin: Pin,
    /// What the card says about its patient.
    pub info: PatientInfo,
}

impl std::fmt::Debug for PatientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientSession")
            .field("patient", &self.patient_id())
            .finish_non_exhaustive()
    }
}

impl PatientSession {
    /// Reads the patient card in `card` and keeps the PIN for this visit (it is checked by the first signature).
    pub fn start(mut card: PatientCard, pin: Pin) -> Result<PatientSession, KioskError> {
        let info = card.read()?;
        Ok(PatientSession { card, pin, info })
    }

    /// The patient id written on the card.
    pub fn patient_id(&self) -> B256 {
        B256::from(self.info.patient.patient_id)
    }

    /// The card's signature over an EIP-712 digest (the PIN is verified on the card).
    pub fn sign(&mut self, digest: B256) -> Result<CardSignature, KioskError> {
        let sig = self.card.sign(&self.pin, &digest.0)?;
        let key = &self.info.signing_key;
        Ok(CardSignature::new(
            B256::from(key.x()),
            B256::from(key.y()),
            B256::from(sig.r),
            B256::from(sig.s),
        ))
    }

    /// The card's record (decryption) public key, to seal for.
    pub fn record_key(&self) -> Result<RecipientPublicKey, KioskError> {
        Ok(RecipientPublicKey::from_sec1_bytes(
            &self.info.decryption_key.to_sec1(),
        )?)
    }

    /// The card as a key agreement for opening sealed records.
    pub fn keys(&mut self) -> CardKeys<'_> {
        let key_id = carekiosk_records::key_id(&self.info.decryption_key.to_sec1());
        CardKeys {
            session: self,
            key_id,
            card_error: None,
        }
    }

    /// Opens `sealed` (a record of this patient) with the card: one ECDH, on the patient's slot. When the card
    /// itself fails during the ECDH (removed, wrong or blocked PIN), that is the error returned
    /// ([`KioskError::Card`]), not a records error.
    pub(crate) fn open(&mut self, sealed: &[u8]) -> Result<Resource, KioskError> {
        let patient = self.patient_id().0;
        let mut keys = self.keys();
        carekiosk_records::open_as_patient(sealed, patient, &mut keys)
            .map_err(|e| keys.card_error.take().map_or(e.into(), KioskError::Card))
    }

    /// Gives the card back (end of visit).
    pub fn into_card(self) -> PatientCard {
        self.card
    }
}

/// The card's ECDH (PSO:DECIPHER) as the records crate's [`KeyAgreement`].
pub struct CardKeys<'a> {
    session: &'a mut PatientSession,
    key_id: [u8; 32],
    /// The card's own error from the last failed ECDH.
    card_error: Option<carekiosk_card::CardError>,
}

impl KeyAgreement for CardKeys<'_> {
    fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    fn ecdh(&mut self, ephemeral: &[u8; 65]) -> Result<[u8; 32], KeyAgreementError> {
        let peer = P256PublicKey::from_sec1(ephemeral)
            .map_err(|e| KeyAgreementError::Failed(e.to_string()))?;
        let r = self.session.card.ecdh(&self.session.pin, &peer);
        if let Err(e) = &r {
            self.card_error = Some(e.clone());
        }
        match r {
            Ok(secret) => Ok(*secret),
            Err(e) if e.is_removal() => Err(KeyAgreementError::Unavailable(e.to_string())),
            Err(
                e @ (carekiosk_card::CardError::WrongPin { .. }
                | carekiosk_card::CardError::Blocked { .. }),
            ) => Err(KeyAgreementError::Denied(e.to_string())),
            Err(e) => Err(KeyAgreementError::Failed(e.to_string())),
        }
    }
}
