/**
 * npm run bench:stream — 1,000 SSE responses of 1 MB through an Express app, bare and with the
 * guard reading usage from each stream, side by side (the two take turns in rounds). Then the
 * server's peak heap above its baseline while 10 streams are in flight, for 1 MB and 8 MB bodies:
 * the tap holds at most one event per stream, so body size must not show.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

const TOTAL = Number(process.env.BENCH_STREAMS ?? 1_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CONCURRENCY = 10;

async function start(kind: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', new URL('./sse-server.mjs', import.meta.url).pathname, kind],
    {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, url: `http://127.0.0.1:${chunk.toString().trim()}` };
}

async function ask<T>(child: ChildProcess, message: string): Promise<T> {
  child.send(message);
  const [answer] = (await once(child, 'message')) as [T];
  return answer;
}

/** `count` requests, `CONCURRENCY` at a time; returns bytes read and seconds taken. */
async function stream(url: string, count: number, mb: number): Promise<{ bytes: number; seconds: number }> {
  let next = 0;
  let bytes = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) {
        next++;
        const response = await fetch(`${url}/sse?mb=${mb}`);
        for await (const chunk of response.body!) bytes += (chunk as Uint8Array).length;
      }
    }),
  );
  return { bytes, seconds: (performance.now() - started) / 1_000 };
}

const servers = { bare: await start('bare'), tap: await start('tap') };
try {
  await stream(servers.bare.url, 20, 1); // warm-up
  await stream(servers.tap.url, 20, 1);
  await ask(servers.tap.child, 'charged');
  const totals = { bare: { bytes: 0, seconds: 0 }, tap: { bytes: 0, seconds: 0 } };
  const tapChargedBefore = (await ask<{ charged: number }>(servers.tap.child, 'charged')).charged;
  const ratios: number[] = [];
  const perRound = Math.round(TOTAL / ROUNDS);
  for (let round = 0; round < ROUNDS; round++) {
    const rate: Record<string, number> = {};
    // Who goes first alternates: neither always follows the other.
    for (const kind of round % 2 === 0 ? (['bare', 'tap'] as const) : (['tap', 'bare'] as const)) {
      const r = await stream(servers[kind].url, perRound, 1);
      totals[kind].bytes += r.bytes;
      totals[kind].seconds += r.seconds;
      rate[kind] = r.bytes / r.seconds;
    }
    ratios.push(rate.tap! / rate.bare!);
  }
  const charged = (await ask<{ charged: number }>(servers.tap.child, 'charged')).charged - tapChargedBefore;
  const mbps = (t: { bytes: number; seconds: number }) => t.bytes / 1_048_576 / t.seconds;
  console.table([
    { server: 'express, bare', 'MB/s': mbps(totals.bare).toFixed(0), 'vs bare': '100.0%' },
    {
      server: "express + quota-guard usage: 'anthropic'",
      'MB/s': mbps(totals.tap).toFixed(0),
      'vs bare': `${((mbps(totals.tap) / mbps(totals.bare)) * 100).toFixed(1)}%`,
    },
  ]);
  const sorted = [...ratios].sort((a, b) => a - b);
  console.log(
    `tap / bare per round: median ${sorted[Math.floor(ROUNDS / 2)]!.toFixed(3)}, range ${sorted[0]!.toFixed(3)}–${sorted.at(-1)!.toFixed(3)} over ${ROUNDS} interleaved rounds (goal >= 0.95)`,
  );
  console.log(
    `${perRound * ROUNDS} responses of 1 MB each per server, ${CONCURRENCY} at a time; the guard charged ${charged.toLocaleString('en')} tokens (expected ${(perRound * ROUNDS * 6_000).toLocaleString('en')})`,
  );

  console.log('\nServer peak heap above baseline, 10 streams in flight:');
  for (const mb of [1, 8]) {
    for (const kind of ['bare', 'tap'] as const) {
      await ask(servers[kind].child, 'reset');
      await stream(servers[kind].url, 20, mb);
      const { peakAboveBase } = await ask<{ peakAboveBase: number }>(servers[kind].child, 'peak');
      console.log(
        `  ${kind.padEnd(4)} ${String(mb).padStart(2)} MB bodies: ${(peakAboveBase / 1_048_576).toFixed(1)} MB (${(peakAboveBase / CONCURRENCY / 1_024).toFixed(0)} KB per stream)`,
      );
    }
  }
} finally {
  servers.bare.child.kill();
  servers.tap.child.kill();
}
