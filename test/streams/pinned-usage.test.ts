/**
 * Behaviour the suite once held only thinly (mutations of the code passed it): Anthropic's
 * cumulative `message_delta` counts, and `route.observe()` of a body that is absent, fails, or is
 * cancelled by the app.
 */
import { createServer } from 'node:http';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { quotaGuard } from '../../src/adapters/express.js';
import { anthropicStream } from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { expressProxy, fetchRaw, koaProxy, listen, useStreamingUpstream } from './stream-apps.js';

const streamingUpstream = useStreamingUpstream();

const event = (name: string, data: unknown) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
/** message_start with 1 output token, then three cumulative deltas: 10, 25, 40. */
const deltas = [
  event('message_start', {
    type: 'message_start',
    message: { type: 'message', usage: { input_tokens: 100, output_tokens: 1 } },
  }),
  event('message_delta', { type: 'message_delta', usage: { output_tokens: 10 } }),
  event('message_delta', { type: 'message_delta', usage: { output_tokens: 25 } }),
  event('message_delta', { type: 'message_delta', usage: { output_tokens: 40 } }),
  event('message_stop', { type: 'message_stop' }),
].join('');

describe.each([
  ['express', expressProxy],
  ['koa', koaProxy],
] as const)('cumulative usage through %s', (_name, makeProxy) => {
  it('charges the last message_delta’s output_tokens, never their sum', async () => {
    const { server, guard } = makeProxy(streamingUpstream().url, {
      upstream: 'llm',
      windows: [{ window: '5h', budget: 1e9 }],
      usage: 'anthropic',
      resolution: 0,
      clock: new ManualClock(),
      logger: captureLogger().logger,
    });
    const url = await listen(server);
    try {
      const id = streamingUpstream().register({
        fixture: anthropicStream,
        gzip: false,
        rawBody: deltas,
        cuts: [30, 200, 260],
      });
      await fetchRaw(`${url}/proxy/${id}`);
      await guard.settled();
      expect((await guard.info()).guard.windows[0]?.windowUsageTokens).toBe(100 + 40);
    } finally {
      server.close();
    }
  });
});

describe('route.observe() at the edges', () => {
  const sse = { 'content-type': 'text/event-stream' };
  const messageStart = new TextEncoder().encode(deltas.slice(0, deltas.indexOf('event: message_delta')));

  function app(answer: () => Response, read: 'all' | 'cancel') {
    const guard = quotaGuard({
      upstream: 'anthropic',
      windows: [{ window: '5h', budget: 1e9 }],
      usage: 'anthropic',
      resolution: 0,
      clock: new ManualClock(),
      logger: captureLogger().logger,
    });
    const server = express();
    server.use(guard);
    server.post('/', async (req, res) => {
      const observed = await req.quotaRoute!.observe(answer());
      const reader = observed.body?.getReader();
      let seen = 0;
      try {
        while (reader) {
          const { done, value } = await reader.read();
          if (done) break;
          seen += value.length;
          if (read === 'cancel') {
            await reader.cancel('client gone');
            break;
          }
        }
      } catch {
        // the upstream failed midway: answer what was seen
      }
      res.json({ status: observed.status, seen });
    });
    return { server: createServer(server), guard };
  }

  it('a body-less answer is reported at once and settles', async () => {
    const { server, guard } = app(() => new Response(null, { status: 204 }), 'all');
    const answer = await request(server).post('/');
    expect(answer.body).toEqual({ status: 204, seen: 0 });
    await guard.settled();
    const info = await guard.info();
    expect(info.inFlight).toBe(0);
    expect(info.guard.windows[0]?.windowUsageTokens).toBe(0);
  });

  it('a body that fails midway charges what it said before failing', async () => {
    const failing = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(messageStart);
          },
          pull(controller) {
            controller.error(new Error('upstream cut'));
          },
        }),
        { headers: sse },
      );
    const { server, guard } = app(failing, 'all');
    const answer = await request(server).post('/');
    expect(answer.body.seen).toBe(messageStart.length);
    await guard.settled();
    const info = await guard.info();
    expect(info.inFlight).toBe(0);
    expect(info.guard.windows[0]?.windowUsageTokens).toBe(101);
    expect(info.problems.usageMissing).toBe(1);
  });

  it('a body the app cancels charges what was read, and settles', async () => {
    const endless = () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(messageStart);
          },
          pull() {
            return new Promise(() => {}); // the rest never comes
          },
        }),
        { headers: sse },
      );
    const { server, guard } = app(endless, 'cancel');
    const answer = await request(server).post('/');
    expect(answer.body.seen).toBe(messageStart.length);
    await guard.settled();
    const info = await guard.info();
    expect(info.inFlight).toBe(0);
    expect(info.guard.windows[0]?.windowUsageTokens).toBe(101);
  });
});
