import { describe, expect, it } from 'vitest';
import { type ProbeEvent, UpstreamGuard, type UpstreamGuardOptions } from '../../src/index.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

const M = 60_000;
const H = 60 * M;

function makeGuard(options: Partial<UpstreamGuardOptions> = {}) {
  const clock = new ManualClock();
  const probes: ProbeEvent[] = [];
  const guard = new UpstreamGuard({
    name: 'anthropic',
    windows: [
      { window: '5h', budget: 1_000, probeInterval: '5m' },
      { window: '7d', budget: 5_000, probeInterval: '30m' },
    ],
    resolution: 0,
    clock,
    logger: captureLogger().logger,
    onProbe: (e) => probes.push(e),
    ...options,
  });
  return { guard, clock, probes };
}

describe('UpstreamGuard', () => {
  it('uses the primary only when every window allows it, naming the window that refused', () => {
    const { guard } = makeGuard();
    guard.recordUsage(500);
    expect(guard.decide().route).toBe('primary');
    guard.recordUsage(500);
    const d = guard.decide();
    expect(d).toMatchObject({ route: 'fallback', reason: 'budget_exhausted', window: '5h' });
    const info = guard.info();
    expect(info.state).toBe('quota_exceeded');
    expect(info.windows.map((w) => [w.window, w.state, w.windowUsageTokens])).toEqual([
      ['5h', 'quota_exceeded', 1_000],
      ['7d', 'within_quota', 1_000],
    ]);
  });

  it('charges usage and cap errors to every window', () => {
    const { guard } = makeGuard();
    guard.recordUsage(42);
    guard.notifyCapError(60 * M);
    const info = guard.info();
    expect(info.windows.map((w) => [w.windowUsageTokens, w.capErrorActive, w.state])).toEqual([
      [42, true, 'quota_exceeded'],
      [42, true, 'quota_exceeded'],
    ]);
    expect(guard.decide().reason).toBe('cap_error');
  });

  it('grants a probe only when every exceeded window allows one, and spends it in all at once', () => {
    const { guard, clock, probes } = makeGuard();
    guard.notifyCapError();
    clock.advance(5 * M);
    // 5h would allow a probe, 7d (30 min) would not: no probe, and 5h keeps its slot.
    expect(guard.decide()).toMatchObject({ route: 'fallback', reason: 'cap_error', window: '7d' });
    clock.advance(25 * M);
    const probe = guard.decide();
    expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe' });
    expect(probes.map((p) => p.windows)).toEqual([['5h', '7d']]);
    // Spent in both: the 5h window's next probe is 5 min after this one, the 7d's 30 min.
    const info = guard.info();
    expect(info.windows.map((w) => (w.nextProbeAt ?? 0) - clock.now())).toEqual([5 * M, 30 * M]);
    guard.recordSuccess(probe);
    expect(guard.info().state).toBe('within_quota');
  });

  it('asking is not consuming: a window overruled by another keeps its probe slot', () => {
    const { guard, clock } = makeGuard();
    guard.recordUsage(5_000); // both windows over their lines
    expect(guard.decide().route).toBe('fallback');
    clock.advance(5 * M); // 5h's probe is due, 7d's is not
    for (let i = 0; i < 10; i++) expect(guard.decide().route).toBe('fallback');
    const fiveHours = guard.info().windows[0]!;
    // The 5h window was asked ten times; its probe is still due now, not 5 minutes from now.
    expect(fiveHours.nextProbeAt).toBe(clock.now());
  });

  it('recovers each window by its own usage and keeps the others exceeded', () => {
    const { guard, clock } = makeGuard({
      windows: [
        { window: '1h', budget: 100, probeInterval: '10h' },
        { window: '2h', budget: 150, probeInterval: '10h' },
      ],
    });
    guard.recordUsage(100);
    clock.advance(30 * M);
    guard.recordUsage(60);
    expect(guard.decide()).toMatchObject({ route: 'fallback', window: '2h' });
    clock.advance(30 * M + 1); // the first 100 leave the 1h window
    expect(guard.decide()).toMatchObject({ route: 'fallback', window: '2h' });
    expect(guard.info().windows.map((w) => w.state)).toEqual(['within_quota', 'quota_exceeded']);
    clock.advance(1 * H); // and the 2h window
    expect(guard.decide()).toMatchObject({ route: 'primary', reason: 'usage_dropped' });
  });

  it('a probe success recovers only the windows whose period the probe belonged to', () => {
    const { guard, clock } = makeGuard({
      windows: [
        { window: '5h', budget: 100, probeInterval: '5m' },
        { window: '7d', budget: 300, probeInterval: '5m' },
      ],
    });
    guard.recordUsage(100);
    expect(guard.decide()).toMatchObject({ route: 'fallback', window: '5h' });
    clock.advance(5 * M);
    const probe = guard.decide(); // the 5h window's probe; 7d is within quota
    expect(probe).toMatchObject({ probe: true, reason: 'probe_over_budget' });
    guard.recordUsage(250); // the probe's own usage trips the 7d window
    expect(guard.decide()).toMatchObject({ route: 'fallback', window: '7d', reason: 'budget_exhausted' });
    guard.recordSuccess(probe);
    // The 5h period ended with its probe; the 7d period began after the probe was admitted.
    expect(guard.info().windows.map((w) => w.state)).toEqual(['within_quota', 'quota_exceeded']);
  });

  it('reports when the primary is expected back: the latest of the exceeded windows', () => {
    const { guard, clock } = makeGuard({
      windows: [
        { window: '1h', budget: 100 },
        { window: '2h', budget: 100 },
      ],
    });
    guard.recordUsage(100);
    const d = guard.decide();
    expect(d.retryInMs).toBe(2 * H + 1);
    expect(guard.info().retryAt).toBe(clock.now() + 2 * H + 1);
  });

  it('loads a baseline into one window or into all', () => {
    const { guard } = makeGuard();
    guard.loadBaseline(300, { window: '7d' });
    guard.loadBaseline(10);
    expect(guard.info().windows.map((w) => w.windowUsageTokens)).toEqual([10, 310]);
    expect(() => guard.loadBaseline(1, { window: '1h' })).toThrow('no window 1h (windows: 5h, 7d)');
  });
});

describe('UpstreamGuard.releaseProbe', () => {
  it('gives back the slot of a probe whose request did not go to the primary', () => {
    const { guard, clock } = makeGuard();
    guard.notifyCapError();
    clock.advance(30 * M);
    const probe = guard.decide();
    expect(probe.probe).toBe(true);
    expect(guard.decide().route).toBe('fallback');
    guard.releaseProbe(probe);
    const again = guard.decide();
    expect(again).toMatchObject({ route: 'primary', probe: true });
    // Releasing twice, or releasing a decision that was not a probe, changes nothing.
    guard.releaseProbe(probe);
    guard.releaseProbe(guard.decide());
    expect(guard.decide().route).toBe('fallback');
  });

  it('does not undo a probe of a later period', () => {
    const { guard, clock } = makeGuard();
    guard.notifyCapError();
    clock.advance(30 * M);
    const probe = guard.decide();
    guard.recordSuccess(probe);
    guard.notifyCapError();
    guard.releaseProbe(probe);
    expect(guard.decide().route).toBe('fallback');
  });
});
