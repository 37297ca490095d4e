/**
 * Model-based tests: a small, obviously-correct model of DESIGN.md §2 (an exact list of
 * timestamped entries, no slots, no caches, no epochs) and the real guard run the same random
 * sequences of calls and clock advances, and must agree on every answer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Decision, QuotaGuard, UpstreamGuard } from '../../src/index.js';
import { ManualClock } from '../helpers/manual-clock.js';

interface ModelWindow {
  windowMs: number;
  budget: number;
  line: number;
  probeIntervalMs: number;
  entries: Array<{ at: number; tokens: number }>;
  exceeded: boolean;
  capError: boolean;
  lastProbe: number;
  effectiveInterval: number;
  /** Index of the operation at which the current exceeded period began. */
  periodStart: number;
}

interface ModelDecision {
  primary: boolean;
  probe: boolean;
  /** Index of the operation that took the decision. */
  takenAt: number;
}

/** The reference semantics, restated as plainly as possible. */
class Model {
  windows: ModelWindow[];
  ignoredUsage = 0;
  ignoredRetry = 0;
  ignoredBaseline = 0;

  constructor(
    specs: Array<{ windowMs: number; budget: number; threshold: number; probeIntervalMs: number }>,
  ) {
    this.windows = specs.map((s) => ({
      windowMs: s.windowMs,
      budget: s.budget,
      line: Math.floor(s.budget * (s.threshold / 100)),
      probeIntervalMs: s.probeIntervalMs,
      entries: [],
      exceeded: false,
      capError: false,
      lastProbe: 0,
      effectiveInterval: s.probeIntervalMs,
      periodStart: -1,
    }));
  }

  usage(w: ModelWindow, now: number, extraMs = 0): number {
    return w.entries.filter((e) => e.at >= now - w.windowMs - extraMs).reduce((sum, e) => sum + e.tokens, 0);
  }

  private enterExceeded(w: ModelWindow, now: number, op: number): void {
    w.exceeded = true;
    w.lastProbe = now;
    w.periodStart = op;
  }

  private enterWithin(w: ModelWindow): void {
    w.exceeded = false;
    w.capError = false;
    w.effectiveInterval = w.probeIntervalMs;
  }

  decide(now: number, op: number): ModelDecision {
    let refused = false;
    let probeDue = false;
    for (const w of this.windows) {
      const u = this.usage(w, now);
      if (!w.exceeded) {
        if (w.budget > 0 && u >= w.line) {
          this.enterExceeded(w, now, op);
          refused = true;
        }
      } else if (!w.capError && w.budget > 0 && u < w.line) {
        this.enterWithin(w);
      } else if (now - w.lastProbe >= w.effectiveInterval) {
        probeDue = true;
      } else {
        refused = true;
      }
    }
    if (refused) return { primary: false, probe: false, takenAt: op };
    if (probeDue) {
      for (const w of this.windows) if (w.exceeded) w.lastProbe = now;
      return { primary: true, probe: true, takenAt: op };
    }
    return { primary: true, probe: false, takenAt: op };
  }

  record(tokens: number, now: number): void {
    if (!Number.isFinite(tokens) || tokens < 0) {
      this.ignoredUsage++;
      return;
    }
    if (tokens > 0) for (const w of this.windows) w.entries.push({ at: now, tokens });
  }

  success(decision: ModelDecision | undefined): void {
    for (const w of this.windows) {
      if (!w.exceeded) continue;
      // Without a decision: the reference. With one: only a primary request admitted after
      // the current period began ends it.
      if (decision === undefined || (decision.primary && decision.takenAt > w.periodStart))
        this.enterWithin(w);
    }
  }

  capError(retryAfterMs: number | undefined, now: number, op: number): void {
    let retry = retryAfterMs;
    if (retry !== undefined && (!Number.isFinite(retry) || retry < 0)) {
      this.ignoredRetry++;
      retry = undefined;
    }
    for (const w of this.windows) {
      if (!w.exceeded) this.enterExceeded(w, now, op);
      if (retry !== undefined) w.effectiveInterval = Math.max((retry * 11) / 10, w.probeIntervalMs);
      w.capError = true;
    }
  }

  baseline(tokens: number, now: number): void {
    if (!Number.isFinite(tokens) || tokens < 0) {
      this.ignoredBaseline++;
      return;
    }
    if (tokens > 0) for (const w of this.windows) w.entries.push({ at: now - w.windowMs / 2, tokens });
  }

  reset(): void {
    for (const w of this.windows) {
      w.entries = [];
      this.enterWithin(w);
    }
  }

  resume(): void {
    for (const w of this.windows) if (w.exceeded) this.enterWithin(w);
  }

  info(now: number) {
    return this.windows.map((w) => {
      const u = this.usage(w, now);
      return {
        state: w.exceeded ? 'quota_exceeded' : 'within_quota',
        windowUsageTokens: u,
        usagePercent: w.budget > 0 ? Math.round((u / w.budget) * 1000) / 10 : 0,
        capErrorActive: w.capError,
        nextProbeAt: w.exceeded ? w.lastProbe + w.effectiveInterval : undefined,
      };
    });
  }
}

type Command =
  | { kind: 'advance'; ms: number }
  | { kind: 'decide' }
  | { kind: 'record'; tokens: number }
  | { kind: 'success'; pick: number }
  | { kind: 'capError'; retryAfterMs: number | undefined }
  | { kind: 'baseline'; tokens: number }
  | { kind: 'reset' }
  | { kind: 'resume' };

function commandArb(windowMs: number, budget: number): fc.Arbitrary<Command> {
  const tokens = fc.oneof(
    { weight: 20, arbitrary: fc.integer({ min: 0, max: Math.max(1, Math.ceil(budget / 4)) }) },
    { weight: 1, arbitrary: fc.constantFrom(Number.NaN, -1, Number.POSITIVE_INFINITY) },
  );
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .oneof(
          fc.integer({ min: 0, max: 50 }),
          fc.integer({ min: 0, max: 400_000 }),
          fc.integer({ min: 0, max: windowMs }),
        )
        .map((ms) => ({ kind: 'advance' as const, ms })),
    },
    { weight: 8, arbitrary: fc.constant({ kind: 'decide' as const }) },
    { weight: 6, arbitrary: tokens.map((t) => ({ kind: 'record' as const, tokens: t })) },
    {
      weight: 3,
      arbitrary: fc.integer({ min: -1, max: 4 }).map((pick) => ({ kind: 'success' as const, pick })),
    },
    {
      weight: 1,
      arbitrary: fc
        .option(fc.oneof(fc.integer({ min: 0, max: 3_600_000 }), fc.constant(Number.NaN)), { nil: undefined })
        .map((retryAfterMs) => ({ kind: 'capError' as const, retryAfterMs })),
    },
    { weight: 1, arbitrary: tokens.map((t) => ({ kind: 'baseline' as const, tokens: t })) },
    { weight: 1, arbitrary: fc.constantFrom({ kind: 'reset' as const }, { kind: 'resume' as const }) },
  );
}

interface Guardish {
  decide(): Decision;
  recordUsage(tokens: number): void;
  recordSuccess(decision?: Decision): void;
  notifyCapError(retryAfterMs?: number): void;
  loadBaseline(tokens: number): void;
  reset(): void;
  resume(): void;
}

/** Runs one sequence against the model and the guard; `check` compares their states after each step. */
function runSequence(
  commands: Command[],
  model: Model,
  guard: Guardish,
  clock: ManualClock,
  check: (step: number) => void,
): void {
  const decisions: Array<{ real: Decision; model: ModelDecision }> = [];
  commands.forEach((command, op) => {
    const now = clock.now();
    switch (command.kind) {
      case 'advance':
        clock.advance(command.ms);
        break;
      case 'decide': {
        const real = guard.decide();
        const expected = model.decide(now, op);
        expect({ primary: real.route === 'primary', probe: real.probe }, `op ${op}`).toEqual({
          primary: expected.primary,
          probe: expected.probe,
        });
        decisions.push({ real, model: expected });
        break;
      }
      case 'record':
        guard.recordUsage(command.tokens);
        model.record(command.tokens, now);
        break;
      case 'success': {
        const picked = command.pick < 0 ? undefined : decisions[decisions.length - 1 - command.pick];
        if (command.pick >= 0 && picked === undefined) break;
        guard.recordSuccess(picked?.real);
        model.success(picked?.model);
        break;
      }
      case 'capError':
        guard.notifyCapError(command.retryAfterMs);
        model.capError(command.retryAfterMs, now, op);
        break;
      case 'baseline':
        guard.loadBaseline(command.tokens);
        model.baseline(command.tokens, now);
        break;
      case 'reset':
        guard.reset();
        model.reset();
        break;
      case 'resume':
        guard.resume();
        model.resume();
        break;
    }
    check(op);
  });
}

const configArb = fc.record({
  windowMs: fc.constantFrom(1_000, 60_000, 3_600_000, 18_000_000),
  budget: fc.constantFrom(0, 100, 1_000, 12_345),
  threshold: fc.constantFrom(50, 80, 99, 99.9, 100),
  probeIntervalMs: fc.constantFrom(100, 5_000, 300_000),
});

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

describe('QuotaGuard agrees with the model (resolution 0)', () => {
  it('on every canUsePrimary answer and every info(), over thousands of seeded sequences', () => {
    fc.assert(
      fc.property(
        configArb.chain((config) =>
          fc.tuple(
            fc.constant(config),
            fc.array(commandArb(config.windowMs, config.budget), { maxLength: 120 }),
          ),
        ),
        ([config, commands]) => {
          const clock = new ManualClock(1_000_000);
          const guard = new QuotaGuard({
            budget: config.budget,
            window: config.windowMs,
            thresholdPercent: config.threshold,
            probeInterval: config.probeIntervalMs,
            resolution: 0,
            clock,
            logger: { warn() {}, error() {} },
          });
          const model = new Model([config]);
          runSequence(commands, model, guard, clock, (op) => {
            const real = guard.info();
            const [expected] = model.info(clock.now());
            expect(
              defined({
                state: real.state,
                windowUsageTokens: real.windowUsageTokens,
                usagePercent: real.usagePercent,
                capErrorActive: real.capErrorActive,
                nextProbeAt: real.nextProbeAt,
              }),
              `op ${op}`,
            ).toEqual(defined(expected!));
            expect(real.ignored).toEqual({
              usage: model.ignoredUsage,
              retryAfter: model.ignoredRetry,
              baseline: model.ignoredBaseline,
            });
          });
        },
      ),
      { seed: 20261201, numRuns: 2_000 },
    );
  });
});

describe('UpstreamGuard agrees with the model of several windows (resolution 0)', () => {
  it('on every decision and every window of info()', () => {
    fc.assert(
      fc.property(
        fc
          .tuple(configArb, configArb)
          .filter(([a, b]) => a.windowMs !== b.windowMs)
          .chain((configs) =>
            fc.tuple(
              fc.constant(configs),
              fc.array(commandArb(Math.max(configs[0].windowMs, configs[1].windowMs), configs[0].budget), {
                maxLength: 120,
              }),
            ),
          ),
        ([configs, commands]) => {
          const clock = new ManualClock(1_000_000);
          const guard = new UpstreamGuard({
            windows: configs.map((c) => ({
              window: c.windowMs,
              budget: c.budget,
              thresholdPercent: c.threshold,
              probeInterval: c.probeIntervalMs,
            })),
            resolution: 0,
            clock,
            logger: { warn() {}, error() {} },
          });
          const model = new Model(configs);
          runSequence(commands, model, guard, clock, (op) => {
            const expected = model.info(clock.now());
            const real = guard.info().windows.map((w) =>
              defined({
                state: w.state,
                windowUsageTokens: w.windowUsageTokens,
                usagePercent: w.usagePercent,
                capErrorActive: w.capErrorActive,
                nextProbeAt: w.nextProbeAt,
              }),
            );
            expect(real, `op ${op}`).toEqual(expected.map(defined));
          });
        },
      ),
      { seed: 7, numRuns: 1_000 },
    );
  });
});

describe('with a resolution, usage is bracketed by the exact model', () => {
  it('never below the exact window, never above a window one resolution longer', () => {
    fc.assert(
      fc.property(
        fc.record({
          windowMs: fc.constantFrom(1_000, 60_000, 3_600_000),
          slots: fc.constantFrom(1, 3, 10, 1_000),
        }),
        fc.array(
          fc.oneof(
            fc.integer({ min: 0, max: 5_000 }).map((ms) => ({ kind: 'advance' as const, ms })),
            fc.integer({ min: 0, max: 1_000 }).map((tokens) => ({ kind: 'record' as const, tokens })),
            fc.integer({ min: 1, max: 1_000 }).map((tokens) => ({ kind: 'baseline' as const, tokens })),
          ),
          { maxLength: 200 },
        ),
        fc.integer({ min: 0, max: 10_000_000 }),
        ({ windowMs, slots }, commands, start) => {
          const resolution = windowMs / slots;
          const clock = new ManualClock(start);
          const guard = new QuotaGuard({ window: windowMs, resolution, clock });
          const model = new Model([{ windowMs, budget: 0, threshold: 99, probeIntervalMs: 1 }]);
          for (const command of commands) {
            const now = clock.now();
            if (command.kind === 'advance') clock.advance(command.ms);
            else if (command.kind === 'record') {
              guard.recordUsage(command.tokens);
              model.record(command.tokens, now);
            } else {
              guard.loadBaseline(command.tokens);
              model.baseline(command.tokens, now);
            }
            const w = model.windows[0]!;
            const usage = guard.info().windowUsageTokens;
            expect(usage).toBeGreaterThanOrEqual(model.usage(w, clock.now()));
            expect(usage).toBeLessThanOrEqual(model.usage(w, clock.now(), resolution));
          }
        },
      ),
      { seed: 99, numRuns: 2_000 },
    );
  });
});
