import type { BodyReading } from '../usage/body-tap.js';
import { isVendorErrorBody } from '../usage/json-usage.js';
import { hasVendorHeaders } from '../usage/vendor-headers.js';
import type { UpstreamOutcome } from './outcome.js';

/**
 * Did the primary itself answer this request, as far as the response hook can tell? Only then
 * may a probe's success end `quota_exceeded` (DESIGN §7): usage above zero, a vendor's body read
 * by the tap (usage, or a vendor's error shape), or a vendor's own headers. A health check, a
 * status page or a static file behind the guard shows none of these: its 200 gives the probe
 * back instead of ending a cap error the primary may still be in.
 */
export function answeredByPrimary(outcome: UpstreamOutcome, reading: BodyReading | undefined): boolean {
  if (typeof outcome.tokens === 'number' && outcome.tokens > 0) return true;
  if (reading !== undefined) {
    if (reading.usage !== undefined || reading.streamError !== undefined) return true;
    if (isVendorErrorBody(reading.json)) return true;
  }
  return hasVendorHeaders(outcome.headers);
}
