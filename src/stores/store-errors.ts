import { escapeForLog } from '../core/errors.js';

/** A call about an upstream the store was never told of. */
export function notDefined(upstream: string): Error {
  return new Error(
    `quota-guard: upstream '${escapeForLog(upstream)}' is not defined in this store (call define() first)`,
  );
}

/** A second `define` of one upstream in one store (in one process: instances sharing Redis each define their own). */
export function alreadyDefined(upstream: string): Error {
  return new Error(`quota-guard: upstream '${escapeForLog(upstream)}' is already defined in this store`);
}
