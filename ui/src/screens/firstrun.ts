// First run of a kiosk installed from the package: the desk's role, its network (a built-in profile or a profile
// file), the deployment manifest the institution's administrator gave, and the institution it joins. Saving makes
// the kiosk's key in the OS keyring and remembers the set-up (with the card reader picked, or the role preset's); the start screen then shows the kiosk's address
// (text and QR code) until the institution enrols it, and opens the desk by itself.
import { api } from '../api';
import type { Ctx } from '../context';
import { h, replace } from '../dom';
import { t, type Key } from '../i18n';
import type { FirstRunManifestView, Role } from '../types';

const ROLES: Role[] = ['reception', 'doctor', 'pharmacy', 'insurer'];
const PROFILES = ['local', 'celo-sepolia', 'celo', 'file'] as const;

/** Where a desk of `role` belongs. */
export function institutionRole(role: Role): 'hospital' | 'pharmacy' | 'insurer' {
  return role === 'pharmacy' ? 'pharmacy' : role === 'insurer' ? 'insurer' : 'hospital';
}

function field(label: string, id: string, control: HTMLElement): HTMLElement {
  return h('div', { class: 'field' }, h('label', { for: id }, label), control);
}

export function firstRunScreen(ctx: Ctx): HTMLElement {
  const role = h(
    'select',
    { id: 'firstrun-role' },
    ...ROLES.map((r) => h('option', { value: r }, t(`role.${r}` as Key))),
  );
  const profile = h(
    'select',
    { id: 'firstrun-profile' },
    ...PROFILES.map((p) => h('option', { value: p }, t(`firstrun.profile.${p}` as Key))),
  );
  const profileFile = h('input', { id: 'firstrun-profile-file', type: 'text', autocomplete: 'off', spellcheck: 'false' });
  const profileFileField = field(t('firstrun.profileFile'), 'firstrun-profile-file', profileFile);
  profileFileField.hidden = true;
  const manifest = h('input', {
    id: 'firstrun-manifest',
    type: 'text',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
  });
  const reader = h('select', { id: 'firstrun-reader' }, h('option', { value: '' }, t('firstrun.readerPreset')));
  const readerNote = h('p', { class: 'muted', id: 'firstrun-reader-note', 'aria-live': 'polite' });
  const findReaders = h('button', { type: 'button', id: 'firstrun-readers' }, t('firstrun.readersAgain'));
  const listReaders = async () => {
    findReaders.disabled = true;
    let failure = '';
    const names = await ctx.run(
      () => api.firstrunReaders(),
      false,
      (e) => {
        failure = e.message;
        return true;
      },
    );
    findReaders.disabled = false;
    const keep = reader.value;
    replace(
      reader,
      h('option', { value: '' }, t('firstrun.readerPreset')),
      ...(names ?? []).map((n) => h('option', { value: n }, n)),
    );
    if ((names ?? []).includes(keep)) reader.value = keep;
    readerNote.textContent =
      names === undefined
        ? `${t('firstrun.readersFailed')} ${failure}`.trim()
        : names.length === 0
          ? t('firstrun.readersNone')
          : '';
  };
  findReaders.addEventListener('click', () => void listReaders());
  void listReaders();
  const picked = h('div', { id: 'firstrun-picked', 'aria-live': 'polite' });
  const profileValue = () => (profile.value === 'file' ? profileFile.value.trim() : profile.value);
  let loaded: FirstRunManifestView | null = null;

  const showInstitutions = () => {
    if (loaded === null) return replace(picked);
    const wanted = institutionRole(role.value as Role);
    const choices = loaded.institutions.filter((i) => i.role === wanted);
    if (choices.length === 0) {
      return replace(picked, h('p', { class: 'error', id: 'firstrun-none', role: 'alert' }, t('firstrun.noInstitution', { role: t(`role.${role.value}` as Key) })));
    }
    const institution = h(
      'select',
      { id: 'firstrun-institution' },
      ...choices.map((i) => h('option', { value: i.address }, `${i.name} · ${i.address}`)),
    );
    const save = h('button', { class: 'primary', type: 'button', id: 'firstrun-save' }, t('firstrun.save'));
    save.addEventListener('click', async () => {
      save.disabled = true;
      const address = await ctx.run(() => api.firstrunSave(role.value as Role, profileValue(), manifest.value.trim(), institution.value, reader.value || null));
      save.disabled = false;
      if (address === undefined) return;
      replace(picked, h('p', { class: 'ok', id: 'firstrun-saved', role: 'status' }, address));
    });
    replace(
      picked,
      h('p', { id: 'firstrun-chain' }, t('firstrun.chain', { chain: loaded.chainId })),
      field(t('firstrun.institution'), 'firstrun-institution', institution),
      h('div', { class: 'actions' }, save),
    );
  };

  const load = h('button', { type: 'button', id: 'firstrun-load' }, t('firstrun.load'));
  load.addEventListener('click', async () => {
    loaded = null;
    replace(picked);
    const m = await ctx.run(() => api.firstrunManifest(profileValue(), manifest.value.trim()));
    if (m === undefined) return;
    loaded = m;
    showInstitutions();
  });
  profile.addEventListener('change', () => {
    profileFileField.hidden = profile.value !== 'file';
    loaded = null;
    replace(picked);
  });
  role.addEventListener('change', showInstitutions);

  return h(
    'section',
    { class: 'screen setup firstrun', id: 'firstrun', role: 'region', 'aria-labelledby': 'firstrun-title' },
    h('h1', { id: 'firstrun-title', tabindex: -1, 'data-autofocus': true }, t('firstrun.title')),
    h('p', { class: 'muted', id: 'firstrun-intro' }, t('firstrun.intro')),
    h(
      'div',
      { class: 'form' },
      field(t('firstrun.role'), 'firstrun-role', role),
      field(t('firstrun.profile'), 'firstrun-profile', profile),
      profileFileField,
      field(t('firstrun.reader'), 'firstrun-reader', reader),
      readerNote,
      h('div', { class: 'actions' }, findReaders),
      field(t('firstrun.manifest'), 'firstrun-manifest', manifest),
      h('div', { class: 'actions' }, load),
    ),
    picked,
  );
}
