/**
 * A fake LLM upstream that streams a fixture in the chunks a test asks for (gzip or not), and
 * proxy apps (Express, Koa) that pass its bytes through unchanged to the client, with the guard
 * reading usage from the body on the way.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import express from 'express';
import Koa from 'koa';
import { afterAll, beforeAll } from 'vitest';
import { type ExpressQuotaGuardOptions, quotaGuard as expressGuard } from '../../src/adapters/express.js';
import { quotaGuard as koaGuard } from '../../src/adapters/koa.js';
import type { ResponseFixture } from '../fixtures/llm-responses.js';
import { splitAt } from '../fixtures/llm-responses.js';

export interface StreamPlan {
  fixture: ResponseFixture;
  gzip: boolean;
  /** Byte offsets at which the (possibly compressed) body is cut into writes. */
  cuts: number[];
  /** Stop after this share of the chunks and cut the connection (an upstream failing midway). */
  cutAfter?: number;
  /** Stop after this share of the chunks and say nothing more, connection open (an upstream that hangs). */
  hangAfter?: number;
  /** Send this body instead of the fixture's (malformed bodies). */
  rawBody?: string;
  /** Send these bytes as they are, with `encoding` as Content-Encoding (compression bombs). */
  rawBytes?: Buffer;
  encoding?: string;
  status?: number;
  /** Extra response headers (vendor rate-limit headers). */
  headers?: Record<string, string>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** The upstream: each request's plan is registered under an id first. */
export async function startStreamingUpstream() {
  const plans = new Map<string, StreamPlan>();
  const server = createServer((req, res) => {
    const plan = plans.get(req.url?.slice(1) ?? '');
    if (!plan) {
      res.writeHead(404).end();
      return;
    }
    const text = plan.rawBody ?? plan.fixture.body;
    const bytes = plan.rawBytes ?? (plan.gzip ? gzipSync(Buffer.from(text)) : Buffer.from(text));
    const headers: Record<string, string> = { 'content-type': plan.fixture.contentType, ...plan.headers };
    if (plan.gzip) headers['content-encoding'] = 'gzip';
    if (plan.encoding) headers['content-encoding'] = plan.encoding;
    res.writeHead(plan.status ?? 200, headers);
    const parts = splitAt(bytes, plan.cuts);
    const stopAt = plan.cutAfter === undefined ? parts.length : Math.floor(parts.length * plan.cutAfter);
    const hangAt = plan.hangAfter === undefined ? -1 : Math.floor(parts.length * plan.hangAfter);
    let i = 0;
    const next = () => {
      if (i === hangAt) return;
      if (i === stopAt && plan.cutAfter !== undefined) {
        res.socket?.destroy();
        return;
      }
      if (i === parts.length) {
        res.end();
        return;
      }
      res.write(parts[i++]);
      setImmediate(next); // separate writes reach the proxy as separate chunks
    };
    next();
  });
  const url = await listen(server);
  let counter = 0;
  return {
    url,
    server,
    register(plan: StreamPlan): string {
      const id = `s${++counter}`;
      plans.set(id, plan);
      return id;
    },
  };
}

/** Opens the upstream's stream for one plan id; the raw bytes, as sent. */
function openUpstream(upstreamUrl: string, id: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${upstreamUrl}/${id}`, { headers: { 'accept-encoding': 'gzip' } }, resolve);
    req.on('error', reject);
    req.end();
  });
}

type GuardOptions = Omit<ExpressQuotaGuardOptions, 'usage' | 'key' | 'handler' | 'skip'> & {
  usage: 'anthropic' | 'openai' | 'gemini' | 'auto';
};

export function expressProxy(
  upstreamUrl: string,
  options: GuardOptions,
  routes: Record<string, string> = {},
) {
  const guard = expressGuard(options);
  const app = express();
  app.use(guard);
  app.all(['/proxy/:id', ...Object.keys(routes)], async (req, res) => {
    const up = await openUpstream(upstreamUrl, routes[req.path] ?? String(req.params.id));
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
    // An upstream that fails midway: end the client's response too (as a proxy must).
    up.on('error', () => {});
    up.on('close', () => {
      if (!up.complete) res.destroy();
    });
  });
  return { server: createServer(app), guard };
}

export function koaProxy(upstreamUrl: string, options: GuardOptions) {
  const guard = koaGuard(options);
  const app = new Koa();
  app.silent = true; // aborted streams are the point of some tests; Koa would log each
  app.use(guard);
  app.use(async (ctx) => {
    const id = ctx.path.split('/').pop() ?? '';
    const up = await openUpstream(upstreamUrl, id);
    ctx.status = up.statusCode ?? 502;
    for (const [name, value] of Object.entries(up.headers))
      if (value !== undefined && name !== 'content-length') ctx.set(name, value as string);
    up.on('error', () => {});
    up.on('close', () => {
      if (!up.complete) ctx.res.destroy();
    });
    ctx.body = up;
  });
  return { server: createServer(app.callback()), guard };
}

/** The client: the raw bytes it received (no decompression), or what it had when it hung up. */
export function fetchRaw(
  url: string,
  options: { abortAfterBytes?: number } = {},
): Promise<{ status: number; bytes: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST' }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        length += chunk.length;
        if (options.abortAfterBytes !== undefined && length >= options.abortAfterBytes) {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), complete: false });
        }
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), complete: true }),
      );
      res.on('error', () =>
        resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), complete: false }),
      );
      res.on('aborted', () =>
        resolve({ status: res.statusCode ?? 0, bytes: Buffer.concat(chunks), complete: false }),
      );
    });
    req.on('error', (error) => (options.abortAfterBytes !== undefined ? undefined : reject(error)));
    req.end();
  });
}

export type StreamingUpstream = Awaited<ReturnType<typeof startStreamingUpstream>>;

/** One streaming upstream for a test file: started before its tests, closed after. */
export function useStreamingUpstream(): () => StreamingUpstream {
  let upstream: StreamingUpstream | undefined;
  beforeAll(async () => {
    upstream = await startStreamingUpstream();
  });
  afterAll(() => {
    upstream?.server.close();
  });
  return () => upstream!;
}
