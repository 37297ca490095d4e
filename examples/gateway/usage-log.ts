/**
 * One row per answered request in an embedded SQLite file (WAL), and what the gateway reads back:
 * each window's usage as timed entries for `loadBaseline` (so a restart keeps the quota), and
 * usage over time for the status page's chart.
 */
import Database from 'better-sqlite3';
import type { BaselineEntry } from '../../src/index.js';

export interface UsageRow {
  at: number;
  upstream: string;
  route: 'primary' | 'fallback';
  probe: boolean;
  status: number;
  inputTokens: number;
  outputTokens: number;
  cacheTokens: number;
  model: string | undefined;
  /** The client went away before the answer ended. */
  aborted: boolean;
}

export class UsageLog {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly since: Database.Statement;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS usage (
      at INTEGER NOT NULL, upstream TEXT NOT NULL, route TEXT NOT NULL, probe INTEGER NOT NULL,
      status INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
      cache_tokens INTEGER NOT NULL, model TEXT, aborted INTEGER NOT NULL DEFAULT 0);
      CREATE INDEX IF NOT EXISTS usage_at ON usage (route, at);`);
    this.insert = this.db.prepare(
      'INSERT INTO usage VALUES (@at, @upstream, @route, @probe, @status, @inputTokens, @outputTokens, @cacheTokens, @model, @aborted)',
    );
    this.since = this.db.prepare(
      'SELECT at, input_tokens + output_tokens + cache_tokens AS tokens FROM usage WHERE route = ? AND at > ? ORDER BY at',
    );
  }

  add(row: UsageRow): void {
    this.insert.run({
      ...row,
      probe: row.probe ? 1 : 0,
      aborted: row.aborted ? 1 : 0,
      model: row.model ?? null,
    });
  }

  /** An upstream's usage since `from` (epoch ms), as `loadBaseline` entries. */
  entriesSince(from: number, route: 'primary' | 'fallback' = 'primary'): BaselineEntry[] {
    return (this.since.all(route, from) as Array<{ at: number; tokens: number }>).filter((r) => r.tokens > 0);
  }

  /** Rows answered, for the startup line. */
  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM usage').get() as { n: number }).n;
  }

  /**
   * An upstream's usage in `buckets` equal spans from `from` to `to`: what the chart draws, as
   * usage inside the window at each bucket's end.
   */
  series(from: number, to: number, buckets: number, route: 'primary' | 'fallback' = 'primary'): number[] {
    const step = (to - from) / buckets;
    const sums = new Array<number>(buckets).fill(0);
    for (const { at, tokens } of this.entriesSince(from, route)) {
      const index = Math.min(buckets - 1, Math.floor((at - from) / step));
      if (index >= 0) sums[index]! += tokens;
    }
    return sums;
  }

  /** Requests per route in the last `ms`. */
  routesSince(from: number): Record<string, number> {
    const rows = this.db
      .prepare('SELECT route, probe, count(*) AS n FROM usage WHERE at > ? GROUP BY route, probe')
      .all(from) as Array<{ route: string; probe: number; n: number }>;
    const out: Record<string, number> = {};
    for (const r of rows) out[r.probe ? 'probe' : r.route] = (out[r.probe ? 'probe' : r.route] ?? 0) + r.n;
    return out;
  }

  close(): void {
    this.db.close();
  }
}
