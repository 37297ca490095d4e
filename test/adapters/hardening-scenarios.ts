/**
 * Issue 7's attacks and traps, each through a real app over real HTTP, for every adapter: what a
 * client, an upstream or a route behind the guard can no longer do to it.
 */
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { WindowOptions } from '../../src/index.js';
import { headerValue } from '../../src/usage/headers.js';
import type { AppSpec, Harness, SharedOptions, TestApp } from './apps.js';
import { type ScenarioStore, scenarioSetup } from './setup.js';

/** A large account budget and 1,000 tokens per tenant: only the tenant's own window trips. */
const TENANT_WINDOWS: WindowOptions[] = [{ window: '5h', budget: 1_000_000, tenantBudget: 1_000 }];

const S = 1_000;
const M = 60 * S;
const H = 60 * M;

/** Opens a request, reads the first bytes of the answer, and hangs up. */
function hangUpAfterFirstBytes(app: TestApp, path: string): Promise<number> {
  if (!app.server.listening) app.server.listen(0, '127.0.0.1');
  return new Promise((resolve) => {
    const go = () => {
      const { port } = app.server.address() as AddressInfo;
      const req = httpRequest({ host: '127.0.0.1', port, path, method: 'POST' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve(res.statusCode ?? 0);
        });
      });
      // Hanging up makes the request emit an error after the answer was taken: expected.
      req.on('error', () => undefined);
      req.end();
    };
    if (app.server.listening) go();
    else app.server.once('listening', go);
  });
}

export function describeHardeningScenarios(harness: Harness, makeStore?: ScenarioStore): void {
  describe(`${harness.name} adapter: hardening`, () => {
    const setupApp = scenarioSetup(harness, makeStore);

    function setup(options: Partial<SharedOptions> = {}, spec: Partial<AppSpec> = {}) {
      const made = setupApp(options, spec);
      /** A cap error, then the clock to the moment the probe is due. */
      async function capAndWait() {
        await made.send('/chat', { 'x-status': '429' });
        made.clock.advance(1 * M);
      }
      return { ...made, capAndWait };
    }

    describe('a probe ends a cap error only on the primary’s word', () => {
      it('a status request behind the guard takes the probe, gives it back, and the cap error stays', async () => {
        const { guard, get, send, capAndWait } = setup();
        await capAndWait();
        const status = await get('/quota');
        expect(status.status).toBe(200);
        const info = await guard.info();
        expect(info.guard.windows[0]).toMatchObject({ state: 'quota_exceeded', capErrorActive: true });
        // The probe was given back: the next real request carries it.
        const probe = await send('/chat', { 'x-tokens': '5' });
        expect(probe.body.route).toMatchObject({ route: 'primary', probe: true, reason: 'probe' });
        expect((await guard.info()).guard.state).toBe('within_quota');
      });

      it('a health check behind the guard answering 200 itself does not end it either', async () => {
        const { guard, get, send, capAndWait } = setup();
        await capAndWait();
        const health = await get('/health');
        expect(health.body.route).toMatchObject({ route: 'primary', probe: true });
        expect((await guard.info()).guard.state).toBe('quota_exceeded');
        expect((await send('/chat', { 'x-status': '429' })).body.route).toMatchObject({ probe: true });
        expect((await guard.info()).guard.windows[0]?.capErrorActive).toBe(true);
      });

      it('a probe whose answer carries vendor headers but no usage ends it', async () => {
        const { guard, send, capAndWait } = setup();
        await capAndWait();
        const headers = JSON.stringify({ 'anthropic-ratelimit-unified-status': 'allowed' });
        expect((await send('/chat', { 'x-headers': headers })).body.route).toMatchObject({ probe: true });
        expect((await guard.info()).guard.state).toBe('within_quota');
      });

      it('skip leaves a route alone: no decision, no probe taken, nothing in flight', async () => {
        const { guard, get, send, capAndWait } = setup({ skipHealth: true });
        await capAndWait();
        const before = await guard.info();
        const health = await get('/health');
        expect(health.body).toEqual({ ok: true, route: null });
        const after = await guard.info();
        expect(after.guard.nextProbeAt).toBe(before.guard.nextProbeAt);
        expect(after.inFlight).toBe(0);
        expect((await send('/chat', { 'x-tokens': '5' })).body.route).toMatchObject({ probe: true });
      });

      it('an async skip works the same; a skip that throws guards the request and is counted', async () => {
        const asyncSkip = setup({ skipHealth: 'async' });
        expect((await asyncSkip.get('/health')).body).toEqual({ ok: true, route: null });
        expect((await asyncSkip.send('/chat')).body.route).toMatchObject({ route: 'primary' });
        const throwing = setup({ skipHealth: 'throws' });
        expect((await throwing.get('/health')).body.route).toMatchObject({ route: 'primary' });
        const info = await throwing.guard.info();
        expect(info.problems.skip).toBe(1);
        expect(info.inFlight).toBe(0);
      });

      it('a probe whose client left after a 200 header while the app never finished is no success', async () => {
        const { app, guard, send, capAndWait } = setup({ abandonedTimeout: 20 });
        await capAndWait();
        expect(await hangUpAfterFirstBytes(app, '/stream-hang')).toBe(200);
        await guard.settled(); // the abandoned wait passes, and the hook reports what it has
        expect((await guard.info()).guard.windows[0]).toMatchObject({
          state: 'quota_exceeded',
          capErrorActive: true,
        });
        // Nothing showed the primary answered: the probe came back for the next request.
        expect((await send('/chat', { 'x-tokens': '5' })).body.route).toMatchObject({ probe: true });
      });
    });

    describe('absurd usage numbers', () => {
      it('1e308, 1e29, fractions and negatives are refused and counted; the budget keeps working', async () => {
        const { guard, clock, send } = setup({ windows: [{ window: '5h', budget: 1_000_000 }] });
        for (const tokens of ['1e308', '1e308', '1e29', '2.5', '-5', '9007199254740993'])
          await send('/chat', { 'x-tokens': tokens });
        let info = await guard.info();
        expect(info.guard.windows[0]).toMatchObject({ windowUsageTokens: 0, state: 'within_quota' });
        expect(info.problems.implausibleUsage).toBe(6);
        // Slide everything out: the total is still a number, and still trips.
        clock.advance(6 * H);
        await send('/chat', { 'x-tokens': '5000000' });
        expect((await send('/chat')).body.route).toMatchObject({
          route: 'fallback',
          reason: 'budget_exhausted',
        });
        info = await guard.info();
        expect(info.guard.windows[0]?.windowUsageTokens).toBe(5_000_000);
      });

      it('refuses more than maxTokensPerResponse for one answer', async () => {
        const { guard, send } = setup({ maxTokensPerResponse: 1_000 });
        await send('/chat', { 'x-tokens': '1001' });
        await send('/chat', { 'x-tokens': '1000' });
        const info = await guard.info();
        expect(info.guard.windows[0]?.windowUsageTokens).toBe(1_000);
        expect(info.problems.implausibleUsage).toBe(1);
      });

      it('a BigInt from the usage function is counted as a problem, never thrown', async () => {
        const { guard, send, log } = setup({ usage: 'bigint' });
        expect((await send('/chat')).status).toBe(200);
        expect((await guard.info()).problems.usage).toBe(1);
        expect(log.lines.some((l) => l.message.includes('gave 10n, not a token count'))).toBe(true);
      });
    });

    describe('status look-ups', () => {
      // MemoryStore's own bound (maxKeys, LRU eviction); a shared store keeps tenants by TTL.
      it.skipIf(makeStore !== undefined)('never create or evict tenants, even past maxKeys', async () => {
        const { app, guard, send } = setup({
          keyHeader: 'x-tenant',
          maxKeys: 20,
          status: { keys: true },
          // Each tenant its own vendor key: the cap error stays the tenant's, to be looked up.
          capScope: 'key',
        });
        await send('/chat', { 'x-tenant': 'capped', 'x-status': '429' });
        await send('/chat', { 'x-tenant': 'busy', 'x-tokens': '600' });
        for (let batch = 0; batch < 5; batch++) {
          await Promise.all(
            Array.from({ length: 10 }, (_, i) =>
              request(app.server)
                .get('/quota')
                .query({ key: `made-up-${batch}-${i}` })
                .expect(200),
            ),
          );
        }
        const info = await guard.info();
        expect(info.store).toEqual({ upstreams: 1, keys: 2, evictedKeys: 0 });
        expect((await guard.info('capped')).guard.windows[0]).toMatchObject({ capErrorActive: true });
        expect((await guard.info('busy')).guard.windows[0]?.windowUsageTokens).toBe(600);
        const unknown = await request(app.server).get('/quota').query({ key: 'nobody' });
        expect(unknown.body.guard).toMatchObject({ key: 'nobody', state: 'within_quota' });
        expect(unknown.body.guard.windows[0].windowUsageTokens).toBe(0);
      });

      it('answer tenant look-ups only when the app turns them on', async () => {
        const { app } = setup({ keyHeader: 'x-tenant' });
        const refused = await request(app.server).get('/quota').query({ key: 'a' });
        expect(refused.status).toBe(400);
        expect(refused.body.error.type).toBe('tenant_lookups_off');
        expect((await request(app.server).get('/quota')).status).toBe(200);
      });

      it('check a bearer token', async () => {
        const { app } = setup({ status: { token: 'status-secret' } });
        const none = await request(app.server).get('/quota');
        expect(none.status).toBe(401);
        expect(none.headers['www-authenticate']).toContain('Bearer');
        expect(
          (await request(app.server).get('/quota').set('authorization', 'Bearer status-secreT')).status,
        ).toBe(401);
        const ok = await request(app.server).get('/quota').set('authorization', 'Bearer status-secret');
        expect(ok.status).toBe(200);
        expect(ok.body.upstream).toBe('anthropic');
      });
    });

    it('calibrate keeps a vendor reset within maxRetryAfter', async () => {
      const { guard, clock, send } = setup({ calibrate: true, maxRetryAfter: '1h' });
      const headers = JSON.stringify({
        'anthropic-ratelimit-unified-5h-utilization': '1.0',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-reset': '99999999999',
      });
      await send('/chat', { 'x-headers': headers, 'x-tokens': '10' });
      const info = await guard.info();
      expect(info.guard.state).toBe('quota_exceeded');
      // max(1 h × 1.1, probe interval): not the year 5138.
      expect(info.guard.nextProbeAt).toBe(clock.now() + 1.1 * H);
    });

    it('reads vendor headers, and hands headers to isCapError, whatever case the app set them in', async () => {
      const asked: Array<string | null | undefined> = [];
      const { guard, send } = setup({
        isCapError: ({ status, headers }) => {
          // Node's headers through the guard's own reader: `get()` called with the name as given.
          asked.push(headerValue(headers, 'Retry-After'));
          return status === 429;
        },
      });
      const vendorHeaders = JSON.stringify({
        'Anthropic-Ratelimit-Unified-5h-Utilization': '0.25',
        'X-RateLimit-Limit-Tokens': '1000',
        'x-ratelimit-remaining-tokens': '600',
      });
      await send('/chat', { 'x-headers': vendorHeaders, 'x-tokens': '10' });
      const info = await guard.info();
      expect(info.vendor?.['5h']?.utilization).toBe(0.25);
      expect(info.vendor?.['1m']).toMatchObject({ remaining: 600, limit: 1000 });
      await send('/chat', { 'x-status': '429', 'x-headers': JSON.stringify({ 'RETRY-after': '30' }) });
      expect(asked).toEqual(['30']);
      expect((await guard.info()).guard.state).toBe('quota_exceeded');
    });

    describe('callbacks that never settle', () => {
      it('a key promise that never settles times out: the request is served on the shared budget', async () => {
        const { guard, send } = setup({ keyNever: true, keyTimeout: 20 });
        const response = await send('/chat', { 'x-tokens': '7' });
        expect(response.body.route).toMatchObject({ route: 'primary' });
        expect(response.body.route.key).toBeUndefined();
        const info = await guard.info();
        expect(info.problems.key).toBe(1);
        expect(info.guard.windows[0]?.windowUsageTokens).toBe(7);
      });

      it('a usage promise that never settles times out: settled() resolves, nothing leaks', async () => {
        const { guard, send } = setup({ usage: 'never', usageTimeout: 20 });
        await send('/chat');
        const info = await guard.info();
        expect(info.inFlight).toBe(0);
        expect(info.problems.usage).toBe(1);
      });
    });

    it('logs a tenant’s state changes both ways, naming the tenant, escaped', async () => {
      const { clock, send, log } = setup({
        keyHeader: 'x-tenant',
        probeInterval: '10h',
        windows: TENANT_WINDOWS,
      });
      const evil = 'evil\n\u001b[31mquota-guard [anthropic/5h]: forged line';
      const header = { 'x-tenant': encodeURIComponent(evil) };
      await send('/chat', { ...header, 'x-tokens': '1000' });
      await send('/chat', header);
      clock.advance(5 * H + 1);
      await send('/chat', header);
      const changes = log.lines.filter((l) => l.message.includes('→'));
      expect(changes.map((l) => l.level)).toEqual(['warn', 'warn']);
      expect(changes[0]?.message).toContain(
        "quota-guard [anthropic key 'evil\\u000a\\u001b[31mquota-guard [anthropic/5h]: forged line'/5h]: within_quota → quota_exceeded",
      );
      expect(changes[1]?.message).toContain('quota_exceeded → within_quota (usage_dropped');
      for (const line of log.lines) {
        expect(line.message).not.toContain('\n');
        expect(line.message).not.toContain('\u001b');
      }
    });

    it('a short key equal to a long key’s hash does not share its budget', async () => {
      const { send } = setup({ keyHeader: 'x-tenant', maxKeyLength: 80, windows: TENANT_WINDOWS });
      const long = 'L'.repeat(81);
      const lookalike = `sha256:${createHash('sha256').update(long).digest('hex')}`;
      await send('/chat', { 'x-tenant': long, 'x-tokens': '1000' });
      expect((await send('/chat', { 'x-tenant': long })).body.route.route).toBe('fallback');
      const other = await send('/chat', { 'x-tenant': lookalike });
      expect(other.body.route).toMatchObject({ route: 'primary', reason: 'within_quota' });
      expect(other.body.route.key).not.toBe(lookalike);
    });

    it.each([
      ['draft-7', { 'ratelimit-policy': '1000;w=18000', ratelimit: 'limit=1000, remaining=0, reset=18001' }],
      [
        'draft-6',
        {
          'ratelimit-policy': '1000;w=18000',
          'ratelimit-limit': '1000',
          'ratelimit-remaining': '0',
          'ratelimit-reset': '18001',
        },
      ],
    ] as const)('reject mode speaks express-rate-limit’s standardHeaders: %s', async (draft, expected) => {
      const { app, send } = setup({ onExceeded: 'reject', standardHeaders: draft });
      await send('/chat', { 'x-tokens': '1000' });
      const rejected = await request(app.server).post('/chat');
      expect(rejected.status).toBe(429);
      expect(rejected.headers).toMatchObject(expected);
    });
  });
}
