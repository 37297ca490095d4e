import { createHash } from 'node:crypto';

/**
 * Keeps tenant keys short: a key longer than `maxLength` is replaced by its SHA-256, so memory
 * per tenant is bounded and two long keys still never share a budget (truncating could merge them).
 */
export function boundKey(key: string, maxLength: number): string {
  if (key.length <= maxLength) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}
