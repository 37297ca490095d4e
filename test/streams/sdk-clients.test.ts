/**
 * The official clients, pointed at an Express proxy in front of the fake upstream, stream a
 * completion end to end; the guard charges exactly the usage the client saw.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { anthropicStream, openaiChatStream } from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { expressProxy, listen, useStreamingUpstream } from './stream-apps.js';

const streamingUpstream = useStreamingUpstream();

async function proxyFor(route: string, id: string) {
  const { server, guard } = expressProxy(
    streamingUpstream().url,
    {
      upstream: 'llm',
      windows: [{ window: '5h', budget: 1e9 }],
      usage: 'auto',
      resolution: 0,
      clock: new ManualClock(),
      logger: captureLogger().logger,
    },
    { [route]: id },
  );
  const url = await listen(server);
  return { server, guard, url };
}

describe('official SDK clients through the guard', () => {
  it('@anthropic-ai/sdk streams a message; the guard charges the usage the client saw', async () => {
    const id = streamingUpstream().register({
      fixture: anthropicStream,
      gzip: true,
      cuts: [17, 200, 201, 640, 900],
    });
    const { server, guard, url } = await proxyFor('/v1/messages', id);
    const client = new Anthropic({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
    const stream = client.messages.stream({
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'Hi' }],
    });
    const message = await stream.finalMessage();
    await guard.settled();
    const seen = message.usage;
    const charged =
      seen.input_tokens +
      seen.output_tokens +
      (seen.cache_creation_input_tokens ?? 0) +
      (seen.cache_read_input_tokens ?? 0);
    expect(charged).toBe(anthropicStream.tokens);
    expect((await guard.info()).guard.windows[0]!.windowUsageTokens).toBe(charged);
    server.close();
  });

  it('openai streams a chat completion with include_usage; the guard charges the usage the client saw', async () => {
    const id = streamingUpstream().register({
      fixture: openaiChatStream,
      gzip: false,
      cuts: [3, 50, 51, 300],
    });
    const { server, guard, url } = await proxyFor('/chat/completions', id);
    const client = new OpenAI({ apiKey: 'test-key', baseURL: url, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    let text = '';
    for await (const chunk of stream) {
      usage = chunk.usage ?? usage;
      text += chunk.choices[0]?.delta.content ?? '';
    }
    await guard.settled();
    expect(text).toBe('Héllo ✓ 日本語');
    expect(usage?.total_tokens).toBe(openaiChatStream.tokens);
    expect((await guard.info()).guard.windows[0]!.windowUsageTokens).toBe(usage?.total_tokens);
    server.close();
  });
});
