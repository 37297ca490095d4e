/**
 * Where Express apps put the guard besides `app.use` on one app: a mounted sub-app that handles
 * the route (Express swaps the request's prototype there and back), a guard inside a sub-app, and
 * a plain Node server calling the middleware with Node's own request and response (no Express
 * prototypes, no `res.locals`: the decision goes on the request itself). Each is decided and
 * reported.
 */
import { createServer } from 'node:http';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { quotaGuard } from '../../src/adapters/express.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

function makeGuard() {
  return quotaGuard({
    upstream: 'mounted',
    windows: [{ window: '1h', budget: 100 }],
    clock: new ManualClock(),
    logger: captureLogger().logger,
    usage: (res) => res.locals.tokens as number | undefined,
  });
}

describe('express middleware in mounted apps', () => {
  it('a guard on the parent app: the sub-app handling the route sees the decision', async () => {
    const guard = makeGuard();
    const sub = express();
    sub.get('/answer', (req, res) => {
      res.locals.tokens = 60;
      res.json({ route: req.quotaRoute?.route, routes: Object.keys(req.quotaRoutes ?? {}) });
    });
    const app = express();
    app.use(guard);
    app.use('/v1', sub);
    expect((await request(app).get('/v1/answer')).body).toEqual({ route: 'primary', routes: ['mounted'] });
    await guard.settled();
    await request(app).get('/v1/answer');
    await guard.settled();
    expect((await request(app).get('/v1/answer')).body.route).toBe('fallback');
    expect((await guard.info()).guard.windows[0]?.windowUsageTokens).toBe(120);
  });

  it('a guard inside a sub-app: the parent app’s later handler sees the decision too', async () => {
    const guard = makeGuard();
    const sub = express();
    sub.use(guard);
    const app = express();
    app.use(sub);
    app.get('/after', (req, res) => {
      res.locals.tokens = 30;
      res.json({ route: req.quotaRoute?.route ?? null, own: guard.routeOf(req)?.route ?? null });
    });
    expect((await request(app).get('/after')).body).toEqual({ route: 'primary', own: 'primary' });
    await guard.settled();
    expect((await guard.info()).guard.windows[0]?.windowUsageTokens).toBe(30);
  });
});

describe('two guards of one upstream name on one app', () => {
  it('each reports its own requests (they are told apart by guard, not by name)', async () => {
    const first = makeGuard();
    const second = makeGuard();
    const app = express();
    app.use(first, second);
    app.get('/', (_req, res) => {
      res.locals.tokens = 10;
      res.json({});
    });
    await request(app).get('/');
    await Promise.all([first.settled(), second.settled()]);
    for (const guard of [first, second]) {
      const info = await guard.info();
      expect(info.inFlight).toBe(0);
      expect(info.guard.windows[0]?.windowUsageTokens).toBe(10);
    }
  });
});

describe('express middleware on a plain Node server', () => {
  it('decides, and reports the usage of the response', async () => {
    const guard = quotaGuard({
      upstream: 'plain',
      windows: [{ window: '1h', budget: 100 }],
      clock: new ManualClock(),
      logger: captureLogger().logger,
      usage: (res) => (res as unknown as { tokens?: number }).tokens,
    });
    const server = createServer((req, res) => {
      const middleware = guard as unknown as (
        req: unknown,
        res: unknown,
        next: (error?: unknown) => void,
      ) => void;
      middleware(req, res, (error) => {
        if (error) throw error;
        const route = (req as { quotaRoute?: { route: string } }).quotaRoute;
        (res as unknown as { tokens: number }).tokens = 60;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ route: route?.route }));
      });
    });
    expect((await request(server).get('/')).body).toEqual({ route: 'primary' });
    await guard.settled();
    expect((await request(server).get('/')).body).toEqual({ route: 'primary' });
    await guard.settled();
    // 120 tokens of a 100-token budget: the third request goes to the fallback.
    expect((await request(server).get('/')).body).toEqual({ route: 'fallback' });
    await guard.settled();
    const info = await guard.info();
    expect(info.guard.windows[0]?.windowUsageTokens).toBe(120);
    expect(info.inFlight).toBe(0);
  });
});
