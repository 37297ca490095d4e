import type { Clock } from '../core/clock.js';
import { resolveUpstreamOptions } from '../core/options.js';
import type { Awaitable, QuotaStore } from '../stores/store.js';
import type { BodyTap } from '../usage/body-tap.js';
import { isPromiseLike } from './awaitable.js';
import { Baselines } from './baselines.js';
import { defineRouteBudget, type RouteBudget } from './budgets.js';
import { Decider } from './decide.js';
import { type FinishedResponse, Finisher } from './finish.js';
import { GuardStatus, type MiddlewareInfo } from './guard-status.js';
import { InFlight } from './in-flight.js';
import { observeResponse } from './observe.js';
import type { ResolvedMiddlewareOptions, RouteBudgetOptions } from './options.js';
import { ProblemLog } from './problems.js';
import type { RequestQuota, RouteCallbacks } from './quota-route.js';
import { type Rejection, rejection } from './reject.js';
import { OutcomeReporter } from './report.js';
import type { StatusAnswer } from './status-access.js';
import { StoreCalls } from './store-calls.js';
import { openTap } from './taps.js';
import { UsageChecks } from './usage-checks.js';

export type { FinishedResponse, MiddlewareInfo };

/**
 * One guard's request layer, wired once at construction: what adapters call for each request
 * (`begin` → the decision, `finish` → the report, in `decide.ts`, `finish.ts` and `report.ts`),
 * and what runs once or on demand here (the store's definitions, baselines, route budgets,
 * `info()`, the status answer, reject mode's 429).
 */
export class QuotaEngine<Ctx> {
  readonly upstream: string;
  readonly options: ResolvedMiddlewareOptions<Ctx>;
  readonly decider: Decider<Ctx>;
  readonly finisher: Finisher<Ctx>;
  /** What this guard's decisions carry as their `owner`. */
  readonly owner: RouteCallbacks;
  /** Startup work not yet done: the store's definitions and the baselines (route budgets' too). */
  private loading: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly problems: ProblemLog;
  private readonly store: QuotaStore;
  private readonly calls: StoreCalls;
  private readonly budgets = new Map<string, RouteBudget>();
  private readonly baselines: Baselines | undefined;
  private readonly wallClock: Clock;
  private readonly usage: UsageChecks<Ctx>;
  private readonly reporter: OutcomeReporter<Ctx>;
  private readonly inFlight = new InFlight();
  private readonly status: GuardStatus;

  constructor(options: ResolvedMiddlewareOptions<Ctx>) {
    this.options = options;
    this.upstream = options.upstream;
    this.store = options.store;
    const windows = resolveUpstreamOptions(options.guard).windows;
    this.problems = new ProblemLog(options.logger, `quota-guard [${options.upstream}]`);
    this.calls = new StoreCalls(this.store, this.problems);
    this.wallClock = options.guard.wallClock ?? options.guard.clock ?? Date;
    this.usage = new UsageChecks(options, this.problems);
    this.reporter = new OutcomeReporter(
      options,
      this.calls,
      this.usage,
      this.problems,
      windows,
      this.wallClock,
    );
    this.baselines = options.loadBaseline
      ? new Baselines(
          options.loadBaseline,
          options.upstream,
          windows,
          this.store,
          this.problems,
          options.baselineTimeoutMs,
          options.maxKeys,
          this.budgets,
        )
      : undefined;
    const callbacks: RouteCallbacks = {
      // The app's own word that this is what the primary answered.
      apply: async (route, outcome) => this.reporter.apply(route, outcome, true),
      capError: async (route, retryAfterMs) => this.reporter.capError(route.target, retryAfterMs),
      observe: (route, response) =>
        observeResponse(
          route,
          response,
          this.tap(response.headers.get('content-type'), undefined),
          this.parts,
        ),
    };
    this.owner = callbacks;
    this.decider = new Decider(options, this.calls, this.problems, this.baselines, callbacks, (route) =>
      this.reporter.releaseProbes(route),
    );
    this.finisher = new Finisher(this.usage, this.reporter, this.inFlight, options.logger, this.upstream);
    this.status = new GuardStatus({
      upstream: this.upstream,
      store: this.store,
      budgets: this.budgets,
      problems: this.problems,
      reporter: this.reporter,
      inFlight: this.inFlight,
      maxKeyLength: options.maxKeyLength,
      ready: () => this.pending === 0,
    });
    for (const warning of options.warnings) options.logger.warn(warning);
    // A synchronous store throws here, at construction, for a clash or bad options.
    const defined = this.store.define(options.upstream, { ...options.guard, capScope: options.capScope });
    this.track(this.prepare(defined));
  }

  /** Decides for one request. Plain value when the store answers synchronously. */
  begin(ctx: Ctx): Awaitable<RequestQuota> {
    this.inFlight.begin();
    if (this.pending > 0) return this.loading.then(() => this.decider.decide(ctx));
    return this.decider.decide(ctx);
  }

  /** Reports a request's response once it is over; see `Finisher`. */
  finish(route: RequestQuota, response: FinishedResponse, abandoned: boolean): void {
    this.finisher.finish(route, response, abandoned);
  }

  /** A body tap (fetch has already undone any Content-Encoding when `contentEncoding` is absent). */
  tap(contentType: unknown, contentEncoding: unknown): BodyTap {
    return openTap(this.options as ResolvedMiddlewareOptions<unknown>, contentType, contentEncoding);
  }

  /** What `observe()` needs; see `observeResponse`. */
  get parts() {
    return { usage: this.usage, reporter: this.reporter, inFlight: this.inFlight };
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
        if (isPromiseLike(defined)) await defined.catch(this.calls.failed);
        await baselines?.loadBudget(budget.name, budget.storeName, budget.window);
      })(),
    );
    this.budgets.set(budget.name, budget);
    return budget;
  }

  /** What a 429 of reject mode carries. */
  rejection(route: RequestQuota): Promise<Rejection> {
    return rejection(route, {
      standardHeaders: this.options.standardHeaders,
      probeIntervalMs: this.options.probeIntervalMs,
      wallNow: this.wallClock.now(),
      info: () => this.status.windows(route.key, route.budget),
    });
  }

  /** The guard's numbers; with `key`, a tenant's. A look-up never creates or evicts a tenant. */
  info(key?: string): Promise<MiddlewareInfo> {
    return this.status.info(key);
  }

  /** The status handler's answer; see `GuardStatus.answer`. */
  statusAnswer(
    access: (authorization: unknown, key: unknown) => StatusAnswer | undefined,
    authorization: unknown,
    key: unknown,
  ): Promise<StatusAnswer> {
    return this.status.answer(access, authorization, key);
  }

  /** Counts a failed reject handler. */
  handlerFailed(error: unknown): void {
    this.problems.report('handler', 'the reject handler threw; answered with the default 429', error);
  }

  /** Resolves when no decided request is waiting for its response to finish. */
  settled(): Promise<void> {
    return this.inFlight.settled();
  }

  /**
   * Resolves once startup baselines (the upstream's and its route budgets') are loaded, failed
   * or timed out. Never rejects.
   */
  get ready(): Promise<void> {
    return this.loading;
  }

  // --- internals ---

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
    if (isPromiseLike(defined)) await defined.catch(this.calls.failed);
    await this.baselines?.load(undefined);
  }
}
