import type { Logger } from '../../core/logger.js';

/** One write that must reach Redis: sent again, in order, until Redis takes it. */
export interface QueuedWrite {
  /** Sends the write with the arguments it was first sent with (its sequence number, its time). */
  send(): Promise<unknown>;
  /** Tokens the write carries (0 for a cap error or a success): counted if it must be dropped. */
  tokens: number;
}

/** What the queue holds and has lost, for `stats()`. */
export interface WriteQueueStats {
  /** Writes waiting for Redis. */
  pending: number;
  /** Writes dropped because the queue was full, and the tokens they carried. */
  droppedWrites: number;
  droppedTokens: number;
}

/**
 * The way every write goes to Redis. Sent at once when nothing waits; a write whose fate is
 * unknown (Redis down, or slower than the store's timeout) is kept in order and sent again when
 * Redis answers. Order matters: a record's sequence number is applied only
 * if it is above the last one Redis applied for this instance, so nothing may overtake a write
 * still in the queue. While anything waits here, new writes queue behind it.
 */
export class WriteQueue {
  private readonly queue: QueuedWrite[] = [];
  private flushing = false;
  /** The flush on its way (or the last one): what `flush()` and `drain()` wait for. */
  private current: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private droppedWrites = 0;
  private droppedTokens = 0;
  /** Tokens of the writes in `queue`, and of those sent at once and not answered yet. */
  private queuedTokens = 0;
  private warnedFull = false;

  constructor(
    private readonly max: number,
    private readonly retryMs: number,
    private readonly timeout: <T>(promise: Promise<T>) => Promise<T>,
    private readonly logger: Logger,
    /** Told whether Redis took a write, so the store knows when it is back. */
    private readonly onResult: (ok: boolean, error?: unknown) => void,
  ) {}

  get pending(): number {
    return this.queue.length;
  }

  /** Tokens of the writes waiting here or on their way. */
  get tokens(): number {
    return this.queuedTokens;
  }

  stats(): WriteQueueStats {
    return {
      pending: this.queue.length,
      droppedWrites: this.droppedWrites,
      droppedTokens: this.droppedTokens,
    };
  }

  /**
   * A write: sent at once if nothing waits before it and Redis is not taken for `away`; else, or
   * when it fails, queued in order, and `locally` applies it to this process's guards meanwhile.
   * Resolves with Redis's reply, or undefined once queued.
   */
  async submit(write: QueuedWrite, away: boolean, locally: () => void): Promise<unknown> {
    if (this.queue.length > 0 || away) {
      if (away) locally();
      this.push(write);
      return undefined;
    }
    this.queuedTokens += write.tokens;
    try {
      const reply = await this.timeout(write.send());
      this.onResult(true);
      return reply;
    } catch (error) {
      this.onResult(false, error);
      locally();
      this.push(write);
      return undefined;
    } finally {
      // In the same turn as the push above: the tokens are never counted twice, nor missed.
      this.queuedTokens -= write.tokens;
    }
  }

  private push(write: QueuedWrite): void {
    if (this.queue.length >= this.max) {
      const dropped = this.queue.shift()!;
      this.queuedTokens -= dropped.tokens;
      this.droppedWrites++;
      this.droppedTokens += dropped.tokens;
      if (!this.warnedFull) {
        this.warnedFull = true;
        this.logger.error(
          `quota-guard [redis]: ${this.max} writes wait for Redis; dropping the oldest (counted in stats().droppedTokens)`,
        );
      }
    }
    this.queue.push(write);
    this.queuedTokens += write.tokens;
    if (!this.flushing && this.timer === undefined) this.schedule(0);
  }

  /**
   * Sends what waits, oldest first; stops at the first failure and tries again later. Called while
   * a flush is on its way, waits for that one.
   */
  flush(): Promise<void> {
    if (!this.flushing) this.current = this.sendAll();
    return this.current;
  }

  private async sendAll(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        try {
          await this.timeout(this.queue[0]!.send());
        } catch (error) {
          this.onResult(false, error);
          this.schedule(this.retryMs);
          return;
        }
        this.queuedTokens -= this.queue.shift()!.tokens;
        this.onResult(true);
      }
      this.warnedFull = false;
    } finally {
      this.flushing = false;
    }
  }

  /**
   * Resolves once what waits now was written, or a send failed (a planned exit, tests). A flush
   * already on its way may have failed before this call: then one more is tried.
   */
  async drain(): Promise<void> {
    const joined = this.flushing;
    await this.flush();
    if (joined && this.queue.length > 0) await this.flush();
  }

  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, ms);
    this.timer.unref?.();
  }
}
