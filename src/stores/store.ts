import type { WindowSelector } from '../core/base-guard.js';
import type { Baseline } from '../core/baseline.js';
import type { Decision } from '../core/decision.js';
import type { UpstreamGuardOptions } from '../core/options.js';
import type { UpstreamInfo } from '../core/upstream-guard.js';

/**
 * A value or a promise of it. The memory store answers synchronously so a request pays for no
 * promise; a networked store (Redis) returns promises. Callers `await` either.
 */
export type Awaitable<T> = T | Promise<T>;

/**
 * Whose cap error holds whom, for tenants (`key`):
 * - `'upstream'` (default): all tenants share one vendor account. A cap error met by any tenant
 *   holds every tenant of the upstream, and one probe for the account ends it.
 * - `'key'`: tenants bring their own vendor keys. A cap error holds only the tenant that met it.
 *
 * Either way a tenant's usage is charged to its own windows and to the upstream's, and a
 * tenant's request goes to the primary only when both allow it.
 */
export type CapScope = 'upstream' | 'key';

/** What a store is told about one upstream: its windows and settings, and whose cap errors are whose. */
export interface StoreDefinition extends UpstreamGuardOptions {
  /** Default `'upstream'`. */
  capScope?: CapScope;
}

/** Which guard a call is about: an upstream, and optionally one tenant's share of it. */
export interface GuardTarget {
  upstream: string;
  /** A tenant key (one budget per tenant). Omitted: the upstream's one shared guard. */
  key?: string;
}

/**
 * Where guard state lives. Adapters talk to guards only through this interface, so the
 * in-memory store and a shared one (Redis, for several instances on one upstream quota) are
 * interchangeable.
 *
 * @example
 * const store = new MemoryStore();
 * store.define('anthropic', { windows: [{ window: '5h', budget: 2e6 }] });
 * const decision = await store.decide({ upstream: 'anthropic' });
 */
export interface QuotaStore {
  /** Declares an upstream and its windows. Must come before any other call about it. */
  define(upstream: string, options: StoreDefinition): Awaitable<void>;
  /**
   * Where one request goes. For a tenant, the upstream's windows and the tenant's both decide
   * (and, with `capScope: 'upstream'`, the upstream's cap error and probe are the account's).
   */
  decide(target: GuardTarget): Awaitable<Decision>;
  /** Charges usage; a tenant's goes to its own windows and to the upstream's. */
  record(target: GuardTarget, tokens: number): Awaitable<void>;
  success(target: GuardTarget, decision?: Decision): Awaitable<void>;
  /**
   * A cap error; `selector` limits it to one window when the vendor said which is spent. A
   * tenant's goes to the upstream with `capScope: 'upstream'`, to the tenant with `'key'`.
   */
  capError(target: GuardTarget, retryAfterMs?: number, selector?: WindowSelector): Awaitable<void>;
  /** Gives back the probe slot of a decision whose request did not go to the primary after all. */
  releaseProbe(target: GuardTarget, decision: Decision): Awaitable<void>;
  loadBaseline(target: GuardTarget, baseline: Baseline, selector?: WindowSelector): Awaitable<void>;
  /** Clears usage and returns to `within_quota`. */
  reset(target: GuardTarget): Awaitable<void>;
  /** Ends an exceeded period and keeps the usage. */
  resume(target: GuardTarget): Awaitable<void>;
  info(target: GuardTarget): Awaitable<UpstreamInfo>;
  /** Releases connections and timers. */
  close(): Awaitable<void>;
  /** Optional: how many tenant guards the store holds and has dropped (shown in status). */
  stats?(): Awaitable<StoreStats>;
}

/** What a store says about its own size. */
export interface StoreStats {
  upstreams: number;
  /** Tenant guards held, over all upstreams. */
  keys: number;
  /** Tenant guards dropped to stay within the store's bound. */
  evictedKeys: number;
  /**
   * A store shared over the network (`RedisStore`) says more. True while it is taken for away
   * and this process's guards answer (their numbers are this instance's, not every instance's).
   */
  unavailable?: boolean;
  /** Calls the shared store failed or answered too late. */
  failures?: number;
  /** Tokens recorded in this process that the shared store has not confirmed yet. */
  pendingTokens?: number;
  /** Tokens dropped because the buffer of writes waiting for the shared store was full. */
  droppedTokens?: number;
}
