/**
 * The gateway pointed at upstreams the environment names, its keys, transient errors, a restart
 * over the same usage log, a client that leaves mid-stream, and bad configuration.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../examples/gateway/config.js';
import { startFakeVendor } from '../../examples/gateway/fake-vendor.js';
import { startGateway } from '../../examples/gateway/start.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { FaultProxy } from '../redis/fault-proxy.js';
import { gatewaySetup, NOW, quotaJson, tempDb } from './helpers.js';

const message = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    model: 'claude-x',
    max_tokens: 100,
    messages: [{ role: 'user', content: 'Hi' }],
    ...extra,
  });

async function post(url: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${url}/v1/messages`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-api-key': 'client-key',
      'anthropic-version': '2023-06-01',
      ...headers,
    },
    body,
  });
}

describe('the gateway', () => {
  const start = gatewaySetup();

  it('forwards to the upstreams the environment names, with its own keys, never showing them', async () => {
    const primary = await startFakeVendor({ name: 'env-primary', apiKey: 'primary-secret-key' });
    const fallback = await startFakeVendor({ name: 'env-fallback', apiKey: 'fallback-secret-key' });
    try {
      const gw = await start({
        PRIMARY_URL: primary.url,
        PRIMARY_API_KEY: 'primary-secret-key',
        FALLBACK_URL: fallback.url,
        FALLBACK_API_KEY: 'fallback-secret-key',
        WINDOWS: '5h=1000',
      });
      expect(gw.vendors).toEqual({});
      const answer = await post(gw.url, message(), { 'anthropic-beta': 'tools-2024' });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-served-by')).toBe('primary');
      // The client's key was replaced; its other headers passed through.
      expect(primary.lastHeaders()).toMatchObject({
        'x-api-key': 'primary-secret-key',
        'anthropic-version': '2023-06-01',
        'anthropic-beta': 'tools-2024',
      });
      // Count tokens and other paths under /v1 go to the chosen upstream unchanged.
      const counted = await fetch(`${gw.url}/v1/messages/count_tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: message(),
      });
      expect(await counted.json()).toMatchObject({ input_tokens: expect.any(Number) });
      for (let i = 0; i < 10; i++) await post(gw.url, message({ max_tokens: 200 }));
      await gw.gateway.guard.settled();
      const last = await post(gw.url, message());
      expect(last.headers.get('x-served-by')).toBe('fallback');
      expect(fallback.lastHeaders()?.['x-api-key']).toBe('fallback-secret-key');
      const shown = [
        await (await fetch(`${gw.url}/quota`)).text(),
        JSON.stringify(await quotaJson(gw.url)),
        await (await fetch(`${gw.url}/metrics`)).text(),
        gw.log.lines.map((l) => l.message).join('\n'),
      ].join('\n');
      expect(shown).not.toContain('secret-key');
      expect(gw.log.lines.map((l) => l.message)).toContain(
        `primary ${primary.url} (key set), fallback ${fallback.url} (key set)`,
      );
    } finally {
      await primary.close();
      await fallback.close();
    }
  });

  it('passes a transient 429 back as it came, with its Retry-After, and holds nothing', async () => {
    const gw = await start();
    gw.vendors.primary!.failNext(
      429,
      { 'retry-after': '7' },
      {
        type: 'error',
        error: { type: 'rate_limit_error', message: 'Rate limit exceeded: 50 requests per minute' },
      },
    );
    const answer = await post(gw.url, message());
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(await answer.json()).toMatchObject({
      error: { message: 'Rate limit exceeded: 50 requests per minute' },
    });
    await gw.gateway.guard.settled();
    expect(await quotaJson(gw.url)).toMatchObject({
      state: 'within_quota',
      upstreamErrors: { cap: 0, transient: 1 },
    });
    expect((await post(gw.url, message())).headers.get('x-served-by')).toBe('primary');
  });

  it('keeps the window usage over a restart on the same usage log, not doubled', async () => {
    const db = tempDb();
    const clock = new ManualClock(NOW);
    const first = await start({ DB_PATH: db }, clock);
    for (let i = 0; i < 3; i++) await (await post(first.url, message({ stream: i % 2 === 0 }))).text();
    await first.gateway.guard.settled();
    const before = (await quotaJson(first.url)).windows.map((w) => w.usageTokens);
    expect(before[0]).toBeGreaterThan(300);
    await first.close();
    clock.advance(60_000);
    const second = await start({ DB_PATH: db }, clock);
    expect((await quotaJson(second.url)).windows.map((w) => w.usageTokens)).toEqual(before);
    expect(second.log.lines.map((l) => l.message)).toContain(`usage log ${db}: 3 rows`);
    // Five hours after the usage it slides out of the 5 h window, as it would have without the restart.
    clock.advance(5 * 3_600_000);
    expect((await quotaJson(second.url)).windows.map((w) => w.usageTokens)).toEqual([0, before[1]]);
  });

  it('aborts the upstream request when the client leaves mid-stream, and still counts the usage streamed so far', async () => {
    const primary = await startFakeVendor({ name: 'slow-primary', eventDelayMs: 30 });
    const fallback = await startFakeVendor({ name: 'fallback' });
    try {
      const gw = await start({ PRIMARY_URL: primary.url, FALLBACK_URL: fallback.url });
      const answer = await post(gw.url, message({ stream: true, max_tokens: 500 }));
      const reader = answer.body!.getReader();
      let seen = '';
      while (!seen.includes('content_block_delta'))
        seen += new TextDecoder().decode((await reader.read()).value);
      await reader.cancel();
      for (let i = 0; i < 200 && primary.aborted() === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 10));
      expect(primary.aborted()).toBe(1);
      await gw.gateway.guard.settled();
      // message_start said the input tokens and 1 output token so far: that much was charged.
      const q = await quotaJson(gw.url);
      expect(q.windows[0]!.usageTokens).toBeGreaterThan(0);
      expect(q.windows[0]!.usageTokens).toBeLessThan(500);
      expect(gw.gateway.usage.entriesSince(0)).toEqual([{ at: NOW, tokens: q.windows[0]!.usageTokens }]);
    } finally {
      await primary.close();
      await fallback.close();
    }
  });

  it('stops at startup on bad configuration with one line naming the variable and the value', () => {
    expect(() => readConfig({ PRIMARY_URL: 'not a url' })).toThrow('PRIMARY_URL="not a url" is not valid');
    expect(() => readConfig({ WINDOWS: '5h=-1' })).toThrow('WINDOWS="5h=-1" is not valid');
    expect(() => readConfig({ PORT: '99999' })).toThrow('PORT="99999" is not valid');
    expect(() => readConfig({ PROBE_INTERVAL: 'soon' })).toThrow('PROBE_INTERVAL="soon" is not valid');
    expect(() => readConfig({ REDIS_PREFIX: 'a{b}' })).toThrow('REDIS_PREFIX="a{b}" is not valid');
    expect(() => readConfig({ FALLBACK_WINDOWS: '5h' })).toThrow('FALLBACK_WINDOWS="5h" is not valid');
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'examples/gateway/main.ts'], {
      env: { ...process.env, PRIMARY_URL: 'ftp://x', PORT: '0' },
      encoding: 'utf8',
    });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split('\n')).toEqual([
      'quota-guard gateway: PRIMARY_URL="ftp://x" is not valid: a http: or https: URL',
    ]);
  });

  it('refuses an oversized or unreadable body with a JSON error and one log line', async () => {
    const gw = await start();
    const big = await post(gw.url, 'a'.repeat(33 * 1_048_576));
    expect(big.status).toBe(413);
    expect(await big.json()).toMatchObject({ type: 'error', error: { type: 'request_too_large' } });
    expect(gw.log.lines.map((l) => l.message)).toContain('request refused: 413 entity.too.large');
    // A body the upstream cannot read is its to refuse; the gateway passes that on.
    expect((await post(gw.url, 'not json{')).status).toBe(400);
  });

  it('puts status and metrics behind STATUS_TOKEN when it is set', async () => {
    const gw = await start({ STATUS_TOKEN: 'let-me-see' });
    expect((await fetch(`${gw.url}/quota.json`)).status).toBe(401);
    expect((await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).toBe(
      401,
    );
    expect(
      (await fetch(`${gw.url}/metrics`, { headers: { authorization: 'Bearer let-me-see' } })).status,
    ).toBe(200);
    expect((await fetch(`${gw.url}/quota?token=let-me-see`)).status).toBe(200);
  });
});

describe('gateway instances sharing REDIS_URL', () => {
  const start = gatewaySetup();

  it('share one quota: usage and a cap error met by one show on, and hold, the other', async () => {
    const primary = await startFakeVendor({ name: 'shared-primary', capTokens: 1_000 });
    const fallback = await startFakeVendor({ name: 'shared-fallback' });
    try {
      const env = {
        PRIMARY_URL: primary.url,
        FALLBACK_URL: fallback.url,
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        REDIS_PREFIX: `qg-test:${Math.random().toString(36).slice(2)}:`,
        WINDOWS: '5h=100000',
      };
      const a = await start(env);
      const b = await start(env);
      expect((await post(a.url, message())).headers.get('x-served-by')).toBe('primary');
      await a.gateway.guard.settled();
      const used = (await quotaJson(a.url)).windows[0]!.usageTokens;
      expect(used).toBeGreaterThan(100);
      expect((await quotaJson(b.url)).windows[0]!.usageTokens).toBe(used);
      // Until the vendor's cap: the instance that meets it retries on the fallback; both then hold.
      while ((await post(b.url, message({ max_tokens: 300 }))).headers.get('x-served-by') === 'primary');
      await b.gateway.guard.settled();
      expect((await post(a.url, message())).headers.get('x-served-by')).toBe('fallback');
      expect((await quotaJson(a.url)).windows[0]!.capError).toBe(true);
    } finally {
      await primary.close();
      await fallback.close();
    }
  });
});

describe('a gateway on Redis, stopped', () => {
  const start = gatewaySetup();
  const redisUrl = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

  it('writes the usage still waiting for Redis before it exits, and says what it could not', async () => {
    const proxy = await new FaultProxy(Number(redisUrl.port || 6379)).start();
    const env = {
      REDIS_PREFIX: `qg-test:${Math.random().toString(36).slice(2)}:`,
      WINDOWS: '5h=100000',
    };
    /** A gateway on Redis through the proxy that, while Redis stalls, serves one request and stops. */
    async function serveOneThenStop(before: (gw: { url: string }, tokens: number) => void | Promise<void>) {
      const log = captureLogger();
      const gw = await startGateway(
        { PORT: '0', DB_PATH: tempDb(), REDIS_URL: `redis://127.0.0.1:${proxy.port}`, ...env },
        { logger: log.logger, clock: new ManualClock(NOW) },
      );
      proxy.stall();
      const answer = await post(gw.url, message());
      expect(answer.headers.get('x-served-by')).toBe('primary');
      const { usage } = (await answer.json()) as { usage: { input_tokens: number; output_tokens: number } };
      // The usage was recorded when Redis timed out: it waits in the store's buffer.
      await gw.gateway.guard.settled();
      const tokens = usage.input_tokens + usage.output_tokens;
      await before(gw, tokens);
      await gw.close();
      return { tokens, log };
    }
    try {
      // Redis answers again just before the stop: the usage is in the shared total once, though
      // it was sent twice (the stalled bytes, then the buffer's copy the stop sends).
      const first = await serveOneThenStop(async (gw, tokens) => {
        // Meanwhile the status page, /quota.json and /metrics say Redis is away, and what waits.
        expect((await quotaJson(gw.url)).redis).toEqual({
          unavailable: true,
          pendingTokens: tokens,
          droppedTokens: 0,
        });
        const page = await (await fetch(`${gw.url}/quota`)).text();
        expect(page).toContain(`<b>Redis is away</b>: these are this instance’s own numbers`);
        expect(page).toContain(`${tokens.toLocaleString('en-US')} tokens wait to be written`);
        const metrics = await (await fetch(`${gw.url}/metrics`)).text();
        expect(metrics).toContain('quota_guard_store_unavailable{upstream="primary"} 1');
        expect(metrics).toContain(`quota_guard_store_pending_tokens{upstream="primary"} ${tokens}`);
        expect(metrics).toMatch(/quota_guard_store_failures_total\{upstream="primary"\} [1-9]/);
        proxy.pass();
      });
      expect(first.tokens).toBeGreaterThan(0);
      expect(first.log.lines.filter((l) => l.level === 'error').map((l) => l.message)).not.toContainEqual(
        expect.stringContaining('not confirmed'),
      );
      const reader = await start({ ...env, REDIS_URL: redisUrl.href });
      const shared = await quotaJson(reader.url);
      expect(shared.windows[0]!.usageTokens).toBe(first.tokens);
      expect(shared.redis).toEqual({ unavailable: false, pendingTokens: 0, droppedTokens: 0 });
      const page = await (await fetch(`${reader.url}/quota`)).text();
      expect(page).toContain('Quota shared through Redis by every instance');
      expect(page).not.toContain('Redis is away');
      // Redis still stalled at the stop: one timeout, then what may be lost is said, with its size.
      const second = await serveOneThenStop(() => undefined);
      expect(second.log.lines.map((l) => l.message)).toContain(
        `quota-guard gateway: ${second.tokens} tokens were not confirmed written to Redis before exit`,
      );
    } finally {
      await proxy.close();
    }
  });
});
