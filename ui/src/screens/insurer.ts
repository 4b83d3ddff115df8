// Insurer: the claim queue; a claim opened with its items and the coverage arithmetic, decided item by item
// (benefit per item — net × coverage by default — and the reason when reduced); above the insurer's four-eyes
// threshold the approval waits for a second reviewer at another workstation, who confirms it from the "waiting
// for second review" list; pay from escrow; the paid claims; and enrolment (the patient's card and PIN at the desk).
import { api } from '../api';
import type { Ctx } from '../context';
import { decidedAmount, defaultBenefit } from '../desks';
import { field, h, replace } from '../dom';
import { coverage, formatUnits, parseUnits, percent, shortHash, summarize } from '../format';
import { t } from '../i18n';
import { pinPad } from '../pinpad';
import type { AppError, ClaimView, ItemDecisionInput, ReviewView } from '../types';

export function insurerDesk(ctx: Ctx): HTMLElement {
  const dec = ctx.token.decimals;
  const money = (base: string) => `${formatUnits(base, dec)} ${ctx.token.symbol}`;
  const queue = h('div', { id: 'claim-queue', 'aria-busy': 'true' });
  const pending = h('div', { id: 'claims-pending' });
  const paid = h('div', { id: 'claims-paid' });
  const detail = h('div', { id: 'claim-detail' });
  // The last decision's outcome, kept above the claim as it is shown again after the decision.
  const decision = h('div', { id: 'decide-result' });

  const row = (c: ClaimView, action: 'open' | 'confirm' | null) =>
    h(
      'li',
      { class: `claim status-${c.status}`, id: `claim-${c.id}`, 'data-status': c.status },
      h('strong', {}, t('insurer.claim', { id: c.id })),
      h('span', {}, t('insurer.patient', { id: shortHash(c.patientId) })),
      h('span', { class: 'amount' }, money(c.claimed)),
      h('span', { class: `badge badge-${c.status}`, id: `claim-${c.id}-status` }, t(`status.${c.status}`)),
      action === 'open'
        ? h(
            'button',
            {
              class: 'secondary',
              type: 'button',
              id: `claim-${c.id}-open`,
              'aria-label': `${t('insurer.open')} — ${t('insurer.claim', { id: c.id })}`,
              onclick: () => (replace(decision), void review(c.id)),
            },
            t('insurer.open'),
          )
        : null,
      action === 'confirm'
        ? h(
            'button',
            {
              class: 'primary',
              type: 'button',
              id: `claim-${c.id}-confirm`,
              'aria-label': `${t('insurer.confirm')} — ${t('insurer.claim', { id: c.id })}`,
              onclick: () => void confirm(c.id),
            },
            t('insurer.confirm'),
          )
        : null,
    );

  const load = async () => {
    const [q, w, p] = await Promise.all([
      ctx.run(() => api.insurerQueue()),
      ctx.run(() => api.insurerPending()),
      ctx.run(() => api.insurerPaid()),
    ]);
    queue.setAttribute('aria-busy', 'false');
    if (q) replace(queue, q.length ? h('ul', { class: 'claims' }, ...q.map((c) => row(c, 'open'))) : h('p', { class: 'muted' }, t('insurer.empty')));
    if (w) replace(pending, w.length ? h('ul', { class: 'claims' }, ...w.map((c) => row(c, 'confirm'))) : h('p', { class: 'muted' }, t('insurer.nonePending')));
    if (p) replace(paid, p.length ? h('ul', { class: 'claims' }, ...p.map((c) => row(c, null))) : h('p', { class: 'muted' }, t('insurer.nonePaid')));
  };

  const reasons = api.denialReasons();

  const review = async (id: number) => {
    const r = await ctx.run(() => api.insurerReview(id));
    if (r) replace(detail, await reviewPanel(r));
  };

  // The second reviewer: refused on the workstation that approved it (SameReviewer), said in place.
  const confirm = async (id: number) => {
    const tx = await ctx.run(() => api.insurerConfirm(id), true, (e: AppError) => {
      if (e.revert !== 'SameReviewer') return false;
      replace(detail, h('p', { class: 'error', role: 'alert', id: 'confirm-error' }, t('insurer.sameReviewer'), h('br'), h('span', { class: 'muted' }, e.message)));
      return true;
    });
    if (!tx) return;
    ctx.showTx(tx);
    ctx.notify(t('insurer.confirmed', { id }), 'info');
    await load();
    await review(id);
  };

  const reviewPanel = async (r: ReviewView): Promise<HTMLElement> => {
    const c = r.claim;
    const sym = r.symbol || ctx.token.symbol;
    const amountOf = (base: string) => `${formatUnits(base, r.decimals)} ${sym}`;
    const cov = coverage(c.claimed, r.coverageBps, r.remaining);
    const s = summarize(r.details);
    const list = await reasons;
    const after = async () => {
      await load();
      await review(c.id);
    };
    const actions: HTMLElement[] = [];
    const inputs = r.items.map((i) => ({
      item: i,
      // In a table row: each named by its column and the item.
      benefit: h('input', {
        id: `item-${i.sequence}-benefit`,
        inputmode: 'decimal',
        'aria-label': `${t('insurer.benefit')} (${sym}) — #${i.sequence} ${i.service}`,
        value: formatUnits(defaultBenefit(i.net, r.coverageBps), r.decimals, 2).replace(/,/g, ''),
      }),
      reason: h('input', {
        id: `item-${i.sequence}-reason`,
        list: 'denial-reasons',
        autocomplete: 'off',
        maxlength: 200,
        'aria-label': `${t('insurer.reason')} — #${i.sequence} ${i.service}`,
      }),
    }));
    const items = h(
      'table',
      { class: 'items', id: 'review-items' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['#', t('insurer.service'), t('doctor.quantity'), t('insurer.net'), `${t('insurer.benefit')} (${sym})`, t('insurer.reason')].map((head) =>
            h('th', { scope: 'col' }, head),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        ...inputs.map(({ item, benefit, reason }) =>
          h(
            'tr',
            { id: `item-${item.sequence}` },
            h('td', {}, String(item.sequence)),
            h('td', {}, item.service),
            h('td', {}, String(item.quantity)),
            h('td', { id: `item-${item.sequence}-net` }, amountOf(item.net)),
            h('td', {}, c.status === 'submitted' ? benefit : '—'),
            h('td', {}, c.status === 'submitted' ? reason : ''),
          ),
        ),
      ),
    );
    if (c.status === 'submitted') {
      const decide = h(
        'form',
        { class: 'form', id: 'decide-form' },
        h('datalist', { id: 'denial-reasons' }, ...list.map((x) => h('option', { value: x.display }))),
        h(
          'label',
          { class: 'check', for: 'pay-now' },
          h('input', { type: 'checkbox', id: 'pay-now', checked: true }),
          ' ',
          t('insurer.payNow'),
        ),
        h('button', { class: 'primary', id: 'decide', type: 'submit' }, t('insurer.decide')),
      );
      decide.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const decisions: ItemDecisionInput[] = [];
        for (const { item, benefit, reason } of inputs) {
          const base = parseUnits(benefit.value, r.decimals);
          if (base === null || BigInt(base) > BigInt(item.net)) {
            ctx.notify(t('insurer.badBenefit', { sequence: item.sequence, value: benefit.value }), 'error');
            benefit.focus();
            return;
          }
          const reduced = BigInt(base) < BigInt(defaultBenefit(item.net, r.coverageBps));
          if (reduced && !reason.value.trim()) {
            ctx.notify(t('insurer.needReason', { sequence: item.sequence }), 'error');
            reason.focus();
            return;
          }
          decisions.push({ sequence: item.sequence, benefit: base, reason: reason.value.trim() || null });
        }
        const payNow = (decide.querySelector('#pay-now') as HTMLInputElement | null)?.checked ?? false;
        const d = await ctx.run(() => api.insurerDecide(c.id, decisions, payNow), true);
        if (!d) return;
        ctx.showTx(d.tx);
        await after();
        replace(
          decision,
          h(
            'p',
            { class: d.pendingSecond ? 'warning' : 'ok', id: 'decided', role: 'status', 'data-pending-second': d.pendingSecond ? 'true' : 'false' },
            BigInt(d.amount) === 0n
              ? t('insurer.decidedDenied')
              : t(d.paid ? 'insurer.decidedPaid' : 'insurer.decided', { amount: amountOf(d.amount) }),
            d.pendingSecond ? [' ', t('insurer.waitsSecond')] : null,
          ),
        );
      });
      actions.push(
        h('p', { class: 'muted', id: 'decide-total' }, t('insurer.decideHint', { cap: amountOf(decidedAmount(inputs.map((i) => defaultBenefit(i.item.net, r.coverageBps)), r.cap)) })),
        decide,
      );
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
    const panel = h(
      'section',
      { class: 'review', id: `review-${c.id}` },
      h('h2', {}, t('insurer.claim', { id: c.id }), ' ', h('span', { class: `badge badge-${c.status}`, id: 'review-status' }, t(`status.${c.status}`))),
      h('p', {}, s.title, s.detail ? ` · ${s.detail}` : ''),
      items,
      h(
        'dl',
        { class: 'facts arithmetic', id: 'coverage' },
        h('dt', {}, t('insurer.claimed')),
        h('dd', { id: 'cov-claimed' }, amountOf(c.claimed)),
        h('dt', {}, t('insurer.coverage')),
        h('dd', { id: 'cov-rate' }, percent(r.coverageBps)),
        h('dt', {}, t('insurer.byRate')),
        h('dd', { id: 'cov-by-rate' }, amountOf(cov.byRate.toString())),
        h('dt', {}, t('insurer.remaining')),
        h('dd', { id: 'cov-remaining' }, amountOf(r.remaining)),
        h('dt', {}, t('insurer.cap')),
        h('dd', { id: 'cov-cap' }, h('strong', {}, amountOf(r.cap))),
      ),
      ...actions,
    );
    return panel;
  };

  // Enrolment: the patient's card in the reader and their PIN, then coverage and annual limit.
  const enrol = h('div', { id: 'enrol-panel' });
  const enrolStart = () => {
    const pad = (message?: string, tries?: number) =>
      replace(
        enrol,
        h('h2', {}, t('insurer.enrolTitle')),
        h('p', { class: 'muted', id: 'enrol-insert' }, t('insurer.enrolInsert')),
        pinPad({
          triesLeft: tries ?? null,
          message,
          onSubmit: (pin) => void unlock(pin),
          onCancel: () => void enrolEnd(),
        }),
      );
    const unlock = async (pin: string) => {
      const p = await ctx.run(() => api.cardUnlock(pin), false, (e) => {
        if (e.kind === 'wrong-pin') {
          pad(t('pin.wrong', { tries: e.triesLeft ?? 0 }), e.triesLeft ?? 0);
          return true;
        }
        if (['no-card', 'card-removed', 'no-session', 'pin-blocked'].includes(e.kind)) {
          pad(e.kind === 'pin-blocked' ? t('pin.blocked') : t('error.no-card'));
          return true;
        }
        return false;
      });
      if (p) form(p.name);
    };
    const form = (name: string) => {
      const pct = h('input', { id: 'enrol-percent', type: 'number', min: 1, max: 100, step: 'any', value: 80, required: true });
      const limit = h('input', { id: 'enrol-limit', inputmode: 'decimal', value: '5000', required: true });
      const f = h(
        'form',
        { class: 'form', id: 'enrol-form' },
        h('h2', {}, t('insurer.enrolTitle')),
        h('p', { id: 'enrol-patient' }, t('insurer.enrolPatient', { name })),
        h('div', { class: 'row' }, field(t('insurer.enrolPercent'), pct), field(`${t('insurer.enrolLimit')} (${ctx.token.symbol})`, limit)),
        h(
          'div',
          { class: 'actions' },
          h('button', { class: 'secondary', type: 'button', id: 'enrol-cancel', onclick: () => void enrolEnd() }, t('common.cancel')),
          h('button', { class: 'primary', type: 'submit', id: 'enrol-submit' }, t('insurer.enrol')),
        ),
      );
      f.addEventListener('submit', async (ev) => {
        ev.preventDefault();
        const bps = Math.round(Number(pct.value) * 100);
        const base = parseUnits(limit.value, dec);
        if (base === null || !(bps > 0 && bps <= 10000)) {
          ctx.notify(t('insurer.enrolInvalid'), 'error');
          return;
        }
        const tx = await ctx.run(() => api.insurerEnroll(bps, base), true);
        if (!tx) return;
        ctx.showTx(tx);
        await api.sessionEnd().catch(() => undefined);
        replace(enrol, h('p', { class: 'ok', id: 'enrol-done', role: 'status' }, t('insurer.enrolled', { name, percent: percent(bps), limit: money(base) })));
      });
      replace(enrol, f);
    };
    pad();
  };
  const enrolEnd = async () => {
    await api.sessionEnd().catch(() => undefined);
    replace(enrol);
  };

  void load();
  return h(
    'section',
    { class: 'screen insurer', id: 'insurer' },
    h(
      'div',
      { class: 'col' },
      h('h1', { id: 'insurer-title' }, t('insurer.queue')),
      h(
        'div',
        { class: 'desk-tools' },
        h('button', { class: 'secondary small', type: 'button', id: 'refresh', onclick: () => void load() }, t('insurer.refresh')),
        h('button', { class: 'secondary small', type: 'button', id: 'enrol-open', onclick: enrolStart }, t('insurer.enrolOpen')),
      ),
      queue,
      h('h2', {}, t('insurer.pendingTitle')),
      pending,
      h('h2', {}, t('insurer.paid')),
      paid,
    ),
    h('div', { class: 'col' }, enrol, decision, detail),
  );
}
