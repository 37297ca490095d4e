import type { Awaitable } from '../stores/store.js';

export function isPromiseLike<T>(value: Awaitable<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * `fn(value)` now if `value` is plain, after it resolves if it is a promise. Lets a synchronous
 * store answer a request without a single promise.
 */
export function chain<T, U>(value: Awaitable<T>, fn: (value: T) => Awaitable<U>): Awaitable<U> {
  return isPromiseLike(value) ? value.then(fn) : fn(value);
}

/** Settles within `ms`: the promise's value, or `timedOut` after `ms`. The timer never holds the process open. */
export function withTimeout<T, F>(promise: Promise<T>, ms: number, timedOut: F): Promise<T | F> {
  return new Promise<T | F>((resolve, reject) => {
    const timer = setTimeout(() => resolve(timedOut), ms);
    timer.unref?.();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Waits for the promises among `values`; nothing to wait for when there are none. */
export function all(values: ReadonlyArray<Awaitable<void>>): Awaitable<void> {
  for (const value of values) {
    if (isPromiseLike(value)) return Promise.all(values).then(() => undefined);
  }
}
