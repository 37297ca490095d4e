/**
 * A minimal Express gateway: `POST /v1/messages` goes to the primary while its quota lasts and to
 * the fallback meanwhile; `GET /quota` shows the guard.
 */
import express from 'express';
import { quotaGuard } from '../../src/adapters/express.js';
import { forward, tokensOf } from '../shared/forward.js';
import { type ExampleOptions, exampleWindows } from '../shared/guard-windows.js';

export function createApp({ primaryUrl, fallbackUrl, clock, logger }: ExampleOptions) {
  const anthropic = quotaGuard({
    upstream: 'anthropic',
    windows: exampleWindows,
    probeInterval: '30s',
    // The handler leaves the primary's usage in res.locals; the guard reads it when the response is over.
    usage: (res) => res.locals.tokens as number | undefined,
    ...(clock ? { clock } : {}),
    ...(logger ? { logger } : {}),
  });

  const app = express();
  app.use(express.json());
  // The status page before the guard: a request the guard never sees takes no decision (no probe).
  app.get('/quota', anthropic.statusHandler());
  app.use(anthropic);

  app.post('/v1/messages', async (req, res, next) => {
    try {
      const route = req.quotaRoute;
      if (route?.route === 'primary') {
        const answer = await forward(primaryUrl, req.body);
        if (answer.status !== 429) {
          res.locals.tokens = tokensOf(answer);
          res.status(answer.status).set('x-served-by', 'primary').json(answer.body);
          return;
        }
        // The primary is capped after all: tell the guard, then serve this request from the fallback.
        await route.report({ status: answer.status, headers: answer.headers, body: answer.body });
      }
      const answer = await forward(fallbackUrl, req.body);
      res.status(answer.status).set('x-served-by', 'fallback').json(answer.body);
    } catch (error) {
      next(error);
    }
  });
  return { app, guard: anthropic };
}
