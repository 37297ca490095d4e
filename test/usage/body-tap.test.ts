import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BodyTap } from '../../src/usage/body-tap.js';
import { defaultWeigh } from '../../src/usage/token-usage.js';
import {
  allFixtures,
  anthropicJson,
  anthropicStream,
  type ResponseFixture,
  splitAt,
  streams,
  withCrlf,
} from '../fixtures/llm-responses.js';

function tapOf(
  fixture: ResponseFixture,
  options: { encoding?: string; vendor?: 'auto'; contentType?: string | undefined } = {},
) {
  return new BodyTap({
    vendor: options.vendor ?? fixture.vendor,
    contentType: 'contentType' in options ? options.contentType : fixture.contentType,
    contentEncoding: options.encoding,
    maxJsonBytes: 1_048_576,
    maxEventChars: 1_048_576,
  });
}

const compress: Record<string, (b: Buffer) => Buffer> = {
  identity: (b) => b,
  gzip: (b) => gzipSync(b),
  br: (b) => brotliCompressSync(b),
  deflate: (b) => deflateSync(b),
};

describe('BodyTap', () => {
  it.each(allFixtures)('reads $name whole', async (fixture) => {
    const tap = tapOf(fixture);
    tap.write(Buffer.from(fixture.body));
    const reading = await tap.end();
    expect(reading.problem).toBeUndefined();
    expect(reading.complete).toBe(true);
    expect(defaultWeigh(reading.usage!)).toBe(fixture.tokens);
  });

  it.each(allFixtures)(
    'picks the vendor of $name by shape with auto, without a content type',
    async (fixture) => {
      const tap = tapOf(fixture, { vendor: 'auto', contentType: undefined });
      tap.write(fixture.body);
      const reading = await tap.end();
      expect(reading.usage?.vendor).toBe(fixture.vendor);
      expect(defaultWeigh(reading.usage!)).toBe(fixture.tokens);
    },
  );

  it('reads a JSON body written as strings and bytes mixed, a character split between chunks', () => {
    const body = JSON.stringify({
      type: 'message',
      content: [{ type: 'text', text: 'Héllo wörld ✓ 🙂' }],
      usage: { input_tokens: 7, output_tokens: 5 },
    });
    const bytes = Buffer.from(body);
    const split = bytes.indexOf(Buffer.from('✓')) + 1; // inside the three bytes of ✓
    const tap = tapOf(anthropicJson, { contentType: undefined });
    tap.write(`  ${body.slice(0, 10)}`);
    tap.write(bytes.subarray(Buffer.byteLength(body.slice(0, 10)), split));
    tap.write(bytes.subarray(split));
    // No decompression: the reading is there at once, no promise.
    const reading = tap.end();
    if (reading instanceof Promise) throw new Error('a plain body needs no promise');
    expect(reading.json).toEqual(JSON.parse(body));
    expect(defaultWeigh(reading.usage!)).toBe(12);
  });

  it('reads exactly the usage of every stream, however it is split, compressed or line-ended', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...allFixtures),
        fc.constantFrom('identity', 'gzip', 'br', 'deflate'),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 40 }),
        async (fixture, encoding, crlf, cuts) => {
          const text =
            crlf && fixture.contentType.includes('event-stream') ? withCrlf(fixture.body) : fixture.body;
          const bytes = compress[encoding]!(Buffer.from(text));
          const tap = tapOf(fixture, encoding === 'identity' ? {} : { encoding });
          for (const part of splitAt(
            bytes,
            cuts.map((c) => c % (bytes.length + 1)),
          ))
            tap.write(part);
          const reading = await tap.end();
          expect(reading.problem).toBeUndefined();
          expect(defaultWeigh(reading.usage!)).toBe(fixture.tokens);
        },
      ),
      { seed: 4, numRuns: 400 },
    );
  });

  it('takes the last cumulative Anthropic output count, never a sum', async () => {
    const body = anthropicStream.body.replace(
      'event: message_stop',
      `event: message_delta\ndata: ${JSON.stringify({ type: 'message_delta', delta: {}, usage: { output_tokens: 40 } })}\n\nevent: message_stop`,
    );
    const tap = tapOf(anthropicStream);
    tap.write(body);
    const reading = await tap.end();
    expect(reading.usage).toMatchObject({ outputTokens: 40, inputTokens: 25, cacheReadInputTokens: 2_000 });
  });

  it.each(streams)(
    'a $name cut off midway keeps what it saw and says the usage is incomplete',
    async (fixture) => {
      const tap = tapOf(fixture);
      tap.write(fixture.body.slice(0, Math.floor(fixture.body.length * 0.6)));
      const reading = await tap.end();
      expect(reading.complete).toBe(false);
      expect(reading.problem === 'no_usage' || reading.problem === 'malformed').toBe(true);
    },
  );

  it('an Anthropic stream cut after message_start still charges the input it reported', async () => {
    const tap = tapOf(anthropicStream);
    tap.write(anthropicStream.body.slice(0, anthropicStream.body.indexOf('event: content_block_delta')));
    const reading = await tap.end();
    expect(reading.usage).toMatchObject({
      inputTokens: 25,
      cacheCreationInputTokens: 100,
      cacheReadInputTokens: 2_000,
      outputTokens: 1,
    });
  });

  it('counts malformed events and JSON without throwing', async () => {
    const sseTap = tapOf(anthropicStream);
    sseTap.write('event: message_start\ndata: {not json\n\n');
    expect((await sseTap.end()).problem).toBe('malformed');
    const jsonTap = tapOf({ ...anthropicStream, contentType: 'application/json' });
    jsonTap.write('{"usage": {"input_tokens": 5');
    expect((await jsonTap.end()).problem).toBe('malformed');
  });

  it('stops keeping a JSON body past the cap', async () => {
    const tap = new BodyTap({
      vendor: 'auto',
      contentType: 'application/json',
      contentEncoding: undefined,
      maxJsonBytes: 1_000,
      maxEventChars: 1_000,
    });
    tap.write(JSON.stringify({ content: 'x'.repeat(5_000), usage: { input_tokens: 1, output_tokens: 1 } }));
    expect((await tap.end()).problem).toBe('too_large');
  });

  it('gives up on an event longer than the cap, bounding its memory', async () => {
    const tap = new BodyTap({
      vendor: 'anthropic',
      contentType: 'text/event-stream',
      contentEncoding: undefined,
      maxJsonBytes: 1_000,
      maxEventChars: 1_000,
    });
    tap.write(`data: ${'x'.repeat(5_000)}`);
    tap.write('\n\n');
    expect((await tap.end()).problem).toBe('too_large');
  });

  it('survives a body that is not the compression it claims', async () => {
    const tap = tapOf(anthropicStream, { encoding: 'gzip' });
    tap.write(Buffer.from(anthropicStream.body));
    expect((await tap.end()).problem).toBe('decompress');
  });
});
