import { dictionaries, errorKey, setLang, t } from '../src/i18n';

describe('texts', () => {
  it('has every key in English and French, none empty', () => {
    const en = Object.keys(dictionaries.en).sort();
    expect(Object.keys(dictionaries.fr).sort()).toEqual(en);
    for (const lang of ['en', 'fr'] as const) {
      for (const k of en) expect(dictionaries[lang][k as keyof typeof dictionaries.en].trim()).not.toBe('');
    }
  });
  it('keeps the same placeholders in both languages', () => {
    const holes = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort().join();
    for (const k of Object.keys(dictionaries.en) as (keyof typeof dictionaries.en)[]) {
      expect(holes(dictionaries.fr[k]), k).toBe(holes(dictionaries.en[k]));
    }
  });
  it('fills placeholders and switches language', () => {
    setLang('en');
    expect(t('pin.tries', { tries: 2 })).toBe('2 tries left');
    setLang('fr');
    expect(t('pin.tries', { tries: 2 })).toBe('2 essais restants');
    expect(document.documentElement.lang).toBe('fr');
    setLang('de');
    expect(t('insert.title')).toBe('Insert the patient card');
  });
  it('knows the error kinds the shell sends', () => {
    for (const kind of ['wrong-pin', 'pin-blocked', 'card-removed', 'offline', 'no-consent', 'refused', 'not-registered']) {
      expect(errorKey(kind), kind).not.toBeNull();
    }
    expect(errorKey('made-up')).toBeNull();
  });
});
