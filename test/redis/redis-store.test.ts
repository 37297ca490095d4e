import type { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { describeStoreContract } from '../stores/store-contract.js';
import { ioredis, nodeRedis, storeOn } from './redis-client.js';

let io: Redis;
let node: Awaited<ReturnType<typeof nodeRedis>>;

beforeAll(async () => {
  io = await ioredis();
  node = await nodeRedis();
});
afterAll(async () => {
  io.disconnect();
  await node.quit();
});

describeStoreContract('RedisStore (ioredis)', (clock) => storeOn(io, clock));
describeStoreContract('RedisStore (node-redis)', (clock) => storeOn(node, clock));
