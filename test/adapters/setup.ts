/**
 * One way to build a scenario's app, for every suite that runs on both adapters: the default
 * guard (5h window of 1,000 tokens, probes every minute, exact window, a manual clock at NOW,
 * a capturing logger), apps closed after each test, and `send`/`get` that wait until the
 * response has been reported to the guard.
 */
import request from 'supertest';
import { afterEach } from 'vitest';
import type { QuotaStore } from '../../src/index.js';
import { captureLogger, ManualClock } from '../helpers/manual-clock.js';
import type { AppSpec, Harness, SharedOptions, TestApp } from './apps.js';

/**
 * Makes the store a scenario's guard uses, on the scenario's clock and logger. Undefined: the
 * guard's own MemoryStore. The Redis suite passes a RedisStore, so every scenario runs on both.
 */
export type ScenarioStore = (
  clock: ManualClock,
  logger: ReturnType<typeof captureLogger>['logger'],
) => QuotaStore;

export const NOW = Date.parse('2026-12-01T10:00:00Z');

/** Call inside a `describe`: returns its `setup`. */
export function scenarioSetup(harness: Harness, makeStore?: ScenarioStore) {
  const open: TestApp[] = [];
  afterEach(() => {
    for (const app of open.splice(0)) app.server.close();
  });
  function setup(options: Partial<SharedOptions> = {}, spec: Partial<AppSpec> = {}) {
    const clock = new ManualClock(NOW);
    const log = captureLogger();
    const guardOptions: SharedOptions = {
      upstream: 'anthropic',
      windows: [{ window: '5h', budget: 1_000 }],
      probeInterval: '1m',
      resolution: 0,
      clock,
      logger: log.logger,
      ...(makeStore === undefined ? {} : { store: makeStore(clock, log.logger) }),
      ...options,
    };
    const app = harness.createApp({ guards: [guardOptions], ...spec });
    open.push(app);
    const guard = app.guards[0]!;
    /** One request, and wait until its response has been reported to the guard. */
    async function send(path: string, headers: Record<string, string> = {}) {
      const response = await request(app.server).post(path).set(headers);
      await guard.settled();
      return response;
    }
    async function get(path: string, headers: Record<string, string> = {}) {
      const response = await request(app.server).get(path).set(headers);
      await guard.settled();
      return response;
    }
    return { app, guard, clock, send, get, log };
  }
  /** Closes an app a test built itself after the test, like the others. */
  setup.track = (app: TestApp) => {
    open.push(app);
  };
  return setup;
}
