/**
 * Where an Express request keeps its guards' decisions: on `res.locals` (a dictionary Express
 * makes for every request anyway), under a key shared by every copy of quota-guard. Writing new
 * properties onto Express's `req` costs each request several microseconds (its prototype was
 * swapped, so every new property reshapes it); `req.quotaRoute` and `req.quotaRoutes` stay the
 * public API as accessors defined once on Express's request prototype.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import type { QuotaRoute, RequestQuota } from '../request/quota-route.js';

/** The last guard's decision; earlier guards' hang off it (`previous`). */
const LAST = Symbol.for('quota-guard.route');

type Locals = Record<PropertyKey, unknown> | undefined;
interface WithLocals {
  locals?: Locals;
}

function localsOf(res: object): Locals {
  return (res as WithLocals).locals;
}

/**
 * The decision of one guard on this response's request, if it decided: the guard's `owner`
 * (two guards may share an upstream name), found in the chain of the request's decisions.
 */
export function routeIn(res: object, upstream: string, owner: unknown): RequestQuota | undefined {
  let route = localsOf(res)?.[LAST] as RequestQuota | undefined;
  while (route !== undefined && route.owner !== owner) route = route.previous;
  if (route !== undefined) return route;
  // Without Express's prototypes the decisions are the request's own properties (`keepRoute`).
  const req = (res as { req?: { quotaRoutes?: Record<string, QuotaRoute> } }).req;
  return req?.quotaRoutes?.[upstream] as RequestQuota | undefined;
}

/** The prototype an app's objects inherit from just above Node's own (`express.request` / `.response`). */
export function expressBase(object: object, node: object): object | undefined {
  let proto = Object.getPrototypeOf(object) as object | null;
  if (proto === null || proto === node) return undefined;
  while (proto !== null) {
    const parent = Object.getPrototypeOf(proto) as object | null;
    if (parent === node) return proto;
    proto = parent;
  }
  return undefined;
}

function routesOf(last: RequestQuota | undefined): Record<string, QuotaRoute> | undefined {
  if (last === undefined) return undefined;
  const routes: Record<string, QuotaRoute> = {};
  // Oldest first, so the object reads in the order the guards ran.
  const chain: RequestQuota[] = [];
  for (let r: RequestQuota | undefined = last; r !== undefined; r = r.previous) chain.unshift(r);
  for (const r of chain) routes[r.upstream] = r;
  return routes;
}

const installed = new WeakSet<object>();

/** Defines `req.quotaRoute` / `req.quotaRoutes` on Express's request prototype, once. */
function installAccessors(base: object): void {
  if (installed.has(base) || Object.hasOwn(base, 'quotaRoute')) return;
  installed.add(base);
  Object.defineProperty(base, 'quotaRoute', {
    configurable: true,
    get(this: { res?: WithLocals }) {
      return this.res?.locals?.[LAST];
    },
    // An app may set it itself (tests, other middleware): its value then shadows ours.
    set(this: object, value: unknown) {
      Object.defineProperty(this, 'quotaRoute', {
        value,
        writable: true,
        configurable: true,
        enumerable: true,
      });
    },
  });
  Object.defineProperty(base, 'quotaRoutes', {
    configurable: true,
    get(this: { res?: WithLocals }) {
      return routesOf(this.res?.locals?.[LAST] as RequestQuota | undefined);
    },
    set(this: object, value: unknown) {
      Object.defineProperty(this, 'quotaRoutes', {
        value,
        writable: true,
        configurable: true,
        enumerable: true,
      });
    },
  });
}

/**
 * Puts a decision on the request. With Express's prototypes: one write to `res.locals`;
 * otherwise (a plain Node request) as own properties, as before.
 */
export function keepRoute(req: object, res: object, route: RequestQuota): void {
  const locals = localsOf(res);
  const base = locals === undefined ? undefined : expressBase(req, IncomingMessage.prototype);
  if (locals === undefined || base === undefined) {
    const plain = req as { quotaRoute?: QuotaRoute; quotaRoutes?: Record<string, QuotaRoute> };
    plain.quotaRoute = route;
    plain.quotaRoutes ??= {};
    plain.quotaRoutes[route.upstream] = route;
    return;
  }
  installAccessors(base);
  route.previous = locals[LAST] as RequestQuota | undefined;
  locals[LAST] = route;
}

export const nodeResponse = ServerResponse.prototype;
