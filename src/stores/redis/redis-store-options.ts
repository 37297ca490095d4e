import type { Clock } from '../../core/clock.js';
import { type Duration, parseTimerDuration } from '../../core/duration.js';
import { optionError } from '../../core/errors.js';
import { consoleLogger, type Logger } from '../../core/logger.js';
import { checkKnownKeys } from '../../core/options.js';
import type { RedisClientLike } from './client.js';
import { checkPrefix } from './keys.js';
import type { WriteQueueStats } from './write-queue.js';

/** Options of `new RedisStore(...)`. */
export interface RedisStoreOptions {
  /**
   * An `ioredis` client or `Cluster`, or a connected `node-redis` client or cluster. Create it
   * without an offline queue (`enableOfflineQueue: false` / `disableOfflineQueue: true`) so that
   * nothing waits for a reconnect. The store never closes it: it is yours.
   */
  client: RedisClientLike;
  /** Put before every key. No `{` or `}`. Default `'quota-guard:'`. */
  prefix?: string;
  /**
   * Longest wait for Redis on any call, in ms (or a duration such as `'200ms'`); then this
   * process's guard answers (reason `store_unavailable`) and writes wait in the buffer. Default `200`.
   */
  timeoutMs?: Duration;
  /** After Redis failed, how long calls go straight to the local guard before Redis is asked again. Default `'1s'`. */
  retryInterval?: Duration;
  /**
   * Writes (usage, cap errors, probe outcomes) kept while Redis is away, to be written once it is
   * back; beyond it the oldest is dropped, counted and logged. Default `100_000`.
   */
  maxBufferedWrites?: number;
  /** Tenants whose last shared state is kept for the local guard. Default `10_000`. */
  maxKeys?: number;
  /** Where the store's own trouble (Redis down, back, writes dropped) is logged. Default: the console. */
  logger?: Logger;
  /** The time the scripts run on. Default: the Redis server's own clock (`TIME`), the same for every instance. For tests. */
  clock?: Clock;
}

/** `RedisStore.stats()`. */
export interface RedisStoreStats extends WriteQueueStats {
  upstreams: number;
  /** Tenant guards this store knows of (Redis holds them; this is what this process saw). */
  keys: number;
  evictedKeys: number;
  /** True while Redis is taken for away and the local guards answer. */
  unavailable: boolean;
  /** Calls Redis failed or answered too late since the store was made. */
  failures: number;
  /**
   * Tokens recorded in this process that Redis has not confirmed yet: on their way, summed behind
   * a write on its way, or waiting in the buffer. `flush()` before a planned exit sends them.
   */
  pendingTokens: number;
}

const OPTION_KEYS = {
  client: true,
  prefix: true,
  timeoutMs: true,
  retryInterval: true,
  maxBufferedWrites: true,
  maxKeys: true,
  logger: true,
  clock: true,
} as const;

/** The options checked, with their defaults: each wrong one named at construction. */
export function resolveRedisStoreOptions(options: RedisStoreOptions) {
  if (typeof options !== 'object' || options === null)
    throw optionError('RedisStore(options)', 'an object', options);
  checkKnownKeys(options, OPTION_KEYS, '');
  const prefix = options.prefix ?? 'quota-guard:';
  const bad = checkPrefix(prefix);
  if (bad !== undefined) throw optionError('prefix', bad, prefix);
  const maxQueued = options.maxBufferedWrites ?? 100_000;
  if (!Number.isSafeInteger(maxQueued) || maxQueued < 1)
    throw optionError('maxBufferedWrites', 'a positive integer', maxQueued);
  const maxKeys = options.maxKeys ?? 10_000;
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1)
    throw optionError('maxKeys', 'a positive integer', maxKeys);
  if (options.clock !== undefined && typeof options.clock?.now !== 'function')
    throw optionError('clock', 'an object with now()', options.clock);
  return {
    prefix,
    timeoutMs: options.timeoutMs === undefined ? 200 : parseTimerDuration(options.timeoutMs, 'timeoutMs'),
    retryMs:
      options.retryInterval === undefined
        ? 1_000
        : parseTimerDuration(options.retryInterval, 'retryInterval'),
    maxQueued,
    maxKeys,
    logger: options.logger ?? consoleLogger,
    clock: options.clock,
  };
}
