// The desks' pure logic (no DOM): what remains of a prescription after its parts, the quantity to hand out by
// default, whether substitution is allowed, the insurer's default benefit per item, a claim's total, warnings
// compared for confirmation, and the debounce the type-ahead pickers use. Unit-tested.
import type { FhirResource, Warning } from './types';

/** The whole, in parts (the chain's unit for a partial dispense). */
export const WHOLE = 10000;

/** The prescribed quantity of a MedicationRequest (1 when it names none). */
export function prescribedQuantity(request: FhirResource | null): number {
  const q = (request?.dispenseRequest as { quantity?: { value?: number } } | undefined)?.quantity?.value;
  return typeof q === 'number' && q > 0 ? q : 1;
}

/** The unit of the prescribed quantity ("capsule", "tablet"…), or "unit". */
export function prescribedUnit(request: FhirResource | null): string {
  return (request?.dispenseRequest as { quantity?: { unit?: string } } | undefined)?.quantity?.unit ?? 'unit';
}

/** What remains to hand out of `total` once `dispensedBps` parts are gone (two decimals at most). */
export function remainingQuantity(total: number, dispensedBps: number): number {
  const left = Math.max(0, WHOLE - Math.min(WHOLE, Math.max(0, dispensedBps)));
  return Math.round(((total * left) / WHOLE) * 100) / 100;
}

/** The part (of 10,000) handing out `quantity` of `total` is, rounded to a whole part; at most what remains. */
export function partOf(quantity: number, total: number, dispensedBps: number): number {
  const left = WHOLE - Math.min(WHOLE, dispensedBps);
  if (!(quantity > 0) || !(total > 0)) return 0;
  if (quantity >= remainingQuantity(total, dispensedBps)) return left;
  return Math.min(left, Math.round((quantity / total) * WHOLE));
}

/** Whether the pharmacy may hand out another product of the same substance (FHIR `substitution.allowedBoolean`;
 * allowed when the prescription does not say). */
export function substitutionAllowed(request: FhirResource | null): boolean {
  const s = request?.substitution as { allowedBoolean?: boolean } | undefined;
  return s?.allowedBoolean !== false;
}

/** The insurer's default benefit for an item: its net × the coverage, in base units. */
export function defaultBenefit(net: string, coverageBps: number): string {
  return ((BigInt(net) * BigInt(coverageBps)) / 10000n).toString();
}

/** A claim's total in base units: Σ quantity × unit price. */
export function claimTotal(items: { quantity: number; unitPrice: string }[]): string {
  return items.reduce((sum, i) => sum + BigInt(i.unitPrice) * BigInt(i.quantity), 0n).toString();
}

/** The sum of the items' benefits, capped as the contract caps it. */
export function decidedAmount(benefits: string[], cap: string): string {
  const total = benefits.reduce((s, b) => s + BigInt(b), 0n);
  const c = BigInt(cap);
  return (total < c ? total : c).toString();
}

/** Whether two warnings are the same (what the doctor confirmed is what the core raised). */
export function sameWarning(a: Warning, b: Warning): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
}

/** The warnings of `raised` not yet among `confirmed`. */
export function unconfirmed(raised: Warning[], confirmed: Warning[]): Warning[] {
  return raised.filter((w) => !confirmed.some((c) => sameWarning(w, c)));
}

/** Calls `f` once the calls stop for `ms` milliseconds (type-ahead: one search per pause, not per key). */
export function debounce<A extends unknown[]>(f: (...args: A) => void, ms: number): (...args: A) => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return (...args: A) => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      f(...args);
    }, ms);
  };
}

/** How a prescription token is presented: a scanned/pasted QR payload (`CKRX…`), else the number and code. */
export function tokenInput(text: string, id: string, code: string): { payload: string | null; id: number | null; code: string | null } {
  const t = text.trim();
  if (t) return { payload: t, id: null, code: null };
  const n = Number(id.trim());
  return { payload: null, id: Number.isInteger(n) && n > 0 ? n : null, code: code.trim() || null };
}
