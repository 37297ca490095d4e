import type { WindowInfo } from '../../core/base-guard.js';
import type { UpstreamInfo } from '../../core/upstream-guard.js';
import type { GuardCall, UpstreamDefinition } from './definition.js';

/** Turns the script's `info` reply (`now`, then `total:exceeded:capError:nextProbe:retryAt:slots` per window) into `info()`'s shape. */
export function decodeInfo(def: UpstreamDefinition, call: GuardCall, reply: readonly string[]): UpstreamInfo {
  const windows: WindowInfo[] = call.windows.map((w, i) => {
    const [total = '0', exceeded, capError, nextProbe, retryAt, slots = '0'] = (reply[i + 1] ?? '').split(
      ':',
    );
    const usage = Number(total);
    const info: WindowInfo = {
      window: w.label,
      windowMs: w.windowMs,
      state: exceeded === '1' ? 'quota_exceeded' : 'within_quota',
      windowUsageTokens: usage,
      budgetTokens: w.budget,
      usagePercent: w.budget > 0 ? Math.round((usage / w.budget) * 1000) / 10 : 0,
      thresholdPercent: w.thresholdPercent,
      capErrorActive: capError === '1',
      slots: Number(slots),
    };
    if (nextProbe) info.nextProbeAt = Number(nextProbe);
    if (retryAt) info.retryAt = Number(retryAt);
    return info;
  });
  const exceeded = windows.filter((w) => w.state === 'quota_exceeded');
  const now = Number(reply[0]);
  const info: UpstreamInfo = {
    name: def.name,
    enabled: def.enabled,
    state: exceeded.length > 0 ? 'quota_exceeded' : 'within_quota',
    windows,
    ignored: { ...def.ignored },
  };
  if (call.key !== undefined) info.key = call.key;
  if (exceeded.length > 0) {
    info.retryAt = Math.max(...exceeded.map((w) => w.retryAt ?? now));
    info.nextProbeAt = Math.max(...exceeded.map((w) => w.nextProbeAt ?? now));
  }
  return info;
}
