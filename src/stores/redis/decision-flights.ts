/**
 * Decisions on their way to Redis, one per target (the upstream's own, or a tenant's), that
 * later callers of the same target may take the answer of. A decision may be joined only while
 * no write of this process has been sent since it left (the caller passes its write count), so a
 * caller always sees its own earlier records. Which answers may be shared is the caller's call:
 * `RedisStore` shares only "within quota", the answer that is the same value for everyone.
 */
export class DecisionFlights<Key> {
  private readonly flying = new Map<Key, { sent: Promise<unknown>; writes: number }>();

  /** The decision on its way for `key`, if one left after the last write (`writes` now). */
  joinable(key: Key, writes: number): Promise<unknown> | undefined {
    const flight = this.flying.get(key);
    return flight !== undefined && flight.writes === writes ? flight.sent : undefined;
  }

  /**
   * Records a decision that just left; returns what to call once its reply (or failure) is in.
   * The asker's own handlers run first on the reply, so the flight ends before anyone else sees it.
   */
  start(key: Key, sent: Promise<unknown>, writes: number): () => void {
    const flight = { sent, writes };
    this.flying.set(key, flight);
    return () => {
      if (this.flying.get(key) === flight) this.flying.delete(key);
    };
  }
}
