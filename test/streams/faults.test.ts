/**
 * Faults around the guard, through real proxies: hooks that throw on every call, an upstream that
 * sends its headers and hangs, a thousand clients hanging up mid-stream. Requests keep flowing,
 * and the guard's numbers afterwards are what a model of the traffic says they must be.
 */
import { describe, expect, it } from 'vitest';
import { anthropicStream } from '../fixtures/llm-responses.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import { expressProxy, fetchRaw, koaProxy, listen, useStreamingUpstream } from './stream-apps.js';

const streamingUpstream = useStreamingUpstream();
const proxies = [
  ['express', expressProxy],
  ['koa', koaProxy],
] as const;

/** What message_start says (input, cache writes and reads, the first output token), and the whole. */
const AT_START = 25 + 100 + 2_000 + 1;
const WHOLE = anthropicStream.tokens;

describe.each(proxies)('faults through %s', (_name, makeProxy) => {
  async function setup(extra: Record<string, unknown> = {}) {
    const log = captureLogger();
    const { server, guard } = makeProxy(streamingUpstream().url, {
      upstream: 'llm',
      windows: [{ window: '5h', budget: 1e12 }],
      usage: 'anthropic',
      resolution: 0,
      clock: new ManualClock(),
      logger: log.logger,
      ...extra,
    });
    const url = await listen(server);
    const usage = async () => (await guard.info()).guard.windows[0]!.windowUsageTokens;
    return { server, guard, url, usage, log };
  }

  it('weigh and classify that throw on every call: every request is served, every failure counted', async () => {
    const { server, guard, url, usage } = await setup({
      weigh: () => {
        throw new Error('weigh broke');
      },
      classify: () => {
        throw new Error('classify broke');
      },
    });
    try {
      const ok = streamingUpstream().register({ fixture: anthropicStream, gzip: false, cuts: [100, 700] });
      const capped = streamingUpstream().register({
        fixture: anthropicStream,
        gzip: false,
        cuts: [],
        status: 429,
        rawBody: '{"type":"error","error":{"type":"rate_limit_error","message":"usage limit"}}',
      });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => fetchRaw(`${url}/proxy/${i % 2 ? capped : ok}`)),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([...Array(20).fill(200), ...Array(20).fill(429)]);
      await guard.settled();
      const info = await guard.info();
      expect(info.problems.usage).toBe(20);
      expect(info.problems.classifier).toBe(20);
      // The model: nothing charged, no cap error believed (a classifier that throws calls nothing a cap).
      expect(await usage()).toBe(0);
      expect(info.guard.state).toBe('within_quota');
      expect(info.inFlight).toBe(0);
    } finally {
      server.close();
    }
  });

  it('an upstream that sends its headers and hangs holds only its own request', async () => {
    const { server, guard, url, usage } = await setup();
    try {
      const first = anthropicStream.body.indexOf('event: content_block_start');
      // message_start and one more piece, then silence with the connection open.
      const hung = streamingUpstream().register({
        fixture: anthropicStream,
        gzip: false,
        cuts: [first, first + 40, first + 80, first + 120],
        hangAfter: 0.4,
      });
      // The client takes all there is, waits while others are served, and gives up.
      const pending = fetchRaw(`${url}/proxy/${hung}`, { abortAfterBytes: first + 40 });
      const ok = streamingUpstream().register({ fixture: anthropicStream, gzip: false, cuts: [] });
      const answers = await Promise.all(Array.from({ length: 10 }, () => fetchRaw(`${url}/proxy/${ok}`)));
      expect(answers.every((a) => a.complete && a.status === 200)).toBe(true);
      // The hung request's client gives up: the guard records what that stream said so far.
      expect((await pending).complete).toBe(false);
      await guard.settled();
      expect(await usage()).toBe(10 * WHOLE + AT_START);
      expect((await guard.info()).problems.usageMissing).toBe(1);
    } finally {
      server.close();
    }
  });

  it('1,000 clients hanging up mid-stream: each is charged what its stream said, and nothing leaks', async () => {
    const { server, guard, url, usage } = await setup();
    try {
      // message_start whole in the first write, the rest in small pieces.
      const first = anthropicStream.body.indexOf('event: content_block_start');
      const cuts = [first, ...Array.from({ length: 30 }, (_, i) => first + (i + 1) * 40)];
      const id = streamingUpstream().register({ fixture: anthropicStream, gzip: false, cuts });
      const answers = await Promise.all(
        Array.from({ length: 1_000 }, () => fetchRaw(`${url}/proxy/${id}`, { abortAfterBytes: first + 1 })),
      );
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1_000);
      await guard.settled();
      const info = await guard.info();
      expect(info.inFlight).toBe(0);
      // The model: every request charged what message_start said, plus the 14 later output
      // tokens for a stream the proxy had passed whole before it saw the client go.
      const total = await usage();
      const whole = (total - 1_000 * AT_START) / (WHOLE - AT_START);
      expect(Number.isInteger(whole) && whole >= 0 && whole <= 1_000).toBe(true);
      expect(info.problems.usageMissing).toBe(1_000 - whole);
      // And the next request is counted to the token.
      const again = streamingUpstream().register({ fixture: anthropicStream, gzip: false, cuts: [] });
      await fetchRaw(`${url}/proxy/${again}`);
      await guard.settled();
      expect(await usage()).toBe(total + WHOLE);
    } finally {
      server.close();
    }
  });
});
