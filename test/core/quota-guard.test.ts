import { describe, expect, it } from 'vitest';
import { QuotaGuard, type QuotaGuardOptions, type StateChangeEvent, silentLogger } from '../../src/index.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;

function makeGuard(options: QuotaGuardOptions = {}) {
  const clock = new ManualClock();
  const events: StateChangeEvent[] = [];
  const { logger, lines } = captureLogger();
  const guard = new QuotaGuard({
    budget: 1_000,
    window: '5h',
    resolution: 0,
    clock,
    logger,
    onStateChange: (e) => events.push(e),
    ...options,
  });
  return { guard, clock, events, lines };
}

describe('QuotaGuard: the budget line', () => {
  it('trips at floor(budget × threshold), not one token earlier', () => {
    const { guard, events } = makeGuard({ budget: 1_000, thresholdPercent: 99.9 });
    // floor(1000 × 0.999) = 999
    guard.recordUsage(998);
    expect(guard.decide()).toMatchObject({ route: 'primary', reason: 'within_quota', state: 'within_quota' });
    guard.recordUsage(1);
    const d = guard.decide();
    expect(d).toMatchObject({
      route: 'fallback',
      reason: 'budget_exhausted',
      state: 'quota_exceeded',
      window: '5h',
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      from: 'within_quota',
      to: 'quota_exceeded',
      reason: 'budget_exhausted',
      window: '5h',
    });
  });

  it('uses the default threshold of 99%', () => {
    const { guard } = makeGuard({ budget: 1_000 });
    guard.recordUsage(989);
    expect(guard.canUsePrimary()).toBe(true);
    guard.recordUsage(1);
    expect(guard.canUsePrimary()).toBe(false);
    expect(guard.info()).toMatchObject({ thresholdPercent: 99, usagePercent: 99, windowUsageTokens: 990 });
  });

  it('is lazy: recording past the line changes nothing until the next decision', () => {
    const { guard } = makeGuard();
    guard.recordUsage(5_000);
    expect(guard.info().state).toBe('within_quota');
    guard.decide();
    expect(guard.info().state).toBe('quota_exceeded');
  });
});

describe('QuotaGuard: recovery by usage sliding out', () => {
  it('recovers when usage drops below the line, with reason usage_dropped', () => {
    const { guard, clock, events } = makeGuard({ probeInterval: '10h' });
    guard.recordUsage(600);
    clock.advance(1 * H);
    guard.recordUsage(400);
    expect(guard.decide().reason).toBe('budget_exhausted');
    // The first 600 tokens were recorded at t0; they count while t0 >= now - 5h.
    clock.advance(4 * H);
    expect(guard.decide().route).toBe('fallback');
    clock.advance(1);
    expect(guard.decide()).toMatchObject({
      route: 'primary',
      reason: 'usage_dropped',
      state: 'within_quota',
    });
    expect(events.map((e) => e.reason)).toEqual(['budget_exhausted', 'usage_dropped']);
    expect(guard.info().windowUsageTokens).toBe(400);
  });

  it('does not recover by usage while a cap error is active', () => {
    const { guard, clock } = makeGuard({ probeInterval: '10h' });
    guard.recordUsage(1_000);
    guard.notifyCapError();
    clock.advance(5 * H + 1);
    expect(guard.info().windowUsageTokens).toBe(0);
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'cap_error' });
  });

  it('reports when the primary is expected back in a budget-exhausted window', () => {
    const { guard, clock } = makeGuard();
    guard.recordUsage(600);
    clock.advance(1 * H);
    guard.recordUsage(400);
    const d = guard.decide();
    // Below the line once the first 600 slide out: 5 h after they were recorded, plus the
    // millisecond the strict comparison needs.
    expect(d.retryInMs).toBe(4 * H + 1);
    expect(d.retryAt).toBe(clock.now() + 4 * H + 1);
  });
});

describe('QuotaGuard: probes', () => {
  it('spaces probes from the transition, then from the last probe', () => {
    const { guard, clock } = makeGuard({ probeInterval: '5m', budget: 0 });
    guard.notifyCapError();
    expect(guard.decide().route).toBe('fallback');
    clock.advance(5 * M - 1);
    expect(guard.decide().route).toBe('fallback');
    clock.advance(1);
    const probe = guard.decide();
    expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe', state: 'quota_exceeded' });
    // The slot is spent: the next request right after goes to the fallback.
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'cap_error' });
    clock.advance(5 * M - 1);
    expect(guard.decide().route).toBe('fallback');
    clock.advance(1);
    expect(guard.decide().probe).toBe(true);
  });

  it('stretches the probe interval to retryAfter × 1.1 when that is longer', () => {
    const { guard, clock } = makeGuard({ probeInterval: '5m' });
    guard.notifyCapError(10 * M);
    expect(guard.info().nextProbeAt).toBe(clock.now() + 11 * M);
    clock.advance(11 * M - 1);
    expect(guard.decide().route).toBe('fallback');
    clock.advance(1);
    expect(guard.decide().probe).toBe(true);
  });

  it('keeps the probe interval when retryAfter × 1.1 is shorter', () => {
    const { guard, clock } = makeGuard({ probeInterval: '5m' });
    guard.notifyCapError(10 * S);
    clock.advance(5 * M - 1);
    expect(guard.decide().route).toBe('fallback');
    clock.advance(1);
    expect(guard.decide().probe).toBe(true);
  });

  it('a cap error while already exceeded keeps the probe clock of the period', () => {
    const { guard, clock } = makeGuard({ probeInterval: '5m', budget: 0 });
    guard.notifyCapError();
    clock.advance(5 * M);
    expect(guard.decide().probe).toBe(true);
    clock.advance(1 * S);
    // The probe itself answered 429 with Retry-After: 10 min: next probe 11 min after the probe.
    guard.notifyCapError(10 * M);
    clock.advance(11 * M - 1 * S - 1);
    expect(guard.decide().route).toBe('fallback');
    clock.advance(1);
    expect(guard.decide().probe).toBe(true);
  });

  it('a successful probe recovers and resets the interval', () => {
    const { guard, clock, events } = makeGuard({ probeInterval: '5m' });
    guard.notifyCapError(60 * M);
    clock.advance(66 * M);
    const probe = guard.decide();
    expect(probe.probe).toBe(true);
    guard.recordSuccess(probe);
    expect(guard.info()).toMatchObject({ state: 'within_quota', capErrorActive: false });
    expect(events.at(-1)).toMatchObject({ to: 'within_quota', reason: 'probe_success' });
    // A new cap error starts from the plain interval again.
    guard.notifyCapError();
    expect(guard.info().nextProbeAt).toBe(clock.now() + 5 * M);
  });

  it('in budget mode a probe is visible and the next decision trips again', () => {
    const { guard, clock, events } = makeGuard({ probeInterval: '5m' });
    guard.recordUsage(2_000);
    expect(guard.decide().reason).toBe('budget_exhausted');
    clock.advance(5 * M);
    const probe = guard.decide();
    expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe_over_budget' });
    guard.recordSuccess(probe);
    expect(guard.info().state).toBe('within_quota');
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
    expect(events.map((e) => e.reason)).toEqual(['budget_exhausted', 'probe_success', 'budget_exhausted']);
  });
});

describe('QuotaGuard: stale successes', () => {
  it('a success of a decision taken before the guard tripped does not recover it', () => {
    const { guard, clock } = makeGuard({ budget: 0 });
    const inFlight = guard.decide();
    expect(inFlight.route).toBe('primary');
    guard.notifyCapError();
    guard.recordSuccess(inFlight);
    expect(guard.info().state).toBe('quota_exceeded');
    clock.advance(5 * M);
    const probe = guard.decide();
    guard.recordSuccess(probe);
    expect(guard.info().state).toBe('within_quota');
  });

  it('a decision from an earlier exceeded period is stale too', () => {
    const { guard, clock } = makeGuard({ budget: 0 });
    guard.notifyCapError();
    clock.advance(5 * M);
    const oldProbe = guard.decide();
    guard.recordSuccess(oldProbe);
    guard.notifyCapError();
    guard.recordSuccess(oldProbe);
    expect(guard.info().state).toBe('quota_exceeded');
  });

  it('a fallback decision never recovers the primary', () => {
    const { guard } = makeGuard({ budget: 0 });
    guard.notifyCapError();
    const fallback = guard.decide();
    expect(fallback.route).toBe('fallback');
    guard.recordSuccess(fallback);
    expect(guard.info().state).toBe('quota_exceeded');
  });

  it('without a decision any success recovers, as in the reference', () => {
    const { guard, events } = makeGuard({ budget: 0 });
    guard.notifyCapError();
    guard.recordSuccess();
    expect(guard.info().state).toBe('within_quota');
    expect(events.at(-1)?.reason).toBe('primary_success');
  });
});

describe('QuotaGuard: reset and resume', () => {
  it('reset clears usage and ends a cap error', () => {
    const { guard, events } = makeGuard();
    guard.recordUsage(5_000);
    guard.notifyCapError(60 * M);
    guard.reset();
    expect(guard.info()).toMatchObject({
      state: 'within_quota',
      windowUsageTokens: 0,
      capErrorActive: false,
    });
    expect(guard.decide().route).toBe('primary');
    expect(events.at(-1)?.reason).toBe('reset');
  });

  it('resume ends a cap error but keeps the usage that was spent', () => {
    const { guard } = makeGuard();
    guard.recordUsage(500);
    guard.notifyCapError();
    guard.resume();
    expect(guard.info()).toMatchObject({
      state: 'within_quota',
      windowUsageTokens: 500,
      capErrorActive: false,
    });
    guard.recordUsage(500);
    expect(guard.decide().reason).toBe('budget_exhausted');
  });
});

describe('QuotaGuard: baselines', () => {
  it('places a number at the middle of the window', () => {
    const { guard, clock } = makeGuard();
    guard.loadBaseline(700);
    expect(guard.info().windowUsageTokens).toBe(700);
    clock.advance(2.5 * H);
    expect(guard.info().windowUsageTokens).toBe(700);
    clock.advance(1);
    expect(guard.info().windowUsageTokens).toBe(0);
  });

  it('places timed entries where they happened and expires each at its moment', () => {
    const clock = new ManualClock(10 * H);
    const wall = new ManualClock(1_700_000_000_000);
    const guard = new QuotaGuard({ budget: 1_000, window: '5h', resolution: 0, clock, wallClock: wall });
    const now = wall.now();
    guard.loadBaseline([
      { at: now - 4 * H, tokens: 300 },
      { at: now - 1 * H, tokens: 200 },
      { at: now - 6 * H, tokens: 999 }, // already outside the window
    ]);
    expect(guard.info().windowUsageTokens).toBe(500);
    clock.advance(1 * H);
    wall.advance(1 * H);
    expect(guard.info().windowUsageTokens).toBe(500);
    clock.advance(1);
    wall.advance(1);
    expect(guard.info().windowUsageTokens).toBe(200);
    clock.advance(3 * H);
    expect(guard.info().windowUsageTokens).toBe(0);
  });

  it('reports retryAt on the wall clock', () => {
    const clock = new ManualClock(5_000);
    const wall = new ManualClock(1_700_000_000_000);
    const guard = new QuotaGuard({
      budget: 100,
      window: '1h',
      resolution: 0,
      clock,
      wallClock: wall,
      logger: silentLogger,
    });
    guard.loadBaseline([{ at: wall.now() - 30 * M, tokens: 100 }]);
    const d = guard.decide();
    expect(d.retryInMs).toBe(30 * M + 1);
    expect(d.retryAt).toBe(wall.now() + 30 * M + 1);
  });

  it('counts malformed baselines and keeps the good entries', () => {
    const { guard } = makeGuard();
    guard.loadBaseline(Number.NaN);
    guard.loadBaseline([
      { at: Date.now(), tokens: -1 },
      { at: 'yesterday', tokens: 5 } as never,
      { at: 999_000, tokens: 7 },
    ]);
    expect(guard.info().windowUsageTokens).toBe(7);
    expect(guard.info().ignored.baseline).toBe(3);
  });
});

describe('QuotaGuard: budget 0 and disabled', () => {
  it('budget 0 never trips on usage, only on cap errors', () => {
    const { guard } = makeGuard({ budget: 0 });
    guard.recordUsage(1e12);
    expect(guard.decide()).toMatchObject({ route: 'primary', reason: 'within_quota' });
    expect(guard.info().usagePercent).toBe(0);
    guard.notifyCapError();
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'cap_error' });
  });

  it('a disabled guard always answers primary and records nothing', () => {
    const { guard } = makeGuard({ enabled: false });
    guard.recordUsage(1e9);
    guard.notifyCapError();
    expect(guard.decide()).toMatchObject({ route: 'primary', reason: 'disabled' });
    expect(guard.info()).toMatchObject({ enabled: false, windowUsageTokens: 0, state: 'within_quota' });
  });
});

describe('QuotaGuard: bad usage input', () => {
  it('ignores NaN, negative, infinite, fractional and unsafe usage, counts it and logs it once', () => {
    const { guard, lines } = makeGuard();
    guard.recordUsage(10);
    guard.recordUsage(Number.NaN);
    guard.recordUsage(-5);
    guard.recordUsage(Number.POSITIVE_INFINITY);
    guard.recordUsage(2.5);
    guard.recordUsage(2 ** 53);
    guard.recordUsage(1e308);
    expect(guard.info()).toMatchObject({ windowUsageTokens: 10, ignored: { usage: 6 } });
    expect(lines.filter((l) => l.level === 'warn' && l.message.includes('recordUsage'))).toHaveLength(1);
  });

  it('treats an invalid retry time as absent and counts it', () => {
    const { guard, clock } = makeGuard({ probeInterval: '5m' });
    guard.notifyCapError(Number.NaN);
    expect(guard.info()).toMatchObject({ capErrorActive: true, ignored: { retryAfter: 1 } });
    expect(guard.info().nextProbeAt).toBe(clock.now() + 5 * M);
  });
});

describe('QuotaGuard: events and logs', () => {
  it('logs transitions with the window label and the guard name', () => {
    const { guard, lines } = makeGuard({ name: 'anthropic' });
    guard.recordUsage(2_000);
    guard.decide();
    expect(lines).toContainEqual({
      level: 'warn',
      message:
        'quota-guard [anthropic/5h]: within_quota → quota_exceeded (budget_exhausted at 200.0% of 1000)',
    });
  });

  it('emits probe events and lets listeners unsubscribe', () => {
    const { guard, clock } = makeGuard({ budget: 0 });
    const probes: string[][] = [];
    const off = guard.on('probe', (e) => probes.push([...e.windows]));
    guard.notifyCapError();
    clock.advance(5 * M);
    guard.decide();
    off();
    clock.advance(5 * M);
    guard.decide();
    expect(probes).toEqual([['5h']]);
  });

  it('a listener that throws does not break the guard', () => {
    const { guard, lines } = makeGuard();
    guard.on('stateChange', () => {
      throw new Error('boom');
    });
    guard.notifyCapError();
    expect(guard.info().state).toBe('quota_exceeded');
    expect(lines.some((l) => l.level === 'error' && l.message.includes('listener threw'))).toBe(true);
  });
});
