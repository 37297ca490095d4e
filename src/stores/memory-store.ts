import { LRUCache } from 'lru-cache';
import type { WindowSelector } from '../core/base-guard.js';
import type { Baseline } from '../core/baseline.js';
import type { Decision } from '../core/decision.js';
import { escapeForLog, optionError } from '../core/errors.js';
import type { UpstreamGuardOptions } from '../core/options.js';
import { UpstreamGuard } from '../core/upstream-guard.js';
import type { GuardTarget, QuotaStore, StoreStats } from './store.js';

/** Options of the in-memory store. */
export interface MemoryStoreOptions {
  /**
   * Tenant guards kept per upstream; the least recently used is dropped beyond it (its usage is
   * forgotten, as after a restart). Default `10_000`.
   */
  maxKeys?: number;
}

/** `MemoryStore.stats()`. */
export type MemoryStoreStats = StoreStats;

interface Upstream {
  readonly options: UpstreamGuardOptions;
  /** The guard for calls without a tenant key: reached without a cache lookup. */
  readonly shared: UpstreamGuard;
  readonly tenants: LRUCache<string, UpstreamGuard>;
  /** What a tenant never seen looks like, for look-ups: made once, never charged. */
  blank?: UpstreamGuard;
}

/**
 * Guards in this process's memory: the default store, for one server instance. Calls answer
 * synchronously.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 1_000 });
 * store.define('openai', { windows: [{ window: '1d', budget: 5e6 }] });
 * store.record({ upstream: 'openai', key: 'tenant-a' }, 1_200);
 */
export class MemoryStore implements QuotaStore {
  private readonly upstreams = new Map<string, Upstream>();
  private readonly maxKeys: number;
  private evicted = 0;
  private lastShared: { target?: GuardTarget; upstream?: string; guard?: UpstreamGuard } = {};

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1)
      throw optionError('maxKeys', 'a positive integer', maxKeys);
    this.maxKeys = maxKeys;
  }

  define(upstream: string, options: UpstreamGuardOptions): void {
    if (this.upstreams.has(upstream)) {
      throw new Error(`quota-guard: upstream '${upstream}' is already defined in this store`);
    }
    // Built once here so invalid options fail now, not on the first request.
    const shared = new UpstreamGuard({ name: upstream, ...options });
    const tenants = new LRUCache<string, UpstreamGuard>({
      max: this.maxKeys,
      dispose: (_guard, _key, reason) => {
        if (reason === 'evict') this.evicted++;
      },
    });
    this.upstreams.set(upstream, { options, shared, tenants });
  }

  decide(target: GuardTarget): Decision {
    return this.guard(target).decide();
  }

  record(target: GuardTarget, tokens: number): void {
    this.guard(target).recordUsage(tokens);
  }

  success(target: GuardTarget, decision?: Decision): void {
    this.guard(target).recordSuccess(decision);
  }

  capError(target: GuardTarget, retryAfterMs?: number, selector?: WindowSelector): void {
    this.guard(target).notifyCapError(retryAfterMs, selector);
  }

  releaseProbe(target: GuardTarget, decision: Decision): void {
    this.guard(target).releaseProbe(decision);
  }

  loadBaseline(target: GuardTarget, baseline: Baseline, selector?: WindowSelector): void {
    this.guard(target).loadBaseline(baseline, selector);
  }

  reset(target: GuardTarget): void {
    this.guard(target).reset();
  }

  resume(target: GuardTarget): void {
    this.guard(target).resume();
  }

  /**
   * A target's numbers. A look-up never creates a tenant nor refreshes its place in the LRU: a
   * status page polled with made-up keys must not evict the tenants that are really in use.
   */
  info(target: GuardTarget) {
    const key = target.key;
    if (key === undefined) return this.guard(target).info();
    const upstream = this.upstreamOf(target);
    const known = upstream.tenants.peek(key);
    if (known) return known.info();
    upstream.blank ??= this.tenantGuard(target.upstream, '', upstream.options);
    return { ...upstream.blank.info(), key };
  }

  stats(): MemoryStoreStats {
    let keys = 0;
    for (const upstream of this.upstreams.values()) keys += upstream.tenants.size;
    return { upstreams: this.upstreams.size, keys, evictedKeys: this.evicted };
  }

  close(): void {
    this.upstreams.clear();
    this.lastShared = {};
  }

  /** The guard behind a target, made on first use for a new tenant key. */
  guard(target: GuardTarget): UpstreamGuard {
    // Adapters pass one target object per upstream on every request: skip the lookup for it.
    const last = this.lastShared;
    if (
      target === last.target &&
      target.upstream === last.upstream &&
      target.key === undefined &&
      last.guard
    ) {
      return last.guard;
    }
    const upstream = this.upstreamOf(target);
    const key = target.key;
    if (key === undefined) {
      this.lastShared = { target, upstream: target.upstream, guard: upstream.shared };
      return upstream.shared;
    }
    let guard = upstream.tenants.get(key);
    if (guard === undefined) {
      guard = this.tenantGuard(target.upstream, key, upstream.options);
      upstream.tenants.set(key, guard);
    }
    return guard;
  }

  private upstreamOf(target: GuardTarget): Upstream {
    const upstream = this.upstreams.get(target.upstream);
    if (upstream === undefined) {
      throw new Error(
        `quota-guard: upstream '${escapeForLog(target.upstream)}' is not defined in this store (call define() first)`,
      );
    }
    return upstream;
  }

  /** A tenant's guard: its name (in logs and events) says whose it is. */
  private tenantGuard(upstream: string, key: string, options: UpstreamGuardOptions): UpstreamGuard {
    // The options carry the upstream's own name: the tenant's must come after to win.
    return new UpstreamGuard({ ...options, name: upstream, tenant: key });
  }
}
