/**
 * Redis memory of one guard after 1,000,000 recorded requests spread over days: bounded by the
 * windows' slot counts, whatever the traffic (`MEMORY USAGE` of every key the guard has).
 */
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisStore } from '../../src/redis.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { freshPrefix, ioredis, quiet } from './redis-client.js';

let io: Redis;
beforeAll(async () => {
  io = await ioredis();
});
afterAll(() => io.disconnect());

async function memoryOf(prefix: string): Promise<{ keys: number; bytes: number }> {
  const keys = await io.keys(`${prefix}*`);
  let bytes = 0;
  for (const key of keys) bytes += Number(await io.memory('USAGE', key));
  return { keys: keys.length, bytes };
}

it('keeps one guard’s memory bounded after 1,000,000 recorded requests', async () => {
  const prefix = freshPrefix();
  const clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
  const store = new RedisStore({ client: io, prefix, clock, logger: quiet, timeoutMs: 5_000 });
  store.define('llm', {
    windows: [
      { window: '5h', budget: 1e15 },
      { window: '7d', budget: 1e15 },
    ],
    logger: quiet,
  });
  const target = { upstream: 'llm' };
  const samples: number[] = [];
  const total = 1_000_000;
  const batch = 2_000;
  for (let done = 0; done < total; done += batch) {
    // 2,000 concurrent requests, 1.2 s of clock apart: the run spans 14 days, so both windows
    // are full from its middle on, and keep rolling.
    const calls: Array<Promise<void>> = [];
    for (let i = 0; i < batch; i++) {
      clock.advance(1_210);
      calls.push(store.record(target, 3));
    }
    await Promise.all(calls);
    if ((done + batch) % 250_000 === 0) samples.push((await memoryOf(prefix)).bytes);
  }
  expect(store.stats().failures).toBe(0);
  const info = await store.info(target);
  // At most window / resolution + 1 slots per window: 1,001 each with the default resolution.
  for (const w of info.windows) expect(w.slots).toBeLessThanOrEqual(1_001);
  const { keys, bytes } = await memoryOf(prefix);
  // The state hash, two slot lists, this instance's record marker.
  expect(keys).toBe(4);
  // Two lists of ≤ 1,001 short strings: tens of kB, not a function of the 1,000,000 requests.
  expect(bytes).toBeLessThan(200_000);
  // Both windows are full from the second sample on: memory stays flat from there.
  const full = samples.slice(1);
  expect(Math.max(...full) - Math.min(...full)).toBeLessThan(bytes * 0.1);
  store.close();
}, 240_000);
