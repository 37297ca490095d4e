/**
 * quota-guard/prometheus on a real prom-client registry, fed by a real Express app with two
 * guards: the text a Prometheus server scrapes shows the guards' own numbers.
 */
import express from 'express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { quotaGuard } from '../../src/adapters/express.js';
import { registerQuotaMetrics } from '../../src/prometheus.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

function app() {
  const clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
  const common = { clock, logger: captureLogger().logger, resolution: 0, probeInterval: '1m' as const };
  const anthropic = quotaGuard({
    upstream: 'anthropic',
    windows: [
      { window: '5h', budget: 1_000 },
      { window: '7d', budget: 10_000 },
    ],
    usage: (res) => res.locals.tokens as number | undefined,
    ...common,
  });
  const openai = quotaGuard({
    upstream: 'openai',
    windows: [{ window: '1d', budget: 1_000_000 }],
    usage: (res) => res.locals.tokens as number | undefined,
    ...common,
  });
  const registry = new Registry();
  registerQuotaMetrics(registry, [anthropic, openai]);
  const server = express();
  server.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  server.use(anthropic, openai);
  server.post('/chat', (req, res) => {
    const status = Number(req.get('x-status') ?? 200);
    if (req.get('x-tokens')) res.locals.tokens = Number(req.get('x-tokens'));
    if (req.get('x-vendor')) res.set('anthropic-ratelimit-unified-5h-utilization', req.get('x-vendor')!);
    res.status(anthropic.routeOf(req)?.route === 'primary' ? status : 200).json({});
  });
  const send = async (headers: Record<string, string> = {}) => {
    await request(server).post('/chat').set(headers);
    await Promise.all([anthropic.settled(), openai.settled()]);
  };
  return { server, send, registry };
}

/** One sample's value from the exposition text, by metric name and labels as written. */
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('quota-guard/prometheus', () => {
  it('exposes usage, budgets, state, decisions, probes, errors and problems per guard', async () => {
    const { server, send } = app();
    await send({ 'x-tokens': '600', 'x-vendor': '0.42' });
    await send({ 'x-tokens': '400' });
    await send(); // anthropic: over its line now
    await send({ 'x-tokens': '1e308' }); // refused and counted
    const text = (await request(server).get('/metrics')).text;

    expect(sample(text, 'quota_guard_window_usage_tokens', 'upstream="anthropic",window="5h"')).toBe(1_000);
    expect(sample(text, 'quota_guard_window_usage_tokens', 'upstream="anthropic",window="7d"')).toBe(1_000);
    // Both guards charge every request they sent to their primary: openai never tripped.
    expect(sample(text, 'quota_guard_window_usage_tokens', 'upstream="openai",window="1d"')).toBe(1_000);
    expect(sample(text, 'quota_guard_window_budget_tokens', 'upstream="anthropic",window="5h"')).toBe(1_000);
    expect(sample(text, 'quota_guard_window_threshold_tokens', 'upstream="anthropic",window="5h"')).toBe(990);
    expect(sample(text, 'quota_guard_window_exceeded', 'upstream="anthropic",window="5h"')).toBe(1);
    expect(sample(text, 'quota_guard_window_exceeded', 'upstream="anthropic",window="7d"')).toBe(0);
    expect(sample(text, 'quota_guard_window_cap_error', 'upstream="anthropic",window="5h"')).toBe(0);
    expect(sample(text, 'quota_guard_vendor_utilization_ratio', 'upstream="anthropic",window="5h"')).toBe(
      0.42,
    );
    expect(
      sample(
        text,
        'quota_guard_decisions_total',
        'upstream="anthropic",route="primary",reason="within_quota"',
      ),
    ).toBe(2);
    expect(
      sample(
        text,
        'quota_guard_decisions_total',
        'upstream="anthropic",route="fallback",reason="budget_exhausted"',
      ),
    ).toBe(2);
    expect(sample(text, 'quota_guard_problems_total', 'upstream="openai",kind="implausibleUsage"')).toBe(1);
    expect(sample(text, 'quota_guard_in_flight_requests', 'upstream="anthropic"')).toBe(0);
    // A store in this process's memory is never away: no store numbers (RedisStore's: test/gateway).
    expect(sample(text, 'quota_guard_store_unavailable', 'upstream="anthropic"')).toBeUndefined();
    expect(text).toContain('# TYPE quota_guard_decisions_total counter');
    expect(text).toContain('# TYPE quota_guard_window_usage_tokens gauge');
  });

  it('counts cap errors and probes, and a scrape reads each guard once', async () => {
    const { server, send } = app();
    await send({ 'x-status': '429' }); // both guards' primary answered 429: a cap for each
    const first = (await request(server).get('/metrics')).text;
    expect(sample(first, 'quota_guard_upstream_errors_total', 'upstream="anthropic",kind="cap"')).toBe(1);
    expect(sample(first, 'quota_guard_window_cap_error', 'upstream="anthropic",window="5h"')).toBe(1);
    expect(sample(first, 'quota_guard_probes_total', 'upstream="anthropic"')).toBe(0);
    // Counters keep counting across scrapes, never reset by reading them.
    await send({ 'x-status': '429' });
    const second = (await request(server).get('/metrics')).text;
    expect(
      sample(
        second,
        'quota_guard_decisions_total',
        'upstream="anthropic",route="fallback",reason="cap_error"',
      ),
    ).toBe(1);
    expect(sample(second, 'quota_guard_upstream_errors_total', 'upstream="anthropic",kind="cap"')).toBe(1);
  });

  it('refuses a prefix that is no metric name', () => {
    expect(() => registerQuotaMetrics(new Registry(), [], { prefix: 'quota-guard ' })).toThrow(
      'prefix must be a Prometheus metric name prefix, got quota-guard ',
    );
  });
});
