import type { Decision, DecisionReason, QuotaState } from '../core/decision.js';
import type { GuardTarget } from '../stores/store.js';
import type { BodyTap } from '../usage/body-tap.js';
import type { UpstreamErrorClass } from '../usage/classify.js';
import type { UpstreamOutcome } from './outcome.js';

/**
 * Why a request was routed where it was: the core's reasons, plus
 * - `route_budget_exhausted`: the route's own budget (`guard.budget(...)`) refused it;
 * - `store_unavailable`: the store failed, and `onStoreError` chose the route; or a shared store
 *   could not be reached in time and its local guard answered.
 */
export type RouteReason = DecisionReason | 'route_budget_exhausted';

/**
 * The decision a request carries: `req.quotaRoute` (Express), `ctx.state.quotaRoute` (Koa).
 *
 * @example
 * const route = req.quotaRoute;
 * const url = route?.route === 'fallback' ? FALLBACK_URL : PRIMARY_URL;
 */
export interface QuotaRoute {
  /** The guard's upstream name. */
  readonly upstream: string;
  readonly route: 'primary' | 'fallback';
  /** True for the one request per probe interval let through while exceeded. */
  readonly probe: boolean;
  readonly reason: RouteReason;
  /** The upstream's state after this decision. */
  readonly state: QuotaState;
  /** Fallback decisions: the window (or route budget window) holding the primary back, e.g. `5h`. */
  readonly window?: string;
  /** Set when a route budget refused the request: its name. */
  readonly budget?: string;
  /** Fallback decisions: epoch ms at which the primary is expected back. */
  readonly retryAt?: number;
  /** Fallback decisions: milliseconds until `retryAt`. */
  readonly retryInMs?: number;
  /** The tenant key the request was charged to, if any. */
  readonly key?: string;
  /**
   * Set once the primary's answer was classified as a cap or a transient error (e.g. a
   * per-minute rate limit or an overload: the guard's state did not change; the app may retry).
   */
  readonly upstreamError?: UpstreamErrorClass;
  /**
   * Reports what the primary answered, for apps that call it themselves (the proxy case: the
   * primary answered 429 and the app retried on the fallback). Once the app reports, the
   * response hook records nothing for this request, so nothing is counted twice.
   */
  report(outcome: UpstreamOutcome): Promise<UpstreamErrorClass>;
  /** Charges tokens the primary used (a finer `report`). */
  recordUsage(tokens: number): Promise<void>;
  /** Says the primary answered with a cap error; `retryAfterMs` is its raw delay. */
  capError(retryAfterMs?: number): Promise<void>;
  /** Says the primary answered with a success. */
  success(): Promise<void>;
  /**
   * Watches a `fetch` response of the primary that the app handles itself (the proxy case). An
   * error answer is classified before the promise resolves (`route.upstreamError` says cap or
   * transient); a success resolves at once, and its body's usage is counted as the app reads the
   * returned copy. The hook then stays out. Read or forward the returned response.
   *
   * @example
   * const upstream = await route.observe(await fetch(PRIMARY_URL, init));
   * if (route.upstreamError) return callFallback();       // a cap is reported already
   * return Readable.fromWeb(upstream.body).pipe(res);      // usage counted as it streams
   */
  observe(response: Response): Promise<Response>;
}

/** A route budget's own decision for one request. */
export interface BudgetDecision {
  readonly target: GuardTarget;
  readonly decision: Decision;
}

/** Where the engine keeps a request's state; users see it through `QuotaRoute`. */
export interface RouteCallbacks {
  apply(route: RequestQuota, outcome: UpstreamOutcome): Promise<UpstreamErrorClass>;
  observe(route: RequestQuota, response: Response): Promise<Response>;
  capError(route: RequestQuota, retryAfterMs: number | undefined): Promise<void>;
}

export class RequestQuota implements QuotaRoute {
  readonly upstream: string;
  route: 'primary' | 'fallback';
  probe: boolean;
  reason: RouteReason;
  state: QuotaState;
  window?: string;
  budget?: string;
  retryAt?: number;
  retryInMs?: number;
  key?: string;
  upstreamError?: UpstreamErrorClass;
  // What follows is the request layer's own state for this request, kept in this one object
  // (no closures, nothing added to the framework's request or response). Not public API.
  /** The upstream's decision; undefined when the store failed. */
  readonly decision: Decision | undefined;
  readonly target: GuardTarget;
  /** Route budgets that allowed the request (made when the first one does). */
  budgets: BudgetDecision[] | undefined;
  /** Set by the first explicit report: the response hook then stays out. */
  reported = false;
  /** The framework's request context, for the app's `usage` function at the end. */
  readonly ctx: unknown;
  /** Another guard's decision on the same request (Express keeps them as a chain). */
  previous: RequestQuota | undefined;
  /** The body tap, when usage is read from bodies. */
  tap: BodyTap | undefined;
  /** The response's connection closed / the app finished / the hook ran / the abandoned wait. */
  closed = false;
  appDone = false;
  /** Koa: the rest of the middleware chain, looked at only when the client leaves first. */
  appSettled: Promise<unknown> | undefined;
  fired = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The guard that decided (its callbacks): tells two guards of one upstream name apart. */
  readonly owner: RouteCallbacks;

  constructor(
    upstream: string,
    target: GuardTarget,
    decision: Decision | undefined,
    fallback: RouteFields,
    callbacks: RouteCallbacks,
    ctx: unknown,
  ) {
    this.upstream = upstream;
    this.target = target;
    this.decision = decision;
    this.owner = callbacks;
    this.ctx = ctx;
    if (target.key !== undefined) this.key = target.key;
    const source: RouteFields = decision ?? fallback;
    this.route = source.route;
    this.probe = source.probe;
    this.reason = source.reason;
    this.state = source.state;
    if (source.window !== undefined) this.window = source.window;
    if (source.retryAt !== undefined) this.retryAt = source.retryAt;
    if (source.retryInMs !== undefined) this.retryInMs = source.retryInMs;
  }

  report(outcome: UpstreamOutcome): Promise<UpstreamErrorClass> {
    this.reported = true;
    return this.owner.apply(this, outcome);
  }

  async recordUsage(tokens: number): Promise<void> {
    this.reported = true;
    await this.owner.apply(this, { tokens });
  }

  capError(retryAfterMs?: number): Promise<void> {
    this.reported = true;
    return this.owner.capError(this, retryAfterMs);
  }

  async success(): Promise<void> {
    this.reported = true;
    await this.owner.apply(this, { status: 200 });
  }

  observe(response: Response): Promise<Response> {
    this.reported = true;
    return this.owner.observe(this, response);
  }

  /** A route budget refused: the request goes to the fallback after all. */
  refuse(budget: string, decision: Decision): void {
    this.route = 'fallback';
    this.probe = false;
    this.reason = 'route_budget_exhausted';
    this.budget = budget;
    if (decision.window !== undefined) this.window = decision.window;
    if (decision.retryAt !== undefined) this.retryAt = decision.retryAt;
    if (decision.retryInMs !== undefined) this.retryInMs = decision.retryInMs;
  }

  /** What `console.log(req.quotaRoute)` shows: the decision, not the request it holds. */
  [Symbol.for('nodejs.util.inspect.custom')](): ReturnType<RequestQuota['toJSON']> {
    return this.toJSON();
  }

  /** Only what users read; the engine's bookkeeping stays out of logs and JSON. */
  toJSON(): Omit<QuotaRoute, 'report' | 'recordUsage' | 'capError' | 'success' | 'observe'> {
    const { upstream, route, probe, reason, state, window, budget, retryAt, retryInMs, key, upstreamError } =
      this;
    return {
      upstream,
      route,
      probe,
      reason,
      state,
      window,
      budget,
      retryAt,
      retryInMs,
      key,
      upstreamError,
    } as Omit<QuotaRoute, 'report' | 'recordUsage' | 'capError' | 'success'>;
  }
}

/** The fields a decision and a stand-in (store down) share. */
export interface RouteFields {
  readonly route: 'primary' | 'fallback';
  readonly probe: boolean;
  readonly reason: RouteReason;
  readonly state: QuotaState;
  readonly window?: string;
  readonly retryAt?: number;
  readonly retryInMs?: number;
}
