/**
 * The gateway: an Express app in front of a primary and a fallback LLM upstream. Anthropic
 * Messages and OpenAI Chat Completions (and anything else under `/v1`) go to the upstream
 * `req.quotaRoute` says, streamed back as they arrive; a cap error of the primary met before any
 * byte went out is retried once on the fallback; every answer is a row in the SQLite usage log,
 * from which the guard's windows are loaded at startup. `/quota`, `/quota.json` and `/metrics`
 * show the guard.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { quotaGuard } from '../../src/adapters/express.js';
import {
  type Clock,
  classifyUpstreamError,
  defaultWeigh,
  formatDuration,
  type Logger,
  type StateChangeEvent,
  UpstreamGuard,
  type WindowInfo,
} from '../../src/index.js';
import { registerQuotaMetrics } from '../../src/prometheus.js';
import { RedisStore, type RedisStoreStats } from '../../src/redis.js';
import type { GatewayConfig, UpstreamConfig } from './config.js';
import { type Relayed, relay, send } from './proxy.js';
import { type QuotaJson, renderStatusPage, type WindowJson } from './status-page.js';
import { UsageLog } from './usage-log.js';

export interface GatewayOptions {
  config: GatewayConfig;
  /** Resolved upstreams (the embedded fakes' when the config has none). */
  primary: UpstreamConfig;
  fallback: UpstreamConfig;
  logger: Logger & { info(message: string): void };
  /** The guard's clock, for tests. Default: real time. */
  clock?: Clock;
}

export interface Gateway {
  app: express.Express;
  guard: ReturnType<typeof quotaGuard>;
  usage: UsageLog;
  quotaJson(): Promise<QuotaJson>;
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

const UPSTREAM = 'primary';
const SERIES = 48;

export async function createGateway({
  config,
  primary,
  fallback,
  logger,
  clock,
}: GatewayOptions): Promise<Gateway> {
  const usage = new UsageLog(config.dbPath);
  const wall = () => clock?.now() ?? Date.now();
  const changes: StateChangeEvent[] = [];
  let redis: Redis | undefined;
  let store: RedisStore | undefined;
  if (config.redisUrl !== undefined) {
    redis = new Redis(config.redisUrl, { enableOfflineQueue: false, lazyConnect: true });
    redis.on('error', () => {});
    await redis
      .connect()
      .catch((error: Error) =>
        logger.warn(`redis: ${error.message}; the guard answers locally until it is back`),
      );
    store = new RedisStore({ client: redis, prefix: config.redisPrefix, logger });
  }
  const guard = quotaGuard({
    upstream: UPSTREAM,
    windows: config.windows,
    thresholdPercent: config.thresholdPercent,
    probeInterval: config.probeInterval,
    usage: 'auto',
    // Token counting and reads (GET /v1/models) spend no quota: they take no decision, so they
    // are never the probe (their answer says nothing about the cap), and go to the primary.
    skip: (req) => req.method === 'GET' || req.path.endsWith('/count_tokens'),
    logger,
    ...(store === undefined ? {} : { store }),
    ...(clock === undefined ? {} : { clock, wallClock: clock }),
    onStateChange: (event) => {
      changes.push(event);
      if (changes.length > 50) changes.shift();
    },
    // The primary's usage so far in each window, from the log: a restart keeps the quota.
    loadBaseline: ({ windowMs, key, budget }) => {
      if (key !== undefined || budget !== undefined) return undefined;
      const entries = usage.entriesSince(wall() - windowMs);
      logger.info(
        `baseline: ${entries.length} rows of the last ${formatDuration(windowMs)} from ${config.dbPath}`,
      );
      return entries;
    },
  });
  // The fallback's own guard: it has nowhere else to send traffic, so it only watches. Its usage
  // and cap errors are counted and shown next to the primary's (loaded from the log at startup).
  const fallbackGuard = new UpstreamGuard({
    name: 'fallback',
    windows: config.fallbackWindows,
    thresholdPercent: config.thresholdPercent,
    probeInterval: config.probeInterval,
    logger,
    ...(clock === undefined ? {} : { clock, wallClock: clock }),
    onStateChange: (event) => {
      changes.push(event);
      if (changes.length > 50) changes.shift();
    },
  });
  for (const w of fallbackGuard.info().windows) {
    fallbackGuard.loadBaseline(usage.entriesSince(wall() - w.windowMs, 'fallback'), { window: w.window });
  }
  /** What the fallback answered: its usage, or its cap error. */
  function fallbackAnswered(status: number, headers: Headers, relayed: Relayed): void {
    const u = relayed.reading.usage;
    if (status < 400 && u !== undefined) fallbackGuard.recordUsage(defaultWeigh(u));
    if (status >= 400) {
      const verdict = classifyUpstreamError({ status, headers, body: relayed.reading.json }, wall());
      if (verdict.kind === 'cap') fallbackGuard.notifyCapError(verdict.retryAfterMs);
    } else if (status < 300) fallbackGuard.recordSuccess();
  }
  const registry = new Registry();
  registerQuotaMetrics(registry, [guard]);

  async function quotaJson(): Promise<QuotaJson> {
    const info = await guard.info();
    const now = wall();
    const windows = info.guard.windows.map((w) =>
      windowJson(w, usage.series(now - w.windowMs, now, SERIES), info.vendor?.[w.window]?.utilization),
    );
    const capped = windows.find((w) => w.capError);
    const over = windows.find((w) => w.state === 'quota_exceeded');
    const why = capped
      ? `the primary answered with a cap error (${capped.window} window); a probe will find out when it is back`
      : over
        ? `usage reached the ${over.window} window's line (${over.thresholdPercent}% of ${over.budgetTokens.toLocaleString('en-US')} tokens)`
        : 'every window is below its line';
    const fb = fallbackGuard.info();
    const fallbackWindows = fb.windows.map((w) =>
      windowJson(w, usage.series(now - w.windowMs, now, SERIES, 'fallback')),
    );
    return {
      upstream: UPSTREAM,
      fallbackGuard: { state: fb.state, windows: fallbackWindows },
      primary: primary.url,
      fallback: fallback.url,
      state: info.guard.state,
      why,
      at: now,
      ...(info.guard.nextProbeAt === undefined ? {} : { nextProbeAt: info.guard.nextProbeAt }),
      ...(info.guard.retryAt === undefined ? {} : { retryAt: info.guard.retryAt }),
      windows,
      decisions: info.decisions,
      served: usage.routesSince(now - Math.min(...windows.map((w) => w.windowMs))),
      upstreamErrors: info.upstreamErrors,
      changes: [...changes],
      ...(store === undefined ? {} : { redis: redisJson(store.stats()) }),
    };
  }

  const app = express();
  app.disable('x-powered-by');
  // Status and metrics before the guard (they take no decision, so never a probe), behind the token if set.
  const status = express.Router();
  status.use(requireToken(config.statusToken));
  status.get('/quota', async (_req, res, next) => {
    try {
      res.type('html').send(renderStatusPage(await quotaJson()));
    } catch (error) {
      next(error);
    }
  });
  status.get('/quota.json', async (_req, res, next) => {
    try {
      res.json(await quotaJson());
    } catch (error) {
      next(error);
    }
  });
  status.get('/metrics', async (_req, res, next) => {
    try {
      res.type(registry.contentType).send(await registry.metrics());
    } catch (error) {
      next(error);
    }
  });
  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  app.use(status);
  app.use(
    '/v1',
    express.raw({ type: () => true, limit: '32mb' }),
    guard,
    async (req: Request, res: Response) => {
      const route = req.quotaRoute;
      if (route === undefined) {
        // Skipped by the guard (see skip): straight to the primary, and to the fallback if it is unreachable.
        const controller = new AbortController();
        res.on('close', () => controller.abort());
        try {
          await relay(await send(primary, req, controller.signal), res, 'primary');
        } catch {
          if (!controller.signal.aborted && !res.headersSent)
            await relay(await send(fallback, req, controller.signal), res, 'fallback').catch(() =>
              res.destroy(),
            );
        }
        return;
      }
      const controller = new AbortController();
      // The client went away: so does the upstream request (the usage streamed so far is still counted).
      res.on('close', () => {
        if (!res.writableFinished) controller.abort();
      });
      const model = modelOf(req.body);
      const row = (
        served: 'primary' | 'fallback',
        status: number,
        reading?: Awaited<ReturnType<typeof relay>>,
      ) => {
        const u = reading?.reading.usage;
        usage.add({
          at: wall(),
          upstream: served === 'primary' ? primary.url : fallback.url,
          route: served,
          probe: served === 'primary' && route.probe,
          status,
          inputTokens: u?.inputTokens ?? 0,
          outputTokens: u?.outputTokens ?? 0,
          cacheTokens: (u?.cacheCreationInputTokens ?? 0) + (u?.cacheReadInputTokens ?? 0),
          model,
          aborted: reading?.aborted ?? false,
        });
      };
      try {
        if (route.route === 'primary') {
          let answer: globalThis.Response | undefined;
          try {
            answer = await route.observe(await send(primary, req, controller.signal));
          } catch (error) {
            if (controller.signal.aborted) return;
            // The primary could not be reached: not its word on the quota; this request goes to the fallback.
            logger.warn(
              `primary unreachable (${(error as Error).message}); this request goes to the fallback`,
            );
          }
          if (answer !== undefined && route.upstreamError?.kind !== 'cap') {
            row('primary', answer.status, await relay(answer, res, 'primary'));
            return;
          }
          if (answer !== undefined) {
            // A cap error before any byte went out: the guard has learnt it (observe); retry once on the fallback.
            row('primary', answer.status);
            await answer.body?.cancel();
          }
        }
        const answer = await send(fallback, req, controller.signal);
        const relayed = await relay(answer, res, 'fallback');
        row('fallback', answer.status, relayed);
        fallbackAnswered(answer.status, answer.headers, relayed);
      } catch (error) {
        if (controller.signal.aborted) return;
        logger.error(`proxy: ${(error as Error).message}`);
        if (!res.headersSent)
          res
            .status(502)
            .json({ type: 'error', error: { type: 'api_error', message: 'upstream unreachable' } });
        else res.destroy();
      }
    },
  );

  // A body too large or unreadable: a JSON error in the vendors' shape and one log line, not a stack trace.
  app.use(
    (
      error: { status?: number; type?: string; message?: string },
      _req: Request,
      res: Response,
      next: NextFunction,
    ) => {
      if (res.headersSent) return next(error);
      const status =
        typeof error.status === 'number' && error.status >= 400 && error.status < 600 ? error.status : 500;
      // body-parser's error types are fixed words (entity.too.large); anything else is not echoed.
      const kind = typeof error.type === 'string' && /^[a-z.]{1,40}$/.test(error.type) ? error.type : 'error';
      logger.warn(`request refused: ${status} ${kind}`);
      res.status(status).json({
        type: 'error',
        error: {
          type: status === 413 ? 'request_too_large' : 'invalid_request_error',
          message: status === 413 ? 'request body too large' : 'request could not be read',
        },
      });
    },
  );

  let server: ReturnType<express.Express['listen']> | undefined;
  return {
    app,
    guard,
    usage,
    quotaJson,
    listen: (port = config.port) =>
      new Promise((resolve) => {
        server = app.listen(port, config.host, () => {
          const shown = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
          resolve(
            `http://${shown.includes(':') ? `[${shown}]` : shown}:${(server!.address() as AddressInfo).port}`,
          );
        });
      }),
    close: async () => {
      if (server) {
        server.closeAllConnections();
        await new Promise((resolve) => server!.close(resolve));
      }
      await guard.settled();
      if (store) {
        // A planned exit writes what waits for Redis (it stops at the first failure, so a Redis
        // that is away costs one timeout), and says what Redis did not confirm: it may be lost.
        await store.flush();
        const { pendingTokens } = store.stats();
        if (pendingTokens > 0) {
          logger.error(
            `quota-guard gateway: ${pendingTokens} tokens were not confirmed written to Redis before exit`,
          );
        }
        store.close();
      }
      redis?.disconnect();
      usage.close();
    },
  };
}

function redisJson({
  unavailable,
  pendingTokens,
  droppedTokens,
}: RedisStoreStats): NonNullable<QuotaJson['redis']> {
  return { unavailable, pendingTokens, droppedTokens };
}

/** One window as the status page and `/quota.json` show it. */
function windowJson(w: WindowInfo, series: number[], vendorUtilization?: number): WindowJson {
  return {
    window: w.window,
    windowMs: w.windowMs,
    state: w.state,
    usageTokens: w.windowUsageTokens,
    budgetTokens: w.budgetTokens,
    thresholdPercent: w.thresholdPercent,
    usagePercent: w.usagePercent,
    capError: w.capErrorActive,
    ...(vendorUtilization === undefined ? {} : { vendorUtilization }),
    series,
  };
}

function modelOf(body: unknown): string | undefined {
  if (!Buffer.isBuffer(body) || body.length === 0 || body[0] !== 0x7b) return undefined;
  try {
    const model = (JSON.parse(body.toString('utf8')) as { model?: unknown }).model;
    return typeof model === 'string' ? model.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

/** With a token set: `Authorization: Bearer <token>` (or `?token=` for a browser), compared in constant time. */
function requireToken(token: string | undefined) {
  const want = token === undefined ? undefined : createHash('sha256').update(token).digest();
  return (req: Request, res: Response, next: NextFunction) => {
    if (want === undefined) return next();
    const header = req.get('authorization');
    const given = header?.startsWith('Bearer ')
      ? header.slice(7)
      : typeof req.query.token === 'string'
        ? req.query.token
        : '';
    if (timingSafeEqual(createHash('sha256').update(given).digest(), want)) return next();
    res.status(401).set('www-authenticate', 'Bearer').json({ error: 'a status token is required' });
  };
}
