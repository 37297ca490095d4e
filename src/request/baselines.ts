import { LRUCache } from 'lru-cache';
import { describeValue } from '../core/errors.js';
import type { ResolvedWindow } from '../core/options.js';
import type { GuardTarget, QuotaStore } from '../stores/store.js';
import { withTimeout } from './awaitable.js';
import type { RouteBudget } from './budgets.js';
import type { BaselineLoader } from './options.js';
import type { ProblemLog } from './problems.js';

/**
 * Loads usage spent before this process started, through the app's loader: each window of the
 * upstream at startup, and each tenant's on first sight. A loader that throws, hangs past the
 * timeout or returns garbage is logged and counted; the guard serves without that baseline.
 */
export class Baselines {
  /** Tenants whose baselines are loaded (`true`) or loading (the promise to wait for). */
  private readonly tenants: LRUCache<string, true | Promise<void>>;

  constructor(
    private readonly loader: BaselineLoader,
    private readonly upstream: string,
    private readonly windows: readonly ResolvedWindow[],
    private readonly store: QuotaStore,
    private readonly problems: ProblemLog,
    private readonly timeoutMs: number,
    maxKeys: number,
    /** The route budgets, as they are added: a tenant's share of each starts from its baseline too. */
    private readonly budgets: ReadonlyMap<string, RouteBudget>,
  ) {
    this.tenants = new LRUCache({ max: maxKeys });
  }

  /** A tenant's baselines, loaded on first sight; undefined once loaded (no promise to wait for). */
  forTenant(key: string): Promise<void> | undefined {
    const known = this.tenants.get(key);
    if (known === true) return undefined;
    if (known !== undefined) return known;
    const loading = this.load(key).finally(() => this.tenants.set(key, true));
    this.tenants.set(key, loading);
    return loading;
  }

  /**
   * Every window of one target (the shared one for `undefined`), in parallel; never rejects. A
   * tenant's share of each route budget is loaded with the tenant's windows.
   */
  async load(key: string | undefined): Promise<void> {
    const target: GuardTarget =
      key === undefined ? { upstream: this.upstream } : { upstream: this.upstream, key };
    const loads = this.windows.map((w) => this.loadWindow(target, w, key, undefined));
    if (key !== undefined) {
      for (const b of this.budgets.values()) {
        loads.push(this.loadWindow({ upstream: b.storeName, key }, b.window, key, b.name));
      }
    }
    await Promise.all(loads);
  }

  /** A route budget's window, the budget's shared share (tenants' shares load on first sight). */
  loadBudget(name: string, storeName: string, window: ResolvedWindow): Promise<void> {
    return this.loadWindow({ upstream: storeName }, window, undefined, name);
  }

  private async loadWindow(
    target: GuardTarget,
    w: ResolvedWindow,
    key: string | undefined,
    budget: string | undefined,
  ): Promise<void> {
    const where = `${w.label}${key === undefined ? '' : ` of tenant ${describeValue(key)}`}${budget === undefined ? '' : ` of route budget '${budget}'`}`;
    const timedOut = Symbol('timed out');
    try {
      const request = {
        upstream: this.upstream,
        window: w.label,
        windowMs: w.windowMs,
        key,
        ...(budget === undefined ? {} : { budget }),
      };
      const result = await withTimeout(
        Promise.resolve().then(() => this.loader(request)),
        this.timeoutMs,
        timedOut,
      );
      if (result === timedOut) {
        this.problems.report(
          'baseline',
          `the baseline of ${where} timed out after ${this.timeoutMs} ms; serving without it`,
        );
        return;
      }
      if (result === undefined) return;
      // The guard ignores unusable values and counts them; the count says whether this load had any.
      const before = (await this.store.info(target)).ignored.baseline;
      await this.store.loadBaseline(target, result, { window: w.label });
      if ((await this.store.info(target)).ignored.baseline > before) {
        this.problems.report('baseline', `the baseline of ${where} held unusable values (ignored)`);
      }
    } catch (error) {
      this.problems.report('baseline', `the baseline of ${where} failed; serving without it`, error);
    }
  }
}
