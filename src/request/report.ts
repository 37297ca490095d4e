import type { Clock } from '../core/clock.js';
import type { ResolvedWindow } from '../core/options.js';
import type { Awaitable, GuardTarget } from '../stores/store.js';
import type { UpstreamErrorClass } from '../usage/classify.js';
import { resetDelays } from '../usage/reset-headers.js';
import { all } from './awaitable.js';
import type { ResolvedMiddlewareOptions } from './options.js';
import { isSuccessStatus, type UpstreamOutcome } from './outcome.js';
import type { ProblemLog } from './problems.js';
import type { RequestQuota } from './quota-route.js';
import { later, type StoreCalls } from './store-calls.js';
import type { UsageChecks } from './usage-checks.js';
import { VendorReadings } from './vendor-readings.js';

/** Error answers the primary gave, by kind. */
export interface UpstreamErrorCounts {
  cap: number;
  transient: number;
}

const NONE: UpstreamErrorClass = Object.freeze({ kind: 'none', why: 'no status' });
/** The verdict on every answer below 400: one object, not one per request. */
const NOT_AN_ERROR: UpstreamErrorClass = Object.freeze({ kind: 'none', why: 'not an error status' });

/**
 * The last step of a request: what the primary answered, turned into store calls. Usage to every
 * window the request was charged to, a cap error (to the windows the vendor named), a success
 * with the request's decision, the vendor's own readings; a probe that shows no sign of the
 * primary gives its slot back.
 */
export class OutcomeReporter<Ctx> {
  readonly errors: UpstreamErrorCounts = { cap: 0, transient: 0 };
  readonly vendor: VendorReadings;

  constructor(
    private readonly options: ResolvedMiddlewareOptions<Ctx>,
    private readonly calls: StoreCalls,
    private readonly usage: UsageChecks<Ctx>,
    private readonly problems: ProblemLog,
    private readonly windows: readonly ResolvedWindow[],
    private readonly wallClock: Clock,
  ) {
    this.vendor = new VendorReadings(windows, options.calibrate, options.maxKeys, (target, reset, window) =>
      // Through capError, like any reset: clamped to maxRetryAfter (a reset header of
      // 99999999999 must not put the next probe thousands of years away).
      this.capError(target, reset, [window]),
    );
  }

  /**
   * Applies one outcome; resolves to what the answer meant (for `report()` callers).
   * `fromPrimary`: the answer shows the primary was asked (see `answeredByPrimary`; always true
   * for the app's explicit reports). A probe whose answer does not show it gives its probe slot
   * back, so the next request probes; it can never end `quota_exceeded`.
   */
  apply(route: RequestQuota, outcome: UpstreamOutcome, fromPrimary: boolean): Awaitable<UpstreamErrorClass> {
    const { tokens, status, headers } = outcome;
    const calls = this.calls;
    const target = route.target;
    const budgets = route.budgets;
    let waits: Array<Promise<void>> | undefined;
    const charged = tokens === undefined ? undefined : this.usage.check(tokens, 'report()');
    if (charged !== undefined && charged > 0) {
      waits = later(waits, calls.record(target, charged));
      if (budgets) for (const b of budgets) waits = later(waits, calls.record(b.target, charged));
    }
    let verdict = NONE;
    if (status !== undefined) {
      // The wall clock is read only for readings and error answers, not for every success.
      if (headers !== undefined) waits = later(waits, this.vendor.read(target, headers, this.wallClock));
      verdict = status < 400 ? NOT_AN_ERROR : this.classify(outcome, status, this.wallClock.now());
      if (verdict.kind !== 'none') route.upstreamError = verdict;
      if (verdict.kind === 'cap') this.errors.cap++;
      else if (verdict.kind === 'transient') this.errors.transient++;
    }
    const decision = route.decision;
    if (verdict.kind === 'cap') {
      waits = later(waits, this.capError(target, verdict.retryAfterMs, verdict.windows));
    } else if (route.probe && !fromPrimary) {
      waits = later(waits, this.releaseProbes(route));
    } else if (status !== undefined && isSuccessStatus(status) && decision !== undefined) {
      // Without its decision a success would end any exceeded period (the reference's rule):
      // when the store failed to decide, a success proves nothing about the current period.
      waits = later(waits, calls.success(target, decision));
      if (budgets) for (const b of budgets) waits = later(waits, calls.success(b.target, b.decision));
    }
    return waits === undefined ? verdict : Promise.all(waits).then(() => verdict);
  }

  /** Gives back every probe slot the request holds: the upstream's and its route budgets'. */
  releaseProbes(route: RequestQuota): Awaitable<void> {
    const { calls } = this;
    const giveBack: Array<Awaitable<void>> = [];
    const decision = route.decision;
    if (decision?.probe) giveBack.push(calls.run(() => calls.store.releaseProbe(route.target, decision)));
    for (const b of route.budgets ?? []) {
      if (b.decision.probe) giveBack.push(calls.run(() => calls.store.releaseProbe(b.target, b.decision)));
    }
    return all(giveBack);
  }

  /** A cap error: to the windows named (all when none), its raw delay clamped to `maxRetryAfter`. */
  capError(
    target: GuardTarget,
    retryAfterMs: number | undefined,
    windows?: readonly string[],
  ): Awaitable<void> {
    const { calls } = this;
    const clamped =
      retryAfterMs === undefined ? undefined : Math.min(retryAfterMs, this.options.maxRetryAfterMs);
    const named = windows?.filter((label) => this.windows.some((w) => w.label === label)) ?? [];
    if (named.length === 0) return calls.run(() => calls.store.capError(target, clamped));
    return all(named.map((window) => calls.run(() => calls.store.capError(target, clamped, { window }))));
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
}
