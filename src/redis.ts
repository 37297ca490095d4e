/**
 * `quota-guard/redis`: guard state shared by every instance through Redis.
 *
 * @example
 * import Redis from 'ioredis';
 * import { RedisStore } from 'quota-guard/redis';
 * const store = new RedisStore({ client: new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false }) });
 */
export type { IoRedisLike, NodeRedisLike, RedisClientLike } from './stores/redis/client.js';
export { RedisStore, type RedisStoreOptions, type RedisStoreStats } from './stores/redis/redis-store.js';
export { SCRIPT_SHA } from './stores/redis/script.js';
