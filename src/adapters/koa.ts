/**
 * quota-guard for Koa: `app.use(quotaGuard(options))` sets `ctx.state.quotaRoute` and reports
 * each response back to the guard.
 */
import type { ServerResponse } from 'node:http';
import type { Context, Middleware, Next } from 'koa';
import { isPromiseLike } from '../request/awaitable.js';
import { QuotaEngine } from '../request/engine.js';
import { withHandles } from '../request/handles.js';
import type { MiddlewareOptions, RouteBudgetOptions } from '../request/options.js';
import type { GuardHandles } from '../request/public-types.js';
import type { QuotaRoute, RequestQuota } from '../request/quota-route.js';
import type { Rejection } from '../request/reject.js';
import { resolveMiddlewareOptions } from '../request/resolve-options.js';
import { ResponseWatcher } from '../request/response-watch.js';
import { type StatusHandlerOptions, statusAccess } from '../request/status-access.js';
import type { VendorChoice } from '../usage/token-usage.js';
import { tapKoaBody } from './koa-body.js';

declare module 'koa' {
  // Koa's default state, typed once this subpath is imported.
  interface DefaultState {
    /** The decision of the quota guard that ran last on this request. */
    quotaRoute?: QuotaRoute;
    /** Every quota guard's decision on this request, by upstream name. */
    quotaRoutes?: Record<string, QuotaRoute>;
  }
}

/** Options of the Koa middleware. */
export interface KoaQuotaGuardOptions extends MiddlewareOptions {
  /** A tenant key per request, for a budget per tenant. Undefined: the upstream's shared budget. */
  key?: (ctx: Context) => string | undefined | null | Promise<string | undefined | null>;
  /**
   * Tokens the primary charged for this response: a vendor's name (`'anthropic'`, `'openai'`,
   * `'gemini'`, `'auto'`) reads them from the response body, JSON or streamed SSE; a function
   * returns them once the response is over (e.g. from `ctx.state`).
   */
  usage?: VendorChoice | ((ctx: Context) => number | undefined | null | Promise<number | undefined | null>);
  /** Answers a rejected request in reject mode instead of the default JSON 429. */
  handler?: (ctx: Context, route: QuotaRoute, rejection: Rejection) => void | Promise<void>;
  /**
   * Requests the guard leaves alone: no decision (`ctx.state.quotaRoute` stays unset), nothing
   * reported. For health checks and pages that never call the primary.
   */
  skip?: (ctx: Context) => boolean | Promise<boolean>;
}

/** The middleware, with the guard's other handles on it. */
export interface KoaQuotaGuard extends Middleware, GuardHandles<Middleware, Context> {}

/**
 * @example
 * const anthropic = quotaGuard({ upstream: 'anthropic', windows: [{ window: '5h', budget: 2e6 }], usage: (ctx) => ctx.state.tokens });
 * app.use(anthropic);
 * router.post('/v1/messages', async (ctx) => { ctx.body = await forward(ctx.state.quotaRoute?.route === 'fallback' ? FALLBACK : PRIMARY, ctx); });
 */
export function quotaGuard(options: KoaQuotaGuardOptions): KoaQuotaGuard {
  const { key, usage, handler, skip } = options;
  const engine = new QuotaEngine<Context>(
    resolveMiddlewareOptions<Context>(options, {
      key,
      skip,
      usage: typeof usage === 'function' ? usage : undefined,
    }),
  );
  const { upstream } = engine;
  const rejects = engine.options.onExceeded === 'reject';
  const readsBodies = engine.options.vendor !== undefined;
  const open = (type: unknown, encoding: unknown) => engine.tap(type, encoding);
  // Where the close listener (one for all requests) finds this guard's decision: Koa leaves
  // Node's response as it is, so a property on it is cheap.
  const slot = Symbol(`quota-guard ${upstream}`);
  const watcher = new ResponseWatcher(
    engine.options.abandonedTimeoutMs,
    (route, res, abandoned) => engine.finish(route, res, abandoned),
    (res) => (res as unknown as Record<symbol, RequestQuota | undefined>)[slot],
    watchAppOnceAbandoned,
  );

  /** Puts the decision on the request and starts watching its response. */
  function attach(ctx: Context, route: RequestQuota): void {
    ctx.state.quotaRoute = route;
    ctx.state.quotaRoutes ??= {};
    ctx.state.quotaRoutes[upstream] = route;
    (ctx.res as unknown as Record<symbol, RequestQuota>)[slot] = route;
    watcher.watch(ctx.res);
  }

  /** The app is done: its body is set, not yet sent. Tap it now, on its way out. */
  function appDone(ctx: Context, route: RequestQuota): void {
    if (readsBodies && route.route === 'primary' && !route.reported) route.tap = tapKoaBody(ctx, open);
    watcher.appFinished(route, ctx.res);
  }

  async function reject(ctx: Context, route: RequestQuota): Promise<void> {
    const answer = await engine.rejection(route);
    if (handler) {
      try {
        await handler(ctx, route, answer);
        return;
      } catch (error) {
        engine.handlerFailed(error);
      }
    }
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  }

  /** Rejects or continues. */
  function proceed(ctx: Context, next: Next, route: RequestQuota): Promise<void> {
    return route.route === 'fallback' && rejects ? reject(ctx, route) : next();
  }

  /** Rejects or continues, and tells the watcher once the rest of the chain has settled. */
  async function proceedThenDone(ctx: Context, next: Next, route: RequestQuota): Promise<void> {
    try {
      await proceed(ctx, next, route);
    } finally {
      appDone(ctx, route);
    }
  }

  /**
   * Rejects or continues, keeping the chain's promise for the watcher. Koa ends the response only
   * after the chain settles, so a response that closes has its app done, unless the client left
   * first: only then does the watcher wait for the chain (`watchAppOnceAbandoned`). No promise
   * and no await of our own on a request's path.
   */
  function proceedWatched(ctx: Context, next: Next, route: RequestQuota): Promise<void> {
    const settled = proceed(ctx, next, route);
    route.appSettled = settled;
    return settled;
  }

  /** Guards that tap bodies must see the app finish before Koa sends the body. */
  const run = readsBodies ? proceedThenDone : proceedWatched;

  function watchAppOnceAbandoned(route: RequestQuota, res: ServerResponse): void {
    const settled = route.appSettled;
    if (settled === undefined) return; // proceedThenDone tells the watcher itself
    const done = () => watcher.appFinished(route, res);
    settled.then(done, done);
  }

  function guarded(ctx: Context, next: Next): Promise<void> {
    const started = engine.begin(ctx);
    if (!isPromiseLike(started)) {
      attach(ctx, started);
      return run(ctx, next, started);
    }
    return started.then((route) => {
      attach(ctx, route);
      return run(ctx, next, route);
    });
  }

  // Not an async function: with the memory store a request is decided without awaiting a promise.
  const middleware = function quotaGuardMiddleware(ctx: Context, next: Next): Promise<void> {
    if (skip === undefined) return guarded(ctx, next);
    const skipping = engine.decider.skips(ctx);
    if (skipping === true) return next();
    if (skipping === false) return guarded(ctx, next);
    return skipping.then((skipped) => (skipped ? next() : guarded(ctx, next)));
  };

  function budget(budgetOptions: RouteBudgetOptions): Middleware {
    const routeBudget = engine.defineBudget(budgetOptions);
    return async function quotaBudgetMiddleware(ctx: Context, next: Next): Promise<void> {
      const existing = ctx.state.quotaRoutes?.[upstream] as RequestQuota | undefined;
      if (!existing && (await engine.decider.skips(ctx))) return next();
      // Decided by the app-level middleware, or here when the guard was not mounted with app.use.
      const route = existing ?? (await engine.begin(ctx));
      if (!existing) attach(ctx, route);
      await engine.decider.applyBudget(route, routeBudget); // never rejects: store failures are counted
      return existing ? proceed(ctx, next, route) : run(ctx, next, route);
    };
  }

  function statusHandler(statusOptions?: StatusHandlerOptions): Middleware {
    const access = statusAccess(statusOptions);
    return async function quotaStatusHandler(ctx: Context): Promise<void> {
      const answer = await engine.statusAnswer(access, ctx.get('authorization'), ctx.query.key);
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = answer.body;
    };
  }

  return withHandles(middleware, engine, {
    budget,
    statusHandler,
    routeOf: (ctx: Context) => ctx.state.quotaRoutes?.[upstream],
  });
}

export type * from '../request/public-types.js';
