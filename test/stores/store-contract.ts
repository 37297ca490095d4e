import { describe, expect, it } from 'vitest';
import type { QuotaStore, StoreDefinition } from '../../src/index.js';
import { ManualClock } from '../helpers/manual-clock.js';

const M = 60_000;
const H = 60 * M;
const NOW = Date.parse('2026-12-01T10:00:00Z');
const quiet = { warn() {}, error() {} };

/**
 * Makes a store whose time is `clock` (the memory store reads it through the upstream's
 * options; a shared store takes it for its own) and which starts empty.
 */
export type StoreFactory = (clock: ManualClock) => QuotaStore | Promise<QuotaStore>;

/**
 * What every store must do, whatever holds the state: the same semantics in memory and in Redis.
 * Each store's test file calls this with a factory.
 */
export function describeStoreContract(name: string, makeStore: StoreFactory): void {
  describe(`${name}: the store contract`, () => {
    async function setup(extra: Partial<StoreDefinition> = {}) {
      const clock = new ManualClock(NOW);
      const store = await makeStore(clock);
      await store.define('primary-llm', {
        windows: [
          { window: '5h', budget: 1_000 },
          { window: '7d', budget: 10_000 },
        ],
        probeInterval: '5m',
        resolution: 0,
        clock,
        logger: quiet,
        ...extra,
      });
      return { store, clock, target: { upstream: 'primary-llm' } };
    }
    const usage = async (store: QuotaStore, target: { upstream: string; key?: string }) =>
      (await store.info(target)).windows.map((w) => w.windowUsageTokens);

    it('decides, records and trips through the interface', async () => {
      const { store, target } = await setup();
      expect(await store.decide(target)).toMatchObject({ route: 'primary', reason: 'within_quota' });
      await store.record(target, 989);
      expect(await store.decide(target)).toMatchObject({ route: 'primary', reason: 'within_quota' });
      await store.record(target, 1);
      expect(await store.decide(target)).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
        window: '5h',
        state: 'quota_exceeded',
      });
      expect(await usage(store, target)).toEqual([990, 990]);
      await store.close();
    });

    it('lets usage slide out at the window’s edge, never earlier', async () => {
      const { store, clock, target } = await setup({ probeInterval: '1d' });
      await store.record(target, 990);
      expect((await store.decide(target)).route).toBe('fallback');
      clock.advance(5 * H);
      expect((await store.decide(target)).route).toBe('fallback');
      expect(await usage(store, target)).toEqual([990, 990]);
      clock.advance(1);
      expect(await store.decide(target)).toMatchObject({ route: 'primary', reason: 'usage_dropped' });
      expect(await usage(store, target)).toEqual([0, 990]);
      await store.close();
    });

    it('tells when the primary is expected back', async () => {
      const { store, clock, target } = await setup();
      await store.record(target, 500);
      clock.advance(H);
      await store.record(target, 490);
      const refused = await store.decide(target);
      // The first 500 tokens slide out 4 h from now, which brings usage below the line.
      expect(refused).toMatchObject({ route: 'fallback', retryAt: NOW + 5 * H + 1, retryInMs: 4 * H + 1 });
      const info = await store.info(target);
      expect(info).toMatchObject({ state: 'quota_exceeded', retryAt: NOW + 5 * H + 1 });
      expect(info.windows[0]).toMatchObject({
        window: '5h',
        state: 'quota_exceeded',
        budgetTokens: 1_000,
        usagePercent: 99,
        capErrorActive: false,
        nextProbeAt: NOW + H + 5 * M,
      });
      await store.close();
    });

    it('holds a cap error until the probe succeeds; a stale success does not end it', async () => {
      const { store, clock, target } = await setup();
      const stale = await store.decide(target);
      await store.capError(target, 60_000);
      await store.success(target, stale);
      expect((await store.info(target)).state).toBe('quota_exceeded');
      expect(await store.decide(target)).toMatchObject({ route: 'fallback', reason: 'cap_error' });
      clock.advance(5 * M);
      const probe = await store.decide(target);
      expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe' });
      await store.success(target, probe);
      expect((await store.info(target)).state).toBe('within_quota');
      await store.close();
    });

    it('grants one probe per interval; a probe given back goes to the next request', async () => {
      const { store, clock, target } = await setup();
      await store.capError(target);
      clock.advance(5 * M);
      const probe = await store.decide(target);
      expect(probe.probe).toBe(true);
      expect(await store.decide(target)).toMatchObject({ route: 'fallback', probe: false });
      await store.releaseProbe(target, probe);
      expect(await store.decide(target)).toMatchObject({ route: 'primary', probe: true });
      expect((await store.decide(target)).probe).toBe(false);
      clock.advance(5 * M - 1);
      expect((await store.decide(target)).probe).toBe(false);
      clock.advance(1);
      expect((await store.decide(target)).probe).toBe(true);
      await store.close();
    });

    it('waits 1.1 × Retry-After before probing after a cap error that gave one', async () => {
      const { store, clock, target } = await setup();
      await store.capError(target, 10 * M);
      clock.advance(11 * M - 1);
      expect((await store.decide(target)).probe).toBe(false);
      clock.advance(1);
      expect((await store.decide(target)).probe).toBe(true);
      await store.close();
    });

    it('puts a cap error on the one window the vendor named', async () => {
      const { store, target } = await setup();
      await store.capError(target, undefined, { window: '7d' });
      const info = await store.info(target);
      expect(info.windows.map((w) => w.capErrorActive)).toEqual([false, true]);
      expect(await store.decide(target)).toMatchObject({ route: 'fallback', window: '7d' });
      await store.close();
    });

    it('marks a probe over budget as such, and lets a success end it', async () => {
      const { store, clock, target } = await setup();
      await store.record(target, 1_000);
      await store.decide(target);
      clock.advance(5 * M);
      const probe = await store.decide(target);
      expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe_over_budget' });
      await store.success(target, probe);
      expect((await store.info(target)).state).toBe('within_quota');
      // Usage is still over the line: the next decision trips again.
      expect(await store.decide(target)).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
      await store.close();
    });

    it('loads baselines (numbers at mid-window, timed entries where they happened), resets and resumes', async () => {
      const { store, clock, target } = await setup();
      await store.loadBaseline(target, 400, { window: '7d' });
      await store.loadBaseline(target, 100);
      await store.loadBaseline(target, [
        { at: NOW - H, tokens: 30 },
        { at: NOW - 6 * H, tokens: 7 },
      ]);
      expect(await usage(store, target)).toEqual([130, 537]);
      // The midpoint baseline leaves the 5h window after 2.5 h; the entry of an hour ago after 4 h.
      clock.advance(2.5 * H + 1);
      expect(await usage(store, target)).toEqual([30, 537]);
      await store.capError(target);
      await store.resume(target);
      expect(await store.info(target)).toMatchObject({ state: 'within_quota' });
      expect(await usage(store, target)).toEqual([30, 537]);
      await store.reset(target);
      expect(await usage(store, target)).toEqual([0, 0]);
      await store.close();
    });

    it('guards nothing when disabled, and only cap errors exceed a window without a budget', async () => {
      const disabled = await setup({ enabled: false });
      await disabled.store.record(disabled.target, 5_000);
      expect(await disabled.store.decide(disabled.target)).toMatchObject({
        route: 'primary',
        reason: 'disabled',
      });
      await disabled.store.close();
      const { store, target } = await setup({ windows: [{ window: '5h' }] });
      await store.record(target, 1e9);
      expect((await store.decide(target)).route).toBe('primary');
      await store.capError(target);
      expect(await store.decide(target)).toMatchObject({ route: 'fallback', reason: 'cap_error' });
      await store.close();
    });

    it('refuses calls about an upstream it was never told of', async () => {
      const { store } = await setup();
      await expect(async () => store.decide({ upstream: 'nobody' })).rejects.toThrow(
        "upstream 'nobody' is not defined",
      );
      await store.close();
    });

    describe('tenants', () => {
      const tenantWindows: Partial<StoreDefinition> = {
        windows: [
          { window: '5h', budget: 1_000, tenantBudget: 400 },
          { window: '7d', budget: 10_000 },
        ],
      };

      it('gives each tenant its own windows and charges the upstream’s with every tenant’s usage', async () => {
        const { store, target } = await setup(tenantWindows);
        const a = { ...target, key: 'tenant-a' };
        const b = { ...target, key: 'tenant-b' };
        await store.record(a, 396);
        expect(await store.decide(a)).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
        expect(await store.decide(b)).toMatchObject({ route: 'primary' });
        expect(await store.decide(target)).toMatchObject({ route: 'primary' });
        expect(await usage(store, a)).toEqual([396, 396]);
        expect(await usage(store, b)).toEqual([0, 0]);
        expect(await usage(store, target)).toEqual([396, 396]);
        await store.record(b, 300);
        await store.record(target, 300);
        // The upstream's budget is the account's: every tenant falls back once it is spent.
        expect(await store.decide(b)).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
        expect(await usage(store, target)).toEqual([996, 996]);
        await store.close();
      });

      it('holds every tenant on a cap error, with one probe for the account (capScope: upstream)', async () => {
        const { store, clock, target } = await setup(tenantWindows);
        const a = { ...target, key: 'tenant-a' };
        const b = { ...target, key: 'tenant-b' };
        const staleB = await store.decide(b);
        await store.capError(a, undefined);
        expect(await store.decide(b)).toMatchObject({ route: 'fallback', reason: 'cap_error' });
        expect(await store.decide(target)).toMatchObject({ route: 'fallback', reason: 'cap_error' });
        await store.success(b, staleB);
        clock.advance(5 * M);
        const probe = await store.decide(b);
        expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe' });
        expect(await store.decide(a)).toMatchObject({ route: 'fallback', probe: false });
        await store.success(b, probe);
        expect((await store.info(target)).state).toBe('within_quota');
        expect(await store.decide(a)).toMatchObject({ route: 'primary', probe: false });
        await store.close();
      });

      it('gives the account’s probe back when the tenant’s own window refuses the request', async () => {
        const { store, clock, target } = await setup(tenantWindows);
        const a = { ...target, key: 'tenant-a' };
        const b = { ...target, key: 'tenant-b' };
        await store.record(a, 400);
        await store.capError(target);
        clock.advance(5 * M);
        expect(await store.decide(a)).toMatchObject({ route: 'fallback', reason: 'budget_exhausted' });
        expect(await store.decide(b)).toMatchObject({ route: 'primary', probe: true });
        await store.close();
      });

      it("keeps a cap error to its tenant with capScope: 'key'", async () => {
        const { store, clock, target } = await setup({ ...tenantWindows, capScope: 'key' });
        const a = { ...target, key: 'tenant-a' };
        const b = { ...target, key: 'tenant-b' };
        await store.capError(a);
        expect(await store.decide(a)).toMatchObject({ route: 'fallback', reason: 'cap_error' });
        expect(await store.decide(b)).toMatchObject({ route: 'primary' });
        expect((await store.info(target)).state).toBe('within_quota');
        clock.advance(5 * M);
        const probe = await store.decide(a);
        expect(probe).toMatchObject({ route: 'primary', probe: true });
        await store.success(a, probe);
        expect((await store.info(a)).state).toBe('within_quota');
        await store.close();
      });

      it('keeps hostile keys apart, and looks up an unknown tenant without keeping it', async () => {
        const { store, target } = await setup(tenantWindows);
        const keys = [
          '{',
          '}',
          ':',
          '*',
          'a\nb',
          'x'.repeat(10_000),
          '__proto__',
          'constructor',
          '{primary-llm}',
        ];
        for (const [i, key] of keys.entries()) await store.record({ ...target, key }, i + 1);
        for (const [i, key] of keys.entries()) {
          expect(await usage(store, { ...target, key })).toEqual([i + 1, i + 1]);
        }
        expect(await usage(store, target)).toEqual([45, 45]);
        const unknown = await store.info({ ...target, key: 'nobody' });
        expect(unknown).toMatchObject({ key: 'nobody', state: 'within_quota' });
        expect(unknown.windows.map((w) => w.budgetTokens)).toEqual([400, 10_000]);
        expect(Object.prototype).not.toHaveProperty('tokens');
        await store.close();
      });
    });
  });
}
