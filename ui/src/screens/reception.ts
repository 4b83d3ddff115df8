// Reception: check a returning patient in (the card signs the hospital's consent); register a new patient onto
// a blank card (the issue letter follows, screens/letter.ts). The card's other steps at reception: unblock.ts
// (blocked PIN) and lost.ts (lost card, replacement).
import { api } from '../api';
import type { Ctx } from '../context';
import { field, h, replace } from '../dom';
import { summarize } from '../format';
import { t } from '../i18n';
import { ADMIN_PIN_FIELD, PIN_FIELD } from '../pinpad';
import { consentChoice, emergencyReads, signedLine } from './consent';

/** The visit at reception: what the hospital asks (the patient may narrow it), then the check-in, where the card
 * signs exactly that; `autoCheckIn` checks the patient in at once with the default (after a replacement card). */
export function receptionVisit(ctx: Ctx, autoCheckIn = false): HTMLElement {
  const result = h('div', { id: 'checkin-result' });
  const choice = consentChoice(ctx.info.consent, ctx.notify);
  const button = h('button', { class: 'primary big', id: 'checkin', type: 'button' }, t('reception.checkIn'));
  button.addEventListener('click', async () => {
    const chosen = choice.value();
    if (!chosen) return;
    const c = await ctx.run(() => api.receptionCheckIn(chosen), true);
    if (!c) return;
    ctx.showTx(c.consent);
    const p = c.patient ? summarize(c.patient) : { title: ctx.patient?.name ?? '', detail: '' };
    button.hidden = true;
    choice.el.hidden = true;
    replace(
      result,
      emergencyReads(c.emergencyReads),
      h(
        'div',
        { class: 'card-summary', id: 'checkin-summary' },
        h('h2', {}, h('span', { 'aria-hidden': 'true' }, '✓ '), t('reception.checkedIn')),
        h('p', { class: 'big-text', id: 'patient-name' }, p.title),
        h('p', { id: 'patient-detail' }, p.detail),
        signedLine(c.signed),
        h('p', { class: 'muted', id: 'patient-records' }, t('reception.records', { count: c.records })),
      ),
    );
  });
  if (autoCheckIn) setTimeout(() => button.click(), 0);
  return h('section', { class: 'screen', id: 'reception' }, h('h1', { id: 'reception-title' }, t('role.reception')), choice.el, button, result);
}

/** The registration form for the blank card in the reader. */
export function registerForm(ctx: Ctx, onRegistered: () => void): HTMLElement {
  const name = h('input', { id: 'reg-name', required: true, autocomplete: 'off', maxlength: 120 });
  const birth = h('input', { id: 'reg-birth', type: 'date', required: true });
  const gender = h(
    'select',
    { id: 'reg-gender' },
    ...['female', 'male', 'other', 'unknown'].map((g) =>
      h('option', { value: g }, t(`gender.${g}` as 'gender.female')),
    ),
  );
  const admin = h('input', { ...ADMIN_PIN_FIELD, id: 'reg-admin-pin' });
  const pin = h('input', { ...PIN_FIELD, id: 'reg-pin' });
  const again = h('input', { ...PIN_FIELD, id: 'reg-pin-again' });
  const form = h(
    'form',
    { class: 'form', id: 'register-form' },
    h('h2', {}, t('reception.register')),
    field(t('reception.name'), name),
    field(t('reception.birthDate'), birth),
    field(t('reception.gender'), gender),
    field(t('reception.adminPin'), admin),
    field(t('reception.pin'), pin),
    field(t('reception.pinAgain'), again),
    h('button', { class: 'primary big', id: 'register', type: 'submit' }, t('reception.register')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (pin.value !== again.value) {
      ctx.notify(t('reception.pinMismatch'), 'error');
      return;
    }
    const p = await ctx.run(
      () =>
        api.receptionRegister({
          name: name.value.trim(),
          birthDate: birth.value,
          gender: gender.value,
          adminPin: admin.value,
          pin: pin.value,
        }),
      true,
    );
    admin.value = pin.value = again.value = '';
    if (!p) return;
    ctx.patient = p;
    ctx.notify(t('reception.registered'), 'info');
    onRegistered();
  });
  return h('section', { class: 'screen', id: 'blank' }, h('h1', { id: 'blank-title' }, t('blank.title')), h('p', {}, t('blank.hint')), form);
}
