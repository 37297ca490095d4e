import { describe, expect, it } from 'vitest';
import type { QuotaStore } from '../../src/index.js';
import { ManualClock } from '../helpers/manual-clock.js';

const M = 60_000;

/**
 * What every store must do, whatever holds the state. Each store's test file calls this with
 * a factory; the clock is injected through the upstream's options.
 */
export function describeStoreContract(name: string, makeStore: () => QuotaStore | Promise<QuotaStore>): void {
  describe(`${name}: the store contract`, () => {
    async function setup() {
      const clock = new ManualClock();
      const store = await makeStore();
      await store.define('primary-llm', {
        windows: [
          { window: '5h', budget: 1_000 },
          { window: '7d', budget: 10_000 },
        ],
        probeInterval: '5m',
        resolution: 0,
        clock,
        logger: { warn() {}, error() {} },
      });
      return { store, clock, target: { upstream: 'primary-llm' } };
    }

    it('decides, records and trips through the interface', async () => {
      const { store, target } = await setup();
      expect(await store.decide(target)).toMatchObject({ route: 'primary', reason: 'within_quota' });
      await store.record(target, 990);
      expect(await store.decide(target)).toMatchObject({
        route: 'fallback',
        reason: 'budget_exhausted',
        window: '5h',
      });
      const info = await store.info(target);
      expect(info.windows.map((w) => w.windowUsageTokens)).toEqual([990, 990]);
      await store.close();
    });

    it('holds a cap error until the probe succeeds; a stale success does not end it', async () => {
      const { store, clock, target } = await setup();
      const stale = await store.decide(target);
      await store.capError(target, 60_000);
      await store.success(target, stale);
      expect((await store.info(target)).state).toBe('quota_exceeded');
      clock.advance(5 * M);
      const probe = await store.decide(target);
      expect(probe).toMatchObject({ route: 'primary', probe: true, reason: 'probe' });
      await store.success(target, probe);
      expect((await store.info(target)).state).toBe('within_quota');
      await store.close();
    });

    it('keeps tenants apart', async () => {
      const { store, target } = await setup();
      const a = { ...target, key: 'tenant-a' };
      const b = { ...target, key: 'tenant-b' };
      await store.record(a, 5_000);
      expect((await store.decide(a)).route).toBe('fallback');
      expect((await store.decide(b)).route).toBe('primary');
      expect((await store.decide(target)).route).toBe('primary');
      await store.close();
    });

    it('loads baselines, resets and resumes', async () => {
      const { store, target } = await setup();
      await store.loadBaseline(target, 400, { window: '7d' });
      await store.loadBaseline(target, 100);
      expect((await store.info(target)).windows.map((w) => w.windowUsageTokens)).toEqual([100, 500]);
      await store.capError(target);
      await store.resume(target);
      expect(await store.info(target)).toMatchObject({ state: 'within_quota' });
      expect((await store.info(target)).windows[1]!.windowUsageTokens).toBe(500);
      await store.reset(target);
      expect((await store.info(target)).windows.map((w) => w.windowUsageTokens)).toEqual([0, 0]);
      await store.close();
    });

    it('refuses calls about an upstream it was never told of', async () => {
      const { store } = await setup();
      await expect(async () => store.decide({ upstream: 'nobody' })).rejects.toThrow(
        "upstream 'nobody' is not defined",
      );
      await store.close();
    });
  });
}
