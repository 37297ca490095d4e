/**
 * Connections to the Redis server the tests run against (127.0.0.1:6379 unless REDIS_URL says
 * otherwise; `.ci/run` starts one), and a fresh key prefix per store so tests never meet.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import type { Clock } from '../../src/index.js';
import { RedisStore, type RedisStoreOptions } from '../../src/redis.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const quiet = { warn() {}, error() {} };

/**
 * The store timeout of tests that are not about a slow Redis: on a loaded CI machine a call can
 * miss the 200 ms default, and the store would then answer from its local guard for a while.
 * faults.test.ts covers that on purpose, with a 100 ms timeout.
 */
export const PATIENT_MS = 5_000;

/** An ioredis client as the README says to make one, connected (no offline queue to wait in). */
export async function ioredis(): Promise<Redis> {
  const client = new Redis(REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    lazyConnect: true,
  });
  await client.connect();
  return client;
}

export async function nodeRedis() {
  const client = createClient({ url: REDIS_URL, disableOfflineQueue: true });
  client.on('error', () => {});
  await client.connect();
  return client;
}

/** A key prefix no other test uses. */
export function freshPrefix(): string {
  return `qg-test:${randomBytes(6).toString('hex')}:`;
}

export function storeOn(
  client: RedisStoreOptions['client'],
  clock?: Clock,
  options: Partial<RedisStoreOptions> = {},
): RedisStore {
  return new RedisStore({
    client,
    prefix: freshPrefix(),
    logger: quiet,
    timeoutMs: PATIENT_MS,
    ...(clock === undefined ? {} : { clock }),
    ...options,
  });
}
