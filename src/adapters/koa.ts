/**
 * quota-guard for Koa: `app.use(quotaGuard(options))` sets `ctx.state.quotaRoute` and reports
 * each response back to the guard.
 */
import type { Context, Middleware, Next } from 'koa';
import type { MiddlewareInfo } from './shared/engine.js';
import { QuotaEngine } from './shared/engine.js';
import type { MiddlewareOptions, RouteBudgetOptions } from './shared/options.js';
import { resolveMiddlewareOptions } from './shared/options.js';
import type { QuotaRoute, RequestQuota } from './shared/quota-route.js';
import type { Rejection } from './shared/reject.js';
import { watchResponse } from './shared/response-watch.js';

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
  /** Tokens the primary charged for this response, read once it is over (e.g. from `ctx.state`). */
  usage?: (ctx: Context) => number | undefined | null | Promise<number | undefined | null>;
  /** Answers a rejected request in reject mode instead of the default JSON 429. */
  handler?: (ctx: Context, route: QuotaRoute, rejection: Rejection) => void | Promise<void>;
}

/** The middleware, with the guard's other handles on it. */
export interface KoaQuotaGuard extends Middleware {
  readonly upstream: string;
  /** Resolves once startup baselines are loaded (or given up on after `baselineTimeout`). */
  readonly ready: Promise<void>;
  /** A budget only this route is charged to and consults, on top of the upstream's windows. */
  budget(options: RouteBudgetOptions): Middleware;
  /** Middleware answering the guard's state as JSON (`?key=` for a tenant). */
  statusHandler(): Middleware;
  info(key?: string): Promise<MiddlewareInfo>;
  /** This guard's decision on a request (when several guards run on one app). */
  routeOf(ctx: Context): QuotaRoute | undefined;
  /** Resolves when every decided request's response has been reported. */
  settled(): Promise<void>;
}

/**
 * @example
 * const anthropic = quotaGuard({ upstream: 'anthropic', windows: [{ window: '5h', budget: 2e6 }], usage: (ctx) => ctx.state.tokens });
 * app.use(anthropic);
 * router.post('/v1/messages', async (ctx) => { ctx.body = await forward(ctx.state.quotaRoute?.route === 'fallback' ? FALLBACK : PRIMARY, ctx); });
 */
export function quotaGuard(options: KoaQuotaGuardOptions): KoaQuotaGuard {
  const { key, usage, handler } = options;
  const engine = new QuotaEngine<Context>(resolveMiddlewareOptions<Context>(options, { key, usage }));
  const { upstream } = engine;
  const rejects = engine.options.onExceeded === 'reject';

  /** Decides, and arranges the report; call the returned function once the app is done. */
  async function start(ctx: Context): Promise<{ route: RequestQuota; appFinished: () => void }> {
    const route = await engine.begin(ctx);
    ctx.state.quotaRoute = route;
    ctx.state.quotaRoutes ??= {};
    ctx.state.quotaRoutes[upstream] = route;
    return { route, appFinished: watchResponse(ctx.res, () => engine.finish(route, ctx, ctx.res)) };
  }

  /** True when the request was answered with a 429 here. */
  async function rejected(ctx: Context, route: RequestQuota): Promise<boolean> {
    if (route.route !== 'fallback' || !rejects) return false;
    const answer = await engine.rejection(route);
    if (handler) {
      try {
        await handler(ctx, route, answer);
        return true;
      } catch (error) {
        engine.handlerFailed(error);
      }
    }
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
    return true;
  }

  const middleware = async function quotaGuardMiddleware(ctx: Context, next: Next): Promise<void> {
    const { route, appFinished } = await start(ctx);
    try {
      if (await rejected(ctx, route)) return;
      await next();
    } finally {
      appFinished();
    }
  };

  function budget(budgetOptions: RouteBudgetOptions): Middleware {
    const routeBudget = engine.defineBudget(budgetOptions);
    return async function quotaBudgetMiddleware(ctx: Context, next: Next): Promise<void> {
      const existing = ctx.state.quotaRoutes?.[upstream] as RequestQuota | undefined;
      // The guard may not be mounted with app.use: decide here then.
      const started = existing ? undefined : await start(ctx);
      const route = existing ?? started!.route;
      try {
        await engine.applyBudget(route, routeBudget);
        if (await rejected(ctx, route)) return;
        await next();
      } finally {
        started?.appFinished();
      }
    };
  }

  function statusHandler(): Middleware {
    return async function quotaStatusHandler(ctx: Context): Promise<void> {
      const tenant = typeof ctx.query.key === 'string' ? ctx.query.key : undefined;
      ctx.body = await engine.info(tenant);
    };
  }

  return Object.assign(middleware, {
    upstream,
    ready: engine.ready,
    budget,
    statusHandler,
    info: (tenant?: string) => engine.info(tenant),
    routeOf: (ctx: Context) => ctx.state.quotaRoutes?.[upstream],
    settled: () => engine.settled(),
  });
}

export type { MiddlewareInfo } from './shared/engine.js';
export type { BaselineLoader, BaselineRequest, RouteBudgetOptions } from './shared/options.js';
export type { CapErrorClassifier, CapErrorInput, UpstreamOutcome } from './shared/outcome.js';
export type { ProblemCounts } from './shared/problems.js';
export type { QuotaRoute, RouteReason } from './shared/quota-route.js';
export type { Rejection, RejectionBody } from './shared/reject.js';
