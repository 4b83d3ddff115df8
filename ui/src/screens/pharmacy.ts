// Pharmacy: the patient's prescriptions as the chain holds them (issuer, status, expiry), dispense one on the
// card's proof of presence, hand over the receipt. Dispensed, cancelled or expired ones show as such, no button.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { formatDate, summarize } from '../format';
import { t } from '../i18n';
import type { DispenseView, PrescriptionView } from '../types';
import { consentChoice, signedLine } from './consent';

function receipt(d: DispenseView): HTMLElement {
  const s = summarize(d.receipt);
  return h(
    'div',
    { class: 'receipt', id: 'receipt', role: 'status' },
    h('h2', {}, t('pharmacy.receipt')),
    h('p', { class: 'big-text' }, s.title),
    h('p', {}, s.detail),
  );
}

export function pharmacyVisit(ctx: Ctx): HTMLElement {
  const list = h('div', { id: 'prescriptions', 'aria-busy': 'true' });
  const after = h('div', { id: 'dispense-result' });
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
              h('span', { class: `badge badge-${p.status}`, id: `rx-${p.id}-status` }, t(`status.${p.status}`)),
              h('span', {}, t('pharmacy.issuer', { issuer: p.issuer })),
              h('span', {}, t('pharmacy.expires', { date: formatDate(p.validUntil) })),
            ),
            p.dispensable
              ? h(
                  'button',
                  {
                    class: 'primary',
                    type: 'button',
                    id: `rx-${p.id}-dispense`,
                    onclick: async () => {
                      const d = await ctx.run(() => api.pharmacyDispense(p.id), true);
                      if (!d) return;
                      ctx.showTx(d.tx);
                      replace(after, receipt(d));
                      if (d.tx.state === 'confirmed') {
                        // Confirmed on chain: shown as dispensed without asking the card for a new window.
                        render(items.map((q) => (q.id === p.id ? { ...q, status: 'dispensed', dispensable: false } : q)));
                      }
                    },
                  },
                  t('pharmacy.dispense'),
                )
              : null,
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
    replace(signed, signedLine(v.signed));
    render(v.prescriptions);
  });
  return h('section', { class: 'screen', id: 'pharmacy' }, h('h1', {}, t('pharmacy.list')), choice.el, open, signed, list, after);
}
