import type { Clock, Logger, WindowOptions } from '../../src/index.js';

/** The examples' quota: small, so a few requests show the guard at work. */
export const exampleWindows: WindowOptions[] = [
  { window: '5h', budget: 20_000 },
  { window: '7d', budget: 200_000 },
];

/** What each example app is built from. */
export interface ExampleOptions {
  primaryUrl: string;
  fallbackUrl: string;
  /** Tests drive time; the server uses the real clock. */
  clock?: Clock;
  /** Where the guard logs its state changes. Default: the console. */
  logger?: Logger;
}
