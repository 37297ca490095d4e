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

export function isUsableTokens(tokens: unknown): tokens is number {
  return typeof tokens === 'number' && Number.isFinite(tokens) && tokens >= 0;
}
