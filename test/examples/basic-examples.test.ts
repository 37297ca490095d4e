import { createServer } from 'node:http';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp as createExpressApp } from '../../examples/express-basic/app.js';
import { createApp as createKoaApp } from '../../examples/koa-basic/app.js';
import { type FakeUpstream, startFakeUpstream } from '../../examples/shared/fake-upstream.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

const examples = [
  {
    name: 'express-basic',
    make: (o: Parameters<typeof createExpressApp>[0]) => {
      const { app, guard } = createExpressApp(o);
      return { server: createServer(app), guard };
    },
  },
  {
    name: 'koa-basic',
    make: (o: Parameters<typeof createKoaApp>[0]) => {
      const { app, guard } = createKoaApp(o);
      return { server: createServer(app.callback()), guard };
    },
  },
];

describe.each(examples)('examples/$name', ({ make }) => {
  const upstreams: FakeUpstream[] = [];
  afterEach(async () => {
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
  });

  async function setup(capTokens?: number) {
    const primary = await startFakeUpstream({ name: 'primary', ...(capTokens ? { capTokens } : {}) });
    const fallback = await startFakeUpstream({ name: 'fallback' });
    upstreams.push(primary, fallback);
    const clock = new ManualClock(Date.parse('2026-12-01T09:00:00Z'));
    const log = captureLogger();
    const { server, guard } = make({
      primaryUrl: primary.url,
      fallbackUrl: fallback.url,
      clock,
      logger: log.logger,
    });
    const send = async () => {
      const response = await request(server).post('/v1/messages').send({ messages: [] });
      await guard.settled();
      return response.headers['x-served-by'];
    };
    return { primary, fallback, clock, server, guard, send, log };
  }

  it('moves to the fallback when the primary caps, probes, and comes back', async () => {
    const { primary, clock, guard, send, log } = await setup(3_000);
    expect([await send(), await send(), await send()]).toEqual(['primary', 'primary', 'primary']);
    expect(await send()).toBe('fallback'); // the primary's 429, reported by the app
    expect(await send()).toBe('fallback'); // the guard holds it back now
    expect((await guard.info()).guard.windows[0]).toMatchObject({
      capErrorActive: true,
      windowUsageTokens: 3_000,
    });
    primary.reset();
    clock.advance(66_000); // Retry-After: 60 × 1.1
    expect(await send()).toBe('primary'); // the probe
    expect((await guard.info()).guard.state).toBe('within_quota');
    expect(log.lines.map((l) => `${l.level} ${l.message}`)).toEqual([
      'warn quota-guard [anthropic/5h]: within_quota → quota_exceeded (cap_error at 15.0% of 20000)',
      'warn quota-guard [anthropic/7d]: within_quota → quota_exceeded (cap_error at 1.5% of 200000)',
      'info quota-guard [anthropic]: probe granted (5h, 7d)',
      'warn quota-guard [anthropic/5h]: quota_exceeded → within_quota (probe_success at 20.0% of 20000)',
      'warn quota-guard [anthropic/7d]: quota_exceeded → within_quota (probe_success at 2.0% of 200000)',
    ]);
  });

  it('serves its status page without taking the probe', async () => {
    const { clock, guard, send, server } = await setup(1_000);
    await send();
    expect(await send()).toBe('fallback'); // capped
    clock.advance(66_000);
    expect((await request(server).get('/quota')).status).toBe(200);
    const { guard: after } = await guard.info();
    expect(after.state).toBe('quota_exceeded');
    expect(after.nextProbeAt).toBe(clock.now()); // still due: the status page took nothing
  });

  it('stops at its own budget before the primary caps', async () => {
    const { primary, send, server } = await setup();
    const servedBy: Array<string | undefined> = [];
    for (let i = 0; i < 21; i++) servedBy.push(await send());
    // 19 answers of 1,000 tokens stay under floor(20,000 × 99%); the 20th reaches the line.
    expect(servedBy.filter((s) => s === 'primary')).toHaveLength(20);
    expect(servedBy.at(-1)).toBe('fallback');
    expect(primary.served()).toBe(20_000);
    const status = await request(server).get('/quota');
    expect(status.body.guard.windows[0]).toMatchObject({
      window: '5h',
      state: 'quota_exceeded',
      windowUsageTokens: 20_000,
    });
  });
});
