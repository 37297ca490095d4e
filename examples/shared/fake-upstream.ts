/**
 * A local stand-in for an LLM vendor: answers Anthropic-style `POST /v1/messages` with a usage
 * block, and once it has served `capTokens` it answers 429 like a capped subscription, until
 * `reset()`. The examples and their tests run against it, offline.
 */
import { createServer, type Server } from 'node:http';
import { listenOnLoopback } from './listen.js';

export interface FakeUpstream {
  url: string;
  name: string;
  /** Tokens served so far. */
  served(): number;
  /** Ends the cap: the vendor's window rolled over. */
  reset(): void;
  close(): Promise<void>;
}

export interface FakeUpstreamOptions {
  name: string;
  /** Tokens after which every request gets a 429. Default: never. */
  capTokens?: number;
  /** Tokens each answer charges (input + output). Default 1,000. */
  tokensPerAnswer?: number;
  /** Port; default: any free one. */
  port?: number;
}

export async function startFakeUpstream(options: FakeUpstreamOptions): Promise<FakeUpstream> {
  const { name, capTokens = Number.POSITIVE_INFINITY, tokensPerAnswer = 1_000 } = options;
  let served = 0;
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (served >= capTokens) {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '60' });
        res.end(
          JSON.stringify({
            type: 'error',
            error: { type: 'rate_limit_error', message: `${name}: you have reached your usage limit` },
          }),
        );
        return;
      }
      served += tokensPerAnswer;
      const input = Math.round(tokensPerAnswer * 0.8);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: `msg_${served}`,
          type: 'message',
          role: 'assistant',
          model: name,
          content: [{ type: 'text', text: `Hello from ${name}.` }],
          usage: { input_tokens: input, output_tokens: tokensPerAnswer - input },
        }),
      );
    });
  });
  const url = await listenOnLoopback(server, options.port);
  return {
    url,
    name,
    served: () => served,
    reset: () => {
      served = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
