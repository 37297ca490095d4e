/**
 * npm run demo: the gateway on its embedded defaults (a faster fake primary, smaller budgets),
 * a realistic mix of streamed requests from the official Anthropic client, and a live line per
 * second: requests per route, usage of each window, state, probes. It stops by itself once the
 * transitions have shown: a cap error met by the response hook, recovery by probe, and the
 * budget line.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { startGateway } from './start.js';

const quiet = { info() {}, warn() {}, error() {} };
const started = await startGateway(
  {
    PORT: '0',
    WINDOWS: '5h=50000,7d=500000',
    PROBE_INTERVAL: '10s',
    DB_PATH: join(mkdtempSync(join(tmpdir(), 'quota-guard-demo-')), 'usage.sqlite'),
  },
  { logger: quiet, embedded: { capTokens: 20_000, windowMs: 15_000 } },
);
console.log(`gateway on ${started.url} (open ${started.url}/quota while this runs)`);
console.log('primary: a fake vendor that caps at 20,000 tokens per 15 s; budget 50,000 tokens per 5 h\n');

const client = new Anthropic({ apiKey: 'demo', baseURL: started.url, maxRetries: 0 });
const counts: Record<string, number> = { primary: 0, fallback: 0 };
const seen = new Set<string>();
let running = true;

async function worker(id: number): Promise<void> {
  while (running) {
    const stream = client.messages.stream({
      model: 'claude-demo',
      max_tokens: 400 + ((id * 137) % 900),
      messages: [{ role: 'user', content: `Request from worker ${id}` }],
    });
    try {
      await stream.finalMessage();
      const servedBy = (await stream.withResponse()).response.headers.get('x-served-by') ?? '?';
      counts[servedBy] = (counts[servedBy] ?? 0) + 1;
    } catch {
      counts.error = (counts.error ?? 0) + 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

const workers = Array.from({ length: 4 }, (_, i) => worker(i));
const started_at = Date.now();
const timer = setInterval(async () => {
  const q = await started.gateway.quotaJson();
  for (const c of q.changes) seen.add(`${c.to}:${c.reason}`);
  const windows = q.windows.map((w) => `${w.window} ${w.usagePercent.toFixed(1).padStart(5)}%`).join('  ');
  const secs = String(Math.round((Date.now() - started_at) / 1000)).padStart(3);
  console.log(
    `${secs}s  primary ${String(counts.primary).padStart(3)}  fallback ${String(counts.fallback).padStart(3)}  probes ${q.served.probe ?? 0}  ${windows}  ${q.state === 'within_quota' ? 'within quota   ' : 'QUOTA EXCEEDED '} ${q.state === 'within_quota' ? '' : q.why.split(';')[0]}`,
  );
  const done =
    seen.has('quota_exceeded:cap_error') &&
    seen.has('within_quota:probe_success') &&
    seen.has('quota_exceeded:budget_exhausted');
  if (done || Date.now() - started_at > 180_000) {
    clearInterval(timer);
    running = false;
    await Promise.all(workers);
    console.log(
      done
        ? '\nShown: a cap error met by the response hook, recovery by probe, and the budget line. Done.'
        : '\nStopped after 3 minutes.',
    );
    await started.close();
    process.exit(0);
  }
}, 1_000);
