/**
 * Several Node processes, each an Express gateway with its own RedisStore over one Redis, driven
 * over HTTP: they must act as one guard.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshPrefix, REDIS_URL } from './redis-client.js';

const START = Date.parse('2026-12-01T10:00:00Z');
const INSTANCES = 3;

interface Instance {
  child: ChildProcess;
  url: string;
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./instance-server.ts', import.meta.url).pathname],
    {
      env: { ...process.env, ...env, REDIS_URL },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! });
  const [port] = (await once(lines, 'line')) as [string];
  return { child, url: `http://127.0.0.1:${port}` };
}

async function post(instance: Instance, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const response = await fetch(`${instance.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

interface Status {
  guard: { windows: Array<{ windowUsageTokens: number; state: string; capErrorActive: boolean }> };
}

async function get(instance: Instance, path: string) {
  return (await (await fetch(`${instance.url}${path}`)).json()) as Status;
}

describe('several instances over one Redis, through Express', () => {
  let instances: Instance[] = [];
  const settled = () => Promise.all(instances.map((i) => get(i, '/settled')));
  const setClock = (now: number) => Promise.all(instances.map((i) => post(i, '/clock', {}, { now })));

  beforeAll(async () => {
    const env = { PREFIX: freshPrefix(), BUDGET: '1000', START_AT: String(START) };
    instances = await Promise.all(Array.from({ length: INSTANCES }, () => startInstance(env)));
  }, 60_000);
  afterAll(() => {
    for (const i of instances) i.child.kill('SIGTERM');
  });

  it('crosses the budget line once for all instances, and every status shows the shared usage to the token', async () => {
    const routes: string[] = [];
    for (let n = 0; n < 15; n++) {
      const instance = instances[n % INSTANCES]!;
      const { body } = await post(instance, '/chat', { 'x-tokens': '100' });
      routes.push(body.route as string);
      await settled();
    }
    // 10 × 100 tokens reach the line (990 of 1,000): one budget, not one per instance.
    expect(routes.filter((r) => r === 'primary')).toHaveLength(10);
    expect(routes.slice(10)).toEqual(['fallback', 'fallback', 'fallback', 'fallback', 'fallback']);
    for (const instance of instances) {
      const status = await get(instance, '/quota');
      expect(status.guard.windows[0]).toMatchObject({ windowUsageTokens: 1_000, state: 'quota_exceeded' });
    }
  });

  it('holds every instance on a cap error one met, and sends exactly one probe among 300 concurrent requests', async () => {
    // A new window: the usage of the last test slides out.
    await setClock(START + 6 * 3_600_000);
    const first = await post(instances[0]!, '/chat', { 'x-tokens': '1' });
    expect(first.body).toMatchObject({ route: 'primary', reason: 'usage_dropped' });
    await post(instances[1]!, '/chat', { 'x-status': '429' });
    await settled();
    for (const instance of instances) {
      expect((await post(instance, '/chat')).body).toMatchObject({ route: 'fallback', reason: 'cap_error' });
    }
    await setClock(START + 6 * 3_600_000 + 5 * 60_000);
    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, n) => post(instances[n % INSTANCES]!, '/chat', { 'x-tokens': '1' })),
    );
    const probes = answers.filter((a) => a.body.probe === true);
    expect(probes).toHaveLength(1);
    expect(probes[0]!.body).toMatchObject({ route: 'primary', reason: 'probe' });
    // Requests decided before the probe's success was reported went to the fallback; after it,
    // to the primary as plain requests.
    for (const a of answers) {
      if (a.body.route === 'fallback') expect(a.body.reason).toBe('cap_error');
      else if (a.body.probe !== true) expect(a.body.reason).toBe('within_quota');
    }
    await settled();
    // The probe's success (its usage shows the primary answered) ended the cap error everywhere.
    for (const instance of instances) {
      expect((await post(instance, '/chat')).body).toMatchObject({ route: 'primary', probe: false });
      expect((await get(instance, '/quota')).guard.windows[0]).toMatchObject({ capErrorActive: false });
    }
    await settled();
    // Every token reported by every instance is in the shared window: 1 + 1 per primary answer.
    const primaries = answers.filter((a) => a.body.route === 'primary').length;
    for (const instance of instances) {
      expect((await get(instance, '/quota')).guard.windows[0]!.windowUsageTokens).toBe(1 + primaries);
    }
  });
});
