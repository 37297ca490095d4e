import type { IgnoredInputs } from '../../core/base-guard.js';
import type { Decision, QuotaState, StateChangeEvent, TransitionReason } from '../../core/decision.js';
import { escapeForLog } from '../../core/errors.js';
import { consoleLogger, type Logger } from '../../core/logger.js';
import {
  type ResolvedWindow,
  resolveUpstreamOptions,
  tenantGuardOptions,
  type UpstreamGuardOptions,
} from '../../core/options.js';
import type { CapScope, GuardTarget } from '../store.js';
import { DecisionFlights } from './decision-flights.js';
import type { UpstreamKeys } from './keys.js';
import { RecordLanes } from './record-lanes.js';

/** One guard's part of a script call: its keys and its windows' numbers. */
export interface GuardCall {
  keys: string[];
  /** The guard's windows as the script reads them: `n,ms,res,budget,line,pi,…`. */
  config: string;
  /** The window count, then each window's line for the script's fast path (`-1`: no budget). */
  lines: string[];
  /** Each window's length and slot width, for the script's lean record path. */
  slots: string[];
  /** The keys and arguments of this guard's own decision, built on first use (the same every time). */
  decide?: string[];
  /** The tenant's key; undefined for the upstream's own guard. */
  key: string | undefined;
  windows: readonly ResolvedWindow[];
}

/** Everything about one upstream the store needs on each call, worked out once at `define`. */
export class UpstreamDefinition {
  readonly windows: readonly ResolvedWindow[];
  readonly tenantWindows: readonly ResolvedWindow[];
  readonly enabled: boolean;
  readonly logger: Logger;
  private readonly sharedCall: GuardCall;
  private readonly sharedConfig: string;
  private readonly tenantConfig: string;
  private readonly tenantLines: string[];
  private readonly tenantSlots: string[];
  /** How long this instance's record marker outlives its last write: the longest window and a minute. */
  readonly markerTtl: string;
  /** The upstream's last within-quota decision, by the epochs it carried (reused while they hold). */
  within: { epochs: string; decision: Decision } | undefined;
  /** The next record sequence number of this instance for this upstream. */
  seq = 0;
  /** Records on their way to Redis, by tenant key (undefined: the upstream's own). */
  readonly lanes = new RecordLanes<string | undefined>();
  /** Decisions on their way to Redis, by tenant key (undefined: the upstream's own). */
  readonly flights = new DecisionFlights<string | undefined>();
  /** Inputs this instance refused (not a safe token count, an unusable delay or baseline entry), as `info().ignored`. */
  readonly ignored: IgnoredInputs = { usage: 0, retryAfter: 0, baseline: 0 };

  constructor(
    readonly name: string,
    readonly options: UpstreamGuardOptions,
    readonly capScope: CapScope,
    readonly keys: UpstreamKeys,
  ) {
    const resolved = resolveUpstreamOptions(options);
    this.windows = resolved.windows;
    this.tenantWindows = resolveUpstreamOptions(tenantGuardOptions(options, '')).windows;
    this.enabled = resolved.settings.enabled;
    this.logger = options.logger ?? consoleLogger;
    this.sharedConfig = windowConfig(this.windows);
    this.tenantConfig = windowConfig(this.tenantWindows);
    this.tenantLines = windowLines(this.tenantWindows);
    this.tenantSlots = windowSlots(this.tenantWindows);
    this.markerTtl = String(Math.max(...this.windows.map((w) => w.windowMs)) + 60_000);
    this.sharedCall = {
      keys: keys.keysOf(
        's',
        this.windows.map((w) => w.windowMs),
      ),
      config: this.sharedConfig,
      lines: windowLines(this.windows),
      slots: windowSlots(this.windows),
      key: undefined,
      windows: this.windows,
    };
    this.sharedCalls = [this.sharedCall];
  }

  /** The upstream's own guard, alone: what every call without a tenant touches (one array, not one per call). */
  private readonly sharedCalls: GuardCall[];

  /** The upstream's own guard. */
  shared(): GuardCall {
    return this.sharedCall;
  }

  /** A tenant's guard. */
  tenant(key: string): GuardCall {
    return {
      keys: this.keys.keysOf(
        this.keys.guard(key),
        this.tenantWindows.map((w) => w.windowMs),
      ),
      config: this.tenantConfig,
      lines: this.tenantLines,
      slots: this.tenantSlots,
      key,
      windows: this.tenantWindows,
    };
  }

  /** The guards a decision, a record or a success touch: the upstream's, and the tenant's. */
  both(target: GuardTarget): GuardCall[] {
    return target.key === undefined ? this.sharedCalls : [this.sharedCall, this.tenant(target.key)];
  }

  /** The one guard a look-up, a baseline, a reset or a resume is about. */
  one(target: GuardTarget): GuardCall {
    return target.key === undefined ? this.sharedCall : this.tenant(target.key);
  }

  /** The guard a cap error goes to: the account's, or the tenant's with `capScope: 'key'`. */
  capped(target: GuardTarget): GuardCall {
    return this.capScope === 'key' ? this.one(target) : this.sharedCall;
  }

  /**
   * Logs and emits the state changes a script reported (`guard:window:to:reason:usage`, 1-based),
   * as the core guard would have: one warn line each, and `onStateChange`.
   */
  changed(calls: readonly GuardCall[], changes: string, at: number): void {
    if (changes === '') return;
    for (const change of changes.split(',')) {
      const [g, i, to, reason, usage] = change.split(':');
      const call = calls[Number(g) - 1];
      const window = call?.windows[Number(i) - 1];
      const key = call?.key;
      if (window === undefined) continue;
      const usageTokens = Number(usage);
      const from: QuotaState = to === 'within_quota' ? 'quota_exceeded' : 'within_quota';
      const percent =
        window.budget > 0
          ? ` at ${((usageTokens / window.budget) * 100).toFixed(1)}% of ${window.budget}`
          : '';
      this.logger.warn(`${this.prefix(key, window.label)}: ${from} → ${to} (${reason}${percent})`);
      const event: StateChangeEvent = {
        name: this.name,
        ...(key === undefined ? {} : { key }),
        window: window.label,
        from,
        to: to as QuotaState,
        reason: reason as TransitionReason,
        at,
        usageTokens,
        budgetTokens: window.budget,
      };
      this.options.onStateChange?.(event);
    }
  }

  /** `quota-guard [anthropic key 'a'/5h]`, names and keys escaped, as the core guard writes it. */
  prefix(key: string | undefined, label?: string): string {
    let who = escapeForLog(this.name, 64);
    if (key !== undefined) who += ` key '${escapeForLog(key, 64)}'`;
    return `quota-guard [${who}${label === undefined ? '' : `/${label}`}]`;
  }
}

function windowConfig(windows: readonly ResolvedWindow[]): string {
  const numbers = [windows.length];
  for (const w of windows) {
    // Exact mode (`resolution: 0`) is kept as 1 ms slots: the same expiry for whole milliseconds.
    const resolution = Math.max(1, Math.ceil(w.resolutionMs));
    numbers.push(w.windowMs, resolution, w.budget, w.line, w.probeIntervalMs);
  }
  return numbers.join(',');
}

function windowSlots(windows: readonly ResolvedWindow[]): string[] {
  return windows.flatMap((w) => [String(w.windowMs), String(Math.max(1, Math.ceil(w.resolutionMs)))]);
}

function windowLines(windows: readonly ResolvedWindow[]): string[] {
  return [String(windows.length), ...windows.map((w) => String(w.budget > 0 ? w.line : -1))];
}
