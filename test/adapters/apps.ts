/**
 * One test app per framework, built the same way, so one scenario suite runs against both.
 * The handlers play the primary: request headers say what it "answered".
 *   x-status       the primary's status (default 200)
 *   x-tokens       tokens the primary charged
 *   x-retry-after  the primary's Retry-After
 *   x-hold         wait for the test to release the response (in-flight requests)
 *   x-headers      response headers the primary "sent", as JSON (vendor headers)
 *   x-fallback-status  the fallback's status, for requests routed there (default 200)
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import Router from '@koa/router';
import express from 'express';
import Koa from 'koa';
import type {
  MiddlewareInfo,
  QuotaRoute,
  RouteBudgetOptions,
  StatusHandlerOptions,
  UpstreamOutcome,
} from '../../src/adapters/express.js';
import { type ExpressQuotaGuardOptions, quotaGuard as expressGuard } from '../../src/adapters/express.js';
import { type KoaQuotaGuardOptions, quotaGuard as koaGuard } from '../../src/adapters/koa.js';

/** Options both adapters share; each harness adds its own `usage`. */
export type SharedOptions = Omit<ExpressQuotaGuardOptions, 'key' | 'usage' | 'handler' | 'skip'> & {
  /** A reject handler (the harness passes it through as it is). */
  handler?: () => never;
  /** The tenant key comes from this request header when set (percent-decoded, so tests can send any text). */
  keyHeader?: string;
  /** A usage function that replaces the default (which reads x-tokens). */
  usage?: 'throws' | 'garbage' | 'bigint' | 'never' | 'none';
  /** Throw from the key function. */
  keyThrows?: boolean;
  /** A key function whose promise never settles. */
  keyNever?: boolean;
  /** Leave `/health` alone (`skip`): sync, async (a promise), or a `skip` that throws. */
  skipHealth?: boolean | 'async' | 'throws';
  /** Options of the app's status handler at `/quota`. */
  status?: StatusHandlerOptions;
};

export interface GuardHandle {
  upstream: string;
  ready: Promise<void>;
  info(key?: string): Promise<MiddlewareInfo>;
  settled(): Promise<void>;
}

export interface TestApp {
  server: Server;
  guards: GuardHandle[];
  /** Releases a held request (x-hold: name); resolves when its handler is waiting. */
  entered(name: string): Promise<void>;
  /** Resolves when a held request's connection has closed (the server saw the client go). */
  closed(name: string): Promise<void>;
  release(name: string): void;
}

export interface AppSpec {
  guards: SharedOptions[];
  /** A route `/budgeted` charged to this budget of the first guard. */
  budget?: RouteBudgetOptions;
  /** Give the guards a reject `handler` that throws. */
  throwingHandler?: boolean;
}

export interface Harness {
  name: 'express' | 'koa';
  createApp(spec: AppSpec): TestApp;
}

/** What the handler reports in proxy style (/proxy): read from x-report as JSON. */
type Report = UpstreamOutcome;

class Holds {
  private readonly waiting = new Map<
    string,
    {
      entered: () => void;
      enteredPromise: Promise<void>;
      closed: () => void;
      closedPromise: Promise<void>;
      release?: () => void;
    }
  >();
  private slot(name: string) {
    let slot = this.waiting.get(name);
    if (!slot) {
      let entered!: () => void;
      let closed!: () => void;
      const enteredPromise = new Promise<void>((resolve) => {
        entered = resolve;
      });
      const closedPromise = new Promise<void>((resolve) => {
        closed = resolve;
      });
      slot = { entered, enteredPromise, closed, closedPromise };
      this.waiting.set(name, slot);
    }
    return slot;
  }
  /** Holds the handler until released; `closed(name)` resolves when its response's connection closes. */
  hold(name: string, res: ServerResponse): Promise<void> {
    const slot = this.slot(name);
    res.once('close', slot.closed);
    return new Promise<void>((resolve) => {
      slot.release = resolve;
      slot.entered();
    });
  }
  closed(name: string): Promise<void> {
    return this.slot(name).closedPromise;
  }
  entered(name: string): Promise<void> {
    return this.slot(name).enteredPromise;
  }
  release(name: string): void {
    this.slot(name).release?.();
  }
}

function primaryAnswer(headers: Record<string, string | string[] | undefined>) {
  const header = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  return {
    status: Number(header('x-status') ?? 200),
    /** What the fallback "answered" when the request was routed there. */
    fallbackStatus: Number(header('x-fallback-status') ?? 200),
    tokens: header('x-tokens') === undefined ? undefined : Number(header('x-tokens')),
    retryAfter: header('x-retry-after'),
    hold: header('x-hold'),
    report: header('x-report'),
    error: header('x-error'),
    /** Response headers the primary "sent", as JSON. */
    headers: JSON.parse(header('x-headers') ?? '{}') as Record<string, string>,
  };
}

function decodeHeader(value: string | undefined): string | undefined {
  return value === undefined ? undefined : decodeURIComponent(value);
}

function describeRoute(route: QuotaRoute | undefined) {
  return route === undefined ? null : JSON.parse(JSON.stringify(route));
}

/**
 * A spec's options for one framework: the usage and key functions read what that framework's
 * handler left, and the broken variants throw or return garbage.
 */
const throwingHandler = () => {
  throw new Error('handler broke');
};

function guardOptions<Req, Res>(
  spec: SharedOptions,
  read: {
    usage: (res: Res) => number | undefined;
    key: (header: string) => (req: Req) => string | undefined;
    path: (req: Req) => string;
  },
) {
  const { keyHeader, usage, keyThrows, keyNever, skipHealth, status: _status, ...rest } = spec;
  const broken = () => {
    throw new Error(`${usage === 'throws' ? 'usage' : 'key'} broke`);
  };
  const never = () => new Promise<never>(() => {});
  const key = keyThrows ? broken : keyNever ? never : keyHeader ? read.key(keyHeader) : undefined;
  const usageFn = {
    throws: broken,
    garbage: () => 'lots' as never,
    bigint: () => 10n as never,
    never,
    none: undefined,
  };
  const chosenUsage = usage === undefined ? read.usage : usageFn[usage];
  return {
    ...rest,
    ...(chosenUsage ? { usage: chosenUsage } : {}),
    ...(key ? { key } : {}),
    ...(skipHealth === true ? { skip: (req: Req) => read.path(req) === '/health' } : {}),
    ...(skipHealth === 'async' ? { skip: async (req: Req) => read.path(req) === '/health' } : {}),
    ...(skipHealth === 'throws' ? { skip: broken } : {}),
  };
}

export const expressHarness: Harness = {
  name: 'express',
  createApp(spec) {
    const holds = new Holds();
    const app = express();
    const guards = spec.guards.map((g) =>
      expressGuard(
        guardOptions<express.Request, express.Response>(
          spec.throwingHandler ? { ...g, handler: throwingHandler } : g,
          {
            usage: (res) => res.locals.tokens as number | undefined,
            key: (header) => (req) => decodeHeader(req.get(header)),
            path: (req) => req.path,
          },
        ) as ExpressQuotaGuardOptions,
      ),
    );
    for (const guard of guards) app.use(guard);
    const first = guards[0]!;
    const handler = async (req: express.Request, res: express.Response) => {
      const answer = primaryAnswer(req.headers);
      if (answer.hold) await holds.hold(answer.hold, res);
      if (answer.tokens !== undefined) res.locals.tokens = answer.tokens;
      if (answer.retryAfter !== undefined) res.set('Retry-After', answer.retryAfter);
      res.set(answer.headers);
      const routes = Object.fromEntries(
        Object.entries(req.quotaRoutes ?? {}).map(([k, v]) => [k, describeRoute(v)]),
      );
      res.status(req.quotaRoute?.route === 'primary' ? answer.status : answer.fallbackStatus).json({
        route: describeRoute(req.quotaRoute),
        inspected: inspect(req.quotaRoute),
        routes,
        ...(answer.error ? { error: { type: 'rate_limit_error', message: answer.error } } : {}),
      });
    };
    app.post('/chat', handler);
    if (spec.budget) app.post('/budgeted', first.budget(spec.budget), handler);
    app.post('/proxy', async (req, res) => {
      const answer = primaryAnswer(req.headers);
      await req.quotaRoute?.report(JSON.parse(answer.report ?? '{}') as Report);
      res.locals.tokens = 999_999; // the hook must not record this: the app reported
      res.status(200).json({ route: describeRoute(req.quotaRoute) });
    });
    // Behind the guard on purpose: the old quick start's order, which must not end a cap error.
    app.get('/quota', first.statusHandler(spec.guards[0]!.status));
    app.get('/health', (req, res) => {
      res.json({ ok: true, route: describeRoute(req.quotaRoute) });
    });
    app.post('/stream-hang', (_req, res) => {
      // A 200 and a first chunk, then the app never finishes.
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    });
    return {
      server: createServer(app),
      guards,
      entered: (n) => holds.entered(n),
      closed: (n) => holds.closed(n),
      release: (n) => holds.release(n),
    };
  },
};

export const koaHarness: Harness = {
  name: 'koa',
  createApp(spec) {
    const holds = new Holds();
    const app = new Koa();
    const router = new Router();
    const guards = spec.guards.map((g) =>
      koaGuard(
        guardOptions<Koa.Context, Koa.Context>(
          spec.throwingHandler ? { ...g, handler: throwingHandler } : g,
          {
            usage: (ctx) => ctx.state.tokens as number | undefined,
            key: (header) => (ctx) => decodeHeader(ctx.get(header) || undefined),
            path: (ctx) => ctx.path,
          },
        ) as KoaQuotaGuardOptions,
      ),
    );
    for (const guard of guards) app.use(guard);
    const first = guards[0]!;
    const handler = async (ctx: Koa.Context) => {
      const answer = primaryAnswer(ctx.headers);
      if (answer.hold) await holds.hold(answer.hold, ctx.res);
      if (answer.tokens !== undefined) ctx.state.tokens = answer.tokens;
      if (answer.retryAfter !== undefined) ctx.set('Retry-After', answer.retryAfter);
      ctx.set(answer.headers);
      const routes = Object.fromEntries(
        Object.entries(ctx.state.quotaRoutes ?? {}).map(([k, v]) => [k, describeRoute(v)]),
      );
      ctx.status = ctx.state.quotaRoute?.route === 'primary' ? answer.status : answer.fallbackStatus;
      ctx.body = {
        route: describeRoute(ctx.state.quotaRoute),
        inspected: inspect(ctx.state.quotaRoute),
        routes,
        ...(answer.error ? { error: { type: 'rate_limit_error', message: answer.error } } : {}),
      };
    };
    router.post('/chat', handler);
    if (spec.budget) router.post('/budgeted', first.budget(spec.budget), handler);
    router.post('/proxy', async (ctx) => {
      const answer = primaryAnswer(ctx.headers);
      await ctx.state.quotaRoute?.report(JSON.parse(answer.report ?? '{}') as Report);
      ctx.state.tokens = 999_999; // the hook must not record this: the app reported
      ctx.body = { route: describeRoute(ctx.state.quotaRoute) };
    });
    router.get('/quota', first.statusHandler(spec.guards[0]!.status));
    router.get('/health', (ctx) => {
      ctx.body = { ok: true, route: describeRoute(ctx.state.quotaRoute) };
    });
    router.post('/stream-hang', async (ctx) => {
      ctx.respond = false;
      ctx.res.writeHead(200, { 'content-type': 'text/plain' });
      ctx.res.write('partial');
      await new Promise(() => {}); // the app never finishes
    });
    app.use(router.routes());
    return {
      server: createServer(app.callback()),
      guards,
      entered: (n) => holds.entered(n),
      closed: (n) => holds.closed(n),
      release: (n) => holds.release(n),
    };
  },
};
