/**
 * The soak benchmark's server (a child process, built package): an Express gateway-shaped app
 * with the guard on a compressed clock, tenants from a header, cap errors and probes. Prints its
 * port; answers `heap` (after a full GC) and `stats` over IPC.
 */
import { createServer } from 'node:http';
import express from 'express';
import { quotaGuard } from '../dist/express.js';
import { silentLogger } from '../dist/index.js';

const kind = process.argv[2] ?? 'guard';
/** How many times faster than real time the guard's clock runs: 5 h pass in a minute at 300. */
const SPEED = Number(process.env.SOAK_SPEED ?? 300);
const start = performance.now();
const epoch = Date.now();
const clock = { now: () => (performance.now() - start) * SPEED };
const wallClock = { now: () => epoch + clock.now() };

const app = express();
let guard;
if (kind === 'guard') {
  guard = quotaGuard({
    upstream: 'soak',
    windows: [
      { window: '5h', budget: 2_000_000 },
      { window: '7d', budget: 20_000_000 },
    ],
    probeInterval: '5m',
    key: (req) => req.get('x-tenant'),
    usage: (res) => res.locals.tokens,
    clock,
    wallClock,
    logger: silentLogger,
  });
  app.get('/quota', guard.statusHandler());
  app.use(guard);
}
app.post('/v1/messages', (req, res) => {
  const route = req.quotaRoute;
  // About one answer in a thousand of the primary is the vendor's cap (Retry-After: 10 min).
  if (route?.route === 'primary' && req.get('x-cap') === '1') {
    res
      .status(429)
      .set('retry-after', '600')
      .json({ type: 'error', error: { type: 'rate_limit_error', message: 'usage limit reached' } });
    return;
  }
  res.locals.tokens = Number(req.get('x-tokens') ?? 0);
  res.json({ ok: true, route: route?.route ?? 'primary' });
});

const server = createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => process.exit(0));
process.on('message', async (message) => {
  if (message === 'heap') {
    globalThis.gc?.();
    process.send?.(process.memoryUsage().heapUsed);
  } else if (message === 'stats') {
    process.send?.(guard ? await guard.info() : null);
  }
});
