import { describeValue } from '../core/errors.js';
import type { Awaitable, GuardTarget } from '../stores/store.js';
import { chain, isPromiseLike, withTimeout } from './awaitable.js';
import type { Baselines } from './baselines.js';
import type { RouteBudget } from './budgets.js';
import type { ResolvedMiddlewareOptions } from './options.js';
import type { ProblemLog } from './problems.js';
import { RequestQuota, type RouteCallbacks, type RouteFields } from './quota-route.js';
import type { StoreCalls } from './store-calls.js';
import { boundKey } from './tenant-key.js';

const KEY_TIMED_OUT = Symbol('key timed out');

/**
 * The first step of a request: `skip`, the tenant key, the tenant's baseline on first sight, the
 * store's decision, route budgets. Synchronous, with no promise, when the store and the app's
 * functions are: the memory store's common path allocates the decision object and nothing else.
 */
export class Decider<Ctx> {
  /** The target of every request without a tenant key: one object, so the store can cache it. */
  private readonly shared: GuardTarget;
  /** What a request carries when the store fails. */
  private readonly storeDown: RouteFields;

  constructor(
    private readonly options: ResolvedMiddlewareOptions<Ctx>,
    private readonly calls: StoreCalls,
    private readonly problems: ProblemLog,
    private readonly baselines: Baselines | undefined,
    private readonly callbacks: RouteCallbacks,
    private readonly releaseProbes: (route: RequestQuota) => Awaitable<void>,
  ) {
    this.shared = { upstream: options.upstream };
    this.storeDown = {
      route: options.onStoreError,
      probe: false,
      reason: 'store_unavailable',
      state: 'within_quota',
    };
  }

  /**
   * True when the app's `skip` says to leave this request alone: no decision, nothing reported
   * (health checks, status pages, static files). A `skip` that throws guards the request (counted).
   */
  skips(ctx: Ctx): Awaitable<boolean> {
    const skip = this.options.skip;
    if (skip === undefined) return false;
    try {
      const answer = skip(ctx);
      if (isPromiseLike(answer)) return (answer as Promise<unknown>).then((v) => v === true, this.skipFailed);
      return answer === true;
    } catch (error) {
      return this.skipFailed(error);
    }
  }

  /** The request's decision. Plain value when the store answers synchronously. */
  decide(ctx: Ctx): Awaitable<RequestQuota> {
    if (this.options.key === undefined) return this.decideTarget(this.shared, ctx);
    return chain(this.keyOf(ctx), (key) => {
      if (key === undefined) return this.decideTarget(this.shared, ctx);
      const target: GuardTarget = { upstream: this.options.upstream, key };
      const loading = this.baselines?.forTenant(key);
      return loading ? loading.then(() => this.decideTarget(target, ctx)) : this.decideTarget(target, ctx);
    });
  }

  /** Lets a route budget overrule a primary decision; a probe the upstream granted is given back then. */
  applyBudget(route: RequestQuota, budget: RouteBudget): Awaitable<void> {
    // A fallback decision is not asked again: the budget's probe slot stays unspent.
    if (route.route !== 'primary' || route.decision === undefined) return;
    const target: GuardTarget =
      route.key === undefined ? budget.shared : { upstream: budget.storeName, key: route.key };
    // A store that fails now leaves the upstream's decision standing.
    return chain(this.calls.decide(target), (decision): Awaitable<void> => {
      if (decision === undefined) return;
      if (decision.route === 'primary') {
        route.budgets ??= [];
        route.budgets.push({ target, decision });
        if (decision.probe) {
          route.probe = true;
          route.reason = decision.reason;
          route.budget = budget.name;
        }
        return;
      }
      const giveBack = this.releaseProbes(route);
      route.budgets = undefined;
      route.refuse(budget.name, decision);
      return giveBack;
    });
  }

  private decideTarget(target: GuardTarget, ctx: Ctx): Awaitable<RequestQuota> {
    const decided = this.calls.decide(target);
    const { upstream } = this.options;
    if (!isPromiseLike(decided))
      return new RequestQuota(upstream, target, decided, this.storeDown, this.callbacks, ctx);
    return decided.then(
      (decision) => new RequestQuota(upstream, target, decision, this.storeDown, this.callbacks, ctx),
    );
  }

  /** The tenant key, within `keyTimeout`; a key function that fails charges the shared budget. */
  private keyOf(ctx: Ctx): Awaitable<string | undefined> {
    let raw: unknown;
    try {
      raw = this.options.key!(ctx);
    } catch (error) {
      this.problems.report(
        'key',
        'the key function threw; the request was charged to the shared budget',
        error,
      );
      return undefined;
    }
    if (!isPromiseLike(raw)) return this.checkKey(raw);
    const timeoutMs = this.options.keyTimeoutMs;
    return withTimeout(raw as Promise<unknown>, timeoutMs, KEY_TIMED_OUT).then(
      (value) => {
        if (value !== KEY_TIMED_OUT) return this.checkKey(value);
        this.problems.report(
          'key',
          `the key function did not settle within ${timeoutMs} ms; the request was charged to the shared budget`,
        );
        return undefined;
      },
      (error: unknown) => {
        this.problems.report(
          'key',
          'the key function rejected; the request was charged to the shared budget',
          error,
        );
        return undefined;
      },
    );
  }

  private checkKey(value: unknown): string | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value === '') {
      this.problems.report(
        'key',
        `the key function returned ${describeValue(value)}, not a tenant key; the request was charged to the shared budget`,
      );
      return undefined;
    }
    return boundKey(value, this.options.maxKeyLength);
  }

  private readonly skipFailed = (error: unknown): false => {
    this.problems.report('skip', 'the skip function failed; the request was guarded', error);
    return false;
  };
}
