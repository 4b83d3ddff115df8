//! The async face of a card for the app: each call runs the blocking PC/SC work on tokio's blocking pool, one
//! operation at a time per card.

use std::sync::{Arc, Mutex};

use crate::card::{Authentication, CardInfo, PatientCard, PatientInfo, PinTries, Provisioned};
use crate::data::{CardSignature, P256PublicKey, SharedSecret};
use crate::pin::Pin;
use crate::CardError;

/// A [`PatientCard`] shared by async tasks.
#[derive(Debug, Clone)]
pub struct CardSession {
    card: Arc<Mutex<PatientCard>>,
    reader: String,
}

/// Issuing parameters owned by the async call (see [`crate::Provisioning`]).
#[derive(Debug)]
pub struct ProvisionRequest {
    /// The card's current admin PIN.
    pub admin_pin: Pin,
    /// The patient's new PIN.
    pub user_pin: Pin,
    /// A new admin PIN, if it is to change.
    pub new_admin_pin: Option<Pin>,
    /// Cardholder name.
    pub name: String,
    /// The registry's chain id.
    pub chain_id: u64,
    /// Re-issue a card that is already issued.
    pub overwrite: bool,
}

impl CardSession {
    /// Opens the card in `reader`.
    pub async fn open(reader: impl Into<String>) -> Result<CardSession, CardError> {
        let reader = reader.into();
        let r = reader.clone();
        let card = blocking(move || PatientCard::open(&r)).await?;
        Ok(CardSession {
            card: Arc::new(Mutex::new(card)),
            reader,
        })
    }

    /// The reader.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut PatientCard) -> Result<T, CardError> + Send + 'static,
    ) -> Result<T, CardError> {
        let card = self.card.clone();
        blocking(move || {
            let mut c = card.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut c)
        })
        .await
    }

    /// See [`PatientCard::inspect`].
    pub async fn inspect(&self) -> Result<CardInfo, CardError> {
        self.with(|c| c.inspect()).await
    }

    /// See [`PatientCard::read`].
    pub async fn read(&self) -> Result<PatientInfo, CardError> {
        self.with(|c| c.read()).await
    }

    /// See [`PatientCard::pin_tries`].
    pub async fn pin_tries(&self) -> Result<PinTries, CardError> {
        self.with(|c| c.pin_tries()).await
    }

    /// See [`PatientCard::verify_pin`]; the PIN is dropped (wiped) when the call ends.
    pub async fn verify_pin(&self, pin: Pin) -> Result<(), CardError> {
        self.with(move |c| c.verify_pin(&pin)).await
    }

    /// See [`PatientCard::change_pin`].
    pub async fn change_pin(&self, old: Pin, new: Pin) -> Result<(), CardError> {
        self.with(move |c| c.change_pin(&old, &new)).await
    }

    /// See [`PatientCard::unblock_with_admin`].
    pub async fn unblock_with_admin(&self, admin_pin: Pin, new_pin: Pin) -> Result<(), CardError> {
        self.with(move |c| c.unblock_with_admin(&admin_pin, &new_pin))
            .await
    }

    /// See [`PatientCard::sign`].
    pub async fn sign(&self, pin: Pin, digest: [u8; 32]) -> Result<CardSignature, CardError> {
        self.with(move |c| c.sign(&pin, &digest)).await
    }

    /// See [`PatientCard::authenticate`].
    pub async fn authenticate(
        &self,
        pin: Pin,
        digest: [u8; 32],
    ) -> Result<Authentication, CardError> {
        self.with(move |c| c.authenticate(&pin, &digest)).await
    }

    /// See [`PatientCard::ecdh`].
    pub async fn ecdh(&self, pin: Pin, peer: P256PublicKey) -> Result<SharedSecret, CardError> {
        self.with(move |c| c.ecdh(&pin, &peer)).await
    }

    /// See [`PatientCard::emergency_object`] (no PIN).
    pub async fn emergency_object(&self) -> Result<Option<Vec<u8>>, CardError> {
        self.with(|c| c.emergency_object()).await
    }

    /// See [`PatientCard::write_emergency_object`].
    pub async fn write_emergency_object(&self, pin: Pin, object: Vec<u8>) -> Result<(), CardError> {
        self.with(move |c| c.write_emergency_object(&pin, &object))
            .await
    }

    /// See [`PatientCard::provision`].
    pub async fn provision(
        &self,
        req: ProvisionRequest,
        patient_id: impl FnOnce(&P256PublicKey) -> [u8; 32] + Send + 'static,
    ) -> Result<Provisioned, CardError> {
        self.with(move |c| {
            let p = crate::Provisioning {
                admin_pin: &req.admin_pin,
                user_pin: &req.user_pin,
                new_admin_pin: req.new_admin_pin.as_ref(),
                reset_code: None,
                name: &req.name,
                chain_id: req.chain_id,
                overwrite: req.overwrite,
            };
            c.provision(&p, patient_id)
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, CardError> + Send + 'static,
) -> Result<T, CardError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CardError::Pcsc(format!("card task failed: {e}")))?
}
