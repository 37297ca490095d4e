import { createHash } from 'node:crypto';

/** What a hashed key starts with; no key is used as is with this prefix. */
const HASHED = 'sha256:';

/**
 * Keeps tenant keys short: a key longer than `maxLength` is replaced by its SHA-256, so memory
 * per tenant is bounded and two long keys still never share a budget (truncating could merge them).
 * A short key that itself starts with `sha256:` is hashed too: otherwise a client could send the
 * hash of another tenant's long key and share its budget. The two spaces are disjoint.
 */
export function boundKey(key: string, maxLength: number): string {
  if (key.length <= maxLength && !key.startsWith(HASHED)) return key;
  return `${HASHED}${createHash('sha256').update(key).digest('hex')}`;
}
