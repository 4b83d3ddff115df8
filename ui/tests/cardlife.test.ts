import { recoveryLines } from '../src/format';
import type { Ctx } from '../src/context';
import { setLang } from '../src/i18n';
import { pinPad } from '../src/pinpad';
import { qrPath, qrSvg } from '../src/qr';
import { letterStep } from '../src/screens/letter';
import { lostDesk, newLostState } from '../src/screens/lost';
import { unblockFlow } from '../src/screens/unblock';
import type { AppError, LetterView } from '../src/types';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }));

const RECOVERY = 'AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-HHHH-JJJJ-KKKK-MMMM-NNNN-PPPP-QQQQ';

function fakeCtx(errors: AppError[] = [], notices: string[] = []): Ctx {
  return {
    info: {} as Ctx['info'],
    status: null,
    patient: null,
    token: { symbol: 'tUSD', decimals: 18 },
    async run<T>(call: () => Promise<T>, _write?: boolean, handle?: (e: AppError) => boolean) {
      try {
        return await call();
      } catch (e) {
        if (!handle?.(e as AppError)) errors.push(e as AppError);
        return undefined;
      }
    },
    showTx: () => undefined,
    notify: (text) => notices.push(text),
    endVisit: () => undefined,
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

function typePin(root: ParentNode, digits: string): void {
  const pad = root.querySelector<HTMLElement>('#pin-pad')!;
  for (const d of digits) pad.querySelector<HTMLButtonElement>(`[data-digit="${d}"]`)!.click();
  pad.querySelector<HTMLButtonElement>('#pin-ok')!.click();
}

beforeEach(() => {
  setLang('en');
  invoke.mockReset();
});

describe('the recovery code and its QR code', () => {
  it('prints the code in two lines of seven groups, as the letter does', () => {
    const lines = recoveryLines(RECOVERY);
    expect(lines).toEqual(['AAAA-BBBB-CCCC-DDDD-EEEE-FFFF-GGGG-', 'HHHH-JJJJ-KKKK-MMMM-NNNN-PPPP-QQQQ']);
    expect(lines.join('')).toBe(RECOVERY);
  });
  it('draws each run of dark modules as one rectangle, in an image with a name', () => {
    expect(qrPath(3, '110' + '001' + '111')).toBe('M0 0h2v1h-2zM2 1h1v1h-1zM0 2h3v1h-3z');
    expect(() => qrPath(3, '1')).toThrow();
    const svg = qrSvg(3, '110001111', 'QR code of the recovery code', 'qr');
    expect(svg.getAttribute('role')).toBe('img');
    expect(svg.getAttribute('aria-label')).toContain('recovery');
    expect(svg.getAttribute('viewBox')).toBe('-4 -4 11 11');
  });
});

describe('the PIN pad in the card life steps', () => {
  it('takes exactly 8 digits for a reset code, names its step and can be cancelled', () => {
    const got: string[] = [];
    let cancelled = false;
    const pad = pinPad({ step: 'reset-code', title: 'Reset code', min: 8, max: 8, onSubmit: (c) => got.push(c), onCancel: () => (cancelled = true) });
    document.body.replaceChildren(pad);
    expect(pad.dataset.step).toBe('reset-code');
    expect(pad.querySelector('#pin-tries')).toBeNull();
    typePin(document, '1234567');
    expect(got).toEqual([]);
    typePin(document, '89');
    expect(got).toEqual(['12345678']);
    pad.querySelector<HTMLButtonElement>('#pin-cancel')!.click();
    expect(cancelled).toBe(true);
  });
});

describe('unblocking at reception', () => {
  it('shows the reset code tries left after a wrong code, and unblocks with the right one', async () => {
    const ctx = fakeCtx();
    let unblocked = false;
    const flow = unblockFlow(ctx, { resetTriesLeft: 3, onUnblocked: () => (unblocked = true), onLost: () => undefined, onCancel: () => undefined });
    document.body.replaceChildren(flow);
    invoke.mockRejectedValueOnce({ kind: 'wrong-reset-code', message: 'wrong reset code: 2 tries left', triesLeft: 2, revert: null });
    typePin(document, '00000000');
    expect(document.querySelector('#pin-pad')!.getAttribute('data-step')).toBe('new-pin');
    typePin(document, '902618');
    typePin(document, '902618');
    await flush();
    expect(invoke).toHaveBeenLastCalledWith('card_unblock', { resetCode: '00000000', pin: '902618', pinAgain: '902618' });
    expect(document.querySelector('#pin-pad')!.getAttribute('data-step')).toBe('reset-code');
    expect(document.querySelector('#pin-message')!.textContent).toContain('2 tries left');
    invoke.mockResolvedValueOnce(null);
    typePin(document, '48120975');
    typePin(document, '902618');
    typePin(document, '902618');
    await flush();
    expect(unblocked).toBe(true);
  });
  it('asks for the new PIN again when the two differ, without asking the card', () => {
    const flow = unblockFlow(fakeCtx(), { resetTriesLeft: 3, onUnblocked: () => undefined, onLost: () => undefined, onCancel: () => undefined });
    document.body.replaceChildren(flow);
    typePin(document, '48120975');
    typePin(document, '902618');
    typePin(document, '902619');
    expect(invoke).not.toHaveBeenCalled();
    expect(document.querySelector('#pin-pad')!.getAttribute('data-step')).toBe('new-pin');
    expect(document.querySelector('#pin-message')!.textContent).toContain('differ');
  });
  it('sends a blocked reset code to the lost-card desk', async () => {
    let toLost = false;
    const flow = unblockFlow(fakeCtx(), { resetTriesLeft: 1, onUnblocked: () => undefined, onLost: () => (toLost = true), onCancel: () => undefined });
    document.body.replaceChildren(flow);
    invoke.mockRejectedValueOnce({ kind: 'reset-code-blocked', message: 'the reset code is blocked', triesLeft: 0, revert: null });
    typePin(document, '00000000');
    typePin(document, '902618');
    typePin(document, '902618');
    await flush();
    expect(document.querySelector('#reset-blocked')!.textContent).toContain('recovery code');
    document.querySelector<HTMLButtonElement>('#lost-start')!.click();
    expect(toLost).toBe(true);
  });
});

describe('the issue letter step', () => {
  const letter: LetterView = {
    patientName: 'Jane Roe-Example',
    institution: 'Demo Hospital',
    issuedOn: '2026-12-02',
    resetCode: '48120975',
    recoveryText: RECOVERY,
    qrWidth: 3,
    qrModules: '110001111',
  };
  it('shows the letter, saves it only when asked, and clears it when left', async () => {
    const notices: string[] = [];
    let done = false;
    invoke.mockImplementation(async (cmd: string) => {
      if (cmd === 'letter_show') return letter;
      if (cmd === 'letter_save_pdf') return { path: '/tmp/carekiosk-letter-2026-12-02.pdf' };
      if (cmd === 'letter_done') return ['/tmp/carekiosk-letter-2026-12-02.pdf'];
      return null;
    });
    const step = letterStep(fakeCtx([], notices), { replacement: false, onDone: () => (done = true) });
    document.body.replaceChildren(step);
    await flush();
    expect(document.querySelector('#letter-name')!.textContent).toBe('Jane Roe-Example');
    expect(document.querySelector('#letter-reset-code')!.textContent).toBe('48120975');
    expect(document.querySelector('#letter-recovery')!.textContent).toBe(RECOVERY);
    expect(document.querySelector('#letter-qr')).not.toBeNull();
    expect(invoke.mock.calls.map((c) => c[0])).toEqual(['letter_show']);
    document.querySelector<HTMLButtonElement>('#letter-save')!.click();
    await flush();
    expect(invoke).toHaveBeenLastCalledWith('letter_save_pdf', { lang: 'en' });
    expect(document.querySelector('#letter-saved-text')!.textContent).toContain('delete it');
    const finish = document.querySelector<HTMLButtonElement>('#letter-done')!;
    expect(finish.disabled).toBe(true);
    const handed = document.querySelector<HTMLInputElement>('#letter-handed')!;
    handed.click();
    expect(finish.disabled).toBe(false);
    finish.click();
    await flush();
    expect(done).toBe(true);
    expect(document.body.textContent).not.toContain('48120975');
    expect(document.body.textContent).not.toContain('AAAA');
    expect(notices.join()).toContain('still on disk');
  });
});

describe('the lost-card desk', () => {
  it('reports the card lost with the code as typed, and shows a misread code in place', async () => {
    const errors: AppError[] = [];
    const desk = lostDesk(fakeCtx(errors), {
      state: newLostState(),
      reader: () => ({ state: 'empty', reader: 'Virtual PCD 00 01' }),
      onReplaced: () => undefined,
      onCancel: () => undefined,
    });
    document.body.replaceChildren(desk.el);
    const input = document.querySelector<HTMLInputElement>('#recovery-code')!;
    const form = document.querySelector<HTMLFormElement>('#lost-form')!;
    invoke.mockRejectedValueOnce({ kind: 'bad-recovery-code', message: 'the recovery code has a typo in group 3', triesLeft: null, revert: null });
    input.value = 'aaaa bbbb';
    form.requestSubmit();
    await flush();
    expect(errors).toEqual([]);
    expect(document.querySelector('#recovery-error')!.textContent).toContain('group 3');
    expect(input.getAttribute('aria-invalid')).toBe('true');
    invoke.mockResolvedValueOnce({ patientId: '0x' + 'ab'.repeat(32), tx: { state: 'confirmed', txHash: '0x' + '12'.repeat(32), block: 9, link: null, reason: null }, alreadyLost: false });
    input.value = 'carekiosk-recovery:v1:' + RECOVERY;
    form.requestSubmit();
    await flush();
    expect(invoke).toHaveBeenLastCalledWith('reception_report_lost', { recovery: 'carekiosk-recovery:v1:' + RECOVERY });
    expect(document.querySelector('#lost-tx')!.getAttribute('data-state')).toBe('confirmed');
    expect(document.querySelector('#recovery-code')).toBeNull();
    document.querySelector<HTMLButtonElement>('#replace-start')!.click();
    expect(document.querySelector('#replace-insert')).not.toBeNull();
  });
});
