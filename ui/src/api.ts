// Typed wrappers for every command of the Rust shell (src-tauri/src/commands) and its events. Nothing else in
// the UI calls `invoke` or `listen` directly.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type {
  AppError,
  ClaimItemInput,
  DecidedView,
  HospitalClaimView,
  ItemDecisionInput,
  OverviewView,
  PrescribedView,
  ConsultedView,
  PrescriptionOrder,
  Consultation,
  TimelineView,
  TokenCheckView,
  TokenInput,
  Warning,
  CardPeek,
  CheckInView,
  ClaimView,
  ConsentChoice,
  DispenseView,
  EmergencyCurrentView,
  EmergencySavedView,
  EmergencySet,
  EmergencyView,
  FirstRunManifestView,
  HeldConsentView,
  KioskInfo,
  LetterView,
  LogEntryView,
  LostView,
  PatientView,
  PharmacyOpenView,
  PickItem,
  ReaderView,
  ReplacedView,
  ReviewView,
  Role,
  SavedLetter,
  StatusView,
  TokenDispenseView,
  TxView,
} from './types';

export const api = {
  kioskInfo: () => invoke<KioskInfo>('kiosk_info'),
  kioskStatus: () => invoke<StatusView>('kiosk_status'),
  icd10Search: (query: string) => invoke<PickItem[]>('icd10_search', { query }),
  formularySearch: (query: string) => invoke<PickItem[]>('formulary_search', { query }),
  serviceCodes: () => invoke<PickItem[]>('service_codes'),
  denialReasons: () => invoke<PickItem[]>('denial_reasons'),

  cardPeek: () => invoke<CardPeek>('card_peek'),
  cardUnlock: (pin: string) => invoke<PatientView>('card_unlock', { pin }),
  sessionEnd: () => invoke<null>('session_end'),
  cardUnblock: (resetCode: string, pin: string, pinAgain: string) =>
    invoke<null>('card_unblock', { resetCode, pin, pinAgain }),
  cardChangePin: (pin: string, pinAgain: string) => invoke<null>('card_change_pin', { pin, pinAgain }),

  receptionCheckIn: (c: ConsentChoice) => invoke<CheckInView>('reception_check_in', { scope: c.scope, days: c.days }),
  receptionRegister: (p: { name: string; birthDate: string; gender: string; adminPin: string; pin: string }) =>
    invoke<PatientView>('reception_register', p),
  receptionReportLost: (recovery: string) => invoke<LostView>('reception_report_lost', { recovery }),
  receptionReplace: (p: { name: string; adminPin: string; pin: string; pinAgain: string }) =>
    invoke<ReplacedView>('reception_replace', p),

  letterShow: () => invoke<LetterView>('letter_show'),
  letterSavePdf: (lang: string) => invoke<SavedLetter>('letter_save_pdf', { lang }),
  letterDeletePdf: () => invoke<number>('letter_delete_pdf'),
  letterDone: () => invoke<string[]>('letter_done'),
  printDelete: (path: string) => invoke<null>('print_delete', { path }),

  doctorTimeline: () => invoke<TimelineView[]>('doctor_timeline'),
  doctorOverview: () => invoke<OverviewView>('doctor_overview'),
  doctorRecordAllergy: (a: { substance: string; atcClass: string | null; high: boolean; reaction: string | null }) =>
    invoke<TxView>('doctor_record_allergy', a),
  doctorDiagnose: (icd10: string, note: string | null, plan: string[]) =>
    invoke<TxView[]>('doctor_diagnose', { icd10, note, plan }),
  doctorWarnings: (atc: string) => invoke<Warning[]>('doctor_warnings', { atc }),
  doctorPrescribe: (order: PrescriptionOrder, confirmed: Warning[]) =>
    invoke<PrescribedView>('doctor_prescribe', { ...order, confirmed }),
  doctorConsult: (c: Consultation) => invoke<ConsultedView>('doctor_consult', { ...c }),
  doctorCancelPrescription: (id: number) => invoke<TxView>('doctor_cancel_prescription', { id }),
  doctorClaim: (record: number, items: ClaimItemInput[], practitioner: string | null) =>
    invoke<TxView>('doctor_claim', { record, items, practitioner }),
  doctorClaims: () => invoke<HospitalClaimView[]>('doctor_claims'),

  pharmacyOpen: (c: ConsentChoice) => invoke<PharmacyOpenView>('pharmacy_open', { scope: c.scope, days: c.days }),
  pharmacyDispense: (id: number, quantity: number | null, substitute: string | null, batch: string) =>
    invoke<DispenseView>('pharmacy_dispense', { id, quantity, substitute, batch }),
  pharmacyTokenCheck: (token: TokenInput) => invoke<TokenCheckView>('pharmacy_token_check', { ...token }),
  pharmacyTokenDispense: (token: TokenInput, d: { product: string; quantity: number; unit: string; batch: string }) =>
    invoke<TokenDispenseView>('pharmacy_token_dispense', { ...token, ...d }),

  insurerEnroll: (bps: number, annualLimit: string) => invoke<TxView>('insurer_enroll', { bps, annualLimit }),
  insurerQueue: () => invoke<ClaimView[]>('insurer_queue'),
  insurerPending: () => invoke<ClaimView[]>('insurer_pending'),
  insurerReview: (id: number) => invoke<ReviewView>('insurer_review', { id }),
  insurerDecide: (id: number, items: ItemDecisionInput[], pay = false) =>
    invoke<DecidedView>('insurer_decide', { id, items, pay }),
  insurerConfirm: (id: number) => invoke<TxView>('insurer_confirm', { id }),
  insurerPay: (id: number) => invoke<TxView>('insurer_pay', { id }),
  insurerPaid: () => invoke<ClaimView[]>('insurer_paid'),

  patientConsents: () => invoke<HeldConsentView[]>('patient_consents'),
  patientAccessLog: () => invoke<LogEntryView[]>('patient_access_log'),
  patientRevoke: (institution: string) => invoke<TxView>('patient_revoke', { institution }),
  patientRevokeAll: () => invoke<TxView>('patient_revoke_all'),

  emergencyCurrent: () => invoke<EmergencyCurrentView>('emergency_current'),
  emergencySave: (set: EmergencySet) => invoke<EmergencySavedView>('emergency_save', { set }),
  emergencyRead: (clinician: string, reason: string) => invoke<EmergencyView>('emergency_read', { clinician, reason }),

  kioskClose: (code: string) => invoke<null>('kiosk_close', { code }),
  firstrunManifest: (profile: string, manifest: string) =>
    invoke<FirstRunManifestView>('firstrun_manifest', { profile, manifest }),
  firstrunReaders: () => invoke<string[]>('firstrun_readers'),
  /** `reader`: a PC/SC reader name; null: the role preset's. */
  firstrunSave: (role: Role, profile: string, manifest: string, institution: string, reader: string | null) =>
    invoke<string>('firstrun_save', { role, profile, manifest, institution, reader }),
  firstrunReset: (code: string) => invoke<null>('firstrun_reset', { code }),
};

export const events = {
  onInfo: (f: (i: KioskInfo) => void): Promise<UnlistenFn> => listen<KioskInfo>('kiosk://info', (e) => f(e.payload)),
  onCard: (f: (r: ReaderView) => void): Promise<UnlistenFn> => listen<ReaderView>('kiosk://card', (e) => f(e.payload)),
  onStatus: (f: (s: StatusView) => void): Promise<UnlistenFn> =>
    listen<StatusView>('kiosk://status', (e) => f(e.payload)),
  /** Kiosk mode: the window was asked to close without the staff code. */
  onCloseRefused: (f: () => void): Promise<UnlistenFn> => listen('kiosk://close-refused', () => f()),
};

/** Whether a rejected command carries the shell's error shape. */
export function isAppError(e: unknown): e is AppError {
  return typeof e === 'object' && e !== null && 'kind' in e && 'message' in e;
}

/** Any rejection as an AppError (a bare string or Error becomes kind `other`). */
export function asAppError(e: unknown): AppError {
  if (isAppError(e)) return e;
  const message = e instanceof Error ? e.message : String(e);
  return { kind: 'other', message, triesLeft: null, revert: null };
}
