import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
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
    store.define('u', { windows: [{ window: '1h', budget: 10 }] });
    store.record({ upstream: 'u', key: 'a' }, 10);
    store.record({ upstream: 'u', key: 'b' }, 10);
    store.decide({ upstream: 'u', key: 'a' }); // a is now the most recently used
    store.record({ upstream: 'u', key: 'c' }, 10); // evicts b
    expect(store.stats()).toEqual({ upstreams: 1, keys: 2, evictedKeys: 1 });
    expect(store.info({ upstream: 'u', key: 'a' }).windows[0]!.windowUsageTokens).toBe(10);
    expect(store.info({ upstream: 'u', key: 'b' }).windows[0]!.windowUsageTokens).toBe(0);
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
