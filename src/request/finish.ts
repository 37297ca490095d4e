import type { Logger } from '../core/logger.js';
import type { Awaitable } from '../stores/store.js';
import type { BodyReading } from '../usage/body-tap.js';
import type { HeadersLike } from '../usage/headers.js';
import { chain, isPromiseLike } from './awaitable.js';
import { answeredByPrimary } from './evidence.js';
import type { InFlight } from './in-flight.js';
import type { UpstreamOutcome } from './outcome.js';
import type { RequestQuota } from './quota-route.js';
import type { OutcomeReporter } from './report.js';
import type { UsageChecks } from './usage-checks.js';

/** The response as the hook sees it once it is over (Node's `ServerResponse`). */
export interface FinishedResponse {
  /** False when the client went away before any header was sent: the status means nothing then. */
  readonly headersSent: boolean;
  readonly statusCode: number;
  getHeader(name: string): string | number | readonly string[] | undefined;
}

/**
 * A response's headers as the classifier and the vendor readings ask for them: one `getHeader()`
 * per name asked (case-insensitive, as Node's is), where `getHeaders()` would copy every header
 * of every response. Three vendor names are asked on every response; on a real
 * `ServerResponse`, three misses through `getHeader()` cost ~100–170 ns, less than taking
 * `getHeaderNames()` once and scanning it (~135–240 ns; a loop over 1,000 real responses, 9
 * rounds, docs/benchmarks.md).
 */
class ResponseHeaders {
  constructor(private readonly response: FinishedResponse) {}

  get(name: string): string | null {
    const value = this.response.getHeader(name);
    if (value === undefined) return null;
    return typeof value === 'object' ? (value[0] ?? null) : String(value);
  }
}

/**
 * The third step of a request: once its response is over (sent, or the client went away), the
 * tokens it charged (the body the tap read, else the app's `usage` function) and what the
 * primary answered go to the reporter. Synchronous, with no promise, when the store, the tap and
 * the usage function are.
 */
export class Finisher<Ctx> {
  constructor(
    private readonly usage: UsageChecks<Ctx>,
    private readonly reporter: OutcomeReporter<Ctx>,
    private readonly inFlight: InFlight,
    private readonly logger: Logger,
    private readonly upstream: string,
  ) {}

  /**
   * `abandoned`: the client left and the app never finished within `abandonedTimeout`; its status
   * proves nothing (a 200 header of a stream that never ended is no success).
   */
  finish(route: RequestQuota, response: FinishedResponse, abandoned: boolean): void {
    this.inFlight.ended(route.route, route.reason);
    if (route.reported || route.route !== 'primary') {
      this.inFlight.done();
      return;
    }
    const status = response.headersSent && !abandoned ? response.statusCode : undefined;
    let done: Awaitable<unknown>;
    try {
      const tap = route.tap;
      done =
        tap === undefined
          ? this.report(route, response, status, undefined)
          : chain(tap.end(), (reading) => this.report(route, response, status, reading));
    } catch (error) {
      // Only a bug of ours gets here; the request is over either way.
      this.logger.error(`quota-guard [${this.upstream}]: reporting a response failed`, error);
      this.inFlight.done();
      return;
    }
    if (isPromiseLike(done)) done.finally(this.inFlight.doneFn);
    else this.inFlight.done();
  }

  private report(
    route: RequestQuota,
    response: FinishedResponse,
    status: number | undefined,
    reading: BodyReading | undefined,
  ): Awaitable<unknown> {
    const fromBody = this.usage.fromBody(reading, status);
    const tokens = fromBody === undefined ? this.usage.fromApp(route.ctx as Ctx) : fromBody;
    if (isPromiseLike(tokens)) return tokens.then((t) => this.apply(route, response, status, reading, t));
    return this.apply(route, response, status, reading, tokens);
  }

  private apply(
    route: RequestQuota,
    response: FinishedResponse,
    status: number | undefined,
    reading: BodyReading | undefined,
    tokens: number | undefined,
  ): Awaitable<unknown> {
    const headers: HeadersLike = new ResponseHeaders(response);
    const outcome: UpstreamOutcome = { headers };
    if (tokens !== undefined) outcome.tokens = tokens;
    if (status !== undefined) outcome.status = status;
    const body = reading?.json ?? reading?.streamError;
    if (body !== undefined) outcome.body = body;
    // Only a probe needs to know whether the primary answered: others skip the look-ups.
    const fromPrimary = route.probe ? answeredByPrimary(outcome, reading) : true;
    return this.reporter.apply(route, outcome, fromPrimary);
  }
}
