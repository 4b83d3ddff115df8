// The views the Rust shell sends are generated from src-tauri/src/views.rs (views.gen.ts); what is here is the
// front end's own (inputs it builds, narrower names for strings the views carry).

export type {
  CheckInView,
  ClaimItemInput,
  ClaimView,
  ConsentLimits,
  DecidedView,
  DecisionItemView,
  DispenseView,
  EmergencyCurrentView,
  EmergencyReadView,
  EmergencySavedView,
  EmergencyView,
  EnrolmentView,
  FirstRunManifestView,
  HeldConsentView,
  HistoryItem,
  HospitalClaimView,
  ItemDecisionInput,
  KioskInfo,
  LetterView,
  LogEntryView,
  LostView,
  OverviewView,
  PatientView,
  PendingWrite,
  PharmacyOpenView,
  PickItem,
  PrescribedView,
  ConsultedView,
  PrescriptionView,
  PrintView,
  ReaderState,
  ReaderView,
  ReplacedView,
  ReviewItemView,
  ReviewView,
  SavedLetter,
  SignedView,
  StatusView,
  TimelineView,
  TokenCheckView,
  TokenDispenseView,
  TxView,
} from './views.gen';
import type { AllergyView, ClaimItemInput, EmergencySetView } from './views.gen';

export type Role = 'reception' | 'doctor' | 'pharmacy' | 'insurer';

/** What the patient agrees to: scope bits and the window in days. */
export interface ConsentChoice {
  scope: number;
  days: number;
}

export type ScopeName = 'read' | 'write' | 'prescribe' | 'dispense';

export type Allergy = AllergyView;

export type EmergencySet = EmergencySetView;


export interface CardPeek {
  patientCard: boolean;
  triesLeft: number;
  blocked: boolean;
  /** Reset code tries left (0: none set, or blocked — only a replacement card helps then). */
  resetTriesLeft: number;
}

/** A FHIR R4 resource as JSON. */
export interface FhirResource {
  resourceType: string;
  [field: string]: unknown;
}

export type PrescriptionStatus = 'ready' | 'partly-dispensed' | 'dispensed' | 'cancelled' | 'expired' | 'unknown';

/** How a prescription token is presented: its QR payload, or the prescription number and the printed code. */
export interface TokenInput {
  payload: string | null;
  id: number | null;
  code: string | null;
}

/** A reason to think twice before prescribing (the core's `medication::Warning`), sent back once confirmed. */
export type Warning =
  | { kind: 'allergy'; substance: string; drug: string }
  | { kind: 'duplicate'; drug: string; current: string };

export interface PrescriptionOrder {
  atc: string;
  quantity: number;
  dosage: string | null;
  days: number;
  prescriber: string | null;
  substitutionAllowed: boolean;
  token: boolean;
}

/** The whole consultation sent as one transaction (`doctor_consult`): diagnosis, plan, prescriptions, the services
 * billed (none: not billed now), with the prescription warnings the doctor confirmed. */
export interface Consultation {
  /** Names the consultation while the screen asks again (a write on its way is driven on, not sent twice). */
  id: string | null;
  icd10: string;
  note: string | null;
  plan: string[];
  prescriptions: PrescriptionOrder[];
  confirmed: Warning[];
  items: ClaimItemInput[];
  practitioner: string | null;
}

export type ClaimStatus = 'submitted' | 'approved' | 'denied' | 'paid' | 'pending-second';

/** A command's failure (src-tauri/src/error.rs). */
export interface AppError {
  kind: string;
  message: string;
  triesLeft: number | null;
  revert: string | null;
}
