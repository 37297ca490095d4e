/**
 * npm run bench:adapters — Express and Koa over HTTP, each configuration side by side with its
 * bare app: both servers run at the same time on the same core, each loaded by a load generator
 * of its own, so whatever the shared machine does to that core it does to both alike.
 *
 * Configurations: quota-guard with a usage function, with `usage: 'anthropic'` (reading the JSON
 * body), express-rate-limit's memory store, the **floor** (the least a quota middleware can do:
 * one decision, one `close` listener, one record and one success on the same store; see
 * hello-server.mjs), and a **control** (a second bare server: what the harness alone puts
 * between two identical servers). Per round and configuration, one pair run;
 * rounds rotate the order of the configurations and alternate which load generator starts first.
 * Every run starts both servers afresh and warms them (`BENCH_WARM_SECONDS`, default 8: a bare
 * Express serves ~3k req/s on half a core, and 2 s left it compiling). Reported per configuration, median and range over rounds:
 * - req/s over its bare partner's in the same run;
 * - server CPU per request, bare over guarded: the throughput ratio of two saturated servers,
 *   steadier than req/s, and the one that says what the guard costs when the load generators
 *   rather than the core set the pace;
 * - CPU µs added per request, and for Express over express-rate-limit's in the same round.
 *
 * Load generator: `wrk` (Debian's package `wrk`), a C program that costs a server-side request a
 * few percent of its own CPU, so the servers' core is the one that runs out. Without it,
 * autocannon in child processes (heavier: it may set the pace; the busy share printed shows it).
 * Servers on core 0, load generators on core 1, where `taskset` and two cores exist.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';

const GROUPS: Record<string, string[]> = {
  express: [
    'express+quota-guard',
    'express+quota-guard(anthropic)',
    'express+express-rate-limit',
    'express+floor',
    'express+control',
  ],
  koa: ['koa+quota-guard', 'koa+control'],
};
const only = process.env.BENCH_ONLY;
if (only) for (const group of Object.keys(GROUPS)) if (group !== only) delete GROUPS[group];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
// Warm-up per run, not counted: the JIT compiles what a fresh server runs (the guard's code too).
const WARM_SECONDS = Number(process.env.BENCH_WARM_SECONDS ?? 8);
const CONNECTIONS = 10;

function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
// Not nproc: it counts only the cores this process may use.
const PIN = !process.env.BENCH_NO_PIN && cpus().length >= 2 && works('taskset', ['-c', '0', 'true']);
const WRK = !process.env.BENCH_AUTOCANNON && works('sh', ['-c', 'command -v wrk']);

function pinned(core: number, command: string, args: string[]): [string, string[]] {
  return PIN ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

interface Server {
  kind: string;
  child: ChildProcess;
  port: number;
}

async function startServer(kind: string): Promise<Server> {
  const script = fileURLToPath(new URL('./hello-server.mjs', import.meta.url));
  const [command, args] = pinned(0, process.execPath, [script, kind]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { kind, child, port: Number(chunk.toString().trim()) };
}

async function cpuMicros(child: ChildProcess): Promise<number> {
  child.send('cpu');
  const [usage] = (await once(child, 'message')) as [NodeJS.CpuUsage];
  return usage.user + usage.system;
}

interface Load {
  requests: number;
  failures: number;
}

/** Runs one load generator against a port for `seconds`; resolves with what it counted. */
async function load(port: number, seconds: number): Promise<Load> {
  const url = `http://127.0.0.1:${port}/`;
  const [command, args] = WRK
    ? pinned(1, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, url])
    : pinned(1, process.execPath, [
        fileURLToPath(new URL('./autocannon-load.mjs', import.meta.url)),
        url,
        String(CONNECTIONS),
        String(seconds),
      ]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'close')) as [number];
  if (code !== 0) throw new Error(`load generator exited with ${code}: ${output}`);
  if (!WRK) return JSON.parse(output) as Load;
  // wrk: "123456 requests in 4.00s, …", then "Non-2xx or 3xx responses: N" and
  // "Socket errors: connect A, read B, write C, timeout D" when there were any.
  const requests = Number(/(\d+) requests in/.exec(output)?.[1] ?? Number.NaN);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const errors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  return { requests, failures: non2xx + errors };
}

interface Side {
  rps: number;
  cpuPerRequestUs: number;
}

/** Loads two servers at once; `bFirst` spawns b's load generator first. */
async function pair(a: Server, b: Server, seconds: number, bFirst: boolean): Promise<[Side, Side, number]> {
  const before = await Promise.all([cpuMicros(a.child), cpuMicros(b.child)]);
  const started = performance.now();
  let loadA: Promise<Load>;
  let loadB: Promise<Load>;
  if (bFirst) {
    loadB = load(b.port, seconds);
    loadA = load(a.port, seconds);
  } else {
    loadA = load(a.port, seconds);
    loadB = load(b.port, seconds);
  }
  const [la, lb] = await Promise.all([loadA, loadB]);
  const wallUs = (performance.now() - started) * 1000;
  const after = await Promise.all([cpuMicros(a.child), cpuMicros(b.child)]);
  for (const [server, result] of [
    [a, la],
    [b, lb],
  ] as const) {
    if (!(result.requests > 0) || result.failures > 0)
      throw new Error(`${server.kind}: ${result.requests} requests, ${result.failures} failed`);
  }
  const side = (result: Load, cpu: number): Side => ({
    rps: result.requests / seconds,
    cpuPerRequestUs: cpu / result.requests,
  });
  const cpuA = after[0] - before[0];
  const cpuB = after[1] - before[1];
  // The share of the servers' core the two servers used: near 1 when the core set the pace.
  const busy = PIN ? (cpuA + cpuB) / wallUs : Number.NaN;
  return [side(la, cpuA), side(lb, cpuB), busy];
}

interface Run {
  bare: Side;
  guarded: Side;
}

const runs = new Map<string, Run[]>();
const busyShares: number[] = [];
for (let round = 0; round < ROUNDS; round++) {
  for (const [bare, configs] of Object.entries(GROUPS)) {
    for (let i = 0; i < configs.length; i++) {
      const kind = configs[(i + round) % configs.length]!;
      // Fresh processes for every run: one Node process may run the same code a few percent
      // faster or slower than the next for its whole life (what its JIT made of it, where its
      // code and heap landed), so pairs of long-lived servers repeat one draw round after round.
      const pairOf = [await startServer(bare), await startServer(kind)] as const;
      try {
        await pair(pairOf[0], pairOf[1], WARM_SECONDS, false); // warm-up (the JIT at work), not counted
        const [bareSide, guardedSide, busy] = await pair(pairOf[0], pairOf[1], SECONDS, round % 2 === 1);
        busyShares.push(busy);
        runs.set(kind, [...(runs.get(kind) ?? []), { bare: bareSide, guarded: guardedSide }]);
      } finally {
        for (const { child } of pairOf) child.kill();
      }
    }
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spread = (values: number[], digits: number) =>
  `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)})`;
const added = (run: Run) => run.guarded.cpuPerRequestUs - run.bare.cpuPerRequestUs;
const limiter = runs.get('express+express-rate-limit');
const rows: Array<Record<string, string>> = [];
for (const [bare, configs] of Object.entries(GROUPS)) {
  for (const kind of configs) {
    const list = runs.get(kind)!;
    const row: Record<string, string> = {
      configuration: kind,
      'req/s': String(Math.round(median(list.map((run) => run.guarded.rps)))),
      [`${bare} req/s`]: String(Math.round(median(list.map((run) => run.bare.rps)))),
      'req/s vs bare': spread(
        list.map((run) => run.guarded.rps / run.bare.rps),
        3,
      ),
      'CPU/req, bare over this': spread(
        list.map((run) => run.bare.cpuPerRequestUs / run.guarded.cpuPerRequestUs),
        3,
      ),
      'added CPU µs/req': spread(list.map(added), 1),
    };
    if (limiter && kind.startsWith('express+quota-guard'))
      row['added vs express-rate-limit'] = `${spread(
        list.map((run, i) => added(run) / added(limiter[i]!)),
        2,
      )}x`;
    rows.push(row);
  }
}
console.table(rows);
console.log(
  `${ROUNDS} rounds; each configuration loaded for ${SECONDS} s at the same time as its bare app, ` +
    `${CONNECTIONS} connections each, by ${WRK ? 'wrk' : 'autocannon (install wrk for a lighter load generator)'}; ` +
    (PIN
      ? `servers on core 0 (busy ${spread(busyShares, 2)} of it), load generators on core 1`
      : 'not pinned (no taskset or one core)') +
    '; ratios per run, median (range); goals: >= 0.95 of bare, CPU added <= express-rate-limit',
);
