// Insurer: the claim queue, a claim opened with the coverage arithmetic, approve (up to the cap) or deny with a
// reason code, pay from escrow, and the paid claims.
import { api } from '../api';
import type { Ctx } from '../context';
import { field, h, replace } from '../dom';
import { coverage, formatUnits, parseUnits, percent, shortHash, summarize } from '../format';
import { t } from '../i18n';
import type { ClaimView, ReviewView } from '../types';

export function insurerDesk(ctx: Ctx): HTMLElement {
  const dec = ctx.token.decimals;
  const money = (base: string) => `${formatUnits(base, dec)} ${ctx.token.symbol}`;
  const queue = h('div', { id: 'claim-queue', 'aria-busy': 'true' });
  const paid = h('div', { id: 'claims-paid' });
  const detail = h('div', { id: 'claim-detail' });

  const row = (c: ClaimView, open: boolean) =>
    h(
      'li',
      { class: `claim status-${c.status}`, id: `claim-${c.id}`, 'data-status': c.status },
      h('strong', {}, t('insurer.claim', { id: c.id })),
      h('span', {}, t('insurer.patient', { id: shortHash(c.patientId) })),
      h('span', { class: 'amount' }, money(c.claimed)),
      h('span', { class: `badge badge-${c.status}`, id: `claim-${c.id}-status` }, t(`status.${c.status}`)),
      open
        ? h('button', { class: 'secondary', type: 'button', id: `claim-${c.id}-open`, onclick: () => void review(c.id) }, t('insurer.open'))
        : null,
    );

  const load = async () => {
    const [q, p] = await Promise.all([ctx.run(() => api.insurerQueue()), ctx.run(() => api.insurerPaid())]);
    queue.setAttribute('aria-busy', 'false');
    if (q) replace(queue, q.length ? h('ul', { class: 'claims' }, ...q.map((c) => row(c, true))) : h('p', { class: 'muted' }, t('insurer.empty')));
    if (p) replace(paid, p.length ? h('ul', { class: 'claims' }, ...p.map((c) => row(c, false))) : h('p', { class: 'muted' }, t('insurer.nonePaid')));
  };

  const reasons = api.denialReasons();

  const review = async (id: number) => {
    const r = await ctx.run(() => api.insurerReview(id));
    if (r) replace(detail, await reviewPanel(r));
  };

  const reviewPanel = async (r: ReviewView): Promise<HTMLElement> => {
    const c = r.claim;
    const cov = coverage(c.claimed, r.coverageBps, r.remaining);
    const s = summarize(r.details);
    const amount = h('input', { id: 'approve-amount', inputmode: 'decimal', value: formatUnits(r.cap, dec, 2).replace(/,/g, '') });
    const reason = h('select', { id: 'deny-reason' }, ...(await reasons).map((x) => h('option', { value: x.code }, `${x.code} — ${x.display}`)));
    const after = async () => {
      await load();
      await review(c.id);
    };
    const actions: HTMLElement[] = [];
    if (c.status === 'submitted') {
      actions.push(
        h(
          'form',
          { class: 'form inline', id: 'approve-form' },
          field(`${t('insurer.amount')} (${ctx.token.symbol})`, amount),
          h('button', { class: 'primary', id: 'approve', type: 'submit' }, t('insurer.approve')),
        ),
        h(
          'form',
          { class: 'form inline', id: 'deny-form' },
          field(t('insurer.reason'), reason),
          h('button', { class: 'danger', id: 'deny', type: 'submit' }, t('insurer.deny')),
        ),
      );
      actions[0].addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const base = parseUnits(amount.value, dec);
        if (base === null) {
          ctx.notify(`${t('insurer.amount')}: ${amount.value}`, 'error');
          return;
        }
        const tx = await ctx.run(() => api.insurerApprove(c.id, base), true);
        if (tx) {
          ctx.showTx(tx);
          await after();
        }
      });
      actions[1].addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const tx = await ctx.run(() => api.insurerDeny(c.id, Number(reason.value)), true);
        if (tx) {
          ctx.showTx(tx);
          await after();
        }
      });
    } else if (c.status === 'approved') {
      actions.push(
        h(
          'button',
          {
            class: 'primary big',
            id: 'pay',
            type: 'button',
            onclick: async () => {
              const tx = await ctx.run(() => api.insurerPay(c.id), true);
              if (tx) {
                ctx.showTx(tx);
                await after();
              }
            },
          },
          t('insurer.pay'),
        ),
      );
    }
    return h(
      'section',
      { class: 'review', id: `review-${c.id}` },
      h('h2', {}, t('insurer.claim', { id: c.id }), ' ', h('span', { class: `badge badge-${c.status}`, id: 'review-status' }, t(`status.${c.status}`))),
      h('p', {}, s.title, s.detail ? ` · ${s.detail}` : ''),
      h(
        'dl',
        { class: 'facts arithmetic', id: 'coverage' },
        h('dt', {}, t('insurer.claimed')),
        h('dd', { id: 'cov-claimed' }, money(c.claimed)),
        h('dt', {}, t('insurer.coverage')),
        h('dd', { id: 'cov-rate' }, percent(r.coverageBps)),
        h('dt', {}, t('insurer.byRate')),
        h('dd', { id: 'cov-by-rate' }, money(cov.byRate.toString())),
        h('dt', {}, t('insurer.remaining')),
        h('dd', { id: 'cov-remaining' }, money(r.remaining)),
        h('dt', {}, t('insurer.cap')),
        h('dd', { id: 'cov-cap' }, h('strong', {}, money(r.cap))),
      ),
      ...actions,
    );
  };

  void load();
  return h(
    'section',
    { class: 'screen insurer', id: 'insurer' },
    h(
      'div',
      { class: 'col' },
      h('h1', {}, t('insurer.queue'), ' ', h('button', { class: 'secondary small', type: 'button', id: 'refresh', onclick: () => void load() }, t('insurer.refresh'))),
      queue,
      h('h2', {}, t('insurer.paid')),
      paid,
    ),
    h('div', { class: 'col' }, detail),
  );
}
