/**
 * npm run bench:adapters — throughput of Express and Koa over HTTP (autocannon, loopback), bare,
 * with quota-guard (a usage function, or `usage: 'anthropic'` reading the JSON body), and
 * (Express) with express-rate-limit's memory store.
 *
 * This machine is a shared 2-core VM whose speed drifts by tens of percent within a minute, so
 * each guarded slot is compared with the bare slots right before and after it (bare, A, bare, B,
 * bare, …: the bracket cancels a drift that is steady over a few seconds), over rounds whose
 * order rotates. Where `taskset` exists, the servers run on core 0 and the load generator on
 * core 1, so the two do not take turns on one core. Reported per configuration: the median and
 * range over rounds of its req/s over its bracket's, and of the server CPU it adds per request.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

// `+control` is a second bare server (the same app in another process): how far the harness
// itself puts two identical servers apart.
const GROUPS: Record<string, string[]> = {
  express: [
    'express+quota-guard',
    'express+quota-guard(anthropic)',
    'express+express-rate-limit',
    'express+control',
  ],
  koa: ['koa+quota-guard', 'koa+control'],
};
const only = process.env.BENCH_ONLY;
if (only) for (const group of Object.keys(GROUPS)) if (group !== only) delete GROUPS[group];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);

/** `taskset` when it can pin on this machine (two cores or more), else nothing. */
function pinning(): boolean {
  if (process.env.BENCH_NO_PIN) return false;
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    // Not nproc: it counts only the cores this process may use, one once pinned.
    return cpus().length >= 2;
  } catch {
    return false;
  }
}
const PIN = process.env.QG_BENCH_PINNED === '1' || pinning();

// The load generator (this process) moves to core 1 once, by running itself again under taskset.
if (PIN && process.env.QG_BENCH_PINNED === undefined) {
  const result = spawnSync(
    'taskset',
    [
      '-c',
      '1',
      process.execPath,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...process.argv.slice(2),
    ],
    { stdio: 'inherit', env: { ...process.env, QG_BENCH_PINNED: '1' } },
  );
  process.exit(result.status ?? 1);
}

async function startServer(kind: string): Promise<{ child: ChildProcess; port: number }> {
  const server = [new URL('./hello-server.mjs', import.meta.url).pathname, kind];
  const child = PIN
    ? spawn('taskset', ['-c', '0', process.execPath, ...server], {
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
      })
    : spawn(process.execPath, server, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
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
  // Half a second first, not counted: a server that sat idle for a while (its heap shrunk by
  // V8's idle-time collector, its caches cold) starts slow, and the bare one runs most often.
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: 0.5 });
  const cpuBefore = await cpuMicros(child);
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: SECONDS });
  const cpu = (await cpuMicros(child)) - cpuBefore;
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`errors: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return { rps: result.requests.average, cpuPerRequestUs: cpu / result.requests.total };
}

/** Per guarded configuration and round: its sample and the mean of the bare slots around it. */
const pairs = new Map<string, Array<{ guarded: Sample; bare: Sample }>>();
const bareRps = new Map<string, number[]>();
const servers = new Map<string, { child: ChildProcess; port: number }>();
const all = Object.entries(GROUPS).flatMap(([bare, configs]) => [bare, ...configs]);
for (const kind of all) servers.set(kind, await startServer(kind));
try {
  for (const kind of all) await measure(servers.get(kind)!); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const [bare, configs] of Object.entries(GROUPS)) {
      const order = configs.map((_, i) => configs[(i + round) % configs.length]!);
      let before = await measure(servers.get(bare)!);
      bareRps.set(bare, [...(bareRps.get(bare) ?? []), before.rps]);
      for (const kind of order) {
        const guarded = await measure(servers.get(kind)!);
        const after = await measure(servers.get(bare)!);
        const bracket: Sample = {
          rps: (before.rps + after.rps) / 2,
          cpuPerRequestUs: (before.cpuPerRequestUs + after.cpuPerRequestUs) / 2,
        };
        pairs.set(kind, [...(pairs.get(kind) ?? []), { guarded, bare: bracket }]);
        before = after;
      }
    }
  }
} finally {
  for (const { child } of servers.values()) child.kill();
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;
const limiter = pairs.get('express+express-rate-limit')!;
const rows: Array<Record<string, string>> = [];
for (const [bare, configs] of Object.entries(GROUPS)) {
  rows.push({ configuration: bare, 'req/s (median)': String(Math.round(median(bareRps.get(bare)!))) });
  for (const kind of configs) {
    const p = pairs.get(kind)!;
    const ratio = p.map(({ guarded, bare }) => guarded.rps / bare.rps);
    const added = p.map(({ guarded, bare }) => guarded.cpuPerRequestUs - bare.cpuPerRequestUs);
    const row: Record<string, string> = {
      configuration: kind,
      'req/s (median)': String(Math.round(median(p.map((x) => x.guarded.rps)))),
      'req/s vs bare, per round': `${median(ratio).toFixed(3)} (${range(ratio, 3)})`,
      'added CPU µs/req': `${median(added).toFixed(1)} (${range(added, 1)})`,
    };
    if (kind.startsWith('express+quota-guard')) {
      const vs = p.map(
        ({ guarded, bare }, i) =>
          (guarded.cpuPerRequestUs - bare.cpuPerRequestUs) /
          (limiter[i]!.guarded.cpuPerRequestUs - limiter[i]!.bare.cpuPerRequestUs),
      );
      row['added vs express-rate-limit'] = `${median(vs).toFixed(2)}x (${range(vs, 2)})`;
    }
    rows.push(row);
  }
}
console.table(rows);
console.log(
  `${ROUNDS} rounds of ${SECONDS} s slots, 10 connections, each guarded slot between two bare ones; ratios per round (median, range)${PIN ? '; servers on core 0, load generator on core 1' : ''}; goals: >= 0.95 of bare, CPU added <= express-rate-limit's`,
);
