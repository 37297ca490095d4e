import { optionError } from '../core/errors.js';
import type { CapScope } from './store.js';

/** Validates `capScope` (default `'upstream'`: one vendor account for all tenants). */
export function resolveCapScope(value: unknown): CapScope {
  if (value === undefined) return 'upstream';
  if (value === 'upstream' || value === 'key') return value;
  throw optionError(
    'capScope',
    "'upstream' (tenants share one vendor account) or 'key' (each tenant brings its own vendor key)",
    value,
  );
}
