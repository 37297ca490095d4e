/**
 * The options every adapter takes, as users write them, and as the request layer holds them once
 * resolved (`resolve-options.ts` validates one into the other).
 */
import type { Baseline } from '../core/baseline.js';
import type { Duration } from '../core/duration.js';
import type { Logger } from '../core/logger.js';
import type { GuardSettings, UpstreamGuardOptions, WindowOptions } from '../core/options.js';
import type { CapScope, QuotaStore } from '../stores/store.js';
import type { VendorChoice, Weigh } from '../usage/token-usage.js';
import type { CapErrorClassifier, UpstreamErrorClassifier } from './outcome.js';

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
  /**
   * Whose cap error holds whom when requests have a tenant `key`. `'upstream'` (default): the
   * tenants share one vendor account, so a cap error met by any of them holds them all until one
   * probe for the account succeeds. `'key'`: each tenant brings its own vendor key; a cap error
   * holds only that tenant. Either way a tenant's usage counts in its own windows and the upstream's.
   */
  capScope?: CapScope;
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
  capScope: CapScope;
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

export interface RouteBudgetOptions {
  window: Duration;
  budget: number;
  /** Shown in decisions (`budget`), status and logs. Default: `route-1`, `route-2`, ... */
  name?: string;
  thresholdPercent?: number;
  probeInterval?: Duration;
  resolution?: Duration;
}
