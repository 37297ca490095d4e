import type { WindowInfo } from '../core/base-guard.js';
import type { UpstreamInfo } from '../core/upstream-guard.js';
import type { HeaderDraft } from './options.js';
import type { QuotaRoute } from './quota-route.js';

/** The 429 answer of `onExceeded: 'reject'`. */
export interface Rejection {
  status: 429;
  headers: Record<string, string>;
  body: RejectionBody;
}

/** The default JSON body of a 429. */
export interface RejectionBody {
  error: {
    type: 'quota_exceeded';
    message: string;
    upstream: string;
    reason: QuotaRoute['reason'];
    window?: string;
    budget?: string;
    /** Seconds, as in `Retry-After`. */
    retryAfter: number;
    /** ISO 8601. */
    retryAt: string;
  };
}

interface RejectionContext {
  standardHeaders: HeaderDraft | false;
  probeIntervalMs: number;
  wallNow: number;
  info(): Promise<{ guard: UpstreamInfo; budgets: Array<{ name: string; window: WindowInfo }> }>;
}

/** Builds the 429: `Retry-After` from when the primary is expected back, and optional IETF headers. */
export async function rejection(route: QuotaRoute, context: RejectionContext): Promise<Rejection> {
  const retryInMs = route.retryInMs ?? context.probeIntervalMs;
  // Whole seconds, rounded up (never invite a client back before the primary is), at least 1.
  const retryAfter = Math.max(1, Math.ceil(retryInMs / 1_000));
  const headers: Record<string, string> = { 'Retry-After': String(retryAfter) };
  if (context.standardHeaders) {
    const { guard, budgets } = await context.info();
    const windows = route.budget === undefined ? guard.windows : budgets.map((b) => b.window);
    const draft = context.standardHeaders;
    Object.assign(
      headers,
      draft === 'draft-8'
        ? rateLimitHeaders(windows, context.wallNow)
        : singleWindowHeaders(windows, route.window, context.wallNow, draft),
    );
  }
  const what =
    route.budget === undefined
      ? `'${route.upstream}'`
      : `route budget '${route.budget}' of '${route.upstream}'`;
  const body: RejectionBody = {
    error: {
      type: 'quota_exceeded',
      message: `${what} is over its quota (${route.reason}); retry in ${retryAfter} s`,
      upstream: route.upstream,
      reason: route.reason,
      ...(route.window === undefined ? {} : { window: route.window }),
      ...(route.budget === undefined ? {} : { budget: route.budget }),
      retryAfter,
      retryAt: new Date(context.wallNow + retryAfter * 1_000).toISOString(),
    },
  };
  return { status: 429, headers, body };
}

/** One window's numbers as the RateLimit drafts count them. */
function windowFigures(w: WindowInfo, wallNow: number) {
  const line = Math.floor(w.budgetTokens * (w.thresholdPercent / 100));
  const exceeded = w.state === 'quota_exceeded';
  return {
    limit: w.budgetTokens,
    remaining: exceeded ? 0 : Math.max(0, Math.floor(line - w.windowUsageTokens)),
    reset:
      exceeded && w.retryAt !== undefined
        ? Math.max(0, Math.ceil((w.retryAt - wallNow) / 1_000))
        : Math.ceil(w.windowMs / 1_000),
    seconds: Math.ceil(w.windowMs / 1_000),
  };
}

/**
 * The older drafts express-rate-limit users know, which name one window: the one holding the
 * primary back (`binding`), else the budgeted window that resets last.
 * - draft-6: `RateLimit-Policy: 2000000;w=18000`, `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`;
 * - draft-7: `RateLimit-Policy` and `RateLimit: limit=2000000, remaining=0, reset=3600`.
 */
export function singleWindowHeaders(
  windows: readonly WindowInfo[],
  binding: string | undefined,
  wallNow: number,
  draft: 'draft-6' | 'draft-7',
): Record<string, string> {
  const budgeted = windows.filter((w) => w.budgetTokens > 0);
  if (budgeted.length === 0) return {};
  const figures = budgeted.map((w) => ({ w, f: windowFigures(w, wallNow) }));
  const chosen =
    figures.find(({ w }) => w.window === binding) ??
    figures.reduce((a, b) => (b.f.reset > a.f.reset ? b : a));
  const { limit, remaining, reset, seconds } = chosen.f;
  const policy = `${limit};w=${seconds}`;
  if (draft === 'draft-7') {
    return {
      'RateLimit-Policy': policy,
      RateLimit: `limit=${limit}, remaining=${remaining}, reset=${reset}`,
    };
  }
  return {
    'RateLimit-Policy': policy,
    'RateLimit-Limit': String(limit),
    'RateLimit-Remaining': String(remaining),
    'RateLimit-Reset': String(reset),
  };
}

/**
 * `RateLimit-Policy` and `RateLimit` in the form of draft-ietf-httpapi-ratelimit-headers-08, one
 * list member per window with a budget: `"5h";q=2000000;qu="tokens";w=18000` and
 * `"5h";r=0;t=3600`. `r` is what is left before the guard trips (the threshold line), `t` the
 * seconds until the window is expected to allow the primary again (its length when it already does).
 */
export function rateLimitHeaders(windows: readonly WindowInfo[], wallNow: number): Record<string, string> {
  const policies: string[] = [];
  const limits: string[] = [];
  for (const w of windows) {
    if (w.budgetTokens <= 0) continue;
    const { remaining, reset, seconds } = windowFigures(w, wallNow);
    policies.push(`"${w.window}";q=${w.budgetTokens};qu="tokens";w=${seconds}`);
    limits.push(`"${w.window}";r=${remaining};t=${reset}`);
  }
  if (policies.length === 0) return {};
  return { 'RateLimit-Policy': policies.join(', '), RateLimit: limits.join(', ') };
}
