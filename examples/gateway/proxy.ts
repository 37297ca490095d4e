/**
 * Forwarding one request to an upstream and its answer back, byte for byte as it arrives: the
 * gateway's own key replaces the client's, other headers pass through, and a client that goes
 * away aborts the upstream request.
 */
import type { Response as ExpressResponse, Request } from 'express';
import { type BodyReading, BodyTap } from '../../src/index.js';
import type { UpstreamConfig } from './config.js';

/** Request headers never forwarded: hop-by-hop, the client's credentials, what fetch sets itself. */
const DROPPED_REQUEST = new Set([
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'accept-encoding',
  'upgrade',
  'proxy-authorization',
  'te',
  'trailer',
  'authorization',
  'x-api-key',
]);
/** Response headers not copied: hop-by-hop, and what fetch undid (it decompresses bodies). */
const DROPPED_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
  'upgrade',
  'trailer',
]);

/** Sends the client's request to `upstream` with the gateway's own key. */
export function send(upstream: UpstreamConfig, req: Request, signal: AbortSignal): Promise<Response> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || DROPPED_REQUEST.has(name)) continue;
    headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  if (upstream.apiKey !== undefined) {
    // Anthropic reads x-api-key, OpenAI-style APIs a bearer token: the gateway sends both.
    headers.set('x-api-key', upstream.apiKey);
    headers.set('authorization', `Bearer ${upstream.apiKey}`);
  }
  const body = Buffer.isBuffer(req.body) && req.body.length > 0 ? req.body : undefined;
  return fetch(`${upstream.url}${req.originalUrl}`, {
    method: req.method,
    headers,
    ...(body === undefined ? {} : { body }),
    signal,
    redirect: 'manual',
  });
}

/** What went back to the client. */
export interface Relayed {
  reading: BodyReading;
  /** The client went away before the answer ended. */
  aborted: boolean;
}

/**
 * Streams an upstream answer to the client unchanged, reading its usage on the way (for the
 * usage log). Resolves once the answer ended or the client went away.
 */
export async function relay(
  upstream: Response,
  res: ExpressResponse,
  upstreamName: string,
): Promise<Relayed> {
  res.status(upstream.status);
  upstream.headers.forEach((value, name) => {
    if (!DROPPED_RESPONSE.has(name)) res.setHeader(name, value);
  });
  res.setHeader('x-served-by', upstreamName);
  res.flushHeaders();
  const tap = new BodyTap({
    vendor: 'auto',
    contentType: upstream.headers.get('content-type') ?? undefined,
    contentEncoding: undefined,
    maxJsonBytes: 1_048_576,
    maxEventChars: 1_048_576,
  });
  let aborted = false;
  try {
    if (upstream.body) {
      for await (const chunk of upstream.body as unknown as AsyncIterable<Uint8Array>) {
        tap.write(chunk);
        if (res.destroyed) {
          aborted = true;
          break;
        }
        if (!res.write(chunk))
          await new Promise((resolve) => res.once('drain', resolve).once('close', resolve));
      }
    }
  } catch {
    // The client went away (the upstream request was aborted with it), or the upstream did.
    aborted = true;
  }
  const reading = await tap.end();
  if (!res.destroyed) res.end();
  return { reading, aborted: aborted || res.destroyed };
}
