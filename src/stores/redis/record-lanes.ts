/** Sends one guard target's usage: its tokens, placed at `at` (ms, the server's time as best known). */
export type SendRecord = (tokens: number, at: number) => Promise<void>;

interface Lane {
  next: Pending | undefined;
  /** The write that carries the lane's latest record. */
  last: Promise<void>;
}

interface Pending {
  tokens: number;
  at: number;
  send: SendRecord;
  done: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit for records. While a record of one guard target (an upstream, or one tenant of
 * it) is on its way to Redis, the records that follow it are summed into one write, sent as soon
 * as the first is answered, and each caller's promise settles with the write that carried its
 * tokens. Under load a target costs Redis one script call per round trip instead of one per
 * response; a caller alone waits for nothing it would not have waited for.
 *
 * The summed write is placed at the latest of its records' times: usage lands at most one round
 * trip later than it was recorded (it then expires that much later, never earlier).
 */
export class RecordLanes<Id> {
  /** A lane per target with a write on its way; its next batch, if records came meanwhile. */
  private readonly lanes = new Map<Id, Lane>();
  /** Tokens summed into lanes' next batches, not yet handed to `send`. */
  waiting = 0;

  add(id: Id, tokens: number, at: number, send: SendRecord): Promise<void> {
    const lane = this.lanes.get(id);
    if (lane === undefined) {
      const fresh: Lane = { next: undefined, last: Promise.resolve() };
      this.lanes.set(id, fresh);
      fresh.last = this.run(id, fresh, tokens, at, send);
      return fresh.last;
    }
    const next = lane.next;
    if (next !== undefined) {
      // A sum past 2^53 would no longer be exact: that record goes alone.
      if (next.tokens + tokens > Number.MAX_SAFE_INTEGER) return send(tokens, at);
      next.tokens += tokens;
      this.waiting += tokens;
      if (at > next.at) next.at = at;
      return next.done;
    }
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    lane.next = { tokens, at, send, done, resolve, reject };
    this.waiting += tokens;
    lane.last = done;
    return done;
  }

  /** Resolves once every record added so far has been written (or queued, or failed). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.lanes.values()].map((lane) => lane.last));
  }

  private async run(id: Id, lane: Lane, tokens: number, at: number, send: SendRecord): Promise<void> {
    try {
      await send(tokens, at);
    } finally {
      const next = lane.next;
      if (next === undefined) {
        this.lanes.delete(id);
      } else {
        lane.next = undefined;
        this.waiting -= next.tokens;
        this.run(id, lane, next.tokens, next.at, next.send).then(next.resolve, next.reject);
      }
    }
  }
}
