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
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import Koa from 'koa';
import { quotaGuard as expressGuard } from '../dist/express.js';
import { silentLogger } from '../dist/index.js';
import { quotaGuard as koaGuard } from '../dist/koa.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 20_000);

const windows = [
  { window: '5h' as const, budget: 1e15 },
  { window: '7d' as const, budget: 1e16 },
];
const answer = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  content: [{ type: 'text', text: 'hello' }],
  usage: { input_tokens: 12, output_tokens: 3 },
};

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
    res.json(answer);
  });
  return app as unknown as Handler;
}

function koaApp(kind: string): Handler {
  const app = new Koa();
  if (kind === 'koa+guard')
    app.use(koaGuard({ upstream: 'b', windows, logger: silentLogger, usage: () => 15 }));
  app.use((ctx) => {
    ctx.body = answer;
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

async function cpuPerRequest(handler: Handler, socket: Socket): Promise<number> {
  // Each configuration starts from a collected heap: garbage of the one before is not its cost.
  (globalThis as { gc?: () => void }).gc?.();
  const before = process.cpuUsage();
  for (let i = 0; i < REQUESTS; i++) await oneRequest(handler, socket);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / REQUESTS;
}

const CONFIGS = [
  'express',
  'express+guard',
  'express+guard(anthropic)',
  'express+express-rate-limit',
  'koa',
  'koa+guard',
];

if (process.argv[2] === 'child') {
  // One configuration per process: no JIT state, patched prototype or garbage shared with another.
  const kind = process.argv[3]!;
  const handler = kind.startsWith('koa') ? koaApp(kind) : expressApp(kind);
  const socket = sinkSocket();
  await cpuPerRequest(handler, socket); // warm-up
  process.on('message', async () => {
    process.send?.(await cpuPerRequest(handler, socket));
  });
  process.send?.('ready');
} else {
  await parent();
}

async function parent(): Promise<void> {
  // BENCH_ONLY=express,express+guard measures a subset (the bare servers must be among them).
  const only = process.env.BENCH_ONLY?.split(',');
  const configs = only ? CONFIGS.filter((c) => only.includes(c)) : CONFIGS;
  const children = new Map<string, ChildProcess>();
  for (const c of configs) {
    const child = fork(fileURLToPath(import.meta.url), ['child', c], {
      execArgv: ['--expose-gc', '--import', 'tsx'],
    });
    await once(child, 'message');
    children.set(c, child);
  }
  const measure = async (c: string) => {
    const child = children.get(c)!;
    child.send('measure');
    const [us] = (await once(child, 'message')) as [number];
    return us;
  };
  const absolute = new Map<string, number[]>(configs.map((c) => [c, []]));
  const added = new Map<string, number[]>(configs.map((c) => [c, []]));
  const versusLimiter = new Map<string, number[]>(
    configs.includes('express+express-rate-limit')
      ? configs.filter((c) => c.startsWith('express+guard')).map((c): [string, number[]] => [c, []])
      : [],
  );
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const us = new Map<string, number>();
      // A different order each round, so no configuration always follows the same one.
      for (let i = 0; i < configs.length; i++) {
        const c = configs[(i + round) % configs.length]!;
        us.set(c, await measure(c));
      }
      for (const c of configs) {
        absolute.get(c)!.push(us.get(c)!);
        added.get(c)!.push(us.get(c)! - us.get(c.split('+')[0]!)!);
      }
      if (versusLimiter.size > 0) {
        const limiter = us.get('express+express-rate-limit')! - us.get('express')!;
        for (const [c, list] of versusLimiter) list.push((us.get(c)! - us.get('express')!) / limiter);
      }
    }
  } finally {
    for (const child of children.values()) child.kill();
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  const range = (v: number[], digits: number) =>
    `${Math.min(...v).toFixed(digits)} – ${Math.max(...v).toFixed(digits)}`;
  console.table(
    configs.map((c) => ({
      configuration: c,
      'CPU µs/req (median)': median(absolute.get(c)!).toFixed(1),
      range: range(absolute.get(c)!, 1),
      'added µs/req (median)': c.includes('+') ? median(added.get(c)!).toFixed(1) : '',
      'added range': c.includes('+') ? range(added.get(c)!, 1) : '',
      'vs express-rate-limit (median, range)': versusLimiter.has(c)
        ? `${median(versusLimiter.get(c)!).toFixed(2)}x (${range(versusLimiter.get(c)!, 2)})`
        : '',
      'vs bare (throughput)': c.includes('+')
        ? `${(median(absolute.get(c.split('+')[0]!)!) / median(absolute.get(c)!)).toFixed(3)}`
        : '',
    })),
  );
  console.log(
    `${ROUNDS} interleaved rounds of ${REQUESTS} requests per configuration, one process each, in process (no sockets)`,
  );
}
