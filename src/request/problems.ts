import type { Logger } from '../core/logger.js';

/** Kinds of trouble an adapter survives: the request is served, the problem counted. */
export interface ProblemCounts {
  /** The `usage` function threw, returned something that is not a number, or did not settle within `usageTimeout`. */
  usage: number;
  /** The `key` function threw, returned something that is not a string, or did not settle within `keyTimeout`. */
  key: number;
  /** The `skip` function threw or rejected (the request was guarded as usual). */
  skip: number;
  /**
   * An answer's usage that is not a whole number from 0 to `maxTokensPerResponse` (`1e308`, `-5`,
   * `2.5`, a count field that is not a number): not charged.
   */
  implausibleUsage: number;
  /** A cap error's `Retry-After` could not be read. */
  retryAfter: number;
  /** A baseline loader threw, timed out or returned something unusable. */
  baseline: number;
  /** The store threw or rejected. */
  store: number;
  /** The `isCapError` classifier threw. */
  classifier: number;
  /** A reject `handler` threw. */
  handler: number;
  /** A successful response whose body ended without its usage (client gone, upstream cut, usage not asked for). */
  usageMissing: number;
  /** A body that was not the JSON or SSE it claimed, or not the compression it claimed. */
  malformedBody: number;
  /** A JSON body over `maxJsonBytes`, an SSE event over `maxEventBytes`, or a compressed body past `maxInflatedBytes`. */
  bodyTooLarge: number;
}

/** Counts problems and logs the first of each kind, so a broken callback cannot flood the log. */
export class ProblemLog {
  readonly counts: ProblemCounts = {
    usage: 0,
    key: 0,
    skip: 0,
    implausibleUsage: 0,
    retryAfter: 0,
    baseline: 0,
    store: 0,
    classifier: 0,
    handler: 0,
    usageMissing: 0,
    malformedBody: 0,
    bodyTooLarge: 0,
  };
  private readonly logged = new Set<keyof ProblemCounts>();

  constructor(
    private readonly logger: Logger,
    private readonly prefix: string,
  ) {}

  report(kind: keyof ProblemCounts, message: string, error?: unknown): void {
    this.counts[kind]++;
    if (this.logged.has(kind)) return;
    this.logged.add(kind);
    const line = `${this.prefix}: ${message} (logged once; further ones are counted in info().problems.${kind})`;
    if (error === undefined) this.logger.warn(line);
    else this.logger.warn(line, error);
  }
}
