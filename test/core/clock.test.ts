import { afterEach, describe, expect, it, vi } from 'vitest';
import { QuotaGuard, silentLogger } from '../../src/index.js';

describe('the default clock', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  it('is performance.now(), read by every record: no timer of its own, time never stands still', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'performance', 'Date'], now: 0 });
    const spy = vi.spyOn(performance, 'now');
    const guard = new QuotaGuard({ window: '1s', budget: 100, probeInterval: '1s', logger: silentLogger });
    guard.recordUsage(10);
    guard.recordUsage(10);
    guard.recordUsage(10);
    expect(spy.mock.calls.length).toBeGreaterThanOrEqual(3);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('is what a guard runs on when no clock is given: the window slides as time moves', () => {
    vi.useFakeTimers({ toFake: ['performance', 'Date'], now: 0 });
    const guard = new QuotaGuard({ window: '1s', budget: 100, probeInterval: '1s', logger: silentLogger });
    guard.recordUsage(100);
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
    vi.advanceTimersByTime(1_500);
    expect(guard.decide()).toMatchObject({ route: 'primary' });
  });
});
