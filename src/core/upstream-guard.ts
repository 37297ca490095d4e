import { BaseGuard, type IgnoredInputs, type WindowInfo } from './base-guard.js';
import type { QuotaState } from './decision.js';
import { resolveUpstreamOptions, type UpstreamGuardOptions } from './options.js';

/** `UpstreamGuard.info()`: the guard as a whole and each of its windows. */
export interface UpstreamInfo {
  name?: string;
  /** The tenant key, for a tenant's guard. */
  key?: string;
  enabled: boolean;
  /** `quota_exceeded` when any window is. */
  state: QuotaState;
  windows: WindowInfo[];
  /** Wall-clock time the primary is expected back: the latest `retryAt` of the exceeded windows. */
  retryAt?: number;
  /** Wall-clock time of the next probe: every exceeded window must allow it. */
  nextProbeAt?: number;
  ignored: IgnoredInputs;
}

/**
 * Guards one upstream against several windows of its quota at once, e.g. a 5-hour and a
 * weekly cap. The primary is used only when every window allows it; usage and cap errors go
 * to every window; a probe is granted only when every exceeded window allows one.
 *
 * @example
 * const anthropic = new UpstreamGuard({
 *   name: 'anthropic',
 *   windows: [{ window: '5h', budget: 65_000_000 }, { window: '7d', budget: 800_000_000, probeInterval: '30m' }],
 * });
 * const decision = anthropic.decide();
 */
export class UpstreamGuard extends BaseGuard {
  constructor(options: UpstreamGuardOptions) {
    const { settings, windows } = resolveUpstreamOptions(options);
    super(settings, windows);
  }

  info(): UpstreamInfo {
    const now = this.settings.clock.now();
    const offset = this.wallOffset(now);
    const windows = this.windows.map((w) => this.windowInfo(w, now, offset));
    const info: UpstreamInfo = {
      enabled: this.enabled,
      state: this.state,
      windows,
      ignored: this.ignoredSnapshot(),
    };
    if (this.name !== undefined) info.name = this.name;
    if (this.settings.tenant !== undefined) info.key = this.settings.tenant;
    const exceeded = windows.filter((w) => w.state === 'quota_exceeded');
    if (exceeded.length > 0) {
      info.retryAt = Math.max(...exceeded.map((w) => w.retryAt ?? now + offset));
      info.nextProbeAt = Math.max(...exceeded.map((w) => w.nextProbeAt ?? now + offset));
    }
    return info;
  }
}
