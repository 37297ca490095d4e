import { type Baseline, isTokenCount, isUsableDelay } from './baseline.js';
import type {
  Decision,
  DecisionReason,
  ProbeEvent,
  QuotaState,
  StateChangeEvent,
  TransitionReason,
} from './decision.js';
import { Emitter } from './emitter.js';
import { describeValue, escapeForLog } from './errors.js';
import type { ResolvedSettings, ResolvedWindow } from './options.js';
import {
  Verdict,
  WindowGuard,
  type WindowGuard as WindowGuardType,
  type WindowHost,
} from './window-guard.js';

/** Events a guard emits; subscribe with `guard.on(name, listener)`. */
export interface GuardEvents {
  stateChange: StateChangeEvent;
  probe: ProbeEvent;
}

/** Inputs the guard refused and ignored instead of letting them corrupt its totals. */
export interface IgnoredInputs {
  /** `recordUsage` calls with NaN, negative or infinite tokens. */
  usage: number;
  /** `notifyCapError` calls with a retry time that is NaN, negative or infinite (treated as absent). */
  retryAfter: number;
  /** Baseline numbers or entries that were not finite, non-negative and well-formed. */
  baseline: number;
}

/** What every window reports in `info()`. */
export interface WindowInfo {
  /** The window's label, e.g. `5h`. */
  window: string;
  windowMs: number;
  state: QuotaState;
  windowUsageTokens: number;
  budgetTokens: number;
  /** Usage as a share of the budget, one decimal; `0` without a budget. */
  usagePercent: number;
  thresholdPercent: number;
  capErrorActive: boolean;
  /** Wall-clock time of the next probe (exceeded windows). */
  nextProbeAt?: number;
  /** Wall-clock time at which the window is expected to allow the primary again (exceeded windows). */
  retryAt?: number;
  /** Slots (entries in exact mode) held in memory. */
  slots: number;
}

/** Targets one window of a multi-window guard. */
export interface WindowSelector {
  /** The window's label (`'5h'`) or length (`'5h'`, `18_000_000`). */
  window?: string | number;
}

/**
 * The machinery shared by `QuotaGuard` (one window) and `UpstreamGuard` (several): decisions
 * across windows, outcomes, baselines, events. Public classes add their own `info()`.
 */
export abstract class BaseGuard implements WindowHost {
  protected readonly settings: ResolvedSettings;
  protected readonly windows: readonly WindowGuardType[];
  private readonly emitter: Emitter<GuardEvents>;
  private epochCounter = 0;
  private readonly ignoredInputs: IgnoredInputs = { usage: 0, retryAfter: 0, baseline: 0 };
  private readonly warned = new Set<keyof IgnoredInputs>();
  /** Within quota, every decision is the same value until the epoch moves: no allocation. */
  private withinDecision: Decision;
  private readonly disabledDecision: Decision;
  private readonly offsetCache = { at: Number.NEGATIVE_INFINITY, offset: 0 };
  /** When each probe decision was granted, so its slot can be given back. */
  private readonly probeTimes = new WeakMap<Decision, number>();

  protected constructor(settings: ResolvedSettings, windows: readonly ResolvedWindow[]) {
    this.settings = settings;
    this.emitter = new Emitter<GuardEvents>(settings.logger);
    if (settings.onStateChange) this.emitter.on('stateChange', settings.onStateChange);
    if (settings.onProbe) this.emitter.on('probe', settings.onProbe);
    this.windows = windows.map((config) => new WindowGuard(config, this));
    this.withinDecision = this.primaryDecision('within_quota', false);
    this.disabledDecision = Object.freeze({
      route: 'primary',
      probe: false,
      reason: 'disabled',
      state: 'within_quota',
      epoch: 0,
    });
  }

  /** True unless `enabled: false`. */
  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** The guard's name, if it was given one. */
  get name(): string | undefined {
    return this.settings.name;
  }

  /** `quota_exceeded` when any window is. Lazy like the reference: no transition happens here. */
  get state(): QuotaState {
    for (const w of this.windows) if (w.kind === 'quota_exceeded') return 'quota_exceeded';
    return 'within_quota';
  }

  /**
   * Decides where the next request goes. The primary is used only when every window allows it;
   * while exceeded, one probe per probe interval goes to the primary. A probe slot is spent only
   * when the request really goes: a window that another window overrules keeps its slot.
   *
   * @example
   * const d = guard.decide();
   * if (d.route === 'fallback') return callFallback();
   */
  decide(): Decision {
    if (!this.settings.enabled) return this.disabledDecision;
    if (this.clearlyWithin()) return this.withinDecision;
    return this.decideAt(this.settings.clock.now());
  }

  /** `decide().route === 'primary'`, with the same transitions. */
  canUsePrimary(): boolean {
    return this.decide().route === 'primary';
  }

  /**
   * Charges `tokens` to every window. Anything but a non-negative safe integer (NaN, negative,
   * fractional, infinite, beyond 2^53) is ignored and counted: totals stay exact and finite.
   */
  recordUsage(tokens: number): void {
    if (!this.settings.enabled) return;
    if (!isTokenCount(tokens)) {
      this.ignore(
        'usage',
        `recordUsage() ignored ${describeValue(tokens)}: tokens must be a non-negative safe integer`,
      );
      return;
    }
    if (tokens === 0) return;
    const now = this.settings.clock.now();
    for (const w of this.windows) w.record(now, tokens, now);
  }

  /**
   * Reports a 2xx from the primary. With the request's decision, only a success of a request
   * admitted in the current exceeded period (a probe) recovers the guard; a request admitted
   * before the guard tripped cannot. Without a decision: any success recovers (the reference).
   */
  recordSuccess(decision?: Decision): void {
    if (!this.settings.enabled) return;
    if (decision !== undefined && decision.route !== 'primary') return;
    // A success ends exceeded periods only: within quota there is nothing to do, and no clock
    // to read (the common case, on every request an adapter reports).
    if (this.state === 'within_quota') return;
    const now = this.settings.clock.now();
    for (const w of this.windows) w.success(now, decision?.epoch);
  }

  /**
   * Reports that the upstream said its cap is reached. Every window (or only the one named, when
   * the vendor said which is spent) goes to `quota_exceeded` and stays there until a probe
   * succeeds; with `retryAfterMs` (the upstream's raw delay), probes wait
   * `max(retryAfterMs × 1.1, probeInterval)`.
   */
  notifyCapError(retryAfterMs?: number, target: WindowSelector = {}): void {
    if (!this.settings.enabled) return;
    let retry = retryAfterMs;
    if (retry !== undefined && !isUsableDelay(retry)) {
      this.ignore(
        'retryAfter',
        `notifyCapError() ignored retry time ${String(retry)}: must be finite ms >= 0`,
      );
      retry = undefined;
    }
    const now = this.settings.clock.now();
    for (const w of this.selectWindows(target)) w.capError(now, retry);
  }

  /**
   * Adds usage spent before this process started. A number goes to the middle of each window
   * (`now − window / 2`); entries (`{ at: epochMs, tokens }`) go where they happened and slide
   * out on time. Pass `{ window: '5h' }` to load one window of a multi-window guard.
   */
  loadBaseline(baseline: Baseline, target: WindowSelector = {}): void {
    if (!this.settings.enabled) return;
    const windows = this.selectWindows(target);
    const now = this.settings.clock.now();
    if (typeof baseline === 'number') {
      if (!isTokenCount(baseline)) {
        this.ignore(
          'baseline',
          `loadBaseline() ignored ${describeValue(baseline)}: tokens must be a non-negative safe integer`,
        );
        return;
      }
      if (baseline === 0) return;
      for (const w of windows) w.record(now - w.config.windowMs / 2, baseline, now);
    } else if (Array.isArray(baseline)) {
      const offset = now - this.settings.wallClock.now();
      for (const entry of baseline as readonly unknown[]) {
        const { at, tokens } = (entry ?? {}) as { at?: unknown; tokens?: unknown };
        if (typeof at !== 'number' || !Number.isFinite(at) || !isTokenCount(tokens)) {
          this.ignore(
            'baseline',
            `loadBaseline() ignored an entry ${describeValue(entry)}: want { at, tokens } with tokens a non-negative safe integer`,
          );
          continue;
        }
        if (tokens === 0) continue;
        // Usage cannot have happened in the future; a skewed clock must not keep it longer.
        const monotonicAt = Math.min(at + offset, now);
        for (const w of windows) w.record(monotonicAt, tokens, now);
      }
    } else {
      this.ignore('baseline', `loadBaseline() ignored ${typeof baseline}: want a number or [{ at, tokens }]`);
      return;
    }
    this.settings.logger.info?.(`${this.prefix()}: loaded baseline (${this.usageSummary(now)})`);
  }

  /**
   * Returns the probe slot a decision took, when the request it was granted to did not go to
   * the primary after all (a route budget refused it). No-op for any other decision.
   */
  releaseProbe(decision: Decision): void {
    const at = this.probeTimes.get(decision);
    if (at === undefined) return;
    this.probeTimes.delete(decision);
    for (const w of this.windows) w.releaseProbe(at);
  }

  /** Clears all usage and returns to `within_quota` (the reference's reset). */
  reset(): void {
    const now = this.settings.clock.now();
    for (const w of this.windows) w.reset(now);
  }

  /**
   * Ends an exceeded period, a cap error included, and keeps the recorded usage: the window
   * still counts what was really spent, so a guard over its budget trips again on the next decision.
   */
  resume(): void {
    const now = this.settings.clock.now();
    for (const w of this.windows) w.resume(now);
  }

  /**
   * Subscribes to `stateChange` or `probe` events; returns a function that unsubscribes.
   *
   * @example
   * guard.on('stateChange', (e) => metrics.inc({ window: e.window, to: e.to }));
   */
  on<E extends keyof GuardEvents>(event: E, listener: (event: GuardEvents[E]) => void): () => void {
    return this.emitter.on(event, listener);
  }

  /** Counters of ignored inputs (a copy). */
  protected ignoredSnapshot(): IgnoredInputs {
    return { ...this.ignoredInputs };
  }

  protected windowInfo(w: WindowGuardType, now: number, wallOffset: number): WindowInfo {
    const { budget, thresholdPercent, windowMs, label } = w.config;
    const total = w.usage.total(now);
    const info: WindowInfo = {
      window: label,
      windowMs,
      state: w.kind,
      windowUsageTokens: total,
      budgetTokens: budget,
      usagePercent: budget > 0 ? Math.round((total / budget) * 1000) / 10 : 0,
      thresholdPercent,
      capErrorActive: w.capErrorActive,
      slots: w.usage.size,
    };
    const nextProbeAt = w.nextProbeAt();
    const retryAt = w.retryAt(now);
    if (nextProbeAt !== undefined) info.nextProbeAt = nextProbeAt + wallOffset;
    if (retryAt !== undefined) info.retryAt = retryAt + wallOffset;
    return info;
  }

  /** Wall-clock minus monotonic, for reporting times users can read. */
  protected wallOffset(now: number): number {
    const { clock, wallClock } = this.settings;
    return clock === wallClock ? 0 : wallClock.now() - now;
  }

  /**
   * The offset as of at most a second ago. While exceeded, every request gets a fallback
   * decision with a wall-clock `retryAt`; a second clock read per decision would double its cost,
   * and the two clocks drift apart by far less than a second per second.
   */
  private cachedWallOffset(now: number): number {
    const cache = this.offsetCache;
    if (now - cache.at >= 1_000 || now < cache.at) {
      cache.offset = this.wallOffset(now);
      cache.at = now;
    }
    return cache.offset;
  }

  // --- WindowHost ---

  nextEpoch(): number {
    this.epochCounter++;
    this.withinDecision = this.primaryDecision('within_quota', false);
    return this.epochCounter;
  }

  changed(window: WindowGuardType, from: QuotaState, reason: TransitionReason, now: number): void {
    const to = window.kind;
    const usage = window.usage.total(now);
    const { budget, label } = window.config;
    const percent = budget > 0 ? ` at ${((usage / budget) * 100).toFixed(1)}% of ${budget}` : '';
    // Both ways at one level: a recovery moves every request back to the primary, as much a
    // fact for operators as a trip (and the default logger has no info level).
    this.settings.logger.warn(`${this.prefix(label)}: ${from} → ${to} (${reason}${percent})`);
    if (!this.emitter.has('stateChange')) return;
    const event: StateChangeEvent = {
      window: label,
      from,
      to,
      reason,
      at: now + this.wallOffset(now),
      usageTokens: usage,
      budgetTokens: budget,
      ...this.who(),
    };
    this.emitter.emit('stateChange', event);
  }

  // --- internals ---

  /**
   * True when every window is within quota and even its un-expired usage is below the line.
   * Expiry only lowers usage, so the answer is `within_quota` whatever the time: the common
   * decision needs no clock read (which costs more than the rest of `decide()`).
   */
  private clearlyWithin(): boolean {
    for (const w of this.windows) {
      if (w.kind !== 'within_quota') return false;
      if (w.config.budget > 0 && w.usage.upperBound >= w.config.line) return false;
    }
    return true;
  }

  private decideAt(now: number): Decision {
    let refused = false;
    let probeDue = false;
    let recovered = false;
    for (const w of this.windows) {
      // Every window is evaluated, even after one refused: its transitions are facts about
      // its usage. Only probe slots wait for the verdict of all.
      switch (w.evaluate(now)) {
        case Verdict.Allow:
          break;
        case Verdict.AllowRecovered:
          recovered = true;
          break;
        case Verdict.ProbeDue:
          probeDue = true;
          break;
        case Verdict.Refuse:
          refused = true;
          break;
      }
    }
    if (refused) return this.fallbackDecision(now);
    if (probeDue) return this.grantProbe(now);
    return recovered ? this.primaryDecision('usage_dropped', false) : this.withinDecision;
  }

  private grantProbe(now: number): Decision {
    let capError = false;
    const labels: string[] = [];
    for (const w of this.windows) {
      if (w.kind !== 'quota_exceeded') continue;
      w.takeProbe(now);
      capError ||= w.capErrorActive;
      labels.push(w.config.label);
    }
    this.settings.logger.info?.(`${this.prefix()}: probe granted (${labels.join(', ')})`);
    if (this.emitter.has('probe')) {
      this.emitter.emit('probe', {
        windows: labels,
        at: now + this.wallOffset(now),
        ...this.who(),
      });
    }
    const decision = this.primaryDecision(capError ? 'probe' : 'probe_over_budget', true);
    this.probeTimes.set(decision, now);
    return decision;
  }

  private fallbackDecision(now: number): Decision {
    // The binding window is the one that will hold the primary back longest.
    let binding: WindowGuardType | undefined;
    let retryAt = Number.NEGATIVE_INFINITY;
    for (const w of this.windows) {
      if (w.kind !== 'quota_exceeded') continue;
      const at = w.retryAt(now) ?? now;
      if (binding === undefined || at > retryAt) {
        binding = w;
        retryAt = at;
      }
    }
    const reason: DecisionReason = binding?.capErrorActive ? 'cap_error' : 'budget_exhausted';
    return {
      route: 'fallback',
      probe: false,
      reason,
      state: 'quota_exceeded',
      epoch: this.epochCounter,
      ...(binding === undefined
        ? {}
        : {
            window: binding.config.label,
            retryAt: retryAt + this.cachedWallOffset(now),
            retryInMs: retryAt - now,
          }),
    };
  }

  private primaryDecision(reason: DecisionReason, probe: boolean): Decision {
    return Object.freeze({
      route: 'primary',
      probe,
      reason,
      state: probe ? 'quota_exceeded' : 'within_quota',
      epoch: this.epochCounter,
    });
  }

  private selectWindows(target: WindowSelector): readonly WindowGuardType[] {
    if (target.window === undefined) return this.windows;
    const wanted = target.window;
    const found = this.windows.filter((w) =>
      typeof wanted === 'number' ? w.config.windowMs === wanted : w.config.label === wanted,
    );
    if (found.length === 0) {
      throw new RangeError(
        `quota-guard: no window ${String(wanted)} (windows: ${this.windows.map((w) => w.config.label).join(', ')})`,
      );
    }
    return found;
  }

  private ignore(kind: keyof IgnoredInputs, message: string): void {
    this.ignoredInputs[kind]++;
    // Once per kind: a broken caller would otherwise flood the log on every request.
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.settings.logger.warn(`${this.prefix()}: ${message} (further ones are counted in info().ignored)`);
  }

  /** The guard's name and tenant, for events. */
  private who(): { name?: string; key?: string } {
    const { name, tenant } = this.settings;
    return {
      ...(name === undefined ? {} : { name }),
      ...(tenant === undefined ? {} : { key: tenant }),
    };
  }

  /**
   * `quota-guard [anthropic key 'tenant-a'/5h]`. Names and keys come from outside (a key is
   * often a request header): escaped and cut, so no key can forge or break a log line.
   */
  private prefix(label?: string): string {
    const { name, tenant } = this.settings;
    let who = name === undefined ? '' : escapeForLog(name, 64);
    if (tenant !== undefined) who += `${who === '' ? '' : ' '}key '${escapeForLog(tenant, 64)}'`;
    const parts = [who, label].filter((p) => p !== undefined && p !== '');
    return parts.length > 0 ? `quota-guard [${parts.join('/')}]` : 'quota-guard';
  }

  private usageSummary(now: number): string {
    return this.windows.map((w) => `${w.config.label}: ${w.usage.total(now)} tokens`).join(', ');
  }
}
