import { BaseGuard, type IgnoredInputs, type WindowInfo } from './base-guard.js';
import { type QuotaGuardOptions, resolveQuotaOptions } from './options.js';

/** `QuotaGuard.info()`: the reference's `get_info()` and what the improvements added. */
export interface QuotaGuardInfo extends WindowInfo {
  name?: string;
  enabled: boolean;
  ignored: IgnoredInputs;
}

/**
 * A sliding window of token usage against a budget, with the two states of the reference:
 * `within_quota` and `quota_exceeded`. For several windows of one upstream, use `UpstreamGuard`.
 *
 * @example
 * const guard = new QuotaGuard({ budget: 1_000_000, window: '5h' });
 * const decision = guard.decide();          // { route: 'primary', reason: 'within_quota', ... }
 * guard.recordUsage(1_200);                 // after the primary answered
 * guard.recordSuccess(decision);            // a 2xx: ends an exceeded period only if it was its probe
 */
export class QuotaGuard extends BaseGuard {
  constructor(options: QuotaGuardOptions = {}) {
    const { settings, window } = resolveQuotaOptions(options);
    super(settings, [window]);
  }

  info(): QuotaGuardInfo {
    const now = this.settings.clock.now();
    const info: QuotaGuardInfo = {
      ...this.windowInfo(this.windows[0]!, now, this.wallOffset(now)),
      enabled: this.enabled,
      ignored: this.ignoredSnapshot(),
    };
    if (this.name !== undefined) info.name = this.name;
    return info;
  }
}
