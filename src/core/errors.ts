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

/** Shows a rejected value the way a user typed it: strings quoted, everything else as JSON-ish text. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === undefined || value === null) return String(value);
  if (typeof value === 'function') return 'a function';
  try {
    return JSON.stringify(value) ?? String(value);
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
