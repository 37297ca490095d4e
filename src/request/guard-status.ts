import type { WindowInfo } from '../core/base-guard.js';
import type { UpstreamInfo } from '../core/upstream-guard.js';
import type { GuardTarget, QuotaStore, StoreStats } from '../stores/store.js';
import type { VendorWindowReading } from '../usage/vendor-headers.js';
import type { RouteBudget } from './budgets.js';
import type { DecisionCounts, InFlight } from './in-flight.js';
import type { ProblemCounts, ProblemLog } from './problems.js';
import type { OutcomeReporter, UpstreamErrorCounts } from './report.js';
import type { StatusAnswer } from './status-access.js';
import { boundKey } from './tenant-key.js';

/** `guard.info()` and the status handler's JSON. */
export interface MiddlewareInfo {
  upstream: string;
  /** True once startup baselines are loaded (or given up on). */
  ready: boolean;
  /** The upstream's windows (the tenant's, when asked with a key). */
  guard: UpstreamInfo;
  /** Route budgets, each with its window. */
  budgets: Array<{ name: string; window: WindowInfo }>;
  /** Problems survived, by kind. */
  problems: ProblemCounts;
  /** Requests decided whose response has not finished yet. */
  inFlight: number;
  /** The store's own size, where it tells it (tenant guards kept and evicted). */
  store?: StoreStats;
  /** Error answers of the primary by kind: caps (the guard held back) and transient ones (it did not). */
  upstreamErrors: UpstreamErrorCounts;
  /** Requests whose response has ended, by route and reason (`{ primary: { within_quota: 12 }, fallback: { cap_error: 3 } }`). */
  decisions: DecisionCounts;
  /** What the vendor last reported about its windows (utilization headers), by window. */
  vendor?: Record<string, VendorWindowReading>;
}

interface StatusParts {
  upstream: string;
  store: QuotaStore;
  budgets: ReadonlyMap<string, RouteBudget>;
  problems: ProblemLog;
  /** Where the error counts and the vendor's readings are. */
  reporter: Pick<OutcomeReporter<never>, 'errors' | 'vendor'>;
  inFlight: InFlight;
  maxKeyLength: number;
  ready: () => boolean;
}

/**
 * What a guard says about itself, on demand: `info()`, the status handler's answer, and the
 * windows reject mode's headers are built from. Look-ups only: nothing here creates a tenant.
 */
export class GuardStatus {
  constructor(private readonly parts: StatusParts) {}

  async info(key?: string): Promise<MiddlewareInfo> {
    const { upstream, store, problems, reporter, inFlight, maxKeyLength, ready } = this.parts;
    const bounded = key === undefined ? undefined : boundKey(key, maxKeyLength);
    const { guard, budgets } = await this.windows(bounded);
    const info: MiddlewareInfo = {
      upstream,
      ready: ready(),
      guard,
      budgets,
      problems: { ...problems.counts },
      inFlight: inFlight.count,
      upstreamErrors: { ...reporter.errors },
      decisions: { primary: { ...inFlight.decided.primary }, fallback: { ...inFlight.decided.fallback } },
    };
    const vendor = reporter.vendor.info(bounded);
    if (vendor) info.vendor = vendor;
    if (store.stats) info.store = await store.stats();
    return info;
  }

  /**
   * The status handler's answer: the guard's JSON (a tenant's with `?key=` when allowed), or a
   * refusal from `access`. `key` is the raw query value: anything but one string is refused.
   */
  async answer(
    access: (authorization: unknown, key: unknown) => StatusAnswer | undefined,
    authorization: unknown,
    key: unknown,
  ): Promise<StatusAnswer> {
    const refused = access(authorization, key);
    if (refused) return refused;
    if (key !== undefined && (typeof key !== 'string' || key === '')) {
      return {
        status: 400,
        headers: {},
        body: { error: { type: 'bad_key', message: 'key must be one string' } },
      };
    }
    return { status: 200, headers: {}, body: await this.info(key) };
  }

  /** The upstream's windows (a tenant's), and its route budgets' (or only the one named). */
  async windows(key: string | undefined, onlyBudget?: string) {
    const { upstream, store } = this.parts;
    const target: GuardTarget = key === undefined ? { upstream } : { upstream, key };
    const guard = await store.info(target);
    const budgets: MiddlewareInfo['budgets'] = [];
    for (const budget of this.parts.budgets.values()) {
      if (onlyBudget !== undefined && budget.name !== onlyBudget) continue;
      const info = await store.info(key === undefined ? budget.shared : { upstream: budget.storeName, key });
      budgets.push({ name: budget.name, window: info.windows[0]! });
    }
    return { guard, budgets };
  }
}
