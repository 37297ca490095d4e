import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { captureLogger } from '../helpers/manual-clock.js';
import { describeStoreContract } from './store-contract.js';

describeStoreContract('MemoryStore', () => new MemoryStore());

describe('MemoryStore', () => {
  it('answers synchronously, so a request pays for no promise', () => {
    const store = new MemoryStore();
    store.define('u', { windows: [{ window: '1h', budget: 10 }] });
    const decision = store.decide({ upstream: 'u' });
    expect(decision).not.toBeInstanceOf(Promise);
    expect(decision.route).toBe('primary');
  });

  it('bounds the tenants it keeps, evicting the least recently used, and counts it', () => {
    const store = new MemoryStore({ maxKeys: 2 });
    const log = captureLogger();
    store.define('u', { windows: [{ window: '1h', budget: 1_000, tenantBudget: 10 }], logger: log.logger });
    store.record({ upstream: 'u', key: 'a' }, 10);
    store.record({ upstream: 'u', key: 'b' }, 10);
    store.decide({ upstream: 'u', key: 'a' }); // a is now the most recently used
    store.record({ upstream: 'u', key: 'c' }, 10); // evicts b
    expect(store.stats()).toEqual({ upstreams: 1, keys: 2, evictedKeys: 1 });
    expect(store.info({ upstream: 'u', key: 'a' }).windows[0]!.windowUsageTokens).toBe(10);
    expect(store.info({ upstream: 'u', key: 'b' }).windows[0]!.windowUsageTokens).toBe(0);
    // A tenant's state change names the tenant.
    expect(log.lines.map((l) => l.message)).toContain(
      "quota-guard [u key 'a'/1h]: within_quota → quota_exceeded (budget_exhausted at 100.0% of 10)",
    );
  });

  it('looks tenants up without creating or evicting them', () => {
    const store = new MemoryStore({ maxKeys: 2 });
    store.define('u', {
      windows: [{ window: '1h', budget: 10 }],
      capScope: 'key',
      logger: captureLogger().logger,
    });
    store.capError({ upstream: 'u', key: 'a' });
    store.record({ upstream: 'u', key: 'b' }, 7);
    for (let i = 0; i < 100; i++) {
      expect(store.info({ upstream: 'u', key: `nobody-${i}` })).toMatchObject({
        key: `nobody-${i}`,
        state: 'within_quota',
      });
    }
    expect(store.stats()).toEqual({ upstreams: 1, keys: 2, evictedKeys: 0 });
    // Look-ups do not refresh recency either: a (used first) is still the one a new tenant evicts.
    store.info({ upstream: 'u', key: 'a' });
    store.record({ upstream: 'u', key: 'c' }, 1);
    expect(store.info({ upstream: 'u', key: 'a' }).windows[0]!.capErrorActive).toBe(false);
    expect(store.info({ upstream: 'u', key: 'b' }).windows[0]!.windowUsageTokens).toBe(7);
  });

  it('fails at construction and definition on bad options, naming them', () => {
    expect(() => new MemoryStore({ maxKeys: 0 })).toThrow('maxKeys must be a positive integer, got 0');
    const store = new MemoryStore();
    expect(() => store.define('u', { windows: [{ window: '5h', budget: -1 }] })).toThrow('windows[0].budget');
    store.define('v', { windows: [{ window: '5h' }] });
    expect(() => store.define('v', { windows: [{ window: '5h' }] })).toThrow(
      "upstream 'v' is already defined",
    );
  });
});
