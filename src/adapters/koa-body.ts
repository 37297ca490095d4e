import { pipeline, Transform } from 'node:stream';
import type { Context } from 'koa';
import type { BodyTap } from '../usage/body-tap.js';

function isStream(body: unknown): body is NodeJS.ReadableStream {
  return typeof (body as { pipe?: unknown } | null)?.pipe === 'function';
}

/**
 * Hands a copy of a Koa response body to the engine's tap: a string or Buffer at once, an object
 * as the JSON Koa will send, and a stream through a pass-through that sees each chunk on its way
 * to the client (piping keeps back-pressure as it was).
 */
export function tapKoaBody(
  ctx: Context,
  open: (contentType: unknown, contentEncoding: unknown) => BodyTap,
): BodyTap | undefined {
  const body: unknown = ctx.body;
  if (body === null || body === undefined) return undefined;
  const tap = open(ctx.response.get('Content-Type'), ctx.response.get('Content-Encoding'));
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    tap.write(body);
  } else if (isStream(body)) {
    const pass = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        tap.write(chunk);
        callback(null, chunk);
      },
    });
    // An error on either side ends both; Koa answers for the body it was given.
    ctx.body = pipeline(body, pass, () => {});
  } else {
    tap.write(JSON.stringify(body));
  }
  return tap;
}
