/**
 * Requests decided whose response has not been reported yet: `settled()` waits for none to be
 * left (tests, graceful shutdown).
 */
export class InFlight {
  count = 0;
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
