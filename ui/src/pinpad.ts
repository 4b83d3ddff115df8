// The on-screen PIN pad: large keys, tries left, typed digits shown as dots. Keyboard digits, Backspace and
// Enter work as well. The PIN lives only in this closure until it is handed to the card. The same pad takes the
// reset code (8 digits) and a new PIN (typed twice) in the card's life steps.
import { h, replace } from './dom';
import { t } from './i18n';

export const PIN_MIN = 6;
export const PIN_MAX = 8;

/** Attributes of a typed (not padded) PIN field in a form: a new patient's or a replacement card's PIN. */
export const PIN_FIELD = {
  type: 'password',
  inputmode: 'numeric',
  pattern: `\\d{${PIN_MIN},${PIN_MAX}}`,
  minlength: PIN_MIN,
  maxlength: PIN_MAX,
  required: true,
  autocomplete: 'off',
};

/** The same for a blank card's admin PIN (8 to 32 characters). */
export const ADMIN_PIN_FIELD = { ...PIN_FIELD, minlength: 8, maxlength: 32, pattern: '.{8,32}' };

/** The PIN being typed. */
export class PinEntry {
  private digits = '';

  constructor(
    readonly min = PIN_MIN,
    readonly max = PIN_MAX,
  ) {}

  press(key: string): boolean {
    if (/^\d$/.test(key) && this.digits.length < this.max) {
      this.digits += key;
      return true;
    }
    return false;
  }

  back(): void {
    this.digits = this.digits.slice(0, -1);
  }

  clear(): void {
    this.digits = '';
  }

  get length(): number {
    return this.digits.length;
  }

  get complete(): boolean {
    return this.digits.length >= this.min;
  }

  /** Hands the PIN over and forgets it. */
  take(): string {
    const p = this.digits;
    this.digits = '';
    return p;
  }
}

export interface PinPadOptions {
  /** Tries left on the card (a warning on the last one); null or absent: not shown. */
  triesLeft?: number | null;
  message?: string;
  /** The pad's heading (default: "Enter your PIN"). */
  title?: string;
  /** The heading's level: 1 when the pad is the whole screen (the PIN screen), else 2 (in a screen's flow). */
  heading?: 1 | 2;
  /** A line under the heading (what to type). */
  hint?: string;
  /** Digits accepted (default 6 to 8). */
  min?: number;
  max?: number;
  /** Names the step (`data-step`), when a flow shows several pads one after the other. */
  step?: string;
  onSubmit: (pin: string) => void;
  /** Adds a Cancel button. */
  onCancel?: () => void;
}

export function pinPad(o: PinPadOptions): HTMLElement {
  const entry = new PinEntry(o.min ?? PIN_MIN, o.max ?? PIN_MAX);
  const title = o.title ?? t('pin.title');
  const hintId = o.hint ? 'pin-hint' : null;
  // The dots say how many digits are typed (never which): shown as dots, read as "3 digits typed".
  const dots = h('div', { class: 'pin-dots', id: 'pin-dots', role: 'status' });
  const ok = h('button', { class: 'key key-ok', id: 'pin-ok', type: 'button', disabled: true }, t('pin.ok'));
  const refresh = () => {
    replace(
      dots,
      ...Array.from({ length: Math.max(entry.length, entry.min) }, (_, i) =>
        h('span', { class: i < entry.length ? 'dot on' : 'dot', 'aria-hidden': 'true' }),
      ),
      h('span', { class: 'sr-only' }, t('pin.typed', { count: entry.length })),
    );
    ok.disabled = !entry.complete;
  };
  const submit = () => {
    if (entry.complete) o.onSubmit(entry.take());
    refresh();
  };
  ok.addEventListener('click', submit);
  const key = (d: string) =>
    h('button', { class: 'key', type: 'button', 'data-digit': d, onclick: () => (entry.press(d), refresh()) }, d);
  const pad = h(
    'div',
    { class: 'pin-keys' },
    ...['1', '2', '3', '4', '5', '6', '7', '8', '9'].map(key),
    h(
      'button',
      { class: 'key key-fn', id: 'pin-back', type: 'button', 'aria-label': t('pin.backLabel'), onclick: () => (entry.back(), refresh()) },
      t('pin.back'),
    ),
    key('0'),
    ok,
  );
  const tries =
    o.triesLeft === undefined || o.triesLeft === null
      ? null
      : o.triesLeft <= 1
        ? h('p', { class: 'warn', id: 'pin-tries' }, t('pin.lastTry'))
        : h('p', { class: 'muted', id: 'pin-tries' }, t('pin.tries', { tries: o.triesLeft }));
  const root = h(
    'section',
    {
      class: 'pin-pad',
      id: 'pin-pad',
      tabindex: -1,
      'data-step': o.step ?? 'pin',
      'aria-labelledby': 'pin-title',
      'aria-describedby': hintId,
    },
    h(o.heading === 1 ? 'h1' : 'h2', { id: 'pin-title' }, title),
    o.hint ? h('p', { class: 'muted', id: 'pin-hint' }, o.hint) : null,
    o.message ? h('p', { class: 'error', id: 'pin-message', role: 'alert' }, o.message) : null,
    dots,
    tries,
    pad,
    o.onCancel
      ? h('button', { class: 'pin-cancel', id: 'pin-cancel', type: 'button', onclick: o.onCancel }, t('common.cancel'))
      : null,
  );
  root.addEventListener('keydown', (ev) => {
    // Enter or Space on a focused key presses that key (the browser clicks it).
    if ((ev.key === 'Enter' || ev.key === ' ') && ev.target instanceof HTMLButtonElement) return;
    if (ev.key === 'Enter') submit();
    else if (ev.key === 'Backspace') entry.back();
    else if (ev.key === 'Escape') entry.clear();
    else if (!entry.press(ev.key)) return;
    ev.preventDefault();
    refresh();
  });
  refresh();
  return root;
}
