/**
 * npm run bench:adapters — hello-world throughput of Express and Koa, bare, with quota-guard, and
 * (Express) with express-rate-limit's memory store, measured with autocannon. Configurations
 * take turns over several rounds so a noisy neighbour hurts them alike; the median round counts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import autocannon from 'autocannon';

const CONFIGS = ['express', 'express+quota-guard', 'express+express-rate-limit', 'koa', 'koa+quota-guard'];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
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
const rps = new Map(CONFIGS.map((c) => [c, median(samples.get(c)!.map((x) => x.rps))]));
const cpu = new Map(CONFIGS.map((c) => [c, median(samples.get(c)!.map((x) => x.cpuPerRequestUs))]));
const bare = (kind: string) => kind.split('+')[0]!;
console.table(
  CONFIGS.map((kind) => ({
    configuration: kind,
    'req/s (median)': Math.round(rps.get(kind)!),
    'req/s vs bare': `${((rps.get(kind)! / rps.get(bare(kind))!) * 100).toFixed(1)}%`,
    'server CPU µs/req': cpu.get(kind)!.toFixed(1),
    'added µs/req': (cpu.get(kind)! - cpu.get(bare(kind))!).toFixed(1),
  })),
);
console.log(
  `${ROUNDS} rounds of ${SECONDS} s, 10 connections; goal: quota-guard >= 95% of bare and cheaper than express-rate-limit`,
);
