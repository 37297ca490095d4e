/** One call's deadline: `done` once it settled, so the timer passes it by. */
export interface Deadline {
  readonly at: number;
  readonly expire: () => void;
  done: boolean;
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
          entry.done = true;
          resolve(value);
        },
        (error: unknown) => {
          entry.done = true;
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
        entry.done = true;
        entry.expire();
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
