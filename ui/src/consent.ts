// The consent choice's logic, pure (no DOM): the scope bits as the hub names them, what a role may be asked, the
// preselected default, and the check the shell repeats before the card signs.
import type { ConsentChoice, ConsentLimits, ScopeName } from './types';

/** The scope bits, in the order the screen lists them (`carekiosk_chain::bindings::scope`). */
export const SCOPES: readonly { name: ScopeName; bit: number }[] = [
  { name: 'read', bit: 1 },
  { name: 'write', bit: 2 },
  { name: 'prescribe', bit: 4 },
  { name: 'dispense', bit: 8 },
];

/** The names of the bits set in `scope`. */
export function scopeNames(scope: number): ScopeName[] {
  return SCOPES.filter((s) => (scope & s.bit) !== 0).map((s) => s.name);
}

/** The scopes a desk may ask for: those within its role's ceiling. */
export function askable(limits: ConsentLimits): ScopeName[] {
  return scopeNames(limits.ceiling);
}

/** The scope bits of the names ticked. */
export function scopeBits(names: readonly string[]): number {
  return SCOPES.filter((s) => names.includes(s.name)).reduce((bits, s) => bits | s.bit, 0);
}

/** What the screen preselects: the role's default, within its ceiling. */
export function defaultChoice(limits: ConsentLimits): ConsentChoice {
  return { scope: limits.defaultScope & limits.ceiling, days: Math.min(limits.defaultDays, limits.maxDays) };
}

export type ChoiceProblem = 'none-chosen' | 'beyond-ceiling' | 'days';

/** Why the card must not sign this choice (as the hub would refuse it), or null when it may. */
export function checkChoice(c: ConsentChoice, limits: ConsentLimits): ChoiceProblem | null {
  if (c.scope === 0) return 'none-chosen';
  if ((c.scope & ~limits.ceiling) !== 0) return 'beyond-ceiling';
  if (!Number.isInteger(c.days) || c.days < 1 || c.days > limits.maxDays) return 'days';
  return null;
}
