/**
 * npm run bench:in-process — CPU time each middleware adds to a request, without sockets: real
 * `IncomingMessage` / `ServerResponse` objects through real Express and Koa apps (the built
 * package), the response's socket a sink, and `close` emitted after `finish` as Node's server
 * does. Steadier than req/s over loopback on a shared 2-core machine: no client, no kernel.
 *
 * Configurations take turns in every round; each guard's added µs is taken against bare in the
 * same round, and the ratio against express-rate-limit's too; the median and range over rounds
 * are reported.
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import Koa from 'koa';

// The built package, as users run it (npm run build first), typed by its sources: a path in a
// variable keeps the typecheck of a fresh clone (no dist/ yet) from looking for it.
const dist = '../dist';
const { quotaGuard: expressGuard } = (await import(
  `${dist}/express.js`
)) as typeof import('../src/adapters/express.js');
const { silentLogger } = (await import(`${dist}/index.js`)) as typeof import('../src/index.js');
const { quotaGuard: koaGuard } = (await import(`${dist}/koa.js`)) as typeof import('../src/adapters/koa.js');

import { llmAnswer } from './llm-answer.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);

const windows = [
  { window: '5h' as const, budget: 1e15 },
  { window: '7d' as const, budget: 1e16 },
];

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function expressApp(kind: string): Handler {
  const app = express();
  if (kind === 'express+guard')
    app.use(expressGuard({ upstream: 'b', windows, logger: silentLogger, usage: () => 15 }));
  if (kind === 'express+guard(anthropic)')
    app.use(expressGuard({ upstream: 'b', windows, logger: silentLogger, usage: 'anthropic' }));
  if (kind === 'express+express-rate-limit')
    app.use(rateLimit({ windowMs: 5 * 3_600_000, limit: 1e9, standardHeaders: false, legacyHeaders: false }));
  app.get('/', (_req, res) => {
    res.json(llmAnswer);
  });
  return app as unknown as Handler;
}

function koaApp(kind: string): Handler {
  const app = new Koa();
  if (kind === 'koa+guard')
    app.use(koaGuard({ upstream: 'b', windows, logger: silentLogger, usage: () => 15 }));
  app.use((ctx) => {
    ctx.body = llmAnswer;
  });
  return app.callback() as Handler;
}

/** A socket that takes every byte and drops it. */
function sinkSocket(): Socket {
  const socket = new Socket();
  const sink = new Writable({ write: (_chunk, _encoding, callback) => callback() });
  // The response writes through `socket.write` / `cork`: route them to the sink.
  socket.write = sink.write.bind(sink) as Socket['write'];
  socket.cork = () => {};
  socket.uncork = () => {};
  Object.defineProperty(socket, 'writable', { value: true });
  Object.defineProperty(socket, 'remoteAddress', { value: '127.0.0.1' });
  return socket;
}

/** One request through the app, resolved when its response has closed (as the server emits it). */
function oneRequest(handler: Handler, socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/';
    req.headers = { host: 'bench' };
    req.push(null);
    const res = new ServerResponse(req);
    res.assignSocket(socket);
    res.on('finish', () => {
      res.detachSocket(socket);
      process.nextTick(() => {
        res.emit('close');
        resolve();
      });
    });
    handler(req, res);
  });
}

/**
 * CPU µs per request over `count` requests. The heap is not collected before a measurement: a
 * forced full collection shrinks V8's young generation, and the next slot pays for growing it
 * again in more frequent scavenges, billed to whichever configuration allocates more (it once
 * showed the Koa guard adding 9.6 µs that run side by side without it showed as 1.4). No server
 * collects its heap between requests.
 */
async function cpuPerRequest(handler: Handler, socket: Socket, count: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < count; i++) await oneRequest(handler, socket);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / count;
}

/**
 * Configurations compared side by side, each group in a process of its own: a guard reading
 * bodies patches Express's response prototype, and two guard variants in one process share (and
 * make polymorphic) the same code, so they do not meet.
 */
const GROUPS = [
  ['express', 'express+guard', 'express+express-rate-limit'],
  ['express', 'express+guard(anthropic)', 'express+express-rate-limit'],
  ['koa', 'koa+guard'],
];

type Rounds = Record<string, number[]>;

/** Every configuration of the group in every round, taking turns in a rotating order. */
async function measureGroup(group: string[]): Promise<Rounds> {
  const make = (k: string) => (k.startsWith('koa') ? koaApp(k) : expressApp(k));
  const handlers = new Map(group.map((c) => [c, make(c)]));
  const socket = sinkSocket();
  for (const c of group) await cpuPerRequest(handlers.get(c)!, socket, REQUESTS); // warm-up
  const rounds: Rounds = Object.fromEntries(group.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < group.length; i++) {
      const c = group[(i + round) % group.length]!;
      rounds[c]!.push(await cpuPerRequest(handlers.get(c)!, socket, REQUESTS));
    }
  }
  return rounds;
}

if (process.argv[2] === 'child') {
  process.send?.(await measureGroup(process.argv.slice(3)));
} else {
  await parent();
}

async function parent(): Promise<void> {
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const range = (v: number[], digits: number) =>
    `${Math.min(...v).toFixed(digits)} – ${Math.max(...v).toFixed(digits)}`;
  const rows: Array<Record<string, string>> = [];
  for (const group of GROUPS) {
    const child = fork(fileURLToPath(import.meta.url), ['child', ...group], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
    });
    const [rounds] = (await once(child, 'message')) as [Rounds];
    child.kill();
    const bare = rounds[group[0]!]!;
    const limiter = rounds['express+express-rate-limit'];
    for (const c of group.slice(1)) {
      const us = rounds[c]!;
      const added = us.map((u, i) => u - bare[i]!);
      const share = us.map((u, i) => bare[i]! / u);
      const vsLimiter =
        limiter && c !== 'express+express-rate-limit'
          ? added.map((a, i) => a / (limiter[i]! - bare[i]!))
          : undefined;
      rows.push({
        configuration: c,
        'bare µs/req': median(bare).toFixed(1),
        'added µs/req (median)': median(added).toFixed(1),
        'added range': range(added, 1),
        'throughput vs bare': `${median(share).toFixed(3)} (${range(share, 3)})`,
        'added vs express-rate-limit': vsLimiter
          ? `${median(vsLimiter).toFixed(2)}x (${range(vsLimiter, 2)})`
          : '',
      });
    }
  }
  console.table(rows);
  console.log(
    `${ROUNDS} rounds of ${REQUESTS} requests per configuration, side by side in one process per group (rotating order); ratios per round; no sockets`,
  );
}
