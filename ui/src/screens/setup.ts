// Start/set-up: which institution and role this kiosk is, network and node, wallet address, reader; or a clear
// refusal with what to do (e.g. the kiosk's key is not registered for its role).
import { h } from '../dom';
import { t } from '../i18n';
import type { KioskInfo, StatusView } from '../types';

export function setupScreen(info: KioskInfo, status: StatusView | null, onStart: () => void): HTMLElement {
  const rows: [string, string][] = [
    [t('setup.role'), t(`role.${info.role}`)],
    [t('setup.institution'), info.institution ? `#${info.institutionId} · ${info.institution}` : '—'],
    [t('setup.profile'), info.profile || '—'],
    [t('setup.chain'), info.chainId !== null ? String(info.chainId) : '—'],
    [t('setup.node'), info.rpcUrl ?? '—'],
    [t('setup.wallet'), info.address ?? '—'],
    [t('setup.reader'), status?.reader.reader ?? (info.reader || '—')],
  ];
  return h(
    'section',
    { class: 'screen setup', id: 'setup' },
    h('h1', { id: 'setup-title' }, t('setup.title')),
    info.ready
      ? null
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
  );
}
