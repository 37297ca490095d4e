/**
 * `Retry-After` as HTTP defines it (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.
 * Returns the raw delay in milliseconds (the guard alone adds its margin), `0` for a date in the
 * past, or `undefined` when the value is absent or unparseable.
 *
 * @example
 * parseRetryAfter('120', Date.now())                           // 120_000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.now())  // ms until then
 */
export function parseRetryAfter(value: string | undefined, nowEpochMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  // Digits are always seconds: `Date.parse('120')` would take them for the year 120. Three
  // hundred digits overflow to Infinity: unreadable, not "forever".
  if (/^\d+(\.\d+)?$/.test(text)) return finiteDelay(Number(text) * 1_000);
  // An HTTP-date names a weekday or month; anything else (`-5`, `soon`) is not one.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (!Number.isFinite(at)) return undefined;
  return Math.max(0, at - nowEpochMs);
}

/** A delay that is a finite, non-negative number of milliseconds, or undefined. */
export function finiteDelay(ms: number): number | undefined {
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
