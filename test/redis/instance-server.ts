/**
 * One gateway instance for the multi-process tests: an Express app guarded through a
 * RedisStore, started as its own Node process (`node --import tsx`). It prints its port on the
 * first line of stdout. `/chat` plays the primary: it answers with the status and usage the
 * request asks for (`x-status`, `x-tokens`). The test moves every instance's store clock through
 * `POST /clock` (a test hook: no real sleeps), reads the shared numbers at `/quota`, and
 * `/settled` answers once every response was reported to the store.
 */
import express from 'express';
import { Redis } from 'ioredis';
import { quotaGuard } from '../../src/adapters/express.js';
import { RedisStore } from '../../src/redis.js';

const quiet = { warn() {}, error() {} };
let now = Number(process.env.START_AT);
const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
  enableOfflineQueue: false,
  lazyConnect: true,
});
await client.connect();
const store = new RedisStore({
  client,
  prefix: process.env.PREFIX!,
  clock: { now: () => now },
  logger: quiet,
  // Not a test of a slow Redis: three instances and 300 requests on a loaded machine may take
  // longer than the 200 ms default, and a local answer would grant a second probe.
  timeoutMs: 5_000,
});
const guard = quotaGuard({
  upstream: 'anthropic',
  windows: [{ window: '5h', budget: Number(process.env.BUDGET) }],
  probeInterval: '5m',
  store,
  usage: (res) => res.locals.tokens as number | undefined,
  logger: quiet,
});

const app = express();
app.get('/quota', guard.statusHandler());
app.post('/clock', express.json(), (req, res) => {
  now = Number(req.body.now);
  res.json({ now });
});
app.get('/settled', async (_req, res) => {
  await guard.settled();
  res.json({ settled: true });
});
app.use(guard);
app.post('/chat', (req, res) => {
  const route = req.quotaRoute!;
  if (route.route === 'primary') {
    res.locals.tokens = Number(req.get('x-tokens') ?? 0);
    const status = Number(req.get('x-status') ?? 200);
    if (status === 429) {
      res
        .status(429)
        .json({ type: 'error', error: { type: 'rate_limit_error', message: 'usage limit reached' } });
      return;
    }
    // A vendor header: the answer shows the primary was asked (a probe may end a cap error).
    res.set('anthropic-ratelimit-unified-status', 'allowed');
    res.status(status).json({ route: route.route, probe: route.probe, reason: route.reason });
    return;
  }
  res.json({ route: route.route, probe: route.probe, reason: route.reason });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  console.log(typeof address === 'object' && address ? address.port : 0);
});
process.on('SIGTERM', () => {
  server.close();
  client.disconnect();
  process.exit(0);
});
