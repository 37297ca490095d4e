/** Stable codes of the errors quota-guard throws. */
export type QuotaGuardErrorCode = 'ERR_QUOTA_GUARD_OPTION';

// A brand survives two copies of the package in one app, where `instanceof` would not.
const BRAND = Symbol.for('quota-guard.error');

/**
 * The error quota-guard throws for invalid options. Its message names the option and the
 * value it got.
 *
 * @example
 * try { new QuotaGuard({ budget: -5 }) } catch (e) { if (isQuotaGuardError(e)) console.log(e.option) }
 */
export class QuotaGuardError extends Error {
  readonly code: QuotaGuardErrorCode;
  /** The option's path, e.g. `windows[1].budget`. */
  readonly option: string;
  readonly [BRAND] = true;

  constructor(code: QuotaGuardErrorCode, option: string, message: string) {
    super(`quota-guard: ${message}`);
    this.name = 'QuotaGuardError';
    this.code = code;
    this.option = option;
  }
}

/** True for errors thrown by any copy of quota-guard. */
export function isQuotaGuardError(value: unknown): value is QuotaGuardError {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
}

/** Longest text of a value put in a message; the rest is cut (a log line stays a line). */
const MAX_DESCRIBED = 200;

// One character class over a bounded string: linear.
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it escapes
const UNSAFE_IN_LOG = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from outside (a tenant key, a header, a body) made safe for one log line: control
 * characters (newlines, ANSI escapes), bidi overrides and line separators shown as `\uXXXX`
 * escapes, and cut to `max` characters.
 */
export function escapeForLog(text: string, max = MAX_DESCRIBED): string {
  const cut = text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
  return cut.replace(UNSAFE_IN_LOG, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Shows a rejected value the way a user typed it: strings quoted, everything else as JSON-ish text. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${escapeForLog(value)}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  try {
    return escapeForLog(JSON.stringify(value) ?? String(value));
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export function optionError(option: string, expected: string, value: unknown): QuotaGuardError {
  return new QuotaGuardError(
    'ERR_QUOTA_GUARD_OPTION',
    option,
    `${option} must be ${expected}, got ${describeValue(value)}`,
  );
}
