// Any desk with a card: the patient's own view, over the visit's screen (like the change of PIN). Who holds
// consent now — each with Revoke, and Revoke all (confirmed first) — and the access log. After a revoke the list
// is asked again, so what the screen shows is what the chain holds.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { formatDate } from '../format';
import { t } from '../i18n';
import type { HeldConsentView, LogEntryView } from '../types';

const ROLES = ['hospital', 'pharmacy', 'insurer'] as const;

function roleName(role: string): string {
  return (ROLES as readonly string[]).includes(role) ? t(`institution.${role as (typeof ROLES)[number]}`) : role;
}

export function patientViewFlow(ctx: Ctx, onDone: () => void): HTMLElement {
  const consents = h('div', { id: 'consents', 'aria-busy': 'true' });
  const log = h('div', { id: 'access-log', 'aria-busy': 'true' });
  const confirm = h('div', { id: 'revoke-all-confirm-box', class: 'confirm', hidden: true });

  const loadConsents = async () => {
    const held = await ctx.run(() => api.patientConsents());
    if (held) renderConsents(held);
  };
  const loadLog = async () => {
    const entries = await ctx.run(() => api.patientAccessLog());
    if (entries) renderLog(entries);
  };
  const reload = async () => {
    await loadConsents();
    await loadLog();
  };

  const renderConsents = (held: HeldConsentView[]) => {
    consents.setAttribute('aria-busy', 'false');
    revokeAll.disabled = held.length === 0;
    if (held.length === 0) {
      replace(consents, h('p', { class: 'muted', id: 'consents-none' }, t('patientView.none')));
      return;
    }
    replace(
      consents,
      h(
        'ul',
        { class: 'consent-list' },
        ...held.map((c, i) =>
          h(
            'li',
            { class: 'consent', id: `consent-${i}`, 'data-institution': c.institution, 'data-scope': c.scope.join(',') },
            h(
              'div',
              { class: 'rx-main' },
              h('strong', { class: 'consent-name' }, c.name),
              h('span', { class: 'muted' }, roleName(c.role)),
            ),
            h(
              'div',
              { class: 'rx-meta' },
              h('span', { class: 'consent-scope' }, c.scope.map((n) => t(`scope.${n}`)).join(', ')),
              h('span', {}, t('patientView.until', { date: formatDate(c.validUntil) })),
            ),
            h(
              'button',
              {
                class: 'secondary',
                type: 'button',
                id: `consent-${i}-revoke`,
                'aria-label': `${t('patientView.revoke')} — ${c.name}`,
                onclick: async () => {
                  const done = await ctx.run(() => api.patientRevoke(c.institution), true);
                  if (!done) return;
                  ctx.showTx(done);
                  ctx.notify(t('patientView.revoked', { name: c.name }), 'info');
                  await reload();
                },
              },
              t('patientView.revoke'),
            ),
          ),
        ),
      ),
    );
  };

  const renderLog = (entries: LogEntryView[]) => {
    log.setAttribute('aria-busy', 'false');
    if (entries.length === 0) {
      replace(log, h('p', { class: 'muted', id: 'access-log-empty' }, t('patientView.logEmpty')));
      return;
    }
    replace(
      log,
      h(
        'ol',
        { class: 'timeline', id: 'access-log-list' },
        ...[...entries].reverse().map((e) =>
          h(
            'li',
            { class: `entry log-${e.event}`, 'data-event': e.event },
            h('span', { class: 'when' }, formatDate(e.time, true)),
            h('span', { class: 'title' }, e.summary),
          ),
        ),
      ),
    );
  };

  const revokeAll = h(
    'button',
    {
      class: 'secondary',
      type: 'button',
      id: 'revoke-all',
      disabled: true,
      onclick: () => {
        confirm.hidden = false;
        document.getElementById('revoke-all-yes')?.focus();
      },
    },
    t('patientView.revokeAll'),
  );
  replace(
    confirm,
    h('p', { class: 'warn' }, t('patientView.revokeAllConfirm')),
    h(
      'div',
      { class: 'row' },
      h(
        'button',
        {
          class: 'primary danger-fill',
          type: 'button',
          id: 'revoke-all-yes',
          onclick: async () => {
            confirm.hidden = true;
            const done = await ctx.run(() => api.patientRevokeAll(), true);
            if (!done) return;
            ctx.showTx(done);
            ctx.notify(t('patientView.allRevoked'), 'info');
            await reload();
          },
        },
        t('patientView.revokeAllYes'),
      ),
      h('button', { class: 'secondary', type: 'button', id: 'revoke-all-no', onclick: () => (confirm.hidden = true) }, t('common.cancel')),
    ),
  );

  void reload();
  return h(
    'section',
    { class: 'screen', id: 'patient-view' },
    h('h1', { id: 'patient-view-title' }, t('patientView.title')),
    h('h2', {}, t('patientView.consents')),
    consents,
    h('div', { class: 'desk-actions left' }, revokeAll),
    confirm,
    h('h2', {}, t('patientView.log')),
    log,
    h('button', { class: 'secondary big', type: 'button', id: 'patient-view-close', onclick: onDone }, t('common.back')),
  );
}
