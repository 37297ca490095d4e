import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WindowOptions } from '../../src/index.js';
import { type IoRedisLike, RedisStore } from '../../src/redis.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { describeStoreContract } from '../stores/store-contract.js';
import { freshPrefix, ioredis, nodeRedis, PATIENT_MS, quiet, REDIS_URL, storeOn } from './redis-client.js';

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

describe('RedisStore', () => {
  const NOW = Date.parse('2026-12-01T10:00:00Z');
  const windows: WindowOptions[] = [{ window: '5h', budget: 1_000 }];

  it('loads a baseline once per window across instances, whoever starts first', async () => {
    const prefix = freshPrefix();
    const instances = [0, 1, 2].map(
      () => new RedisStore({ client: io, prefix, logger: quiet, timeoutMs: PATIENT_MS }),
    );
    for (const store of instances) store.define('llm', { windows, logger: quiet });
    await Promise.all(instances.map((store) => store.loadBaseline({ upstream: 'llm' }, 600)));
    // The instance that loaded it may add more parts of its log; the others load nothing.
    await instances[0]!.loadBaseline({ upstream: 'llm' }, 0);
    expect((await instances[2]!.info({ upstream: 'llm' })).windows[0]!.windowUsageTokens).toBe(600);
    for (const store of instances) store.close();
  });

  it('decides the same on instances whose clocks are minutes apart: time is the server’s', async () => {
    const prefix = freshPrefix();
    const skewed = [-7 * 60_000, 0, 11 * 60_000].map((skew) => {
      const store = new RedisStore({ client: io, prefix, logger: quiet, timeoutMs: PATIENT_MS });
      const clock = { now: () => Date.now() + skew };
      store.define('llm', { windows, probeInterval: '5m', clock, wallClock: clock, logger: quiet });
      return store;
    });
    const [a, b, c] = skewed as [RedisStore, RedisStore, RedisStore];
    await a.record({ upstream: 'llm' }, 500);
    await b.record({ upstream: 'llm' }, 495);
    const decisions = await Promise.all(skewed.map((s) => s.decide({ upstream: 'llm' })));
    for (const d of decisions) expect(d).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
    // Every instance names the same moment for the primary's return: the server's.
    expect(new Set(decisions.map((d) => d.retryAt)).size).toBe(1);
    await c.capError({ upstream: 'llm' });
    expect(await a.decide({ upstream: 'llm' })).toMatchObject({ route: 'fallback', probe: false });
    for (const s of skewed) s.close();
  });

  it('decides over one, two and three windows alike (the fast paths and the general one agree)', async () => {
    const clock = new ManualClock(NOW);
    for (const count of [1, 2, 3]) {
      const store = storeOn(io, clock);
      const all: WindowOptions[] = [
        { window: '1h', budget: 100 },
        { window: '5h', budget: 1_000 },
        { window: '7d', budget: 10_000 },
      ];
      store.define('llm', { windows: all.slice(0, count), logger: quiet });
      const target = { upstream: 'llm' };
      expect(await store.decide(target)).toMatchObject({ route: 'primary', reason: 'within_quota' });
      await store.record(target, 98);
      expect(await store.decide(target)).toMatchObject({ route: 'primary', reason: 'within_quota' });
      await store.record(target, 1);
      expect(await store.decide(target)).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
        window: '1h',
      });
      // A tenant's decision reads two guards: the general path, same answer.
      expect(await store.decide({ ...target, key: 't' })).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
      });
      store.close();
    }
  });

  it('counts the tokens Redis has not confirmed in stats().pendingTokens: on their way and summed behind a write', async () => {
    const store = storeOn(io);
    store.define('llm', { windows, logger: quiet });
    const target = { upstream: 'llm' };
    // The first record's write is on its way; the next two are summed behind it, not sent yet.
    const written = [store.record(target, 10), store.record(target, 20), store.record(target, 5)];
    expect(store.stats()).toMatchObject({ pendingTokens: 35, pending: 0 });
    await Promise.all(written);
    expect(store.stats().pendingTokens).toBe(0);
    expect((await store.info(target)).windows[0]!.windowUsageTokens).toBe(35);
    store.close();
  });

  it('runs on after SCRIPT FLUSH (NOSCRIPT → EVAL, once)', async () => {
    // Server time: the decision then takes its prepared hot path.
    const store = storeOn(io);
    store.define('llm', { windows, logger: quiet });
    await store.record({ upstream: 'llm' }, 10);
    await io.script('FLUSH');
    await store.record({ upstream: 'llm' }, 10);
    // The decision's own prepared call (the hot path) handles NOSCRIPT too.
    await io.script('FLUSH');
    expect(await store.decide({ upstream: 'llm' })).toMatchObject({
      route: 'primary',
      reason: 'within_quota',
    });
    expect((await store.info({ upstream: 'llm' })).windows[0]!.windowUsageTokens).toBe(20);
    expect(store.stats().failures).toBe(0);
    store.close();
  });

  it('gives every key a TTL a little over its longest window, and keeps tenant keys inside the prefix', async () => {
    const prefix = freshPrefix();
    const store = new RedisStore({ client: io, prefix, logger: quiet, timeoutMs: PATIENT_MS });
    store.define('llm', { windows: [...windows, { window: '7d', budget: 10_000 }], logger: quiet });
    await store.record({ upstream: 'llm', key: 'a}:{b*\n' }, 10);
    await store.decide({ upstream: 'llm', key: 'x'.repeat(10_000) });
    await store.capError({ upstream: 'llm' }, 30 * 86_400_000);
    const keys = await io.keys(`${prefix}*`);
    expect(keys.length).toBeGreaterThan(0);
    for (const key of keys) {
      // One hash tag per upstream, and nothing of the tenant key that could open another.
      expect(key.match(/\{/g)).toHaveLength(1);
      expect(key).not.toMatch(/[\n*]|\}.*\}/);
      const ttl = await io.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      // The longest window (7 days), or the cap error's next probe (33 days), plus a minute.
      expect(ttl).toBeLessThanOrEqual(33 * 86_400_000 + 60_000);
    }
    store.close();
  });

  it('sends the records made while one is on its way as one write, and every token arrives', async () => {
    const { client, calls } = counting(io);
    const store = storeOn(client, new ManualClock(NOW));
    store.define('llm', { windows: [{ window: '5h', budget: 1_000_000 }], logger: quiet });
    const upstream = { upstream: 'llm' };
    const tenant = { upstream: 'llm', key: 'a' };
    await Promise.all([
      ...Array.from({ length: 200 }, () => store.record(upstream, 7)),
      ...Array.from({ length: 50 }, () => store.record(tenant, 3)),
    ]);
    // Per target: the first record at once, the rest summed into one write sent on its reply.
    expect(calls.count).toBe(4);
    expect((await store.info(upstream)).windows[0]!.windowUsageTokens).toBe(200 * 7 + 50 * 3);
    expect((await store.info(tenant)).windows[0]!.windowUsageTokens).toBe(50 * 3);
    store.close();
  });

  it('flush() writes the records summed behind a write on its way', async () => {
    const store = storeOn(io, new ManualClock(NOW));
    store.define('llm', { windows: [{ window: '5h', budget: 1_000_000 }], logger: quiet });
    const target = { upstream: 'llm' };
    // Not awaited, as a server that reports usage after the answer does not wait for it.
    for (let i = 0; i < 100; i++) void store.record(target, 7);
    await store.flush();
    expect((await store.info(target)).windows[0]!.windowUsageTokens).toBe(700);
    store.close();
  });

  it('answers decisions asked together with one script call while within quota, and still grants one probe', async () => {
    const { client, calls } = counting(io);
    const clock = new ManualClock(NOW);
    const store = storeOn(client, clock);
    store.define('llm', { windows, probeInterval: '1m', logger: quiet });
    const target = { upstream: 'llm' };
    const within = await Promise.all(Array.from({ length: 100 }, () => store.decide(target)));
    expect(within.every((d) => d.route === 'primary' && d.reason === 'within_quota')).toBe(true);
    expect(calls.count).toBe(1);

    await store.capError(target);
    clock.advance(60_000);
    calls.count = 0;
    const due = await Promise.all(Array.from({ length: 50 }, () => store.decide(target)));
    expect(due.filter((d) => d.probe)).toHaveLength(1);
    expect(due.filter((d) => d.route === 'fallback')).toHaveLength(49);
    // Only a within-quota answer is shared: the 49 others asked for themselves.
    expect(calls.count).toBe(50);
    store.close();
  });

  it('never answers a decision with one sent before a write this process sent after it', async () => {
    const store = storeOn(io, new ManualClock(NOW));
    store.define('llm', { windows, logger: quiet });
    const target = { upstream: 'llm' };
    const before = store.decide(target);
    const crossing = store.record(target, 1_000);
    const after = store.decide(target);
    expect(await before).toMatchObject({ route: 'primary' });
    expect(await after).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
    await crossing;
    store.close();
  });

  it('fails at construction on bad options, naming them', () => {
    expect(() => new RedisStore({ client: {} as never })).toThrow('RedisStore needs `client`');
    expect(() => new RedisStore({ client: io, prefix: 'a{b}' })).toThrow(
      'prefix must be a string without { or }',
    );
    expect(() => new RedisStore({ client: io, timeoutMs: -1 })).toThrow('timeoutMs');
    expect(() => new RedisStore({ client: io, maxBufferedWrites: 0 })).toThrow(
      'maxBufferedWrites must be a positive integer',
    );
    expect(() => new RedisStore({ client: io, timeout: 5 } as never)).toThrow('unknown option timeout');
  });

  it('warns when the client would queue commands while disconnected', async () => {
    const log = captureLogger();
    const queued = new Redis(REDIS_URL, { lazyConnect: true });
    new RedisStore({ client: queued, logger: log.logger });
    expect(log.lines.map((l) => l.message)).toEqual([expect.stringContaining('enableOfflineQueue: false')]);
    queued.disconnect();
  });
});

/** The client, counting the script calls a store sends through it. */
function counting(client: Redis) {
  const calls = { count: 0 };
  const wrapped: IoRedisLike & { options: Redis['options'] } = {
    options: client.options,
    evalsha: (sha, numKeys, ...rest) => {
      calls.count++;
      return client.evalsha(sha, numKeys, ...rest);
    },
    eval: (script, numKeys, ...rest) => {
      calls.count++;
      return client.eval(script, numKeys, ...rest);
    },
  };
  return { client: wrapped, calls };
}
