import { describeValue } from '../core/errors.js';
import type { Awaitable } from '../stores/store.js';
import type { BodyReading } from '../usage/body-tap.js';
import { isPromiseLike, withTimeout } from './awaitable.js';
import type { ResolvedMiddlewareOptions } from './options.js';
import { isSuccessStatus } from './outcome.js';
import type { ProblemLog } from './problems.js';

const TIMED_OUT = Symbol('timed out');

/**
 * The tokens one answer charges, from the body the tap read or from the app's `usage` function,
 * checked: a whole number from 0 to `maxTokensPerResponse`, or nothing (the problem counted).
 */
export class UsageChecks<Ctx> {
  constructor(
    private readonly options: ResolvedMiddlewareOptions<Ctx>,
    private readonly problems: ProblemLog,
  ) {}

  /** The tokens a body's usage charges (`weigh`), and the miss counted when a success had none. */
  fromBody(reading: BodyReading | undefined, status: number | undefined): number | undefined {
    if (reading === undefined || this.options.vendor === undefined) return undefined;
    if (reading.problem && status !== undefined && isSuccessStatus(status)) {
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

  /** The app's `usage` function's answer, within `usageTimeout`; problems counted, never thrown. */
  fromApp(ctx: Ctx): Awaitable<number | undefined> {
    const usage = this.options.usage;
    if (usage === undefined) return undefined;
    let value: unknown;
    try {
      value = usage(ctx);
    } catch (error) {
      return this.usageFailed(error);
    }
    if (!isPromiseLike(value)) return this.check(value, 'the usage function');
    const timeoutMs = this.options.usageTimeoutMs;
    return withTimeout(value as Promise<unknown>, timeoutMs, TIMED_OUT).then((v) => {
      if (v !== TIMED_OUT) return this.check(v, 'the usage function');
      this.problems.report(
        'usage',
        `the usage function did not settle within ${timeoutMs} ms; no usage recorded for this response`,
      );
      return undefined;
    }, this.usageFailed);
  }

  /** Tokens from the app (its usage function, `report()`): a number, or nothing; checked. */
  check(value: unknown, source: string): number | undefined {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number') {
      this.problems.report('usage', `${source} gave ${describeValue(value)}, not a token count; ignored`);
      return undefined;
    }
    return this.plausible(value, source);
  }

  private readonly usageFailed = (error: unknown): undefined => {
    this.problems.report('usage', 'the usage function threw; no usage recorded for this response', error);
    return undefined;
  };

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
}
