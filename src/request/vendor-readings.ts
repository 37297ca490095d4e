import { LRUCache } from 'lru-cache';
import type { Clock } from '../core/clock.js';
import type { ResolvedWindow } from '../core/options.js';
import type { Awaitable, GuardTarget } from '../stores/store.js';
import type { HeadersLike } from '../usage/headers.js';
import { readVendorWindows, type VendorWindowReading } from '../usage/vendor-headers.js';
import { all } from './awaitable.js';

/** A cap error for one window, with the vendor's reset (clamped by the caller). */
type WindowCap = (target: GuardTarget, resetInMs: number | undefined, window: string) => Awaitable<void>;

/**
 * What the vendor last said about its windows (utilization headers), kept per tenant for
 * `info().vendor`; with `calibrate`, a window the vendor reports full goes to `quota_exceeded`.
 */
export class VendorReadings {
  private readonly kept: LRUCache<string, Map<string, VendorWindowReading>>;

  constructor(
    private readonly windows: readonly ResolvedWindow[],
    private readonly calibrate: boolean,
    maxKeys: number,
    private readonly capWindow: WindowCap,
  ) {
    this.kept = new LRUCache({ max: maxKeys });
  }

  /** Reads a response's headers: three look-ups when it has no readings (most responses). */
  read(target: GuardTarget, headers: HeadersLike, clock: Clock): Awaitable<void> {
    const readings = readVendorWindows(headers, clock);
    if (readings.size === 0) return;
    const key = target.key ?? '';
    const kept = this.kept.get(key) ?? new Map<string, VendorWindowReading>();
    const caps: Array<Awaitable<void>> = [];
    for (const [windowMs, reading] of readings) {
      // Vendor windows match guard windows by length (5h, 7d; a 1m guard window for per-minute limits).
      const window = this.windows.find((w) => w.windowMs === windowMs);
      kept.set(window?.label ?? `${windowMs / 60_000}m`, reading);
      if (!this.calibrate || window === undefined) continue;
      if (reading.utilization * 100 < window.thresholdPercent && reading.status !== 'rejected') continue;
      const resetIn = reading.resetAt === undefined ? undefined : Math.max(0, reading.resetAt - reading.at);
      caps.push(this.capWindow(target, resetIn, window.label));
    }
    this.kept.set(key, kept);
    return all(caps);
  }

  /** The last readings for a target, by guard window label. A look-up: recency untouched. */
  info(key: string | undefined): Record<string, VendorWindowReading> | undefined {
    const readings = this.kept.peek(key ?? '');
    return readings ? Object.fromEntries(readings) : undefined;
  }
}
