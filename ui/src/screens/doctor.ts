// Doctor: the patient's allergies and current medication, an allergy recorded; the timeline (records,
// prescriptions with their status — a ready one can be cancelled —, dispenses with their part, batch and whether
// a token was used); a diagnosis (ICD-10 type-ahead) with a treatment plan; a prescription (formulary type-ahead,
// prescriber, substitution, a token for a representative) checked against the allergies and medication — the
// warnings shown in a dialog the doctor must confirm —; the claim with its services; the insurers' decisions.
import { api } from '../api';
import type { Ctx } from '../context';
import { debounce, unconfirmed } from '../desks';
import { field, h, replace } from '../dom';
import { formatDate, formatUnits, parseUnits, percent, summarize } from '../format';
import { t } from '../i18n';
import type { ClaimItemInput, Consultation, HospitalClaimView, OverviewView, PickItem, PrescriptionOrder, TimelineView, Warning } from '../types';
import { printPanel } from './print';

/** The doctor's name, remembered while the app runs (the prescriber and practitioner fields' default). */
let doctorName = '';

/** A type-ahead pick list: a search box above a list box, searched in the shell as the doctor types; the label
 * names the search box, and the list box is "<label>: matches". */
export function picker(
  id: string,
  label: string,
  search: (query: string) => Promise<PickItem[]>,
  onPick?: (item: PickItem) => void,
): { el: HTMLElement; select: HTMLSelectElement; picked: () => PickItem | undefined } {
  const input = h('input', { id: `${id}-search`, type: 'search', autocomplete: 'off', placeholder: t('doctor.search') });
  const select = h('select', { id, size: 6, required: true, 'aria-label': t('doctor.matches', { what: label }) });
  let shown: PickItem[] = [];
  const pick = (item: PickItem) => {
    select.value = item.code;
    onPick?.(item);
  };
  const run = debounce((query: string) => {
    void search(query).then((items) => {
      if (query !== input.value.trim()) return; // a newer search is on its way
      shown = items;
      replace(select, ...items.map((i) => h('option', { value: i.code }, `${i.code} — ${i.display}`)));
      const exact = items.find((i) => i.code.toLowerCase() === query.toLowerCase());
      if (exact) pick(exact);
      else if (items.length === 1) pick(items[0]);
    });
  }, 150);
  input.addEventListener('input', () => run(input.value.trim()));
  select.addEventListener('change', () => {
    const item = shown.find((i) => i.code === select.value);
    if (item) onPick?.(item);
  });
  run('');
  const el = h(
    'div',
    { class: 'field picker' },
    h('label', { class: 'field-label', for: `${id}-search`, id: `${id}-label` }, label),
    input,
    select,
  );
  return { el, select, picked: () => shown.find((i) => i.code === select.value) };
}

/** A warning in the screen's language. */
export function warningText(w: Warning): string {
  return w.kind === 'allergy'
    ? t('warning.allergy', { substance: w.substance, drug: w.drug })
    : t('warning.duplicate', { drug: w.drug, current: w.current });
}

function batchOf(d: Record<string, unknown> | null): string | null {
  const ext = (d?.extension as { url?: string; valueString?: string }[] | undefined) ?? [];
  return ext.find((e) => e.url?.includes('batch'))?.valueString ?? null;
}

function timeline(items: TimelineView[], cancel: (id: number) => void): HTMLElement {
  if (items.length === 0) return h('p', { class: 'muted', id: 'history-empty' }, t('doctor.noHistory'));
  return h(
    'ol',
    { class: 'timeline', id: 'history' },
    ...[...items].reverse().map((e) => {
      if (e.type === 'prescription') {
        const s = e.request ? summarize(e.request) : { title: t('doctor.rxUnreadable'), detail: '' };
        return h(
          'li',
          { class: 'entry kind-prescription', id: `timeline-rx-${e.id}`, 'data-status': e.status },
          h('span', { class: 'when' }, formatDate(e.time, true)),
          h('span', { class: 'what' }, t('doctor.rxEntry', { id: e.id })),
          h('strong', { class: 'title' }, s.title, ' ', h('span', { class: `badge badge-${e.status}`, id: `timeline-rx-${e.id}-status` }, t(`status.${e.status}`))),
          s.detail ? h('span', { class: 'detail' }, s.detail) : null,
          e.status === 'ready'
            ? h(
                'button',
                {
                  class: 'secondary small',
                  type: 'button',
                  id: `timeline-rx-${e.id}-cancel`,
                  'aria-label': `${t('doctor.cancelRx')} — ${t('doctor.rxEntry', { id: e.id })}`,
                  onclick: () => cancel(e.id),
                },
                t('doctor.cancelRx'),
              )
            : null,
        );
      }
      if (e.type === 'dispense') {
        const s = e.dispense ? summarize(e.dispense) : { title: '', detail: '' };
        const batch = batchOf(e.dispense as Record<string, unknown> | null);
        return h(
          'li',
          { class: 'entry kind-dispense', 'data-prescription': e.prescriptionId },
          h('span', { class: 'when' }, formatDate(e.time, true)),
          h('span', { class: 'what' }, t('doctor.dispenseEntry', { id: e.prescriptionId, part: percent(e.part) })),
          h('strong', { class: 'title' }, s.title),
          h(
            'span',
            { class: 'detail' },
            [s.detail, batch ? t('doctor.batch', { batch }) : '', e.byToken ? t('doctor.byToken') : '', t('pharmacy.issuer', { issuer: e.pharmacy })]
              .filter(Boolean)
              .join(' · '),
          ),
        );
      }
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

function overviewPanel(o: OverviewView): HTMLElement[] {
  return [
    h('h3', {}, t('doctor.allergies')),
    o.allergies.length
      ? h(
          'ul',
          { id: 'allergies', class: 'facts-list' },
          ...o.allergies.map((a) =>
            h('li', { class: a.high ? 'high' : '' }, h('strong', {}, a.substance), a.atcClass ? ` (${a.atcClass})` : '', a.high ? ` — ${t('emergency.high')}` : '', h('span', { class: 'muted' }, ` · ${a.source}`)),
          ),
        )
      : h('p', { class: 'muted', id: 'allergies' }, t('doctor.noAllergies')),
    h('h3', {}, t('doctor.currentMeds')),
    o.current.length
      ? h('ul', { id: 'current-meds', class: 'facts-list' }, ...o.current.map((c) => h('li', {}, h('strong', {}, c.display), h('span', { class: 'muted' }, ` · ${c.source}`))))
      : h('p', { class: 'muted', id: 'current-meds' }, t('doctor.noCurrentMeds')),
  ];
}

export function doctorVisit(ctx: Ctx): HTMLElement {
  const dec = ctx.token.decimals;
  const money = (base: string) => `${formatUnits(base, dec)} ${ctx.token.symbol}`;
  const tokens = (v: number | null) => (v === null ? '—' : `${v.toFixed(2)} ${ctx.token.symbol}`);
  const history = h('div', { class: 'history', id: 'history-panel', 'aria-busy': 'true' });
  const overview = h('div', { class: 'overview', id: 'overview', 'aria-busy': 'true' });
  const claimRecord = h('select', { id: 'claim-record' });
  const claims = h('div', { id: 'claims-panel' });

  const cancel = async (id: number) => {
    const tx = await ctx.run(() => api.doctorCancelPrescription(id), true);
    if (!tx) return;
    ctx.showTx(tx);
    ctx.notify(t('doctor.cancelled', { id }), 'info');
    await load();
  };
  const load = async () => {
    const [items, o] = await Promise.all([ctx.run(() => api.doctorTimeline()), ctx.run(() => api.doctorOverview())]);
    if (o) {
      overview.setAttribute('aria-busy', 'false');
      replace(overview, ...overviewPanel(o));
    }
    if (!items) return;
    history.setAttribute('aria-busy', 'false');
    replace(history, timeline(items, (id) => void cancel(id)));
    replace(
      claimRecord,
      ...items.flatMap((e) =>
        e.type === 'record' && e.resource?.resourceType === 'Condition'
          ? [h('option', { value: e.index }, `#${e.index} ${summarize(e.resource).title}`)]
          : [],
      ),
    );
  };

  // Allergy.
  const substance = h('input', { id: 'allergy-substance', autocomplete: 'off', maxlength: 100, required: true });
  const atcClass = h('input', { id: 'allergy-class', autocomplete: 'off', maxlength: 8, placeholder: 'J01C' });
  const high = h('input', { id: 'allergy-high', type: 'checkbox', class: 'check' });
  const reaction = h('input', { id: 'allergy-reaction', autocomplete: 'off', maxlength: 200 });
  const allergy = h(
    'form',
    { class: 'form', id: 'allergy-form' },
    h('h2', {}, t('doctor.recordAllergy')),
    h('div', { class: 'row' }, field(t('doctor.substance'), substance), field(t('doctor.atcClass'), atcClass)),
    field(t('doctor.reaction'), reaction),
    h('label', { class: 'check-field' }, high, ' ', t('doctor.highRisk')),
    h('button', { class: 'secondary', id: 'allergy-save', type: 'submit' }, t('doctor.saveAllergy')),
  );
  allergy.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const tx = await ctx.run(
      () => api.doctorRecordAllergy({ substance: substance.value.trim(), atcClass: atcClass.value.trim() || null, high: high.checked, reaction: reaction.value.trim() || null }),
      true,
    );
    if (!tx) return;
    ctx.showTx(tx);
    ctx.notify(t('doctor.allergyRecorded', { substance: substance.value.trim() }), 'info');
    substance.value = atcClass.value = reaction.value = '';
    high.checked = false;
    await load();
  });

  // Diagnosis.
  const diag = h('form', { class: 'form', id: 'diagnosis-form' }, h('h2', {}, t('doctor.diagnosis')));
  const note = h('input', { id: 'diagnosis-note', autocomplete: 'off', maxlength: 500 });
  const plan = h('textarea', { id: 'diagnosis-plan', rows: 3, maxlength: 1000 });
  const icd = picker('icd10', t('doctor.icd10'), (q) => api.icd10Search(q));
  const bill = h('input', { id: 'consult-bill', type: 'checkbox', class: 'check', checked: true });
  diag.append(
    icd.el,
    field(t('doctor.note'), note),
    field(t('doctor.plan'), plan),
    h('div', { class: 'actions' },
      h('button', { class: 'secondary', id: 'diagnosis-save', type: 'submit' }, t('doctor.save')),
      h('button', { class: 'primary', id: 'consult-save', type: 'button', onclick: () => void consult() }, t('doctor.consult')),
    ),
    h('label', { class: 'check-field' }, bill, ' ', t('doctor.consultBill')),
    h('p', { class: 'muted' }, t('doctor.consultHint')),
  );
  diag.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const steps = plan.value.split('\n').map((s) => s.trim()).filter(Boolean);
    const done = await ctx.run(() => api.doctorDiagnose(icd.select.value, note.value.trim() || null, steps), true);
    if (!done) return;
    ctx.showTx(done);
    note.value = plan.value = '';
    // Queued while the node is away: the timeline shows it once it is on chain.
    if (done.every((d) => d.state === 'confirmed')) await load();
  });

  // Prescription.
  const rx = h('form', { class: 'form', id: 'prescription-form' }, h('h2', {}, t('doctor.prescription')));
  const qty = h('input', { id: 'rx-quantity', type: 'number', min: 1, max: 1000, step: 1, value: 20, required: true });
  const dosage = h('input', { id: 'rx-dosage', autocomplete: 'off', maxlength: 200 });
  const days = h('input', { id: 'rx-days', type: 'number', min: 1, max: 365, value: 28, required: true });
  const prescriber = h('input', { id: 'rx-prescriber', autocomplete: 'off', maxlength: 100, value: doctorName, placeholder: t('doctor.prescriberHint') });
  const substitution = h('input', { id: 'rx-substitution', type: 'checkbox', class: 'check', checked: true });
  const withToken = h('input', { id: 'rx-token', type: 'checkbox', class: 'check' });
  const dialog = h('div', { class: 'dialog', id: 'rx-warnings', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'rx-warnings-title', hidden: true });
  const dialogTitle = h('h2', { id: 'rx-warnings-title' }, t('doctor.warningsTitle'));
  dialog.append(dialogTitle);
  const printed = h('div', { id: 'rx-print' });
  const drug = picker('drug', t('doctor.drug'), (q) => api.formularySearch(q), (d) => (dosage.value = d.dosage ?? ''));
  rx.append(
    drug.el,
    h('div', { class: 'row' }, field(t('doctor.quantity'), qty), field(t('doctor.days'), days)),
    field(t('doctor.dosage'), dosage),
    field(t('doctor.prescriber'), prescriber),
    h('label', { class: 'check-field' }, substitution, ' ', t('doctor.substitution')),
    h('label', { class: 'check-field' }, withToken, ' ', t('doctor.token')),
    h('button', { class: 'primary', id: 'rx-issue', type: 'submit' }, t('doctor.prescribe')),
  );
  const issue = async (order: PrescriptionOrder, confirmed: Warning[]) => {
    const done = await ctx.run(() => api.doctorPrescribe(order, confirmed), true, (e) => {
      if (e.kind !== 'needs-confirmation') return false;
      // A warning appeared since (a dispense elsewhere): ask again.
      void check(order, confirmed);
      return true;
    });
    if (!done) return;
    ctx.showTx(done.tx);
    const name = drug.picked()?.display ?? order.atc;
    ctx.notify(t('doctor.prescribed', { drug: name, quantity: order.quantity, days: order.days }), 'info');
    replace(printed, done.print ? printPanel(ctx, done.print, 'token') : null);
    withToken.checked = false;
    await load();
  };
  // The warnings an order raises, confirmed by the doctor before `then` sends it.
  const askWarnings = (raised: Warning[], then: (confirmed: Warning[]) => void) => {
    dialog.hidden = false;
    replace(
      dialog,
      dialogTitle,
      h('ul', { id: 'rx-warnings-list' }, ...raised.map((w) => h('li', { class: `warning-${w.kind}` }, warningText(w)))),
      h('p', {}, t('doctor.warningsConfirm')),
      h(
        'div',
        { class: 'actions' },
        h('button', { class: 'secondary', type: 'button', id: 'rx-warnings-cancel', onclick: () => (dialog.hidden = true) }, t('common.cancel')),
        h(
          'button',
          {
            class: 'danger',
            type: 'button',
            id: 'rx-warnings-confirm',
            onclick: () => {
              dialog.hidden = true;
              then(raised);
            },
          },
          t('doctor.warningsPrescribe'),
        ),
      ),
    );
    dialog.querySelector<HTMLElement>('#rx-warnings-cancel')?.focus();
  };
  const check = async (order: PrescriptionOrder, confirmed: Warning[]) => {
    const raised = await ctx.run(() => api.doctorWarnings(order.atc));
    if (!raised) return;
    if (unconfirmed(raised, confirmed).length === 0) {
      await issue(order, raised);
      return;
    }
    askWarnings(raised, (ok) => void issue(order, ok));
  };
  const currentOrder = (): PrescriptionOrder => ({
    atc: drug.select.value,
    quantity: Number(qty.value),
    dosage: dosage.value.trim() || null,
    days: Number(days.value),
    prescriber: doctorName || null,
    substitutionAllowed: substitution.checked,
    token: withToken.checked,
  });
  rx.addEventListener('submit', (ev) => {
    ev.preventDefault();
    doctorName = prescriber.value.trim();
    replace(printed);
    void check(currentOrder(), []);
  });

  // Claim: the services billed, each with its quantity and unit price in tokens.
  const items = h('div', { id: 'claim-items' });
  const practitioner = h('input', { id: 'claim-practitioner', autocomplete: 'off', maxlength: 100, value: doctorName });
  let services: PickItem[] = [];
  let rows = 0;
  const addItem = () => {
    const n = rows++;
    items.append(
      h(
        'div',
        { class: 'row claim-item', 'data-item': n },
        field(t('doctor.service'), h('select', { id: `claim-item-${n}-service` }, ...services.map((s) => h('option', { value: s.code }, `${s.code} — ${s.display}`)))),
        field(t('doctor.quantity'), h('input', { id: `claim-item-${n}-qty`, type: 'number', min: 1, max: 100, step: 1, value: 1, required: true })),
        field(`${t('doctor.unitPrice')} (${ctx.token.symbol})`, h('input', { id: `claim-item-${n}-price`, inputmode: 'decimal', value: '60', required: true })),
      ),
    );
  };
  void api.serviceCodes().then((s) => {
    services = s;
    addItem();
  });
  const claim = h(
    'form',
    { class: 'form', id: 'claim-form' },
    h('h2', {}, t('doctor.claim')),
    h('div', { class: 'row' }, field(t('doctor.claimRecord'), claimRecord), field(t('doctor.practitioner'), practitioner)),
    items,
    h('button', { class: 'secondary small', id: 'claim-item-add', type: 'button', onclick: addItem }, t('doctor.addService')),
    h('button', { class: 'secondary', id: 'claim-submit', type: 'submit' }, t('doctor.submitClaim')),
  );
  // The services of the claim form (null: a price that is not one, reported).
  const billedItems = (): ClaimItemInput[] | null => {
    const billed: ClaimItemInput[] = [];
    for (const row of items.querySelectorAll<HTMLElement>('.claim-item')) {
      const n = row.dataset.item ?? '';
      const get = (what: string) => row.querySelector<HTMLInputElement | HTMLSelectElement>(`#claim-item-${n}-${what}`)?.value ?? '';
      const price = parseUnits(get('price'), dec);
      if (price === null) {
        ctx.notify(`${t('doctor.unitPrice')}: ${get('price')}`, 'error');
        return null;
      }
      billed.push({ service: get('service'), quantity: Number(get('qty')), unitPrice: price });
    }
    return billed;
  };
  claim.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const billed = billedItems();
    if (!billed) return;
    const done = await ctx.run(() => api.doctorClaim(Number(claimRecord.value), billed, practitioner.value.trim() || null), true);
    if (done) {
      ctx.showTx(done);
      await loadClaims();
    }
  });

  // The whole consultation in one transaction: the diagnosis above, the drug picked in the prescription form (if
  // any) and, when ticked, the services of the claim form.
  const sendConsult = async (c: Consultation) => {
    const done = await ctx.run(() => api.doctorConsult(c), true, (e) => {
      if (e.kind !== 'needs-confirmation') return false;
      void consult(c.confirmed);
      return true;
    });
    if (!done) return;
    consultId = null;
    ctx.showTx(done.tx);
    ctx.notify(t('doctor.consulted', { prescriptions: done.prescriptions.length }), 'info');
    const token = done.prescriptions.find((p) => p.print)?.print;
    replace(printed, token ? printPanel(ctx, token, 'token') : null);
    note.value = plan.value = '';
    withToken.checked = false;
    if (done.tx.state === 'confirmed') {
      await load();
      await loadClaims();
    }
  };
  // One name per consultation, kept while the same one is asked again (confirmed warnings, a retry).
  let consultId: string | null = null;
  async function consult(confirmed: Warning[] = []) {
    if (!icd.select.value) {
      ctx.notify(t('doctor.consultNeedsDiagnosis'), 'error');
      return;
    }
    consultId ??= [...crypto.getRandomValues(new Uint8Array(12))].map((b) => b.toString(16).padStart(2, '0')).join('');
    doctorName = prescriber.value.trim();
    const order = drug.select.value ? currentOrder() : null;
    const billed = bill.checked ? billedItems() : [];
    if (!billed) return;
    const c: Consultation = {
      id: consultId,
      icd10: icd.select.value,
      note: note.value.trim() || null,
      plan: plan.value.split('\n').map((s) => s.trim()).filter(Boolean),
      prescriptions: order ? [order] : [],
      confirmed,
      items: billed,
      practitioner: practitioner.value.trim() || null,
    };
    if (!order) return sendConsult(c);
    const raised = await ctx.run(() => api.doctorWarnings(order.atc));
    if (!raised) return;
    if (unconfirmed(raised, confirmed).length === 0) return sendConsult({ ...c, confirmed: raised });
    askWarnings(raised, (ok) => void sendConsult({ ...c, confirmed: ok }));
  }

  // Claims and the insurers' decisions, item by item.
  const claimRow = (c: HospitalClaimView) =>
    h(
      'li',
      { class: `claim status-${c.claim.status}`, id: `hclaim-${c.claim.id}`, 'data-status': c.claim.status },
      h('strong', {}, t('insurer.claim', { id: c.claim.id })),
      ' ',
      h('span', { class: `badge badge-${c.claim.status}`, id: `hclaim-${c.claim.id}-status` }, t(`status.${c.claim.status}`)),
      ' ',
      h('span', { class: 'amount' }, money(c.claim.claimed)),
      c.disposition ? h('p', { class: 'muted' }, c.disposition) : null,
      c.items.length
        ? h(
            'ul',
            { class: 'decision-items', id: `hclaim-${c.claim.id}-items` },
            ...c.items.map((i) =>
              h(
                'li',
                { id: `hclaim-${c.claim.id}-item-${i.sequence}` },
                t('doctor.decisionItem', { sequence: i.sequence, billed: tokens(i.submitted), benefit: tokens(i.benefit) }),
                i.reason ? ` — ${i.reason}` : '',
              ),
            ),
          )
        : h('p', { class: 'muted' }, t('doctor.noDecision')),
    );
  const loadClaims = async () => {
    const list = await ctx.run(() => api.doctorClaims());
    if (list) replace(claims, list.length ? h('ul', { class: 'claims' }, ...list.map(claimRow)) : h('p', { class: 'muted' }, t('doctor.noClaims')));
  };

  void load();
  void loadClaims();
  return h(
    'section',
    { class: 'screen doctor', id: 'doctor' },
    h(
      'div',
      { class: 'col' },
      h('h1', { id: 'doctor-title' }, t('doctor.medication')),
      overview,
      allergy,
      h('h2', {}, t('doctor.history')),
      history,
      h('h2', {}, t('doctor.claims'), ' ', h('button', { class: 'secondary small', type: 'button', id: 'claims-refresh', onclick: () => void loadClaims() }, t('insurer.refresh'))),
      claims,
    ),
    h('div', { class: 'col' }, dialog, printed, diag, rx, claim),
  );
}
