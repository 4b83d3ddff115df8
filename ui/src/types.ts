// The views the Rust shell sends (src-tauri/src/views.rs), field for field.

export type Role = 'reception' | 'doctor' | 'pharmacy' | 'insurer';

export interface KioskInfo {
  role: Role;
  lang: string;
  ready: boolean;
  error: string | null;
  profile: string;
  chainId: number | null;
  rpcUrl: string | null;
  explorer: string | null;
  address: string | null;
  institution: string | null;
  institutionId: number | null;
  reader: string;
  idleTimeoutSecs: number;
  tokenSymbol: string | null;
  tokenDecimals: number | null;
  /** What this desk may ask the patient to consent to, and what it asks by default. */
  consent: ConsentLimits;
  /** The role preset's text size in percent (e.g. 125), the default of the text size control; a size chosen on
   * the kiosk (remembered in localStorage) wins over it. Absent or null: 100 %. */
  textScale?: number | null;
  /** Kiosk mode: full screen, closed only with the staff code. */
  kioskMode?: boolean;
  /** No desk is set up yet: the first-run set-up is shown. */
  firstRun?: boolean;
  /** The desk comes from the first-run set-up: a staff action may reset it. */
  fromSetup?: boolean;
  /** A kiosk set up on its first run, not enrolled yet. */
  enrolment?: EnrolmentView | null;
}

/** Where a new kiosk's enrolment stands: its address (text and QR code) and what it waits for. */
export interface EnrolmentView {
  address: string;
  state: 'waiting' | 'other-offer' | 'needs-gas';
  institution: string;
  offer: string | null;
  qrWidth: number;
  qrModules: string;
}

/** A deployment manifest read on the first-run set-up. */
export interface FirstRunManifestView {
  chainId: number;
  profile: string;
  institutions: { name: string; role: 'hospital' | 'pharmacy' | 'insurer'; address: string }[];
}

/** The role's consent ceiling and default (scope bits: read 1, write 2, prescribe 4, dispense 8). */
export interface ConsentLimits {
  ceiling: number;
  maxDays: number;
  defaultScope: number;
  defaultDays: number;
}

/** What the patient agrees to: scope bits and the window in days. */
export interface ConsentChoice {
  scope: number;
  days: number;
}

export type ScopeName = 'read' | 'write' | 'prescribe' | 'dispense';

/** A consent as the card signed it. */
export interface SignedView {
  scope: ScopeName[];
  /** End of the window (unix seconds). */
  validUntil: number;
}

export interface EmergencyReadView {
  time: number;
  readAt: number;
  hospital: string;
  clinician: string;
  reason: string;
}

export interface HeldConsentView {
  /** The institution's address (what a revoke names). */
  institution: string;
  name: string;
  role: string;
  scope: ScopeName[];
  validUntil: number;
}

export interface LogEntryView {
  time: number;
  block: number;
  event: string;
  institution: string | null;
  summary: string;
}

export interface Allergy {
  substance: string;
  high: boolean;
}

export interface EmergencySet {
  allergies: Allergy[];
  medications: string[];
  conditions: string[];
  implants: string[];
  bloodGroup: string | null;
  contact: { name: string; phone: string } | null;
}

export interface EmergencyCurrentView {
  set: EmergencySet;
  bloodGroups: string[];
}

export interface EmergencySavedView {
  record: TxView;
  onCard: boolean;
}

export interface EmergencyView {
  patientId: string;
  name: string | null;
  set: EmergencySet;
  trace: TxView;
}

export type ReaderState = 'no-service' | 'no-reader' | 'empty' | 'card';

export interface ReaderView {
  state: ReaderState;
  reader: string | null;
}

export interface PendingWrite {
  id: number;
  kind: string;
  state: string;
  txHash: string | null;
  link: string | null;
  attempts: number;
}

/** The kiosk's balance for gas. */
export interface GasStatus {
  account: string;
  balanceWei: string;
  thresholdWei: string;
  /** Below the threshold: IT must fund the account. */
  low: boolean;
  balance: string;
  symbol: string;
}

export interface StatusView {
  /** The node answers but asks the kiosk to slow down (not offline). */
  rateLimited: boolean;
  /** The kiosk's gas balance, when known. */
  gas: GasStatus | null;
  /** Writes included in a block that is not final yet. */
  notFinal: number;
  online: boolean;
  block: number | null;
  chainId: number | null;
  pending: PendingWrite[];
  reader: ReaderView;
}

export interface TxView {
  state: 'confirmed' | 'pending';
  txHash: string | null;
  block: number | null;
  link: string | null;
  reason: string | null;
}

export interface CardPeek {
  patientCard: boolean;
  triesLeft: number;
  blocked: boolean;
  /** Reset code tries left (0: none set, or blocked — only a replacement card helps then). */
  resetTriesLeft: number;
}

/** The issue letter of a card just issued, to print (src-tauri/src/views.rs `LetterView`). */
export interface LetterView {
  patientName: string;
  institution: string;
  /** YYYY-MM-DD */
  issuedOn: string;
  resetCode: string;
  /** 14 groups of 4 characters joined by dashes. */
  recoveryText: string;
  qrWidth: number;
  /** Row by row from the top left, '1' dark, '0' light. */
  qrModules: string;
}

export interface SavedLetter {
  path: string;
}

export interface LostView {
  patientId: string;
  tx: TxView | null;
  alreadyLost: boolean;
}

export interface PatientView {
  patientId: string;
  name: string;
  card: string;
}

export interface ReplacedView {
  patient: PatientView;
  tx: TxView;
}

/** A FHIR R4 resource as JSON. */
export interface FhirResource {
  resourceType: string;
  [field: string]: unknown;
}

export interface CheckInView {
  patientId: string;
  patient: FhirResource | null;
  records: number;
  consent: TxView;
  signed: SignedView;
  emergencyReads: EmergencyReadView[];
}

export interface HistoryItem {
  index: number;
  author: number;
  kind: number;
  time: number;
  supersedes: number | null;
  /** Null when the entry cannot be opened (see `unreadable`). */
  resource: FhirResource | null;
  unreadable: string | null;
}

export interface PickItem {
  code: string;
  display: string;
  dosage: string | null;
}

export type PrescriptionStatus = 'ready' | 'partly-dispensed' | 'dispensed' | 'cancelled' | 'expired' | 'unknown';

export interface PrescriptionView {
  id: number;
  issuer: number;
  status: PrescriptionStatus;
  /** Handed out so far, in parts of 10,000. */
  dispensedBps: number;
  validUntil: number;
  dispensable: boolean;
  /** Null when it cannot be opened (see `unreadable`). */
  request: FhirResource | null;
  unreadable: string | null;
}

export interface PharmacyOpenView {
  signed: SignedView;
  prescriptions: PrescriptionView[];
}

export interface DispenseView {
  tx: TxView;
  /** The part handed out now, of 10,000. */
  part: number;
  dispensedBps: number;
  status: PrescriptionStatus;
  /** The MedicationDispense written to the patient's record. */
  receipt: FhirResource;
  print: PrintView | null;
}

/** A document printed: sent to a printer (its CUPS job), or written to a file to print (delete it once printed). */
export interface PrintView {
  printer: string | null;
  job: string | null;
  path: string | null;
  opened: boolean;
  printerError: string | null;
}

/** A dispense on a prescription token: the write and its receipt. */
export interface TokenDispenseView {
  tx: TxView;
  print: PrintView | null;
}

export interface TokenCheckView {
  id: number;
  status: PrescriptionStatus;
  dispensedBps: number;
  validUntil: number;
  dispensable: boolean;
}

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

export interface PrescribedView {
  tx: TxView;
  id: number | null;
  print: PrintView | null;
}

export interface OverviewView {
  allergies: { substance: string; atcClass: string | null; high: boolean; source: string }[];
  current: { atc: string | null; display: string; source: string }[];
}

export type TimelineView =
  | ({ type: 'record' } & HistoryItem)
  | { type: 'prescription'; id: number; time: number; issuer: number; status: PrescriptionStatus; request: FhirResource | null }
  | {
      type: 'dispense';
      prescriptionId: number;
      time: number;
      pharmacy: number;
      part: number;
      byToken: boolean;
      dispense: FhirResource | null;
    };

/** One billed service (`unitPrice` in token base units). */
export interface ClaimItemInput {
  service: string;
  quantity: number;
  unitPrice: string;
}

export interface DecisionItemView {
  sequence: number;
  /** In tokens. */
  submitted: number | null;
  benefit: number | null;
  reason: string | null;
}

export interface HospitalClaimView {
  claim: ClaimView;
  disposition: string | null;
  items: DecisionItemView[];
}

export interface ReviewItemView {
  sequence: number;
  service: string;
  quantity: number;
  /** Base units. */
  net: string;
}

export interface ItemDecisionInput {
  sequence: number;
  /** Base units. */
  benefit: string;
  reason: string | null;
}

export interface DecidedView {
  tx: TxView;
  amount: string;
  pendingSecond: boolean;
  /** Approved and paid in the same transaction. */
  paid: boolean;
}

export type ClaimStatus = 'submitted' | 'approved' | 'denied' | 'paid' | 'pending-second';

export interface ClaimView {
  id: number;
  patientId: string;
  hospital: string;
  claimed: string;
  approved: string;
  status: ClaimStatus;
  reasonCode: number | null;
  txHash: string;
}

export interface ReviewView {
  claim: ClaimView;
  details: FhirResource;
  coverageBps: number;
  remaining: string;
  cap: string;
  items: ReviewItemView[];
  /** The token every amount is in. */
  symbol: string;
  decimals: number;
}

/** A command's failure (src-tauri/src/error.rs). */
export interface AppError {
  kind: string;
  message: string;
  triesLeft: number | null;
  revert: string | null;
}
