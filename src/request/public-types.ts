/** The types both adapters publish, so each subpath is complete on its own. */
import type { MiddlewareInfo } from './guard-status.js';
import type { RouteBudgetOptions } from './options.js';
import type { QuotaRoute } from './quota-route.js';
import type { StatusHandlerOptions } from './status-access.js';

export type { ClassifyInput, UpstreamErrorClass } from '../usage/classify.js';
export type { HeadersLike } from '../usage/headers.js';
export type { TokenUsage, Vendor, VendorChoice, Weigh } from '../usage/token-usage.js';
export type { VendorWindowReading } from '../usage/vendor-headers.js';
export type { MiddlewareInfo } from './guard-status.js';
export type { DecisionCounts } from './in-flight.js';
export type {
  BaselineLoader,
  BaselineRequest,
  MiddlewareOptions,
  RouteBudgetOptions,
  StandardHeaders,
} from './options.js';
export type {
  CapErrorClassifier,
  CapErrorInput,
  UpstreamErrorClassifier,
  UpstreamOutcome,
} from './outcome.js';
export type { ProblemCounts } from './problems.js';
export type { QuotaRoute, RouteReason } from './quota-route.js';
export type { Rejection, RejectionBody } from './reject.js';
export type { UpstreamErrorCounts } from './report.js';
export type { StatusHandlerOptions } from './status-access.js';

/** What the middleware carries besides being one: the same in every adapter. */
export interface GuardHandles<Handler, Request> {
  readonly upstream: string;
  /** Resolves once startup baselines are loaded (or given up on after `baselineTimeout`). */
  readonly ready: Promise<void>;
  /** A budget only this route is charged to and consults, on top of the upstream's windows. */
  budget(options: RouteBudgetOptions): Handler;
  /**
   * A handler answering the guard's state as JSON. Mount it before the guard (or `skip` it): a
   * status request behind the guard would take a decision like any other. `?key=` answers a
   * tenant's numbers only with `{ keys: true }`; `{ token }` requires a bearer token.
   */
  statusHandler(options?: StatusHandlerOptions): Handler;
  info(key?: string): Promise<MiddlewareInfo>;
  /** This guard's decision on a request (when several guards run on one app). */
  routeOf(request: Request): QuotaRoute | undefined;
  /** Resolves when every decided request's response has been reported. */
  settled(): Promise<void>;
}
