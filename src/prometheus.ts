/**
 * quota-guard/prometheus: the guards' numbers as Prometheus metrics, on a `prom-client` registry
 * the app passes in. Read at scrape time from `guard.info()`: nothing runs per request.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MiddlewareInfo } from './request/guard-status.js';

/** Anything with a guard's `info()`: the Express or Koa middleware. */
export interface MeasuredGuard {
  readonly upstream: string;
  info(): Promise<MiddlewareInfo>;
}

/** Options of `registerQuotaMetrics`. */
export interface QuotaMetricsOptions {
  /** Put before every metric name. Default `'quota_guard_'`. */
  prefix?: string;
}

/**
 * Registers gauges and counters for `guards` on `registry`:
 * - `window_usage_tokens`, `window_budget_tokens`, `window_threshold_tokens`,
 *   `window_exceeded` (0/1), `window_cap_error` (0/1), `vendor_utilization_ratio` by `upstream`, `window`;
 * - `decisions_total` by `upstream`, `route`, `reason`; `probes_total` by `upstream`;
 * - `upstream_errors_total` by `upstream`, `kind` (`cap`, `transient`);
 * - `problems_total` by `upstream`, `kind` (`usageMissing`, `store`, `implausibleUsage`, ...);
 * - `in_flight_requests` by `upstream`;
 * - for a store shared over the network (`RedisStore`), by `upstream`: `store_unavailable` (0/1),
 *   `store_pending_tokens`, `store_failures_total`, `store_dropped_tokens_total` (guards that
 *   share one store show the same numbers).
 *
 * @example
 * import { Registry } from 'prom-client';
 * const registry = new Registry();
 * registerQuotaMetrics(registry, [anthropic]);
 * app.get('/metrics', async (_req, res) => res.type(registry.contentType).send(await registry.metrics()));
 */
export function registerQuotaMetrics(
  registry: Registry,
  guards: readonly MeasuredGuard[],
  options: QuotaMetricsOptions = {},
): void {
  const prefix = options.prefix ?? 'quota_guard_';
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(`${prefix}x`)) {
    throw new TypeError(`quota-guard: prefix must be a Prometheus metric name prefix, got ${String(prefix)}`);
  }
  // One scrape reads each guard once, however many metrics ask: the first asks, the rest share.
  let scrape: Promise<MiddlewareInfo[]> | undefined;
  const infos = () => {
    scrape ??= Promise.all(guards.map((g) => g.info())).finally(() => {
      setImmediate(() => {
        scrape = undefined;
      });
    });
    return scrape;
  };

  type Fill = (info: MiddlewareInfo, set: (labels: Record<string, string>, value: number) => void) => void;
  /**
   * A metric read at scrape time. The guard keeps the totals, so a counter is shown as it is:
   * reset, then set to the guard's total (never decreasing, as the guard's counts never do).
   */
  const metric = (
    kind: 'gauge' | 'counter',
    name: string,
    help: string,
    labelNames: string[],
    fill: Fill,
  ) => {
    const config = { name: `${prefix}${name}`, help, labelNames, registers: [registry] };
    if (kind === 'gauge') {
      return new Gauge({
        ...config,
        async collect() {
          this.reset();
          for (const info of await infos()) fill(info, (labels, value) => this.set(labels, value));
        },
      });
    }
    return new Counter({
      ...config,
      async collect() {
        this.reset();
        for (const info of await infos()) fill(info, (labels, value) => this.inc(labels, value));
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], fill: Fill) =>
    metric('gauge', name, help, labelNames, fill);
  const counter = (name: string, help: string, labelNames: string[], fill: Fill) =>
    metric('counter', name, help, labelNames, fill);

  const perWindow =
    (pick: (w: MiddlewareInfo['guard']['windows'][number]) => number) =>
    (info: MiddlewareInfo, set: (labels: Record<string, string>, value: number) => void) => {
      for (const w of info.guard.windows) set({ upstream: info.upstream, window: w.window }, pick(w));
    };
  gauge(
    'window_usage_tokens',
    'Tokens counted in the window.',
    ['upstream', 'window'],
    perWindow((w) => w.windowUsageTokens),
  );
  gauge(
    'window_budget_tokens',
    'The window’s budget (0: none).',
    ['upstream', 'window'],
    perWindow((w) => w.budgetTokens),
  );
  gauge(
    'window_threshold_tokens',
    'Usage at which the window trips: floor(budget × threshold).',
    ['upstream', 'window'],
    perWindow((w) => Math.floor(w.budgetTokens * (w.thresholdPercent / 100))),
  );
  gauge(
    'window_exceeded',
    '1 while the window holds the primary back.',
    ['upstream', 'window'],
    perWindow((w) => (w.state === 'quota_exceeded' ? 1 : 0)),
  );
  gauge(
    'window_cap_error',
    '1 while a cap error of the vendor holds the window.',
    ['upstream', 'window'],
    perWindow((w) => (w.capErrorActive ? 1 : 0)),
  );
  gauge(
    'vendor_utilization_ratio',
    'The vendor’s own utilization of its window (0–1), as last reported.',
    ['upstream', 'window'],
    (info, set) => {
      for (const [window, reading] of Object.entries(info.vendor ?? {}))
        set({ upstream: info.upstream, window }, reading.utilization);
    },
  );
  gauge('in_flight_requests', 'Requests decided whose response is not over yet.', ['upstream'], (info, set) =>
    set({ upstream: info.upstream }, info.inFlight),
  );
  counter(
    'decisions_total',
    'Requests decided, by route and reason, counted as they end.',
    ['upstream', 'route', 'reason'],
    (info, set) => {
      for (const route of ['primary', 'fallback'] as const) {
        for (const [reason, count] of Object.entries(info.decisions[route])) {
          if (count) set({ upstream: info.upstream, route, reason }, count);
        }
      }
    },
  );
  counter('probes_total', 'Probes let through to the primary while exceeded.', ['upstream'], (info, set) => {
    const primary = info.decisions.primary;
    set({ upstream: info.upstream }, (primary.probe ?? 0) + (primary.probe_over_budget ?? 0));
  });
  counter(
    'upstream_errors_total',
    'Error answers of the primary: caps, and transient limits or overloads.',
    ['upstream', 'kind'],
    (info, set) => {
      for (const [kind, count] of Object.entries(info.upstreamErrors))
        set({ upstream: info.upstream, kind }, count);
    },
  );
  const perStore =
    (pick: (stats: NonNullable<MiddlewareInfo['store']>) => number | boolean | undefined) =>
    (info: MiddlewareInfo, set: (labels: Record<string, string>, value: number) => void) => {
      const value = info.store === undefined ? undefined : pick(info.store);
      if (value !== undefined) set({ upstream: info.upstream }, Number(value));
    };
  gauge(
    'store_unavailable',
    '1 while the shared store (Redis) is away and this process’s guards answer.',
    ['upstream'],
    perStore((s) => s.unavailable),
  );
  gauge(
    'store_pending_tokens',
    'Tokens recorded here that the shared store has not confirmed yet.',
    ['upstream'],
    perStore((s) => s.pendingTokens),
  );
  counter(
    'store_failures_total',
    'Calls the shared store failed or answered too late.',
    ['upstream'],
    perStore((s) => s.failures),
  );
  counter(
    'store_dropped_tokens_total',
    'Tokens dropped because the buffer of writes waiting for the shared store was full.',
    ['upstream'],
    perStore((s) => s.droppedTokens),
  );
  counter(
    'problems_total',
    'Problems survived: usage missing from bodies, store failures, implausible usage, failing callbacks.',
    ['upstream', 'kind'],
    (info, set) => {
      for (const [kind, count] of Object.entries(info.problems))
        set({ upstream: info.upstream, kind }, count);
    },
  );
}
