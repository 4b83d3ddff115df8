import { asAppError, api, isAppError } from '../src/api';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }));

describe('command wrappers', () => {
  beforeEach(() => invoke.mockReset().mockResolvedValue(undefined));

  it('call the shell commands by name with camelCase arguments', async () => {
    await api.cardUnlock('482916');
    await api.receptionRegister({ name: 'A', birthDate: '1990-01-01', gender: 'other', adminPin: '12345678', pin: '123456' });
    await api.doctorPrescribe(
      { atc: 'J01CA04', quantity: 20, dosage: null, days: 28, prescriber: 'Dr. Weber', substitutionAllowed: true, token: false },
      [{ kind: 'allergy', substance: 'penicillin', drug: 'Amoxicillin' }],
    );
    await api.doctorConsult({
      id: 'c1',
      icd10: 'J06.9',
      note: null,
      plan: ['rest'],
      prescriptions: [{ atc: 'J01CA04', quantity: 20, dosage: null, days: 28, prescriber: null, substitutionAllowed: true, token: false }],
      confirmed: [],
      items: [{ service: 'CONS', quantity: 1, unitPrice: '60000000000000000000' }],
      practitioner: 'Dr. Weber',
    });
    await api.insurerDecide(3, [{ sequence: 1, benefit: '0', reason: 'not covered' }], true);
    await api.pharmacyDispense(1, 20, null, 'LOT-1');
    await api.cardUnblock('48120975', '902618', '902618');
    await api.receptionReplace({ name: 'A', adminPin: '12345678', pin: '551903', pinAgain: '551903' });
    await api.receptionCheckIn({ scope: 1, days: 7 });
    await api.pharmacyOpen({ scope: 9, days: 3 });
    await api.patientRevoke('0x00000000000000000000000000000000000000aa');
    await api.emergencyRead('Dr. Weber', 'unconscious');
    expect(invoke.mock.calls).toEqual([
      ['card_unlock', { pin: '482916' }],
      ['reception_register', { name: 'A', birthDate: '1990-01-01', gender: 'other', adminPin: '12345678', pin: '123456' }],
      [
        'doctor_prescribe',
        {
          atc: 'J01CA04',
          quantity: 20,
          dosage: null,
          days: 28,
          prescriber: 'Dr. Weber',
          substitutionAllowed: true,
          token: false,
          confirmed: [{ kind: 'allergy', substance: 'penicillin', drug: 'Amoxicillin' }],
        },
      ],
      [
        'doctor_consult',
        {
          id: 'c1',
          icd10: 'J06.9',
          note: null,
          plan: ['rest'],
          prescriptions: [{ atc: 'J01CA04', quantity: 20, dosage: null, days: 28, prescriber: null, substitutionAllowed: true, token: false }],
          confirmed: [],
          items: [{ service: 'CONS', quantity: 1, unitPrice: '60000000000000000000' }],
          practitioner: 'Dr. Weber',
        },
      ],
      ['insurer_decide', { id: 3, items: [{ sequence: 1, benefit: '0', reason: 'not covered' }], pay: true }],
      ['pharmacy_dispense', { id: 1, quantity: 20, substitute: null, batch: 'LOT-1' }],
      ['card_unblock', { resetCode: '48120975', pin: '902618', pinAgain: '902618' }],
      ['reception_replace', { name: 'A', adminPin: '12345678', pin: '551903', pinAgain: '551903' }],
      ['reception_check_in', { scope: 1, days: 7 }],
      ['pharmacy_open', { scope: 9, days: 3 }],
      ['patient_revoke', { institution: '0x00000000000000000000000000000000000000aa' }],
      ['emergency_read', { clinician: 'Dr. Weber', reason: 'unconscious' }],
    ]);
  });

  it('name every command the capability file grants', async () => {
    const cap = (await import('../../src-tauri/capabilities/kiosk.json')).default as { permissions: string[] };
    const granted = cap.permissions.filter((p) => p.startsWith('allow-')).map((p) => p.slice(6).replace(/-/g, '_')).sort();
    const src = (await import('../src/api.ts?raw')).default as string;
    const used = [...src.matchAll(/invoke<[^>]*>\('([a-z0-9_]+)'/g)].map((m) => m[1]).sort();
    expect(used).toEqual(granted);
  });
});

describe('errors', () => {
  it('recognises the shell error shape and wraps anything else', () => {
    const e = { kind: 'wrong-pin', message: 'wrong PIN: 2 tries left', triesLeft: 2, revert: null };
    expect(isAppError(e)).toBe(true);
    expect(asAppError(e)).toBe(e);
    expect(asAppError('boom')).toEqual({ kind: 'other', message: 'boom', triesLeft: null, revert: null });
    expect(asAppError(new Error('x')).message).toBe('x');
  });
});
