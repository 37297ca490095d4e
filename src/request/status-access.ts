import { createHash, timingSafeEqual } from 'node:crypto';
import { optionError } from '../core/errors.js';
import { checkKnownKeys } from '../core/options.js';

/** Options of `guard.statusHandler()`. */
export interface StatusHandlerOptions {
  /**
   * Answer `?key=<tenant>` with that tenant's numbers. Default `false`: tenant keys are often
   * secrets or personal data, and look-ups are the app's to allow. A look-up never creates or
   * evicts a tenant either way.
   */
  keys?: boolean;
  /**
   * Require `Authorization: Bearer <token>`; compared in constant time. Default: none (mount the
   * handler where only operators reach it).
   */
  token?: string;
}

/** What the status handler answers: the guard's JSON, or a refusal. */
export interface StatusAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

const STATUS_KEYS: { [K in keyof Required<StatusHandlerOptions>]: true } = { keys: true, token: true };

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * Checks a status request against the handler's options. The token is compared as SHA-256
 * digests with `timingSafeEqual`: equal lengths whatever was sent, and no early exit that would
 * let response times spell the token out.
 */
export function statusAccess(options: StatusHandlerOptions = {}) {
  if (typeof options !== 'object' || options === null)
    throw optionError('statusHandler(options)', 'an object', options);
  checkKnownKeys(options, STATUS_KEYS, 'statusHandler.');
  const { keys = false, token } = options;
  if (typeof keys !== 'boolean') throw optionError('statusHandler.keys', 'a boolean', keys);
  if (token !== undefined && (typeof token !== 'string' || token.length < 8)) {
    throw optionError('statusHandler.token', 'a string of at least 8 characters', token);
  }
  const expected = token === undefined ? undefined : digest(token);
  return function refusal(authorization: unknown, key: unknown): StatusAnswer | undefined {
    if (expected !== undefined) {
      const given = typeof authorization === 'string' ? authorization.replace(/^Bearer /i, '') : '';
      if (!timingSafeEqual(digest(given), expected)) {
        return {
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer realm="quota-guard"' },
          body: { error: { type: 'unauthorized', message: 'a valid bearer token is required' } },
        };
      }
    }
    if (key !== undefined && !keys) {
      return {
        status: 400,
        headers: {},
        body: {
          error: {
            type: 'tenant_lookups_off',
            message: 'tenant look-ups are off; the app turns them on with statusHandler({ keys: true })',
          },
        },
      };
    }
    return undefined;
  };
}
