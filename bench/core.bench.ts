/**
 * npm run bench: the core guard side by side with rate-limiter-flexible's RateLimiterMemory and
 * an exact deque (the reference design), in one run, so ratios are comparable on a noisy machine.
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { Bench } from 'tinybench';
import { type Duration, MemoryStore, QuotaGuard, silentLogger } from '../src/index.js';
import { ReferenceDequeGuard } from './reference-deque-guard.js';

const BATCH = 1_000; // operations per timed iteration: a single call is too short to time alone
const WINDOW = '5h';
const WINDOW_MS = 5 * 3_600_000;
const BUDGET = 1e15; // never trips: every contender does its full within-quota work
const time = Number(process.env.BENCH_TIME_MS ?? 1_500);

function opsPerSecond(bench: Bench, name: string): number {
  const task = bench.getTask(name);
  const result = task?.result;
  if (!result || !('period' in result)) throw new Error(`task ${name} did not complete`);
  return (BATCH * 1_000) / result.period;
}

async function throughput(): Promise<void> {
  const guard = new QuotaGuard({ budget: BUDGET, window: WINDOW, logger: silentLogger });
  const store = new MemoryStore();
  store.define('bench', { windows: [{ window: WINDOW, budget: BUDGET }], logger: silentLogger });
  const target = { upstream: 'bench' };
  const deque = new ReferenceDequeGuard(BUDGET, WINDOW_MS);
  const limiter = new RateLimiterMemory({ points: BUDGET, duration: WINDOW_MS / 1_000 });

  // A guard over its budget: every decision is a fallback with a retry time.
  const exceeded = new QuotaGuard({
    budget: 1_000,
    window: WINDOW,
    probeInterval: '1h',
    logger: silentLogger,
  });
  exceeded.recordUsage(5_000);
  exceeded.decide();

  const bench = new Bench({ time, warmup: true });
  bench
    .add('QuotaGuard decide()', () => {
      for (let i = 0; i < BATCH; i++) guard.decide();
    })
    .add('QuotaGuard decide() while exceeded', () => {
      for (let i = 0; i < BATCH; i++) exceeded.decide();
    })
    .add('QuotaGuard recordUsage()', () => {
      for (let i = 0; i < BATCH; i++) guard.recordUsage(100);
    })
    .add('QuotaGuard decide+record', () => {
      for (let i = 0; i < BATCH; i++) {
        guard.decide();
        guard.recordUsage(100);
      }
    })
    .add('MemoryStore decide+record (sync)', () => {
      for (let i = 0; i < BATCH; i++) {
        store.decide(target);
        store.record(target, 100);
      }
    })
    .add('MemoryStore decide+record (awaited)', async () => {
      for (let i = 0; i < BATCH; i++) {
        await store.decide(target);
        await store.record(target, 100);
      }
    })
    .add('reference deque canUse+record', () => {
      for (let i = 0; i < BATCH; i++) {
        deque.canUsePrimary();
        deque.recordUsage(100);
      }
    })
    .add('RateLimiterMemory consume', async () => {
      for (let i = 0; i < BATCH; i++) await limiter.consume('bench', 100);
    });
  await bench.run();

  const rows = bench.tasks.map((t) => ({ task: t.name, 'ops/s': Math.round(opsPerSecond(bench, t.name)) }));
  console.table(rows);
  const pair = opsPerSecond(bench, 'QuotaGuard decide+record');
  const rlf = opsPerSecond(bench, 'RateLimiterMemory consume');
  const storeSync = opsPerSecond(bench, 'MemoryStore decide+record (sync)');
  console.log(`decide+record vs RateLimiterMemory.consume: ${(pair / rlf).toFixed(1)}x (goal >= 3x)`);
  console.log(`MemoryStore (sync) vs calling the guard directly: ${((storeSync / pair) * 100).toFixed(0)}%`);
}

/** Runs `fn` (which does `count` operations) for about `ms`; operations per second. */
async function timedLoop(fn: (count: number) => unknown, ms: number): Promise<number> {
  const count = 5_000;
  let ops = 0;
  const started = performance.now();
  const end = started + ms;
  while (performance.now() < end) {
    await fn(count);
    ops += count;
  }
  return (ops * 1_000) / (performance.now() - started);
}

/**
 * The store a request pays for against rate-limiter-flexible's memory limiter, side by side in
 * interleaved rounds: the ratio is taken per round (both measured moments apart), so a noisy
 * neighbour hurts both alike. `RateLimiterMemory.consume` runs in a plain awaited loop (under
 * tinybench it runs at half speed, which flattered the ratio before).
 */
async function storeAgainstLimiter(): Promise<void> {
  const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
  // The default clock: performance.now(), read on every record (as Date.now() is by every consume).
  const store = new MemoryStore();
  store.define('bench', {
    windows: [
      { window: '5h', budget: BUDGET },
      { window: '7d', budget: BUDGET },
    ],
    logger: silentLogger,
  });
  const target = { upstream: 'bench' };
  const limiter = new RateLimiterMemory({ points: BUDGET, duration: WINDOW_MS / 1_000 });
  const storeLoop = (count: number) => {
    for (let i = 0; i < count; i++) {
      const decision = store.decide(target);
      store.record(target, 100);
      store.success(target, decision);
    }
  };
  const limiterLoop = async (count: number) => {
    for (let i = 0; i < count; i++) await limiter.consume('bench', 100);
  };
  await timedLoop(storeLoop, 300); // warm-up
  await timedLoop(limiterLoop, 300);
  const ratios: number[] = [];
  const rows: Array<Record<string, string | number>> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const a = await timedLoop(storeLoop, 250);
    const b = await timedLoop(limiterLoop, 250);
    ratios.push(a / b);
    rows.push({
      round: round + 1,
      'store ops/s': Math.round(a),
      'limiter ops/s': Math.round(b),
      ratio: (a / b).toFixed(2),
    });
  }
  console.table(rows);
  const summary = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    return `median ${sorted[Math.floor(ROUNDS / 2)]!.toFixed(2)}x, range ${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)}`;
  };
  console.log(
    `MemoryStore decide+record+success (two windows) vs RateLimiterMemory.consume: ${summary(ratios)} over ${ROUNDS} interleaved rounds (goal >= 3x)`,
  );
}

function heapBytes(): number {
  globalThis.gc?.();
  globalThis.gc?.();
  const usage = process.memoryUsage();
  // Typed arrays live outside the JS heap: count them too, or the ring would look free.
  return usage.heapUsed + usage.arrayBuffers;
}

interface Recorder {
  record(tokens: number): void;
}

/** Records `events` usage events spread evenly over one window, on a manual clock. */
function memoryGrowth(name: string, make: (clock: { now(): number }) => Recorder, events: number): void {
  let t = 0;
  const clock = { now: () => t };
  const step = WINDOW_MS / events;
  const before = heapBytes();
  const recorder = make(clock);
  for (let i = 0; i < 1_000; i++) {
    recorder.record(1);
    t += step;
  }
  const at1k = heapBytes();
  for (let i = 1_000; i < events; i++) {
    recorder.record(1);
    t += step;
  }
  const atEnd = heapBytes();
  const mb = (bytes: number) => (bytes / 1_048_576).toFixed(2);
  console.log(
    `${name.padEnd(34)} after 1,000: ${mb(at1k - before).padStart(8)} MB   after ${events.toLocaleString('en')}: ${mb(atEnd - before).padStart(8)} MB   growth: ${mb(atEnd - at1k).padStart(8)} MB`,
  );
  // Keep the recorder alive until measured.
  if ((recorder as { keep?: number }).keep === -1) console.log('unreachable');
}

async function memory(): Promise<void> {
  if (!globalThis.gc) {
    console.log('(memory: run with node --expose-gc for heap figures)');
    return;
  }
  const events = Number(process.env.BENCH_EVENTS ?? 10_000_000);
  console.log(`\nHeap (+ typed arrays) for ${events.toLocaleString('en')} events over one ${WINDOW} window:`);
  const guardRecorder = (resolution?: Duration) => (clock: { now(): number }) => {
    const g = new QuotaGuard({
      budget: BUDGET,
      window: WINDOW,
      clock,
      logger: silentLogger,
      ...(resolution === undefined ? {} : { resolution }),
    });
    return {
      record: (tokens: number) => {
        g.recordUsage(tokens);
        if (tokens < 0) g.decide();
      },
    };
  };
  memoryGrowth('QuotaGuard (default: 1,000 slots)', guardRecorder(), events);
  memoryGrowth("QuotaGuard resolution '1s'", guardRecorder('1s'), events);
  memoryGrowth('QuotaGuard resolution 0 (exact)', guardRecorder(0), events);
  memoryGrowth(
    'reference deque',
    (clock) => {
      const d = new ReferenceDequeGuard(BUDGET, WINDOW_MS, 300_000, clock);
      return { record: (tokens: number) => d.recordUsage(tokens) };
    },
    events,
  );
}

await throughput();
await storeAgainstLimiter();
await memory();
