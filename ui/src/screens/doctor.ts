// Doctor: the history as a timeline (opened with the card, gone when it leaves), a diagnosis (ICD-10 picker) with
// a treatment plan, a prescription (formulary picker, dose, quantity, validity), and the claim to the insurer.
import { api } from '../api';
import type { Ctx } from '../context';
import { field, h, replace } from '../dom';
import { formatDate, summarize } from '../format';
import { t } from '../i18n';
import type { HistoryItem, PickItem } from '../types';

/** A searchable pick list: a filter box above a list box. */
export function picker(id: string, items: PickItem[], onPick?: (item: PickItem) => void): {
  el: HTMLElement;
  select: HTMLSelectElement;
} {
  const search = h('input', { id: `${id}-search`, type: 'search', autocomplete: 'off', placeholder: t('doctor.search') });
  const select = h('select', { id, size: 6, required: true });
  const fill = () => {
    const q = search.value.trim().toLowerCase();
    const shown = items.filter((i) => !q || i.code.toLowerCase().includes(q) || i.display.toLowerCase().includes(q));
    replace(select, ...shown.map((i) => h('option', { value: i.code }, `${i.code} — ${i.display}`)));
    if (shown.length === 1) {
      select.value = shown[0].code;
      onPick?.(shown[0]);
    }
  };
  search.addEventListener('input', fill);
  select.addEventListener('change', () => {
    const item = items.find((i) => i.code === select.value);
    if (item) onPick?.(item);
  });
  fill();
  return { el: h('div', { class: 'picker' }, search, select), select };
}

function timeline(items: HistoryItem[]): HTMLElement {
  if (items.length === 0) return h('p', { class: 'muted', id: 'history-empty' }, t('doctor.noHistory'));
  return h(
    'ol',
    { class: 'timeline', id: 'history' },
    ...[...items].reverse().map((e) => {
      if (e.resource === null) {
        return h(
          'li',
          { class: 'entry unreadable', 'data-index': e.index },
          h('span', { class: 'when' }, formatDate(e.time, true)),
          h('strong', { class: 'title' }, t('history.unreadable', { index: e.index })),
          h('span', { class: 'detail' }, e.unreadable ?? ''),
        );
      }
      const s = summarize(e.resource);
      return h(
        'li',
        { class: `entry kind-${e.resource.resourceType}`, 'data-index': e.index },
        h('span', { class: 'when' }, formatDate(e.time, true)),
        h('span', { class: 'what' }, e.resource.resourceType),
        h('strong', { class: 'title' }, s.title),
        s.detail ? h('span', { class: 'detail' }, s.detail) : null,
        e.supersedes !== null ? h('em', { class: 'amends' }, t('doctor.amends', { index: e.supersedes })) : null,
      );
    }),
  );
}

export function doctorVisit(ctx: Ctx): HTMLElement {
  const history = h('div', { class: 'history', id: 'history-panel', 'aria-busy': 'true' });
  let entries: HistoryItem[] = [];
  const claimRecord = h('select', { id: 'claim-record' });
  const load = async () => {
    const items = await ctx.run(() => api.doctorHistory());
    if (!items) return;
    entries = items;
    history.setAttribute('aria-busy', 'false');
    replace(history, timeline(items));
    replace(
      claimRecord,
      ...entries
        .flatMap((e) =>
          e.resource?.resourceType === 'Condition'
            ? [h('option', { value: e.index }, `#${e.index} ${summarize(e.resource).title}`)]
            : [],
        ),
    );
  };

  // Diagnosis.
  const diag = h('form', { class: 'form', id: 'diagnosis-form' }, h('h2', {}, t('doctor.diagnosis')));
  const note = h('input', { id: 'diagnosis-note', autocomplete: 'off', maxlength: 500 });
  const plan = h('textarea', { id: 'diagnosis-plan', rows: 3, maxlength: 1000 });
  void api.icd10Codes().then((codes) => {
    const p = picker('icd10', codes);
    diag.append(
      field(t('doctor.icd10'), p.el),
      field(t('doctor.note'), note),
      field(t('doctor.plan'), plan),
      h('button', { class: 'primary', id: 'diagnosis-save', type: 'submit' }, t('doctor.save')),
    );
    diag.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const steps = plan.value.split('\n').map((s) => s.trim()).filter(Boolean);
      const done = await ctx.run(() => api.doctorDiagnose(p.select.value, note.value.trim() || null, steps), true);
      if (!done) return;
      ctx.showTx(done);
      note.value = plan.value = '';
      // Queued while the node is away: the timeline shows it once it is on chain.
      if (done.every((d) => d.state === 'confirmed')) await load();
    });
  });

  // Prescription.
  const rx = h('form', { class: 'form', id: 'prescription-form' }, h('h2', {}, t('doctor.prescription')));
  const qty = h('input', { id: 'rx-quantity', type: 'number', min: 1, max: 1000, step: 1, value: 20, required: true });
  const dosage = h('input', { id: 'rx-dosage', autocomplete: 'off', maxlength: 200 });
  const days = h('input', { id: 'rx-days', type: 'number', min: 1, max: 365, value: 28, required: true });
  void api.formulary().then((drugs) => {
    const p = picker('drug', drugs, (d) => (dosage.value = d.dosage ?? ''));
    rx.append(
      field(t('doctor.drug'), p.el),
      h('div', { class: 'row' }, field(t('doctor.quantity'), qty), field(t('doctor.days'), days)),
      field(t('doctor.dosage'), dosage),
      h('button', { class: 'primary', id: 'rx-issue', type: 'submit' }, t('doctor.prescribe')),
    );
    rx.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const done = await ctx.run(
        () => api.doctorPrescribe(p.select.value, Number(qty.value), dosage.value.trim() || null, Number(days.value)),
        true,
      );
      if (!done) return;
      ctx.showTx(done);
      const drug = drugs.find((d) => d.code === p.select.value)?.display ?? p.select.value;
      ctx.notify(t('doctor.prescribed', { drug, quantity: qty.value, days: days.value }), 'info');
    });
  });

  // Claim.
  const amount = h('input', { id: 'claim-amount', type: 'number', min: 1, step: 1, value: 120, required: true });
  const claim = h(
    'form',
    { class: 'form', id: 'claim-form' },
    h('h2', {}, t('doctor.claim')),
    h('div', { class: 'row' }, field(t('doctor.claimRecord'), claimRecord), field(`${t('doctor.claimAmount')} (${ctx.token.symbol})`, amount)),
    h('button', { class: 'secondary', id: 'claim-submit', type: 'submit' }, t('doctor.submitClaim')),
  );
  claim.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const done = await ctx.run(() => api.doctorClaim(Number(claimRecord.value), Number(amount.value)), true);
    if (done) ctx.showTx(done);
  });

  void load();
  return h(
    'section',
    { class: 'screen doctor', id: 'doctor' },
    h('div', { class: 'col' }, h('h1', {}, t('doctor.history')), history),
    h('div', { class: 'col' }, diag, rx, claim),
  );
}
