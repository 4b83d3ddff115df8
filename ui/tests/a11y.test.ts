// Every screen, labelled for a screen reader: each rendered with the fixtures the other tests use, then audited
// (tests/a11y-check.ts) — every interactive element named, every form control labelled, one h1, no positive
// tabindex, no duplicate id, every aria reference resolved, tables with headers.
import { setLang, t } from '../src/i18n';
import { pinPad } from '../src/pinpad';
import { changePinFlow } from '../src/screens/changepin';
import { doctorVisit } from '../src/screens/doctor';
import { emergencyEditFlow, emergencyReadScreen } from '../src/screens/emergency';
import { insurerDesk } from '../src/screens/insurer';
import { letterStep } from '../src/screens/letter';
import { lostDesk, newLostState, type LostState } from '../src/screens/lost';
import { patientViewFlow } from '../src/screens/patient';
import { pharmacyVisit, tokenDesk } from '../src/screens/pharmacy';
import { receptionVisit, registerForm } from '../src/screens/reception';
import { firstRunScreen } from '../src/screens/firstrun';
import { setupScreen } from '../src/screens/setup';
import { resetBlocked, unblockFlow } from '../src/screens/unblock';
import type { AppError, KioskInfo, ReaderView, Role, StatusView } from '../src/types';
import { accessibleName, audit, isLabelled } from './a11y-check';
import { answer, fakeCtx, info, status } from './a11y-fixtures';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));
/** The app's event listeners, by event name (the shell's events are sent through them). */
const handlers = new Map<string, (e: { payload: unknown }) => void>();
vi.mock('@tauri-apps/api/event', () => ({
  listen: vi.fn(async (name: string, f: (e: { payload: unknown }) => void) => {
    handlers.set(name, f);
    return () => undefined;
  }),
}));

const html = (s: string) => {
  document.body.innerHTML = s;
  return document.body;
};

describe('the audit itself', () => {
  it('names controls from aria-labelledby, aria-label, their labels, their text, alt and title, in that order', () => {
    html(`
      <span id="n1">Named</span><span id="n2">twice</span>
      <button id="a" aria-labelledby="n1 n2" aria-label="not this">text</button>
      <button id="b" aria-label="Delete">⌫</button>
      <label for="c">Full name</label><input id="c">
      <label class="field"><span>Birth date</span><input id="d" type="date"></label>
      <button id="e"><span aria-hidden="true">✚</span> Start</button>
      <a id="f" href="#"><img src="x.png" alt="Home"></a>
      <button id="g" title="Close"></button>
      <label><input type="checkbox" id="h"> High risk</label>`);
    const name = (id: string) => accessibleName(document.getElementById(id)!);
    expect(name('a')).toBe('Named twice');
    expect(name('b')).toBe('Delete');
    expect(name('c')).toBe('Full name');
    expect(name('d')).toBe('Birth date');
    expect(name('e')).toBe('Start');
    expect(name('f')).toBe('Home');
    expect(name('g')).toBe('Close');
    expect(name('h')).toBe('High risk');
    expect(isLabelled(document.getElementById('g')!)).toBe(false);
  });

  it('catches what a screen reader could not name, and the other slips', () => {
    const problems = audit(
      html(`
      <h1>One</h1><h1>Two</h1>
      <button type="button"><span aria-hidden="true">⌫</span></button>
      <input id="x" placeholder="placeholders are not labels">
      <select id="y" title="a title is not a label either"><option>1</option></select>
      <textarea id="x"></textarea>
      <div tabindex="2">odd</div>
      <input id="z" aria-describedby="nowhere" aria-label="z">
      <table><tr><td>no header</td></tr></table>
      <img src="qr.png">
      <div hidden><button type="button"></button></div>`),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'duplicate id #x (2×)',
        '<div> has a positive tabindex (2)',
        '<input#z> aria-describedby names #nowhere, which does not exist',
        '<button> has no accessible name',
        '<input#x> has no accessible name',
        '<input#x> has no label',
        '<select#y> has no label',
        '<textarea#x> has no accessible name',
        '<table> has no header cells',
        '<img> has no alt text',
        '2 visible h1 (one expected): One | Two',
      ]),
    );
    // The hidden button is out of the accessibility tree: not reported.
    expect(problems.filter((p) => p.startsWith('<button>'))).toHaveLength(1);
  });

  it('passes a screen that is right', () => {
    expect(
      audit(
        html(`<main aria-labelledby="t"><h1 id="t">Title</h1>
        <form><label class="field"><span>Name</span><input id="n"></label>
        <button type="submit">Save</button></form></main>`),
      ),
    ).toEqual([]);
  });
});

/** Lets the screen's calls answer (and the type-ahead's pause pass). */
const settle = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Shows a screen as the app does (inside its main landmark) and returns what the audit found. */
function show(el: HTMLElement): HTMLElement {
  document.body.replaceChildren(el);
  return el;
}

const click = (sel: string) => {
  const b = document.querySelector<HTMLElement>(sel);
  if (!b) throw new Error(`${sel} is not on screen`);
  b.click();
};

/** The audit of what is on screen, with the screen's name in each line (a failure says which screen). */
function check(name: string): string[] {
  const problems = audit(document.body);
  // The title has an id: the app names its main landmark by it (aria-labelledby).
  const titles = [...document.querySelectorAll('h1')].filter((h1) => !h1.closest('[hidden]'));
  if (titles.length === 1 && !titles[0].id) problems.push('the h1 has no id (the main landmark cannot name it)');
  return problems.map((p) => `${name}: ${p}`);
}

describe.each(['en', 'fr'] as const)('every screen is labelled for a screen reader (%s)', (lang) => {
  beforeEach(() => {
    setLang(lang);
    invoke.mockReset();
    invoke.mockImplementation(async (cmd: string, args?: Record<string, unknown>) => answer(cmd, args));
  });

  it('set-up: starting, refused, ready', () => {
    const problems: string[] = [];
    show(setupScreen(info('reception', { ready: false }), null, () => undefined));
    problems.push(...check('set-up (starting)'));
    show(setupScreen(info('doctor', { ready: false, error: 'the kiosk key is not registered' }), null, () => undefined));
    problems.push(...check('set-up (refused)'));
    show(setupScreen(info('pharmacy'), status(), () => undefined));
    problems.push(...check('set-up (ready)'));
    expect(problems).toEqual([]);
  });

  it('first run without a smart card service: the preset reader is kept and the note says why', async () => {
    invoke.mockImplementation(async (cmd: string, args?: Record<string, unknown>) => {
      if (cmd === 'firstrun_readers') throw { kind: 'card', message: 'no PC/SC service', triesLeft: null, revert: null };
      return answer(cmd, args);
    });
    const errors: AppError[] = [];
    show(firstRunScreen(fakeCtx('reception', errors)));
    await settle();
    const readers = [...document.querySelectorAll('#firstrun-reader option')].map((o) => o.getAttribute('value'));
    expect(readers).toEqual(['']);
    expect(document.querySelector('#firstrun-reader-note')!.textContent).toBe(`${t('firstrun.readersFailed')} no PC/SC service`);
    expect(errors).toEqual([]);
    expect(check('first run (no readers)')).toEqual([]);
  });

  it('first run: the form, the manifest read (institutions of the role), the key made; enrolment; reset', async () => {
    const problems: string[] = [];
    show(firstRunScreen(fakeCtx('reception')));
    problems.push(...check('first run'));
    await settle();
    // The readers this machine has, after the preset's; one is picked.
    const readers = [...document.querySelectorAll('#firstrun-reader option')].map((o) => o.textContent);
    expect(readers).toEqual([t('firstrun.readerPreset'), 'Front desk reader 00 00', 'Virtual PCD 00 00']);
    document.querySelector<HTMLSelectElement>('#firstrun-reader')!.value = 'Front desk reader 00 00';
    document.querySelector<HTMLSelectElement>('#firstrun-role')!.value = 'pharmacy';
    document.querySelector<HTMLInputElement>('#firstrun-manifest')!.value = '/etc/carekiosk/local.json';
    click('#firstrun-load');
    await settle();
    problems.push(...check('first run (manifest read)'));
    // Only where a pharmacy desk belongs.
    const options = [...document.querySelectorAll('#firstrun-institution option')].map((o) => o.textContent);
    expect(options).toEqual([`Demo Pharmacy · 0x${'22'.repeat(20)}`]);
    click('#firstrun-save');
    await settle();
    expect(invoke).toHaveBeenCalledWith('firstrun_save', {
      role: 'pharmacy',
      profile: 'local',
      manifest: '/etc/carekiosk/local.json',
      institution: '0x' + '22'.repeat(20),
      reader: 'Front desk reader 00 00',
    });
    expect(document.querySelector('#firstrun-saved')!.textContent).toBe('0x' + '33'.repeat(20));
    // A profile file: its field appears; an insurer desk in a manifest without insurer says so.
    const profile = document.querySelector<HTMLSelectElement>('#firstrun-profile')!;
    profile.value = 'file';
    profile.dispatchEvent(new Event('change'));
    expect(document.querySelector<HTMLElement>('#firstrun-profile-file')!.closest<HTMLElement>('.field')!.hidden).toBe(false);
    document.querySelector<HTMLSelectElement>('#firstrun-role')!.value = 'insurer';
    click('#firstrun-load');
    await settle();
    expect(document.querySelector('#firstrun-none')).not.toBeNull();
    problems.push(...check('first run (no institution for the role)'));

    const enrolment = {
      address: '0x' + '33'.repeat(20),
      state: 'other-offer' as const,
      institution: '0x' + '22'.repeat(20),
      offer: '0x' + '44'.repeat(20),
      qrWidth: 21,
      qrModules: '10'.repeat(220) + '1',
    };
    show(setupScreen(info('pharmacy', { ready: false, fromSetup: true, enrolment }), null, () => undefined));
    problems.push(...check('set-up (enrolment)'));
    expect(document.querySelector('#enrol-address')!.textContent).toBe(enrolment.address);
    expect(document.querySelector('#enrol-state')!.textContent).toContain('0x' + '44'.repeat(20));
    expect(accessibleName(document.querySelector('#enrol-qr')!)).not.toBe('');
    click('#reset-open');
    problems.push(...check('set-up (reset)'));
    document.querySelector<HTMLInputElement>('#reset-code')!.value = '12345678';
    document.querySelector<HTMLFormElement>('#reset-form')!.requestSubmit();
    await settle();
    expect(invoke).toHaveBeenCalledWith('firstrun_reset', { code: '12345678' });
    expect(problems).toEqual([]);
  });

  it('the PIN pad: its keys (digits, delete, OK) named, one h1 on the PIN screen', () => {
    show(pinPad({ triesLeft: 1, message: 'Wrong PIN. 1 tries left.', heading: 1, onSubmit: () => undefined, onCancel: () => undefined }));
    expect(check('PIN')).toEqual([]);
    const names = [...document.querySelectorAll('#pin-pad .pin-keys button')].map(accessibleName);
    expect(names).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', lang === 'en' ? 'Delete the last digit' : 'Corriger : effacer le dernier chiffre', '0', lang === 'en' ? 'OK' : 'Valider']);
    // What was typed is said (as a count, never the digits).
    click('#pin-pad [data-digit="4"]');
    click('#pin-pad [data-digit="2"]');
    expect(document.querySelector('#pin-dots')!.textContent).toBe(lang === 'en' ? 'Digits typed: 2' : 'Chiffres saisis : 2');
  });

  it('reception: check-in (before and after), registration, unblock, reset code blocked', async () => {
    const problems: string[] = [];
    show(receptionVisit(fakeCtx('reception')));
    problems.push(...check('reception'));
    click('#checkin');
    await settle();
    problems.push(...check('reception (checked in)'));
    show(registerForm(fakeCtx('reception'), () => undefined));
    problems.push(...check('register'));
    show(unblockFlow(fakeCtx('reception'), { resetTriesLeft: 3, onUnblocked: () => undefined, onLost: () => undefined, onCancel: () => undefined }));
    problems.push(...check('unblock'));
    show(unblockFlow(fakeCtx('reception'), { resetTriesLeft: 0, onUnblocked: () => undefined, onLost: () => undefined, onCancel: () => undefined }));
    problems.push(...check('unblock (reset code blocked)'));
    expect(problems).toEqual([]);
    expect(resetBlocked(() => undefined).querySelector('#lost-start')).not.toBeNull();
  });

  it('the lost-card desk, every step', async () => {
    const problems: string[] = [];
    const state: LostState = newLostState();
    let reader: ReaderView = { state: 'empty', reader: 'Virtual PCD 00 01' };
    const desk = () => lostDesk(fakeCtx('reception'), { state, reader: () => reader, onReplaced: () => undefined, onCancel: () => undefined });
    show(desk().el);
    problems.push(...check('lost (code)'));
    document.querySelector<HTMLInputElement>('#recovery-code')!.value = 'AAAA-BBBB';
    document.querySelector<HTMLFormElement>('#lost-form')!.requestSubmit();
    await settle();
    problems.push(...check('lost (reported)'));
    click('#replace-start');
    problems.push(...check('lost (insert a blank card)'));
    invoke.mockImplementation(async (cmd: string) => (cmd === 'card_peek' ? { patientCard: false, triesLeft: 3, blocked: false, resetTriesLeft: 0 } : null));
    reader = { state: 'card', reader: 'Virtual PCD 00 01' };
    const d = desk();
    show(d.el);
    await settle();
    problems.push(...check('lost (replacement form)'));
    expect(document.querySelector('#replace-form')).not.toBeNull();
    expect(problems).toEqual([]);
  });

  it('the issue letter, its QR code named, the saved copy', async () => {
    show(letterStep(fakeCtx('reception'), { replacement: true, onDone: () => undefined }));
    await settle();
    const problems = check('letter');
    click('#letter-save');
    await settle();
    problems.push(...check('letter (saved)'));
    expect(problems).toEqual([]);
    expect(accessibleName(document.querySelector('#letter-qr')!)).toBe(lang === 'en' ? 'QR code of the recovery code' : document.querySelector('#letter-qr')!.getAttribute('aria-label'));
  });

  it('doctor: the visit (overview, timeline, forms, claims), the warnings dialog, the printed token', async () => {
    show(doctorVisit(fakeCtx('doctor')));
    await settle(200);
    const problems = check('doctor');
    const drug = document.querySelector<HTMLSelectElement>('#drug')!;
    drug.value = 'J01CA04';
    document.querySelector<HTMLFormElement>('#prescription-form')!.requestSubmit();
    await settle();
    problems.push(...check('doctor (warnings)'));
    expect(document.querySelector('#rx-warnings')!.hasAttribute('hidden')).toBe(false);
    click('#rx-warnings-confirm');
    await settle();
    problems.push(...check('doctor (token printed)'));
    click('#claim-item-add');
    problems.push(...check('doctor (two claim items)'));
    expect(document.querySelector('#print')).not.toBeNull();
    // The printer refused it: the screen says why, and the file to print and delete is shown.
    expect(document.querySelector('#print-error')!.textContent).toContain('The printer or class does not exist');
    expect(document.querySelector('#print-path')!.textContent).toBe('/tmp/carekiosk/print/token-1.pdf');
    expect(problems).toEqual([]);
  });

  it('pharmacy: the consent choice, the prescriptions, a dispense and its receipt; the token desk', async () => {
    show(pharmacyVisit(fakeCtx('pharmacy')));
    const problems = check('pharmacy');
    click('#pharmacy-open');
    await settle();
    problems.push(...check('pharmacy (prescriptions)'));
    document.querySelector<HTMLInputElement>('#rx-1-batch')!.value = 'B-1';
    document.querySelector<HTMLFormElement>('#rx-1-form')!.requestSubmit();
    await settle();
    problems.push(...check('pharmacy (receipt)'));
    // Sent to the printer: its name and job, no file to delete.
    expect(document.querySelector('#print-sent')!.textContent).toContain('counter-3');
    expect(document.querySelector('#print-delete')).toBeNull();
    show(tokenDesk(fakeCtx('pharmacy'), () => undefined));
    problems.push(...check('token desk'));
    document.querySelector<HTMLInputElement>('#token-payload')!.value = 'CKRX1:31337:0xab:1:CODE';
    document.querySelector<HTMLFormElement>('#token-form')!.requestSubmit();
    await settle();
    problems.push(...check('token desk (checked)'));
    expect(document.querySelector('#token-dispense-form')).not.toBeNull();
    expect(problems).toEqual([]);
  });

  it('insurer: the queues, a claim under review (its table), enrolment (PIN pad, then the form)', async () => {
    show(insurerDesk(fakeCtx('insurer')));
    await settle();
    const problems = check('insurer');
    click('#claim-2-open');
    await settle();
    problems.push(...check('insurer (review)'));
    const table = document.querySelector('#review-items')!;
    expect([...table.querySelectorAll('th')].every((th) => th.getAttribute('scope') === 'col')).toBe(true);
    click('#enrol-open');
    problems.push(...check('insurer (enrol: PIN)'));
    for (const d of '123456') click(`#pin-pad [data-digit="${d}"]`);
    click('#pin-ok');
    await settle();
    problems.push(...check('insurer (enrol: form)'));
    expect(document.querySelector('#enrol-form')).not.toBeNull();
    expect(problems).toEqual([]);
  });

  it('over the visit: change of PIN, the patient’s own view, the emergency set; the emergency read', async () => {
    show(changePinFlow(fakeCtx('doctor'), () => undefined));
    const problems = check('change PIN');
    show(patientViewFlow(fakeCtx('doctor'), () => undefined));
    await settle();
    problems.push(...check('patient view'));
    click('#revoke-all');
    problems.push(...check('patient view (revoke all?)'));
    show(emergencyEditFlow(fakeCtx('doctor'), () => undefined));
    await settle();
    problems.push(...check('emergency set'));
    click('#em-allergy-add');
    problems.push(...check('emergency set (an allergy added)'));
    show(emergencyReadScreen(fakeCtx('reception'), () => undefined));
    problems.push(...check('emergency read'));
    document.querySelector<HTMLInputElement>('#em-clinician')!.value = 'Dr House';
    document.querySelector<HTMLInputElement>('#em-reason')!.value = 'unconscious';
    document.querySelector<HTMLFormElement>('#emergency-read-form')!.requestSubmit();
    await settle();
    problems.push(...check('emergency read (shown)'));
    expect(document.querySelector('#emergency-set')).not.toBeNull();
    expect(problems).toEqual([]);
  });
});

/** The whole app (src/main.ts) started afresh for a role: the header (text size, language), the footer, the
 * banners and each screen it shows, driven by the shell's events. */
async function startApp(role: Role, over: Partial<KioskInfo> = {}, peek = { patientCard: true, triesLeft: 3, blocked: false, resetTriesLeft: 3 }) {
  vi.resetModules();
  handlers.clear();
  document.body.innerHTML = '<div id="app"></div>';
  invoke.mockImplementation(async (cmd: string, args?: Record<string, unknown>) =>
    cmd === 'kiosk_info' ? info(role, over) : cmd === 'card_peek' ? peek : answer(cmd, args),
  );
  await import('../src/main');
  await settle();
  const emit = async (name: 'info' | 'card' | 'status', payload: KioskInfo | ReaderView | StatusView) => {
    handlers.get(`kiosk://${name}`)!({ payload });
    await settle();
  };
  return {
    emit,
    card: (state: ReaderView['state']) => emit('card', { state, reader: 'Virtual PCD 00 00' }),
    setPeek: (p: typeof peek) => (peek = p),
  };
}

/** The app's audit: the screen's, and the main landmark named by the screen's title. */
function checkApp(name: string): string[] {
  const problems = check(name);
  const main = document.querySelectorAll('main');
  if (main.length !== 1) problems.push(`${name}: ${main.length} main landmarks`);
  const title = [...document.querySelectorAll('main h1')].find((h1) => !h1.closest('[hidden]'));
  const by = main[0]?.getAttribute('aria-labelledby');
  if (!title || by !== title.id) problems.push(`${name}: the main landmark is labelled by #${by}, not by the title #${title?.id}`);
  if (!document.querySelector('header #text-size')) problems.push(`${name}: no text size control`);
  return problems;
}

const typePin = (pin: string) => {
  for (const d of pin) click(`#pin-pad [data-digit="${d}"]`);
  click('#pin-ok');
};

describe('the app: every screen it shows, with its header and footer', () => {
  beforeEach(() => {
    localStorage.clear();
    invoke.mockReset();
  });

  it('at reception: set-up, insert card, PIN, the visit and the flows over it, a blank card, a blocked PIN, the lost-card desk', async () => {
    const app = await startApp('reception', { ready: false, error: 'the kiosk key is not registered' });
    const problems = checkApp('set-up (refused)');
    await app.emit('info', info('reception'));
    problems.push(...checkApp('set-up'));
    click('#setup-start');
    problems.push(...checkApp('insert card'));
    await app.card('card');
    problems.push(...checkApp('PIN'));
    expect(document.querySelector('main')!.getAttribute('aria-labelledby')).toBe('pin-title');
    typePin('123456');
    await settle();
    problems.push(...checkApp('reception visit'));
    expect(document.querySelector('#reception')).not.toBeNull();
    for (const open of ['#patient-view-open', '#emergency-edit-open', '#change-pin']) {
      click(open);
      await settle();
      problems.push(...checkApp(`over the visit (${open})`));
      expect(document.querySelector('main')!.getAttribute('aria-labelledby')).not.toBe('reception-title');
      click(open === '#change-pin' ? '#pin-cancel' : `${open.replace('-open', '')}-close`);
      problems.push(...checkApp(`back to the visit (${open})`));
    }
    expect(document.querySelector('main')!.getAttribute('aria-labelledby')).toBe('reception-title');
    await app.card('empty');
    app.setPeek({ patientCard: false, triesLeft: 3, blocked: false, resetTriesLeft: 0 });
    await app.card('card');
    problems.push(...checkApp('blank card'));
    expect(document.querySelector('#register-form')).not.toBeNull();
    await app.card('empty');
    app.setPeek({ patientCard: true, triesLeft: 0, blocked: true, resetTriesLeft: 3 });
    await app.card('card');
    problems.push(...checkApp('PIN blocked'));
    expect(document.querySelector('#pin-blocked')).not.toBeNull();
    click('#unblock-start');
    problems.push(...checkApp('unblock'));
    expect(document.querySelector('#unblock #pin-pad')).not.toBeNull();
    await app.card('empty');
    click('#lost-card');
    problems.push(...checkApp('lost card'));
    expect(document.querySelector('#lost-form')).not.toBeNull();
    expect(problems).toEqual([]);
  });

  it('at a doctor’s desk: the emergency read from the PIN screen, the visit; offline and low-gas banners said', async () => {
    const app = await startApp('doctor');
    click('#setup-start');
    await app.card('card');
    click('#emergency-read-open');
    const problems = checkApp('emergency read');
    expect(document.querySelector('#emergency-read-form')).not.toBeNull();
    click('#emergency-read-done');
    await settle();
    typePin('123456');
    await settle(200);
    problems.push(...checkApp('doctor visit'));
    expect(document.querySelector('#doctor #history')).not.toBeNull();
    await app.emit('status', status({ online: false, block: null, reader: { state: 'card', reader: 'Virtual PCD 00 00' } }));
    const banner = document.querySelector('#offline-banner')!;
    expect(banner.hasAttribute('hidden')).toBe(false);
    expect(banner.getAttribute('role')).toBe('alert');
    const gas = { account: '0xab', balanceWei: '1', thresholdWei: '2', low: true, balance: '0.000001', symbol: 'ETH' };
    await app.emit('status', status({ gas, reader: { state: 'card', reader: 'Virtual PCD 00 00' } }));
    expect(banner.getAttribute('role')).toBe('status');
    expect(banner.textContent).toContain('fund');
    problems.push(...checkApp('doctor visit (low gas)'));
    expect(problems).toEqual([]);
  });

  it('at the pharmacy and the claims desk: the token desk, the visit, the insurer’s desk', async () => {
    const app = await startApp('pharmacy');
    click('#setup-start');
    click('#token-desk-open');
    const problems = checkApp('token desk');
    expect(document.querySelector('#token-form')).not.toBeNull();
    click('#token-done');
    await settle();
    await app.card('card');
    typePin('123456');
    await settle();
    problems.push(...checkApp('pharmacy visit'));
    expect(document.querySelector('#pharmacy-open')).not.toBeNull();
    await startApp('insurer');
    click('#setup-start');
    await settle();
    problems.push(...checkApp('claims desk'));
    expect(document.querySelector('#insurer #claim-2-open')).not.toBeNull();
    expect(problems).toEqual([]);
  });
});

describe('the text size in the app', () => {
  beforeEach(() => {
    localStorage.clear();
    invoke.mockReset();
  });

  it('starts at the role preset, and the size chosen on the kiosk wins over it from then on', async () => {
    await startApp('doctor', { textScale: 150 });
    const root = document.documentElement;
    expect(root.dataset.textScale).toBe('150');
    expect(root.style.getPropertyValue('--text-scale')).toBe('1.5');
    expect(document.querySelector('#text-size-150')!.getAttribute('aria-pressed')).toBe('true');
    click('#text-size-125');
    expect(root.dataset.textScale).toBe('125');
    // A restart: the stored choice, not the preset.
    await startApp('doctor', { textScale: 150 });
    expect(root.dataset.textScale).toBe('125');
    expect(document.querySelector('#text-size-125')!.getAttribute('aria-pressed')).toBe('true');
    // It stays in the header on every screen.
    click('#setup-start');
    expect(document.querySelector('header #text-size')).not.toBeNull();
    expect(document.querySelector('#insert')).not.toBeNull();
  });

  it('is 100 % without a preset (an older shell sends no textScale)', async () => {
    await startApp('reception');
    expect(document.documentElement.dataset.textScale).toBe('100');
    await startApp('reception', { textScale: null });
    expect(document.documentElement.dataset.textScale).toBe('100');
  });
});
