/**
 * quota-guard: keep a metered upstream under its cap. The core: guards, decisions, durations,
 * the store interface and the in-memory store, and the readers of vendor responses. The
 * framework adapters live in their own subpaths, `quota-guard/express` and `quota-guard/koa`.
 */
export type { GuardEvents, IgnoredInputs, WindowInfo, WindowSelector } from './core/base-guard.js';
export type { Baseline, BaselineEntry } from './core/baseline.js';
export type { Clock } from './core/clock.js';
export type {
  Decision,
  DecisionReason,
  ProbeEvent,
  QuotaState,
  StateChangeEvent,
  TransitionReason,
} from './core/decision.js';
export { type Duration, type DurationUnit, formatDuration, parseDuration } from './core/duration.js';
export { isQuotaGuardError, QuotaGuardError, type QuotaGuardErrorCode } from './core/errors.js';
export { consoleLogger, type Logger, silentLogger } from './core/logger.js';
export type {
  GuardSettings,
  QuotaGuardOptions,
  UpstreamGuardOptions,
  WindowOptions,
} from './core/options.js';
export { QuotaGuard, type QuotaGuardInfo } from './core/quota-guard.js';
export { parseRetryAfter } from './core/retry-after.js';
export { UpstreamGuard, type UpstreamInfo } from './core/upstream-guard.js';
export { MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from './stores/memory-store.js';
export type {
  Awaitable,
  CapScope,
  GuardTarget,
  QuotaStore,
  StoreDefinition,
  StoreStats,
} from './stores/store.js';
export { type BodyReading, BodyTap, type BodyTapOptions } from './usage/body-tap.js';
export { type ClassifyInput, classifyUpstreamError, type UpstreamErrorClass } from './usage/classify.js';
export type { HeadersLike } from './usage/headers.js';
export { usageFromJson } from './usage/json-usage.js';
export {
  defaultWeigh,
  type TokenUsage,
  type Vendor,
  type VendorChoice,
  type Weigh,
} from './usage/token-usage.js';
