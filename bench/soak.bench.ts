/**
 * npm run bench:soak — the guard under load for a long time (default 5 min): an Express app with
 * a 5h and a 7d window on a clock running 300× (5 h pass every minute), 100,000 tenants churning
 * through a 10,000-tenant store, about one cap error per thousand primary answers, and the probes
 * that end them. The server's heap is sampled every 10 s after a full GC: its trend over the
 * second half (after warm-up) says whether anything grows. Then p99 latency against bare Express,
 * in interleaved rounds, as per-round ratios.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const SAMPLE_EVERY_S = 10;
const TENANTS = 100_000;
const ROUNDS = Number(process.env.SOAK_LATENCY_ROUNDS ?? 5);
const ROUND_SECONDS = 8;

async function start(kind: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', new URL('./soak-server.mjs', import.meta.url).pathname, kind],
    { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] },
  );
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, port: Number(chunk.toString().trim()) };
}

async function ask<T>(child: ChildProcess, what: string): Promise<T> {
  child.send(what);
  const [answer] = (await once(child, 'message')) as [T];
  return answer;
}

/** Requests from many tenants, with usage and, now and then, a cap error to report. */
function load(port: number, seconds: number) {
  let n = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 20,
    duration: seconds,
    requests: [
      {
        method: 'POST',
        path: '/v1/messages',
        setupRequest: (req) => {
          n++;
          const tenant = (n * 7_919) % TENANTS;
          return {
            ...req,
            headers: {
              ...req.headers,
              'x-tenant': `tenant-${tenant}`,
              'x-tokens': String(500 + (n % 1_500)),
              ...(n % 1_000 === 0 ? { 'x-cap': '1' } : {}),
            },
          };
        },
      },
    ],
  });
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + y, 0) / n;
  const num = points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0);
  const den = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

const MB = 1 << 20;
const guard = await start('guard');
const heap: Array<[number, number]> = [];
const began = Date.now();
const soak = load(guard.port, SECONDS);
const sampler = setInterval(async () => {
  const used = await ask<number>(guard.child, 'heap');
  heap.push([(Date.now() - began) / 1_000, used / MB]);
}, SAMPLE_EVERY_S * 1_000);
const result = await soak;
clearInterval(sampler);
const info = await ask<{
  store: { keys: number; evictedKeys: number };
  upstreamErrors: { cap: number };
  problems: Record<string, number>;
}>(guard.child, 'stats');

const secondHalf = heap.filter(([t]) => t >= SECONDS / 2);
console.log(
  `soak: ${SECONDS} s, ${result.requests.total} requests (${Math.round(result.requests.average)} req/s), ${result.non2xx} non-2xx (the vendor's 429s passed on), ${result.errors} errors`,
);
console.log(
  `  tenants kept ${info.store.keys}, evicted ${info.store.evictedKeys}; cap errors met ${info.upstreamErrors.cap}; problems ${JSON.stringify(info.problems)}`,
);
console.log(
  `  heap after GC, MB, every ${SAMPLE_EVERY_S} s: ${heap.map(([, mb]) => mb.toFixed(1)).join(' ')}`,
);
console.log(
  `  trend over the second half: ${(slope(secondHalf) * 60).toFixed(3)} MB/min (min ${Math.min(...secondHalf.map(([, m]) => m)).toFixed(1)}, max ${Math.max(...secondHalf.map(([, m]) => m)).toFixed(1)} MB)`,
);

// p99 latency, bare Express and the guarded app taking turns on the same load.
const bare = await start('bare');
const ratios: number[] = [];
const rows: Array<Record<string, string | number>> = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const b = await load(bare.port, ROUND_SECONDS);
    const g = await load(guard.port, ROUND_SECONDS);
    ratios.push(g.latency.p99 / b.latency.p99);
    rows.push({
      round: round + 1,
      'bare p99 ms': b.latency.p99,
      'guard p99 ms': g.latency.p99,
      ratio: (g.latency.p99 / b.latency.p99).toFixed(2),
      'bare req/s': Math.round(b.requests.average),
      'guard req/s': Math.round(g.requests.average),
    });
  }
} finally {
  bare.child.kill();
  guard.child.kill();
}
console.table(rows);
const sorted = [...ratios].sort((a, b) => a - b);
console.log(
  `p99 guard / bare: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)}, range ${sorted[0]!.toFixed(2)}–${sorted.at(-1)!.toFixed(2)} over ${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s, 20 connections`,
);
