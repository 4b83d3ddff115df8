import { setLang } from '../src/i18n';
import { PIN_MAX, PinEntry, pinPad } from '../src/pinpad';

describe('PIN entry', () => {
  it('takes digits only, up to the maximum, and forgets the PIN once taken', () => {
    const e = new PinEntry();
    expect(e.press('a')).toBe(false);
    for (const d of '123456789') e.press(d);
    expect(e.length).toBe(PIN_MAX);
    e.back();
    expect(e.complete).toBe(true);
    expect(e.take()).toBe('1234567');
    expect(e.length).toBe(0);
  });
});

describe('PIN pad', () => {
  beforeEach(() => setLang('en'));
  it('submits with the on-screen keys only once the PIN is long enough', () => {
    const got: string[] = [];
    const pad = pinPad({ triesLeft: 3, onSubmit: (p) => got.push(p) });
    document.body.replaceChildren(pad);
    const ok = pad.querySelector<HTMLButtonElement>('#pin-ok')!;
    const press = (d: string) => pad.querySelector<HTMLButtonElement>(`[data-digit="${d}"]`)!.click();
    for (const d of '48291') press(d);
    expect(ok.disabled).toBe(true);
    press('6');
    expect(ok.disabled).toBe(false);
    expect(pad.querySelectorAll('.dot.on').length).toBe(6);
    ok.click();
    expect(got).toEqual(['482916']);
    expect(pad.querySelectorAll('.dot.on').length).toBe(0);
  });
  it('works from the keyboard and warns on the last try', () => {
    const got: string[] = [];
    const pad = pinPad({ triesLeft: 1, message: 'Wrong PIN. 1 tries left.', onSubmit: (p) => got.push(p) });
    document.body.replaceChildren(pad);
    for (const key of ['1', '2', '3', 'x', '4', '5', '6', 'Backspace', '7', 'Enter']) {
      pad.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true }));
    }
    expect(got).toEqual(['123457']);
    expect(pad.querySelector('#pin-tries')!.textContent).toContain('Last try');
    expect(pad.querySelector('#pin-message')!.textContent).toContain('Wrong PIN');
  });
});
