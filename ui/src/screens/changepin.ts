// Any desk with a card: the patient changes their PIN. The old PIN is the one typed for this visit (the session's);
// the new one is typed twice on the PIN pad. The visit's screen stays underneath, untouched.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { t } from '../i18n';
import { pinPad } from '../pinpad';

export function changePinFlow(ctx: Ctx, onDone: (changed: boolean) => void): HTMLElement {
  const body = h('div', { id: 'change-pin-step' });
  const root = h('section', { class: 'screen', id: 'change-pin-flow' }, h('h1', { id: 'change-pin-title' }, t('changePin.title')), body);
  let first = '';
  const cancel = () => {
    first = '';
    onDone(false);
  };
  const show = (el: HTMLElement) => {
    replace(body, el);
    if (root.isConnected) el.focus();
  };
  const askNew = (message?: string) =>
    pinPad({
      step: 'new-pin',
      title: t('changePin.new'),
      hint: t('unblock.pinHint'),
      message,
      onCancel: cancel,
      onSubmit: (p) => {
        first = p;
        show(askAgain());
      },
    });
  const askAgain = () =>
    pinPad({
      step: 'new-pin-again',
      title: t('changePin.again'),
      hint: t('unblock.pinHint'),
      onCancel: cancel,
      onSubmit: (again) => {
        if (again !== first) {
          first = '';
          show(askNew(t('pin.mismatch')));
          return;
        }
        const pin = first;
        first = '';
        void ctx.run(() => api.cardChangePin(pin, again)).then((r) => {
          if (r === undefined) {
            if (root.isConnected) show(askNew());
            return;
          }
          ctx.notify(t('changePin.done'), 'info');
          onDone(true);
        });
      },
    });
  replace(body, askNew());
  return root;
}
