// Reception: a card whose PIN is blocked is unblocked with the reset code from the patient's issue letter, and
// gets a new PIN — all three typed on the PIN pad (reset code, new PIN, new PIN again). A wrong reset code shows
// its tries left; a blocked reset code sends the patient to the lost-card desk, where the recovery code on the
// same letter replaces the card.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { t } from '../i18n';
import { pinPad } from '../pinpad';

export const RESET_CODE_DIGITS = 8;

export interface UnblockOptions {
  /** Reset code tries left as the card said (null: unknown). */
  resetTriesLeft: number | null;
  onUnblocked: () => void;
  /** To the lost-card desk (the reset code is blocked). */
  onLost: () => void;
  onCancel: () => void;
}

/** What to do when the reset code is blocked too. */
export function resetBlocked(onLost: () => void): HTMLElement {
  return h(
    'div',
    { class: 'refusal', id: 'reset-blocked' },
    h('h2', {}, t('unblock.codeBlockedTitle')),
    h('p', { role: 'alert', id: 'reset-blocked-text' }, t('unblock.codeBlocked')),
    h('button', { class: 'primary big', id: 'lost-start', type: 'button', onclick: onLost, 'data-autofocus': true }, t('unblock.toLostDesk')),
  );
}

export function unblockFlow(ctx: Ctx, o: UnblockOptions): HTMLElement {
  const body = h('div', { id: 'unblock-step' });
  const root = h('section', { class: 'screen', id: 'unblock' }, h('h1', { id: 'unblock-title' }, t('unblock.title')), body);
  let tries = o.resetTriesLeft;
  let code = '';
  let pin = '';
  const forget = () => {
    code = '';
    pin = '';
  };
  const cancel = () => {
    forget();
    o.onCancel();
  };
  const show = (el: HTMLElement) => {
    replace(body, el);
    (el.querySelector<HTMLElement>('[data-autofocus]') ?? (el.id === 'pin-pad' ? el : null))?.focus();
  };

  const codePad = (message?: string) =>
    pinPad({
      step: 'reset-code',
      title: t('unblock.resetCode'),
      hint: t('unblock.resetHint'),
      min: RESET_CODE_DIGITS,
      max: RESET_CODE_DIGITS,
      triesLeft: tries,
      message,
      onCancel: cancel,
      onSubmit: (c) => {
        code = c;
        askPin();
      },
    });
  const askCode = (message?: string) => show(codePad(message));
  const askPin = (message?: string) =>
    show(
      pinPad({
        step: 'new-pin',
        title: t('unblock.newPin'),
        hint: t('unblock.pinHint'),
        message,
        onCancel: cancel,
        onSubmit: (p) => {
          pin = p;
          askAgain();
        },
      }),
    );
  const askAgain = () =>
    show(
      pinPad({
        step: 'new-pin-again',
        title: t('unblock.newPinAgain'),
        hint: t('unblock.pinHint'),
        onCancel: cancel,
        onSubmit: (again) => {
          if (again !== pin) {
            pin = '';
            askPin(t('pin.mismatch'));
            return;
          }
          void unblock(again);
        },
      }),
    );
  const unblock = async (again: string) => {
    let outcome = null as 'wrong' | 'blocked' | 'mismatch' | null;
    const done = await ctx.run(
      () => api.cardUnblock(code, pin, again),
      false,
      (e) => {
        if (e.kind === 'wrong-reset-code') {
          tries = e.triesLeft;
          outcome = 'wrong';
          return true;
        }
        if (e.kind === 'reset-code-blocked') {
          tries = 0;
          outcome = 'blocked';
          return true;
        }
        if (e.kind === 'pin-mismatch') {
          outcome = 'mismatch';
          return true;
        }
        return false;
      },
    );
    forget();
    if (done !== undefined) {
      o.onUnblocked();
      return;
    }
    if (outcome === 'wrong') askCode(t('unblock.wrongCode', { tries: tries ?? 0 }));
    else if (outcome === 'blocked') show(resetBlocked(o.onLost));
    else if (outcome === 'mismatch') askPin(t('pin.mismatch'));
    else askCode();
  };

  replace(body, tries === 0 ? resetBlocked(o.onLost) : codePad());
  return root;
}
