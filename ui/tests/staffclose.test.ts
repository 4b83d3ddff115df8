import { setLang } from '../src/i18n';
import { isStaffShortcut, staffClose } from '../src/staffclose';
import { accessibleName } from './a11y-check';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));
vi.mock('@tauri-apps/api/event', () => ({ listen: vi.fn() }));

describe('closing a kiosk-mode app', () => {
  beforeEach(() => {
    setLang('en');
    invoke.mockReset();
  });

  it('opens on Ctrl+Alt+Q only', () => {
    expect(isStaffShortcut(new KeyboardEvent('keydown', { key: 'q', ctrlKey: true, altKey: true }))).toBe(true);
    expect(isStaffShortcut(new KeyboardEvent('keydown', { key: 'q', ctrlKey: true }))).toBe(false);
    expect(isStaffShortcut(new KeyboardEvent('keydown', { key: 'w', ctrlKey: true, altKey: true }))).toBe(false);
  });

  it('asks for the staff code, says a wrong one is wrong, and sends the code typed', async () => {
    const s = staffClose();
    document.body.replaceChildren(s.el);
    expect(s.el.hidden).toBe(true);
    s.open();
    expect(s.el.hidden).toBe(false);
    const code = s.el.querySelector<HTMLInputElement>('#staff-code')!;
    expect(accessibleName(code)).toBe('Staff code');
    expect(code.type).toBe('password');
    invoke.mockRejectedValueOnce({ kind: 'wrong-staff-code', message: 'not it' });
    code.value = '11111111';
    s.el.querySelector('form')!.dispatchEvent(new Event('submit', { cancelable: true }));
    await vi.waitFor(() => expect(s.el.querySelector('#staff-close-error')!.textContent).toContain('not this desk'));
    expect(invoke).toHaveBeenCalledWith('kiosk_close', { code: '11111111' });
    expect(code.value).toBe('');
    s.el.querySelector<HTMLButtonElement>('#staff-cancel')!.click();
    expect(s.el.hidden).toBe(true);
  });
});
