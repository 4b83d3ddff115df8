import { askable, checkChoice, defaultChoice, scopeBits, scopeNames } from '../src/consent';
import type { ConsentLimits } from '../src/types';

const HOSPITAL: ConsentLimits = { ceiling: 7, maxDays: 365, defaultScope: 7, defaultDays: 90 };
const PHARMACY: ConsentLimits = { ceiling: 9, maxDays: 30, defaultScope: 9, defaultDays: 3 };
const INSURER: ConsentLimits = { ceiling: 1, maxDays: 365, defaultScope: 1, defaultDays: 90 };

describe('the consent choice', () => {
  it('asks each role for what its ceiling allows, and no more', () => {
    expect(askable(HOSPITAL)).toEqual(['read', 'write', 'prescribe']);
    expect(askable(PHARMACY)).toEqual(['read', 'dispense']);
    expect(askable(INSURER)).toEqual(['read']);
  });

  it('preselects the role default', () => {
    expect(defaultChoice(HOSPITAL)).toEqual({ scope: 7, days: 90 });
    expect(defaultChoice(PHARMACY)).toEqual({ scope: 9, days: 3 });
  });

  it('turns ticked names into bits and back', () => {
    expect(scopeBits(['read'])).toBe(1);
    expect(scopeBits(['read', 'dispense'])).toBe(9);
    expect(scopeBits([])).toBe(0);
    expect(scopeNames(7)).toEqual(['read', 'write', 'prescribe']);
    expect(scopeNames(scopeBits(['dispense', 'read']))).toEqual(['read', 'dispense']);
  });

  it('lets the patient narrow it, and refuses what the hub would refuse', () => {
    expect(checkChoice({ scope: 1, days: 7 }, HOSPITAL)).toBeNull();
    expect(checkChoice({ scope: 8, days: 1 }, PHARMACY)).toBeNull();
    expect(checkChoice({ scope: 0, days: 7 }, HOSPITAL)).toBe('none-chosen');
    expect(checkChoice({ scope: 8, days: 7 }, HOSPITAL)).toBe('beyond-ceiling');
    expect(checkChoice({ scope: 2, days: 3 }, PHARMACY)).toBe('beyond-ceiling');
    expect(checkChoice({ scope: 1, days: 0 }, HOSPITAL)).toBe('days');
    expect(checkChoice({ scope: 1, days: 366 }, HOSPITAL)).toBe('days');
    expect(checkChoice({ scope: 9, days: 31 }, PHARMACY)).toBe('days');
    expect(checkChoice({ scope: 1, days: 2.5 }, HOSPITAL)).toBe('days');
  });
});

describe('the consent choice on screen', () => {
  it('ticks the role default, lets the patient narrow it, and refuses nothing ticked', async () => {
    const { consentChoice } = await import('../src/screens/consent');
    const notices: string[] = [];
    const form = consentChoice(HOSPITAL, (text) => notices.push(text));
    const box = (n: string) => form.el.querySelector<HTMLInputElement>(`#scope-${n}`);
    expect(box('read')?.checked).toBe(true);
    expect(box('write')?.checked).toBe(true);
    expect(box('prescribe')?.checked).toBe(true);
    expect(box('dispense')).toBeNull();
    expect(form.el.querySelector<HTMLInputElement>('#consent-days')?.value).toBe('90');
    expect(form.value()).toEqual({ scope: 7, days: 90 });
    box('write')!.checked = false;
    box('prescribe')!.checked = false;
    form.el.querySelector<HTMLInputElement>('#consent-days')!.value = '7';
    expect(form.value()).toEqual({ scope: 1, days: 7 });
    box('read')!.checked = false;
    expect(form.value()).toBeNull();
    expect(notices).toHaveLength(1);
  });

  it('offers a pharmacy read and dispense for three days', async () => {
    const { consentChoice } = await import('../src/screens/consent');
    const form = consentChoice(PHARMACY, () => undefined);
    expect([...form.el.querySelectorAll('input[type=checkbox]')].map((b) => b.id)).toEqual(['scope-read', 'scope-dispense']);
    expect(form.value()).toEqual({ scope: 9, days: 3 });
  });
});
