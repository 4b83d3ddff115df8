// The emergency data set, at a hospital's desks (reception, doctor). The editor (card and PIN, over the visit's
// screen): allergies, medication, conditions, implants, blood group, whom to call — saved into the history and
// onto the card; an empty set removes it from the card. The emergency read (no PIN, the card in the reader): who
// reads and why, then the set, big; the read is recorded on chain (pending while the node is away).
import { api } from '../api';
import type { Ctx } from '../context';
import { field, h, replace } from '../dom';
import { t } from '../i18n';
import type { Allergy, EmergencySet, EmergencyView } from '../types';

/** Lines of a textarea, trimmed, blanks dropped. */
export function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** Whether a set names nothing (saving it removes the card's copy). */
export function isEmptySet(s: EmergencySet): boolean {
  return (
    s.allergies.length === 0 &&
    s.medications.length === 0 &&
    s.conditions.length === 0 &&
    s.implants.length === 0 &&
    s.bloodGroup === null &&
    s.contact === null
  );
}

export function emergencyEditFlow(ctx: Ctx, onDone: () => void): HTMLElement {
  const body = h('div', { id: 'emergency-form-box', 'aria-busy': 'true' });
  const root = h(
    'section',
    { class: 'screen', id: 'emergency-edit' },
    h('h1', { id: 'emergency-edit-title' }, t('emergency.editTitle')),
    h('p', { class: 'muted', id: 'emergency-edit-intro' }, t('emergency.editIntro')),
    body,
    h('button', { class: 'secondary big', type: 'button', id: 'emergency-edit-close', onclick: onDone }, t('common.back')),
  );
  void ctx.run(() => api.emergencyCurrent()).then((cur) => {
    if (!cur) return;
    body.setAttribute('aria-busy', 'false');
    replace(body, editor(ctx, cur.set, cur.bloodGroups));
  });
  return root;
}

function editor(ctx: Ctx, set: EmergencySet, bloodGroups: string[]): HTMLElement {
  const allergyRows = h('div', { id: 'em-allergies' });
  let n = 0;
  const addAllergy = (a: Allergy = { substance: '', high: false }) => {
    const i = n++;
    const substance = h('input', { id: `em-allergy-${i}`, class: 'em-allergy', autocomplete: 'off', maxlength: 80, value: a.substance });
    const high = h('input', { type: 'checkbox', class: 'check em-allergy-high', id: `em-allergy-${i}-high`, checked: a.high });
    const row = h(
      'div',
      { class: 'row allergy-row' },
      field(t('emergency.substance'), substance),
      h('label', { class: 'check-field', for: `em-allergy-${i}-high` }, high, t('emergency.high')),
      h('button', { class: 'secondary small', type: 'button', id: `em-allergy-${i}-remove`, onclick: () => row.remove() }, t('emergency.remove')),
    );
    allergyRows.append(row);
    return substance;
  };
  set.allergies.forEach((a) => addAllergy(a));
  const medications = h('textarea', { id: 'em-medications', rows: 3 });
  medications.value = set.medications.join('\n');
  const conditions = h('textarea', { id: 'em-conditions', rows: 3 });
  conditions.value = set.conditions.join('\n');
  const implants = h('textarea', { id: 'em-implants', rows: 2 });
  implants.value = set.implants.join('\n');
  const blood = h(
    'select',
    { id: 'em-blood' },
    h('option', { value: '' }, t('emergency.bloodUnknown')),
    ...bloodGroups.map((b) => h('option', { value: b }, b)),
  );
  blood.value = set.bloodGroup ?? '';
  const contactName = h('input', { id: 'em-contact-name', autocomplete: 'off', maxlength: 80, value: set.contact?.name ?? '' });
  const contactPhone = h('input', { id: 'em-contact-phone', type: 'tel', autocomplete: 'off', maxlength: 80, value: set.contact?.phone ?? '' });
  const form = h(
    'form',
    { class: 'form', id: 'emergency-form' },
    h('h2', {}, t('emergency.allergies')),
    allergyRows,
    h('button', { class: 'secondary small', type: 'button', id: 'em-allergy-add', onclick: () => addAllergy().focus() }, t('emergency.addAllergy')),
    field(t('emergency.medications'), medications),
    field(t('emergency.conditions'), conditions),
    field(t('emergency.implants'), implants),
    h('div', { class: 'row' }, field(t('emergency.bloodGroup'), blood)),
    h('div', { class: 'row' }, field(t('emergency.contactName'), contactName), field(t('emergency.contactPhone'), contactPhone)),
    h('button', { class: 'primary big', id: 'em-save', type: 'submit' }, t('emergency.save')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const next: EmergencySet = {
      allergies: [...allergyRows.querySelectorAll('.allergy-row')]
        .map((row) => ({
          substance: row.querySelector<HTMLInputElement>('.em-allergy')?.value.trim() ?? '',
          high: row.querySelector<HTMLInputElement>('.em-allergy-high')?.checked ?? false,
        }))
        .filter((a) => a.substance.length > 0),
      medications: lines(medications.value),
      conditions: lines(conditions.value),
      implants: lines(implants.value),
      bloodGroup: blood.value || null,
      contact:
        contactName.value.trim() || contactPhone.value.trim()
          ? { name: contactName.value.trim(), phone: contactPhone.value.trim() }
          : null,
    };
    const saved = await ctx.run(() => api.emergencySave(next), true);
    if (!saved) return;
    ctx.showTx(saved.record);
    ctx.notify(saved.onCard ? t('emergency.saved') : t('emergency.removed'), 'info');
  });
  return form;
}

/** The set, big and clear, for a clinician in an emergency. */
export function emergencySetView(s: EmergencySet): HTMLElement {
  const none = () => h('span', { class: 'muted' }, t('emergency.noneListed'));
  const list = (id: string, items: (string | HTMLElement)[]) =>
    items.length === 0 ? none() : h('ul', { id }, ...items.map((i) => h('li', {}, i)));
  return h(
    'dl',
    { class: 'emergency-set', id: 'emergency-set' },
    h('dt', {}, t('emergency.allergies')),
    h(
      'dd',
      {},
      list(
        'em-view-allergies',
        s.allergies.map((a) =>
          a.high ? h('strong', { class: 'allergy-high' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), `${a.substance} — ${t('emergency.high')}`) : h('span', {}, a.substance),
        ),
      ),
    ),
    h('dt', {}, t('emergency.bloodGroup')),
    h('dd', { id: 'em-view-blood' }, s.bloodGroup ?? t('emergency.bloodUnknown')),
    h('dt', {}, t('emergency.medicationsShort')),
    h('dd', {}, list('em-view-medications', s.medications)),
    h('dt', {}, t('emergency.conditionsShort')),
    h('dd', {}, list('em-view-conditions', s.conditions)),
    h('dt', {}, t('emergency.implantsShort')),
    h('dd', {}, list('em-view-implants', s.implants)),
    h('dt', {}, t('emergency.contactName')),
    h('dd', { id: 'em-view-contact' }, s.contact ? `${s.contact.name} · ${s.contact.phone}` : none()),
  );
}

/** The emergency read: no PIN, the card in the reader. */
export function emergencyReadScreen(ctx: Ctx, onDone: () => void): HTMLElement {
  const result = h('div', { id: 'emergency-result' });
  const clinician = h('input', { id: 'em-clinician', autocomplete: 'off', maxlength: 40, required: true, 'data-autofocus': true });
  const reason = h('input', { id: 'em-reason', autocomplete: 'off', maxlength: 60, required: true });
  const form = h(
    'form',
    { class: 'form', id: 'emergency-read-form' },
    h('p', {}, t('emergency.readIntro')),
    h('div', { class: 'row' }, field(t('emergency.clinician'), clinician), field(t('emergency.reason'), reason)),
    h('button', { class: 'primary big', id: 'em-read', type: 'submit' }, t('emergency.read')),
  );
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = await ctx.run(() => api.emergencyRead(clinician.value.trim(), reason.value.trim()), true);
    if (!v) return;
    ctx.showTx(v.trace);
    form.hidden = true;
    replace(result, shown(v));
  });
  return h(
    'section',
    { class: 'screen', id: 'emergency-read' },
    h('h1', { id: 'emergency-read-title' }, h('span', { 'aria-hidden': 'true' }, '✚ '), t('emergency.readTitle')),
    form,
    result,
    h('button', { class: 'secondary big', type: 'button', id: 'emergency-read-done', onclick: onDone }, t('emergency.done')),
  );
}

function shown(v: EmergencyView): HTMLElement {
  const pending = v.trace.state === 'pending';
  return h(
    'div',
    { class: 'emergency-view', id: 'emergency-view' },
    v.name ? h('p', { class: 'big-text', id: 'em-view-name' }, v.name) : null,
    emergencySetView(v.set),
    h(
      'p',
      { class: pending ? 'warn' : 'signed', id: 'em-trace', 'data-state': v.trace.state, role: 'status' },
      pending ? t('emergency.recordedPending') : t('emergency.recorded'),
    ),
  );
}
