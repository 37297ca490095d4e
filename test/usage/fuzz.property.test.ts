/**
 * Fuzzing what reads outside input: reset and Retry-After headers, durations, the classifier,
 * vendor utilization headers, and the JSON and SSE usage extractors. Arbitrary strings and bytes,
 * numbers past every bound (`1e309`, `-5`, `NaN`, 400 digits), `__proto__` keys. No exception
 * escapes (but the option errors a parser is meant to throw), nothing reaches Object.prototype,
 * and every result is finite and bounded.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../src/core/duration.js';
import { isQuotaGuardError } from '../../src/core/errors.js';
import { parseRetryAfter } from '../../src/core/retry-after.js';
import { BodyTap } from '../../src/usage/body-tap.js';
import { classifyUpstreamError } from '../../src/usage/classify.js';
import { usageFromJson } from '../../src/usage/json-usage.js';
import { parseGoDuration, resetDelays } from '../../src/usage/reset-headers.js';
import type { TokenUsage } from '../../src/usage/token-usage.js';
import { defaultWeigh } from '../../src/usage/token-usage.js';
import { readVendorWindows } from '../../src/usage/vendor-headers.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');
const RUNS = { numRuns: 500 };

/** Numbers as text, the way headers and bodies carry them, with the nasty ones well represented. */
const numberText = fc.oneof(
  fc.constantFrom(
    '1e309',
    '-1e309',
    'NaN',
    'Infinity',
    '-5',
    '0',
    '-0',
    '1e308',
    '9007199254740993',
    '0x10',
    '',
  ),
  fc.double().map(String),
  fc.integer().map(String),
  fc.bigInt({ min: 0n, max: 10n ** 400n }).map(String),
  fc.stringMatching(/^\d{1,30}(\.\d{0,10})?[smh]?$/),
);
const anyText = fc.oneof(
  numberText,
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
);

/** A header object with any names (`__proto__` included) and hostile values. */
const headerObject = fc.dictionary(
  fc.oneof(
    fc.constantFrom(
      'retry-after',
      'retry-after-ms',
      'anthropic-ratelimit-unified-reset',
      'anthropic-ratelimit-unified-5h-reset',
      'anthropic-ratelimit-unified-5h-utilization',
      'anthropic-ratelimit-unified-5h-status',
      'anthropic-ratelimit-unified-7d-utilization',
      'anthropic-ratelimit-unified-status',
      'anthropic-ratelimit-tokens-reset',
      'x-ratelimit-reset-tokens',
      'x-ratelimit-limit-tokens',
      'x-ratelimit-remaining-tokens',
      '__proto__',
      'constructor',
    ),
    fc.string(),
  ),
  anyText,
);

/** A JSON value with `__proto__` keys and hostile numbers in the places vendors put usage. */
const hostileNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(1e308, -1, 2 ** 53 + 2, Number.MAX_VALUE),
  fc.string(),
  fc.constant(null),
);
const usageObject = fc.record(
  {
    input_tokens: hostileNumber,
    output_tokens: hostileNumber,
    cache_creation_input_tokens: hostileNumber,
    cache_read_input_tokens: hostileNumber,
    prompt_tokens: hostileNumber,
    completion_tokens: hostileNumber,
    promptTokenCount: hostileNumber,
    candidatesTokenCount: hostileNumber,
    prompt_tokens_details: fc.oneof(fc.constant(null), fc.record({ cached_tokens: hostileNumber })),
  },
  { requiredKeys: [] },
);
const vendorBody = fc.oneof(
  fc.record({ type: fc.constant('message'), usage: usageObject }),
  fc.record({ object: fc.constant('chat.completion'), usage: usageObject }),
  fc.record({ usageMetadata: usageObject }),
  fc.record({ type: fc.constant('error'), error: fc.record({ type: anyText, message: anyText }) }),
  fc.jsonValue(),
);
/** JSON text, sometimes with a `__proto__` key spliced in (JSON.parse makes it an own property). */
const jsonText = fc.tuple(vendorBody, fc.boolean()).map(([body, proto]) => {
  const text = JSON.stringify(body) ?? 'null';
  if (!proto || !text.startsWith('{')) return text;
  return `{"__proto__":{"polluted":true}${text === '{}' ? '' : ','}${text.slice(1)}`;
});

const prototypeKeys = Object.getOwnPropertyNames(Object.prototype).length;
afterAll(() => {
  // Nothing a body or header said reached every object.
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype)).toHaveLength(prototypeKeys);
});

function expectDelay(ms: number | undefined) {
  if (ms === undefined) return;
  expect(Number.isFinite(ms) && ms >= 0).toBe(true);
}

function expectCounts(usage: TokenUsage | undefined) {
  if (usage === undefined) return;
  for (const field of [
    'inputTokens',
    'outputTokens',
    'cacheCreationInputTokens',
    'cacheReadInputTokens',
  ] as const) {
    const value = usage[field];
    // A count, or NaN: the marker that makes the reporter refuse (and count) the whole answer.
    expect(Number.isNaN(value) || (Number.isSafeInteger(value) && value >= 0)).toBe(true);
  }
  const weighed = defaultWeigh(usage);
  expect(Number.isNaN(weighed) || (Number.isFinite(weighed) && weighed >= 0)).toBe(true);
}

describe('fuzzing the parsers of outside input', () => {
  it('parseRetryAfter: undefined or a finite, non-negative delay', () => {
    fc.assert(
      fc.property(anyText, (text) => expectDelay(parseRetryAfter(text, NOW))),
      RUNS,
    );
  });

  it('parseGoDuration: undefined or a finite, non-negative delay', () => {
    fc.assert(
      fc.property(anyText, (text) => expectDelay(parseGoDuration(text))),
      RUNS,
    );
  });

  it('resetDelays and readVendorWindows: finite delays and readings, from any headers', () => {
    fc.assert(
      fc.property(headerObject, (headers) => {
        const { delays, unreadable } = resetDelays(headers, NOW);
        for (const d of delays) expectDelay(d);
        expect(Number.isInteger(unreadable)).toBe(true);
        for (const reading of readVendorWindows(headers, NOW).values()) {
          expect(Number.isFinite(reading.utilization)).toBe(true);
          if (reading.resetAt !== undefined) expect(Number.isFinite(reading.resetAt)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('parseDuration: a finite positive duration, or the option error it is meant to throw', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.double(), fc.constant(undefined), fc.object()), (value) => {
        try {
          const ms = parseDuration(value, 'fuzzed');
          expect(Number.isFinite(ms) && ms > 0).toBe(true);
        } catch (error) {
          expect(isQuotaGuardError(error)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('classifyUpstreamError: a verdict with a finite delay, for any status, headers and body', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(429, 403, 503, 529, 200, 500), fc.integer()),
        headerObject,
        fc.oneof(
          jsonText.map((t) => JSON.parse(t) as unknown),
          anyText,
        ),
        (status, headers, body) => {
          const verdict = classifyUpstreamError({ status, headers, body }, NOW);
          expect(['cap', 'transient', 'none']).toContain(verdict.kind);
          expectDelay(verdict.retryAfterMs);
        },
      ),
      RUNS,
    );
  });

  it('usageFromJson: counts or the refusal marker, from any body', () => {
    fc.assert(
      fc.property(
        jsonText,
        fc.constantFrom('anthropic', 'openai', 'gemini', 'auto') as fc.Arbitrary<'auto'>,
        (text, vendor) => expectCounts(usageFromJson(JSON.parse(text) as unknown, vendor)),
      ),
      RUNS,
    );
  });

  it('the SSE and JSON taps: no exception from any bytes, split anywhere', async () => {
    const event = fc
      .tuple(
        fc.constantFrom(undefined, 'message_start', 'message_delta', 'message_stop', 'error', 'x'),
        jsonText,
      )
      .map(([name, data]) => `${name ? `event: ${name}\n` : ''}data: ${data}\n\n`);
    const body = fc.oneof(
      fc.array(event, { maxLength: 8 }).map((events) => events.join('')),
      fc.string({ unit: 'binary' }),
    );
    await fc.assert(
      fc.asyncProperty(
        body,
        fc.constantFrom('text/event-stream', 'application/json', undefined),
        fc.array(fc.nat(), { maxLength: 5 }),
        async (text, contentType, cuts) => {
          const tap = new BodyTap({
            vendor: 'auto',
            contentType,
            contentEncoding: undefined,
            maxJsonBytes: 1 << 20,
            maxEventChars: 1 << 16,
          });
          const bytes = Buffer.from(text);
          let from = 0;
          for (const cut of [...cuts.map((c) => c % (bytes.length + 1))].sort((a, b) => a - b)) {
            tap.write(bytes.subarray(from, cut));
            from = cut;
          }
          tap.write(bytes.subarray(from));
          const reading = await tap.end();
          expectCounts(reading.usage);
        },
      ),
      { numRuns: 300 },
    );
  });
});
