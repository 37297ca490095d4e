import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  allFixtures,
  anthropicJson,
  anthropicStream,
  openaiChatStream,
  withCrlf,
} from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { expressProxy, fetchRaw, koaProxy, listen, useStreamingUpstream } from './stream-apps.js';

const streamingUpstream = useStreamingUpstream();

const proxies = [
  ['express', expressProxy],
  ['koa', koaProxy],
] as const;

describe.each(proxies)('usage from real HTTP streams through %s', (_name, makeProxy) => {
  async function setup() {
    const { server, guard } = makeProxy(streamingUpstream().url, {
      upstream: 'llm',
      windows: [{ window: '5h', budget: 1e9 }],
      usage: 'auto',
      resolution: 0,
      clock: new ManualClock(),
      logger: captureLogger().logger,
      maxJsonBytes: 1_000_000,
    });
    const url = await listen(server);
    const usage = async () => (await guard.info()).guard.windows[0]!.windowUsageTokens;
    return { server, guard, url, usage };
  }

  it('charges exactly the usage in the stream, however it is chunked, compressed or line-ended, and passes the bytes unchanged', async () => {
    const { server, guard, url, usage } = await setup();
    let expected = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...allFixtures),
          fc.boolean(),
          fc.boolean(),
          fc.array(fc.nat({ max: 4_000 }), { maxLength: 30 }),
          async (fixture, gzip, crlf, cuts) => {
            const body =
              crlf && fixture.contentType.includes('event-stream') ? withCrlf(fixture.body) : fixture.body;
            const id = streamingUpstream().register({ fixture: { ...fixture, body }, gzip, cuts });
            const received = await fetchRaw(`${url}/proxy/${id}`);
            await guard.settled();
            expected += fixture.tokens;
            expect(received.status).toBe(200);
            expect((gzip ? gunzipSync(received.bytes) : received.bytes).toString()).toBe(body);
            expect(await usage()).toBe(expected);
          },
        ),
        { seed: 11, numRuns: 60 },
      );
      expect((await guard.info()).problems).toMatchObject({
        usageMissing: 0,
        malformedBody: 0,
        bodyTooLarge: 0,
      });
    } finally {
      server.close();
    }
  });

  it('records what it saw when the client goes away mid-stream, and counts the miss', async () => {
    const { server, guard, url, usage } = await setup();
    const cuts = Array.from({ length: 40 }, (_, i) => i * 40);
    const id = streamingUpstream().register({ fixture: anthropicStream, gzip: false, cuts });
    const received = await fetchRaw(`${url}/proxy/${id}`, {
      abortAfterBytes: anthropicStream.body.indexOf('content_block_delta') + 10,
    });
    expect(received.complete).toBe(false);
    await guard.settled();
    // message_start's input and cache tokens and its first output token.
    expect(await usage()).toBe(25 + 100 + 2_000 + 1);
    expect((await guard.info()).problems.usageMissing).toBe(1);
    server.close();
  });

  it('records what it saw when the upstream cuts the stream', async () => {
    const { server, guard, url, usage } = await setup();
    const cuts = Array.from({ length: 20 }, (_, i) => i * 100);
    const id = streamingUpstream().register({ fixture: openaiChatStream, gzip: false, cuts, cutAfter: 0.5 });
    const received = await fetchRaw(`${url}/proxy/${id}`);
    expect(received.complete).toBe(false);
    await guard.settled();
    expect(await usage()).toBe(0); // OpenAI sends usage only in its last chunk
    expect((await guard.info()).problems.usageMissing).toBe(1);
    server.close();
  });

  it('passes a 10 MB JSON body over the cap unchanged and counts it', async () => {
    const { server, guard, url, usage } = await setup();
    const big = JSON.stringify({ ...JSON.parse(anthropicJson.body), padding: 'x'.repeat(10 * 1_048_576) });
    const id = streamingUpstream().register({ fixture: anthropicJson, gzip: false, cuts: [], rawBody: big });
    const received = await fetchRaw(`${url}/proxy/${id}`);
    expect(received.bytes.length).toBe(Buffer.byteLength(big));
    await guard.settled();
    expect(await usage()).toBe(0);
    expect((await guard.info()).problems.bodyTooLarge).toBe(1);
    server.close();
  });

  it('survives malformed JSON and malformed events, counting them', async () => {
    const { server, guard, url } = await setup();
    const badJson = streamingUpstream().register({
      fixture: anthropicJson,
      gzip: false,
      cuts: [],
      rawBody: '{"usage": {"input_tokens": 3',
    });
    const badEvents = streamingUpstream().register({
      fixture: anthropicStream,
      gzip: true,
      cuts: [5],
      rawBody: 'event: message_start\ndata: {oops\n\n',
    });
    expect((await fetchRaw(`${url}/proxy/${badJson}`)).bytes.toString()).toBe('{"usage": {"input_tokens": 3');
    expect((await fetchRaw(`${url}/proxy/${badEvents}`)).status).toBe(200);
    await guard.settled();
    expect((await guard.info()).problems.malformedBody).toBe(2);
    server.close();
  });

  it('reads a cap error from the error body of a streamed request', async () => {
    const { server, guard, url } = await setup();
    const capBody = JSON.stringify({
      type: 'error',
      error: { type: 'rate_limit_error', message: "You've reached your usage limit" },
    });
    const id = streamingUpstream().register({
      fixture: anthropicJson,
      gzip: true,
      cuts: [3],
      rawBody: capBody,
      status: 429,
    });
    expect((await fetchRaw(`${url}/proxy/${id}`)).status).toBe(429);
    await guard.settled();
    const info = await guard.info();
    expect(info.guard.state).toBe('quota_exceeded');
    expect(info.upstreamErrors).toEqual({ cap: 1, transient: 0 });
    server.close();
  });
});
