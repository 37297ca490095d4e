import { createServer } from 'node:http';
import { Readable } from 'node:stream';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { quotaGuard } from '../../src/adapters/express.js';
import { anthropicJson, anthropicStream } from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { type StreamPlan, useStreamingUpstream } from './stream-apps.js';

const streamingUpstream = useStreamingUpstream();

/** Registers an Anthropic JSON answer (status, headers or body as given); returns its id. */
const jsonAnswer = (plan: Partial<StreamPlan> = {}): string =>
  streamingUpstream().register({ fixture: anthropicJson, gzip: false, cuts: [], ...plan });

const NOW = Date.parse('2026-12-01T10:00:00Z');
const H = 3_600_000;
const capBody = JSON.stringify({
  type: 'error',
  error: { type: 'rate_limit_error', message: "You've reached your usage limit" },
});

/** A proxy that calls the upstream with fetch itself and falls back on a 429, as apps do. */
function proxyApp(options: { calibrate?: boolean } = {}) {
  const clock = new ManualClock(NOW);
  const guard = quotaGuard({
    upstream: 'anthropic',
    windows: [
      { window: '5h', budget: 1e9 },
      { window: '7d', budget: 1e10 },
    ],
    usage: 'anthropic',
    resolution: 0,
    clock,
    logger: captureLogger().logger,
    ...options,
  });
  const app = express();
  app.use(guard);
  app.post('/v1/messages', async (req, res) => {
    const route = req.quotaRoute!;
    const primaryId = String(req.query.primary);
    let answer = await route.observe(await fetch(`${streamingUpstream().url}/${primaryId}`));
    // The verdict on an error answer is in once observe resolves.
    const verdict = route.upstreamError;
    if (answer.status === 429)
      answer = await fetch(`${streamingUpstream().url}/${String(req.query.fallback)}`);
    res.status(answer.status).set('content-type', answer.headers.get('content-type') ?? 'text/plain');
    res.set('x-verdict', verdict?.kind ?? 'none');
    Readable.fromWeb(answer.body as never).pipe(res);
  });
  return { server: createServer(app), guard, clock };
}

describe('route.observe(fetchResponse)', () => {
  it('charges a streamed answer the app reads itself, once', async () => {
    const { server, guard } = proxyApp();
    const id = streamingUpstream().register({ fixture: anthropicStream, gzip: true, cuts: [10, 300, 301] });
    const response = await request(server).post(`/v1/messages?primary=${id}`);
    expect(response.status).toBe(200);
    expect(response.text).toBe(anthropicStream.body);
    await guard.settled();
    expect((await guard.info()).guard.windows.map((w) => w.windowUsageTokens)).toEqual([
      anthropicStream.tokens,
      anthropicStream.tokens,
    ]);
  });

  it('sees the primary’s cap error though the client gets the fallback’s 200, and charges only the primary', async () => {
    const { server, guard } = proxyApp();
    const primary = jsonAnswer({ status: 429, rawBody: capBody });
    const fallback = jsonAnswer();
    const response = await request(server).post(`/v1/messages?primary=${primary}&fallback=${fallback}`);
    expect(response.status).toBe(200);
    expect(response.headers['x-verdict']).toBe('cap');
    await guard.settled();
    const info = await guard.info();
    expect(info.guard.state).toBe('quota_exceeded');
    expect(info.guard.windows.map((w) => w.windowUsageTokens)).toEqual([0, 0]);
  });

  it('takes a short per-minute 429 for transient: no state change, counted, reported on the decision', async () => {
    const { server, guard } = proxyApp();
    const primary = jsonAnswer({
      status: 429,
      headers: { 'retry-after': '5' },
      rawBody: JSON.stringify({
        type: 'error',
        error: {
          type: 'rate_limit_error',
          message: 'Number of requests has exceeded your per-minute rate limit',
        },
      }),
    });
    const fallback = jsonAnswer();
    const response = await request(server).post(`/v1/messages?primary=${primary}&fallback=${fallback}`);
    expect(response.headers['x-verdict']).toBe('transient');
    await guard.settled();
    const info = await guard.info();
    expect(info.guard.state).toBe('within_quota');
    expect(info.upstreamErrors).toEqual({ cap: 0, transient: 1 });
  });
});

describe('vendor headers', () => {
  const unified = (fiveHour: string, weekly: string) => ({
    'anthropic-ratelimit-unified-status': 'allowed',
    'anthropic-ratelimit-unified-5h-utilization': fiveHour,
    'anthropic-ratelimit-unified-5h-status': 'allowed_warning',
    'anthropic-ratelimit-unified-5h-reset': String(Math.floor((NOW + 2 * H) / 1_000)),
    'anthropic-ratelimit-unified-7d-utilization': weekly,
    'anthropic-ratelimit-unified-7d-status': 'allowed',
  });

  it('shows the vendor’s utilization per window next to the guard’s own count', async () => {
    const { server, guard } = proxyApp();
    const id = jsonAnswer({ headers: unified('0.995', '0.4') });
    await request(server).post(`/v1/messages?primary=${id}`);
    await guard.settled();
    const info = await guard.info();
    expect(info.vendor).toEqual({
      '5h': { utilization: 0.995, status: 'allowed_warning', resetAt: NOW + 2 * H, at: NOW },
      '7d': { utilization: 0.4, status: 'allowed', at: NOW },
    });
    expect(info.guard.state).toBe('within_quota'); // calibrate is off
  });

  it('with calibrate, a window the vendor reports at the threshold trips, with the vendor’s reset', async () => {
    const { server, guard, clock } = proxyApp({ calibrate: true });
    const id = jsonAnswer({ headers: unified('0.995', '0.4') });
    await request(server).post(`/v1/messages?primary=${id}`);
    await guard.settled();
    const info = await guard.info();
    expect(info.guard.windows.map((w) => w.state)).toEqual(['quota_exceeded', 'within_quota']);
    expect(info.guard.windows[0]!.capErrorActive).toBe(true);
    // The vendor resets in 2 h; the guard probes after 2 h × 1.1.
    expect(info.guard.windows[0]!.nextProbeAt).toBe(clock.now() + 2.2 * H);
  });

  it('sends only the window the vendor names as spent to quota_exceeded', async () => {
    const { server, guard } = proxyApp();
    const primary = jsonAnswer({
      status: 429,
      rawBody: capBody,
      headers: {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-7d-status': 'rejected',
        'anthropic-ratelimit-unified-7d-reset': String(Math.floor((NOW + 30 * H) / 1_000)),
      },
    });
    const fallback = jsonAnswer();
    await request(server).post(`/v1/messages?primary=${primary}&fallback=${fallback}`);
    await guard.settled();
    const info = await guard.info();
    expect(info.guard.windows.map((w) => w.state)).toEqual(['within_quota', 'quota_exceeded']);
    expect(info.guard.windows[1]!.nextProbeAt).toBe(NOW + 33 * H);
  });
});
