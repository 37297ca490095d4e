import type { UpstreamErrorClass } from '../usage/classify.js';
import type { HeadersLike } from '../usage/headers.js';

/**
 * What the primary answered, as the app reports it (`req.quotaRoute.report(...)`) or as the
 * response hook sees it.
 */
export interface UpstreamOutcome {
  /** Tokens the primary charged for this request. */
  tokens?: number;
  /** The primary's HTTP status. */
  status?: number;
  /** The primary's response headers (for `Retry-After`). */
  headers?: HeadersLike;
  /** The primary's parsed body, for classifiers that read error messages. */
  body?: unknown;
}

/** What a cap-error classifier is shown. */
export interface CapErrorInput {
  status: number;
  headers: HeadersLike | undefined;
  body: unknown;
}

/**
 * Says yes or no: does a response say the upstream's cap is reached (and the guard should hold
 * the primary back until a probe succeeds)? Replaces the default classifier when given.
 */
export type CapErrorClassifier = (response: CapErrorInput) => boolean;

/** Sorts an error answer into cap, transient or neither; `nowEpochMs` reads absolute reset times. */
export type UpstreamErrorClassifier = (response: CapErrorInput, nowEpochMs: number) => UpstreamErrorClass;

export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}
