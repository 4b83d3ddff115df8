import { coverage, formatUnits, parseUnits, percent, shortHash, summarize } from '../src/format';

describe('amounts', () => {
  it('formats base units with grouping and rounding', () => {
    expect(formatUnits('96000000000000000000', 18)).toBe('96.00');
    expect(formatUnits('1234567890000000000000', 18)).toBe('1,234.57');
    expect(formatUnits('5', 18)).toBe('0.00');
    expect(formatUnits('5000000000000000', 18)).toBe('0.01');
  });
  it('parses typed amounts back into base units', () => {
    expect(parseUnits('96', 18)).toBe('96000000000000000000');
    expect(parseUnits('96.5', 18)).toBe('96500000000000000000');
    expect(parseUnits('1,000.25', 2)).toBe('100025');
    expect(parseUnits('abc', 18)).toBeNull();
    expect(parseUnits('-3', 18)).toBeNull();
  });
  it('round-trips what it formats', () => {
    for (const v of ['0', '1000000000000000000', '120000000000000000000', '99990000000000000000']) {
      expect(parseUnits(formatUnits(v, 18).replace(/,/g, ''), 18)).toBe(v);
    }
  });
});

describe('coverage arithmetic', () => {
  it('caps at the rate', () => {
    const c = coverage('120000000000000000000', 8000, '5000000000000000000000');
    expect(c.byRate).toBe(96000000000000000000n);
    expect(c.cap).toBe(96000000000000000000n);
  });
  it('caps at what is left of the annual limit', () => {
    const c = coverage('120000000000000000000', 8000, '50000000000000000000');
    expect(c.cap).toBe(50000000000000000000n);
  });
  it('rounds down like the contract', () => {
    expect(coverage('3', 3333, '100').byRate).toBe(0n);
    expect(coverage('10001', 5000, '100000').byRate).toBe(5000n);
  });
  it('shows percentages', () => {
    expect(percent(8000)).toBe('80 %');
    expect(percent(1250)).toBe('12.50 %');
  });
});

describe('summaries', () => {
  it('summarises the resources the timeline shows', () => {
    expect(
      summarize({
        resourceType: 'Condition',
        code: { coding: [{ code: 'J06.9', display: 'Acute upper respiratory infection, unspecified' }] },
        note: [{ text: 'sore throat' }],
      } as never),
    ).toEqual({ title: 'J06.9 Acute upper respiratory infection, unspecified', detail: 'sore throat' });
    expect(
      summarize({ resourceType: 'Patient', name: [{ text: 'Jane Roe' }], birthDate: '1984-03-12', gender: 'female' } as never),
    ).toEqual({ title: 'Jane Roe', detail: '1984-03-12 · female' });
    const rx = summarize({
      resourceType: 'MedicationRequest',
      medicationCodeableConcept: { coding: [{ code: 'J01CA04', display: 'Amoxicillin 500 mg capsule' }] },
      dosageInstruction: [{ text: '1 tablet 3 times a day' }],
      dispenseRequest: { quantity: { value: 20, unit: 'capsule' } },
    } as never);
    expect(rx.title).toContain('Amoxicillin');
    expect(rx.detail).toBe('20 capsule · 1 tablet 3 times a day');
    expect(summarize({ resourceType: 'Consent' }).title).toBe('Consent');
  });
  it('shortens hashes', () => {
    expect(shortHash('0x1234567890abcdef1234')).toBe('0x1234…1234');
    expect(shortHash(null)).toBe('');
  });
});

describe('a dispense on the timeline and the receipt', () => {
  it('names a substitute by what was handed out, else by the prescribed coding', () => {
    const coding = { coding: [{ code: 'J01CA04', display: 'Amoxicillin' }], text: 'Amoxicillin 500 mg generic' };
    const substituted = summarize({ resourceType: 'MedicationDispense', medicationCodeableConcept: coding, substitution: { wasSubstituted: true } });
    expect(substituted.title).toBe('Amoxicillin 500 mg generic');
    const prescribed = summarize({ resourceType: 'MedicationDispense', medicationCodeableConcept: coding });
    expect(prescribed.title).toBe('J01CA04 Amoxicillin');
  });
});
