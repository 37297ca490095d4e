/**
 * Starts the whole gateway from environment variables: the embedded fake vendors when no upstream
 * is named, the gateway, its listening port. `npm start` (main.ts), `npm run demo` and the tests
 * go through here.
 */
import { type Clock, formatDuration } from '../../src/index.js';
import { type GatewayConfig, readConfig, type UpstreamConfig } from './config.js';
import { type FakeVendor, startFakeVendor } from './fake-vendor.js';
import { createGateway, type Gateway } from './gateway.js';

export interface GatewayLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface StartedGateway {
  url: string;
  config: GatewayConfig;
  gateway: Gateway;
  /** The embedded vendors, when the environment named no upstream. */
  vendors: { primary?: FakeVendor; fallback?: FakeVendor };
  close(): Promise<void>;
}

/** The embedded primary's hidden cap: below the gateway's 5 h budget, reset every minute. */
export const EMBEDDED_CAP = { capTokens: 25_000, windowMs: 60_000 };

export async function startGateway(
  env: Record<string, string | undefined>,
  {
    logger,
    clock,
    embedded = EMBEDDED_CAP,
  }: { logger: GatewayLogger; clock?: Clock; embedded?: { capTokens: number; windowMs: number } },
): Promise<StartedGateway> {
  const config = readConfig(env);
  const vendors: StartedGateway['vendors'] = {};
  const now = clock === undefined ? undefined : () => clock.now();
  let primary: UpstreamConfig | undefined = config.primary;
  let fallback: UpstreamConfig | undefined = config.fallback;
  if (primary === undefined) {
    // Two fake vendors that speak the real wire formats. The primary's hidden cap is below the
    // gateway's budget and resets every minute: both ways to the fallback show, and the recovery.
    vendors.primary = await startFakeVendor({
      name: 'fake-primary',
      ...embedded,
      eventDelayMs: 5,
      ...(now ? { now } : {}),
    });
    primary = { url: vendors.primary.url, apiKey: undefined };
    logger.info(
      `embedded primary vendor on ${primary.url} (hidden cap: ${embedded.capTokens.toLocaleString('en-US')} tokens per ${formatDuration(embedded.windowMs)})`,
    );
  }
  if (fallback === undefined) {
    vendors.fallback = await startFakeVendor({ name: 'fake-fallback', eventDelayMs: 5 });
    fallback = { url: vendors.fallback.url, apiKey: undefined };
    logger.info(`embedded fallback vendor on ${fallback.url}`);
  }
  const keyNote = (u: UpstreamConfig) => (u.apiKey ? ' (key set)' : '');
  logger.info(`primary ${primary.url}${keyNote(primary)}, fallback ${fallback.url}${keyNote(fallback)}`);
  logger.info(
    `windows ${config.windows.map((w) => `${formatDuration(Number(w.window))}: ${w.budget.toLocaleString('en-US')} tokens`).join(', ')} at ${config.thresholdPercent}%, probe every ${formatDuration(Number(config.probeInterval))}; ${config.redisUrl ? 'quota shared in Redis' : 'quota in this process'}`,
  );
  const gateway = await createGateway({ config, primary, fallback, logger, ...(clock ? { clock } : {}) });
  logger.info(`usage log ${config.dbPath}: ${gateway.usage.count()} rows`);
  await gateway.guard.ready;
  const url = await gateway.listen(config.port);
  logger.info(
    `gateway on ${url}: status ${url}/quota${config.statusToken ? ' (token required)' : ''}, metrics ${url}/metrics`,
  );
  return {
    url,
    config,
    gateway,
    vendors,
    close: async () => {
      await gateway.close();
      await vendors.primary?.close();
      await vendors.fallback?.close();
    },
  };
}
