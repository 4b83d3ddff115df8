// The consent choice shown before the card signs (reception check-in, the pharmacy counter): the scopes the
// desk asks for, within its role's ceiling, with the role's default ticked, and the window in days — the patient
// may narrow both. Then, what the card signed; and at check-in, every emergency read of the patient's set.
import { checkChoice, defaultChoice, askable, scopeBits } from '../consent';
import { field, h } from '../dom';
import { formatDate } from '../format';
import { t } from '../i18n';
import type { ConsentChoice, ConsentLimits, EmergencyReadView, SignedView } from '../types';

export interface ConsentForm {
  el: HTMLElement;
  /** The choice, or null after telling the patient what to change. */
  value(): ConsentChoice | null;
}

export function consentChoice(limits: ConsentLimits, notify: (text: string, kind: 'error') => void): ConsentForm {
  const preset = defaultChoice(limits);
  const boxes = askable(limits).map((name) => {
    const bit = scopeBits([name]);
    const box = h('input', { type: 'checkbox', class: 'check', id: `scope-${name}`, value: name, checked: (preset.scope & bit) !== 0 });
    return {
      name,
      box,
      el: h(
        'label',
        { class: 'check-field scope-choice', for: `scope-${name}` },
        box,
        h('span', {}, h('strong', {}, t(`scope.${name}`)), ' — ', h('span', { class: 'muted' }, t(`scopeHint.${name}`))),
      ),
    };
  });
  const days = h('input', { id: 'consent-days', type: 'number', min: 1, max: limits.maxDays, step: 1, value: preset.days, required: true });
  const el = h(
    'fieldset',
    { class: 'form consent-choice', id: 'consent-choice' },
    h('legend', {}, t('consent.title')),
    h('p', { class: 'muted' }, t('consent.hint')),
    ...boxes.map((b) => b.el),
    field(t('consent.window', { max: limits.maxDays }), days),
  );
  return {
    el,
    value() {
      const choice = { scope: scopeBits(boxes.filter((b) => b.box.checked).map((b) => b.name)), days: Number(days.value) };
      const problem = checkChoice(choice, limits);
      if (problem) {
        notify(t(`consent.${problem}`, { max: limits.maxDays }), 'error');
        return null;
      }
      return choice;
    },
  };
}

/** What the card signed, in one line; `withDispense`: what it will sign with the first dispense (the pharmacy's
 * consent goes in the same transaction as its dispense). */
export function signedLine(s: SignedView, withDispense = false): HTMLElement {
  return h(
    'p',
    { class: 'signed', id: 'consent-signed', 'data-scope': s.scope.join(',') },
    t(withDispense ? 'consent.withDispense' : 'consent.signed', {
      scopes: s.scope.map((n) => t(`scope.${n}`)).join(', '),
      date: formatDate(s.validUntil),
    }),
  );
}

/** Every emergency read of the patient's emergency set, prominently (nothing when there was none). */
export function emergencyReads(reads: EmergencyReadView[]): HTMLElement | null {
  if (reads.length === 0) return null;
  return h(
    'div',
    { class: 'emergency-reads', id: 'emergency-reads', role: 'alert' },
    h('h2', {}, h('span', { 'aria-hidden': 'true' }, '⚠ '), t('emergency.readsTitle')),
    h(
      'ul',
      {},
      ...reads.map((r) =>
        h(
          'li',
          { class: 'emergency-read-line' },
          t('emergency.readLine', { hospital: r.hospital, clinician: r.clinician, reason: r.reason, date: formatDate(r.readAt || r.time, true) }),
        ),
      ),
    ),
  );
}
