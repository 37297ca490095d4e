import type { Baseline } from '../core/baseline.js';
import type { Duration } from '../core/duration.js';
import { parseDuration, parseTimerDuration } from '../core/duration.js';
import { optionError } from '../core/errors.js';
import { consoleLogger, type Logger } from '../core/logger.js';
import {
  checkKnownKeys,
  type GuardSettings,
  resolveFunction,
  resolveUpstreamOptions,
  SETTING_KEYS,
  type UpstreamGuardOptions,
  type WindowOptions,
} from '../core/options.js';
import { MemoryStore } from '../stores/memory-store.js';
import type { QuotaStore } from '../stores/store.js';
import { classifyUpstreamError } from '../usage/classify.js';
import { defaultWeigh, type VendorChoice, type Weigh } from '../usage/token-usage.js';
import type { CapErrorClassifier, UpstreamErrorClassifier } from './outcome.js';

const VENDOR_CHOICES: readonly VendorChoice[] = ['anthropic', 'openai', 'gemini', 'auto'];

/** `standardHeaders`: express-rate-limit's spellings; `true` is the latest draft. */
export type StandardHeaders = boolean | 'draft-6' | 'draft-7' | 'draft-8';
export type HeaderDraft = 'draft-6' | 'draft-7' | 'draft-8';

/** What a baseline loader is asked for: one window of one upstream (and tenant). */
export interface BaselineRequest {
  upstream: string;
  /** The window's label, e.g. `5h`. */
  window: string;
  windowMs: number;
  /** The tenant key, or undefined for the upstream's shared budget. */
  key: string | undefined;
  /** Set when the window is a route budget's (`guard.budget({ name })`): its name. */
  budget?: string;
}

/**
 * Reads usage spent before this process started, e.g. from the app's own request log.
 * Return a token count (placed at the window's middle), timed entries, or undefined for none.
 */
export type BaselineLoader = (
  request: BaselineRequest,
) => Promise<Baseline | undefined> | Baseline | undefined;

/** Options every adapter takes; each adapter adds `key`, `usage` and `handler` in its own types. */
export interface MiddlewareOptions extends Omit<GuardSettings, 'name' | 'tenant'> {
  /** The upstream's name: tells guards apart, and shows in decisions, logs and status. Required. */
  upstream: string;
  /** The upstream's windows, e.g. `[{ window: '5h', budget: 2e6 }, { window: '7d', budget: 2e7 }]`. Required. */
  windows: readonly WindowOptions[];
  /** Where guard state lives. Default: a new `MemoryStore` of this guard's own. */
  store?: QuotaStore;
  /** Tenants kept in memory (least recently used dropped beyond it). Default `10_000`. Ignored with `store`. */
  maxKeys?: number;
  /** Tenant keys longer than this are replaced by their SHA-256. Default `256`. */
  maxKeyLength?: number;
  /** Loads each window's usage at startup (and each tenant's on first sight). */
  loadBaseline?: BaselineLoader;
  /** How long requests wait for baselines before the guard serves without them. Default `'5s'`. */
  baselineTimeout?: Duration;
  /** How long a request waits for a `key` function's promise; then it is charged to the shared budget (counted). Default `'5s'`. */
  keyTimeout?: Duration;
  /** How long the hook waits for a `usage` function's promise; then nothing is charged for that answer (counted). Default `'30s'`. */
  usageTimeout?: Duration;
  /**
   * How long the hook waits for the app to finish once the client has gone (its usage may come
   * later). Then it records what it has, and counts no success: an answer the app never
   * finished ends no cap error. Default `'60s'`.
   */
  abandonedTimeout?: Duration;
  /**
   * Largest usage one answer may report. More (or anything but a whole non-negative number) is
   * not charged and is counted in `info().problems.implausibleUsage`. Default `10_000_000`.
   */
  maxTokensPerResponse?: number;
  /** Bytes a compressed body may inflate to while read for usage; past it, reading stops (counted). Default 64 MiB. */
  maxInflatedBytes?: number;
  /** Tells a cap error from other failures with a yes or no; overrides `classify`. */
  isCapError?: CapErrorClassifier;
  /** Tells a cap error from a transient one from anything else. Default: `classifyUpstreamError`. */
  classify?: UpstreamErrorClassifier;
  /** Turns a vendor's usage object into the tokens charged (built-in extractors). Default: every token. */
  weigh?: Weigh;
  /** JSON bodies longer than this are not read for usage (the miss is counted). Default 1 MiB. */
  maxJsonBytes?: number;
  /** One SSE event longer than this ends extraction for that stream. Default 1 MiB. */
  maxEventBytes?: number;
  /** Let a window the vendor reports at or over the threshold go to `quota_exceeded` with the vendor's reset. Default `false`. */
  calibrate?: boolean;
  /** Longest `Retry-After` believed; longer ones are clamped. Default `'7d'`. */
  maxRetryAfter?: Duration;
  /** `'continue'`: route to the fallback and let the app serve it. `'reject'`: answer 429. Default `'continue'`. */
  onExceeded?: 'continue' | 'reject';
  /**
   * IETF RateLimit headers on 429 answers: `'draft-8'` (or `true`): `RateLimit-Policy` and
   * `RateLimit`, one member per window, quota unit tokens; `'draft-7'`: combined `RateLimit` and
   * `RateLimit-Policy` of the binding window; `'draft-6'`: `RateLimit-Limit`, `-Remaining`,
   * `-Reset`, `-Policy`. express-rate-limit's spellings. Default `false`.
   */
  standardHeaders?: StandardHeaders;
  /** Where requests go while the store fails. Default `'primary'` (the upstream's own 429 still trips the guard once the store is back). */
  onStoreError?: 'primary' | 'fallback';
}

/** The adapter-specific callbacks, in framework-neutral form (the adapter wraps the user's). */
export interface ContextCallbacks<Ctx> {
  key: ((ctx: Ctx) => unknown) | undefined;
  /** Requests the guard leaves alone (no decision, nothing reported), e.g. health checks. */
  skip: ((ctx: Ctx) => unknown) | undefined;
  /** A function of the app's, or undefined when a built-in extractor (or nothing) reads usage. */
  usage: ((ctx: Ctx) => unknown) | undefined;
}

export interface ResolvedMiddlewareOptions<Ctx> extends ContextCallbacks<Ctx> {
  upstream: string;
  guard: UpstreamGuardOptions;
  store: QuotaStore;
  logger: Logger;
  maxKeys: number;
  maxKeyLength: number;
  loadBaseline: BaselineLoader | undefined;
  baselineTimeoutMs: number;
  keyTimeoutMs: number;
  usageTimeoutMs: number;
  abandonedTimeoutMs: number;
  maxTokensPerResponse: number;
  maxInflatedBytes: number;
  isCapError: CapErrorClassifier | undefined;
  classify: UpstreamErrorClassifier;
  /** The built-in extractor, when `usage` names a vendor. */
  vendor: VendorChoice | undefined;
  weigh: Weigh;
  maxJsonBytes: number;
  maxEventBytes: number;
  calibrate: boolean;
  maxRetryAfterMs: number;
  onExceeded: 'continue' | 'reject';
  standardHeaders: HeaderDraft | false;
  onStoreError: 'primary' | 'fallback';
  probeIntervalMs: number;
  /** Misuse worth one warning at construction (the engine logs them). */
  warnings: readonly string[];
}

// The guard's own settings, less `name` (the adapters name a guard by `upstream`) and `tenant`
// (the store sets it for each tenant's guard).
const { name: _name, tenant: _tenant, ...GUARD_SETTING_KEYS } = SETTING_KEYS;

const MIDDLEWARE_KEYS: { [K in keyof Required<MiddlewareOptions>]: true } = {
  upstream: true,
  windows: true,
  store: true,
  maxKeys: true,
  maxKeyLength: true,
  loadBaseline: true,
  baselineTimeout: true,
  keyTimeout: true,
  usageTimeout: true,
  abandonedTimeout: true,
  maxTokensPerResponse: true,
  maxInflatedBytes: true,
  isCapError: true,
  classify: true,
  weigh: true,
  maxJsonBytes: true,
  maxEventBytes: true,
  calibrate: true,
  maxRetryAfter: true,
  onExceeded: true,
  standardHeaders: true,
  onStoreError: true,
  ...GUARD_SETTING_KEYS,
};

/** Keys an adapter adds on top of the shared ones. */
export const ADAPTER_KEYS = { key: true, usage: true, handler: true, skip: true } as const;

function positiveInteger(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw optionError(option, 'a positive integer', value);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, option: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T))
    throw optionError(option, allowed.map((a) => `'${a}'`).join(' or '), value);
  return value as T;
}

function optionalBoolean(value: unknown, option: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw optionError(option, 'a boolean', value);
  return value;
}

/** Validates everything once, at construction; errors name the option and the value. */
export function resolveMiddlewareOptions<Ctx>(
  options: MiddlewareOptions & { key?: unknown; usage?: unknown; handler?: unknown; skip?: unknown },
  callbacks: ContextCallbacks<Ctx>,
): ResolvedMiddlewareOptions<Ctx> {
  if (typeof options !== 'object' || options === null) throw optionError('options', 'an object', options);
  checkKnownKeys(options, { ...MIDDLEWARE_KEYS, ...ADAPTER_KEYS }, '');
  const { upstream } = options;
  if (typeof upstream !== 'string' || upstream === '' || upstream.includes('#')) {
    throw optionError('upstream', "a non-empty name without '#'", upstream);
  }
  resolveFunction(options.key, 'key');
  resolveFunction(options.skip, 'skip');
  const usageOption = options.usage;
  if (
    usageOption !== undefined &&
    typeof usageOption !== 'function' &&
    !VENDOR_CHOICES.includes(usageOption as VendorChoice)
  ) {
    throw optionError(
      'usage',
      `a vendor whose bodies carry usage (${VENDOR_CHOICES.map((v) => `'${v}'`).join(', ')}) or a function returning the tokens of a response`,
      usageOption,
    );
  }
  const vendor = typeof usageOption === 'string' ? (usageOption as VendorChoice) : undefined;
  resolveFunction(options.handler, 'handler');
  const {
    store,
    maxKeys,
    maxKeyLength,
    loadBaseline,
    baselineTimeout,
    keyTimeout,
    usageTimeout,
    abandonedTimeout,
    maxTokensPerResponse,
    maxInflatedBytes,
    isCapError,
    classify,
    weigh,
    maxJsonBytes,
    maxEventBytes,
    calibrate,
    maxRetryAfter,
    onExceeded,
    standardHeaders,
    onStoreError,
    key: _key,
    usage: _usage,
    handler: _handler,
    skip: _skip,
    upstream: _upstream,
    ...guardSettings
  } = options;
  const guard: UpstreamGuardOptions = { ...guardSettings, name: upstream };
  // Validates windows and settings now, whatever the store does with them later.
  const { windows } = resolveUpstreamOptions(guard);
  if (
    store !== undefined &&
    (typeof store !== 'object' || store === null || typeof store.decide !== 'function')
  ) {
    throw optionError('store', 'a QuotaStore (e.g. new MemoryStore())', store);
  }
  const resolvedMaxKeys = positiveInteger(maxKeys, 'maxKeys', 10_000);
  return {
    ...callbacks,
    upstream,
    guard,
    store: store ?? new MemoryStore({ maxKeys: resolvedMaxKeys }),
    logger: guardSettings.logger ?? consoleLogger,
    maxKeys: resolvedMaxKeys,
    maxKeyLength: positiveInteger(maxKeyLength, 'maxKeyLength', 256),
    loadBaseline: resolveFunction<BaselineLoader>(loadBaseline, 'loadBaseline'),
    baselineTimeoutMs:
      baselineTimeout === undefined ? 5_000 : parseTimerDuration(baselineTimeout, 'baselineTimeout'),
    keyTimeoutMs: keyTimeout === undefined ? 5_000 : parseTimerDuration(keyTimeout, 'keyTimeout'),
    usageTimeoutMs: usageTimeout === undefined ? 30_000 : parseTimerDuration(usageTimeout, 'usageTimeout'),
    abandonedTimeoutMs:
      abandonedTimeout === undefined ? 60_000 : parseTimerDuration(abandonedTimeout, 'abandonedTimeout'),
    maxTokensPerResponse: safeCount(maxTokensPerResponse, 'maxTokensPerResponse', 10_000_000),
    maxInflatedBytes: positiveInteger(maxInflatedBytes, 'maxInflatedBytes', 64 * 1_048_576),
    isCapError: resolveFunction<CapErrorClassifier>(isCapError, 'isCapError'),
    classify: resolveFunction<UpstreamErrorClassifier>(classify, 'classify') ?? classifyUpstreamError,
    vendor,
    weigh: resolveFunction<Weigh>(weigh, 'weigh') ?? defaultWeigh,
    maxJsonBytes: positiveInteger(maxJsonBytes, 'maxJsonBytes', 1_048_576),
    maxEventBytes: positiveInteger(maxEventBytes, 'maxEventBytes', 1_048_576),
    calibrate: optionalBoolean(calibrate, 'calibrate'),
    maxRetryAfterMs:
      maxRetryAfter === undefined ? 7 * 86_400_000 : parseDuration(maxRetryAfter, 'maxRetryAfter'),
    onExceeded: oneOf(onExceeded, 'onExceeded', ['continue', 'reject'], 'continue'),
    standardHeaders: resolveStandardHeaders(standardHeaders),
    onStoreError: oneOf(onStoreError, 'onStoreError', ['primary', 'fallback'], 'primary'),
    probeIntervalMs: Math.min(...windows.map((w) => w.probeIntervalMs)),
    warnings: misuseWarnings(options, usageOption !== undefined),
  };
}

function safeCount(value: unknown, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw optionError(option, 'a positive whole number of tokens', value);
  }
  return value;
}

function resolveStandardHeaders(value: unknown): HeaderDraft | false {
  if (value === undefined || value === false) return false;
  if (value === true) return 'draft-8';
  return oneOf(value, 'standardHeaders', ['draft-6', 'draft-7', 'draft-8'] as const, 'draft-8');
}

/**
 * Options that are valid but are probably not what a user of another limiter meant: said once,
 * at construction, with what to do.
 */
function misuseWarnings(options: MiddlewareOptions, hasUsage: boolean): string[] {
  const warnings: string[] = [];
  const where = `quota-guard [${options.upstream}]`;
  const budgeted = options.windows.some((w) => (w.budget ?? 0) > 0);
  if (budgeted && !hasUsage) {
    warnings.push(
      `${where}: no usage option: the budgets count only what the app reports itself (req.quotaRoute.report({ tokens }) / recordUsage()); without that they never trip. Set usage: 'anthropic' | 'openai' | 'gemini' | 'auto' to read it from response bodies, or a function.`,
    );
  }
  options.windows.forEach((w, i) => {
    if (w.budget === 0) {
      warnings.push(
        `${where}: windows[${i}].budget is 0, which here means no budget (only the vendor's cap errors hold the primary back), not "block everything" as in express-rate-limit. Leave budget out to say so without this warning.`,
      );
    }
  });
  return warnings;
}

/** Options of `guard.budget(...)`: a window only one route is charged to and consults. */
export interface RouteBudgetOptions {
  window: Duration;
  budget: number;
  /** Shown in decisions (`budget`), status and logs. Default: `route-1`, `route-2`, ... */
  name?: string;
  thresholdPercent?: number;
  probeInterval?: Duration;
  resolution?: Duration;
}
