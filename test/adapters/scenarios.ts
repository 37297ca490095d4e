import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import type { Harness } from './apps.js';
import { NOW, type ScenarioStore, scenarioSetup } from './setup.js';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;

/** The scenarios every adapter must pass, through a real app and real HTTP. */
export function describeAdapterScenarios(harness: Harness, makeStore?: ScenarioStore): void {
  describe(`${harness.name} adapter`, () => {
    const setup = scenarioSetup(harness, makeStore);

    it('routes to the primary within quota, then to the fallback once the budget is spent', async () => {
      const { guard, send } = setup();
      await guard.ready;
      const first = await send('/chat', { 'x-tokens': '600' });
      expect(first.status).toBe(200);
      expect(first.body.route).toMatchObject({
        upstream: 'anthropic',
        route: 'primary',
        probe: false,
        reason: 'within_quota',
        state: 'within_quota',
      });
      await send('/chat', { 'x-tokens': '400' });
      const third = await send('/chat');
      expect(third.body.route).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
        window: '5h',
        state: 'quota_exceeded',
      });
      expect(third.body.route.retryInMs).toBe(5 * H + 1);
      expect((await guard.info()).guard.windows[0]).toMatchObject({
        windowUsageTokens: 1_000,
        state: 'quota_exceeded',
      });
    });

    it('takes a 429 whose Retry-After is far away for a cap error', async () => {
      const { guard, clock, send } = setup();
      await send('/chat', { 'x-status': '429', 'x-retry-after': '1200' });
      const info = await guard.info();
      expect(info.guard.windows[0]).toMatchObject({ state: 'quota_exceeded', capErrorActive: true });
      // max(1,200 s × 1.1, 1 min)
      expect(info.guard.nextProbeAt).toBe(clock.now() + 1_320 * S);
      expect(info.upstreamErrors).toEqual({ cap: 1, transient: 0 });
      expect((await send('/chat')).body.route).toMatchObject({ route: 'fallback', reason: 'cap_error' });
    });

    it('takes a 429 whose Retry-After is seconds away for a transient limit: no state change, counted', async () => {
      const { guard, send } = setup();
      await send('/chat', { 'x-status': '429', 'x-retry-after': '20' });
      const info = await guard.info();
      expect(info.guard.state).toBe('within_quota');
      expect(info.upstreamErrors).toEqual({ cap: 0, transient: 1 });
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary', reason: 'within_quota' });
    });

    it('takes a Retry-After HTTP-date', async () => {
      const { guard, clock, send } = setup();
      await send('/chat', {
        'x-status': '429',
        'x-retry-after': new Date(NOW + 10 * M).toUTCString(),
        'x-error': 'quota exceeded',
      });
      expect((await guard.info()).guard.nextProbeAt).toBe(clock.now() + 11 * M);
    });

    it('spaces probes, and the probe’s 2xx recovers the guard', async () => {
      const { guard, clock, send } = setup();
      await send('/chat', { 'x-status': '429' });
      clock.advance(1 * M - 1);
      expect((await send('/chat')).body.route.route).toBe('fallback');
      clock.advance(1);
      const probe = await send('/chat', { 'x-status': '429' });
      expect(probe.body.route).toMatchObject({ route: 'primary', probe: true, reason: 'probe' });
      expect((await send('/chat')).body.route.route).toBe('fallback');
      clock.advance(1 * M);
      // The primary's answer shows its usage: evidence it was asked (DESIGN §7).
      expect((await send('/chat', { 'x-tokens': '10' })).body.route).toMatchObject({ probe: true });
      expect((await guard.info()).guard.state).toBe('within_quota');
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary', reason: 'within_quota' });
    });

    it('a stale in-flight 2xx does not recover the guard', async () => {
      const { app, guard } = setup();
      const slow = request(app.server)
        .post('/chat')
        .set('x-hold', 'slow')
        .then((r) => r);
      await app.entered('slow');
      await request(app.server).post('/chat').set('x-status', '429');
      await vi.waitFor(async () => expect((await guard.info()).guard.state).toBe('quota_exceeded'));
      app.release('slow');
      expect((await slow).status).toBe(200);
      await guard.settled();
      expect((await guard.info()).guard.state).toBe('quota_exceeded');
    });

    it('recovers when usage slides out of the window', async () => {
      const { guard, clock, send } = setup({ probeInterval: '10h' });
      await send('/chat', { 'x-tokens': '1000' });
      expect((await send('/chat')).body.route.route).toBe('fallback');
      clock.advance(5 * H + 1);
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary', reason: 'usage_dropped' });
      expect((await guard.info()).guard.state).toBe('within_quota');
    });

    it('loads baselines before the first request is decided', async () => {
      const asked: unknown[] = [];
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { guard, send } = setup({
        windows: [
          { window: '5h', budget: 1_000 },
          { window: '7d', budget: 5_000 },
        ],
        loadBaseline: async (req) => {
          asked.push(req);
          await gate;
          return req.window === '5h' ? 990 : [{ at: NOW - 2 * 86_400_000, tokens: 4_000 }];
        },
      });
      const pending = send('/chat');
      release();
      const response = await pending;
      expect(response.body.route).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
        window: '5h',
      });
      expect(asked).toEqual([
        { upstream: 'anthropic', window: '5h', windowMs: 5 * H, key: undefined },
        { upstream: 'anthropic', window: '7d', windowMs: 7 * 24 * H, key: undefined },
      ]);
      // Each window gets what its loader call returned.
      expect((await guard.info()).guard.windows.map((w) => w.windowUsageTokens)).toEqual([990, 4_000]);
    });

    it('serves without a baseline when the loader throws or times out, and logs it', async () => {
      const { guard, send, log } = setup({
        windows: [
          { window: '5h', budget: 1_000 },
          { window: '7d', budget: 5_000 },
        ],
        baselineTimeout: 30,
        loadBaseline: (req) =>
          req.window === '5h' ? Promise.reject(new Error('db down')) : new Promise(() => {}),
      });
      const response = await send('/chat');
      expect(response.body.route).toMatchObject({ route: 'primary', reason: 'within_quota' });
      const info = await guard.info();
      expect(info.ready).toBe(true);
      expect(info.problems.baseline).toBe(2);
      expect(log.lines.some((l) => l.level === 'warn' && l.message.includes('baseline of 5h failed'))).toBe(
        true,
      );
    });

    it('keeps a route budget to its route', async () => {
      const { app, guard, send } = setup(
        { windows: [{ window: '5h', budget: 1_000_000 }] },
        { budget: { window: '1h', budget: 100, name: 'small' } },
      );
      await send('/budgeted', { 'x-tokens': '100' });
      const refused = await send('/budgeted');
      expect(refused.body.route).toMatchObject({
        route: 'fallback',
        reason: 'route_budget_exhausted',
        budget: 'small',
        window: '1h',
      });
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary', reason: 'within_quota' });
      const info = await guard.info();
      // The route's usage is charged to the upstream too; /chat's is not charged to the route.
      expect(info.guard.windows[0]!.windowUsageTokens).toBe(100);
      expect(info.budgets).toEqual([
        expect.objectContaining({
          name: 'small',
          window: expect.objectContaining({ windowUsageTokens: 100, state: 'quota_exceeded' }),
        }),
      ]);
      expect(app.guards).toHaveLength(1);
    });

    it('loads a route budget’s baseline too, and requests wait for it', async () => {
      const asked: unknown[] = [];
      const { guard, send } = setup(
        {
          windows: [{ window: '5h', budget: 1_000_000 }],
          loadBaseline: async (req) => {
            asked.push(req);
            await new Promise((resolve) => setTimeout(resolve, 5));
            return req.budget === 'small' ? 99 : 10;
          },
        },
        { budget: { window: '1h', budget: 100, name: 'small' } },
      );
      expect((await send('/budgeted')).body.route).toMatchObject({
        route: 'fallback',
        reason: 'route_budget_exhausted',
        budget: 'small',
      });
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary' });
      expect(asked).toContainEqual({
        upstream: 'anthropic',
        window: '1h',
        windowMs: 1 * H,
        key: undefined,
        budget: 'small',
      });
      const info = await guard.info();
      expect(info.ready).toBe(true);
      expect(info.guard.windows[0]!.windowUsageTokens).toBe(10);
      expect(info.budgets[0]!.window.windowUsageTokens).toBe(99);
    });

    it('loads a tenant’s share of a route budget from its baseline on first sight', async () => {
      const asked: unknown[] = [];
      const { send } = setup(
        {
          keyHeader: 'x-tenant',
          windows: [{ window: '5h', budget: 1_000_000 }],
          loadBaseline: (req) => {
            asked.push(req);
            return req.key === 'heavy' && req.budget === 'small' ? 99 : 0;
          },
        },
        { budget: { window: '1h', budget: 100, name: 'small' } },
      );
      expect((await send('/budgeted', { 'x-tenant': 'heavy' })).body.route).toMatchObject({
        route: 'fallback',
        reason: 'route_budget_exhausted',
        key: 'heavy',
      });
      expect((await send('/budgeted', { 'x-tenant': 'light' })).body.route.route).toBe('primary');
      expect(asked).toContainEqual({
        upstream: 'anthropic',
        window: '1h',
        windowMs: 1 * H,
        key: 'heavy',
        budget: 'small',
      });
    });

    it('a route budget that refuses gives the upstream’s probe slot back', async () => {
      const { guard, clock, send } = setup(
        { windows: [{ window: '5h', budget: 0 }] },
        { budget: { window: '1h', budget: 100, probeInterval: '1h' } },
      );
      await send('/budgeted', { 'x-tokens': '100' });
      await send('/budgeted'); // trips the route budget
      await send('/chat', { 'x-status': '429' }); // the upstream's cap
      clock.advance(1 * M);
      expect((await send('/budgeted')).body.route).toMatchObject({
        route: 'fallback',
        reason: 'route_budget_exhausted',
      });
      // The upstream's probe is still there for a route the budget does not cover.
      expect((await send('/chat', { 'x-tokens': '10' })).body.route).toMatchObject({
        route: 'primary',
        probe: true,
      });
      expect((await guard.info()).guard.state).toBe('within_quota');
    });

    it('keeps two upstream guards on one app apart', async () => {
      const clock = new ManualClock(NOW);
      const common = { probeInterval: '1m' as const, resolution: 0, clock, logger: captureLogger().logger };
      const app = harness.createApp({
        guards: [
          { upstream: 'anthropic', windows: [{ window: '5h', budget: 100 }], ...common },
          { upstream: 'openai', windows: [{ window: '1d', budget: 1_000 }], ...common },
        ],
      });
      setup.track(app);
      const [anthropic, openai] = app.guards;
      await request(app.server).post('/chat').set('x-tokens', '100');
      await Promise.all([anthropic!.settled(), openai!.settled()]);
      const response = await request(app.server).post('/chat');
      expect(response.body.routes.anthropic).toMatchObject({
        upstream: 'anthropic',
        route: 'fallback',
        reason: 'budget_exhausted',
      });
      expect(response.body.routes.openai).toMatchObject({ upstream: 'openai', route: 'primary' });
      // Each guard counted the same response, in its own windows.
      expect((await openai!.info()).guard.windows[0]!.windowUsageTokens).toBe(100);
    });

    it('gives each tenant its own budget, and counts every tenant in the upstream’s', async () => {
      const { guard, send } = setup({
        keyHeader: 'x-tenant',
        windows: [{ window: '5h', budget: 2_500, tenantBudget: 1_000 }],
      });
      await send('/chat', { 'x-tenant': 'a', 'x-tokens': '1000' });
      expect((await send('/chat', { 'x-tenant': 'a' })).body.route).toMatchObject({
        route: 'fallback',
        key: 'a',
      });
      expect((await send('/chat', { 'x-tenant': 'b', 'x-tokens': '900' })).body.route).toMatchObject({
        route: 'primary',
        key: 'b',
      });
      expect((await send('/chat')).body.route.route).toBe('primary');
      expect((await guard.info('a')).guard.windows[0]!.windowUsageTokens).toBe(1_000);
      expect((await guard.info()).guard.windows[0]!.windowUsageTokens).toBe(1_900);
      // The upstream's budget (the account) binds every tenant, whatever its own share.
      await send('/chat', { 'x-tokens': '600' });
      expect((await send('/chat', { 'x-tenant': 'c' })).body.route).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
      });
    });

    it('holds every tenant on a cap error one tenant met, and lets one probe for the account end it', async () => {
      const { guard, send, clock } = setup({ keyHeader: 'x-tenant' });
      await send('/chat', { 'x-tenant': 'a', 'x-status': '429' });
      for (const tenant of ['a', 'b', undefined]) {
        const headers: Record<string, string> = tenant === undefined ? {} : { 'x-tenant': tenant };
        expect((await send('/chat', headers)).body.route).toMatchObject({
          route: 'fallback',
          reason: 'cap_error',
        });
      }
      expect((await guard.info()).guard.windows[0]!.capErrorActive).toBe(true);
      clock.advance(60_000);
      const probe = (await send('/chat', { 'x-tenant': 'b', 'x-tokens': '5' })).body.route;
      expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe', key: 'b' });
      for (const tenant of ['a', 'c']) {
        expect((await send('/chat', { 'x-tenant': tenant })).body.route).toMatchObject({
          route: 'primary',
          probe: false,
        });
      }
    });

    it("keeps a cap error to the tenant that met it with capScope: 'key'", async () => {
      const { guard, send } = setup({ keyHeader: 'x-tenant', capScope: 'key' });
      await send('/chat', { 'x-tenant': 'a', 'x-status': '429' });
      expect((await send('/chat', { 'x-tenant': 'a' })).body.route).toMatchObject({
        route: 'fallback',
        reason: 'cap_error',
      });
      expect((await send('/chat', { 'x-tenant': 'b' })).body.route.route).toBe('primary');
      expect((await guard.info()).guard.state).toBe('within_quota');
    });

    // MemoryStore's own bound (maxKeys, LRU eviction); a shared store keeps tenants by TTL.
    it.skipIf(makeStore !== undefined)('bounds tenants and their key length', async () => {
      const { guard, send } = setup({ keyHeader: 'x-tenant', maxKeys: 2 });
      for (const tenant of ['a', 'b', 'c']) await send('/chat', { 'x-tenant': tenant, 'x-tokens': '1' });
      const long = 'x'.repeat(1_000);
      const response = await send('/chat', { 'x-tenant': long });
      expect(response.body.route.key).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect((await guard.info()).store).toMatchObject({ keys: 2, evictedKeys: 2 });
    });

    it('rejects with 429, Retry-After and the IETF headers in reject mode', async () => {
      const { send } = setup({ onExceeded: 'reject', standardHeaders: true });
      await send('/chat', { 'x-tokens': '600' });
      const ok = await send('/chat');
      expect(ok.status).toBe(200);
      await send('/chat', { 'x-tokens': '400' });
      const rejected = await send('/chat');
      expect(rejected.status).toBe(429);
      expect(rejected.headers['retry-after']).toBe(String(5 * 3_600 + 1));
      expect(rejected.headers['ratelimit-policy']).toBe('"5h";q=1000;qu="tokens";w=18000');
      expect(rejected.headers.ratelimit).toBe(`"5h";r=0;t=${5 * 3_600 + 1}`);
      expect(rejected.body.error).toMatchObject({
        type: 'quota_exceeded',
        upstream: 'anthropic',
        reason: 'budget_exhausted',
        retryAfter: 18_001,
      });
    });

    it('counts what the app reports in proxy style, once', async () => {
      const { guard, send } = setup();
      const response = await send('/proxy', {
        'x-report': JSON.stringify({ tokens: 50, status: 429, headers: { 'Retry-After': '600' } }),
      });
      expect(response.status).toBe(200);
      const info = await guard.info();
      expect(info.guard.windows[0]).toMatchObject({ windowUsageTokens: 50, capErrorActive: true });
      expect(info.guard.nextProbeAt).toBe(NOW + 660 * S);
    });

    it('records the usage of a request whose client went away', async () => {
      const { app, guard } = setup();
      app.server.listen(0);
      await new Promise((resolve) => app.server.once('listening', resolve));
      const { port } = app.server.address() as AddressInfo;
      const client = httpRequest({
        port,
        method: 'POST',
        path: '/chat',
        headers: { 'x-hold': 'gone', 'x-tokens': '77' },
      });
      client.on('error', () => {});
      client.end();
      await app.entered('gone');
      client.destroy();
      await app.closed('gone'); // the server saw the client go
      app.release('gone');
      await guard.settled();
      expect((await guard.info()).guard.windows[0]!.windowUsageTokens).toBe(77);
    });

    it('serves when the usage function throws, counting and logging it once', async () => {
      const { guard, send, log } = setup({ usage: 'throws' });
      expect((await send('/chat')).status).toBe(200);
      expect((await send('/chat')).status).toBe(200);
      expect((await guard.info()).problems.usage).toBe(2);
      expect(log.lines.filter((l) => l.message.includes('usage function threw'))).toHaveLength(1);
    });

    it('serves when the usage function returns garbage', async () => {
      const { guard, send } = setup({ usage: 'garbage' });
      expect((await send('/chat')).status).toBe(200);
      const info = await guard.info();
      expect(info.problems.usage).toBe(1);
      expect(info.guard.windows[0]!.windowUsageTokens).toBe(0);
    });

    it('serves when Retry-After cannot be read, using the probe interval', async () => {
      const { guard, clock, send } = setup();
      await send('/chat', { 'x-status': '429', 'x-retry-after': 'whenever' });
      const info = await guard.info();
      expect(info.problems.retryAfter).toBe(1);
      expect(info.guard.nextProbeAt).toBe(clock.now() + 1 * M);
    });

    it('clamps an absurd Retry-After', async () => {
      const { guard, clock, send } = setup({ maxRetryAfter: '1h' });
      await send('/chat', {
        'x-status': '429',
        'x-retry-after': String(365 * 86_400),
        'x-error': 'usage limit',
      });
      expect((await guard.info()).guard.nextProbeAt).toBe(clock.now() + 66 * M);
    });

    it('serves when the key function throws, charging the shared budget', async () => {
      const { guard, send } = setup({ keyThrows: true });
      expect((await send('/chat', { 'x-tokens': '5' })).status).toBe(200);
      const info = await guard.info();
      expect(info.problems.key).toBe(1);
      expect(info.guard.windows[0]!.windowUsageTokens).toBe(5);
    });

    it('serves when the store fails, routing by onStoreError', async () => {
      const store = new MemoryStore();
      const broken = Object.assign(Object.create(store) as MemoryStore, {
        decide: () => {
          throw new Error('store down');
        },
        record: () => Promise.reject(new Error('store down')),
      });
      const { guard, send, log } = setup({ store: broken });
      const response = await send('/chat', { 'x-tokens': '5' });
      expect(response.status).toBe(200);
      expect(response.body.route).toMatchObject({ route: 'primary', reason: 'store_unavailable' });
      expect((await guard.info()).problems.store).toBe(2); // the decision and the usage
      expect(log.lines.filter((l) => l.message.includes('the store failed'))).toHaveLength(1);

      const other = setup({
        store: Object.assign(Object.create(new MemoryStore()) as MemoryStore, {
          decide: () => Promise.reject(new Error('down')),
        }),
        onStoreError: 'fallback',
      });
      expect((await other.send('/chat')).body.route).toMatchObject({
        route: 'fallback',
        reason: 'store_unavailable',
      });
    });

    it('never reports a response routed to the fallback to the primary’s guard', async () => {
      const { guard, send } = setup();
      await send('/chat', { 'x-status': '429', 'x-retry-after': '1200' });
      const before = await guard.info();
      // The fallback answers with tokens and its own 429: neither is the primary's.
      const served = await send('/chat', { 'x-tokens': '300', 'x-fallback-status': '429' });
      expect(served.status).toBe(429);
      expect(served.body.route).toMatchObject({ route: 'fallback', reason: 'cap_error' });
      const after = await guard.info();
      expect(after.guard.windows[0]?.windowUsageTokens).toBe(0);
      expect(after.upstreamErrors).toEqual({ cap: 1, transient: 0 });
      expect(after.guard.nextProbeAt).toBe(before.guard.nextProbeAt);
      // And its 200 with tokens, within quota on another guard state, is not charged either.
      const budgeted = setup({ windows: [{ window: '5h', budget: 100 }] });
      await budgeted.send('/chat', { 'x-tokens': '100' });
      await budgeted.send('/chat', { 'x-tokens': '555' }); // decided fallback: budget spent
      expect((await budgeted.guard.info()).guard.windows[0]?.windowUsageTokens).toBe(100);
    });

    it('counts a token until exactly the window’s end, and not a millisecond longer (exact mode)', async () => {
      const { clock, send } = setup({ probeInterval: '10h' });
      await send('/chat', { 'x-tokens': '1000' });
      clock.advance(5 * H);
      expect((await send('/chat')).body.route).toMatchObject({ route: 'fallback' });
      clock.advance(1);
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary', reason: 'usage_dropped' });
    });

    it('counts a token until its slot’s end slides out (slot mode)', async () => {
      // Slots of a minute: usage at NOW + 10 s is filed under the slot ending at NOW + 1 min.
      const { clock, send } = setup({ probeInterval: '10h', resolution: '1m' });
      clock.advance(10 * S);
      await send('/chat', { 'x-tokens': '1000' });
      clock.advance(5 * H + 50 * S - 1); // one ms before the slot's end + the window
      expect((await send('/chat')).body.route).toMatchObject({ route: 'fallback' });
      clock.advance(1);
      expect((await send('/chat')).body.route).toMatchObject({ route: 'primary', reason: 'usage_dropped' });
    });

    it('loads each tenant’s baseline on first sight, once', async () => {
      const asked: Array<string | undefined> = [];
      const { guard, send } = setup({
        keyHeader: 'x-tenant',
        loadBaseline: ({ key }) => {
          asked.push(key);
          return key === 'heavy' ? 985 : key === 'light' ? 10 : undefined;
        },
      });
      await send('/chat', { 'x-tenant': 'heavy', 'x-tokens': '10' });
      await send('/chat', { 'x-tenant': 'light', 'x-tokens': '10' });
      expect((await send('/chat', { 'x-tenant': 'heavy' })).body.route).toMatchObject({ route: 'fallback' });
      expect((await send('/chat', { 'x-tenant': 'light' })).body.route).toMatchObject({ route: 'primary' });
      expect((await guard.info('heavy')).guard.windows[0]?.windowUsageTokens).toBe(995);
      expect((await guard.info('light')).guard.windows[0]?.windowUsageTokens).toBe(20);
      expect(asked).toEqual([undefined, 'heavy', 'light']);
    });

    it('answers the default 429 when a custom reject handler throws, and counts it', async () => {
      const { app, guard, send } = setup({ onExceeded: 'reject' }, { throwingHandler: true });
      await send('/chat', { 'x-tokens': '1000' });
      const rejected = await request(app.server).post('/chat');
      expect(rejected.status).toBe(429);
      expect(rejected.body.error).toMatchObject({ type: 'quota_exceeded', reason: 'budget_exhausted' });
      expect((await guard.info()).problems.handler).toBe(1);
    });

    it('shows the decision, not the request behind it, when logged', async () => {
      const { send } = setup();
      const { inspected } = (await send('/chat')).body as { inspected: string };
      expect(inspected).toContain("route: 'primary'");
      expect(inspected).toContain("reason: 'within_quota'");
      expect(inspected).not.toMatch(/ctx|locals|IncomingMessage|ServerResponse/);
      expect(inspected.length).toBeLessThan(400);
    });

    it('answers its status as JSON', async () => {
      const { app, send } = setup();
      await send('/chat', { 'x-tokens': '10' });
      const status = await request(app.server).get('/quota');
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({
        upstream: 'anthropic',
        ready: true,
        guard: { state: 'within_quota', windows: [{ window: '5h', windowUsageTokens: 10 }] },
      });
    });

    it('fails at construction on bad options, naming them', () => {
      expect(() => setup({ upstream: '' })).toThrow("upstream must be a non-empty name without '#', got ''");
      expect(() => setup({ windows: [{ window: '5h', budget: -1 }] })).toThrow('windows[0].budget');
      expect(() => setup({ onExceeded: 'drop' as never })).toThrow(
        "onExceeded must be 'continue' or 'reject', got 'drop'",
      );
      expect(() => setup({ baselineTimeout: 'soon' as never })).toThrow('baselineTimeout must be a duration');
      expect(() => setup({ budgt: 5 } as never)).toThrow('unknown option budgt');
    });
  });
}
