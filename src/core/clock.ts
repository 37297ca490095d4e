/**
 * A source of time in milliseconds. The guard reads it on every call and never sets a timer,
 * so tests drive time by hand.
 */
export interface Clock {
  now(): number;
}

/** Monotonic: unaffected by wall-clock jumps (NTP, DST), like lru-cache's default. */
export const monotonicClock: Clock = globalThis.performance;

export const wallClock: Clock = Date;
