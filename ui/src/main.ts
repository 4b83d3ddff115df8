// The kiosk app's controller: it keeps the phase (set-up → insert card → PIN → visit, and at reception the card's
// life: blank card → issue letter, blocked PIN → unblock, lost card → replacement → issue letter), swaps the screen
// when the phase changes, and keeps the always-visible parts (network, reader, outbox, offline banner, progress,
// the last transaction) up to date from the core's events.
import { api, asAppError, events } from './api';
import type { Ctx } from './context';
import { h, replace } from './dom';
import { shortHash } from './format';
import { errorKey, lang, setLang, t } from './i18n';
import { IdleTimer } from './idle';
import { pinPad } from './pinpad';
import { changePinFlow } from './screens/changepin';
import { insurerDesk } from './screens/insurer';
import { doctorVisit } from './screens/doctor';
import { emergencyEditFlow, emergencyReadScreen } from './screens/emergency';
import { letterStep } from './screens/letter';
import { lostDesk, newLostState, type LostState } from './screens/lost';
import { patientViewFlow } from './screens/patient';
import { pharmacyVisit, tokenDesk } from './screens/pharmacy';
import { receptionVisit, registerForm } from './screens/reception';
import { firstRunScreen } from './screens/firstrun';
import { setupScreen } from './screens/setup';
import { resetBlocked, unblockFlow } from './screens/unblock';
import { isStaffShortcut, staffClose } from './staffclose';
import { applyScale, setPreset, textSizeControl } from './textsize';
import type { AppError, KioskInfo, ReaderView, ReplacedView, StatusView, TxView } from './types';

type Phase = 'setup' | 'insert' | 'pin' | 'blank' | 'visit' | 'unblock' | 'lost' | 'letter' | 'emergency' | 'token';
/** A flow shown over the visit's screen, which stays underneath. */
type Overlay = 'change-pin' | 'patient-view' | 'emergency-edit';

const root = document.getElementById('app') as HTMLElement;
// The text size chosen on this kiosk, before anything is drawn (the role's preset follows with the kiosk info).
applyScale();
const header = h('header', { class: 'top' });
const banner = h('div', { class: 'banner', id: 'offline-banner', role: 'status', hidden: true });
const notice = h('div', { class: 'notice', id: 'notice', role: 'status', hidden: true });
// The main landmark: named by the screen's title (its one h1), see labelScreen.
const screen = h('main', { id: 'screen', tabindex: -1 });
const progress = h('div', { class: 'progress', id: 'progress', role: 'status', 'aria-live': 'assertive', hidden: true });
const footer = h('footer', { class: 'bottom' });
const readerEl = h('span', { id: 'reader-state' });
const outboxEl = h('span', { id: 'outbox' });
const txEl = h('span', { id: 'last-tx' });
footer.append(readerEl, outboxEl, txEl);
root.append(header, banner, notice, screen, progress, footer);

let phase: Phase = 'setup';
let started = false;
let reader: ReaderView = { state: 'no-reader', reader: null };
let pinMessage: string | undefined;
let triesLeft = 3;
/** The card's reset code tries, from the last peek (null: unknown). */
let resetTriesLeft: number | null = null;
let busyCount = 0;
/** The lost-card desk's step, across redraws. */
let lost: LostState = newLostState();
/** The lost-card desk's reader hook while it is shown. */
let lostCard: ((r: ReaderView) => void) | null = null;
/** Whether the letter shown is a replacement card's; what follows the letter step. */
let letterReplacement = false;
let afterLetter: (() => void) | null = null;
/** The next reception visit checks the patient in at once (after a replacement card). */
let autoCheckIn = false;
let overlay: Overlay | null = null;

const ctx: Ctx = {
  info: {
    role: 'reception',
    lang: 'en',
    ready: false,
    error: null,
    profile: '',
    chainId: null,
    rpcUrl: null,
    explorer: null,
    address: null,
    institution: null,
    institutionId: null,
    reader: '',
    idleTimeoutSecs: 120,
    tokenSymbol: null,
    tokenDecimals: null,
    consent: { ceiling: 1, maxDays: 1, defaultScope: 1, defaultDays: 1 },
    textScale: null,
    kioskMode: false,
    firstRun: false,
    fromSetup: false,
    enrolment: null,
  },
  status: null,
  patient: null,
  token: { symbol: 'tUSD', decimals: 18 },
  async run<T>(call: () => Promise<T>, write = false, handle?: (e: AppError) => boolean): Promise<T | undefined> {
    busy(+1, write);
    try {
      return await call();
    } catch (e) {
      const err = asAppError(e);
      if (!handle?.(err)) showError(err);
      return undefined;
    } finally {
      busy(-1, write);
    }
  },
  showTx,
  notify,
  endVisit: () => void endVisit(),
};

const idle = new IdleTimer(120_000, () => {
  void endVisit(t('idle.ended'));
});
idle.listen(document);

const usesCard = () => ctx.info.role !== 'insurer';
/** A hospital's desk: the emergency data set is kept and read here. */
const atHospital = () => ctx.info.role === 'reception' || ctx.info.role === 'doctor';

function busy(delta: number, write: boolean): void {
  busyCount = Math.max(0, busyCount + delta);
  if (delta > 0) {
    replace(progress, h('span', { class: 'spinner', 'aria-hidden': 'true' }), write ? t('tx.confirming') : '…');
  }
  progress.hidden = busyCount === 0;
  screen.toggleAttribute('inert', busyCount > 0);
  screen.setAttribute('aria-busy', busyCount > 0 ? 'true' : 'false');
}

function notify(text: string, kind: 'info' | 'error' = 'info'): void {
  notice.hidden = false;
  notice.className = `notice notice-${kind}`;
  notice.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  replace(
    notice,
    h('span', { id: 'notice-text' }, text),
    h('button', { class: 'small', type: 'button', id: 'notice-close', onclick: () => (notice.hidden = true) }, t('common.close')),
  );
}

function showError(e: AppError): void {
  if (e.kind === 'wrong-pin' || e.kind === 'pin-blocked') {
    triesLeft = e.triesLeft ?? 0;
    pinMessage = e.kind === 'wrong-pin' ? t('pin.wrong', { tries: triesLeft }) : t('pin.blocked');
    setPhase('pin');
    return;
  }
  if (e.kind === 'card-removed' || e.kind === 'no-session') {
    void endVisit(t('card.removed'));
    return;
  }
  const key = errorKey(e.kind);
  const lead = key ? t(key, { tries: e.triesLeft ?? 0, revert: e.revert ?? '' }) : t('error.other');
  // The core's message says what to do; the lead says it in the screen's language.
  notify(lead === e.message ? lead : `${lead} — ${e.message}`, 'error');
}

function showTx(tx: TxView | TxView[]): void {
  const list = Array.isArray(tx) ? tx : [tx];
  const last = list[list.length - 1];
  if (!last) return;
  if (last.state === 'pending') {
    replace(txEl, h('span', { class: 'tx pending', id: 'tx-state', 'data-state': 'pending' }, t('tx.pending')));
    return;
  }
  replace(
    txEl,
    h('span', { class: 'tx confirmed', id: 'tx-state', 'data-state': 'confirmed' }, t('tx.confirmed', { block: last.block ?? '' })),
    ' ',
    h('code', { id: 'tx-hash', title: last.txHash ?? '' }, shortHash(last.txHash, 6)),
    last.link ? [' ', h('a', { href: last.link, target: '_blank', rel: 'noreferrer', id: 'tx-link' }, t('tx.view'))] : null,
  );
}

let headerShape = '';
/** What the banner says, to redraw it only when that changes. */
let bannerShape = '';

/** The header: rebuilt only when what it holds changes (a focused button keeps its focus); the network badge is
 * updated in place at every block. */
function renderHeader(): void {
  const shape = [lang(), ctx.info.role, ctx.info.institutionId, ctx.info.profile, ctx.patient?.name, ctx.patient?.card, phase, overlay].join('|');
  if (shape !== headerShape || !header.querySelector('#network')) {
    headerShape = shape;
    replace(
      header,
      h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, '✚'), t('app.title')),
      h('div', { class: 'role', id: 'role' }, t(`role.${ctx.info.role}`), ctx.info.institutionId !== null ? ` · #${ctx.info.institutionId}` : ''),
      h(
        'div',
        { class: 'net', id: 'network' },
        h('span', { class: 'dot', 'aria-hidden': 'true' }),
        ctx.info.profile || '—',
        ' · ',
        h('span', { id: 'block' }),
      ),
      ctx.patient
        ? h('div', { class: 'patient-chip', id: 'patient-chip', title: t('patient.card', { card: ctx.patient.card }) }, ctx.patient.name)
        : null,
      ctx.patient && phase === 'visit' && usesCard()
        ? h(
            'button',
            { class: 'secondary small', type: 'button', id: 'patient-view-open', disabled: overlay !== null, onclick: () => openOverlay('patient-view') },
            t('patientView.button'),
          )
        : null,
      ctx.patient && phase === 'visit' && atHospital()
        ? h(
            'button',
            { class: 'secondary small', type: 'button', id: 'emergency-edit-open', disabled: overlay !== null, onclick: () => openOverlay('emergency-edit') },
            t('emergency.editButton'),
          )
        : null,
      ctx.patient && phase === 'visit' && usesCard()
        ? h(
            'button',
            { class: 'secondary small', type: 'button', id: 'change-pin', disabled: overlay !== null, onclick: () => openOverlay('change-pin') },
            t('changePin.button'),
          )
        : null,
      ctx.patient
        ? h('button', { class: 'secondary small', type: 'button', id: 'end-visit', onclick: () => void endVisit() }, t('patient.done'))
        : null,
      textSizeControl(),
      h(
        'button',
        {
          class: 'small',
          type: 'button',
          id: 'lang',
          lang: lang() === 'en' ? 'fr' : 'en',
          onclick: () => {
            setLang(lang() === 'en' ? 'fr' : 'en');
            renderAll();
            document.getElementById('lang')?.focus();
          },
        },
        t('lang.switch'),
      ),
    );
  }
  const online = ctx.status?.online ?? false;
  const block = ctx.status?.block;
  const net = header.querySelector('#network');
  net?.classList.toggle('online', online);
  net?.classList.toggle('offline', !online);
  const blockEl = header.querySelector('#block');
  if (blockEl) blockEl.textContent = online && block !== null && block !== undefined ? t('net.block', { block }) : t('net.offline');
}

function renderFooter(): void {
  readerEl.hidden = !usesCard();
  replace(readerEl, h('span', { class: `reader reader-${reader.state}`, 'data-state': reader.state }, t(`reader.${reader.state}`)), reader.reader ? ` (${reader.reader})` : '');
  const pending = ctx.status?.pending ?? [];
  const notFinal = ctx.status?.notFinal ?? 0;
  replace(
    outboxEl,
    h('strong', {}, `${t('outbox.title')}: `),
    notFinal > 0 && h('span', { id: 'outbox-not-final', 'data-count': notFinal }, `${t('outbox.notFinal', { count: notFinal })} · `),
    pending.length === 0
      ? h('span', { id: 'outbox-count', 'data-count': 0 }, t('outbox.empty'))
      : [
          h('span', { id: 'outbox-count', 'data-count': pending.length }, t('outbox.pending', { count: pending.length })),
          h(
            'ul',
            { class: 'pending', id: 'outbox-list' },
            ...pending.map((p) =>
              h('li', { 'data-kind': p.kind, 'data-state': p.state }, `${p.kind} · ${p.state}`, p.txHash ? ` · ${shortHash(p.txHash)}` : ''),
            ),
          ),
        ],
  );
  const offline = ctx.info.ready && ctx.status !== null && !ctx.status.online;
  const busy = ctx.info.ready && ctx.status !== null && ctx.status.online && ctx.status.rateLimited;
  const gas = ctx.status?.gas;
  const lowGas = ctx.info.ready && gas?.low === true;
  const text = offline ? t('net.offlineBanner') : busy ? t('net.busyBanner') : '';
  const gasText = lowGas && gas ? `${offline || busy ? ' ' : ''}${t('net.lowGas', { balance: gas.balance, symbol: gas.symbol, account: gas.account })}` : '';
  const shape = [offline, busy, lowGas, text, gasText].join('|');
  // Redrawn only when it changes: the status comes every block, and a live region redrawn is read out again.
  if (shape === bannerShape) return;
  bannerShape = shape;
  banner.hidden = !(offline || busy || lowGas);
  banner.dataset.state = offline ? 'offline' : busy ? 'busy' : lowGas ? 'low-gas' : '';
  // Offline interrupts (an alert); busy node and low gas are said politely.
  banner.setAttribute('role', offline ? 'alert' : 'status');
  replace(banner, text, gasText ? h('span', { id: 'low-gas' }, gasText) : null);
}

/** Names the main landmark by the title of the screen shown (its visible h1: the visit's, or the flow's over it). */
function labelScreen(): void {
  const title = [...screen.querySelectorAll<HTMLElement>('h1')].find((h1) => !h1.closest('[hidden]'));
  if (!title) {
    screen.removeAttribute('aria-labelledby');
    return;
  }
  if (!title.id) title.id = 'screen-title';
  screen.setAttribute('aria-labelledby', title.id);
}

function setPhase(p: Phase): void {
  phase = p;
  renderScreen();
}

function renderScreen(): void {
  let el: HTMLElement;
  overlay = null;
  lostCard = null;
  if (ctx.info.firstRun) {
    el = firstRunScreen(ctx);
  } else if (phase === 'setup' || !ctx.info.ready) {
    el = setupScreen(ctx.info, ctx.status, () => {
      started = true;
      setPhase(usesCard() ? 'insert' : 'visit');
      if (usesCard() && reader.state === 'card') void onCardIn();
    });
  } else if (phase === 'insert') {
    el = h(
      'section',
      { class: 'screen insert', id: 'insert' },
      h('div', { class: 'card-art', 'aria-hidden': 'true' }, h('div', { class: 'chip' })),
      h('h1', { id: 'insert-title' }, t('insert.title')),
      h('p', { class: 'muted' }, reader.state === 'no-reader' || reader.state === 'no-service' ? t('insert.noReader') : t('insert.hint')),
      ctx.info.role === 'reception'
        ? h('div', { class: 'desk-actions' }, h('button', { class: 'secondary', id: 'lost-card', type: 'button', onclick: openLost }, t('lost.open')))
        : null,
      // A representative with the prescription token: no card.
      ctx.info.role === 'pharmacy'
        ? h(
            'div',
            { class: 'desk-actions' },
            h('button', { class: 'secondary', id: 'token-desk-open', type: 'button', onclick: () => (idle.arm(), setPhase('token')) }, t('pharmacy.tokenOpen')),
          )
        : null,
    );
  } else if (phase === 'token') {
    el = tokenDesk(ctx, () => void endVisit());
  } else if (phase === 'pin') {
    el = triesLeft === 0 ? blockedScreen() : pinPad({ triesLeft, message: pinMessage, heading: 1, onSubmit: (pin) => void unlock(pin) });
    // In an emergency the patient may not be able to type a PIN: a hospital reads the emergency set without it.
    if (atHospital()) el.append(emergencyReadButton());
  } else if (phase === 'emergency') {
    el = emergencyReadScreen(ctx, () => {
      pinMessage = undefined;
      setPhase(reader.state === 'card' ? 'pin' : 'insert');
    });
  } else if (phase === 'unblock') {
    el = unblockFlow(ctx, {
      resetTriesLeft,
      onUnblocked: () => void afterUnblock(),
      onLost: openLost,
      onCancel: () => setPhase('pin'),
    });
  } else if (phase === 'lost') {
    const desk = lostDesk(ctx, { state: lost, reader: () => reader, onReplaced, onCancel: () => void endVisit() });
    lostCard = desk.onCard;
    el = desk.el;
  } else if (phase === 'letter') {
    el = letterStep(ctx, {
      replacement: letterReplacement,
      onDone: () => {
        const next = afterLetter ?? (() => setPhase('visit'));
        afterLetter = null;
        next();
      },
    });
  } else if (phase === 'blank') {
    el = registerForm(ctx, () => {
      // The new card's letter first, then the visit.
      letterReplacement = false;
      afterLetter = () => setPhase('visit');
      setPhase('letter');
    });
  } else {
    el = roleScreen();
  }
  replace(screen, el);
  labelScreen();
  renderHeader();
  renderFooter();
  const focus =
    el.querySelector<HTMLElement>('[data-autofocus]') ??
    el.querySelector<HTMLElement>('#pin-pad, #setup-start, #checkin, #reg-name, button, input');
  (phase === 'pin' && triesLeft > 0 ? el : focus)?.focus();
}

/** The PIN is blocked: at reception, the way to unblock it (or, the reset code blocked too, to replace the card);
 * at the other desks, to reception. */
function blockedScreen(): HTMLElement {
  const atReception = ctx.info.role === 'reception';
  if (atReception && resetTriesLeft === 0) {
    return h('section', { class: 'screen', id: 'pin-blocked' }, h('h1', { id: 'pin-blocked-title' }, t('pin.blockedTitle')), resetBlocked(openLost));
  }
  return h(
    'section',
    { class: 'screen', id: 'pin-blocked' },
    h('h1', { id: 'pin-blocked-title' }, t('pin.blockedTitle')),
    h('p', { class: 'error', role: 'alert', id: 'pin-blocked-text' }, atReception ? t('pin.blockedReception') : t('pin.blocked')),
    atReception
      ? h(
          'button',
          { class: 'primary big', id: 'unblock-start', type: 'button', 'data-autofocus': true, onclick: () => setPhase('unblock') },
          t('unblock.start'),
        )
      : null,
  );
}

async function afterUnblock(): Promise<void> {
  const peek = await ctx.run(() => api.cardPeek());
  triesLeft = peek?.triesLeft ?? 3;
  resetTriesLeft = peek?.resetTriesLeft ?? resetTriesLeft;
  pinMessage = undefined;
  setPhase('pin');
  notify(t('unblock.done'), 'info');
}

/** The lost-card desk (reception), from the "insert card" screen or a card whose reset code is blocked. */
function openLost(): void {
  lost = newLostState();
  ctx.patient = null;
  idle.arm();
  setPhase('lost');
}

function onReplaced(v: ReplacedView): void {
  ctx.patient = v.patient;
  ctx.showTx(v.tx);
  notify(t('replace.done'), 'info');
  letterReplacement = true;
  // After the new letter, the patient is checked in with the new card.
  afterLetter = () => {
    autoCheckIn = true;
    setPhase('visit');
  };
  setPhase('letter');
}

/** The emergency read's way in, from the PIN pad (or a blocked card's screen) at a hospital's desk. */
function emergencyReadButton(): HTMLElement {
  return h(
    'div',
    { class: 'desk-actions' },
    h('button', { class: 'secondary', id: 'emergency-read-open', type: 'button', onclick: () => setPhase('emergency') }, t('emergency.readButton')),
  );
}

/** A flow over the visit's screen (change PIN, the patient's view, the emergency set), which stays as it was
 * underneath. */
function openOverlay(which: Overlay): void {
  const current = screen.firstElementChild;
  if (overlay !== null || phase !== 'visit' || !ctx.patient || !(current instanceof HTMLElement)) return;
  overlay = which;
  current.hidden = true;
  const close = () => {
    flow.remove();
    current.hidden = false;
    overlay = null;
    labelScreen();
    renderHeader();
    document.getElementById(which === 'change-pin' ? 'change-pin' : `${which}-open`)?.focus();
  };
  const flow =
    which === 'change-pin'
      ? changePinFlow(ctx, close)
      : which === 'patient-view'
        ? patientViewFlow(ctx, close)
        : emergencyEditFlow(ctx, close);
  screen.append(flow);
  labelScreen();
  renderHeader();
  (flow.querySelector<HTMLElement>('#pin-pad') ?? flow.querySelector<HTMLElement>('h1'))?.focus();
}

function roleScreen(): HTMLElement {
  switch (ctx.info.role) {
    case 'reception': {
      const auto = autoCheckIn;
      autoCheckIn = false;
      return receptionVisit(ctx, auto);
    }
    case 'doctor':
      return doctorVisit(ctx);
    case 'pharmacy':
      return pharmacyVisit(ctx);
    case 'insurer':
      return insurerDesk(ctx);
  }
}

function renderAll(): void {
  renderScreen();
}

async function onCardIn(): Promise<void> {
  if (!started || !usesCard() || phase !== 'insert') return;
  notice.hidden = true;
  const peek = await ctx.run(() => api.cardPeek());
  if (!peek || reader.state !== 'card') return;
  triesLeft = peek.triesLeft;
  resetTriesLeft = peek.resetTriesLeft;
  pinMessage = undefined;
  if (!peek.patientCard) {
    if (ctx.info.role === 'reception') {
      idle.arm();
      setPhase('blank');
    } else {
      notify(t('error.not-a-patient-card'), 'error');
    }
    return;
  }
  idle.arm();
  setPhase('pin');
}

async function unlock(pin: string): Promise<void> {
  const p = await ctx.run(() => api.cardUnlock(pin));
  if (!p) return;
  ctx.patient = p;
  pinMessage = undefined;
  setPhase('visit');
}

async function endVisit(message?: string): Promise<void> {
  idle.disarm();
  const had = ctx.patient !== null || ['visit', 'pin', 'blank', 'unblock', 'lost', 'letter', 'emergency', 'token'].includes(phase);
  ctx.patient = null;
  afterLetter = null;
  autoCheckIn = false;
  lost = newLostState();
  replace(txEl);
  if (started) setPhase(usesCard() ? 'insert' : 'visit');
  if (message && had) notify(message, 'info');
  await api.sessionEnd().catch(() => undefined);
}

function onReader(r: ReaderView): void {
  const was = reader.state;
  reader = r;
  renderFooter();
  if (phase === 'lost') {
    // The lost-card desk swaps cards on purpose (the old one out, a blank one in).
    lostCard?.(r);
    return;
  }
  if (phase === 'letter') {
    if (r.state !== 'card' && was === 'card' && ctx.patient) {
      // The visit is over (the shell closed the session), but the letter is the patient's only copy of their codes:
      // it stays until the operator has handed it over.
      ctx.patient = null;
      renderHeader();
      notify(t('letter.cardLeft'), 'info');
      afterLetter = () => {
        void endVisit().then(() => {
          if (reader.state === 'card') void onCardIn();
        });
      };
    }
    return;
  }
  if (r.state !== 'card' && was === 'card' && usesCard()) {
    // The card left: the patient's data leaves the screen now.
    void endVisit(t('card.removed'));
    return;
  }
  if (r.state === 'card' && was !== 'card') void onCardIn();
  if (phase === 'insert') renderScreen();
}

function onInfo(i: KioskInfo): void {
  ctx.info = i;
  setPreset(i.textScale);
  ctx.token = { symbol: i.tokenSymbol ?? 'tUSD', decimals: i.tokenDecimals ?? 18 };
  idle.disarm();
  // The first-run form keeps what is being typed in it: it is drawn once, not on every info.
  if (i.firstRun && document.getElementById('firstrun') !== null) renderHeader();
  else if (!started) renderScreen();
  else renderHeader();
}

function onStatus(s: StatusView): void {
  ctx.status = s;
  if (s.reader.state !== reader.state) onReader(s.reader);
  renderHeader();
  renderFooter();
}

async function boot(): Promise<void> {
  const info = await api.kioskInfo();
  setLang(info.lang);
  onInfo(info);
  const timeout = Math.max(10, info.idleTimeoutSecs) * 1000;
  idle.setLimit(timeout);
  await events.onInfo(onInfo);
  // Kiosk mode: closing takes the staff code (the shell refuses any other close and says so).
  const staff = staffClose();
  root.append(staff.el);
  await events.onCloseRefused(() => staff.open());
  document.addEventListener('keydown', (ev) => {
    if (ctx.info?.kioskMode && isStaffShortcut(ev)) {
      ev.preventDefault();
      staff.open();
    }
  });
  await events.onCard(onReader);
  await events.onStatus(onStatus);
  const status = await api.kioskStatus();
  onStatus(status);
}

void boot().catch((e) => notify(asAppError(e).message, 'error'));
