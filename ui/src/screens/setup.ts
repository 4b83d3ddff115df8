// Start/set-up: which institution and role this kiosk is, network and node, wallet address, reader; or a clear
// refusal with what to do (e.g. the kiosk's key is not registered for its role). A kiosk set up on its first run
// and not enrolled yet shows its address as text and as a QR code, and what it waits for. A desk that comes from
// the first-run set-up can be reset with the staff code.
import { api } from '../api';
import { h } from '../dom';
import { t, type Key } from '../i18n';
import { qrSvg } from '../qr';
import { onStaffCode } from '../staffclose';
import type { EnrolmentView, KioskInfo, StatusView } from '../types';

function enrolmentPanel(e: EnrolmentView): HTMLElement {
  return h(
    'div',
    { class: 'enrolment', id: 'enrolment', 'data-state': e.state },
    h('h2', {}, t('enrol.title')),
    h('p', {}, t('enrol.address')),
    h('p', { class: 'mono big', id: 'enrol-address' }, e.address),
    qrSvg(e.qrWidth, e.qrModules, t('enrol.qr'), 'enrol-qr'),
    h(
      'p',
      { id: 'enrol-state', role: 'status' },
      t(`enrol.${e.state}` as Key, { institution: e.institution, offer: e.offer ?? '' }),
    ),
  );
}

function resetPanel(): HTMLElement {
  const code = h('input', { id: 'reset-code', type: 'password', inputmode: 'numeric', autocomplete: 'off', maxlength: 12 });
  const error = h('p', { class: 'error', id: 'reset-error', role: 'alert' });
  const form = h(
    'form',
    { class: 'form', id: 'reset-form', hidden: true },
    h('p', { class: 'muted' }, t('firstrun.resetHint')),
    h('label', { for: 'reset-code' }, t('staff.code')),
    code,
    error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'reset-confirm' }, t('firstrun.resetConfirm'))),
  );
  onStaffCode(form, code, error, (c) => api.firstrunReset(c));
  const open = h('button', { type: 'button', class: 'secondary', id: 'reset-open' }, t('firstrun.reset'));
  open.addEventListener('click', () => {
    form.hidden = false;
    open.hidden = true;
    code.focus();
  });
  return h('div', { class: 'reset no-print', id: 'reset' }, open, form);
}

export function setupScreen(info: KioskInfo, status: StatusView | null, onStart: () => void): HTMLElement {
  const rows: [string, string][] = [
    [t('setup.role'), t(`role.${info.role}`)],
    [t('setup.institution'), info.institution ? `#${info.institutionId} · ${info.institution}` : '—'],
    [t('setup.profile'), info.profile || '—'],
    [t('setup.chain'), info.chainId !== null ? String(info.chainId) : '—'],
    [t('setup.node'), info.rpcUrl ?? '—'],
    [t('setup.wallet'), info.address ?? info.enrolment?.address ?? '—'],
    [t('setup.reader'), status?.reader.reader ?? (info.reader || '—')],
  ];
  return h(
    'section',
    { class: 'screen setup', id: 'setup' },
    h('h1', { id: 'setup-title' }, t('setup.title')),
    info.ready
      ? null
      : info.enrolment
        ? enrolmentPanel(info.enrolment)
        : info.error
          ? h(
              'div',
              { class: 'refusal', id: 'setup-refusal', role: 'alert' },
              h('h2', {}, t('setup.refused')),
              h('p', { id: 'setup-error' }, info.error),
              h('p', { class: 'muted' }, t('setup.retrying')),
            )
          : h('p', { class: 'muted', id: 'setup-starting' }, t('setup.starting')),
    h(
      'dl',
      { class: 'facts', id: 'setup-facts' },
      rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', { class: 'mono' }, v)]),
    ),
    info.ready
      ? h('button', { class: 'primary big', id: 'setup-start', type: 'button', onclick: onStart }, t('setup.continue'))
      : null,
    info.fromSetup ? resetPanel() : null,
  );
}
