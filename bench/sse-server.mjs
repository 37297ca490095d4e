/**
 * An Express app streaming Anthropic-style SSE bodies of `?mb=` megabytes, bare or with the guard
 * reading usage from the stream (`usage: 'anthropic'`). A child process of stream.bench.ts;
 * prints its port, answers heap questions over IPC.
 */
import { createServer } from 'node:http';
import express from 'express';
import { quotaGuard } from '../dist/express.js';
import { silentLogger } from '../dist/index.js';

const kind = process.argv[2] ?? 'bare';

/** One SSE body: message_start, deltas of ~200 bytes up to the size, message_delta, message_stop. */
function sseBody(bytes) {
  const event = (name, data) => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  const parts = [
    event('message_start', {
      type: 'message_start',
      message: {
        id: 'msg',
        type: 'message',
        role: 'assistant',
        content: [],
        usage: { input_tokens: 1000, output_tokens: 1 },
      },
    }),
  ];
  let size = parts[0].length;
  const delta = event('content_block_delta', {
    type: 'content_block_delta',
    index: 0,
    delta: {
      type: 'text_delta',
      text: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua — ✓ 日本語.',
    },
  });
  while (size < bytes) {
    parts.push(delta);
    size += delta.length;
  }
  parts.push(
    event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { output_tokens: 5000 },
    }),
  );
  parts.push(event('message_stop', { type: 'message_stop' }));
  return Buffer.from(parts.join(''));
}

// Built before any measurement, so the heap figures show the streams, not the bodies.
const bodies = new Map([1, 8].map((mb) => [mb, sseBody(mb * 1_048_576)]));
const bodyOf = (mb) => bodies.get(mb) ?? bodies.get(1);

const app = express();
const guard =
  kind === 'tap'
    ? quotaGuard({
        upstream: 'bench',
        windows: [{ window: '5h', budget: 1e15 }],
        usage: 'anthropic',
        logger: silentLogger,
      })
    : undefined;
if (guard) app.use(guard);
app.get('/sse', async (req, res) => {
  const body = bodyOf(Number(req.query.mb ?? 1));
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  const chunk = 16_384;
  for (let offset = 0; offset < body.length; offset += chunk) {
    // Honour back-pressure, as a proxy piping an upstream does.
    if (!res.write(body.subarray(offset, offset + chunk)))
      await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
});

let peak = 0;
let base = 0;
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().heapUsed);
}, 5).unref();
process.on('message', (message) => {
  if (message === 'reset') {
    globalThis.gc?.();
    base = process.memoryUsage().heapUsed;
    peak = base;
    process.send?.({ ok: true });
  } else if (message === 'peak') {
    process.send?.({ peakAboveBase: peak - base, charged: 0 });
  } else if (message === 'charged' && guard) {
    guard
      .settled()
      .then(() => guard.info())
      .then((info) => process.send?.({ charged: info.guard.windows[0].windowUsageTokens }));
  } else if (message === 'charged') {
    process.send?.({ charged: 0 });
  }
});

const server = createServer(app);
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
process.on('SIGTERM', () => process.exit(0));
