import { afterEach, describe, expect, it, vi } from 'vitest';
import { coarseMonotonicClock } from '../../src/core/clock.js';
import { QuotaGuard, silentLogger } from '../../src/index.js';

describe('the default clock', () => {
  afterEach(() => {
    // The clock's own timer runs before real timers come back: the next test starts fresh.
    vi.runOnlyPendingTimers();
    vi.useRealTimers();
  });

  it('reads performance.now() at most once a millisecond, and moves on once timers run', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'], now: 0 });
    vi.advanceTimersByTime(10);
    const spy = vi.spyOn(performance, 'now');
    const first = coarseMonotonicClock.now();
    expect(coarseMonotonicClock.now()).toBe(first);
    expect(coarseMonotonicClock.now()).toBe(first);
    expect(spy).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(5);
    const later = coarseMonotonicClock.now();
    expect(later).toBeGreaterThanOrEqual(first + 5);
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('reads again after 1,000 uses even when its timer never runs', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance'], now: 0 });
    vi.advanceTimersByTime(10);
    const spy = vi.spyOn(performance, 'now');
    // Fake timers that are never advanced: the timer that would drop the reading never runs.
    for (let i = 0; i < 2_500; i++) coarseMonotonicClock.now();
    expect(spy).toHaveBeenCalledTimes(3);
  });

  it('is what a guard runs on when no clock is given', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance', 'Date'], now: 0 });
    const guard = new QuotaGuard({ window: '1s', budget: 100, probeInterval: '1s', logger: silentLogger });
    guard.recordUsage(100);
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
    // The window slides as fake time (and the clock's own timer) moves.
    vi.advanceTimersByTime(1_500);
    expect(guard.decide()).toMatchObject({ route: 'primary' });
  });
});
