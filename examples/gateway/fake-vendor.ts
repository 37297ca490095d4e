/**
 * A local stand-in for an LLM vendor that speaks the real wire formats: Anthropic Messages
 * (`POST /v1/messages`, streamed as SSE or not, and `/v1/messages/count_tokens`) and OpenAI Chat
 * Completions (`POST /v1/chat/completions`, streamed or not), with usage where the vendors put
 * it, `anthropic-ratelimit-unified-*` utilization headers on every answer, and a hidden cap: once
 * it has served `capTokens` within its own window it answers 429 with a subscription-style body
 * and `Retry-After`, until that window rolls over (`windowMs`) or `reset()`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../shared/listen.js';

export interface FakeVendorOptions {
  name: string;
  /** Tokens after which the vendor answers 429 until its window rolls over. Default: never. */
  capTokens?: number;
  /** The vendor's own window for the cap. Default 60 s. */
  windowMs?: number;
  /** Port; default any free one. */
  port?: number;
  /** Milliseconds between streamed events. Default 2. */
  eventDelayMs?: number;
  /** The key the vendor expects (`x-api-key` or `Authorization: Bearer`). Default: any. */
  apiKey?: string;
  /** Time, for tests. */
  now?: () => number;
}

export interface FakeVendor {
  url: string;
  name: string;
  /** Tokens served in the current window. */
  served(): number;
  /** Requests whose client went away before the answer ended. */
  aborted(): number;
  /** Requests received, by path. */
  requests(): Record<string, number>;
  /** The last request's headers. */
  lastHeaders(): IncomingMessage['headers'] | undefined;
  /** Ends the cap now, as if the vendor's window rolled over. */
  reset(): void;
  /** Answers the next request with this error instead (e.g. a per-minute rate limit). */
  failNext(status: number, headers: Record<string, string>, body: unknown): void;
  close(): Promise<void>;
}

interface Ask {
  stream: boolean;
  model: string;
  /** Tokens the prompt counts: about a token per 4 characters of the body, at least 8. */
  input: number;
  /** Tokens to answer with (max_tokens, bounded). */
  output: number;
}

const WORDS = 'the quick brown fox jumps over the lazy dog while the guard counts every token'.split(' ');

export async function startFakeVendor(options: FakeVendorOptions): Promise<FakeVendor> {
  const { name, capTokens = Number.POSITIVE_INFINITY, windowMs = 60_000, eventDelayMs = 2 } = options;
  const now = options.now ?? Date.now;
  let served = 0;
  let windowStart = now();
  let aborted = 0;
  let last: IncomingMessage['headers'] | undefined;
  const requests: Record<string, number> = {};
  let failure: { status: number; headers: Record<string, string>; body: unknown } | undefined;

  function rollWindow(): void {
    if (now() - windowStart >= windowMs) {
      served = 0;
      windowStart = now();
    }
  }

  function headers(extra: Record<string, string> = {}): Record<string, string> {
    const utilization = Number.isFinite(capTokens) ? Math.min(1, served / capTokens) : 0;
    const reset = Math.ceil((windowStart + windowMs) / 1000);
    return {
      'anthropic-ratelimit-unified-status': utilization >= 1 ? 'rejected' : 'allowed',
      'anthropic-ratelimit-unified-5h-utilization': utilization.toFixed(4),
      'anthropic-ratelimit-unified-5h-reset': String(reset),
      'anthropic-ratelimit-unified-5h-status': utilization >= 1 ? 'rejected' : 'allowed',
      'x-fake-vendor': name,
      ...extra,
    };
  }

  function capped(res: ServerResponse, openai: boolean): void {
    const retryAfter = Math.max(1, Math.ceil((windowStart + windowMs - now()) / 1000));
    res.writeHead(429, headers({ 'content-type': 'application/json', 'retry-after': String(retryAfter) }));
    const message = `${name}: you have reached your usage limit for this period. Your limit resets in ${retryAfter}s.`;
    res.end(
      JSON.stringify(
        openai
          ? { error: { message, type: 'insufficient_quota', code: 'insufficient_quota' } }
          : { type: 'error', error: { type: 'rate_limit_error', message } },
      ),
    );
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      last = req.headers;
      const path = (req.url ?? '/').split('?')[0]!;
      requests[path] = (requests[path] ?? 0) + 1;
      if (options.apiKey !== undefined) {
        const key = req.headers['x-api-key'] ?? req.headers.authorization?.replace(/^Bearer /, '');
        if (key !== options.apiKey) {
          sendError(res, 401, 'authentication_error', 'invalid x-api-key');
          return;
        }
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: Record<string, unknown> = {};
      try {
        body = raw === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
      } catch {
        sendError(res, 400, 'invalid_request_error', 'body is not JSON');
        return;
      }
      const ask: Ask = {
        stream: body.stream === true,
        model: typeof body.model === 'string' ? body.model : `${name}-model`,
        input: Math.max(8, Math.ceil(raw.length / 4)),
        output: Math.min(
          Math.max(Number(body.max_tokens ?? body.max_completion_tokens ?? 64) || 64, 1),
          4_096,
        ),
      };
      rollWindow();
      if (path === '/v1/messages/count_tokens') {
        res.writeHead(200, headers({ 'content-type': 'application/json' }));
        res.end(JSON.stringify({ input_tokens: ask.input }));
        return;
      }
      const openai = path === '/v1/chat/completions';
      if (path !== '/v1/messages' && !openai) {
        res.writeHead(404, headers({ 'content-type': 'application/json' }));
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `no ${path}` } }));
        return;
      }
      if (failure !== undefined) {
        const { status, headers: extra, body: errorBody } = failure;
        failure = undefined;
        res.writeHead(status, headers({ 'content-type': 'application/json', ...extra }));
        res.end(JSON.stringify(errorBody));
        return;
      }
      if (served >= capTokens) return capped(res, openai);
      served += ask.input + ask.output;
      if (openai) void answerOpenAI(req, res, ask);
      else void answerAnthropic(req, res, ask);
    });
  });

  const pause = () => new Promise((resolve) => setTimeout(resolve, eventDelayMs));

  /** Writes SSE events one by one; stops (and counts an abort) when the client goes away. */
  async function stream(req: IncomingMessage, res: ServerResponse, events: string[]): Promise<void> {
    let gone = false;
    res.on('close', () => {
      if (!res.writableFinished) gone = true;
    });
    res.writeHead(200, headers({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }));
    for (const event of events) {
      if (gone) break;
      res.write(event);
      await pause();
    }
    if (gone) aborted++;
    else res.end();
    void req;
  }

  function text(output: number): string[] {
    return Array.from({ length: Math.min(output, 32) }, (_, i) => `${WORDS[i % WORDS.length]} `);
  }

  async function answerAnthropic(req: IncomingMessage, res: ServerResponse, ask: Ask): Promise<void> {
    const id = `msg_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
    const pieces = text(ask.output);
    const usage = {
      input_tokens: ask.input,
      output_tokens: ask.output,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    };
    if (!ask.stream) {
      res.writeHead(200, headers({ 'content-type': 'application/json' }));
      res.end(
        JSON.stringify({
          id,
          type: 'message',
          role: 'assistant',
          model: ask.model,
          content: [{ type: 'text', text: pieces.join('') }],
          stop_reason: 'end_turn',
          stop_sequence: null,
          usage,
        }),
      );
      return;
    }
    const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    const events = [
      sse('message_start', {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model: ask.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, output_tokens: 1 },
        },
      }),
      sse('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'text', text: '' },
      }),
      ...pieces.map((piece) =>
        sse('content_block_delta', {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'text_delta', text: piece },
        }),
      ),
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
      sse('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: ask.output },
      }),
      sse('message_stop', { type: 'message_stop' }),
    ];
    await stream(req, res, events);
  }

  async function answerOpenAI(req: IncomingMessage, res: ServerResponse, ask: Ask): Promise<void> {
    const id = `chatcmpl-${Date.now().toString(36)}`;
    const created = Math.floor(Date.now() / 1000);
    const pieces = text(ask.output);
    const usage = {
      prompt_tokens: ask.input,
      completion_tokens: ask.output,
      total_tokens: ask.input + ask.output,
    };
    if (!ask.stream) {
      res.writeHead(200, headers({ 'content-type': 'application/json' }));
      res.end(
        JSON.stringify({
          id,
          object: 'chat.completion',
          created,
          model: ask.model,
          choices: [
            { index: 0, message: { role: 'assistant', content: pieces.join('') }, finish_reason: 'stop' },
          ],
          usage,
        }),
      );
      return;
    }
    const chunk = (delta: unknown, finish: string | null, extra: Record<string, unknown> = {}) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: ask.model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`;
    const events = [
      chunk({ role: 'assistant', content: '' }, null),
      ...pieces.map((piece) => chunk({ content: piece }, null)),
      chunk({}, 'stop'),
      // The usage chunk OpenAI sends with stream_options.include_usage (sent here always).
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: ask.model, choices: [], usage })}\n\n`,
      'data: [DONE]\n\n',
    ];
    await stream(req, res, events);
  }

  const url = await listenOnLoopback(server, options.port);
  return {
    url,
    name,
    served: () => served,
    aborted: () => aborted,
    requests: () => ({ ...requests }),
    lastHeaders: () => last,
    reset: () => {
      served = 0;
      windowStart = now();
    },
    failNext: (status, extra, errorBody) => {
      failure = { status, headers: extra, body: errorBody };
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An error answer in Anthropic's shape. */
function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ type: 'error', error: { type, message } }));
}
