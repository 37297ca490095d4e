import { LRUCache } from 'lru-cache';
import type { Decision } from '../../core/decision.js';
import type { ResolvedWindow } from '../../core/options.js';
import { MemoryStore } from '../memory-store.js';
import type { GuardTarget, StoreDefinition } from '../store.js';

/** What a decision showed of a target's windows: `total:flag` per window, flag 0 within, 1 over budget, 2 cap error. */
interface Seen {
  /** The upstream's windows, then the tenant's. */
  readonly windows: string;
}

/**
 * The guards that answer while Redis cannot: in this process's memory, each carrying on from
 * the last shared state its target's decisions showed. Seeded once per outage; usage recorded
 * during the outage goes to them too, so they trip as the shared guard would have.
 */
export class LocalGuards {
  private readonly store = new MemoryStore();
  /** What tenants' decisions showed, bounded. */
  private readonly seen: LRUCache<string, Seen>;
  /** What the upstreams' own decisions showed: one entry per upstream, no LRU on the hot path. */
  private readonly seenShared = new Map<string, string>();
  /** Targets seeded in the current outage. */
  private seeded = new Set<string>();
  /** A local decision → the one the local store gave (its reason is replaced). */
  private readonly decisions = new WeakMap<Decision, Decision>();

  constructor(maxKeys: number) {
    this.seen = new LRUCache({ max: maxKeys });
  }

  define(upstream: string, definition: StoreDefinition): void {
    this.store.define(upstream, definition);
  }

  /** Remembers what a shared decision showed. */
  saw(target: GuardTarget, windows: string): void {
    // The upstream's part of a tenant's decision is the upstream's latest state too.
    this.seenShared.set(target.upstream, windows);
    if (target.key !== undefined) this.seen.set(id(target), { windows });
  }

  /** Redis answered again: the next outage starts from what it shows then. */
  recovered(): void {
    if (this.seeded.size > 0) this.seeded = new Set();
  }

  decide(
    target: GuardTarget,
    shared: readonly ResolvedWindow[],
    tenant: readonly ResolvedWindow[],
  ): Decision {
    this.seed(target, shared, tenant);
    const local = this.store.decide(target);
    const decision: Decision = Object.freeze({ ...local, reason: 'store_unavailable' });
    this.decisions.set(decision, local);
    return decision;
  }

  /** The local store's decision behind a local one, or undefined for a decision Redis gave. */
  localOf(decision: Decision | undefined): Decision | undefined {
    return decision === undefined ? undefined : this.decisions.get(decision);
  }

  record(
    target: GuardTarget,
    tokens: number,
    shared: readonly ResolvedWindow[],
    tenant: readonly ResolvedWindow[],
  ): void {
    this.seed(target, shared, tenant);
    this.store.record(target, tokens);
  }

  /** The local store itself, for outcomes of local decisions and look-ups while Redis is away. */
  get memory(): MemoryStore {
    return this.store;
  }

  private seed(
    target: GuardTarget,
    shared: readonly ResolvedWindow[],
    tenant: readonly ResolvedWindow[],
  ): void {
    const upstream = { upstream: target.upstream };
    this.seedOne(upstream, shared, 0);
    if (target.key !== undefined) this.seedOne(target, tenant, shared.length);
  }

  private seedOne(target: GuardTarget, windows: readonly ResolvedWindow[], offset: number): void {
    const key = id(target);
    if (this.seeded.has(key)) return;
    this.seeded.add(key);
    const seen =
      target.key === undefined ? this.seenShared.get(target.upstream) : this.seen.get(key)?.windows;
    this.store.reset(target);
    if (seen === undefined) return;
    const parts = seen.split(',');
    for (const [i, w] of windows.entries()) {
      const [total, flag] = (parts[offset + i] ?? '').split(':').map(Number);
      if (total !== undefined && total > 0) this.store.loadBaseline(target, total, { window: w.label });
      if (flag === 2) this.store.capError(target, undefined, { window: w.label });
    }
  }
}

function id(target: GuardTarget): string {
  return target.key === undefined ? target.upstream : `${target.upstream}\u0000${target.key}`;
}
