import { setLang } from '../src/i18n';
import { STORAGE_KEY, chooseScale, currentScale, nearestStep, setPreset, storedScale, textSizeControl } from '../src/textsize';
import { audit } from './a11y-check';

const root = document.documentElement;
const scaleOnRoot = () => [root.style.getPropertyValue('--text-scale'), root.dataset.textScale];
const pressed = (el: HTMLElement) => [...el.querySelectorAll('button[aria-pressed="true"]')].map((b) => b.id);

beforeEach(() => {
  setLang('en');
  localStorage.clear();
  setPreset(null);
  document.body.replaceChildren();
});

describe('the text size', () => {
  it('is 100 % with neither a stored choice nor a preset, else the preset, else the stored choice', () => {
    expect(currentScale()).toBe(100);
    expect(scaleOnRoot()).toEqual(['1', '100']);
    setPreset(125);
    expect(currentScale()).toBe(125);
    expect(scaleOnRoot()).toEqual(['1.25', '125']);
    chooseScale(175);
    expect(localStorage.getItem(STORAGE_KEY)).toBe('175');
    setPreset(150); // a new kiosk info: the choice made on the kiosk still wins
    expect(currentScale()).toBe(175);
    expect(scaleOnRoot()).toEqual(['1.75', '175']);
  });

  it('takes the nearest step of a preset, and ignores what is not a size', () => {
    expect(nearestStep(130)).toBe(125);
    expect(nearestStep(400)).toBe(175);
    expect(nearestStep(null)).toBeNull();
    expect(nearestStep(Number.NaN)).toBeNull();
    setPreset(undefined);
    expect(currentScale()).toBe(100);
    localStorage.setItem(STORAGE_KEY, 'huge');
    expect(storedScale()).toBeNull();
    expect(currentScale()).toBe(100);
  });

  it('is remembered across restarts (what is stored is read back first)', () => {
    chooseScale(150);
    setPreset(100);
    expect(storedScale()).toBe(150);
    expect(currentScale()).toBe(150);
  });
});

describe('the text size control', () => {
  it('marks the step in force, applies and stores a click, and announces it', () => {
    setPreset(125);
    const c = textSizeControl();
    document.body.append(c);
    expect(pressed(c)).toEqual(['text-size-125']);
    c.querySelector<HTMLButtonElement>('#text-size-150')!.click();
    expect(pressed(c)).toEqual(['text-size-150']);
    expect(scaleOnRoot()).toEqual(['1.5', '150']);
    expect(localStorage.getItem(STORAGE_KEY)).toBe('150');
    expect(c.querySelector('#text-size-status')!.textContent).toBe('Text size: 150 %');
    expect(c.querySelector('#text-size-status')!.getAttribute('role')).toBe('status');
  });

  it('follows a preset that comes later (no choice stored)', () => {
    const c = textSizeControl();
    document.body.append(c);
    expect(pressed(c)).toEqual(['text-size-100']);
    setPreset(175);
    expect(pressed(c)).toEqual(['text-size-175']);
  });

  it('is labelled: a named group of named buttons', () => {
    const c = textSizeControl();
    document.body.append(c);
    expect(audit(document.body, { oneH1: false })).toEqual([]);
    expect(c.getAttribute('role')).toBe('group');
    expect(c.querySelector('#text-size-label')!.textContent).toBe('Text size');
    expect(c.querySelector('#text-size-175')!.getAttribute('aria-label')).toBe('Text size 175 %');
    setLang('fr');
    expect(textSizeControl().querySelector('#text-size-175')!.getAttribute('aria-label')).toBe('Taille du texte 175 %');
  });

  it('works from the keyboard: buttons in the tab order, the arrow keys move between steps with the focus', () => {
    const c = textSizeControl();
    document.body.append(c);
    const buttons = [...c.querySelectorAll<HTMLButtonElement>('button')];
    expect(buttons).toHaveLength(4);
    for (const b of buttons) {
      expect(b.type).toBe('button');
      expect(b.disabled).toBe(false);
      expect(b.tabIndex).toBe(0);
    }
    buttons[0].focus();
    const key = (k: string) => document.activeElement!.dispatchEvent(new KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));
    key('ArrowRight');
    expect(currentScale()).toBe(125);
    expect(document.activeElement!.id).toBe('text-size-125');
    key('End');
    expect(currentScale()).toBe(175);
    expect(document.activeElement!.id).toBe('text-size-175');
    key('ArrowRight');
    expect(currentScale()).toBe(175);
    key('ArrowLeft');
    expect(currentScale()).toBe(150);
    key('Home');
    expect(currentScale()).toBe(100);
    expect(pressed(c)).toEqual(['text-size-100']);
    // Other keys are left alone (Tab moves on).
    expect(key('Tab')).toBe(true);
  });
});
