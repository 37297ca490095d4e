/**
 * The reference design, ported as it is for comparison: an exact deque of (time, tokens)
 * entries that grows with every recorded event. Only what the benchmark calls.
 */
export class ReferenceDequeGuard {
  private readonly entries: Array<{ at: number; tokens: number }> = [];
  private head = 0;
  private total = 0;
  private exceeded = false;
  private lastProbe = 0;
  private readonly line: number;

  constructor(
    private readonly budget: number,
    private readonly windowMs: number,
    private readonly probeIntervalMs = 300_000,
    private readonly clock: { now(): number } = performance,
  ) {
    this.line = Math.floor(budget * 0.99);
  }

  canUsePrimary(): boolean {
    const now = this.clock.now();
    this.expire(now);
    if (!this.exceeded) {
      if (this.budget > 0 && this.total >= this.line) {
        this.exceeded = true;
        this.lastProbe = now;
        return false;
      }
      return true;
    }
    if (this.total < this.line) {
      this.exceeded = false;
      return true;
    }
    if (now - this.lastProbe >= this.probeIntervalMs) {
      this.lastProbe = now;
      return true;
    }
    return false;
  }

  recordUsage(tokens: number): void {
    if (tokens <= 0) return;
    this.entries.push({ at: this.clock.now(), tokens });
    this.total += tokens;
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.entries.length && this.entries[this.head]!.at < cutoff) {
      this.total -= this.entries[this.head]!.tokens;
      this.head++;
    }
    // Compact now and then, as a deque's popleft would free the memory.
    if (this.head > 1_024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }
}
