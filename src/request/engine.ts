import type { WindowInfo } from '../core/base-guard.js';
import type { Clock } from '../core/clock.js';
import type { Decision } from '../core/decision.js';
import { describeValue } from '../core/errors.js';
import { type ResolvedWindow, resolveUpstreamOptions } from '../core/options.js';
import type { UpstreamInfo } from '../core/upstream-guard.js';
import type { Awaitable, GuardTarget, QuotaStore, StoreStats } from '../stores/store.js';
import { type BodyReading, BodyTap } from '../usage/body-tap.js';
import type { UpstreamErrorClass } from '../usage/classify.js';
import type { VendorWindowReading } from '../usage/vendor-headers.js';
import { chain, isPromiseLike, withTimeout } from './awaitable.js';
import { Baselines } from './baselines.js';
import { defineRouteBudget, type RouteBudget } from './budgets.js';
import { answeredByPrimary } from './evidence.js';
import { observeBody } from './observe.js';
import type { ResolvedMiddlewareOptions, RouteBudgetOptions } from './options.js';
import type { UpstreamOutcome } from './outcome.js';
import { OutcomeReporter, type UpstreamErrorCounts } from './outcomes.js';
import { type ProblemCounts, ProblemLog } from './problems.js';
import {
  RequestQuota,
  type RequestQuota as RequestQuotaType,
  type RouteCallbacks,
  type RouteFields,
} from './quota-route.js';
import { type Rejection, rejection } from './reject.js';
import type { StatusAnswer } from './status-access.js';
import { boundKey } from './tenant-key.js';

const KEY_TIMED_OUT = Symbol('key timed out');

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
  /** What the vendor last reported about its windows (utilization headers), by window. */
  vendor?: Record<string, VendorWindowReading>;
}

/** The response as the hook sees it once it is over. */
export interface FinishedResponse {
  /** False when the client went away before any header was sent: the status means nothing then. */
  readonly headersSent: boolean;
  readonly statusCode: number;
  getHeaders(): Record<string, string | number | string[] | undefined>;
}

/**
 * Everything an adapter does that is not about its framework: deciding for a request, route
 * budgets, tenant keys, baselines, turning a finished response into usage, success and cap
 * errors, and the 429 of reject mode. Adapters only map their request and response onto it.
 */
export class QuotaEngine<Ctx> {
  readonly upstream: string;
  readonly options: ResolvedMiddlewareOptions<Ctx>;
  /** Startup work not yet done: the store's definitions and the baselines (route budgets' too). */
  private loading: Promise<void>;
  private pending = 0;
  private readonly problems: ProblemLog;
  private readonly store: QuotaStore;
  private readonly shared: GuardTarget;
  private readonly windows: readonly ResolvedWindow[];
  private readonly budgets = new Map<string, RouteBudget>();
  private readonly baselines: Baselines | undefined;
  private readonly wallClock: Clock;
  private readonly callbacks: RouteCallbacks;
  private readonly outcomes: OutcomeReporter<Ctx>;
  private readonly storeDown: RouteFields;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: ResolvedMiddlewareOptions<Ctx>) {
    this.options = options;
    this.upstream = options.upstream;
    this.store = options.store;
    this.shared = { upstream: options.upstream };
    this.windows = resolveUpstreamOptions(options.guard).windows;
    this.problems = new ProblemLog(options.logger, `quota-guard [${options.upstream}]`);
    this.wallClock = options.guard.wallClock ?? options.guard.clock ?? Date;
    this.storeDown = {
      route: options.onStoreError,
      probe: false,
      reason: 'store_unavailable',
      state: 'within_quota',
    };
    this.outcomes = new OutcomeReporter(
      options,
      this.store,
      this.problems,
      this.windows,
      this.wallClock,
      (fn) => this.call(fn),
    );
    this.callbacks = {
      apply: (route, outcome) => this.apply(route, outcome),
      capError: async (route, retryAfterMs) => this.outcomes.capError(route.target, retryAfterMs),
      observe: (route, response) => this.observe(route, response),
    };
    this.baselines = options.loadBaseline
      ? new Baselines(
          options.loadBaseline,
          options.upstream,
          this.windows,
          this.store,
          this.problems,
          options.baselineTimeoutMs,
          options.maxKeys,
        )
      : undefined;
    for (const warning of options.warnings) options.logger.warn(warning);
    // A synchronous store throws here, at construction, for a clash or bad options.
    const defined = this.store.define(options.upstream, options.guard);
    this.loading = Promise.resolve();
    this.track(this.prepare(defined));
  }

  /** Decides for one request. Plain value when the store answers synchronously. */
  begin(ctx: Ctx): Awaitable<RequestQuotaType> {
    this.inFlight++;
    if (this.pending > 0) return this.loading.then(() => this.decideFor(ctx));
    return this.decideFor(ctx);
  }

  /**
   * True when the app's `skip` says to leave this request alone: no decision, nothing reported
   * (health checks, status pages, static files). A `skip` that throws guards the request (counted).
   */
  skips(ctx: Ctx): Awaitable<boolean> {
    const skip = this.options.skip;
    if (skip === undefined) return false;
    const failed = (error: unknown) => {
      this.problems.report('skip', 'the skip function failed; the request was guarded', error);
      return false;
    };
    try {
      const answer = skip(ctx);
      if (isPromiseLike(answer)) return (answer as Promise<unknown>).then((v) => v === true, failed);
      return answer === true;
    } catch (error) {
      return failed(error);
    }
  }

  /** Adds a route budget; see `guard.budget()`. */
  defineBudget(options: RouteBudgetOptions): RouteBudget {
    const budget = defineRouteBudget(
      options,
      this.budgets.size + 1,
      this.options.guard,
      this.upstream,
      this.budgets,
    );
    const defined = this.store.define(budget.storeName, budget.guard);
    const baselines = this.baselines;
    this.track(
      (async () => {
        if (isPromiseLike(defined)) await defined.catch((error: unknown) => this.storeFailed(error));
        await baselines?.loadBudget(budget.name, budget.storeName, budget.window);
      })(),
    );
    this.budgets.set(budget.name, budget);
    return budget;
  }

  /** Lets the route budget overrule a primary decision; a probe the upstream granted is given back then. */
  applyBudget(route: RequestQuotaType, budget: RouteBudget): Awaitable<void> {
    // A fallback decision is not asked again: the budget's probe slot stays unspent.
    if (route.route !== 'primary' || route.decision === undefined) return;
    const target: GuardTarget =
      route.key === undefined ? budget.shared : { upstream: budget.storeName, key: route.key };
    // A store that fails now leaves the upstream's decision standing.
    return chain(this.decideSafely(target), (decision): Awaitable<void> => {
      if (decision === undefined) return;
      if (decision.route === 'primary') {
        route.budgets.push({ target, decision });
        if (decision.probe) {
          route.probe = true;
          route.reason = decision.reason;
          route.budget = budget.name;
        }
        return;
      }
      const giveBack = this.outcomes.releaseProbes(route);
      route.budgets.length = 0;
      route.refuse(budget.name, decision);
      return giveBack;
    });
  }

  /**
   * A tap for a response body when usage is read from bodies (`usage` names a vendor); it also
   * gives the classifier an error answer's body. Undefined otherwise: the hook then classifies
   * by status and headers, and a plain response pays nothing (both adapters alike).
   */
  openTap(_status: number, contentType: unknown, contentEncoding: unknown): BodyTap | undefined {
    if (this.options.vendor === undefined) return undefined;
    return this.newTap(contentType, contentEncoding);
  }

  private newTap(contentType: unknown, contentEncoding: unknown): BodyTap {
    return new BodyTap({
      vendor: this.options.vendor ?? 'auto',
      contentType: typeof contentType === 'string' ? contentType : undefined,
      contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : undefined,
      maxJsonBytes: this.options.maxJsonBytes,
      maxEventChars: this.options.maxEventBytes,
      maxInflatedBytes: this.options.maxInflatedBytes,
    });
  }

  /**
   * Reports the response to the guard once it is over (finished, or the client went away).
   * Synchronous with a synchronous store, no tap and a synchronous usage function: no promise
   * per request. `abandoned`: the client left and the app never finished within the wait; its
   * status proves nothing (a 200 header of a stream that never ended is no success).
   */
  finish(
    route: RequestQuotaType,
    ctx: Ctx,
    response: FinishedResponse,
    tap?: BodyTap,
    abandoned = false,
  ): void {
    if (route.reported || route.route !== 'primary') {
      this.requestDone();
      return;
    }
    const status = response.headersSent && !abandoned ? response.statusCode : undefined;
    let done: Awaitable<unknown>;
    try {
      done = chain(tap ? tap.end() : undefined, (reading) => {
        const fromBody = this.outcomes.tokens(reading, status);
        return chain(fromBody === undefined ? this.outcomes.usageOf(ctx) : fromBody, (tokens) => {
          const outcome: UpstreamOutcome = { headers: response.getHeaders() };
          if (tokens !== undefined) outcome.tokens = tokens;
          if (status !== undefined) outcome.status = status;
          const body = reading?.json ?? reading?.streamError;
          if (body !== undefined) outcome.body = body;
          return this.outcomes.apply(route, outcome, answeredByPrimary(outcome, reading));
        });
      });
    } catch (error) {
      // Only a bug of ours gets here; the request is over either way.
      this.options.logger.error(`quota-guard [${this.upstream}]: reporting a response failed`, error);
      this.requestDone();
      return;
    }
    if (isPromiseLike(done)) done.finally(() => this.requestDone());
    else this.requestDone();
  }

  /** What a 429 of reject mode carries. */
  rejection(route: RequestQuotaType): Promise<Rejection> {
    return rejection(route, {
      standardHeaders: this.options.standardHeaders,
      probeIntervalMs: this.options.probeIntervalMs,
      wallNow: this.wallClock.now(),
      info: () => this.infoParts(route.key, route.budget),
    });
  }

  /** Counts a failed reject handler. */
  handlerFailed(error: unknown): void {
    this.problems.report('handler', 'the reject handler threw; answered with the default 429', error);
  }

  /** The guard's numbers; with `key`, a tenant's. A look-up never creates or evicts a tenant. */
  async info(key?: string): Promise<MiddlewareInfo> {
    const { guard, budgets } = await this.infoParts(
      key === undefined ? undefined : boundKey(key, this.options.maxKeyLength),
    );
    const info: MiddlewareInfo = {
      upstream: this.upstream,
      ready: this.pending === 0,
      guard,
      budgets,
      problems: { ...this.problems.counts },
      inFlight: this.inFlight,
      upstreamErrors: { ...this.outcomes.errors },
    };
    const vendor = this.outcomes.vendorInfo(
      key === undefined ? undefined : boundKey(key, this.options.maxKeyLength),
    );
    if (vendor) info.vendor = vendor;
    if (this.store.stats) info.store = await this.store.stats();
    return info;
  }

  /**
   * The status handler's answer: the guard's JSON (a tenant's with `?key=` when allowed), or a
   * refusal from `access`. `key` is the raw query value: anything but one string is refused.
   */
  async statusAnswer(
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

  /** Resolves when no decided request is waiting for its response to finish. */
  settled(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // --- internals ---

  /**
   * Resolves once startup baselines (the upstream's and its route budgets') are loaded, failed
   * or timed out. Never rejects.
   */
  get ready(): Promise<void> {
    return this.loading;
  }

  /** Requests wait for startup work, all of it, however much is added (route budgets come later). */
  private track(work: Promise<void>): void {
    this.pending++;
    const done = work
      .catch(() => undefined)
      .finally(() => {
        this.pending--;
      });
    this.loading = Promise.all([this.loading, done]).then(() => undefined);
  }

  private async prepare(defined: Awaitable<void>): Promise<void> {
    if (isPromiseLike(defined)) await defined.catch((error: unknown) => this.storeFailed(error));
    await this.baselines?.load(undefined);
  }

  private decideFor(ctx: Ctx): Awaitable<RequestQuotaType> {
    return chain(this.keyOf(ctx), (key) => {
      const target: GuardTarget = key === undefined ? this.shared : { upstream: this.upstream, key };
      const loading = key === undefined ? undefined : this.baselines?.forTenant(key);
      return loading ? loading.then(() => this.decideTarget(target)) : this.decideTarget(target);
    });
  }

  private decideTarget(target: GuardTarget): Awaitable<RequestQuotaType> {
    return chain(this.decideSafely(target), (decision) => this.routeFor(target, decision));
  }

  /** The store's decision, or undefined when the store failed (counted, never thrown). */
  private decideSafely(target: GuardTarget): Awaitable<Decision | undefined> {
    try {
      const decided = this.store.decide(target);
      if (!isPromiseLike(decided)) return decided;
      return decided.catch((error: unknown) => {
        this.storeFailed(error);
        return undefined;
      });
    } catch (error) {
      this.storeFailed(error);
      return undefined;
    }
  }

  private routeFor(target: GuardTarget, decision: Decision | undefined): RequestQuotaType {
    return new RequestQuota(this.upstream, target, decision, this.storeDown, this.callbacks);
  }

  private keyOf(ctx: Ctx): Awaitable<string | undefined> {
    const keyFn = this.options.key;
    if (keyFn === undefined) return undefined;
    let raw: unknown;
    try {
      raw = keyFn(ctx);
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

  /**
   * `route.observe(response)`: an error answer is read and classified before it resolves; a
   * success resolves at once, its body's usage counted as the app reads it. Counted in flight
   * until then, so `settled()` waits for it.
   */
  private async observe(route: RequestQuotaType, response: Response): Promise<Response> {
    this.inFlight++;
    // fetch has already undone any Content-Encoding: the body is plain.
    const tap = this.newTap(response.headers.get('content-type'), undefined);
    let verdict: Promise<unknown> = Promise.resolve();
    const report = (reading: BodyReading) => {
      const status = response.status;
      const outcome: UpstreamOutcome = { status, headers: response.headers };
      const tokens = this.outcomes.tokens(reading, status);
      if (tokens !== undefined) outcome.tokens = tokens;
      const body = reading.json ?? reading.streamError;
      if (body !== undefined) outcome.body = body;
      // The app handed over the primary's own fetch response: it was asked.
      verdict = Promise.resolve(this.outcomes.apply(route, outcome, true)).finally(() => this.requestDone());
    };
    if (response.ok) return observeBody(response, tap, report);
    // An error answer is small and its verdict must not wait for the app: read a copy now.
    await observeBody(response.clone(), tap, report)
      .arrayBuffer()
      .catch(() => undefined);
    await verdict;
    return response;
  }

  /** `report()` from the app: always a promise, of what the answer meant. */
  private async apply(route: RequestQuotaType, outcome: UpstreamOutcome): Promise<UpstreamErrorClass> {
    // The app's own word that this is what the primary answered.
    return this.outcomes.apply(route, outcome, true);
  }

  private async infoParts(key: string | undefined, onlyBudget?: string) {
    const target: GuardTarget = key === undefined ? this.shared : { upstream: this.upstream, key };
    const guard = await this.store.info(target);
    const budgets: MiddlewareInfo['budgets'] = [];
    for (const budget of this.budgets.values()) {
      if (onlyBudget !== undefined && budget.name !== onlyBudget) continue;
      const info = await this.store.info(
        key === undefined ? budget.shared : { upstream: budget.storeName, key },
      );
      budgets.push({ name: budget.name, window: info.windows[0]! });
    }
    return { guard, budgets };
  }

  /** Runs a store call; a throw or rejection is counted, never passed on to the request. */
  private call(fn: () => Awaitable<void>): Awaitable<void> {
    try {
      const result = fn();
      if (isPromiseLike(result)) return result.catch((error: unknown) => this.storeFailed(error));
    } catch (error) {
      this.storeFailed(error);
    }
  }

  private storeFailed(error: unknown): void {
    this.problems.report('store', 'the store failed; requests are served meanwhile', error);
  }

  private requestDone(): void {
    this.inFlight--;
    if (this.inFlight > 0 || this.idleWaiters.length === 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
