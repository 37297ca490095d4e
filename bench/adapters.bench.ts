/**
 * npm run bench:adapters — throughput of Express and Koa over HTTP (autocannon, loopback), bare,
 * with quota-guard (a usage function, or `usage: 'anthropic'` reading the JSON body), and
 * (Express) with express-rate-limit's memory store. Configurations take turns in every round;
 * each guarded server is compared with its bare server of the same round (req/s ratio, and the
 * server CPU it adds per request), and the median and range over rounds are reported.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';

const CONFIGS = [
  'express',
  'express+quota-guard',
  'express+quota-guard(anthropic)',
  'express+express-rate-limit',
  'koa',
  'koa+quota-guard',
];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);

async function startServer(kind: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [new URL('./hello-server.mjs', import.meta.url).pathname, kind], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, port: Number(chunk.toString().trim()) };
}

async function cpuMicros(child: ChildProcess): Promise<number> {
  child.send('cpu');
  const [usage] = (await once(child, 'message')) as [NodeJS.CpuUsage];
  return usage.user + usage.system;
}

interface Sample {
  rps: number;
  /** Server CPU time per request: steadier than throughput when client and server share 2 cores. */
  cpuPerRequestUs: number;
}

async function measure({ child, port }: { child: ChildProcess; port: number }): Promise<Sample> {
  const cpuBefore = await cpuMicros(child);
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: SECONDS });
  const cpu = (await cpuMicros(child)) - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`errors: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, cpuPerRequestUs: cpu / result.requests.total };
}

const samples = new Map<string, Sample[]>(CONFIGS.map((c) => [c, []]));
const servers = new Map<string, { child: ChildProcess; port: number }>();
for (const kind of CONFIGS) servers.set(kind, await startServer(kind));
try {
  for (const kind of CONFIGS) await measure(servers.get(kind)!); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of CONFIGS) samples.get(kind)!.push(await measure(servers.get(kind)!));
  }
} finally {
  for (const { child } of servers.values()) child.kill();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
const bare = (kind: string) => kind.split('+')[0]!;
const perRound = (kind: string, f: (s: Sample, b: Sample, i: number) => number) =>
  samples.get(kind)!.map((s, i) => f(s, samples.get(bare(kind))![i]!, i));
const limiter = samples.get('express+express-rate-limit')!;
console.table(
  CONFIGS.map((kind) => {
    const row: Record<string, string> = {
      configuration: kind,
      'req/s (median)': String(Math.round(median(samples.get(kind)!.map((x) => x.rps)))),
      'server CPU µs/req': median(samples.get(kind)!.map((x) => x.cpuPerRequestUs)).toFixed(1),
    };
    if (kind.includes('+')) {
      const ratio = perRound(kind, (s, b) => s.rps / b.rps);
      const added = perRound(kind, (s, b) => s.cpuPerRequestUs - b.cpuPerRequestUs);
      row['req/s vs bare, per round'] = `${median(ratio).toFixed(3)} (${range(ratio, 3)})`;
      row['added CPU µs/req'] = `${median(added).toFixed(1)} (${range(added, 1)})`;
      if (kind.startsWith('express+quota-guard')) {
        const vs = perRound(
          kind,
          (s, b, i) =>
            (s.cpuPerRequestUs - b.cpuPerRequestUs) / (limiter[i]!.cpuPerRequestUs - b.cpuPerRequestUs),
        );
        row['added vs express-rate-limit'] = `${median(vs).toFixed(2)}x (${range(vs, 2)})`;
      }
    }
    return row;
  }),
);
console.log(
  `${ROUNDS} interleaved rounds of ${SECONDS} s, 10 connections; ratios per round (median, range); goals: >= 0.95 of bare, CPU added <= express-rate-limit's`,
);
