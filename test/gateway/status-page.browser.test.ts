/**
 * The status page in a real browser: headless Chromium (Debian's `chromium`, driven by
 * playwright-core) loads `/quota` after traffic; the bars, the chart and the state it shows are
 * asserted, and a screenshot is saved as an artefact (`artifacts/gateway-status.png`; the
 * README shows a copy of it, `docs/gateway-status.png`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { gatewaySetup } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = join(import.meta.dirname, '../../artifacts/gateway-status.png');

describe('the status page in headless Chromium', () => {
  const start = gatewaySetup();

  it('shows each window’s bar and exact counts, the usage chart, the state and why', async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} (apt-get install chromium; .ci/run does)`).toBe(true);
    const gw = await start();
    const send = (stream: boolean) =>
      fetch(`${gw.url}/v1/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'claude-x',
          max_tokens: 3_000,
          stream,
          messages: [{ role: 'user', content: 'Hi' }],
        }),
      }).then((r) => r.text());
    // Traffic spread over the last hours, until the primary's hidden cap answers 429.
    for (let i = 0; i < 6; i++) {
      await send(i % 2 === 0);
      gw.clock.advance(30 * 60_000);
      gw.vendors.primary!.reset();
    }
    for (let i = 0; i < 10; i++) await send(true);
    await gw.gateway.guard.settled();
    const q = await gw.gateway.quotaJson();
    expect(q.windows[0]!.capError).toBe(true);

    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 800, height: 900 } });
      await page.goto(`${gw.url}/quota`);
      // Two windows for the primary, and the fallback's own two (watched, not routed around).
      await expect.poll(() => page.locator('section.window').count()).toBe(4);
      const five = page.locator('section.window[data-upstream="primary"][data-window="5h"]');
      expect(await five.getAttribute('data-state')).toBe('quota_exceeded');
      const counts = await five.locator('.counts').textContent();
      expect(counts).toContain(`${q.windows[0]!.usageTokens.toLocaleString('en-US')} of 60,000 tokens`);
      expect(counts).toMatch(/vendor says \d+(\.\d)?% used/);
      // The bar's fill is as wide as the share of the budget used.
      const fill = await five
        .locator('.fill')
        .evaluate((el) => el.getBoundingClientRect().width / el.parentElement!.getBoundingClientRect().width);
      expect(fill).toBeCloseTo(q.windows[0]!.usageTokens / 60_000, 2);
      // The chart draws the usage log over the window: 48 spans, totalling the window's usage.
      const chart = five.locator('svg.chart');
      expect(await chart.getAttribute('data-points')).toBe('48');
      expect(Number(await chart.getAttribute('data-total'))).toBe(q.windows[0]!.usageTokens);
      expect(await chart.locator('polyline').count()).toBe(1);
      // The fallback served the request the primary's cap error sent there, and the ones after it.
      const fallback = page.locator('section.window[data-upstream="fallback"][data-window="5h"]');
      const fallbackUsage = q.fallbackGuard.windows[0]!.usageTokens;
      expect(fallbackUsage).toBeGreaterThan(0);
      expect(await fallback.getAttribute('data-usage')).toBe(String(fallbackUsage));
      expect(await fallback.locator('.counts').textContent()).toContain(
        `${fallbackUsage.toLocaleString('en-US')} of 60,000 tokens`,
      );
      expect(Number(await fallback.locator('svg.chart').getAttribute('data-total'))).toBe(fallbackUsage);
      const state = await page.locator('p.state').textContent();
      expect(state).toContain('Requests go to the fallback');
      expect(state).toContain('cap error');
      expect(state).toMatch(/next probe in \d+/);
      expect(await page.locator('ul.changes li').first().textContent()).toContain('→ quota exceeded');
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(existsSync(SCREENSHOT)).toBe(true);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
