import { claimTotal, debounce, decidedAmount, defaultBenefit, partOf, prescribedQuantity, remainingQuantity, substitutionAllowed, tokenInput, unconfirmed } from '../src/desks';
import type { FhirResource, Warning } from '../src/types';

const rx = (value: number, allowed?: boolean): FhirResource => ({
  resourceType: 'MedicationRequest',
  dispenseRequest: { quantity: { value, unit: 'capsule' } },
  ...(allowed === undefined ? {} : { substitution: { allowedBoolean: allowed } }),
});

describe('partial dispensing', () => {
  it('hands out what remains by default', () => {
    expect(prescribedQuantity(rx(40))).toBe(40);
    expect(prescribedQuantity(null)).toBe(1);
    expect(remainingQuantity(40, 0)).toBe(40);
    expect(remainingQuantity(40, 5000)).toBe(20);
    expect(remainingQuantity(40, 10000)).toBe(0);
    expect(remainingQuantity(30, 3333)).toBe(20);
  });

  it('turns a quantity into parts of 10,000, the rest exactly', () => {
    expect(partOf(20, 40, 0)).toBe(5000);
    expect(partOf(20, 40, 5000)).toBe(5000);
    expect(partOf(10, 30, 0)).toBe(3333);
    expect(partOf(20, 30, 3333)).toBe(6667);
    expect(partOf(0, 40, 0)).toBe(0);
  });

  it('offers substitution only where the prescription allows it', () => {
    expect(substitutionAllowed(rx(40, false))).toBe(false);
    expect(substitutionAllowed(rx(40, true))).toBe(true);
    expect(substitutionAllowed(rx(40))).toBe(true);
  });
});

describe('claims', () => {
  const unit = 10n ** 18n;
  it('default each item to its net × coverage and cap the sum', () => {
    expect(defaultBenefit((60n * unit).toString(), 8000)).toBe((48n * unit).toString());
    expect(claimTotal([{ quantity: 2, unitPrice: (30n * unit).toString() }, { quantity: 1, unitPrice: (40n * unit).toString() }])).toBe(
      (100n * unit).toString(),
    );
    expect(decidedAmount(['60', '40'], '80')).toBe('80');
    expect(decidedAmount(['60', '0'], '80')).toBe('60');
  });
});

describe('warnings', () => {
  it('are confirmed one by one, whatever the key order', () => {
    const a: Warning = { kind: 'allergy', substance: 'penicillin', drug: 'Amoxicillin' };
    const d: Warning = { kind: 'duplicate', drug: 'Amoxicillin', current: 'Amoxicillin 500 mg' };
    expect(unconfirmed([a, d], [{ drug: 'Amoxicillin', substance: 'penicillin', kind: 'allergy' }])).toEqual([d]);
    expect(unconfirmed([a], [a])).toEqual([]);
  });
});

describe('type-ahead and tokens', () => {
  it('searches once the typing pauses', () => {
    vi.useFakeTimers();
    const f = vi.fn();
    const d = debounce(f, 150);
    d('a');
    d('am');
    d('amo');
    vi.advanceTimersByTime(149);
    expect(f).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(f).toHaveBeenCalledOnce();
    expect(f).toHaveBeenCalledWith('amo');
    vi.useRealTimers();
  });

  it('takes the QR payload first, else the number and the code', () => {
    expect(tokenInput(' CKRX1:31337:0xab:1:CODE ', '', '')).toEqual({ payload: 'CKRX1:31337:0xab:1:CODE', id: null, code: null });
    expect(tokenInput('', '7', ' abcd-efgh ')).toEqual({ payload: null, id: 7, code: 'abcd-efgh' });
    expect(tokenInput('', 'x', '')).toEqual({ payload: null, id: null, code: null });
  });
});
