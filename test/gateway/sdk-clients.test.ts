/**
 * The gateway on its embedded defaults, driven by the official clients (@anthropic-ai/sdk and
 * openai, streamed and not) until the fake primary's hidden cap answers 429 and until the budget
 * line is crossed: the routes, the whole answers, the retry on the fallback, the recovery by probe,
 * and `/quota.json` and `/metrics` agreeing with the tokens the clients saw.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { gatewaySetup, quotaJson } from './helpers.js';

const WORDS = 'the quick brown fox jumps over the lazy dog while the guard counts every token'.split(' ');
/** What the fake vendors answer for `max_tokens` n: n ≥ 32 gives 32 words. */
const EXPECTED_TEXT = Array.from({ length: 32 }, (_, i) => `${WORDS[i % WORDS.length]} `).join('');

interface Answer {
  servedBy: string | null;
  tokens: number;
  text: string;
}

describe('the gateway driven by the official SDK clients', () => {
  const start = gatewaySetup();

  it('routes by budget and by cap error, retries on the fallback, recovers by probe, and counts what the clients saw', async () => {
    const gw = await start();
    const anthropic = new Anthropic({ apiKey: 'client-key', baseURL: gw.url, maxRetries: 0 });
    const openai = new OpenAI({ apiKey: 'client-key', baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ask = { max_tokens: 2_000, messages: [{ role: 'user' as const, content: 'Count to three.' }] };

    const kinds: Array<() => Promise<Answer>> = [
      async () => {
        const { data, response } = await anthropic.messages
          .create({ model: 'claude-x', ...ask })
          .withResponse();
        const text = data.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
        return {
          servedBy: response.headers.get('x-served-by'),
          tokens: data.usage.input_tokens + data.usage.output_tokens,
          text,
        };
      },
      async () => {
        const { data, response } = await anthropic.messages
          .create({ model: 'claude-x', stream: true, ...ask })
          .withResponse();
        let input = 0;
        let output = 0;
        let text = '';
        let stopped = false;
        for await (const event of data) {
          if (event.type === 'message_start') input = event.message.usage.input_tokens;
          if (event.type === 'message_delta') output = event.usage.output_tokens;
          if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
            text += event.delta.text;
          if (event.type === 'message_stop') stopped = true;
        }
        expect(stopped).toBe(true);
        return { servedBy: response.headers.get('x-served-by'), tokens: input + output, text };
      },
      async () => {
        const { data, response } = await openai.chat.completions
          .create({ model: 'gpt-x', ...ask })
          .withResponse();
        return {
          servedBy: response.headers.get('x-served-by'),
          tokens: (data.usage?.prompt_tokens ?? 0) + (data.usage?.completion_tokens ?? 0),
          text: data.choices[0]?.message.content ?? '',
        };
      },
      async () => {
        const { data, response } = await openai.chat.completions
          .create({ model: 'gpt-x', stream: true, stream_options: { include_usage: true }, ...ask })
          .withResponse();
        let tokens = 0;
        let text = '';
        let finished = false;
        for await (const chunk of data) {
          text += chunk.choices[0]?.delta.content ?? '';
          if (chunk.choices[0]?.finish_reason === 'stop') finished = true;
          if (chunk.usage) tokens = chunk.usage.prompt_tokens + chunk.usage.completion_tokens;
        }
        expect(finished).toBe(true);
        return { servedBy: response.headers.get('x-served-by'), tokens, text };
      },
    ];

    let n = 0;
    let primaryTokens = 0;
    let fallbackTokens = 0;
    const served: string[] = [];
    async function next(): Promise<Answer> {
      const answer = await kinds[n++ % kinds.length]!();
      await gw.gateway.guard.settled();
      // Every answer arrived whole, from either upstream.
      expect(answer.text).toBe(EXPECTED_TEXT);
      expect(answer.tokens).toBeGreaterThan(2_000);
      if (answer.servedBy === 'primary') primaryTokens += answer.tokens;
      else fallbackTokens += answer.tokens;
      served.push(answer.servedBy ?? '?');
      return answer;
    }

    // 1. Until the primary's hidden cap (25,000 tokens) answers 429: that request is retried on
    //    the fallback, and the guard holds every request after it.
    while ((await next()).servedBy === 'primary') expect(n).toBeLessThan(20);
    expect(served.slice(0, -1).every((s) => s === 'primary')).toBe(true);
    let q = await quotaJson(gw.url);
    expect(q).toMatchObject({ state: 'quota_exceeded', upstreamErrors: { cap: 1 } });
    expect(q.windows[0]).toMatchObject({ capError: true, usageTokens: primaryTokens });
    expect(q.why).toContain('cap error');
    expect((await next()).servedBy).toBe('fallback');
    expect(gw.vendors.primary!.requests()['/v1/messages'] ?? 0).toBeGreaterThan(0);

    // 2. The vendor said Retry-After: 60; the guard waits 1.1 × that (66 s), by which time the
    //    vendor's window rolled over: one request probes,
    //    succeeds, and the primary serves again.
    gw.clock.advance(66_000);
    expect((await next()).servedBy).toBe('primary');
    q = await quotaJson(gw.url);
    expect(q.state).toBe('within_quota');

    // 3. On until the 5 h budget line (59,400 of 60,000 tokens): cap errors on the way are met the
    //    same way; then the budget holds the primary back.
    for (let i = 0; i < 100; i++) {
      q = await quotaJson(gw.url);
      if (q.windows[0]!.state === 'quota_exceeded' && !q.windows[0]!.capError) break;
      if (q.windows[0]!.capError) gw.clock.advance(66_000);
      await next();
    }
    expect(q.windows[0]).toMatchObject({ state: 'quota_exceeded', capError: false });
    expect(q.why).toContain("5h window's line");
    expect((await next()).servedBy).toBe('fallback');
    // The guard, the status JSON and the metrics say what the clients saw, to the token.
    q = await quotaJson(gw.url);
    expect(q.windows[0]!.usageTokens).toBe(primaryTokens);
    expect(q.windows[0]!.usageTokens).toBeGreaterThanOrEqual(59_400);
    const metrics = await (await fetch(`${gw.url}/metrics`)).text();
    expect(metrics).toContain(
      `quota_guard_window_usage_tokens{upstream="primary",window="5h"} ${primaryTokens}`,
    );
    // And the usage log holds every answer: the chart's series sums to the same.
    expect(q.windows[0]!.series.reduce((a, b) => a + b, 0)).toBe(primaryTokens);
    // The fallback's own guard counted what the fallback served, to the token.
    expect(q.fallbackGuard.windows[0]!.usageTokens).toBe(fallbackTokens);
    expect(fallbackTokens).toBeGreaterThan(0);
  }, 60_000);
});
