// The issue letter step, right after a card is issued (a new patient, or a replacement card): the letter's content
// on screen — name, reset code, recovery code and its QR code — printed with the browser's print (only the letter
// prints), or saved as a PDF when the operator chooses (with the warning to delete the file once printed). Leaving
// the step clears the letter from the screen and the shell drops its copy.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { formatDay, recoveryLines } from '../format';
import { lang, t } from '../i18n';
import { qrSvg } from '../qr';
import type { LetterView } from '../types';

export interface LetterOptions {
  /** A replacement card's letter (it replaces the old one). */
  replacement: boolean;
  /** The step is left (the letter handed over). */
  onDone: () => void;
}

/** The letter as it prints: the same content as the PDF. */
function page(l: LetterView): HTMLElement {
  return h(
    'article',
    { class: 'letter-page', id: 'letter-page', 'aria-labelledby': 'letter-heading' },
    h('h2', { id: 'letter-heading' }, t('letter.heading')),
    h(
      'dl',
      { class: 'facts letter-facts' },
      h('dt', {}, t('letter.name')),
      h('dd', { id: 'letter-name' }, l.patientName),
      h('dt', {}, t('letter.institution')),
      h('dd', { id: 'letter-institution' }, l.institution),
      h('dt', {}, t('letter.date')),
      h('dd', { id: 'letter-date' }, formatDay(l.issuedOn)),
    ),
    h(
      'section',
      { class: 'code-box', 'aria-labelledby': 'letter-reset-heading' },
      h('h3', { id: 'letter-reset-heading' }, t('letter.resetHeading')),
      h('p', { class: 'letter-code', id: 'letter-reset-code' }, l.resetCode),
    ),
    h(
      'section',
      { class: 'code-box recovery-box', 'aria-labelledby': 'letter-recovery-heading' },
      h('h3', { id: 'letter-recovery-heading' }, t('letter.recoveryHeading')),
      h(
        'div',
        { class: 'recovery-row' },
        h('p', { class: 'letter-code recovery', id: 'letter-recovery' }, ...recoveryLines(l.recoveryText).flatMap((line, i) => (i ? [h('br'), line] : [line]))),
        qrSvg(l.qrWidth, l.qrModules, t('letter.qrLabel'), 'letter-qr'),
      ),
    ),
    h(
      'ul',
      { class: 'letter-notes' },
      h('li', {}, t('letter.note1', { institution: l.institution })),
      h('li', {}, t('letter.note2')),
      h('li', {}, t('letter.note3')),
    ),
  );
}

export function letterStep(ctx: Ctx, o: LetterOptions): HTMLElement {
  const body = h('div', { id: 'letter-body' });
  const saved = h('div', { id: 'letter-saved', class: 'no-print', 'aria-live': 'polite' });
  const handed = h('input', { type: 'checkbox', id: 'letter-handed', class: 'check' });
  const done = h('button', { class: 'primary big', id: 'letter-done', type: 'button', disabled: true }, t('letter.done'));
  handed.addEventListener('change', () => (done.disabled = !handed.checked));
  const print = h('button', { class: 'primary', id: 'letter-print', type: 'button', disabled: true }, t('letter.print'));
  const save = h('button', { id: 'letter-save', type: 'button', disabled: true }, t('letter.save'));
  const root = h(
    'section',
    { class: 'screen letter', id: 'letter', 'aria-labelledby': 'letter-title' },
    h('h1', { id: 'letter-title', class: 'no-print', tabindex: -1, 'data-autofocus': true }, t('letter.stepTitle')),
    h('p', { class: 'no-print', id: 'letter-intro' }, t('letter.intro')),
    o.replacement ? h('p', { class: 'no-print warn', id: 'letter-replacement' }, t('letter.replacement')) : null,
    body,
    h('div', { class: 'letter-actions no-print' }, print, save),
    saved,
    h(
      'div',
      { class: 'letter-finish no-print' },
      h('label', { class: 'check-field', for: 'letter-handed' }, handed, h('span', {}, t('letter.handed'))),
      done,
    ),
  );

  print.addEventListener('click', () => {
    window.print();
  });
  save.addEventListener('click', async () => {
    const s = await ctx.run(() => api.letterSavePdf(lang()));
    if (!s) return;
    replace(
      saved,
      h(
        'div',
        { class: 'warn saved-warning', role: 'alert' },
        h('p', { id: 'letter-saved-text' }, t('letter.saved', { path: s.path })),
        h(
          'button',
          {
            class: 'danger',
            id: 'letter-delete',
            type: 'button',
            onclick: async () => {
              const n = await ctx.run(() => api.letterDeletePdf());
              if (n === undefined) return;
              replace(saved, h('p', { class: 'muted', id: 'letter-deleted', role: 'status' }, t('letter.deleted')));
            },
          },
          t('letter.delete'),
        ),
      ),
    );
  });
  done.addEventListener('click', async () => {
    const left = await ctx.run(() => api.letterDone());
    // The codes leave the screen now, whatever the shell answered.
    body.replaceChildren();
    saved.replaceChildren();
    if (left && left.length > 0) ctx.notify(t('letter.remaining', { path: left.join(', ') }), 'error');
    o.onDone();
  });

  void ctx.run(() => api.letterShow()).then((l) => {
    if (!l || !root.isConnected) return;
    replace(body, page(l));
    print.disabled = false;
    save.disabled = false;
  });
  return root;
}
