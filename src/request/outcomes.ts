import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/clock.js';
import { describeValue } from '../core/errors.js';
import type { ResolvedWindow } from '../core/options.js';
import type { Awaitable, GuardTarget, QuotaStore } from '../stores/store.js';
import type { BodyReading } from '../usage/body-tap.js';
import type { UpstreamErrorClass } from '../usage/classify.js';
import { resetDelays } from '../usage/reset-headers.js';
import { readVendorWindows, type VendorWindowReading } from '../usage/vendor-headers.js';
import { all, isPromiseLike, withTimeout } from './awaitable.js';
import type { ResolvedMiddlewareOptions } from './options.js';
import { isSuccessStatus, type UpstreamOutcome } from './outcome.js';
import type { ProblemLog } from './problems.js';
import type { RequestQuota } from './quota-route.js';

/** Error answers the primary gave, by kind. */
export interface UpstreamErrorCounts {
  cap: number;
  transient: number;
}

const TIMED_OUT = Symbol('timed out');

const NONE: UpstreamErrorClass = Object.freeze({ kind: 'none', why: 'no status' });
/** The verdict on every answer below 400: one object, not one per request. */
const NOT_AN_ERROR: UpstreamErrorClass = Object.freeze({ kind: 'none', why: 'not an error status' });

/**
 * Turns what the primary answered into guard calls: usage to every window the request was
 * charged to, a cap error (to the windows the vendor named), a success with the request's
 * decision, and the vendor's own utilization readings (and, with `calibrate`, a cap when the
 * vendor says a window is full).
 */
export class OutcomeReporter<Ctx> {
  readonly errors: UpstreamErrorCounts = { cap: 0, transient: 0 };
  private readonly vendorReadings: LRUCache<string, Map<string, VendorWindowReading>>;

  constructor(
    private readonly options: ResolvedMiddlewareOptions<Ctx>,
    private readonly store: QuotaStore,
    private readonly problems: ProblemLog,
    private readonly windows: readonly ResolvedWindow[],
    private readonly wallClock: Clock,
    private readonly call: (fn: () => Awaitable<void>) => Awaitable<void>,
  ) {
    this.vendorReadings = new LRUCache({ max: options.maxKeys });
  }

  /** The tokens a finished response charges: the app's `usage` function, or the body's usage. */
  tokens(reading: BodyReading | undefined, status: number | undefined): number | undefined {
    if (reading === undefined || this.options.vendor === undefined) return undefined;
    const success = status !== undefined && isSuccessStatus(status);
    if (reading.problem && success) {
      const kind =
        reading.problem === 'no_usage'
          ? 'usageMissing'
          : reading.problem === 'too_large'
            ? 'bodyTooLarge'
            : 'malformedBody';
      this.problems.report(
        kind,
        `a response body gave no complete usage (${reading.problem}); recorded what was seen`,
      );
    }
    if (reading.usage === undefined) return undefined;
    let tokens: unknown;
    try {
      tokens = this.options.weigh(reading.usage);
    } catch (error) {
      this.problems.report('usage', 'weigh threw; no usage recorded for this response', error);
      return undefined;
    }
    if (typeof tokens !== 'number') {
      this.problems.report('usage', `weigh returned ${describeValue(tokens)}, not a token count; ignored`);
      return undefined;
    }
    // A weighed price may be fractional (cache reads at a tenth): charged rounded up, never under.
    return this.plausible(tokens >= 0 ? Math.ceil(tokens) : tokens, 'a response body');
  }

  /** The app's `usage` function's answer, checked; problems counted, never thrown. */
  usageOf(ctx: Ctx): Awaitable<number | undefined> {
    const usage = this.options.usage;
    if (usage === undefined) return undefined;
    const failed = (error: unknown) => {
      this.problems.report('usage', 'the usage function threw; no usage recorded for this response', error);
      return undefined;
    };
    let value: unknown;
    try {
      value = usage(ctx);
    } catch (error) {
      return failed(error);
    }
    if (!isPromiseLike(value)) return this.checkTokens(value, 'the usage function');
    const settled = withTimeout(value as Promise<unknown>, this.options.usageTimeoutMs, TIMED_OUT);
    return settled.then((v) => {
      if (v !== TIMED_OUT) return this.checkTokens(v, 'the usage function');
      this.problems.report(
        'usage',
        `the usage function did not settle within ${this.options.usageTimeoutMs} ms; no usage recorded for this response`,
      );
      return undefined;
    }, failed);
  }

  /** Tokens from the app (its usage function, `report()`): a number, or nothing; checked. */
  private checkTokens(value: unknown, source: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number') {
      this.problems.report('usage', `${source} gave ${describeValue(value)}, not a token count; ignored`);
      return undefined;
    }
    return this.plausible(value, source);
  }

  /**
   * Usage of one answer the guard believes: a safe non-negative integer no larger than
   * `maxTokensPerResponse`. A `1e308` would make a window's total Infinity (and NaN once it
   * slides out, switching the budget off); a `1e29` would hold the primary back for a whole
   * window. Both are refused and counted, never charged.
   */
  private plausible(tokens: number, source: string): number | undefined {
    const max = this.options.maxTokensPerResponse;
    if (Number.isSafeInteger(tokens) && tokens >= 0 && tokens <= max) return tokens;
    this.problems.report(
      'implausibleUsage',
      `${source} gave ${describeValue(tokens)} tokens for one answer, not a whole number from 0 to maxTokensPerResponse (${max}); not charged`,
    );
    return undefined;
  }

  /**
   * Applies one outcome; resolves to what the answer meant (for `report()` callers).
   * `fromPrimary`: the answer shows the primary was asked (see `answeredByPrimary`; always true
   * for the app's explicit reports). A probe whose answer does not show it gives its probe slot
   * back, so the next request probes; it can never end `quota_exceeded`.
   */
  apply(route: RequestQuota, outcome: UpstreamOutcome, fromPrimary: boolean): Awaitable<UpstreamErrorClass> {
    const { tokens, status, headers } = outcome;
    const pending: Array<Awaitable<void>> = [];
    const charged = tokens === undefined ? undefined : this.checkTokens(tokens, 'report()');
    if (charged !== undefined && charged > 0) {
      pending.push(this.call(() => this.store.record(route.target, charged)));
      for (const b of route.budgets) pending.push(this.call(() => this.store.record(b.target, charged)));
    }
    let verdict = NONE;
    if (status !== undefined) {
      const now = this.wallClock.now();
      if (headers !== undefined) pending.push(this.readVendor(route.target, outcome, now));
      verdict = this.classify(outcome, status, now);
      if (verdict.kind !== 'none') route.upstreamError = verdict;
      if (verdict.kind === 'cap') this.errors.cap++;
      else if (verdict.kind === 'transient') this.errors.transient++;
    }
    const decision = route.decision;
    if (verdict.kind === 'cap') {
      pending.push(this.capError(route.target, verdict.retryAfterMs, verdict.windows));
    } else if (route.probe && !fromPrimary) {
      pending.push(this.releaseProbes(route));
    } else if (status !== undefined && isSuccessStatus(status) && decision !== undefined) {
      // Without its decision a success would end any exceeded period (the reference's rule):
      // when the store failed to decide, a success proves nothing about the current period.
      pending.push(this.call(() => this.store.success(route.target, decision)));
      for (const b of route.budgets) pending.push(this.call(() => this.store.success(b.target, b.decision)));
    }
    const done = all(pending);
    return isPromiseLike(done) ? done.then(() => verdict) : verdict;
  }

  /** Gives back every probe slot the request holds: the upstream's and its route budgets'. */
  releaseProbes(route: RequestQuota): Awaitable<void> {
    const giveBack: Array<Awaitable<void>> = [];
    const decision = route.decision;
    if (decision?.probe) giveBack.push(this.call(() => this.store.releaseProbe(route.target, decision)));
    for (const b of route.budgets) {
      if (b.decision.probe) giveBack.push(this.call(() => this.store.releaseProbe(b.target, b.decision)));
    }
    return all(giveBack);
  }

  /** A cap error the app reports itself: all windows, its raw delay. */
  capError(
    target: GuardTarget,
    retryAfterMs: number | undefined,
    windows?: readonly string[],
  ): Awaitable<void> {
    const clamped =
      retryAfterMs === undefined ? undefined : Math.min(retryAfterMs, this.options.maxRetryAfterMs);
    const named = windows?.filter((label) => this.windows.some((w) => w.label === label)) ?? [];
    if (named.length === 0) return this.call(() => this.store.capError(target, clamped));
    return all(named.map((window) => this.call(() => this.store.capError(target, clamped, { window }))));
  }

  /** The vendor's last readings for a target, by guard window label (or the vendor's length). */
  vendorInfo(key: string | undefined): Record<string, VendorWindowReading> | undefined {
    // peek: a look-up must not keep a tenant's readings from being dropped.
    const readings = this.vendorReadings.peek(key ?? '');
    return readings ? Object.fromEntries(readings) : undefined;
  }

  private classify(outcome: UpstreamOutcome, status: number, now: number): UpstreamErrorClass {
    if (status < 400) return NOT_AN_ERROR;
    const { headers, body } = outcome;
    if (resetDelays(headers, now).unreadable > 0) {
      this.problems.report(
        'retryAfter',
        'a reset header (Retry-After or a vendor reset) could not be read; ignored it',
      );
    }
    const input = { status, headers, body };
    try {
      const isCap = this.options.isCapError;
      if (isCap === undefined) return this.options.classify(input, now);
      if (!isCap(input)) return { kind: 'none', why: 'isCapError said no' };
      const { delays } = resetDelays(headers, now);
      return {
        kind: 'cap',
        why: 'isCapError said yes',
        ...(delays.length > 0 ? { retryAfterMs: Math.max(...delays) } : {}),
      };
    } catch (error) {
      this.problems.report(
        'classifier',
        'the classifier threw; the response was not taken for a cap error',
        error,
      );
      return { kind: 'none', why: 'classifier threw' };
    }
  }

  /** Keeps the vendor's utilization per window; with `calibrate`, a full vendor window trips ours. */
  private readVendor(target: GuardTarget, outcome: UpstreamOutcome, now: number): Awaitable<void> {
    const readings = readVendorWindows(outcome.headers, now);
    if (readings.size === 0) return;
    const key = target.key ?? '';
    const kept = this.vendorReadings.get(key) ?? new Map<string, VendorWindowReading>();
    const pending: Array<Awaitable<void>> = [];
    for (const [windowMs, reading] of readings) {
      // Vendor windows match guard windows by length (5h, 7d; a 1m guard window for per-minute limits).
      const window = this.windows.find((w) => w.windowMs === windowMs);
      kept.set(window?.label ?? `${windowMs / 60_000}m`, reading);
      if (!this.options.calibrate || window === undefined) continue;
      if (reading.utilization * 100 < window.thresholdPercent && reading.status !== 'rejected') continue;
      const resetIn = reading.resetAt === undefined ? undefined : Math.max(0, reading.resetAt - now);
      // Through capError, like any reset: clamped to maxRetryAfter (a reset header of
      // 99999999999 must not put the next probe thousands of years away).
      pending.push(this.capError(target, resetIn, [window.label]));
    }
    this.vendorReadings.set(key, kept);
    return all(pending);
  }
}
