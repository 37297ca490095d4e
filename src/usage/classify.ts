import { type HeadersLike, headerValue } from './headers.js';
import { resetDelays } from './reset-headers.js';
import { isRecord } from './token-usage.js';

/** What an upstream's error answer means for the guard. */
export interface UpstreamErrorClass {
  /**
   * - `cap`: the quota is spent; the guard holds the primary back until a probe succeeds.
   * - `transient`: a short rate limit or an overload; the guard's state does not change.
   * - `none`: not about quota.
   */
  kind: 'cap' | 'transient' | 'none';
  /** The latest reset the answer carried, raw (the guard adds its own margin). */
  retryAfterMs?: number;
  /** Only these windows are spent, when the vendor says which (`'5h'`, `'7d'`). */
  windows?: string[];
  /** Why, in a few words. */
  why: string;
}

export interface ClassifyInput {
  status: number;
  headers: HeadersLike | undefined;
  body: unknown;
}

/** A reset further away than this is a cap, not a per-minute limit. */
export const CAP_RESET_THRESHOLD_MS = 10 * 60_000;

/**
 * Characters of an error's text the classifier reads. Vendors say what happened in the first
 * sentence; a hostile or broken upstream can send a megabyte, and reading it all buys nothing.
 */
export const MAX_ERROR_TEXT = 4_096;

// Plain alternatives, no unbounded quantifier: linear in the text, whatever it holds.
const CAP_MESSAGE =
  /usage limit|quota|usage cap|insufficient_quota|billing|credit balance|resource.?exhausted/i;

/**
 * "reached your <anything> limit" (Anthropic's subscription wording) by two index searches: a
 * `reached your .*limit` pattern backtracks over the rest of the text at every "reached your",
 * quadratic time on a message that repeats it.
 */
function saysLimitReached(lower: string): boolean {
  const at = lower.indexOf('reached your');
  return at >= 0 && lower.indexOf('limit', at + 12) >= 0;
}

/** The error's type, code and message, wherever the vendor put them; at most `MAX_ERROR_TEXT`. */
function errorText(body: unknown): string {
  if (typeof body === 'string') return body.slice(0, MAX_ERROR_TEXT);
  if (!isRecord(body)) return '';
  const error = isRecord(body.error) ? body.error : body;
  const parts: string[] = [];
  let length = 0;
  for (const value of [error.type, error.code, error.status, error.message]) {
    if (typeof value !== 'string' || length >= MAX_ERROR_TEXT) continue;
    const part = value.slice(0, MAX_ERROR_TEXT - length);
    parts.push(part);
    length += part.length + 1;
  }
  return parts.join(' ');
}

/** Which windows Anthropic's unified headers say are spent (`five_hour` → `5h`, `seven_day*` → `7d`). */
function spentWindows(headers: HeadersLike | undefined): string[] | undefined {
  const spent = ['5h', '7d'].filter(
    (w) => headerValue(headers, `anthropic-ratelimit-unified-${w}-status`) === 'rejected',
  );
  if (spent.length > 0) return spent;
  const claim = headerValue(headers, 'anthropic-ratelimit-unified-representative-claim');
  if (claim === 'five_hour') return ['5h'];
  if (claim?.startsWith('seven_day')) return ['7d'];
  return undefined;
}

/**
 * The default classifier. A 429 is not always the cap: a per-minute "rate limit exceeded" with a
 * reset seconds away is transient, and so are overloads (529, 503, `overloaded_error`). A cap is a
 * 429 or 403 whose body or headers say the quota or usage limit is spent (Anthropic's
 * subscription messages and `anthropic-ratelimit-unified-status: rejected`, OpenAI's
 * `insufficient_quota`, "quota" and "usage cap" messages), or whose reset is far away.
 *
 * @example
 * classifyUpstreamError({ status: 429, headers: { 'retry-after': '20' }, body: { error: { type: 'rate_limit_error' } } }, Date.now())
 * // { kind: 'transient', retryAfterMs: 20000, why: 'rate limited' }
 */
export function classifyUpstreamError(input: ClassifyInput, nowEpochMs: number): UpstreamErrorClass {
  const { status, headers, body } = input;
  const { delays } = resetDelays(headers, nowEpochMs);
  const retry = delays.length > 0 ? { retryAfterMs: Math.max(...delays) } : {};
  const text = errorText(body);
  if (status === 529 || status === 503 || /overloaded/i.test(text))
    return { kind: 'transient', ...retry, why: 'overloaded' };
  if (status !== 429 && status !== 403) return { kind: 'none', why: `status ${status}` };
  const windows = spentWindows(headers);
  const scoped = windows ? { windows } : {};
  if (headerValue(headers, 'anthropic-ratelimit-unified-status') === 'rejected') {
    return { kind: 'cap', ...retry, ...scoped, why: 'unified limit rejected' };
  }
  if (CAP_MESSAGE.test(text) || saysLimitReached(text.toLowerCase()))
    return { kind: 'cap', ...retry, ...scoped, why: 'quota spent' };
  if (retry.retryAfterMs !== undefined && retry.retryAfterMs >= CAP_RESET_THRESHOLD_MS) {
    return { kind: 'cap', ...retry, ...scoped, why: 'reset far away' };
  }
  if (status === 403) return { kind: 'none', why: 'forbidden' };
  // A short reset or a plain rate-limit message: a per-minute limit, over in moments.
  if (retry.retryAfterMs !== undefined || /rate.?limit/i.test(text))
    return { kind: 'transient', ...retry, why: 'rate limited' };
  // A bare 429 says nothing more: take it for the cap (a probe finds out cheaply if it was not).
  return { kind: 'cap', why: 'status 429' };
}
