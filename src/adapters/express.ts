/**
 * quota-guard for Express: `app.use(quotaGuard(options))` sets `req.quotaRoute` and reports each
 * response back to the guard.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { chain, isPromiseLike } from '../request/awaitable.js';
import { QuotaEngine } from '../request/engine.js';
import { withHandles } from '../request/handles.js';
import type { MiddlewareOptions, RouteBudgetOptions } from '../request/options.js';
import type { GuardHandles } from '../request/public-types.js';
import type { QuotaRoute, RequestQuota } from '../request/quota-route.js';
import type { Rejection } from '../request/reject.js';
import { resolveMiddlewareOptions } from '../request/resolve-options.js';
import { ResponseWatcher } from '../request/response-watch.js';
import { type StatusHandlerOptions, statusAccess } from '../request/status-access.js';
import type { Awaitable } from '../stores/store.js';
import type { VendorChoice } from '../usage/token-usage.js';
import { ExpressBodyTaps } from './express-body.js';
import { keepRoute, routeIn } from './express-state.js';

declare global {
  // Express's own way to extend its Request: `req.quotaRoute` is typed once this subpath is imported.
  namespace Express {
    interface Request {
      /** The decision of the quota guard that ran last on this request. */
      quotaRoute?: QuotaRoute;
      /** Every quota guard's decision on this request, by upstream name. */
      quotaRoutes?: Record<string, QuotaRoute>;
    }
  }
}

/** Options of the Express middleware. */
export interface ExpressQuotaGuardOptions extends MiddlewareOptions {
  /** A tenant key per request, for a budget per tenant. Undefined: the upstream's shared budget. */
  key?: (req: Request) => string | undefined | null | Promise<string | undefined | null>;
  /**
   * Tokens the primary charged for this response: a vendor's name (`'anthropic'`, `'openai'`,
   * `'gemini'`, `'auto'`) reads them from the response body, JSON or streamed SSE; a function
   * returns them once the response is over (e.g. from `res.locals`).
   */
  usage?:
    | VendorChoice
    | ((res: Response, req: Request) => number | undefined | null | Promise<number | undefined | null>);
  /** Answers a rejected request in reject mode instead of the default JSON 429. */
  handler?: (req: Request, res: Response, route: QuotaRoute, rejection: Rejection) => void | Promise<void>;
  /**
   * Requests the guard leaves alone, as in express-rate-limit: no decision (`req.quotaRoute`
   * stays unset), nothing reported. For health checks and pages that never call the primary.
   */
  skip?: (req: Request, res: Response) => boolean | Promise<boolean>;
}

/** The middleware, with the guard's other handles on it. */
export interface ExpressQuotaGuard extends RequestHandler, GuardHandles<RequestHandler, Request> {}

/**
 * @example
 * const anthropic = quotaGuard({ upstream: 'anthropic', windows: [{ window: '5h', budget: 2e6 }], usage: (res) => res.locals.tokens });
 * app.use(anthropic);
 * app.post('/v1/messages', (req, res) => forward(req.quotaRoute?.route === 'fallback' ? FALLBACK : PRIMARY, req, res));
 */
export function quotaGuard(options: ExpressQuotaGuardOptions): ExpressQuotaGuard {
  const { key, usage, handler, skip } = options;
  // The request context is the response: Express links it to its request (`res.req`), so no
  // object is made per request to carry both.
  const engine = new QuotaEngine<Response>(
    resolveMiddlewareOptions<Response>(options, {
      key: key && ((res) => key(res.req)),
      skip: skip && ((res) => skip(res.req, res)),
      usage: typeof usage === 'function' ? (res) => usage(res, res.req) : undefined,
    }),
  );
  const { upstream } = engine;
  const rejects = engine.options.onExceeded === 'reject';
  const readsBodies = engine.options.vendor !== undefined;
  // The body is tapped only when usage is read from it: every tapped write costs a little.
  const taps = readsBodies ? new ExpressBodyTaps((type, encoding) => engine.tap(type, encoding)) : undefined;
  // Express does not say when a handler is done; ending the response is the sign, and
  // `res.writableEnded` tells it at close. When the client left first and the app reports
  // usage itself, the end of its handler (its `res.end`) is awaited; usage read from the body is
  // all there already (nothing reaches a closed socket).
  const watcher = new ResponseWatcher(
    engine.options.abandonedTimeoutMs,
    (route, res, abandoned) => engine.finish(route, res, abandoned),
    (res) => routeIn(res as Response, upstream, engine.owner),
    (route, res) => {
      if (readsBodies) return watcher.appFinished(route, res);
      const end = res.end;
      res.end = function endAndReport(this: Response, ...args: Parameters<Response['end']>) {
        watcher.appFinished(route, res);
        return end.apply(this, args);
      } as Response['end'];
    },
  );

  function attach(req: Request, res: Response, route: RequestQuota): void {
    keepRoute(req, res, route);
    if (taps !== undefined && route.route === 'primary') taps.tap(res, route);
    watcher.watch(res);
  }

  function reject(req: Request, res: Response, next: NextFunction, route: RequestQuota): void {
    engine
      .rejection(route)
      .then(async (answer) => {
        if (handler) {
          try {
            return await handler(req, res, route, answer);
          } catch (error) {
            engine.handlerFailed(error);
            if (res.headersSent) return;
          }
        }
        res.status(answer.status).set(answer.headers).json(answer.body);
      })
      .catch(next);
  }

  function proceed(req: Request, res: Response, next: NextFunction, route: RequestQuota): void {
    if (route.route === 'fallback' && rejects) reject(req, res, next, route);
    else next();
  }

  /** Continues with the route now when the store answered synchronously, else once it has. */
  function withRoute(
    started: Awaitable<RequestQuota>,
    next: NextFunction,
    fn: (route: RequestQuota) => void,
  ): void {
    if (isPromiseLike(started)) started.then(fn, next);
    else fn(started);
  }

  function begin(req: Request, res: Response): Awaitable<RequestQuota> {
    const started = engine.begin(res);
    if (isPromiseLike(started))
      return started.then((route) => {
        attach(req, res, route);
        return route;
      });
    attach(req, res, started);
    return started;
  }

  /** Runs `fn` unless the app's `skip` says to leave the request alone. */
  function unlessSkipped(res: Response, next: NextFunction, fn: () => void): void {
    const skipping = engine.decider.skips(res);
    if (skipping === false) fn();
    else if (skipping === true) next();
    else skipping.then((skipped) => (skipped ? next() : fn()), next);
  }

  function guarded(req: Request, res: Response, next: NextFunction): void {
    const started = begin(req, res);
    if (isPromiseLike(started)) started.then((route) => proceed(req, res, next, route), next);
    else proceed(req, res, next, started);
  }

  const middleware = function quotaGuardMiddleware(req: Request, res: Response, next: NextFunction): void {
    // Without `skip`, no closure for it: this runs on every request.
    if (skip === undefined) guarded(req, res, next);
    else unlessSkipped(res, next, () => guarded(req, res, next));
  };

  function budget(budgetOptions: RouteBudgetOptions): RequestHandler {
    const routeBudget = engine.defineBudget(budgetOptions);
    return function quotaBudgetMiddleware(req: Request, res: Response, next: NextFunction): void {
      const own = routeIn(res, upstream, engine.owner);
      const run = (started: Awaitable<RequestQuota>) =>
        withRoute(started, next, (route) => {
          const budgeted = chain(engine.decider.applyBudget(route, routeBudget), () => route);
          withRoute(budgeted, next, () => proceed(req, res, next, route));
        });
      // Decided by the app-level middleware, or here when the guard was not mounted with app.use.
      if (own) run(own);
      else unlessSkipped(res, next, () => run(begin(req, res)));
    };
  }

  function statusHandler(statusOptions?: StatusHandlerOptions): RequestHandler {
    const access = statusAccess(statusOptions);
    return function quotaStatusHandler(req: Request, res: Response, next: NextFunction): void {
      engine.statusAnswer(access, req.get('authorization'), req.query.key).then((answer) => {
        res.status(answer.status).set(answer.headers).json(answer.body);
      }, next);
    };
  }

  return withHandles(middleware, engine, {
    budget,
    statusHandler,
    routeOf: (req: Request) => routeIn(req.res ?? req, upstream, engine.owner) ?? req.quotaRoutes?.[upstream],
  });
}

export type * from '../request/public-types.js';
