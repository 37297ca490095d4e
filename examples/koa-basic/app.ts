/**
 * A minimal Koa gateway: `POST /v1/messages` goes to the primary while its quota lasts and to the
 * fallback meanwhile; `GET /quota` shows the guard.
 */
import Router from '@koa/router';
import Koa from 'koa';
import { quotaGuard } from '../../src/adapters/koa.js';
import { forward, tokensOf } from '../shared/forward.js';
import { type ExampleOptions, exampleWindows } from '../shared/guard-windows.js';

export function createApp({ primaryUrl, fallbackUrl, clock, logger }: ExampleOptions) {
  const anthropic = quotaGuard({
    upstream: 'anthropic',
    windows: exampleWindows,
    probeInterval: '30s',
    // The handler leaves the primary's usage in ctx.state; the guard reads it when the response is over.
    usage: (ctx) => ctx.state.tokens as number | undefined,
    ...(clock ? { clock } : {}),
    ...(logger ? { logger } : {}),
  });

  const app = new Koa();
  // The status page before the guard: a request the guard never sees takes no decision (no probe).
  const status = new Router();
  status.get('/quota', anthropic.statusHandler());
  app.use(status.routes());

  const router = new Router();
  router.post('/v1/messages', async (ctx) => {
    const route = ctx.state.quotaRoute;
    if (route?.route === 'primary') {
      const answer = await forward(primaryUrl, {});
      if (answer.status !== 429) {
        ctx.state.tokens = tokensOf(answer);
        ctx.status = answer.status;
        ctx.set('x-served-by', 'primary');
        ctx.body = answer.body;
        return;
      }
      // The primary is capped after all: tell the guard, then serve this request from the fallback.
      await route.report({ status: answer.status, headers: answer.headers, body: answer.body });
    }
    const answer = await forward(fallbackUrl, {});
    ctx.status = answer.status;
    ctx.set('x-served-by', 'fallback');
    ctx.body = answer.body;
  });
  app.use(anthropic);
  app.use(router.routes());
  return { app, guard: anthropic };
}
