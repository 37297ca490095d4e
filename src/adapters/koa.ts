/**
 * quota-guard for Koa: `app.use(quotaGuard(options))` sets `ctx.state.quotaRoute` and reports
 * each response back to the guard.
 */
import type { Context, Middleware, Next } from 'koa';
import { isPromiseLike } from '../request/awaitable.js';
import { QuotaEngine } from '../request/engine.js';
import { withHandles } from '../request/handles.js';
import type { MiddlewareOptions, RouteBudgetOptions } from '../request/options.js';
import { resolveMiddlewareOptions } from '../request/options.js';
import type { GuardHandles } from '../request/public-types.js';
import type { QuotaRoute, RequestQuota } from '../request/quota-route.js';
import type { Rejection } from '../request/reject.js';
import { watchResponse } from '../request/response-watch.js';
import { type StatusHandlerOptions, statusAccess } from '../request/status-access.js';
import type { BodyTap } from '../usage/body-tap.js';
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

  /** Puts the decision on the request and arranges its report; returns what to call once the app is done. */
  function attach(ctx: Context, route: RequestQuota): () => void {
    ctx.state.quotaRoute = route;
    ctx.state.quotaRoutes ??= {};
    ctx.state.quotaRoutes[upstream] = route;
    let tap: BodyTap | undefined;
    const appFinished = watchResponse(ctx.res, engine.options.abandonedTimeoutMs, (abandoned) =>
      engine.finish(route, ctx, ctx.res, tap, abandoned),
    );
    return () => {
      // The app is done: its body is set, not yet sent. Tap it now, on its way out.
      if (route.route === 'primary' && !route.reported) tap = tapKoaBody(ctx, engine);
      appFinished();
    };
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

  /** Rejects or continues; `appFinished` runs when the rest of the chain has settled. */
  function proceed(ctx: Context, next: Next, route: RequestQuota, appFinished?: () => void): Promise<void> {
    const rest = route.route === 'fallback' && rejects ? reject(ctx, route) : next();
    if (appFinished === undefined) return rest;
    return rest.then(appFinished, (error: unknown) => {
      appFinished();
      throw error;
    });
  }

  function guarded(ctx: Context, next: Next): Promise<void> {
    const started = engine.begin(ctx);
    if (isPromiseLike(started)) return started.then((route) => proceed(ctx, next, route, attach(ctx, route)));
    return proceed(ctx, next, started, attach(ctx, started));
  }

  // Not an async function: with the memory store a request is decided without awaiting a promise.
  const middleware = function quotaGuardMiddleware(ctx: Context, next: Next): Promise<void> {
    if (skip === undefined) return guarded(ctx, next);
    const skipping = engine.skips(ctx);
    if (skipping === true) return next();
    if (skipping === false) return guarded(ctx, next);
    return skipping.then((skipped) => (skipped ? next() : guarded(ctx, next)));
  };

  function budget(budgetOptions: RouteBudgetOptions): Middleware {
    const routeBudget = engine.defineBudget(budgetOptions);
    return async function quotaBudgetMiddleware(ctx: Context, next: Next): Promise<void> {
      const existing = ctx.state.quotaRoutes?.[upstream] as RequestQuota | undefined;
      if (!existing && (await engine.skips(ctx))) return next();
      // Decided by the app-level middleware, or here when the guard was not mounted with app.use.
      const route = existing ?? (await engine.begin(ctx));
      const appFinished = existing ? undefined : attach(ctx, route);
      await engine.applyBudget(route, routeBudget); // never rejects: store failures are counted
      return proceed(ctx, next, route, appFinished);
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
