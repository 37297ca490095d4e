/**
 * npm run bench:redis — RedisStore side by side with rate-limiter-flexible's RateLimiterRedis on
 * the same Redis server (REDIS_URL, default 127.0.0.1:6379), in one run: operations per second
 * at 1, 10 and 100 concurrent callers over interleaved rounds, the per-round ratio with its
 * spread, and round trips per operation counted by Redis itself (`INFO commandstats`).
 *
 * Contenders, each on one ioredis connection, never over budget:
 * - `decide`: `RedisStore.decide()` (one script call: expiry, every window, transitions, probe);
 * - `decide+record`: a decision and the usage of its answer, the record awaited before the
 *   caller's next decision (two round trips in a row);
 * - `request`: the same two calls as the middleware makes them: the decision awaited, the
 *   record sent after the answer and not waited for by the next request (every record still
 *   lands before the slice's count ends);
 * - `RateLimiterRedis.consume`: one point per call, the rate limiter users already run.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisStore } from '../src/redis.js';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SLICE_MS = Number(process.env.BENCH_TIME_MS ?? 1_000);
const CONCURRENCY = [1, 10, 100];
const quiet = { warn() {}, error() {} };

type Op = () => Promise<unknown>;

/**
 * Runs `op` from `callers` concurrent loops for `ms`; returns operations per second. What an
 * operation leaves running (a record not waited for) is awaited before the clock stops.
 */
async function measure(op: Op, callers: number, ms: number): Promise<number> {
  let done = 0;
  const deadline = performance.now() + ms;
  const started = performance.now();
  const trailing: Promise<unknown>[] = [];
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < deadline) {
        const result = await op();
        if (result !== null && typeof result === 'object' && 'trailing' in result) {
          trailing.push(result.trailing as Promise<unknown>);
        }
        done++;
      }
    }),
  );
  await Promise.all(trailing);
  return (done * 1_000) / (performance.now() - started);
}

/** Top-level script calls Redis has served (commands run inside a script are not round trips). */
async function scriptCalls(admin: Redis): Promise<number> {
  const stats = (await admin.info('commandstats')) as string;
  let calls = 0;
  for (const line of stats.split('\n')) {
    const match = /^cmdstat_(evalsha|eval|evalsha_ro|eval_ro|multi|exec):calls=(\d+)/.exec(line);
    if (match) calls += Number(match[2]);
  }
  return calls;
}

/** Seconds of CPU the Redis server has used (its main thread and the others). */
async function serverCpu(admin: Redis): Promise<number> {
  const info = (await admin.info('cpu')) as string;
  const read = (field: string) => Number(new RegExp(`^${field}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return read('used_cpu_user') + read('used_cpu_sys');
}

function spread(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `${median.toFixed(2)}× (${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)})`;
}

async function main(): Promise<void> {
  const client = new Redis(URL, { enableOfflineQueue: false, lazyConnect: true });
  const admin = new Redis(URL, { lazyConnect: true });
  await client.connect();
  await admin.connect();
  const prefix = `qg-bench:${randomBytes(4).toString('hex')}:`;
  const store = new RedisStore({ client, prefix, logger: quiet, timeoutMs: 5_000 });
  store.define('llm', {
    windows: [
      { window: '5h', budget: 1e15 },
      { window: '7d', budget: 1e15 },
    ],
    logger: quiet,
  });
  const target = { upstream: 'llm' };
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: `${prefix}rlf`,
    points: 1e12,
    duration: 5 * 3_600,
  });
  const contenders: Record<string, Op> = {
    decide: () => store.decide(target),
    'decide+record': async () => {
      await store.decide(target);
      await store.record(target, 100);
    },
    // Hands the record's promise back unawaited (a promise returned bare would be awaited).
    request: async () => {
      await store.decide(target);
      return { trailing: store.record(target, 100) };
    },
    'RateLimiterRedis.consume': () => limiter.consume('llm', 1),
  };

  // Round trips per operation, each contender alone, and where its CPU goes.
  console.log(
    `Redis ${URL}: per operation, each contender alone (2,000 sequential calls after a warm-up)\n  ${'contender'.padEnd(26)} round trips   Redis CPU µs   Node CPU µs`,
  );
  for (const [name, op] of Object.entries(contenders)) {
    for (let i = 0; i < 500; i++) await op();
    const n = 2_000;
    const before = await scriptCalls(admin);
    const serverBefore = await serverCpu(admin);
    const clientBefore = process.cpuUsage();
    for (let i = 0; i < n; i++) await op();
    const client = process.cpuUsage(clientBefore);
    const server = (await serverCpu(admin)) - serverBefore;
    const after = await scriptCalls(admin);
    console.log(
      `  ${name.padEnd(26)} ${((after - before) / n).toFixed(2).padStart(11)}   ${((server * 1e6) / n).toFixed(1).padStart(12)}   ${((client.user + client.system) / n).toFixed(1).padStart(11)}`,
    );
  }

  console.log(
    `\nOperations per second, ${ROUNDS} interleaved rounds of ${SLICE_MS} ms each; ratio to RateLimiterRedis.consume per round (median, min–max)`,
  );
  for (const callers of CONCURRENCY) {
    const rates: Record<string, number[]> = {};
    for (let round = 0; round < ROUNDS; round++) {
      // Order rotates each round, so no contender always runs first (or last) on a warm server.
      const names = Object.keys(contenders);
      const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
      for (const name of order) {
        const rate = await measure(contenders[name]!, callers, SLICE_MS);
        rates[name] = [...(rates[name] ?? []), rate];
      }
    }
    const base = rates['RateLimiterRedis.consume']!;
    console.log(`\n  ${callers} concurrent caller${callers === 1 ? '' : 's'}`);
    for (const [name, values] of Object.entries(rates)) {
      const median = [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      const ratios = values.map((v, i) => v / base[i]!);
      console.log(
        `    ${name.padEnd(26)} ${Math.round(median).toLocaleString('en-US').padStart(8)} ops/s   ${spread(ratios)}`,
      );
    }
  }
  store.close();
  const keys = await admin.keys(`${prefix}*`);
  if (keys.length > 0) await admin.del(...keys);
  client.disconnect();
  admin.disconnect();
}

await main();
