/** Usage from bodies the app sets itself: Express `res.json` / `res.send`, Koa objects, strings and Buffers. */
import { createServer } from 'node:http';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { quotaGuard as expressGuard } from '../../src/adapters/express.js';
import { quotaGuard as koaGuard } from '../../src/adapters/koa.js';
import { anthropicJson, geminiJson, openaiChatJson } from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

const common = {
  upstream: 'llm',
  windows: [{ window: '5h' as const, budget: 1e9 }],
  resolution: 0,
  clock: new ManualClock(),
  logger: captureLogger().logger,
};

type Send = 'object' | 'string' | 'buffer';

function expressApp(send: Send, body: string) {
  const guard = expressGuard({ ...common, usage: 'auto' });
  const app = express();
  app.use(guard);
  app.post('/', (_req, res) => {
    if (send === 'object') res.json(JSON.parse(body));
    else res.type('json').send(send === 'string' ? body : Buffer.from(body));
  });
  return { server: createServer(app), guard };
}

function koaApp(send: Send, body: string) {
  const guard = koaGuard({ ...common, usage: 'auto' });
  const app = new Koa();
  app.use(guard);
  app.use((ctx) => {
    ctx.type = 'json';
    ctx.body = send === 'object' ? JSON.parse(body) : send === 'string' ? body : Buffer.from(body);
  });
  return { server: createServer(app.callback()), guard };
}

describe.each([
  ['express', expressApp],
  ['koa', koaApp],
] as const)('%s: bodies the app sets', (_name, make) => {
  it.each(['object', 'string', 'buffer'] as const)('charges the usage of a JSON %s body', async (send) => {
    let expected = 0;
    const fixtures = [anthropicJson, openaiChatJson, geminiJson];
    const apps = fixtures.map((f) => ({ f, ...make(send, f.body) }));
    for (const { f, server, guard } of apps) {
      const response = await request(server).post('/');
      expect(response.status).toBe(200);
      await guard.settled();
      expected = f.tokens;
      expect((await guard.info()).guard.windows[0]!.windowUsageTokens).toBe(expected);
    }
  });
});

describe('weigh', () => {
  it('prices cache reads as the app says', async () => {
    const guard = expressGuard({
      ...common,
      usage: 'anthropic',
      weigh: (u) =>
        u.inputTokens + u.outputTokens + u.cacheCreationInputTokens + 0.1 * u.cacheReadInputTokens,
    });
    const app = express();
    app.use(guard);
    app.post('/', (_req, res) => {
      res.type('json').send(anthropicJson.body);
    });
    await request(createServer(app)).post('/');
    await guard.settled();
    // input 10 + output 20 + cache writes 5 + cache reads 50 × 0.1
    expect((await guard.info()).guard.windows[0]!.windowUsageTokens).toBe(40);
  });

  it('rejects a usage option that names no extractor', () => {
    expect(() => expressGuard({ ...common, usage: 'mistral' as never })).toThrow(
      "usage must be a vendor whose bodies carry usage ('anthropic', 'openai', 'gemini', 'auto') or a function returning the tokens of a response, got 'mistral'",
    );
  });
});
