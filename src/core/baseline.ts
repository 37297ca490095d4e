/** Usage that happened at a known time: `at` is wall-clock epoch milliseconds. */
export interface BaselineEntry {
  at: number;
  tokens: number;
}

/**
 * Usage spent before this process started, e.g. summed from the app's own request log.
 * A number is placed at the middle of the window (the reference's rule); entries are placed
 * where they happened, so each slides out at the right moment.
 */
export type Baseline = number | readonly BaselineEntry[];

/**
 * A token count the guard keeps: a non-negative safe integer. Counts stay exact integers, and a
 * window's total, a sum of safe integers over a bounded number of entries, is always finite: no
 * `Infinity` that turns into `NaN` when it slides out and switches every comparison off.
 */
export function isTokenCount(tokens: unknown): tokens is number {
  return typeof tokens === 'number' && Number.isSafeInteger(tokens) && tokens >= 0;
}

/** A finite, non-negative number of milliseconds (a retry time). */
export function isUsableDelay(ms: unknown): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;
}
