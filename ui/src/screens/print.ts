// A document the desk printed (the prescription token, the dispense receipt): there is no printer integration
// yet, so the shell wrote it to a file (opened in the PDF viewer when one is set up). The screen says the file
// must be deleted once printed — a token is a bearer secret — and "Printed — delete the file" deletes it.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { t } from '../i18n';
import type { PrintView } from '../types';

export function printPanel(ctx: Ctx, p: PrintView, what: 'token' | 'receipt'): HTMLElement {
  const actions = h(
    'div',
    { class: 'actions' },
    h(
      'button',
      {
        class: 'primary',
        type: 'button',
        id: 'print-delete',
        onclick: async () => {
          const done = await ctx.run(() => api.printDelete(p.path));
          if (done === undefined) return;
          replace(actions, h('p', { class: 'ok', id: 'print-deleted', role: 'status' }, t('print.deleted')));
        },
      },
      t('print.delete'),
    ),
  );
  return h(
    'section',
    { class: `print print-${what}`, id: 'print', role: 'region', 'aria-labelledby': 'print-title' },
    h('h2', { id: 'print-title' }, t(what === 'token' ? 'print.tokenTitle' : 'print.receiptTitle')),
    h('p', { class: 'warning', id: 'print-warning' }, t(what === 'token' ? 'print.tokenWarning' : 'print.receiptWarning')),
    h('p', { id: 'print-how' }, t(p.opened ? 'print.opened' : 'print.noViewer')),
    h('code', { class: 'path', id: 'print-path' }, p.path),
    actions,
  );
}
