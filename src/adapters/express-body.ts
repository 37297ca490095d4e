import type { ServerResponse } from 'node:http';
import type { BodyTap } from '../usage/body-tap.js';

/** What the body tap of one Express response holds. */
export interface TappedBody {
  /** Opened at the first write, when the engine wants the body (usage, or an error answer). */
  tap: BodyTap | undefined;
}

type Chunk = string | Buffer | Uint8Array;

function asBytes(chunk: unknown, encoding: unknown): Chunk | undefined {
  if (typeof chunk === 'string')
    return typeof encoding === 'string' && encoding !== 'utf8' && encoding !== 'utf-8'
      ? Buffer.from(chunk, encoding as BufferEncoding)
      : chunk;
  if (chunk instanceof Uint8Array) return chunk;
  return undefined;
}

/**
 * Sees the body of a Node response as the app writes it (`res.write` / `res.end`, which Express's
 * `send`, `json` and streams all go through) and hands a copy to the engine's tap. The bytes
 * and their timing are the app's own: nothing is held back, so back-pressure is untouched.
 */
export function tapBody(
  res: ServerResponse,
  engine: { openTap(status: number, contentType: unknown, contentEncoding: unknown): BodyTap | undefined },
): TappedBody {
  const body: TappedBody = { tap: undefined };
  let opened = false;
  const see = (chunk: unknown, encoding: unknown) => {
    if (!opened) {
      opened = true;
      body.tap = engine.openTap(
        res.statusCode,
        res.getHeader('content-type'),
        res.getHeader('content-encoding'),
      );
    }
    if (body.tap === undefined) return;
    const bytes = asBytes(chunk, encoding);
    if (bytes !== undefined && bytes.length > 0) body.tap.write(bytes);
  };
  const write = res.write;
  const end = res.end;
  res.write = function tappedWrite(this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    see(chunk, rest[0]);
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function tappedEnd(this: ServerResponse, ...args: unknown[]) {
    if (typeof args[0] !== 'function') see(args[0], args[1]);
    else see(undefined, undefined);
    return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['end'];
  return body;
}
