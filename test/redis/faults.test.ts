/**
 * Redis slow, stalled, cut, paused and restarted under traffic: every decision is answered within
 * the store's timeout, and once Redis is back the shared totals equal what was reported —
 * nothing lost, nothing counted twice.
 */
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreDefinition } from '../../src/index.js';
import { RedisStore } from '../../src/redis.js';
import { captureLogger } from '../helpers/manual-clock.js';
import { FaultProxy } from './fault-proxy.js';
import { freshPrefix, quiet } from './redis-client.js';
import { OwnRedis } from './redis-server.js';

const TIMEOUT_MS = 100;
const definition: StoreDefinition = {
  windows: [{ window: '5h', budget: 1e12 }],
  logger: quiet,
};

type Connect = (
  port: number,
) => Promise<{ client: ConstructorParameters<typeof RedisStore>[0]['client']; close(): Promise<void> }>;

const clients: Array<[string, Connect]> = [
  [
    'ioredis',
    async (port) => {
      const client = new Redis({
        port,
        host: '127.0.0.1',
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        lazyConnect: true,
        retryStrategy: () => 50,
      });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => client.disconnect() };
    },
  ],
  [
    'node-redis',
    async (port) => {
      const client = createClient({
        socket: { port, host: '127.0.0.1', reconnectStrategy: () => 50 },
        disableOfflineQueue: true,
      });
      client.on('error', () => {});
      await client.connect();
      return { client, close: async () => void (await client.disconnect().catch(() => undefined)) };
    },
  ],
];

/** Waits for a condition, polling; fails after `ms`. */
async function until(condition: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(clients)('RedisStore under faults (%s)', (_name, connect) => {
  let redis: OwnRedis;
  let proxy: FaultProxy;

  beforeAll(async () => {
    redis = await OwnRedis.start();
    proxy = await new FaultProxy(redis.port).start();
  }, 20_000);
  afterAll(async () => {
    await proxy.close();
    await redis.stop();
  });

  /** A store through the proxy, and a way to read the shared totals straight from Redis. */
  async function setup() {
    const prefix = freshPrefix();
    const log = captureLogger();
    const connection = await connect(proxy.port);
    const store = new RedisStore({
      client: connection.client,
      prefix,
      timeoutMs: TIMEOUT_MS,
      retryInterval: 100,
      logger: log.logger,
    });
    store.define('llm', definition);
    let reported = 0;
    let slowest = 0;
    const reasons = new Set<string>();
    /**
     * `n` requests from 10 concurrent callers: a decision, then 10 tokens of usage each. `fault`
     * runs once half of them have started, while the others are in flight.
     */
    async function traffic(n: number, fault?: () => void) {
      let left = n;
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          while (left-- > 0) {
            if (left === Math.floor(n / 2)) fault?.();
            const started = performance.now();
            const decision = await store.decide({ upstream: 'llm' });
            slowest = Math.max(slowest, performance.now() - started);
            reasons.add(decision.reason);
            await store.record({ upstream: 'llm' }, 10);
            reported += 10;
          }
        }),
      );
    }
    /**
     * Waits until Redis answers and no write waits to be sent. Totals are read only then: on a
     * loaded machine any call may miss the 100 ms timeout, even after the fault, and its write
     * then waits in the queue (counted in `pending`, not lost).
     */
    async function recovered() {
      await until(async () => {
        await store.decide({ upstream: 'llm' });
        await store.flush();
        const stats = store.stats();
        return !stats.unavailable && stats.pending === 0 && stats.pendingTokens === 0;
      });
      expect(store.stats().droppedTokens).toBe(0);
    }
    async function sharedTotal() {
      const direct = await connect(redis.port);
      const reader = new RedisStore({ client: direct.client, prefix, logger: quiet });
      reader.define('llm', definition);
      const total = (await reader.info({ upstream: 'llm' })).windows[0]!.windowUsageTokens;
      await direct.close();
      return total;
    }
    return {
      store,
      log,
      traffic,
      recovered,
      sharedTotal,
      get reported() {
        return reported;
      },
      get slowest() {
        return slowest;
      },
      reasons,
      close: async () => {
        store.close();
        await connection.close();
      },
    };
  }

  it('answers within the timeout while Redis stalls, then writes every token once', async () => {
    const s = await setup();
    await s.traffic(100);
    await s.traffic(200, () => proxy.stall());
    expect(s.reasons).toContain('store_unavailable');
    // While Redis stalls, every token it has not confirmed is counted as pending (a write whose
    // bytes passed before the stall may be in Redis and pending both: hence at least).
    const pendingTokens = s.store.stats().pendingTokens;
    expect(pendingTokens).toBeGreaterThan(0);
    expect((await s.sharedTotal()) + pendingTokens).toBeGreaterThanOrEqual(s.reported);
    proxy.pass();
    await s.recovered();
    await s.traffic(100);
    await s.recovered();
    // Writes queued while Redis stalled were sent once it answered; none was counted twice.
    expect(await s.sharedTotal()).toBe(s.reported);
    expect(s.reported).toBe(4_000);
    // A bound, not a benchmark: no call waited for Redis much past the timeout.
    expect(s.slowest).toBeLessThan(TIMEOUT_MS + 400);
    expect(s.log.lines.map((l) => l.message)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Redis is unavailable'),
        expect.stringContaining('Redis is back'),
      ]),
    );
    await s.close();
  }, 30_000);

  it('carries on through cut connections and reconnects without a restart', async () => {
    const s = await setup();
    await s.traffic(100);
    await s.traffic(200, () => proxy.cut());
    proxy.pass();
    await s.recovered();
    await s.traffic(100);
    await s.recovered();
    expect(await s.sharedTotal()).toBe(4_000);
    expect(s.slowest).toBeLessThan(TIMEOUT_MS + 400);
    await s.close();
  }, 30_000);

  it('rides out CLIENT PAUSE', async () => {
    const s = await setup();
    const admin = redis.admin();
    await admin.connect();
    await s.traffic(100);
    await admin.call('CLIENT', 'PAUSE', '500', 'ALL');
    await s.traffic(100);
    await s.recovered();
    await s.traffic(100);
    // Writes that timed out during the pause were applied when it ended, and sent again from the
    // buffer: the per-instance sequence number made Redis skip the second copy.
    await s.recovered();
    expect(await s.sharedTotal()).toBe(3_000);
    expect(s.store.stats().failures).toBeGreaterThan(0);
    admin.disconnect();
    await s.close();
  }, 30_000);

  it('survives a Redis restart mid-traffic: data from the append-only file, the script loaded again', async () => {
    const s = await setup();
    await s.traffic(100);
    let killed: Promise<void> | undefined;
    await s.traffic(200, () => {
      killed = redis.kill();
    });
    await killed;
    await s.traffic(100);
    expect(s.reasons).toContain('store_unavailable');
    await redis.start();
    await s.recovered();
    await s.traffic(100);
    await s.recovered();
    expect(await s.sharedTotal()).toBe(5_000);
    await s.close();
  }, 30_000);
});
