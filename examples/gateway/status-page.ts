/**
 * `GET /quota`: one page a person reads at a glance. Per window a bar of usage against budget and
 * threshold with the exact counts, a chart of the primary's usage over the window's span (inline
 * SVG, from the usage log), the state and why, when the next probe or recovery is due, the
 * vendor's own utilization next to the guard's count, and the latest state changes. It reloads
 * itself every 5 seconds. Everything shown comes from `quotaJson()`, which `/quota.json` serves.
 */
import type { MiddlewareInfo } from '../../src/adapters/express.js';
import type { StateChangeEvent } from '../../src/index.js';

/** One window as the page shows it. */
export interface WindowJson {
  window: string;
  windowMs: number;
  state: string;
  usageTokens: number;
  budgetTokens: number;
  thresholdPercent: number;
  usagePercent: number;
  capError: boolean;
  vendorUtilization?: number;
  /** Tokens in each of 48 equal spans of the window, oldest first (the chart). */
  series: number[];
}

export interface QuotaJson {
  upstream: string;
  /** The fallback's own windows (it is watched, not routed around). */
  fallbackGuard: { state: string; windows: WindowJson[] };
  primary: string;
  fallback: string;
  state: string;
  why: string;
  at: number;
  nextProbeAt?: number;
  retryAt?: number;
  windows: WindowJson[];
  decisions: MiddlewareInfo['decisions'];
  /** Answers in the shortest window's span, by who served them (`probe`: the primary, probing), from the usage log. */
  served: Record<string, number>;
  upstreamErrors: MiddlewareInfo['upstreamErrors'];
  changes: StateChangeEvent[];
  /** With REDIS_URL: whether Redis answers, and the tokens it has not confirmed yet. */
  redis?: { unavailable: boolean; pendingTokens: number; droppedTokens: number };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function ago(at: number, now: number): string {
  const s = Math.round((at - now) / 1000);
  if (Math.abs(s) < 1) return 'now';
  const span =
    Math.abs(s) >= 3600
      ? `${(Math.abs(s) / 3600).toFixed(1)} h`
      : Math.abs(s) >= 60
        ? `${Math.round(Math.abs(s) / 60)} min`
        : `${Math.abs(s)} s`;
  return s > 0 ? `in ${span}` : `${span} ago`;
}

/** Where the numbers come from when the quota is shared: every instance's, or this one's while Redis is away. */
function redisLine(redis: QuotaJson['redis']): string {
  if (redis === undefined) return '';
  const lost = redis.droppedTokens > 0 ? ` · ${fmt(redis.droppedTokens)} tokens dropped (buffer full)` : '';
  if (!redis.unavailable) {
    const waiting = redis.pendingTokens > 0 ? ` · ${fmt(redis.pendingTokens)} tokens on their way` : '';
    return `<p class="redis muted" data-unavailable="false">Quota shared through Redis by every instance${waiting}${lost}</p>`;
  }
  return `<p class="redis away" data-unavailable="true"><b>Redis is away</b>: these are this instance’s own numbers, and it decides alone until Redis answers · ${fmt(redis.pendingTokens)} tokens wait to be written${lost}</p>`;
}

function html(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The running total of the series against the budget and threshold lines. */
function chart(series: number[], budget: number, threshold: number): string {
  const width = 480;
  const height = 120;
  let total = 0;
  const totals = series.map((v) => (total += v));
  const top = Math.max(budget, total, 1) * 1.05;
  const x = (i: number) => ((i + 1) / series.length) * width;
  const y = (v: number) => height - (v / top) * height;
  const points = [
    `0,${height.toFixed(1)}`,
    ...totals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`),
  ].join(' ');
  const line = budget > 0 ? y((budget * threshold) / 100) : -1;
  return `<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="usage over the window" data-points="${totals.length}" data-total="${total}">
    <rect width="${width}" height="${height}" fill="#f7f7f9"/>
    ${line >= 0 ? `<line x1="0" x2="${width}" y1="${line.toFixed(1)}" y2="${line.toFixed(1)}" stroke="#c0392b" stroke-dasharray="4 3"/>` : ''}
    <polyline fill="none" stroke="#2d6cdf" stroke-width="2" points="${points}"/>
  </svg>`;
}

function renderWindows(upstream: string, list: WindowJson[]): string {
  return list
    .map((w) => {
      const percent = w.budgetTokens > 0 ? Math.min(100, (w.usageTokens / w.budgetTokens) * 100) : 0;
      const vendor =
        w.vendorUtilization === undefined
          ? '<span class="muted">vendor: no reading yet</span>'
          : `vendor says <b>${(w.vendorUtilization * 100).toFixed(1)}%</b> used`;
      return `<section class="window" data-upstream="${upstream}" data-window="${html(w.window)}" data-state="${w.state}" data-usage="${w.usageTokens}" data-budget="${w.budgetTokens}">
      <h3>${html(w.window)} window <span class="badge ${w.state}">${w.state.replace('_', ' ')}${w.capError ? ' · cap error' : ''}</span></h3>
      <div class="bar" title="${w.usagePercent}% of the budget">
        <div class="fill ${w.state}" style="width:${percent.toFixed(2)}%"></div>
        <div class="threshold" style="left:${w.thresholdPercent}%"></div>
      </div>
      <p class="counts"><b>${fmt(w.usageTokens)}</b> of ${fmt(w.budgetTokens)} tokens (${w.usagePercent}%; line at ${w.thresholdPercent}%) · ${vendor}</p>
      ${chart(w.series, w.budgetTokens, w.thresholdPercent)}
    </section>`;
    })
    .join('\n');
}

export function renderStatusPage(q: QuotaJson): string {
  const windows = renderWindows('primary', q.windows);
  const fallbackWindows = renderWindows('fallback', q.fallbackGuard.windows);
  const due = [
    q.nextProbeAt === undefined ? '' : `next probe ${ago(q.nextProbeAt, q.at)}`,
    q.retryAt === undefined ? '' : `primary expected back ${ago(q.retryAt, q.at)}`,
  ]
    .filter(Boolean)
    .join(' · ');
  const changes = q.changes
    .slice(-8)
    .reverse()
    .map(
      (c) =>
        `<li>${new Date(c.at).toLocaleTimeString('en-GB')} · ${html(c.name ?? '')} ${html(c.window)}: ${c.from.replace('_', ' ')} → <b>${c.to.replace('_', ' ')}</b> (${c.reason.replace('_', ' ')}, ${fmt(c.usageTokens)} tokens)</li>`,
    )
    .join('');
  const routes = Object.entries(q.decisions)
    .flatMap(([route, reasons]) =>
      Object.entries(reasons).map(
        ([reason, n]) => `${route} · ${reason.replace(/_/g, ' ')}: ${fmt(n as number)}`,
      ),
    )
    .join(' &nbsp; ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>quota-guard · ${html(q.upstream)}</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 720px; color: #1d1d1f; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin: 1.6rem 0 .2rem; }
  h3 { font-size: 1rem; margin: 1rem 0 .4rem; }
  .muted { color: #777; } .state { font-size: 1.1rem; margin: .6rem 0; }
  .badge { font-size: .8rem; padding: .1rem .5rem; border-radius: 1rem; background: #e3f4e8; color: #17602f; }
  .badge.quota_exceeded { background: #fde7e4; color: #9b2315; }
  .bar { position: relative; height: 22px; background: #eceef2; border-radius: 4px; overflow: hidden; }
  .fill { height: 100%; background: #2d9b5a; } .fill.quota_exceeded { background: #d0463b; }
  .threshold { position: absolute; top: 0; bottom: 0; width: 2px; background: #1d1d1f; }
  .counts { margin: .3rem 0 .5rem; } ul { padding-left: 1.1rem; }
  .away { background: #fdf3d7; padding: .4rem .6rem; border-radius: 4px; }
</style></head>
<body>
<h1>quota-guard · ${html(q.upstream)}</h1>
<p class="muted">primary ${html(q.primary)} · fallback ${html(q.fallback)} · ${new Date(q.at).toLocaleString('en-GB')}</p>
<p class="state" data-state="${q.state}">Requests go to the <b>${q.state === 'within_quota' ? 'primary' : 'fallback'}</b>: ${html(q.why)}${due ? ` · ${due}` : ''}</p>
${redisLine(q.redis)}
<h2 class="upstream">Primary</h2>
${windows}
<h2 class="upstream">Fallback <span class="muted">(watched: it has no fallback of its own)</span></h2>
${fallbackWindows}
<h2>Requests answered</h2>
<p class="served">served by the primary: <b>${fmt(q.served.primary ?? 0)}</b> · probes: <b>${fmt(q.served.probe ?? 0)}</b> · by the fallback: <b>${fmt(q.served.fallback ?? 0)}</b> <span class="muted">(${html(q.windows[0]?.window ?? '')} window, usage log)</span></p>
<p class="muted">decisions: ${routes || 'none yet'} · primary cap errors: ${q.upstreamErrors.cap}, transient: ${q.upstreamErrors.transient}</p>
<h2>Latest state changes</h2><ul class="changes">${changes || '<li class="muted">none yet</li>'}</ul>
<p class="muted"><a href="quota.json">quota.json</a> · <a href="metrics">metrics</a></p>
</body></html>`;
}
