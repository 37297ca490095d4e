/**
 * Upstream answers built to hurt: compression bombs, a 1 MB cap-error message built for the old
 * quadratic pattern, usage numbers past every bound. Through real proxies over HTTP; the guard
 * must read a bounded amount, count the problem and keep its totals right.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BodyTap } from '../../src/usage/body-tap.js';
import { anthropicJson, anthropicStream } from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { expressProxy, fetchRaw, koaProxy, listen, useStreamingUpstream } from './stream-apps.js';

const MB = 1 << 20;
const streamingUpstream = useStreamingUpstream();

/** 200 MB of spaces inside a JSON string: about 200 KB gzipped. */
const jsonBomb = gzipSync(
  Buffer.concat([Buffer.from('{"a":"'), Buffer.alloc(200 * MB, 0x20), Buffer.from('"}')]),
);
/** 256 MB of zero bytes, brotli: a few hundred bytes on the wire. */
const brotliBomb = brotliCompressSync(Buffer.alloc(256 * MB), {
  params: { [constants.BROTLI_PARAM_QUALITY]: 4 },
});
/** Valid usage events, repeated to 120 MB: every one parses, which is what made it slow. */
const sseBomb = gzipSync(
  Buffer.from(anthropicStream.body.repeat(Math.ceil((120 * MB) / anthropicStream.body.length))),
);

function tap(contentType: string, encoding: string, maxInflatedBytes?: number) {
  return new BodyTap({
    vendor: 'anthropic',
    contentType,
    contentEncoding: encoding,
    maxJsonBytes: MB,
    maxEventChars: MB,
    ...(maxInflatedBytes === undefined ? {} : { maxInflatedBytes }),
  });
}

describe('compression bombs in the body tap', () => {
  it('stops inflating a JSON body once it is past maxJsonBytes', async () => {
    const t = tap('application/json', 'gzip');
    t.write(jsonBomb);
    const reading = await t.end();
    expect(reading.problem).toBe('too_large');
    // One zlib output chunk past the cap at most: not 200 MB.
    expect(t.bytesRead).toBeLessThanOrEqual(MB + 64 * 1024);
  });

  it('stops inflating a brotli bomb whose bytes are no SSE event at all', async () => {
    expect(brotliBomb.length).toBeLessThan(4 * 1024);
    const t = tap('text/event-stream', 'br');
    t.write(brotliBomb);
    const reading = await t.end();
    expect(reading.problem).toBe('too_large');
    expect(t.bytesRead).toBeLessThanOrEqual(MB + 64 * 1024);
  });

  it('bounds the bytes a stream of valid events may inflate to, keeping the usage seen', async () => {
    const t = tap('text/event-stream', 'gzip', 4 * MB);
    t.write(sseBomb);
    const reading = await t.end();
    expect(reading.problem).toBe('too_large');
    expect(t.bytesRead).toBeLessThanOrEqual(4 * MB);
    expect(reading.usage?.inputTokens).toBe(25);
  });
});

const proxies = [
  ['express', expressProxy],
  ['koa', koaProxy],
] as const;

describe.each(proxies)('hostile upstream answers through %s', (_name, makeProxy) => {
  async function setup(options: { maxInflatedBytes?: number } = {}) {
    const clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
    const { server, guard } = makeProxy(streamingUpstream().url, {
      upstream: 'llm',
      windows: [{ window: '5h', budget: 1_000_000 }],
      usage: 'anthropic',
      resolution: 0,
      clock,
      logger: captureLogger().logger,
      ...options,
    });
    const url = await listen(server);
    return { server, guard, url };
  }

  it('passes a gzip bomb through unchanged and reads a bounded part of it', async () => {
    const { server, guard, url } = await setup();
    try {
      const id = streamingUpstream().register({
        fixture: anthropicJson,
        gzip: false,
        rawBytes: jsonBomb,
        encoding: 'gzip',
        cuts: [],
      });
      const answer = await fetchRaw(`${url}/proxy/${id}`);
      expect(answer.bytes.equals(jsonBomb)).toBe(true);
      await guard.settled();
      const info = await guard.info();
      expect(info.problems.bodyTooLarge).toBe(1);
      expect(info.guard.state).toBe('within_quota');
    } finally {
      server.close();
    }
  });

  it('counts the usage of a compressed stream up to maxInflatedBytes, then stops', async () => {
    const { server, guard, url } = await setup({ maxInflatedBytes: 2 * MB });
    try {
      const id = streamingUpstream().register({
        fixture: anthropicStream,
        gzip: false,
        rawBytes: sseBomb,
        encoding: 'gzip',
        cuts: [],
      });
      await fetchRaw(`${url}/proxy/${id}`);
      await guard.settled();
      const info = await guard.info();
      expect(info.problems.bodyTooLarge).toBe(1);
      // What the stream said before the bound: a sane, finite count.
      const used = info.guard.windows[0]!.windowUsageTokens;
      expect(Number.isSafeInteger(used) && used > 0).toBe(true);
    } finally {
      server.close();
    }
  });

  it('classifies a 429 whose message repeats "reached your " for a megabyte', async () => {
    const { server, guard, url } = await setup();
    try {
      // Just under the default maxJsonBytes, so the body is parsed and its message classified.
      const message = 'reached your '.repeat(Math.floor((MB - 200) / 13));
      const id = streamingUpstream().register({
        fixture: anthropicJson,
        gzip: false,
        status: 429,
        rawBody: JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message } }),
        cuts: [],
      });
      expect((await fetchRaw(`${url}/proxy/${id}`)).status).toBe(429);
      await guard.settled();
      const info = await guard.info();
      expect(info.upstreamErrors).toEqual({ cap: 0, transient: 1 });
    } finally {
      server.close();
    }
  });

  it('refuses usage of 1e308 in a body and keeps the window finite', async () => {
    const { server, guard, url } = await setup();
    try {
      const body = JSON.parse(anthropicJson.body) as { usage: Record<string, number> };
      body.usage.output_tokens = 1e308;
      for (let i = 0; i < 2; i++) {
        const id = streamingUpstream().register({
          fixture: anthropicJson,
          gzip: false,
          rawBody: JSON.stringify(body),
          cuts: [],
        });
        await fetchRaw(`${url}/proxy/${id}`);
      }
      await guard.settled();
      const info = await guard.info();
      expect(info.problems.implausibleUsage).toBe(2);
      expect(info.guard.windows[0]?.windowUsageTokens).toBe(0);
    } finally {
      server.close();
    }
  });
});
