//! The app's shared state: the kiosk (once open), the patient's session while their card is in, and what the
//! reader last said.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use carekiosk_kiosk::workflows::pharmacy::PharmacyPrescription;
use carekiosk_kiosk::workflows::reception::LetterSecrets;
use carekiosk_kiosk::{Kiosk, PatientSession};
use tokio::sync::{
    MappedMutexGuard, Mutex as AsyncMutex, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use zeroize::Zeroizing;

use crate::error::AppError;
use crate::launch::Launch;
use crate::views::{EnrolmentView, ReaderView};

/// Everything the commands share.
pub struct AppState {
    /// How the app was started.
    pub launch: Launch,
    kiosk: RwLock<Option<Kiosk>>,
    /// Why the kiosk could not open (not registered, node down, bad config…), for the setup screen.
    pub open_error: Mutex<Option<String>>,
    session: AsyncMutex<Option<PatientSession>>,
    /// The reader as the card monitor last saw it.
    pub reader: Mutex<ReaderView>,
    /// Bumped whenever the card leaves the reader: a session opened before is stale.
    pub card_generation: AtomicU64,
    /// The prescriptions last listed for the patient at the counter (cleared with the session).
    pub prescriptions: Mutex<Vec<PharmacyPrescription>>,
    /// The issue letter of the card just issued, until the operator leaves the letter step (or the visit ends).
    pub letter: Mutex<Option<PendingLetter>>,
    /// The recovery code typed at the lost-card desk, between the loss report and the replacement card (dropped
    /// with the replacement, or when the visit ends).
    pub recovery: Mutex<Option<Zeroizing<[u8; 32]>>>,
    /// Documents written for printing (token, receipt), until the operator deletes them.
    pub printed: Mutex<Vec<PathBuf>>,
    /// Kiosk mode: the window may close (the staff code was given).
    pub close_allowed: AtomicBool,
    /// A kiosk set up on its first run, not enrolled yet: where its enrolment stands (for the set-up screen).
    pub enrolment: Mutex<Option<EnrolmentView>>,
    /// When the app started, and whether the screen has asked for its first screen yet (the cold start).
    pub started: std::time::Instant,
    pub first_screen: AtomicBool,
}

/// The issue letter waiting to be printed: what it prints, and the files "Save as PDF" wrote. In memory only; the
/// secrets are wiped when it is dropped.
pub struct PendingLetter {
    pub patient_name: String,
    pub institution: String,
    /// `YYYY-MM-DD`.
    pub issued_on: String,
    pub secrets: LetterSecrets,
    /// Letter files written at the operator's request (to be deleted once printed).
    pub saved: Vec<PathBuf>,
}

impl AppState {
    pub fn new(launch: Launch) -> AppState {
        AppState {
            launch,
            kiosk: RwLock::new(None),
            open_error: Mutex::new(None),
            session: AsyncMutex::new(None),
            reader: Mutex::new(ReaderView::default()),
            card_generation: AtomicU64::new(0),
            prescriptions: Mutex::new(Vec::new()),
            letter: Mutex::new(None),
            recovery: Mutex::new(None),
            close_allowed: AtomicBool::new(false),
            printed: Mutex::new(Vec::new()),
            enrolment: Mutex::new(None),
            started: std::time::Instant::now(),
            first_screen: AtomicBool::new(false),
        }
    }

    /// The open kiosk, or why there is none.
    pub async fn kiosk(&self) -> Result<RwLockReadGuard<'_, Kiosk>, AppError> {
        RwLockReadGuard::try_map(self.kiosk.read().await, |k| k.as_ref())
            .map_err(|_| self.not_ready())
    }

    /// The open kiosk for the few calls that need it exclusively (an insurer opening a claim with its key).
    pub async fn kiosk_mut(
        &self,
    ) -> Result<tokio::sync::RwLockMappedWriteGuard<'_, Kiosk>, AppError> {
        RwLockWriteGuard::try_map(self.kiosk.write().await, |k| k.as_mut())
            .map_err(|_| self.not_ready())
    }

    fn not_ready(&self) -> AppError {
        AppError::NotReady(
            self.open_error
                .lock()
                .ok()
                .and_then(|e| e.clone())
                .unwrap_or_else(|| "the kiosk is still starting".into()),
        )
    }

    /// Puts the opened kiosk in place.
    pub async fn set_kiosk(&self, k: Kiosk) {
        *self.kiosk.write().await = Some(k);
        if let Ok(mut e) = self.open_error.lock() {
            *e = None;
        }
    }

    /// Closes the kiosk (its set-up was reset): the patient's session and the kiosk are dropped.
    pub async fn close_kiosk(&self) {
        *self.session.lock().await = None;
        *self.kiosk.write().await = None;
        if let Ok(mut e) = self.enrolment.lock() {
            *e = None;
        }
    }

    /// Whether the kiosk is open.
    pub async fn is_open(&self) -> bool {
        self.kiosk.read().await.is_some()
    }

    /// The patient's session, while their card is in and the PIN was accepted.
    pub async fn session(&self) -> Result<MappedMutexGuard<'_, PatientSession>, AppError> {
        tokio::sync::MutexGuard::try_map(self.session.lock().await, |s| s.as_mut())
            .map_err(|_| AppError::NoSession)
    }

    /// Starts a session, unless the card left the reader since `generation` was read.
    pub async fn begin_session(&self, s: PatientSession, generation: u64) -> Result<(), AppError> {
        let mut slot = self.session.lock().await;
        if self.card_generation.load(Ordering::SeqCst) != generation {
            return Err(AppError::CardLeft);
        }
        *slot = Some(s);
        Ok(())
    }

    /// Ends the session (card out, idle, or done): the PIN and the card handle go with it.
    pub async fn end_session(&self) {
        self.session.lock().await.take();
        if let Ok(mut p) = self.prescriptions.lock() {
            p.clear();
        }
    }

    /// Ends the visit at the operator's word (done, idle, cancel): the session, and whatever reception held for the
    /// card's life — the issue letter not yet handed over, the recovery code typed at the lost-card desk.
    pub async fn end_visit(&self) {
        self.end_session().await;
        self.forget_letter();
        if let Ok(mut r) = self.recovery.lock() {
            r.take();
        }
    }

    /// Drops the issue letter (its secrets are wiped); returns the letter files still on disk.
    pub fn forget_letter(&self) -> Vec<PathBuf> {
        let letter = self.letter.lock().ok().and_then(|mut l| l.take());
        letter
            .map(|l| l.saved.into_iter().filter(|p| p.exists()).collect())
            .unwrap_or_default()
    }

    /// The card left the reader: any session is over.
    pub fn card_left(&self) {
        self.card_generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn generation(&self) -> u64 {
        self.card_generation.load(Ordering::SeqCst)
    }
}
