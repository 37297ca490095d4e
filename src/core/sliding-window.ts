/**
 * Token usage over a sliding window, as a ring of time-stamped counts.
 *
 * Exact mode (`resolutionMs = 0`) keeps one entry per distinct timestamp, like the reference's
 * deque: an entry recorded at `t` counts while `t >= now - window`, and memory grows with traffic.
 *
 * Slot mode (`resolutionMs > 0`) files each entry under the end of its slot,
 * `(floor(t / r) + 1) * r`, and drops a slot once its end is at or before `now - window`. Every
 * entry of a slot is older than the slot's end, so a slot is dropped only when every entry in it
 * would have been dropped in exact mode: the window never under-counts, and keeps a token at
 * most `r` longer than exact mode would. At most `window / r + 1` slots are live at any time,
 * whatever the traffic.
 */
export class SlidingWindow {
  readonly windowMs: number;
  readonly resolutionMs: number;
  /** Sum of the live entries, maintained on every change so reading it is O(1). */
  private sum = 0;
  // Two parallel typed arrays used as one ring: no per-entry objects for the GC to trace.
  private stamps: Float64Array;
  private tokens: Float64Array;
  private head = 0;
  private length = 0;
  /** Where the newest entry is, so appending to it needs no index arithmetic. */
  private tailIndex = 0;
  private tailStamp = Number.NEGATIVE_INFINITY;
  /** Bumped on every change, so derived values (when usage drops below a line) can be cached. */
  private revision = 0;

  constructor(windowMs: number, resolutionMs: number) {
    this.windowMs = windowMs;
    this.resolutionMs = resolutionMs;
    const initial = 16;
    this.stamps = new Float64Array(initial);
    this.tokens = new Float64Array(initial);
  }

  /** Live entries (slots in slot mode). */
  get size(): number {
    return this.length;
  }

  get version(): number {
    return this.revision;
  }

  /** Drops what has slid out, then returns the window's usage at `now`. */
  total(now: number): number {
    this.expire(now);
    return this.sum;
  }

  /**
   * An upper bound of the usage at any time from the last change on, without reading a clock:
   * entries only ever leave the window. Lets a caller skip the clock when even this is low.
   */
  get upperBound(): number {
    return this.sum;
  }

  /**
   * Adds `tokens` recorded at `at` (which may be in the past, e.g. a baseline). Entries that are
   * already outside the window at `now` are not kept.
   */
  add(at: number, tokens: number, now: number): void {
    this.revision++;
    // The hot path: another event in the newest slot, `[tailStamp - r, tailStamp)`: two
    // comparisons, no division. Nothing to expire for that; reads expire.
    const r = this.resolutionMs;
    if (this.length > 0 && r > 0 && at < this.tailStamp && at >= this.tailStamp - r) {
      this.tokens[this.tailIndex]! += tokens;
      this.sum += tokens;
      return;
    }
    const stamp = this.stampOf(at);
    if (this.length > 0 && stamp === this.tailStamp) {
      this.tokens[this.tailIndex]! += tokens;
      this.sum += tokens;
      return;
    }
    this.expire(now);
    if (this.isExpired(stamp, now)) return;
    this.sum += tokens;
    if (this.length > 0 && stamp < this.tailStamp) {
      this.insertOutOfOrder(stamp, tokens);
      return;
    }
    if (this.length === this.stamps.length) this.grow();
    const index = (this.head + this.length) % this.stamps.length;
    this.stamps[index] = stamp;
    this.tokens[index] = tokens;
    this.length++;
    this.tailIndex = index;
    this.tailStamp = stamp;
  }

  clear(): void {
    this.revision++;
    this.head = 0;
    this.length = 0;
    this.sum = 0;
  }

  /**
   * The earliest time at which usage will be below `line` if nothing more is recorded, or `now`
   * if it already is. O(entries); callers cache it by `version`.
   */
  timeBelow(line: number, now: number): number {
    this.expire(now);
    let remaining = this.sum;
    if (remaining < line) return now;
    const capacity = this.stamps.length;
    for (let i = 0; i < this.length; i++) {
      const index = (this.head + i) % capacity;
      remaining -= this.tokens[index]!;
      if (remaining < line) return this.expiryOf(this.stamps[index]!);
    }
    return now;
  }

  /** A snapshot of the live entries, oldest first (for stores that persist a window). */
  entries(now: number): Array<{ stamp: number; tokens: number }> {
    this.expire(now);
    const out: Array<{ stamp: number; tokens: number }> = [];
    for (let i = 0; i < this.length; i++) {
      const index = (this.head + i) % this.stamps.length;
      out.push({ stamp: this.stamps[index]!, tokens: this.tokens[index]! });
    }
    return out;
  }

  private stampOf(at: number): number {
    const r = this.resolutionMs;
    return r > 0 ? (Math.floor(at / r) + 1) * r : at;
  }

  private isExpired(stamp: number, now: number): boolean {
    // Exact mode keeps the reference's strict comparison (`at < now - window` expires);
    // a slot is gone once its end reaches the cutoff (all its entries are strictly older).
    return this.resolutionMs > 0 ? stamp <= now - this.windowMs : stamp < now - this.windowMs;
  }

  /** First instant at which an entry with this stamp no longer counts. */
  private expiryOf(stamp: number): number {
    // Exact mode: gone once `now > stamp + window`; one millisecond later is the first whole
    // millisecond at which that holds for integer clocks, and it is never early.
    return this.resolutionMs > 0 ? stamp + this.windowMs : stamp + this.windowMs + 1;
  }

  private expire(now: number): void {
    if (this.length === 0) return;
    const capacity = this.stamps.length;
    let removed = false;
    while (this.length > 0 && this.isExpired(this.stamps[this.head]!, now)) {
      this.sum -= this.tokens[this.head]!;
      this.head = (this.head + 1) % capacity;
      this.length--;
      removed = true;
    }
    if (!removed) return;
    this.revision++;
    // A running sum of floats drifts; an empty window is exactly zero.
    if (this.length === 0) {
      this.sum = 0;
      this.head = 0;
    }
  }

  /** Rare path (baselines placed in the past): keep the ring sorted by stamp. */
  private insertOutOfOrder(stamp: number, tokens: number): void {
    let capacity = this.stamps.length;
    let pos = this.length - 1;
    while (pos >= 0 && this.stamps[(this.head + pos) % capacity]! > stamp) pos--;
    if (pos >= 0 && this.stamps[(this.head + pos) % capacity] === stamp) {
      this.tokens[(this.head + pos) % capacity]! += tokens;
      return;
    }
    if (this.length === capacity) {
      this.grow();
      capacity = this.stamps.length;
    }
    for (let i = this.length; i > pos + 1; i--) {
      const to = (this.head + i) % capacity;
      const from = (this.head + i - 1) % capacity;
      this.stamps[to] = this.stamps[from]!;
      this.tokens[to] = this.tokens[from]!;
    }
    const at = (this.head + pos + 1) % capacity;
    this.stamps[at] = stamp;
    this.tokens[at] = tokens;
    this.length++;
    this.tailIndex = (this.head + this.length - 1) % capacity;
  }

  private grow(): void {
    const capacity = this.stamps.length;
    const stamps = new Float64Array(capacity * 2);
    const tokens = new Float64Array(capacity * 2);
    for (let i = 0; i < this.length; i++) {
      const index = (this.head + i) % capacity;
      stamps[i] = this.stamps[index]!;
      tokens[i] = this.tokens[index]!;
    }
    this.stamps = stamps;
    this.tokens = tokens;
    this.head = 0;
    this.tailIndex = this.length - 1;
  }
}
