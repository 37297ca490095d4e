import { describe, expect, it } from 'vitest';
import { SlidingWindow } from '../../src/core/sliding-window.js';
import { QuotaGuard } from '../../src/index.js';
import { ManualClock } from '../helpers/manual-clock.js';

const H = 3_600_000;

describe('SlidingWindow', () => {
  it('keeps memory bounded: 1,000,000 events over one 5h window hold at most window / resolution + 1 slots', () => {
    const clock = new ManualClock(0);
    const guard = new QuotaGuard({ budget: 1e12, window: '5h', resolution: '1s', clock });
    const step = (5 * H) / 1_000_000; // 18 ms apart: the events span exactly one window
    let maxSlots = 0;
    for (let i = 0; i < 1_000_000; i++) {
      guard.recordUsage(1);
      clock.advance(step);
      if (i % 10_000 === 0) maxSlots = Math.max(maxSlots, guard.info().slots);
    }
    const info = guard.info();
    maxSlots = Math.max(maxSlots, info.slots);
    expect(maxSlots).toBeLessThanOrEqual((5 * H) / 1_000 + 1);
    expect(maxSlots).toBeGreaterThan(17_000); // really filled: one slot per second of the window
    expect(info.windowUsageTokens).toBeGreaterThanOrEqual(999_000);
  });

  it('in exact mode merges equal timestamps and otherwise grows with events (the reference)', () => {
    const w = new SlidingWindow(1_000, 0);
    for (let t = 0; t < 500; t++) w.add(t, 1, t);
    w.add(499, 1, 499);
    expect(w.size).toBe(500);
    expect(w.total(499)).toBe(501);
  });

  it('never under-counts and keeps a token at most one resolution longer', () => {
    const windowMs = 10_000;
    for (const r of [1, 7, 250, 1_000, 3_333, 10_000]) {
      const w = new SlidingWindow(windowMs, r);
      const exact: Array<[number, number]> = [];
      let now = 0;
      for (let i = 0; i < 2_000; i++) {
        now += (i * 7919) % 97; // irregular steps, deterministic
        if (i % 3 === 0) {
          w.add(now, i, now);
          exact.push([now, i]);
        }
        const exactSum = exact.filter(([at]) => at >= now - windowMs).reduce((s, [, t]) => s + t, 0);
        const longerSum = exact.filter(([at]) => at >= now - windowMs - r).reduce((s, [, t]) => s + t, 0);
        const total = w.total(now);
        expect(total, `resolution ${r} at ${now}`).toBeGreaterThanOrEqual(exactSum);
        expect(total, `resolution ${r} at ${now}`).toBeLessThanOrEqual(longerSum);
      }
    }
  });

  it('inserts entries from the past in order and drops ones already outside the window', () => {
    const w = new SlidingWindow(1_000, 0);
    w.add(900, 1, 900);
    w.add(950, 2, 950);
    w.add(400, 4, 950); // a baseline from before
    w.add(-100, 8, 950); // already expired at 950
    expect(w.entries(950)).toEqual([
      { stamp: 400, tokens: 4 },
      { stamp: 900, tokens: 1 },
      { stamp: 950, tokens: 2 },
    ]);
    expect(w.total(1_401)).toBe(3);
  });

  it('tells when usage will fall below a line', () => {
    const w = new SlidingWindow(1_000, 0);
    w.add(0, 5, 0);
    w.add(100, 5, 100);
    w.add(200, 5, 200);
    expect(w.timeBelow(16, 200)).toBe(200); // already below
    expect(w.timeBelow(11, 200)).toBe(1_001); // once the first entry is gone
    expect(w.timeBelow(10, 200)).toBe(1_101);
    expect(w.timeBelow(5, 200)).toBe(1_201);
    const slots = new SlidingWindow(1_000, 100);
    slots.add(0, 5, 0); // slot ending at 100
    expect(slots.timeBelow(5, 0)).toBe(1_100);
    expect(slots.total(1_099)).toBe(5);
    expect(slots.total(1_100)).toBe(0);
  });

  it('survives clock jumps far beyond the window', () => {
    const w = new SlidingWindow(1_000, 10);
    for (let t = 0; t < 1_000; t += 5) w.add(t, 1, t);
    expect(w.total(1e9)).toBe(0);
    expect(w.size).toBe(0);
    w.add(1e9, 3, 1e9);
    expect(w.total(1e9)).toBe(3);
  });
});
