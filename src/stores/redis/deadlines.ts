/** One call's deadline: `done` once it settled, so the timer passes it by. */
export interface Deadline {
  readonly at: number;
  /** Dropped once done: the queue keeps entries until the timer passes, not what they hold. */
  expire: (() => void) | undefined;
  done: boolean;
}

/**
 * Marks a deadline met; false if it had already passed (or was met). What its expiry would have
 * done is let go at once: a call's closures would otherwise live as long as the timeout, and be
 * promoted to the old generation under load.
 */
export function settle(deadline: Deadline): boolean {
  if (deadline.done) return false;
  deadline.done = true;
  deadline.expire = undefined;
  return true;
}

/**
 * Deadlines of calls that all wait the same time, so they end in the order they began: one
 * timer for all of them instead of a `setTimeout` and `clearTimeout` per call on the hot path.
 */
export class Deadlines {
  private queue: Deadline[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly error: Error,
  ) {}

  /** Calls `expire` once `ms` have passed, unless the returned deadline is marked done first. */
  start(expire: () => void): Deadline {
    const entry: Deadline = { at: performance.now() + this.ms, expire, done: false };
    this.queue.push(entry);
    if (this.timer === undefined) this.arm(this.ms);
    return entry;
  }

  /** `promise`, or a rejection with the timeout error once `ms` have passed. */
  within<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry = this.start(() => reject(this.error));
      promise.then(
        (value) => {
          settle(entry);
          resolve(value);
        },
        (error: unknown) => {
          settle(entry);
          reject(error);
        },
      );
    });
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, ms);
    this.timer.unref?.();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const queue = this.queue;
    while (this.head < queue.length) {
      const entry = queue[this.head]!;
      if (!entry.done) {
        if (entry.at > now) break;
        const expire = entry.expire;
        settle(entry);
        expire?.();
      }
      this.head++;
    }
    if (this.head === queue.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    if (this.head > 1_024) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    this.arm(Math.max(1, this.queue[this.head]!.at - now));
  };
}
