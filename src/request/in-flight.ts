import type { RouteReason } from './quota-route.js';

/** Requests decided, by where they went and why, counted once each as their response ends. */
export interface DecisionCounts {
  primary: Partial<Record<RouteReason, number>>;
  fallback: Partial<Record<RouteReason, number>>;
}

/**
 * Requests decided whose response has not been reported yet: `settled()` waits for none to be
 * left (tests, graceful shutdown). Each is counted by its final route and reason as it ends (a
 * route budget may still change a decision after the guard's), for metrics.
 */
export class InFlight {
  count = 0;
  readonly decided: DecisionCounts = { primary: {}, fallback: {} };

  /** One request is over: counted by where it went and why. */
  ended(route: 'primary' | 'fallback', reason: RouteReason): void {
    const byReason = this.decided[route];
    byReason[reason] = (byReason[reason] ?? 0) + 1;
  }
  private waiters: Array<() => void> = [];

  begin(): void {
    this.count++;
  }

  /** `done`, as a function to hand to `finally` (one for all requests). */
  readonly doneFn = (): void => this.done();

  done(): void {
    this.count--;
    if (this.count > 0 || this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  settled(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
