import type { Clock } from './clock.js';
import { wallClock as dateClock, monotonicClock } from './clock.js';
import type { ProbeEvent, StateChangeEvent } from './decision.js';
import { type Duration, formatDuration, parseDuration } from './duration.js';
import { describeValue, optionError, QuotaGuardError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';

/** One sliding window of an upstream's quota. */
export interface WindowOptions {
  /** Length of the window: milliseconds or `'5h'`, `'7d'`, `'300s'`. */
  window: Duration;
  /** Tokens allowed in the window. `0` = no budget: only cap errors exceed. Default `0`. */
  budget?: number;
  /**
   * Tokens each tenant (`key`) may spend in this window, counted on top of `budget`, which every
   * tenant's usage counts against too. `0` = tenants have no budget of their own. Default: `budget`.
   * Read by stores for tenant guards; a guard used on its own ignores it.
   */
  tenantBudget?: number;
  /** Overrides the guard's `thresholdPercent` for this window. */
  thresholdPercent?: number;
  /** Overrides the guard's `probeInterval` for this window. */
  probeInterval?: Duration;
  /** Overrides the guard's `resolution` for this window. */
  resolution?: Duration;
}

/** Options every guard shares. */
export interface GuardSettings {
  /** Share of the budget at which the window trips, in (0, 100]. Default `99`. */
  thresholdPercent?: number;
  /** Spacing of probes while exceeded. Default `'5m'` (300 s). */
  probeInterval?: Duration;
  /**
   * Slot size of the sliding window. `0` keeps every entry (exact, unbounded memory, the
   * reference's behaviour). Default: `window / 1000`, so a window holds at most ~1,000 slots
   * and counts a token at most that much longer than exact (never shorter).
   */
  resolution?: Duration;
  /** A disabled guard always answers primary and records nothing. Default `true`. */
  enabled?: boolean;
  /** Monotonic milliseconds. Default `performance`. Inject a manual clock in tests. */
  clock?: Clock;
  /**
   * Wall-clock milliseconds since the epoch, used to place timed baselines and to report
   * `retryAt`. Default `Date`, or `clock` itself when a `clock` is injected without one.
   */
  wallClock?: Clock;
  /** Where state changes and misuse are logged. Default: warnings and errors to the console. */
  logger?: Logger;
  /** Shown in log lines and events, e.g. the upstream's name. */
  name?: string;
  /**
   * The tenant key this guard counts for (stores set it for tenant guards): shown, escaped, in
   * log lines and as `key` in events, so a tenant's state change says whose it is.
   */
  tenant?: string;
  /** Called on every state change of every window. */
  onStateChange?: (event: StateChangeEvent) => void;
  /** Called when a probe is granted. */
  onProbe?: (event: ProbeEvent) => void;
}

/** Options of a guard over several windows of one upstream. */
export interface UpstreamGuardOptions extends GuardSettings {
  /** At least one window, e.g. `[{ window: '5h', budget: 2e6 }, { window: '7d', budget: 2e7 }]`. */
  windows: readonly WindowOptions[];
}

/** Options of a guard over one window (the reference's guard). */
export interface QuotaGuardOptions extends GuardSettings {
  /** Tokens allowed in the window. `0` = no budget: only cap errors exceed. Default `0`. */
  budget?: number;
  /** Length of the window. Default `'5h'`. */
  window?: Duration;
}

export interface ResolvedWindow {
  readonly windowMs: number;
  readonly label: string;
  readonly budget: number;
  readonly thresholdPercent: number;
  /** `floor(budget × threshold)`: usage at or above it trips the window. */
  readonly line: number;
  readonly probeIntervalMs: number;
  readonly resolutionMs: number;
}

export interface ResolvedSettings {
  readonly enabled: boolean;
  readonly clock: Clock;
  readonly wallClock: Clock;
  readonly logger: Logger;
  readonly name: string | undefined;
  readonly tenant: string | undefined;
  readonly onStateChange: ((event: StateChangeEvent) => void) | undefined;
  readonly onProbe: ((event: ProbeEvent) => void) | undefined;
}

const DEFAULT_THRESHOLD_PERCENT = 99;
const DEFAULT_PROBE_INTERVAL_MS = 300_000;
const DEFAULT_SLOTS_PER_WINDOW = 1_000;

// The compiler keeps these maps exhaustive, so a new option cannot be forgotten by the check
// for unknown keys (which catches typos such as `treshold`).
export const SETTING_KEYS: { [K in keyof Required<GuardSettings>]: true } = {
  thresholdPercent: true,
  probeInterval: true,
  resolution: true,
  enabled: true,
  clock: true,
  wallClock: true,
  logger: true,
  name: true,
  tenant: true,
  onStateChange: true,
  onProbe: true,
};
const UPSTREAM_KEYS: { [K in keyof Required<UpstreamGuardOptions>]: true } = {
  ...SETTING_KEYS,
  windows: true,
};
const QUOTA_KEYS: { [K in keyof Required<QuotaGuardOptions>]: true } = {
  ...SETTING_KEYS,
  budget: true,
  window: true,
};
const WINDOW_KEYS: { [K in keyof Required<WindowOptions>]: true } = {
  window: true,
  budget: true,
  tenantBudget: true,
  thresholdPercent: true,
  probeInterval: true,
  resolution: true,
};

export function checkKnownKeys(options: object, known: Record<string, true>, path: string): void {
  for (const key of Object.keys(options)) {
    // Own properties only: `constructor`, `__proto__` and `toString` are no options.
    if (!Object.hasOwn(known, key)) {
      throw new QuotaGuardError(
        'ERR_QUOTA_GUARD_OPTION',
        `${path}${key}`,
        `unknown option ${path}${key} (known: ${Object.keys(known).join(', ')})`,
      );
    }
  }
}

function checkObject(value: unknown, option: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw optionError(option, 'an object', value);
  }
}

function resolveBudget(value: unknown, option: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw optionError(option, 'a non-negative finite number of tokens', value);
  }
  return value;
}

function resolveThreshold(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > 100) {
    throw optionError(option, 'a number in (0, 100]', value);
  }
  if (value < 1) {
    // Other limiters take a fraction (0.9); here it is a percentage, and 0.9 would trip at 0.9%.
    throw optionError(
      option,
      `a percentage from 1 to 100 (write ${Math.round(value * 10_000) / 100} for ${Math.round(value * 10_000) / 100}%; a share of 1 is not taken)`,
      value,
    );
  }
  return value;
}

function resolveClock(value: unknown, option: string): Clock | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || typeof (value as Clock).now !== 'function') {
    throw optionError(option, 'an object with a now() method returning milliseconds', value);
  }
  return value as Clock;
}

export function resolveFunction<F>(value: unknown, option: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw optionError(option, 'a function', value);
  return value as F;
}

function resolveLogger(value: unknown): Logger {
  if (value === undefined) return consoleLogger;
  const logger = value as Partial<Logger> | null;
  if (
    typeof logger !== 'object' ||
    logger === null ||
    typeof logger.warn !== 'function' ||
    typeof logger.error !== 'function'
  ) {
    throw optionError('logger', 'an object with warn() and error() methods (console, pino, winston)', value);
  }
  return logger as Logger;
}

interface WindowDefaults {
  thresholdPercent: number;
  probeIntervalMs: number;
  resolution: Duration | undefined;
}

function resolveDefaults(options: GuardSettings): WindowDefaults {
  return {
    thresholdPercent: resolveThreshold(
      options.thresholdPercent,
      'thresholdPercent',
      DEFAULT_THRESHOLD_PERCENT,
    ),
    probeIntervalMs:
      options.probeInterval === undefined
        ? DEFAULT_PROBE_INTERVAL_MS
        : parseDuration(options.probeInterval, 'probeInterval'),
    resolution: options.resolution,
  };
}

function resolveWindow(
  // Loosely typed on purpose: JavaScript callers and JSON configs reach here unchecked.
  options: { readonly [K in keyof WindowOptions]?: unknown },
  defaults: WindowDefaults,
  path: string,
): ResolvedWindow {
  const windowMs = parseDuration(options.window, `${path}window`);
  const budget = resolveBudget(options.budget, `${path}budget`);
  if (options.tenantBudget !== undefined) resolveBudget(options.tenantBudget, `${path}tenantBudget`);
  const thresholdPercent = resolveThreshold(
    options.thresholdPercent,
    `${path}thresholdPercent`,
    defaults.thresholdPercent,
  );
  const probeIntervalMs =
    options.probeInterval === undefined
      ? defaults.probeIntervalMs
      : parseDuration(options.probeInterval, `${path}probeInterval`);
  const resolutionOption = options.resolution === undefined ? 'resolution' : `${path}resolution`;
  const resolutionValue = options.resolution ?? defaults.resolution;
  const resolutionMs =
    resolutionValue === undefined
      ? windowMs / DEFAULT_SLOTS_PER_WINDOW
      : parseDuration(resolutionValue, resolutionOption, true);
  if (resolutionMs > windowMs) {
    throw optionError(
      resolutionOption,
      `no longer than the window (${formatDuration(windowMs)})`,
      resolutionValue,
    );
  }
  return {
    windowMs,
    label: formatDuration(windowMs),
    budget,
    thresholdPercent,
    // The reference's `int(budget * threshold_percent / 100.0)`, same float operations.
    line: Math.floor(budget * (thresholdPercent / 100)),
    probeIntervalMs,
    resolutionMs,
  };
}

function resolveSettings(options: GuardSettings): ResolvedSettings {
  if (options.enabled !== undefined && typeof options.enabled !== 'boolean') {
    throw optionError('enabled', 'a boolean', options.enabled);
  }
  if (options.name !== undefined && typeof options.name !== 'string') {
    throw optionError('name', 'a string', options.name);
  }
  if (options.tenant !== undefined && typeof options.tenant !== 'string') {
    throw optionError('tenant', 'a string', options.tenant);
  }
  const clock = resolveClock(options.clock, 'clock');
  const wall = resolveClock(options.wallClock, 'wallClock');
  return {
    enabled: options.enabled ?? true,
    clock: clock ?? monotonicClock,
    // A test that injects one manual clock means it to be the only time there is.
    wallClock: wall ?? clock ?? dateClock,
    logger: resolveLogger(options.logger),
    name: options.name,
    tenant: options.tenant,
    onStateChange: resolveFunction(options.onStateChange, 'onStateChange'),
    onProbe: resolveFunction(options.onProbe, 'onProbe'),
  };
}

export function resolveUpstreamOptions(options: UpstreamGuardOptions): {
  settings: ResolvedSettings;
  windows: ResolvedWindow[];
} {
  checkObject(options, 'options');
  checkKnownKeys(options, UPSTREAM_KEYS, '');
  if (!Array.isArray(options.windows) || options.windows.length === 0) {
    throw optionError('windows', 'a non-empty array of { window, budget }', options.windows);
  }
  const defaults = resolveDefaults(options);
  const windows = options.windows.map((w: unknown, i) => {
    checkObject(w, `windows[${i}]`);
    checkKnownKeys(w, WINDOW_KEYS, `windows[${i}].`);
    return resolveWindow(w, defaults, `windows[${i}].`);
  });
  const labels = new Set<string>();
  for (const [i, w] of windows.entries()) {
    if (labels.has(w.label)) {
      throw optionError(`windows[${i}].window`, 'a length no other window has', describeValue(w.label));
    }
    labels.add(w.label);
  }
  return { settings: resolveSettings(options), windows };
}

export function resolveQuotaOptions(options: QuotaGuardOptions): {
  settings: ResolvedSettings;
  window: ResolvedWindow;
} {
  checkObject(options, 'options');
  checkKnownKeys(options, QUOTA_KEYS, '');
  const defaults = resolveDefaults(options);
  // The reference's default window: 18,000 s.
  const window = resolveWindow({ window: options.window ?? '5h', budget: options.budget }, defaults, '');
  return { settings: resolveSettings(options), window };
}

/**
 * The options of a tenant's guard: the upstream's, each window's budget replaced by its
 * `tenantBudget`, named for the tenant.
 */
export function tenantGuardOptions(options: UpstreamGuardOptions, tenant: string): UpstreamGuardOptions {
  return {
    ...options,
    tenant,
    windows: options.windows.map(({ tenantBudget, ...w }) =>
      tenantBudget === undefined ? w : { ...w, budget: tenantBudget },
    ),
  };
}
