// Pure helpers the screens use: amounts, dates, hashes, FHIR summaries and the coverage arithmetic. No DOM here.
import type { FhirResource } from './types';
import { lang } from './i18n';

/** `0x1234…abcd`. */
export function shortHash(h: string | null | undefined, keep = 4): string {
  if (!h) return '';
  return h.length <= 2 + keep * 2 ? h : `${h.slice(0, 2 + keep)}…${h.slice(-keep)}`;
}

/** A base-unit integer string as a decimal amount, e.g. "96000000000000000000", 18 → "96.00". */
export function formatUnits(base: string, decimals = 18, fraction = 2): string {
  const v = BigInt(base);
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const unit = 10n ** BigInt(decimals);
  const scale = 10n ** BigInt(fraction);
  // Round half up at `fraction` digits.
  const scaled = (abs * scale + unit / 2n) / unit;
  const whole = scaled / scale;
  const frac = (scaled % scale).toString().padStart(fraction, '0');
  const wholeText = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${neg ? '-' : ''}${wholeText}${fraction > 0 ? `.${frac}` : ''}`;
}

/** A decimal amount typed by a person ("96.5") in base units; null when it is not a number. */
export function parseUnits(text: string, decimals = 18): string | null {
  const m = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text.replace(/,/g, ''));
  if (!m) return null;
  const frac = (m[2] ?? '').slice(0, decimals).padEnd(decimals, '0');
  return (BigInt(m[1]) * 10n ** BigInt(decimals) + BigInt(frac === '' ? '0' : frac)).toString();
}

export interface Coverage {
  /** claimed × bps / 10,000 */
  byRate: bigint;
  /** min(byRate, remaining): the most the insurer may approve. */
  cap: bigint;
}

/** The contract's coverage arithmetic, in base units. */
export function coverage(claimed: string, bps: number, remaining: string): Coverage {
  const byRate = (BigInt(claimed) * BigInt(bps)) / 10000n;
  const rem = BigInt(remaining);
  return { byRate, cap: byRate < rem ? byRate : rem };
}

/** `80 %` from basis points. */
export function percent(bps: number): string {
  const p = bps / 100;
  return `${Number.isInteger(p) ? p.toFixed(0) : p.toFixed(2)} %`;
}

/** A unix time as a date (and time) in the screen's language. */
export function formatDate(unixSeconds: number, withTime = false): string {
  const d = new Date(unixSeconds * 1000);
  const locale = lang() === 'fr' ? 'fr-FR' : 'en-GB';
  return withTime
    ? d.toLocaleString(locale, { dateStyle: 'medium', timeStyle: 'short' })
    : d.toLocaleDateString(locale, { dateStyle: 'medium' });
}

interface Coding {
  system?: string;
  code?: string;
  display?: string;
}
interface Concept {
  coding?: Coding[];
  text?: string;
}

function concept(c: unknown): string {
  const cc = c as Concept | undefined;
  if (!cc) return '';
  const first = cc.coding?.[0];
  if (first) return [first.code, first.display].filter(Boolean).join(' ');
  return cc.text ?? '';
}

/** A one-line title and a detail line for a FHIR resource on the timeline. */
export function summarize(r: FhirResource): { title: string; detail: string } {
  const f = r as Record<string, unknown>;
  switch (r.resourceType) {
    case 'Patient': {
      const names = (f.name as { text?: string; family?: string; given?: string[] }[] | undefined) ?? [];
      const n = names[0];
      const name = n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ');
      return { title: name || 'Patient', detail: [f.birthDate, f.gender].filter(Boolean).join(' · ') };
    }
    case 'Condition': {
      const notes = (f.note as { text?: string }[] | undefined) ?? [];
      return { title: concept(f.code), detail: notes.map((n) => n.text).filter(Boolean).join(' ') };
    }
    case 'CarePlan': {
      const acts = (f.activity as { detail?: { description?: string } }[] | undefined) ?? [];
      const steps = acts.map((a) => a.detail?.description).filter(Boolean);
      return { title: String(f.title ?? f.description ?? 'Care plan'), detail: steps.join(' · ') };
    }
    case 'MedicationRequest': {
      const dosage = (f.dosageInstruction as { text?: string }[] | undefined)?.[0]?.text ?? '';
      const qty = (f.dispenseRequest as { quantity?: { value?: number; unit?: string } } | undefined)?.quantity;
      const q = qty?.value !== undefined ? `${qty.value}${qty.unit ? ` ${qty.unit}` : ''}` : '';
      return { title: concept(f.medicationCodeableConcept), detail: [q, dosage].filter(Boolean).join(' · ') };
    }
    case 'MedicationDispense': {
      const qty = (f.quantity as { value?: number; unit?: string } | undefined) ?? {};
      // A substitute is named by its text (the prescribed drug's coding stays beside it).
      const substituted = (f.substitution as { wasSubstituted?: boolean } | undefined)?.wasSubstituted === true;
      const handed = substituted ? (f.medicationCodeableConcept as Concept | undefined)?.text : undefined;
      return {
        title: handed ?? concept(f.medicationCodeableConcept),
        detail: [qty.value !== undefined ? `${qty.value}${qty.unit ? ` ${qty.unit}` : ''}` : '', f.whenHandedOver]
          .filter(Boolean)
          .join(' · '),
      };
    }
    case 'Claim': {
      // Amounts are shown by the desks in the deployment token, never in the FHIR currency.
      const items = (f.item as { productOrService?: Concept }[] | undefined) ?? [];
      return { title: 'Claim', detail: items.map((i) => concept(i.productOrService)).filter(Boolean).join(' · ') };
    }
    case 'AllergyIntolerance': {
      const notes = (f.note as { text?: string }[] | undefined) ?? [];
      return {
        title: concept(f.code),
        detail: [f.criticality === 'high' ? 'high risk' : '', ...notes.map((n) => n.text)].filter(Boolean).join(' · '),
      };
    }
    default:
      return { title: r.resourceType, detail: '' };
  }
}

/** The recovery code as the letter prints it: `perLine` groups a line, every line but the last ending in a dash. */
export function recoveryLines(text: string, perLine = 7): string[] {
  const groups = text.split('-').filter((g) => g.length > 0);
  const lines: string[] = [];
  for (let i = 0; i < groups.length; i += perLine) {
    const line = groups.slice(i, i + perLine).join('-');
    lines.push(i + perLine < groups.length ? `${line}-` : line);
  }
  return lines;
}

/** A calendar date `YYYY-MM-DD` written out in the screen's language (the letter's issue date). */
export function formatDay(isoDate: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(isoDate);
  if (!m) return isoDate;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toLocaleDateString(lang() === 'fr' ? 'fr-FR' : 'en-GB', { day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });
}
