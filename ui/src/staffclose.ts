// Kiosk mode: the app closes only with the desk's staff code. Ctrl+Alt+Q (or the window manager's close, which the
// shell refuses and reports) opens this dialog; a wrong code is said so, a right one closes the app.
import { api, asAppError } from './api';
import { h, replace } from './dom';
import { errorKey, t } from './i18n';

export interface StaffClose {
  el: HTMLElement;
  open: () => void;
}

export function staffClose(): StaffClose {
  const code = h('input', {
    id: 'staff-code',
    type: 'password',
    inputmode: 'numeric',
    autocomplete: 'off',
    maxlength: 12,
    'aria-describedby': 'staff-close-hint',
  });
  const error = h('p', { class: 'error', id: 'staff-close-error', role: 'alert' });
  const form = h(
    'form',
    { class: 'form' },
    h('label', { for: 'staff-code' }, t('staff.code')),
    code,
    error,
    h(
      'div',
      { class: 'actions' },
      h('button', { class: 'primary', type: 'submit', id: 'staff-close' }, t('staff.close')),
      h('button', { type: 'button', id: 'staff-cancel', onclick: () => hide() }, t('staff.cancel')),
    ),
  );
  const el = h(
    'section',
    { class: 'dialog', id: 'staff-dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'staff-title', hidden: true },
    h('h2', { id: 'staff-title' }, t('staff.title')),
    h('p', { id: 'staff-close-hint', class: 'muted' }, t('staff.hint')),
    form,
  );
  const hide = () => {
    el.hidden = true;
    code.value = '';
    replace(error);
  };
  onStaffCode(form, code, error, (c) => api.kioskClose(c));
  el.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') hide();
  });
  return {
    el,
    open: () => {
      el.hidden = false;
      code.focus();
    },
  };
}

/** Submitting `form` sends the staff code typed in `code` to `call`; a refusal (a wrong code) is said in `error`
 * and the field is cleared for another try. */
export function onStaffCode(
  form: HTMLFormElement,
  code: HTMLInputElement,
  error: HTMLElement,
  call: (code: string) => Promise<unknown>,
): void {
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(error);
    try {
      await call(code.value.trim());
    } catch (e) {
      code.value = '';
      const err = asAppError(e);
      const key = errorKey(err.kind);
      replace(error, key ? t(key) : err.message);
      code.focus();
    }
  });
}

/** Whether a key press is the staff shortcut (Ctrl+Alt+Q). */
export function isStaffShortcut(ev: KeyboardEvent): boolean {
  return ev.ctrlKey && ev.altKey && (ev.key === 'q' || ev.key === 'Q');
}
