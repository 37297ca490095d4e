import type { Baseline } from '../../core/baseline.js';
import { isTokenCount } from '../../core/baseline.js';
import { describeValue } from '../../core/errors.js';
import type { GuardTarget } from '../store.js';
import type { GuardCall, UpstreamDefinition } from './definition.js';

/**
 * The arguments RedisStore computes for its script and reads back from it: which window a
 * selector names, a baseline as slot pairs, the windows a decision showed exceeded.
 */

export function windowIndex(call: GuardCall, wanted: string | number): number {
  const index = call.windows.findIndex((w) =>
    typeof wanted === 'number' ? w.windowMs === wanted : w.label === wanted,
  );
  if (index < 0) {
    throw new RangeError(
      `quota-guard: no window ${String(wanted)} (windows: ${call.windows.map((w) => w.label).join(', ')})`,
    );
  }
  return index;
}

/**
 * A baseline as `at, tokens` pairs, one per slot (so a long log makes a short call). A number
 * goes to the window's middle (`-window/2`: the script adds its own now). Unusable entries are
 * skipped and logged; undefined when nothing is usable.
 */
export function baselinePairs(
  baseline: Baseline,
  windowMs: number,
  resolutionMs: number,
  def: UpstreamDefinition,
  target: GuardTarget,
): string[] | undefined {
  const ignored = (what: string) => {
    def.ignored.baseline++;
    def.logger.warn(`${def.prefix(target.key)}: loadBaseline() ignored ${what}`);
  };
  if (typeof baseline === 'number') {
    if (!isTokenCount(baseline)) {
      ignored(`${describeValue(baseline)}: tokens must be a non-negative safe integer`);
      return undefined;
    }
    return baseline === 0 ? undefined : [String(-windowMs / 2), String(baseline)];
  }
  if (!Array.isArray(baseline)) {
    ignored(`${typeof baseline}: want a number or [{ at, tokens }]`);
    return undefined;
  }
  const slots = new Map<number, number>();
  for (const entry of baseline as readonly unknown[]) {
    const { at, tokens } = (entry ?? {}) as { at?: unknown; tokens?: unknown };
    if (typeof at !== 'number' || !Number.isFinite(at) || at <= 0 || !isTokenCount(tokens)) {
      ignored(
        `an entry ${describeValue(entry)}: want { at, tokens } with tokens a non-negative safe integer`,
      );
      continue;
    }
    if (tokens === 0) continue;
    // Entries of one slot share its end, so they can be summed here: one pair per slot.
    const slot = Math.floor(at / resolutionMs) * resolutionMs;
    slots.set(slot, (slots.get(slot) ?? 0) + tokens);
  }
  if (slots.size === 0) return undefined;
  return [...slots].flatMap(([at, tokens]) => [String(at), String(tokens)]);
}

/** Labels of the windows a decision's `seen` shows exceeded (flag 1 or 2), for probe events. */
export function exceededWindows(seen: string, calls: readonly GuardCall[]): string[] {
  const flags = seen.split(',').map((part) => part.split(':')[1]);
  const labels: string[] = [];
  let index = 0;
  for (const call of calls) {
    for (const w of call.windows) {
      if (flags[index++] !== '0' && !labels.includes(w.label)) labels.push(w.label);
    }
  }
  return labels;
}
