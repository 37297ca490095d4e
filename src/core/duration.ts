import { optionError } from './errors.js';

/** Milliseconds, or a string such as `'300s'`, `'5m'`, `'5h'`, `'7d'`, `'1w'`, `'250ms'`, `'1.5h'`. */
export type Duration = number | `${number}${DurationUnit}`;
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd' | 'w';

const UNIT_MS: Record<DurationUnit, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h|d|w)\s*$/;

const EXPECTED = "a duration (milliseconds, or a string like '300s', '5h', '7d')";

/**
 * Turns a duration option into milliseconds, or throws an error naming the option.
 * `allowZero` is for options where 0 has a meaning (`resolution: 0` = exact window).
 */
export function parseDuration(value: unknown, option: string, allowZero = false): number {
  let ms: number;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string') {
    const match = DURATION_PATTERN.exec(value);
    if (!match) throw optionError(option, EXPECTED, value);
    ms = Number(match[1]) * UNIT_MS[match[2] as DurationUnit];
  } else {
    throw optionError(option, EXPECTED, value);
  }
  if (!Number.isFinite(ms) || ms < 0 || (ms === 0 && !allowZero)) {
    throw optionError(
      option,
      allowZero ? `a non-negative ${EXPECTED.slice(2)}` : `a positive ${EXPECTED.slice(2)}`,
      value,
    );
  }
  return ms;
}

/** A short label for a window length, as operators say it: `5h`, `7d`, `90m`, `45s`, `250ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit];
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** Node's timers fire at once for delays over 2^31 − 1 ms (about 24.8 days). */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * A duration that becomes a timer (a timeout): as `parseDuration`, and no longer than Node's
 * timer limit, which would otherwise turn `'30d'` into a timeout that fires at once.
 */
export function parseTimerDuration(value: unknown, option: string): number {
  const ms = parseDuration(value, option);
  if (ms > MAX_TIMER_MS) {
    throw optionError(option, "at most '24d' (Node's timers cannot wait longer than 2^31 - 1 ms)", value);
  }
  return ms;
}
