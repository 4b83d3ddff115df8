// What the shell answers, for the accessibility tests: every list non-empty, so each screen shows all it can.
import type { Ctx } from '../src/context';
import type {
  AppError,
  CheckInView,
  FirstRunManifestView,
  ClaimView,
  DispenseView,
  EmergencyCurrentView,
  EmergencyView,
  HeldConsentView,
  HospitalClaimView,
  KioskInfo,
  LetterView,
  LogEntryView,
  OverviewView,
  PharmacyOpenView,
  PickItem,
  ReviewView,
  Role,
  StatusView,
  TimelineView,
  TokenCheckView,
  TxView,
  Warning,
} from '../src/types';

const HASH = '0x' + '12'.repeat(32);
const ADDRESS = '0x' + 'ab'.repeat(20);
const TOKEN = 10n ** 18n;

export const LIMITS: Record<Role, KioskInfo['consent']> = {
  reception: { ceiling: 7, maxDays: 365, defaultScope: 7, defaultDays: 90 },
  doctor: { ceiling: 7, maxDays: 365, defaultScope: 7, defaultDays: 90 },
  pharmacy: { ceiling: 9, maxDays: 30, defaultScope: 9, defaultDays: 3 },
  insurer: { ceiling: 1, maxDays: 365, defaultScope: 1, defaultDays: 90 },
};

export function info(role: Role, over: Partial<KioskInfo> = {}): KioskInfo {
  return {
    role,
    lang: 'en',
    ready: true,
    error: null,
    profile: 'local',
    chainId: 31337,
    rpcUrl: 'http://127.0.0.1:8545',
    explorer: 'http://explorer.local',
    address: ADDRESS,
    institution: 'Demo Hospital',
    institutionId: 1,
    reader: 'Virtual PCD 00 00',
    idleTimeoutSecs: 120,
    tokenSymbol: 'tUSD',
    tokenDecimals: 18,
    consent: LIMITS[role],
    textScale: null,
    kioskMode: false,
    firstRun: false,
    fromSetup: false,
    enrolment: null,
    ...over,
  };
}

export function status(over: Partial<StatusView> = {}): StatusView {
  return {
    rateLimited: false,
    gas: null,
    notFinal: 0,
    online: true,
    block: 42,
    chainId: 31337,
    pending: [],
    reader: { state: 'empty', reader: 'Virtual PCD 00 00' },
    ...over,
  };
}

export const tx = (state: TxView['state'] = 'confirmed'): TxView => ({
  state,
  txHash: HASH,
  block: state === 'confirmed' ? 42 : null,
  link: state === 'confirmed' ? `http://explorer.local/tx/${HASH}` : null,
  reason: null,
});

const concept = (code: string, display: string) => ({ coding: [{ code, display }], text: display });
const request = (id: number) => ({
  resourceType: 'MedicationRequest',
  id: String(id),
  medicationCodeableConcept: concept('J01CA04', 'Amoxicillin 500 mg'),
  dosageInstruction: [{ text: '1 capsule 3 times a day' }],
  dispenseRequest: { quantity: { value: 20, unit: 'capsule' } },
});

const picks: PickItem[] = [
  { code: 'J45', display: 'Asthma', dosage: null },
  { code: 'J01CA04', display: 'Amoxicillin 500 mg', dosage: '1 capsule 3 times a day' },
];

const timeline: TimelineView[] = [
  { type: 'record', index: 0, author: 1, kind: 1, time: 1_760_000_000, supersedes: null, resource: { resourceType: 'Condition', code: concept('J45', 'Asthma'), note: [{ text: 'mild' }] }, unreadable: null },
  { type: 'record', index: 1, author: 1, kind: 1, time: 1_760_000_100, supersedes: 0, resource: { resourceType: 'Condition', code: concept('J45', 'Asthma') }, unreadable: null },
  { type: 'record', index: 2, author: 2, kind: 1, time: 1_760_000_200, supersedes: null, resource: null, unreadable: 'no key for this author' },
  { type: 'prescription', id: 1, time: 1_760_000_300, issuer: 1, status: 'ready', request: request(1) },
  { type: 'prescription', id: 2, time: 1_760_000_400, issuer: 1, status: 'cancelled', request: null },
  { type: 'dispense', prescriptionId: 1, time: 1_760_000_500, pharmacy: 3, part: 5000, byToken: true, dispense: { resourceType: 'MedicationDispense', medicationCodeableConcept: concept('J01CA04', 'Amoxicillin 500 mg'), quantity: { value: 10, unit: 'capsule' }, extension: [{ url: 'batch', valueString: 'B-1' }] } },
];

const overview: OverviewView = {
  allergies: [{ substance: 'penicillin', atcClass: 'J01C', high: true, source: 'Demo Hospital' }],
  current: [{ atc: 'R03AC02', display: 'Salbutamol inhaler', source: 'Demo Hospital' }],
};

const claim = (id: number, status: ClaimView['status']): ClaimView => ({
  id,
  patientId: '0x' + 'cd'.repeat(32),
  hospital: ADDRESS,
  claimed: (100n * TOKEN).toString(),
  approved: status === 'submitted' ? '0' : (80n * TOKEN).toString(),
  status,
  reasonCode: null,
  txHash: HASH,
});

const hospitalClaims: HospitalClaimView[] = [
  { claim: claim(1, 'approved'), disposition: 'Approved in part', items: [{ sequence: 1, submitted: 60, benefit: 48, reason: null }, { sequence: 2, submitted: 40, benefit: 0, reason: 'Not covered' }] },
  { claim: claim(2, 'submitted'), disposition: null, items: [] },
];

const review = (c: ClaimView): ReviewView => ({
  claim: c,
  details: { resourceType: 'Claim', item: [{ productOrService: concept('CONS', 'Consultation') }] },
  coverageBps: 8000,
  remaining: (5000n * TOKEN).toString(),
  cap: (80n * TOKEN).toString(),
  items: [
    { sequence: 1, service: 'CONS — Consultation', quantity: 1, net: (60n * TOKEN).toString() },
    { sequence: 2, service: 'XRAY — Chest X-ray', quantity: 1, net: (40n * TOKEN).toString() },
  ],
  symbol: 'tUSD',
  decimals: 18,
});

const consents: HeldConsentView[] = [
  { institution: ADDRESS, name: 'Demo Hospital', role: 'hospital', scope: ['read', 'write'], validUntil: 1_790_000_000 },
  { institution: '0x' + 'ef'.repeat(20), name: 'Demo Pharmacy', role: 'pharmacy', scope: ['read', 'dispense'], validUntil: 1_790_000_000 },
];

const log: LogEntryView[] = [
  { time: 1_760_000_000, block: 10, event: 'consent', institution: ADDRESS, summary: 'Demo Hospital may read and write' },
  { time: 1_760_000_100, block: 11, event: 'emergency-read', institution: ADDRESS, summary: 'Emergency read by Dr House' },
];

const emergencySet = {
  allergies: [{ substance: 'penicillin', high: true }, { substance: 'latex', high: false }],
  medications: ['Salbutamol'],
  conditions: ['Asthma'],
  implants: [],
  bloodGroup: 'A+',
  contact: { name: 'John Roe', phone: '+33 1 23 45 67 89' },
};

export const letter: LetterView = {
  patientName: 'Jane Roe-Example',
  institution: 'Demo Hospital',
  issuedOn: '2026-12-02',
  resetCode: '48120975',
  recoveryText: 'AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-JJJJ-KKKK-MMMM-NNNN-PPPP-QQQQ',
  qrWidth: 3,
  qrModules: '110001111',
};

const warnings: Warning[] = [
  { kind: 'allergy', substance: 'penicillin', drug: 'Amoxicillin' },
  { kind: 'duplicate', drug: 'Amoxicillin', current: 'Amoxicillin 250 mg' },
];

/** A token the printer refused, saved as a file instead. */
const print = {
  printer: null,
  job: null,
  path: '/tmp/carekiosk/print/token-1.pdf',
  opened: false,
  printerError: 'printer counter: lp: The printer or class does not exist.',
};

/** The shell's answer to each command (null for the commands that answer nothing). */
export function answer(cmd: string, args: Record<string, unknown> = {}): unknown {
  switch (cmd) {
    case 'kiosk_status':
      return status();
    case 'icd10_search':
    case 'formulary_search':
    case 'service_codes':
    case 'denial_reasons':
      return picks;
    case 'card_peek':
      return { patientCard: true, triesLeft: 3, blocked: false, resetTriesLeft: 3 };
    case 'card_unlock':
      return { patientId: '0x' + 'cd'.repeat(32), name: 'Jane Roe-Example', card: 'CK-0001' };
    case 'reception_check_in':
      return {
        patientId: '0x' + 'cd'.repeat(32),
        patient: { resourceType: 'Patient', name: [{ text: 'Jane Roe-Example' }], birthDate: '1980-02-03', gender: 'female' },
        records: 4,
        consent: tx(),
        signed: { scope: ['read', 'write', 'prescribe'], validUntil: 1_790_000_000 },
        emergencyReads: [{ time: 1_760_000_100, readAt: 1_760_000_100, hospital: 'Other Hospital', clinician: 'Dr House', reason: 'unconscious' }],
      } satisfies CheckInView;
    case 'doctor_timeline':
      return timeline;
    case 'doctor_overview':
      return overview;
    case 'doctor_claims':
      return hospitalClaims;
    case 'doctor_warnings':
      return warnings;
    case 'doctor_prescribe':
      return { tx: tx(), id: 3, print };
    case 'doctor_consult':
      return { tx: tx(), prescriptions: [{ tx: tx(), id: 3, print: null }] };
    case 'pharmacy_open':
      return {
        signed: { scope: ['read', 'dispense'], validUntil: 1_790_000_000 },
        prescriptions: [
          { id: 1, issuer: 1, status: 'ready', dispensedBps: 0, validUntil: 1_790_000_000, dispensable: true, request: request(1), unreadable: null },
          { id: 4, issuer: 1, status: 'partly-dispensed', dispensedBps: 5000, validUntil: 1_790_000_000, dispensable: true, request: { ...request(4), substitution: { allowedBoolean: false } }, unreadable: null },
          { id: 5, issuer: 2, status: 'ready', dispensedBps: 0, validUntil: 1_790_000_000, dispensable: false, request: null, unreadable: 'no key' },
        ],
      } satisfies PharmacyOpenView;
    case 'pharmacy_dispense':
      return {
        tx: tx(),
        part: 5000,
        dispensedBps: 5000,
        status: 'partly-dispensed',
        receipt: { resourceType: 'MedicationDispense', medicationCodeableConcept: concept('J01CA04', 'Amoxicillin 500 mg'), quantity: { value: 10, unit: 'capsule' } },
        // The receipt sent to the counter's printer.
        print: { printer: 'counter', job: 'counter-3', path: null, opened: false, printerError: null },
      } satisfies DispenseView;
    case 'pharmacy_token_check':
      return { id: 1, status: 'ready', dispensedBps: 0, validUntil: 1_790_000_000, dispensable: true } satisfies TokenCheckView;
    case 'insurer_queue':
      return [claim(2, 'submitted'), claim(3, 'submitted')];
    case 'insurer_pending':
      return [claim(4, 'pending-second')];
    case 'insurer_paid':
      return [claim(5, 'paid')];
    case 'insurer_review':
      return review(claim(Number(args.id ?? 2), Number(args.id) === 6 ? 'approved' : 'submitted'));
    case 'patient_consents':
      return consents;
    case 'patient_access_log':
      return log;
    case 'emergency_current':
      return { set: emergencySet, bloodGroups: ['A+', 'A-', 'B+', 'B-', 'AB+', 'AB-', 'O+', 'O-'] } satisfies EmergencyCurrentView;
    case 'emergency_read':
      return { patientId: '0x' + 'cd'.repeat(32), name: 'Jane Roe-Example', set: emergencySet, trace: tx('pending') } satisfies EmergencyView;
    case 'letter_show':
      return letter;
    case 'firstrun_manifest':
      return {
        chainId: 31337,
        profile: 'local',
        institutions: [
          { name: 'Demo Hospital', role: 'hospital', address: '0x' + '11'.repeat(20) },
          { name: 'Demo Pharmacy', role: 'pharmacy', address: '0x' + '22'.repeat(20) },
        ],
      } satisfies FirstRunManifestView;
    case 'firstrun_readers':
      return ['Front desk reader 00 00', 'Virtual PCD 00 00'];
    case 'firstrun_save':
      return '0x' + '33'.repeat(20);
    case 'letter_save_pdf':
      return { path: '/tmp/carekiosk-letter.pdf' };
    case 'reception_report_lost':
      return { patientId: '0x' + 'cd'.repeat(32), tx: tx(), alreadyLost: false };
    default:
      return null;
  }
}

/** A screen's context: the role's kiosk info, the patient in, calls answered from `answer`. */
export function fakeCtx(role: Role, errors: AppError[] = []): Ctx {
  return {
    info: info(role),
    status: status(),
    patient: { patientId: '0x' + 'cd'.repeat(32), name: 'Jane Roe-Example', card: 'CK-0001' },
    token: { symbol: 'tUSD', decimals: 18 },
    async run<T>(call: () => Promise<T>, _write?: boolean, handle?: (e: AppError) => boolean) {
      try {
        return await call();
      } catch (e) {
        if (!handle?.(e as AppError)) errors.push(e as AppError);
        return undefined;
      }
    },
    showTx: () => undefined,
    notify: () => undefined,
    endVisit: () => undefined,
  };
}
