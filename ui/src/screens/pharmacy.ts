// Pharmacy: the patient's prescriptions as the chain holds them (issuer, status — partly dispensed with its part —,
// expiry); per prescription the quantity to hand out (what remains by default), a substitute product (only where
// the prescription allows it) and the batch number, on the card's proof of presence; the receipt printed. And the
// prescription token a representative presents (no card): scanned, pasted or typed, checked, then dispensed.
import { api } from '../api';
import type { Ctx } from '../context';
import { prescribedQuantity, prescribedUnit, remainingQuantity, substitutionAllowed, tokenInput } from '../desks';
import { field, h, replace } from '../dom';
import { formatDate, percent, summarize } from '../format';
import { t } from '../i18n';
import type { DispenseView, PrescriptionStatus, PrescriptionView, TokenCheckView } from '../types';
import { consentChoice, signedLine } from './consent';
import { printPanel } from './print';

/** "partly dispensed (50 %)", or the status alone. */
export function statusText(status: PrescriptionStatus, dispensedBps: number): string {
  return status === 'partly-dispensed' ? `${t('status.partly-dispensed')} (${percent(dispensedBps)})` : t(`status.${status}`);
}

function receipt(ctx: Ctx, d: DispenseView): HTMLElement {
  const s = summarize(d.receipt);
  return h(
    'div',
    { class: 'receipt', id: 'receipt', role: 'status' },
    h('h2', {}, t('pharmacy.receipt')),
    h('p', { class: 'big-text' }, s.title),
    h('p', {}, s.detail, ' · ', t('pharmacy.part', { part: percent(d.part) })),
    d.print ? printPanel(ctx, d.print, 'receipt') : null,
  );
}

export function pharmacyVisit(ctx: Ctx): HTMLElement {
  const list = h('div', { id: 'prescriptions', 'aria-busy': 'true' });
  const after = h('div', { id: 'dispense-result' });
  const form = (p: PrescriptionView, items: PrescriptionView[]) => {
    const total = prescribedQuantity(p.request);
    const left = remainingQuantity(total, p.dispensedBps);
    const qty = h('input', { id: `rx-${p.id}-qty`, type: 'number', min: 0.01, max: left, step: 'any', value: left, required: true });
    const batch = h('input', { id: `rx-${p.id}-batch`, autocomplete: 'off', maxlength: 40, required: true });
    const substitute = substitutionAllowed(p.request) ? h('input', { id: `rx-${p.id}-substitute`, autocomplete: 'off', maxlength: 120 }) : null;
    const f = h(
      'form',
      { class: 'form inline dispense-form', id: `rx-${p.id}-form` },
      field(t('pharmacy.quantity', { left, unit: prescribedUnit(p.request) }), qty),
      field(t('pharmacy.batch'), batch),
      substitute ? field(t('pharmacy.substitute'), substitute) : h('p', { class: 'muted', id: `rx-${p.id}-no-substitution` }, t('pharmacy.noSubstitution')),
      h('button', { class: 'primary', type: 'submit', id: `rx-${p.id}-dispense` }, t('pharmacy.dispense')),
    );
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const quantity = Number(qty.value);
      const d = await ctx.run(
        () => api.pharmacyDispense(p.id, quantity >= left ? null : quantity, substitute?.value.trim() || null, batch.value.trim()),
        true,
      );
      if (!d) return;
      ctx.showTx(d.tx);
      replace(after, receipt(ctx, d));
      if (d.tx.state === 'confirmed') {
        // Confirmed on chain: shown as it now is without asking the card for a new window.
        render(items.map((q) => (q.id === p.id ? { ...q, status: d.status, dispensedBps: d.dispensedBps, dispensable: d.status === 'partly-dispensed' } : q)));
      }
    });
    return f;
  };
  const render = (items: PrescriptionView[]) => {
    list.setAttribute('aria-busy', 'false');
    if (items.length === 0) {
      replace(list, h('p', { class: 'muted', id: 'no-prescriptions' }, t('pharmacy.none')));
      return;
    }
    replace(
      list,
      h(
        'ul',
        { class: 'rx-list' },
        ...items.map((p) => {
          if (p.request === null) {
            return h(
              'li',
              { class: 'rx unreadable', id: `rx-${p.id}`, 'data-status': 'unreadable' },
              h('div', { class: 'rx-main' }, h('strong', {}, t('pharmacy.unreadable', { id: p.id })), h('span', {}, p.unreadable ?? '')),
            );
          }
          const s = summarize(p.request);
          return h(
            'li',
            { class: `rx status-${p.status}`, id: `rx-${p.id}`, 'data-status': p.status },
            h('div', { class: 'rx-main' }, h('strong', {}, s.title), h('span', {}, s.detail)),
            h(
              'div',
              { class: 'rx-meta' },
              h('span', { class: `badge badge-${p.status}`, id: `rx-${p.id}-status` }, statusText(p.status, p.dispensedBps)),
              h('span', {}, t('pharmacy.issuer', { issuer: p.issuer })),
              h('span', {}, t('pharmacy.expires', { date: formatDate(p.validUntil) })),
            ),
            p.dispensable ? form(p, items) : null,
          );
        }),
      ),
    );
  };
  // What the pharmacy asks (read and dispense, a few days): the patient may narrow it before the card signs.
  const choice = consentChoice(ctx.info.consent, ctx.notify);
  const signed = h('div', { id: 'pharmacy-signed' });
  const open = h('button', { class: 'primary big', id: 'pharmacy-open', type: 'button' }, t('pharmacy.open'));
  list.hidden = true;
  open.addEventListener('click', async () => {
    const chosen = choice.value();
    if (!chosen) return;
    const v = await ctx.run(() => api.pharmacyOpen(chosen), true);
    if (!v) return;
    open.hidden = true;
    choice.el.hidden = true;
    list.hidden = false;
    replace(signed, signedLine(v.signed, true));
    render(v.prescriptions);
  });
  return h('section', { class: 'screen', id: 'pharmacy' }, h('h1', { id: 'pharmacy-title' }, t('pharmacy.list')), choice.el, open, signed, list, after);
}

/** The prescription token desk (no card): the token scanned or pasted (its QR payload), or the prescription
 * number and the printed code typed; checked against the chain; then the product, quantity and batch handed out. */
export function tokenDesk(ctx: Ctx, onDone: () => void): HTMLElement {
  const payload = h('input', { id: 'token-payload', autocomplete: 'off', spellcheck: false, placeholder: 'CKRX1:…' });
  const id = h('input', { id: 'token-id', type: 'number', min: 1, step: 1 });
  const code = h('input', { id: 'token-code', autocomplete: 'off', spellcheck: false, maxlength: 80 });
  const checked = h('div', { id: 'token-checked' });
  const presented = () => tokenInput(payload.value, id.value, code.value);
  const show = (c: TokenCheckView) => {
    const product = h('input', { id: 'token-product', autocomplete: 'off', maxlength: 120, required: true });
    const qty = h('input', { id: 'token-qty', type: 'number', min: 0.01, step: 'any', required: true });
    const unit = h('input', { id: 'token-unit', autocomplete: 'off', maxlength: 30, value: 'capsule' });
    const batch = h('input', { id: 'token-batch', autocomplete: 'off', maxlength: 40, required: true });
    const f = h(
      'form',
      { class: 'form', id: 'token-dispense-form' },
      field(t('pharmacy.tokenProduct'), product),
      h('div', { class: 'row' }, field(t('doctor.quantity'), qty), field(t('pharmacy.unit'), unit)),
      field(t('pharmacy.batch'), batch),
      h('button', { class: 'primary', type: 'submit', id: 'token-dispense' }, t('pharmacy.dispense')),
    );
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const tx = await ctx.run(
        () => api.pharmacyTokenDispense(presented(), { product: product.value.trim(), quantity: Number(qty.value), unit: unit.value.trim(), batch: batch.value.trim() }),
        true,
      );
      if (!tx) return;
      ctx.showTx(tx.tx);
      payload.value = code.value = id.value = '';
      replace(
        checked,
        h('p', { class: 'ok', id: 'token-dispensed', role: 'status' }, t('pharmacy.tokenDispensed', { id: c.id })),
        tx.print ? printPanel(ctx, tx.print, 'receipt') : null,
      );
    });
    replace(
      checked,
      h(
        'p',
        { id: 'token-status' },
        t('pharmacy.tokenFound', { id: c.id }),
        ' ',
        h('span', { class: `badge badge-${c.status}` }, statusText(c.status, c.dispensedBps)),
        ' ',
        t('pharmacy.expires', { date: formatDate(c.validUntil) }),
      ),
      c.dispensable ? [h('p', { class: 'muted' }, t('pharmacy.tokenHint')), f] : null,
    );
  };
  const check = h('form', { class: 'form', id: 'token-form' }, field(t('pharmacy.tokenPayload'), payload), h('p', { class: 'muted' }, t('pharmacy.tokenOr')), h('div', { class: 'row' }, field(t('pharmacy.tokenId'), id), field(t('pharmacy.tokenCode'), code)), h('button', { class: 'primary', type: 'submit', id: 'token-check' }, t('pharmacy.tokenCheck')));
  check.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const c = await ctx.run(() => api.pharmacyTokenCheck(presented()));
    if (c) show(c);
  });
  return h(
    'section',
    { class: 'screen', id: 'token-desk' },
    h('h1', { id: 'token-desk-title' }, t('pharmacy.tokenTitle')),
    h('p', { class: 'muted' }, t('pharmacy.tokenIntro')),
    check,
    checked,
    h('button', { class: 'secondary', type: 'button', id: 'token-done', onclick: onDone }, t('common.close')),
  );
}
