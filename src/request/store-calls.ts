import type { Decision } from '../core/decision.js';
import type { Awaitable, GuardTarget, QuotaStore } from '../stores/store.js';
import { isPromiseLike } from './awaitable.js';
import type { ProblemLog } from './problems.js';

/**
 * The store as the request layer calls it: a store that throws or rejects is counted in
 * `problems.store` and logged once, never passed on to a request.
 */
export class StoreCalls {
  constructor(
    readonly store: QuotaStore,
    private readonly problems: ProblemLog,
  ) {}

  /** Runs one store call. Nothing to wait for (undefined) when the store answered synchronously. */
  run(fn: () => Awaitable<void>): Awaitable<void> {
    try {
      const result = fn();
      if (isPromiseLike(result)) return result.catch(this.failed);
    } catch (error) {
      this.failed(error);
    }
  }

  /** `store.record`, as `run` would call it; no closure on the per-request path. */
  record(target: GuardTarget, tokens: number): Awaitable<void> {
    try {
      const result = this.store.record(target, tokens);
      if (isPromiseLike(result)) return result.catch(this.failed);
    } catch (error) {
      this.failed(error);
    }
  }

  /** `store.success`, as `run` would call it; no closure on the per-request path. */
  success(target: GuardTarget, decision: Decision): Awaitable<void> {
    try {
      const result = this.store.success(target, decision);
      if (isPromiseLike(result)) return result.catch(this.failed);
    } catch (error) {
      this.failed(error);
    }
  }

  /** The store's decision, or undefined when the store failed. */
  decide(target: GuardTarget): Awaitable<Decision | undefined> {
    try {
      const decided = this.store.decide(target);
      if (!isPromiseLike(decided)) return decided;
      return decided.catch((error: unknown): undefined => {
        this.failed(error);
      });
    } catch (error) {
      this.failed(error);
      return undefined;
    }
  }

  readonly failed = (error: unknown): void => {
    this.problems.report('store', 'the store failed; requests are served meanwhile', error);
  };
}

/**
 * Adds `value` to `waits` when it is a promise; returns the list (made on the first promise).
 * Reporting a response to a synchronous store allocates no list at all.
 */
export function later(
  waits: Array<Promise<void>> | undefined,
  value: Awaitable<void>,
): Array<Promise<void>> | undefined {
  if (!isPromiseLike(value)) return waits;
  if (waits === undefined) return [value];
  waits.push(value);
  return waits;
}
