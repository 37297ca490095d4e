import { optionError } from '../core/errors.js';
import {
  checkKnownKeys,
  type ResolvedWindow,
  resolveUpstreamOptions,
  type UpstreamGuardOptions,
} from '../core/options.js';
import type { GuardTarget } from '../stores/store.js';
import type { RouteBudgetOptions } from './options.js';

/** A route budget as the engine keeps it: a one-window guard of its own in the store. */
export interface RouteBudget {
  readonly name: string;
  /** The budget's name in the store: `upstream#name`. */
  readonly storeName: string;
  readonly shared: GuardTarget;
  readonly guard: UpstreamGuardOptions;
  /** The budget's one window, resolved. */
  readonly window: ResolvedWindow;
}

const BUDGET_KEYS: { [K in keyof Required<RouteBudgetOptions>]: true } = {
  window: true,
  budget: true,
  name: true,
  thresholdPercent: true,
  probeInterval: true,
  resolution: true,
};

/** Validates a route budget's options and derives its guard options from the upstream's. */
export function defineRouteBudget(
  options: RouteBudgetOptions,
  ordinal: number,
  upstreamGuard: UpstreamGuardOptions,
  upstream: string,
  existing: ReadonlyMap<string, RouteBudget>,
): RouteBudget {
  if (typeof options !== 'object' || options === null)
    throw optionError('budget(options)', 'an object', options);
  checkKnownKeys(options, BUDGET_KEYS, 'budget.');
  if (options.budget === undefined)
    throw optionError('budget.budget', 'a non-negative finite number of tokens', undefined);
  const name = options.name ?? `route-${ordinal}`;
  if (typeof name !== 'string' || name === '') throw optionError('budget.name', 'a non-empty string', name);
  if (existing.has(name))
    throw optionError('budget.name', `a name no other budget of '${upstream}' has`, name);
  const { name: _name, ...window } = options;
  const storeName = `${upstream}#${name}`;
  // The budget inherits the upstream's settings (clock, logger, threshold, probes) and has one window.
  const guard: UpstreamGuardOptions = { ...upstreamGuard, name: storeName, windows: [window] };
  // Resolving validates the budget's options now, naming them, before the store sees them.
  const [resolved] = resolveUpstreamOptions(guard).windows;
  return { name, storeName, shared: { upstream: storeName }, guard, window: resolved! };
}
