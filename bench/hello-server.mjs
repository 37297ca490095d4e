/**
 * A hello-world server in one of the benchmark's configurations, run as a child process so the
 * load generator does not share its event loop. Prints its port on stdout.
 */
import { createServer } from 'node:http';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import Koa from 'koa';
// The built package, as users run it (npm run build first): no TypeScript loader in the hot path.
import { quotaGuard as expressGuard } from '../dist/express.js';
import { MemoryStore, silentLogger } from '../dist/index.js';
import { quotaGuard as koaGuard } from '../dist/koa.js';
import { llmAnswer } from './llm-answer.mjs';

const guardOptions = {
  upstream: 'bench',
  windows: [
    { window: '5h', budget: 1e15 },
    { window: '7d', budget: 1e16 },
  ],
  logger: silentLogger,
};

/**
 * The floor: the least a quota middleware can do per request (one decision from the same store,
 * one shared `close` listener, one record and one success), with none of the guard's checks,
 * vendor readings or in-flight accounting. What the guard's figure is to be read against.
 */
const FLOOR = Symbol('floor');
const floorStore = new MemoryStore();
floorStore.define('floor', { windows: guardOptions.windows, logger: silentLogger });
const floorTarget = { upstream: 'floor' };
function floorClose() {
  floorStore.record(floorTarget, 1);
  if (this.statusCode < 400) floorStore.success(floorTarget, this.locals[FLOOR]);
}
function floorMiddleware(_req, res, next) {
  res.locals[FLOOR] = floorStore.decide(floorTarget);
  res.on('close', floorClose);
  next();
}

function expressApp(kind) {
  const app = express();
  if (kind === 'express+quota-guard') app.use(expressGuard({ ...guardOptions, usage: () => 1 }));
  if (kind === 'express+quota-guard(anthropic)')
    app.use(expressGuard({ ...guardOptions, usage: 'anthropic' }));
  if (kind === 'express+floor') app.use(floorMiddleware);
  if (kind === 'express+express-rate-limit') {
    app.use(rateLimit({ windowMs: 5 * 3_600_000, limit: 1e9, standardHeaders: false, legacyHeaders: false }));
  }
  app.get('/', (_req, res) => {
    // An LLM-shaped answer: what the anthropic configuration reads its usage from.
    res.json(llmAnswer);
  });
  return createServer(app);
}

function koaApp(kind) {
  const app = new Koa();
  if (kind === 'koa+quota-guard') app.use(koaGuard({ ...guardOptions, usage: () => 1 }));
  app.use((ctx) => {
    ctx.body = llmAnswer;
  });
  return createServer(app.callback());
}

const kind = process.argv[2] ?? 'express';
const server = kind.startsWith('koa') ? koaApp(kind) : expressApp(kind);
server.listen(0, '127.0.0.1', () => {
  console.log(server.address().port);
});

// Exit cleanly on a signal, so `--cpu-prof` can write its profile.
process.on('SIGINT', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
// The benchmark asks for the server's CPU time over IPC, to report CPU per request.
process.on('message', (message) => {
  if (message === 'cpu') process.send?.(process.cpuUsage());
});
