import { escapeForLog } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';

/**
 * Whether Redis is taken for away. After a failure (an error, or no answer within the timeout)
 * calls go straight to this process's guards for `retryMs`, then Redis is asked again; the first
 * answer after a failure brings it back. Going away and coming back are logged once each.
 */
export class Availability {
  /** Calls Redis failed or answered too late since the store was made. */
  failures = 0;
  /** True from a failure until Redis answers again. */
  unavailable = false;
  private downUntil = 0;

  constructor(
    private readonly retryMs: number,
    private readonly logger: Logger,
    /** Redis answered again after being away: the local guards hand back, buffered writes go. */
    private readonly onBack: () => void,
  ) {}

  /** True while calls should not ask Redis (a failure less than `retryMs` ago). */
  isDown(): boolean {
    return this.downUntil !== 0 && Date.now() < this.downUntil;
  }

  down(error: unknown): void {
    this.failures++;
    this.downUntil = Date.now() + this.retryMs;
    if (this.unavailable) return;
    this.unavailable = true;
    const why = error instanceof Error ? error.message : String(error);
    this.logger.error(
      `quota-guard [redis]: Redis is unavailable (${escapeForLog(why, 200)}); this process's guards answer, and writes wait to be sent`,
    );
  }

  up(): void {
    this.downUntil = 0;
    if (!this.unavailable) return;
    this.unavailable = false;
    this.logger.warn('quota-guard [redis]: Redis is back; shared guards answer again');
    this.onBack();
  }
}
