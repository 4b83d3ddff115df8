// Text size: a few steps (100 to 175 %) applied by scaling the root font size (style.css sizes text in rem/em, so
// everything follows), chosen with a control in the header — on every screen, set-up and PIN included — and
// remembered across restarts in localStorage. The role's preset (`KioskInfo.textScale`) is the default: the
// choice stored on this kiosk wins over it, and 100 % applies when there is neither.
import { h } from './dom';
import { t } from './i18n';

/** The steps offered, in percent. */
export const TEXT_STEPS = [100, 125, 150, 175] as const;
export const STORAGE_KEY = 'carekiosk.textScale';

/** The role's preset, from the kiosk info (null: none). */
let preset: number | null = null;

/** The step nearest to `percent` (null when it is not a usable number). */
export function nearestStep(percent: unknown): number | null {
  if (typeof percent !== 'number' || !Number.isFinite(percent) || percent <= 0) return null;
  return TEXT_STEPS.reduce((best, s) => (Math.abs(s - percent) < Math.abs(best - percent) ? s : best), TEXT_STEPS[0] as number);
}

function storage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null; // storage refused (private mode, a locked-down webview)
  }
}

/** The choice stored on this kiosk, if any. */
export function storedScale(): number | null {
  const raw = storage()?.getItem(STORAGE_KEY);
  if (raw === null || raw === undefined) return null;
  const n = Number(raw);
  return (TEXT_STEPS as readonly number[]).includes(n) ? n : null;
}

/** The size in force: the stored choice, else the role's preset, else 100 %. */
export function currentScale(): number {
  return storedScale() ?? preset ?? 100;
}

/** Scales the root font size (and says so in `data-text-scale`, which the e2e tests read); the control on screen
 * shows the step in force (a new preset may come with the kiosk info at any time). */
export function applyScale(percent = currentScale()): void {
  const root = document.documentElement;
  root.style.setProperty('--text-scale', String(percent / 100));
  root.dataset.textScale = String(percent);
  markPressed(document, percent);
}

function markPressed(within: ParentNode, percent: number): void {
  for (const b of within.querySelectorAll<HTMLElement>('.text-size-step')) {
    b.setAttribute('aria-pressed', String(Number(b.dataset.scale) === percent));
  }
}

/** The role's preset (`KioskInfo.textScale`, percent); applied unless a choice is stored. */
export function setPreset(percent: number | null | undefined): void {
  preset = nearestStep(percent);
  applyScale();
}

/** The user's choice: stored, then applied. */
export function chooseScale(percent: number): number {
  const step = nearestStep(percent) ?? 100;
  try {
    storage()?.setItem(STORAGE_KEY, String(step));
  } catch {
    // Not remembered, but applied for this run.
  }
  applyScale(step);
  return step;
}

/** The control: one button per step (`aria-pressed` on the one in force), the arrow keys move between steps, and
 * the new size is announced politely. */
export function textSizeControl(): HTMLElement {
  const status = h('span', { class: 'sr-only', id: 'text-size-status', role: 'status', 'aria-live': 'polite' });
  const buttons = TEXT_STEPS.map((step) =>
    h(
      'button',
      {
        class: `small text-size-step text-size-${step}`,
        type: 'button',
        id: `text-size-${step}`,
        'data-scale': step,
        'aria-label': t('textSize.step', { percent: step }),
        onclick: () => pick(step),
      },
      `${step} %`,
    ),
  );
  const pick = (step: number, focus = false) => {
    const applied = chooseScale(step);
    status.textContent = t('textSize.changed', { percent: applied });
    if (focus) document.getElementById(`text-size-${applied}`)?.focus();
  };
  const group = h(
    'div',
    { class: 'text-size', id: 'text-size', role: 'group', 'aria-labelledby': 'text-size-label' },
    h('span', { class: 'text-size-label', id: 'text-size-label' }, t('textSize.label')),
    ...buttons,
    status,
  );
  group.addEventListener('keydown', (ev) => {
    const i = TEXT_STEPS.indexOf(currentScale() as (typeof TEXT_STEPS)[number]);
    const next =
      ev.key === 'ArrowRight' || ev.key === 'ArrowUp'
        ? Math.min(TEXT_STEPS.length - 1, i + 1)
        : ev.key === 'ArrowLeft' || ev.key === 'ArrowDown'
          ? Math.max(0, i - 1)
          : ev.key === 'Home'
            ? 0
            : ev.key === 'End'
              ? TEXT_STEPS.length - 1
              : null;
    if (next === null) return;
    ev.preventDefault();
    pick(TEXT_STEPS[next], true);
  });
  markPressed(group, currentScale());
  return group;
}
