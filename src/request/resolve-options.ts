import { parseDuration, parseTimerDuration } from '../core/duration.js';
import { optionError } from '../core/errors.js';
import { consoleLogger } from '../core/logger.js';
import {
  checkKnownKeys,
  resolveFunction,
  resolveUpstreamOptions,
  SETTING_KEYS,
  type UpstreamGuardOptions,
} from '../core/options.js';
import { resolveCapScope } from '../stores/cap-scope.js';
import { MemoryStore } from '../stores/memory-store.js';
import { classifyUpstreamError } from '../usage/classify.js';
import { defaultWeigh, type VendorChoice, type Weigh } from '../usage/token-usage.js';
import type {
  BaselineLoader,
  ContextCallbacks,
  HeaderDraft,
  MiddlewareOptions,
  ResolvedMiddlewareOptions,
} from './options.js';
import type { CapErrorClassifier, UpstreamErrorClassifier } from './outcome.js';

const VENDOR_CHOICES: readonly VendorChoice[] = ['anthropic', 'openai', 'gemini', 'auto'];

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
  capScope: true,
  ...GUARD_SETTING_KEYS,
};

/** Keys an adapter adds on top of the shared ones. */
const ADAPTER_KEYS = { key: true, usage: true, handler: true, skip: true } as const;

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
    capScope,
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
    capScope: resolveCapScope(capScope),
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
