import { finiteDelay, parseRetryAfter } from '../core/retry-after.js';
import { type HeadersLike, headerValue } from './headers.js';

/** Go-style durations as OpenAI sends them in `x-ratelimit-reset-*`: `6m0s`, `1.5s`, `20ms`, `1h2m`. */
export function parseGoDuration(value: string): number | undefined {
  const match =
    /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(
      value.trim(),
    );
  if (!match || value.trim() === '') return undefined;
  const [, h = '0', m = '0', s = '0', ms = '0'] = match;
  return finiteDelay(Number(h) * 3_600_000 + Number(m) * 60_000 + Number(s) * 1_000 + Number(ms));
}

/** Anthropic's per-limit resets are RFC 3339 times; its unified resets are epoch seconds. */
function untilRfc3339(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const at = Date.parse(value);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

function untilEpochSeconds(value: string | undefined, now: number): number | undefined {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  return finiteDelay(Math.max(0, Number(value) * 1_000 - now));
}

const ANTHROPIC_LIMITS = ['requests', 'tokens', 'input-tokens', 'output-tokens'];

/**
 * Every reset time a response's headers carry, as raw delays in milliseconds: `Retry-After`
 * (seconds or HTTP-date), `retry-after-ms`, `anthropic-ratelimit-*-reset`,
 * `anthropic-ratelimit-unified(-5h|-7d)-reset`, `x-ratelimit-reset-tokens` / `-requests`.
 * `unreadable` counts values that were there but could not be read.
 */
export function resetDelays(
  headers: HeadersLike | undefined,
  now: number,
): { delays: number[]; unreadable: number } {
  const delays: number[] = [];
  let unreadable = 0;
  const take = (name: string, read: (value: string) => number | undefined) => {
    const value = headerValue(headers, name);
    if (value === undefined) return;
    const ms = read(value);
    if (ms === undefined) unreadable++;
    else delays.push(ms);
  };
  take('retry-after', (v) => parseRetryAfter(v, now));
  take('retry-after-ms', (v) => (/^\d+(\.\d+)?$/.test(v.trim()) ? finiteDelay(Number(v)) : undefined));
  for (const limit of ANTHROPIC_LIMITS)
    take(`anthropic-ratelimit-${limit}-reset`, (v) => untilRfc3339(v, now));
  for (const scope of ['', '-5h', '-7d'])
    take(`anthropic-ratelimit-unified${scope}-reset`, (v) => untilEpochSeconds(v, now));
  take('x-ratelimit-reset-tokens', parseGoDuration);
  take('x-ratelimit-reset-requests', parseGoDuration);
  return { delays, unreadable };
}
