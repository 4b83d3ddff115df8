// A document the desk printed (the prescription token, the dispense receipt): sent to the desk's printer (the
// screen names the printer and the job), or, with no printer or when the printer refused it, written to a file
// (opened in the PDF viewer when one is set up). Then the screen says the file must be deleted once printed — a
// token is a bearer secret — and "Printed — delete the file" deletes it.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { t } from '../i18n';
import type { PrintView } from '../types';

export function printPanel(ctx: Ctx, p: PrintView, what: 'token' | 'receipt'): HTMLElement {
  const title = h('h2', { id: 'print-title' }, t(what === 'token' ? 'print.tokenTitle' : 'print.receiptTitle'));
  const attrs = { class: `print print-${what}`, id: 'print', role: 'region', 'aria-labelledby': 'print-title' };
  if (p.path === null) {
    return h(
      'section',
      attrs,
      title,
      h(
        'p',
        { class: 'ok', id: 'print-sent', role: 'status' },
        t('print.sent', { printer: p.printer ?? '', job: p.job ?? '' }),
      ),
    );
  }
  const path = p.path;
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
          const done = await ctx.run(() => api.printDelete(path));
          if (done === undefined) return;
          replace(actions, h('p', { class: 'ok', id: 'print-deleted', role: 'status' }, t('print.deleted')));
        },
      },
      t('print.delete'),
    ),
  );
  return h(
    'section',
    attrs,
    title,
    p.printerError === null
      ? null
      : h('p', { class: 'error', id: 'print-error', role: 'alert' }, t('print.failed', { reason: p.printerError })),
    h('p', { class: 'warning', id: 'print-warning' }, t(what === 'token' ? 'print.tokenWarning' : 'print.receiptWarning')),
    h('p', { id: 'print-how' }, t(p.opened ? 'print.opened' : 'print.noViewer')),
    h('code', { class: 'path', id: 'print-path' }, path),
    actions,
  );
}
