/**
 * Every Express and Koa scenario again, with the guard's state in Redis: the request layer on an
 * asynchronous, shared store behaves as on the memory store (but for the memory store's own LRU
 * bound, which a shared store does not have).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import { expressHarness, koaHarness } from '../adapters/apps.js';
import { describeHardeningScenarios } from '../adapters/hardening-scenarios.js';
import { describeAdapterScenarios } from '../adapters/scenarios.js';
import type { ScenarioStore } from '../adapters/setup.js';
import { freshPrefix, ioredis, storeOn } from './redis-client.js';

let io: Redis;
beforeAll(async () => {
  io = await ioredis();
});
afterAll(() => io.disconnect());

const redisStore: ScenarioStore = (clock, logger) => storeOn(io, clock, { prefix: freshPrefix(), logger });

describe('on RedisStore', () => {
  for (const harness of [expressHarness, koaHarness]) {
    describeAdapterScenarios(harness, redisStore);
    describeHardeningScenarios(harness, redisStore);
  }
});
