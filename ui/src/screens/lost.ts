// Reception, the lost-card desk: the recovery code from the patient's issue letter, typed (groups, any case, with
// or without dashes) or scanned (a scanner types the QR code's payload and Enter), reports the card lost; then a
// blank card is issued to the same patient as the replacement — the new letter follows, then the check-in.
import { api } from '../api';
import type { Ctx } from '../context';
import { field, h, replace } from '../dom';
import { shortHash } from '../format';
import { t } from '../i18n';
import { ADMIN_PIN_FIELD, PIN_FIELD } from '../pinpad';
import type { AppError, LostView, ReaderView, ReplacedView } from '../types';

export type LostStep = 'code' | 'reported' | 'insert' | 'form';

/** Where the desk is, kept by the app across redraws (a language switch). */
export interface LostState {
  step: LostStep;
  lost: LostView | null;
}

export function newLostState(): LostState {
  return { step: 'code', lost: null };
}

export interface LostOptions {
  state: LostState;
  reader: () => ReaderView;
  onReplaced: (v: ReplacedView) => void;
  /** Leaves the desk (the visit ends; the shell forgets the recovery code). */
  onCancel: () => void;
}

export function lostDesk(ctx: Ctx, o: LostOptions): { el: HTMLElement; onCard: (r: ReaderView) => void } {
  const st = o.state;
  const body = h('div', { id: 'lost-step' });
  const leave = h(
    'button',
    { class: 'secondary', id: 'lost-cancel', type: 'button', onclick: () => o.onCancel() },
    st.step === 'code' ? t('common.cancel') : t('patient.done'),
  );
  const root = h('section', { class: 'screen', id: 'lost' }, h('h1', { id: 'lost-title' }, t('lost.title')), body, h('div', { class: 'desk-actions' }, leave));

  const render = () => {
    leave.textContent = st.step === 'code' ? t('common.cancel') : t('patient.done');
    const el =
      st.step === 'code' ? codeForm() : st.step === 'reported' ? reported() : st.step === 'insert' ? insert() : replaceForm();
    replace(body, el);
    if (root.isConnected) el.querySelector<HTMLElement>('[data-autofocus]')?.focus();
  };
  const go = (step: LostStep) => {
    st.step = step;
    render();
    if (step === 'insert' && o.reader().state === 'card') void checkCard();
  };

  function codeForm(): HTMLElement {
    const input = h('input', {
      id: 'recovery-code',
      type: 'text',
      class: 'mono',
      autocomplete: 'off',
      autocapitalize: 'characters',
      spellcheck: 'false',
      required: true,
      'aria-describedby': 'recovery-hint recovery-error',
      'data-autofocus': true,
    });
    const error = h('p', { class: 'error', id: 'recovery-error', role: 'alert', hidden: true });
    const form = h(
      'form',
      { class: 'form', id: 'lost-form' },
      h('p', { id: 'lost-intro' }, t('lost.intro')),
      field(t('lost.code'), input),
      h('p', { class: 'muted', id: 'recovery-hint' }, t('lost.codeHint')),
      error,
      h('button', { class: 'primary big', id: 'report-lost', type: 'submit' }, t('lost.report')),
    );
    const showError = (e: AppError): boolean => {
      if (e.kind !== 'bad-recovery-code' && e.kind !== 'invalid') return false;
      error.hidden = false;
      error.textContent = e.kind === 'bad-recovery-code' ? `${t('error.bad-recovery-code')} — ${e.message}` : e.message;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return true;
    };
    // Enter (typed, or sent by a scanner after the QR payload) submits the form.
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const text = input.value;
      if (!text.trim()) return;
      error.hidden = true;
      const v = await ctx.run(() => api.receptionReportLost(text), true, showError);
      if (!v) return;
      input.value = '';
      st.lost = v;
      if (v.tx) ctx.showTx(v.tx);
      go('reported');
    });
    return form;
  }

  function reported(): HTMLElement {
    const v = st.lost;
    const tx = v?.tx ?? null;
    return h(
      'div',
      {},
      h(
        'div',
        { class: 'card-summary', id: 'lost-reported', role: 'status' },
        h('h2', {}, h('span', { 'aria-hidden': 'true' }, '✓ '), t('lost.reported')),
        h('p', {}, v?.alreadyLost ? t('lost.alreadyLost') : t('lost.reportedDetail')),
        v ? h('p', { class: 'muted', id: 'lost-patient' }, t('lost.patient', { id: shortHash(v.patientId, 6) })) : null,
        tx
          ? h(
              'p',
              { id: 'lost-tx', 'data-state': tx.state },
              tx.state === 'confirmed' ? t('tx.confirmed', { block: tx.block ?? '' }) : t('tx.pending'),
              tx.txHash ? [' ', h('code', { id: 'lost-tx-hash', title: tx.txHash }, shortHash(tx.txHash, 6))] : null,
            )
          : null,
      ),
      h('button', { class: 'primary big', id: 'replace-start', type: 'button', onclick: () => go('insert'), 'data-autofocus': true }, t('lost.replace')),
    );
  }

  const insertMessage = h('p', { class: 'error', id: 'replace-message', role: 'alert', hidden: true });

  function insert(): HTMLElement {
    insertMessage.hidden = true;
    return h(
      'div',
      { id: 'replace-insert', class: 'insert' },
      h('div', { class: 'card-art', 'aria-hidden': 'true' }, h('div', { class: 'chip' })),
      h('h2', { tabindex: -1, 'data-autofocus': true }, t('replace.insert')),
      h('p', { class: 'muted' }, t('replace.insertHint')),
      insertMessage,
    );
  }

  async function checkCard(): Promise<void> {
    const peek = await ctx.run(() => api.cardPeek());
    if (!peek || st.step !== 'insert' || o.reader().state !== 'card') return;
    if (peek.patientCard) {
      insertMessage.hidden = false;
      insertMessage.textContent = t('replace.notBlank');
      return;
    }
    go('form');
  }

  function replaceForm(): HTMLElement {
    const name = h('input', { id: 'rep-name', required: true, autocomplete: 'off', maxlength: 120, 'data-autofocus': true });
    const admin = h('input', { ...ADMIN_PIN_FIELD, id: 'rep-admin-pin' });
    const pin = h('input', { ...PIN_FIELD, id: 'rep-pin' });
    const again = h('input', { ...PIN_FIELD, id: 'rep-pin-again' });
    const form = h(
      'form',
      { class: 'form', id: 'replace-form' },
      h('h2', {}, t('replace.title')),
      field(t('reception.name'), name),
      field(t('reception.adminPin'), admin),
      field(t('reception.pin'), pin),
      field(t('reception.pinAgain'), again),
      h('button', { class: 'primary big', id: 'replace', type: 'submit' }, t('replace.submit')),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      if (pin.value !== again.value) {
        ctx.notify(t('reception.pinMismatch'), 'error');
        return;
      }
      const v = await ctx.run(
        () => api.receptionReplace({ name: name.value.trim(), adminPin: admin.value, pin: pin.value, pinAgain: again.value }),
        true,
      );
      admin.value = pin.value = again.value = '';
      if (!v) return;
      o.onReplaced(v);
    });
    return form;
  }

  const onCard = (r: ReaderView) => {
    if (st.step === 'insert' && r.state === 'card') void checkCard();
    else if (st.step === 'insert') insertMessage.hidden = true;
    else if (st.step === 'form' && r.state !== 'card') go('insert');
  };

  render();
  if (st.step === 'insert' && o.reader().state === 'card') void checkCard();
  return { el: root, onCard };
}
