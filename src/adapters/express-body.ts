import type { ServerResponse } from 'node:http';
import type { RequestQuota } from '../request/quota-route.js';
import type { BodyTap } from '../usage/body-tap.js';
import { expressBase, nodeResponse } from './express-state.js';

type Chunk = string | Buffer | Uint8Array;
type OpenTap = (contentType: unknown, contentEncoding: unknown) => BodyTap;
type Write = (this: ServerResponse, chunk: unknown, encoding?: unknown, callback?: unknown) => boolean;
type End = (this: ServerResponse, chunk?: unknown, encoding?: unknown, callback?: unknown) => ServerResponse;

function asBytes(chunk: unknown, encoding: unknown): Chunk | undefined {
  if (typeof chunk === 'string')
    return typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8'
      ? Buffer.from(chunk, encoding as BufferEncoding)
      : chunk;
  if (chunk instanceof Uint8Array) return chunk;
  return undefined;
}

/** Hands one chunk the app wrote to the request's tap, opened at the first write. */
function see(
  route: RequestQuota,
  res: ServerResponse,
  open: OpenTap,
  chunk: unknown,
  encoding: unknown,
): void {
  route.tap ??= open(res.getHeader('content-type'), res.getHeader('content-encoding'));
  if (typeof chunk === 'function') return; // end(callback): no body
  const bytes = asBytes(chunk, encoding);
  if (bytes !== undefined && bytes.length > 0) route.tap.write(bytes);
}

/**
 * Sees the bodies of Express responses as the app writes them (`res.write` / `res.end`, which
 * `send`, `json` and piped streams all go through) and hands a copy to each request's tap. The
 * bytes and their timing are the app's own: nothing is held back, so back-pressure is untouched.
 *
 * The wrappers are installed once per guard on Express's response prototype, and look the
 * request's decision up in `res.locals` under the guard's own key: a response pays one property
 * look-up per write, where new wrapper functions on every response cost it microseconds.
 * Without Express's prototypes (a plain Node response), the response itself is wrapped.
 */
export class ExpressBodyTaps {
  private readonly slot = Symbol('quota-guard body tap');
  private readonly patched = new WeakSet<object>();

  constructor(private readonly open: OpenTap) {}

  /** Taps this response's body for `route`. */
  tap(res: ServerResponse, route: RequestQuota): void {
    const locals = (res as { locals?: Record<PropertyKey, unknown> }).locals;
    const base = locals === undefined ? undefined : expressBase(res, nodeResponse);
    if (locals === undefined || base === undefined) {
      this.wrapInstance(res, route);
      return;
    }
    if (!this.patched.has(base)) this.patch(base as ServerResponse);
    locals[this.slot] = route;
  }

  private patch(base: ServerResponse): void {
    this.patched.add(base);
    const { slot } = this;
    wrap(
      base,
      this.open,
      (res) => (res as { locals?: Record<PropertyKey, unknown> }).locals?.[slot] as RequestQuota | undefined,
    );
  }

  private wrapInstance(res: ServerResponse, route: RequestQuota): void {
    wrap(res, this.open, () => route);
  }
}

/** Wraps `write` and `end` of `target` (a prototype or one response) to show each chunk to the route's tap. */
function wrap(
  target: ServerResponse,
  open: OpenTap,
  routeOf: (res: ServerResponse) => RequestQuota | undefined,
): void {
  const write = target.write as Write;
  const end = target.end as End;
  target.write = function tappedWrite(
    this: ServerResponse,
    chunk: unknown,
    encoding?: unknown,
    callback?: unknown,
  ) {
    const route = routeOf(this);
    if (route !== undefined) see(route, this, open, chunk, encoding);
    return write.call(this, chunk, encoding, callback);
  } as ServerResponse['write'];
  target.end = function tappedEnd(
    this: ServerResponse,
    chunk?: unknown,
    encoding?: unknown,
    callback?: unknown,
  ) {
    const route = routeOf(this);
    if (route !== undefined) see(route, this, open, chunk, encoding);
    return end.call(this, chunk, encoding, callback);
  } as ServerResponse['end'];
}
