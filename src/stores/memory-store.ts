import { LRUCache } from 'lru-cache';
import type { WindowSelector } from '../core/base-guard.js';
import type { Baseline } from '../core/baseline.js';
import type { Decision } from '../core/decision.js';
import { optionError } from '../core/errors.js';
import { tenantGuardOptions, type UpstreamGuardOptions } from '../core/options.js';
import { UpstreamGuard } from '../core/upstream-guard.js';
import { resolveCapScope } from './cap-scope.js';
import type { CapScope, GuardTarget, QuotaStore, StoreDefinition, StoreStats } from './store.js';
import { alreadyDefined, notDefined } from './store-errors.js';

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
  readonly capScope: CapScope;
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
  /** A tenant's decision → the account's and the tenant's own, for its success and probe release. */
  private readonly tenantDecisions = new WeakMap<Decision, { account: Decision; own: Decision }>();

  constructor(options: MemoryStoreOptions = {}) {
    const maxKeys = options.maxKeys ?? 10_000;
    if (!Number.isInteger(maxKeys) || maxKeys < 1)
      throw optionError('maxKeys', 'a positive integer', maxKeys);
    this.maxKeys = maxKeys;
  }

  define(upstream: string, definition: StoreDefinition): void {
    if (this.upstreams.has(upstream)) {
      throw alreadyDefined(upstream);
    }
    const { capScope: scope, ...options } = definition;
    const capScope = resolveCapScope(scope);
    // Built once here so invalid options fail now, not on the first request.
    const shared = new UpstreamGuard({ name: upstream, ...options });
    const tenants = new LRUCache<string, UpstreamGuard>({
      max: this.maxKeys,
      dispose: (_guard, _key, reason) => {
        if (reason === 'evict') this.evicted++;
      },
    });
    this.upstreams.set(upstream, { options, capScope, shared, tenants });
  }

  /**
   * The upstream's guard decides first (the account's budget, cap error and probe); a tenant's
   * request then needs its own guard's yes too. A probe the account granted to a request the
   * tenant's guard refuses is given back at once.
   */
  decide(target: GuardTarget): Decision {
    if (target.key === undefined) return this.guard(target).decide();
    const upstream = this.upstreamOf(target);
    const account = upstream.shared.decide();
    if (account.route === 'fallback') return account;
    const own = this.tenantOf(upstream, target.key).decide();
    if (own.route === 'fallback') {
      upstream.shared.releaseProbe(account);
      return own;
    }
    const lead = account.probe ? account : own;
    const decision: Decision = Object.freeze({
      route: 'primary',
      probe: account.probe || own.probe,
      reason: lead.reason === 'within_quota' ? account.reason : lead.reason,
      state: lead.state,
      epoch: own.epoch,
    });
    this.tenantDecisions.set(decision, { account, own });
    return decision;
  }

  record(target: GuardTarget, tokens: number): void {
    this.guard(target).recordUsage(tokens);
    if (target.key !== undefined) this.upstreamOf(target).shared.recordUsage(tokens);
  }

  success(target: GuardTarget, decision?: Decision): void {
    if (target.key === undefined) {
      this.guard(target).recordSuccess(decision);
      return;
    }
    const parts = decision === undefined ? undefined : this.tenantDecisions.get(decision);
    this.upstreamOf(target).shared.recordSuccess(parts?.account ?? decision);
    this.guard(target).recordSuccess(parts?.own ?? decision);
  }

  capError(target: GuardTarget, retryAfterMs?: number, selector?: WindowSelector): void {
    const upstream = this.upstreamOf(target);
    const guard = upstream.capScope === 'upstream' ? upstream.shared : this.guard(target);
    guard.notifyCapError(retryAfterMs, selector);
  }

  releaseProbe(target: GuardTarget, decision: Decision): void {
    if (target.key === undefined) {
      this.guard(target).releaseProbe(decision);
      return;
    }
    const parts = this.tenantDecisions.get(decision);
    if (parts === undefined) return;
    this.upstreamOf(target).shared.releaseProbe(parts.account);
    this.guard(target).releaseProbe(parts.own);
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
    return this.tenantOf(upstream, key);
  }

  private tenantOf(upstream: Upstream, key: string): UpstreamGuard {
    let guard = upstream.tenants.get(key);
    if (guard === undefined) {
      guard = this.tenantGuard(upstream.shared.name ?? '', key, upstream.options);
      upstream.tenants.set(key, guard);
    }
    return guard;
  }

  private upstreamOf(target: GuardTarget): Upstream {
    const upstream = this.upstreams.get(target.upstream);
    if (upstream === undefined) {
      throw notDefined(target.upstream);
    }
    return upstream;
  }

  /** A tenant's guard: its name (in logs and events) says whose it is. */
  private tenantGuard(upstream: string, key: string, options: UpstreamGuardOptions): UpstreamGuard {
    return new UpstreamGuard({ ...tenantGuardOptions(options, key), name: upstream });
  }
}
