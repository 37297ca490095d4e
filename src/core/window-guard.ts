import type { QuotaState, TransitionReason } from './decision.js';
import type { ResolvedWindow } from './options.js';
import { SlidingWindow } from './sliding-window.js';

/** Each state carries only its own data. */
type WindowState =
  | { readonly kind: 'within_quota' }
  | {
      readonly kind: 'quota_exceeded';
      /** The guard-wide epoch this period began at; decisions taken earlier are stale. */
      readonly epoch: number;
      readonly since: number;
      lastProbeAt: number;
      /** Set by a cap error: only a successful probe ends the period then. */
      capError: boolean;
      /** `max(retryAfter × 1.1, probeInterval)` after a cap error with a retry time. */
      probeIntervalMs: number;
    };

/** What one window says about a request, before any probe slot is spent. */
export const Verdict = {
  Allow: 0,
  /** Allowed because usage slid below the line, which just ended an exceeded period. */
  AllowRecovered: 1,
  /** Exceeded, and its probe interval has passed: a probe may go if no other window refuses. */
  ProbeDue: 2,
  Refuse: 3,
} as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

/** What a window needs from the guard that owns it. */
export interface WindowHost {
  nextEpoch(): number;
  changed(window: WindowGuard, from: QuotaState, reason: TransitionReason, now: number): void;
}

/**
 * The reference's state machine for one window, with time passed in by the owner. It never
 * reads a clock and never sets a timer: transitions happen when the next call arrives.
 */
export class WindowGuard {
  readonly config: ResolvedWindow;
  readonly usage: SlidingWindow;
  private state: WindowState = { kind: 'within_quota' };
  private readonly host: WindowHost;
  private retryCache = { version: -1, line: -1, at: 0 };
  private lastGrant: { at: number; previous: number; epoch: number } | undefined;

  constructor(config: ResolvedWindow, host: WindowHost) {
    this.config = config;
    this.host = host;
    this.usage = new SlidingWindow(config.windowMs, config.resolutionMs);
  }

  get kind(): QuotaState {
    return this.state.kind;
  }

  get capErrorActive(): boolean {
    return this.state.kind === 'quota_exceeded' && this.state.capError;
  }

  /** Decides for one request; may change state, never spends a probe slot. */
  evaluate(now: number): Verdict {
    const { budget, line } = this.config;
    const total = this.usage.total(now);
    const state = this.state;
    switch (state.kind) {
      case 'within_quota':
        if (budget > 0 && total >= line) {
          this.enterExceeded(now, 'budget_exhausted');
          return Verdict.Refuse;
        }
        return Verdict.Allow;
      case 'quota_exceeded':
        // A cap error holds the window until a probe succeeds; without one, usage sliding
        // below the line ends the period.
        if (!state.capError && budget > 0 && total < line) {
          this.enterWithin(now, 'usage_dropped');
          return Verdict.AllowRecovered;
        }
        return now - state.lastProbeAt >= state.probeIntervalMs ? Verdict.ProbeDue : Verdict.Refuse;
    }
  }

  /** Spends this window's probe slot: called only once every window has agreed. */
  takeProbe(now: number): void {
    if (this.state.kind !== 'quota_exceeded') return;
    this.lastGrant = { at: now, previous: this.state.lastProbeAt, epoch: this.state.epoch };
    this.state.lastProbeAt = now;
  }

  /**
   * Gives back the slot of the probe granted at `at`, when a later check (a route budget)
   * refused the request it was granted to. Only the latest grant of the same period is undone.
   */
  releaseProbe(at: number): void {
    const grant = this.lastGrant;
    const state = this.state;
    if (grant === undefined || grant.at !== at || state.kind !== 'quota_exceeded') return;
    if (state.epoch !== grant.epoch || state.lastProbeAt !== at) return;
    state.lastProbeAt = grant.previous;
    this.lastGrant = undefined;
  }

  record(at: number, tokens: number, now: number): void {
    this.usage.add(at, tokens, now);
  }

  /** A 2xx from the primary. `epoch` is the decision's, or undefined for the reference's rule. */
  success(now: number, decisionEpoch: number | undefined): void {
    const state = this.state;
    if (state.kind !== 'quota_exceeded') return;
    if (decisionEpoch !== undefined && decisionEpoch < state.epoch) return;
    this.enterWithin(now, decisionEpoch === undefined ? 'primary_success' : 'probe_success');
  }

  capError(now: number, retryAfterMs: number | undefined): void {
    if (this.state.kind !== 'quota_exceeded') this.enterExceeded(now, 'cap_error');
    const state = this.state as Extract<WindowState, { kind: 'quota_exceeded' }>;
    state.capError = true;
    if (retryAfterMs !== undefined) {
      // × 11 / 10 rather than × 1.1: exact for whole milliseconds (3_600_000 × 1.1 is not).
      // Capped at 2^53 ms: a finite interval, whatever the caller passed (× 1.1 of 1e308 is Infinity).
      state.probeIntervalMs = Math.min(
        Math.max((retryAfterMs * 11) / 10, this.config.probeIntervalMs),
        Number.MAX_SAFE_INTEGER,
      );
    }
  }

  /** Clears usage and returns to `within_quota` (the reference's reset). */
  reset(now: number): void {
    this.usage.clear();
    if (this.state.kind === 'quota_exceeded') this.enterWithin(now, 'reset');
  }

  /** Ends an exceeded period (cap error included) but keeps the usage that was really spent. */
  resume(now: number): void {
    if (this.state.kind === 'quota_exceeded') this.enterWithin(now, 'resume');
  }

  nextProbeAt(): number | undefined {
    const state = this.state;
    return state.kind === 'quota_exceeded' ? state.lastProbeAt + state.probeIntervalMs : undefined;
  }

  /**
   * When the primary is expected back: the next probe after a cap error (only a probe can end
   * it), or the moment enough usage slides out to fall below the line.
   */
  retryAt(now: number): number | undefined {
    const state = this.state;
    if (state.kind !== 'quota_exceeded') return undefined;
    if (state.capError || this.config.budget === 0) return state.lastProbeAt + state.probeIntervalMs;
    const version = this.usage.version;
    const cache = this.retryCache;
    if (cache.version !== version || cache.line !== this.config.line) {
      cache.at = this.usage.timeBelow(this.config.line, now);
      cache.version = this.usage.version;
      cache.line = this.config.line;
    }
    return Math.max(cache.at, now);
  }

  private enterExceeded(now: number, reason: TransitionReason): void {
    this.state = {
      kind: 'quota_exceeded',
      epoch: this.host.nextEpoch(),
      since: now,
      lastProbeAt: now,
      capError: false,
      probeIntervalMs: this.config.probeIntervalMs,
    };
    this.host.changed(this, 'within_quota', reason, now);
  }

  private enterWithin(now: number, reason: TransitionReason): void {
    this.state = { kind: 'within_quota' };
    this.host.changed(this, 'quota_exceeded', reason, now);
  }
}
