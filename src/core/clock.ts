/**
 * A source of time in milliseconds. The guard reads it on every call and never sets a timer of
 * its own (transitions happen when the next call arrives), so tests drive time by hand.
 */
export interface Clock {
  now(): number;
}

/** Monotonic: unaffected by wall-clock jumps (NTP, DST), like lru-cache's default. */
export const monotonicClock: Clock = globalThis.performance;

export const wallClock: Clock = Date;

let reading = -1;
let uses = 0;
const forget = () => {
  reading = -1;
};

/**
 * The default clock: `performance.now()`, read at most about once a millisecond. On many VMs a
 * reading costs ~50 ns, as much as a decision, a record and a success together; a reading a
 * millisecond old puts usage in the same slot (the finest default slot is a thousandth of its
 * window). The reading is dropped by an unref'd 1 ms timer, the way lru-cache caches its clock
 * for TTLs (`ttlResolution`), and after 1,000 uses whatever the timer does (a timer lost to
 * fake timers in a test must not stop time). Inside one synchronous stretch of code time moves
 * only that way: no window is short enough for that to matter, and nothing is placed in the future.
 */
export const coarseMonotonicClock: Clock = {
  now(): number {
    if (reading >= 0 && ++uses < 1_000) return reading;
    uses = 0;
    reading = performance.now();
    setTimeout(forget, 1).unref?.();
    return reading;
  },
};
