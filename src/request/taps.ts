import { BodyTap } from '../usage/body-tap.js';
import type { ResolvedMiddlewareOptions } from './options.js';

/**
 * A tap for one response body, as the guard's options bound it. Adapters open one only when
 * usage is read from bodies (`usage` names a vendor); it also gives the classifier an error
 * answer's body. Otherwise the hook classifies by status and headers, and a plain response pays
 * nothing (both adapters alike).
 */
export function openTap(
  options: ResolvedMiddlewareOptions<unknown>,
  contentType: unknown,
  contentEncoding: unknown,
): BodyTap {
  return new BodyTap({
    vendor: options.vendor ?? 'auto',
    contentType: typeof contentType === 'string' ? contentType : undefined,
    contentEncoding: typeof contentEncoding === 'string' ? contentEncoding : undefined,
    maxJsonBytes: options.maxJsonBytes,
    maxEventChars: options.maxEventBytes,
    maxInflatedBytes: options.maxInflatedBytes,
  });
}
