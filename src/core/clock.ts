/**
 * A source of time in milliseconds. The guard reads it on every call and never sets a timer of
 * its own (transitions happen when the next call arrives), so tests drive time by hand.
 */
export interface Clock {
  now(): number;
}

/**
 * The default clock: monotonic (unaffected by wall-clock jumps, NTP, DST), like lru-cache's
 * default, read on every call. A reading costs ~50 ns on many VMs; caching it behind a 1 ms
 * timer (as lru-cache's `ttlResolution` does) was tried and made a server-like event loop
 * slower, not faster: a timer cycle costs more than the readings it saves (docs/benchmarks.md).
 */
export const monotonicClock: Clock = {
  // Looked up on each call, so fake timers installed after import (vitest, jest) move it too.
  now: () => performance.now(),
};

export const wallClock: Clock = Date;
