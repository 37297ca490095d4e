import type { QuotaEngine } from './engine.js';
import type { RouteBudgetOptions } from './options.js';
import type { GuardHandles } from './public-types.js';
import type { QuotaRoute } from './quota-route.js';
import type { StatusHandlerOptions } from './status-access.js';

/** The framework-specific parts of the handles; the rest is the engine's, the same everywhere. */
export interface AdapterHandles<Handler, Request> {
  budget(options: RouteBudgetOptions): Handler;
  statusHandler(options?: StatusHandlerOptions): Handler;
  routeOf(request: Request): QuotaRoute | undefined;
}

/** Puts the guard's handles on its middleware function (`ready` stays live: route budgets add to it). */
export function withHandles<M extends object, Handler, Request, Ctx>(
  middleware: M,
  engine: QuotaEngine<Ctx>,
  parts: AdapterHandles<Handler, Request>,
): M & GuardHandles<Handler, Request> {
  Object.defineProperty(middleware, 'ready', { get: () => engine.ready, enumerable: true });
  return Object.assign(middleware as M & { readonly ready: Promise<void> }, {
    upstream: engine.upstream,
    info: (tenant?: string) => engine.info(tenant),
    settled: () => engine.settled(),
    ...parts,
  });
}
