/**
 * The gateway as the tests start it: from an environment (embedded fake vendors unless it names
 * upstreams), a fresh SQLite file, a manual clock shared by the guard and the embedded vendors,
 * and a capturing logger.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { type StartedGateway, startGateway } from '../../examples/gateway/start.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';

export const NOW = Date.parse('2026-12-01T10:00:00Z');

export function tempDb(): string {
  return join(mkdtempSync(join(tmpdir(), 'qg-gateway-')), 'usage.sqlite');
}

/** Call inside a `describe`: gateways started through it are closed after each test. */
export function gatewaySetup() {
  const open: StartedGateway[] = [];
  afterEach(async () => {
    for (const g of open.splice(0)) await g.close();
  });
  return async function start(env: Record<string, string> = {}, clock = new ManualClock(NOW)) {
    const log = captureLogger();
    const started = await startGateway(
      { PORT: '0', DB_PATH: tempDb(), ...env },
      { logger: log.logger, clock },
    );
    open.push(started);
    return { ...started, clock, log };
  };
}

export async function quotaJson(url: string) {
  return (await (await fetch(`${url}/quota.json`)).json()) as {
    state: string;
    why: string;
    windows: Array<{
      window: string;
      state: string;
      usageTokens: number;
      budgetTokens: number;
      capError: boolean;
      series: number[];
    }>;
    upstreamErrors: { cap: number; transient: number };
    redis?: { unavailable: boolean; pendingTokens: number; droppedTokens: number };
    fallbackGuard: {
      state: string;
      windows: Array<{ window: string; usageTokens: number; capError: boolean }>;
    };
  };
}
