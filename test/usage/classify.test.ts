import { describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../src/usage/classify.js';
import { parseGoDuration, resetDelays } from '../../src/usage/reset-headers.js';
import { readVendorWindows } from '../../src/usage/vendor-headers.js';

const NOW = Date.parse('2026-12-01T10:00:00Z');
const epochSeconds = (ms: number) => String(Math.floor(ms / 1_000));

// Error bodies as the vendors document them.
const anthropicRateLimit = {
  type: 'error',
  error: {
    type: 'rate_limit_error',
    message: 'Number of request tokens has exceeded your per-minute rate limit',
  },
};
const anthropicOverloaded = { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } };
const anthropicSubscription = {
  type: 'error',
  error: { type: 'rate_limit_error', message: "You've reached your usage limit for this period." },
};
const openaiQuota = {
  error: {
    message: 'You exceeded your current quota, please check your plan and billing details.',
    type: 'insufficient_quota',
    param: null,
    code: 'insufficient_quota',
  },
};
const openaiRateLimit = {
  error: {
    message: 'Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000.',
    type: 'tokens',
    param: null,
    code: 'rate_limit_exceeded',
  },
};
const geminiExhausted = {
  error: {
    code: 429,
    message: 'Resource has been exhausted (e.g. check quota).',
    status: 'RESOURCE_EXHAUSTED',
  },
};

describe('classifyUpstreamError', () => {
  it('takes a per-minute rate limit with a reset seconds away for transient', () => {
    expect(
      classifyUpstreamError({ status: 429, headers: { 'retry-after': '20' }, body: anthropicRateLimit }, NOW),
    ).toEqual({
      kind: 'transient',
      retryAfterMs: 20_000,
      why: 'rate limited',
    });
    expect(
      classifyUpstreamError(
        { status: 429, headers: { 'x-ratelimit-reset-tokens': '1.5s' }, body: openaiRateLimit },
        NOW,
      ),
    ).toMatchObject({
      kind: 'transient',
      retryAfterMs: 1_500,
    });
  });

  it('takes overloads for transient', () => {
    expect(classifyUpstreamError({ status: 529, headers: {}, body: anthropicOverloaded }, NOW).kind).toBe(
      'transient',
    );
    expect(classifyUpstreamError({ status: 503, headers: {}, body: undefined }, NOW).kind).toBe('transient');
  });

  it('takes quota and usage-limit answers for the cap', () => {
    expect(
      classifyUpstreamError({ status: 429, headers: {}, body: anthropicSubscription }, NOW),
    ).toMatchObject({ kind: 'cap', why: 'quota spent' });
    expect(classifyUpstreamError({ status: 429, headers: {}, body: openaiQuota }, NOW).kind).toBe('cap');
    expect(
      classifyUpstreamError(
        { status: 403, headers: {}, body: { error: { message: 'usage cap reached' } } },
        NOW,
      ).kind,
    ).toBe('cap');
    expect(classifyUpstreamError({ status: 429, headers: {}, body: geminiExhausted }, NOW).kind).toBe('cap');
  });

  it('takes a reset far in the future for the cap', () => {
    expect(
      classifyUpstreamError(
        { status: 429, headers: { 'retry-after': '3600' }, body: anthropicRateLimit },
        NOW,
      ),
    ).toMatchObject({
      kind: 'cap',
      retryAfterMs: 3_600_000,
      why: 'reset far away',
    });
  });

  it('reads which Anthropic window is spent from the unified headers', () => {
    const headers = {
      'anthropic-ratelimit-unified-status': 'rejected',
      'anthropic-ratelimit-unified-reset': epochSeconds(NOW + 2 * 3_600_000),
      'anthropic-ratelimit-unified-5h-status': 'rejected',
      'anthropic-ratelimit-unified-5h-reset': epochSeconds(NOW + 2 * 3_600_000),
      'anthropic-ratelimit-unified-7d-status': 'allowed',
      'anthropic-ratelimit-unified-representative-claim': 'five_hour',
    };
    expect(classifyUpstreamError({ status: 429, headers, body: anthropicRateLimit }, NOW)).toEqual({
      kind: 'cap',
      retryAfterMs: 2 * 3_600_000,
      windows: ['5h'],
      why: 'unified limit rejected',
    });
    const weekly = {
      'anthropic-ratelimit-unified-status': 'rejected',
      'anthropic-ratelimit-unified-representative-claim': 'seven_day',
    };
    expect(classifyUpstreamError({ status: 429, headers: weekly, body: undefined }, NOW).windows).toEqual([
      '7d',
    ]);
  });

  it('takes a bare 429 for the cap, and anything else for none', () => {
    expect(classifyUpstreamError({ status: 429, headers: {}, body: undefined }, NOW).kind).toBe('cap');
    expect(
      classifyUpstreamError({ status: 403, headers: {}, body: { error: { message: 'bad key' } } }, NOW).kind,
    ).toBe('none');
    expect(classifyUpstreamError({ status: 500, headers: {}, body: undefined }, NOW).kind).toBe('none');
    expect(classifyUpstreamError({ status: 400, headers: {}, body: undefined }, NOW).kind).toBe('none');
  });
});

describe('reset headers', () => {
  it('reads every form and keeps the raw delays', () => {
    const { delays, unreadable } = resetDelays(
      {
        'retry-after': 'Tue, 01 Dec 2026 10:02:00 GMT',
        'retry-after-ms': '1500',
        'anthropic-ratelimit-tokens-reset': '2026-12-01T10:00:30Z',
        'anthropic-ratelimit-unified-reset': epochSeconds(NOW + 3_600_000),
        'x-ratelimit-reset-tokens': '6m0s',
        'x-ratelimit-reset-requests': '20ms',
      },
      NOW,
    );
    expect(unreadable).toBe(0);
    expect(delays.sort((a, b) => a - b)).toEqual([20, 1_500, 30_000, 120_000, 360_000, 3_600_000]);
  });

  it('counts values it cannot read', () => {
    expect(resetDelays({ 'retry-after': 'later', 'x-ratelimit-reset-tokens': 'soon' }, NOW)).toEqual({
      delays: [],
      unreadable: 2,
    });
  });

  it.each([
    ['6m0s', 360_000],
    ['1.5s', 1_500],
    ['20ms', 20],
    ['1h2m3s', 3_723_000],
    ['', undefined],
    ['5x', undefined],
  ])('parses the Go duration %j', (value, ms) => {
    expect(parseGoDuration(value)).toBe(ms);
  });
});

describe('vendor utilization headers', () => {
  it('reads Anthropic 5h and 7d utilization with status and reset', () => {
    const readings = readVendorWindows(
      {
        'anthropic-ratelimit-unified-5h-utilization': '0.42',
        'anthropic-ratelimit-unified-5h-status': 'allowed',
        'anthropic-ratelimit-unified-5h-reset': epochSeconds(NOW + 3_600_000),
        'anthropic-ratelimit-unified-7d-utilization': '0.995',
        'anthropic-ratelimit-unified-7d-status': 'allowed_warning',
      },
      NOW,
    );
    expect(readings.get(5 * 3_600_000)).toEqual({
      utilization: 0.42,
      status: 'allowed',
      resetAt: NOW + 3_600_000,
      at: NOW,
    });
    expect(readings.get(7 * 86_400_000)).toMatchObject({ utilization: 0.995, status: 'allowed_warning' });
  });

  it('reads OpenAI remaining and limit tokens as a per-minute window', () => {
    const readings = readVendorWindows(
      {
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '7500',
        'x-ratelimit-reset-tokens': '45s',
      },
      NOW,
    );
    expect(readings.get(60_000)).toEqual({
      utilization: 0.75,
      remaining: 7_500,
      limit: 30_000,
      resetAt: NOW + 45_000,
      at: NOW,
    });
  });
});
