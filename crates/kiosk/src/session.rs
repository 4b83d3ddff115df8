//! A patient at the kiosk: their card in the reader and the PIN they typed, for the length of one visit.

use alloy::primitives::B256;
use carekiosk_card::{P256PublicKey, PatientCard, PatientInfo, Pin};
use carekiosk_chain::eip712::CardSignature;
use carekiosk_records::{KeyAgreement, KeyAgreementError, RecipientPublicKey, Resource, SoftKey};

use crate::KioskError;

/// The patient's card and PIN during a visit. The PIN lives only here, in memory, and goes with the session.
pub struct PatientSession {
    card: PatientCard,
    pin: Pin,
    /// What the card says about its patient.
    pub info: PatientInfo,
    /// The patient's history keys for this visit (opened once from the card grant; oldest first), and the
    /// current history public key new records are sealed for. In memory only, gone with the session.
    history: Vec<SoftKey>,
    history_public: Option<RecipientPublicKey>,
    /// Card ECDH operations this visit (the benchmark counts them).
    card_ecdh: usize,
    /// The consent the patient chose at a desk whose step grants it together with its write (the pharmacy's
    /// dispense): scope bits and days.
    consent_choice: Option<(u8, u64)>,
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
        Ok(PatientSession {
            card,
            pin,
            info,
            history: Vec::new(),
            history_public: None,
            card_ecdh: 0,
            consent_choice: None,
        })
    }

    /// Keeps the consent the patient chose (scope bits, days) for the step that grants it with its write.
    pub(crate) fn set_consent_choice(&mut self, scope: u8, days: u64) {
        self.consent_choice = Some((scope, days));
    }

    /// The consent the patient chose this visit, if a desk asked.
    pub(crate) fn consent_choice(&self) -> Option<(u8, u64)> {
        self.consent_choice
    }

    /// Whether the history keys are open for this visit.
    pub fn history_unlocked(&self) -> bool {
        self.history_public.is_some()
    }

    /// Keeps the history keys for the visit.
    pub(crate) fn set_history(&mut self, keys: Vec<SoftKey>, public: RecipientPublicKey) {
        self.history = keys;
        self.history_public = Some(public);
    }

    /// The current history public key: what the patient's slot of a new record is sealed for.
    pub fn history_public(&self) -> Result<RecipientPublicKey, KioskError> {
        self.history_public.clone().ok_or_else(|| {
            KioskError::Invalid("the patient's history keys are not open for this visit".into())
        })
    }

    /// Card ECDH operations so far this visit.
    pub fn card_operations(&self) -> usize {
        self.card_ecdh
    }

    /// Changes the card's PIN from the one typed for this visit to `new` (the patient types the new one twice;
    /// the desk compares them before calling this).
    pub fn change_pin(&mut self, new: Pin) -> Result<(), KioskError> {
        self.card.change_pin(&self.pin, &new)?;
        self.pin = new;
        Ok(())
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

    /// Opens `sealed` (a record of this patient) with the visit's history keys, on the patient's slot: no card
    /// operation. The keys must be open ([`crate::workflows::unlock_history`]).
    pub fn open(&mut self, sealed: &[u8]) -> Result<Resource, KioskError> {
        let patient = self.patient_id().0;
        if self.history.is_empty() {
            return Err(KioskError::Invalid(
                "the patient's history keys are not open for this visit".into(),
            ));
        }
        let mut last = None;
        for key in self.history.iter_mut().rev() {
            match carekiosk_records::open_as_patient(sealed, patient, key) {
                Ok(r) => return Ok(r),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or_else(
            || KioskError::Invalid("no history key".into()),
            KioskError::from,
        ))
    }

    /// Opens the card grant of `bundle` with the card: the visit's one card ECDH. When the card itself fails
    /// (removed, wrong or blocked PIN), that is the error returned ([`KioskError::Card`]).
    pub(crate) fn open_card_grant(
        &mut self,
        bundle: &carekiosk_records::KeyBundle,
    ) -> Result<Vec<SoftKey>, KioskError> {
        let patient = self.patient_id().0;
        self.card_ecdh += 1;
        let mut keys = self.keys();
        carekiosk_records::open_card_grant(bundle, patient, &mut keys)
            .map_err(|e| keys.card_error.take().map_or(e.into(), KioskError::Card))
    }

    /// The trace keys of every history key generation (oldest first): they find the patient's emergency-read
    /// traces on chain. Needs the history keys open.
    pub fn trace_keys(
        &self,
    ) -> Vec<zeroize::Zeroizing<[u8; carekiosk_records::emergency::TRACE_KEY_LEN]>> {
        self.history
            .iter()
            .map(carekiosk_records::emergency::trace_key)
            .collect()
    }

    /// The trace key of the current history key: what a new emergency object on the card carries.
    pub fn current_trace_key(
        &self,
    ) -> Result<zeroize::Zeroizing<[u8; carekiosk_records::emergency::TRACE_KEY_LEN]>, KioskError>
    {
        self.history
            .last()
            .map(carekiosk_records::emergency::trace_key)
            .ok_or_else(|| {
                KioskError::Invalid("the patient's history keys are not open for this visit".into())
            })
    }

    /// The card's emergency object (DO 0101), read without a PIN.
    pub fn emergency_object(&mut self) -> Result<Option<Vec<u8>>, KioskError> {
        Ok(self.card.emergency_object()?)
    }

    /// Writes the card's emergency object (DO 0101) with the visit's PIN; empty clears it.
    pub fn write_emergency_object(&mut self, object: &[u8]) -> Result<(), KioskError> {
        Ok(self.card.write_emergency_object(&self.pin, object)?)
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
