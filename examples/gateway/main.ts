/**
 * npm start: the gateway on its embedded defaults (two fake vendors on local ports), or in front
 * of the upstreams the environment names. See `.env.example`.
 */
import { pino } from 'pino';
import { formatDuration } from '../../src/index.js';
import { ConfigError, type GatewayConfig, readConfig } from './config.js';
import { startFakeVendor } from './fake-vendor.js';
import { createGateway } from './gateway.js';

const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  // Human-readable in a terminal, JSON lines otherwise (a log shipper's input).
  ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname' } } } : {}),
});

let config: GatewayConfig;
try {
  config = readConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`quota-guard gateway: ${error.message}`);
  process.exit(1);
}

/** The gateway's logger for the guard: pino's methods, taking one message string. */
const log = {
  info: (message: string) => logger.info(message),
  warn: (message: string) => logger.warn(message),
  error: (message: string) => logger.error(message),
};

const closers: Array<() => Promise<void>> = [];
let primary = config.primary;
let fallback = config.fallback;
if (primary === undefined) {
  // No upstream given: two fake vendors that speak the real wire formats. The primary has a hidden
  // cap below the gateway's budget that resets every minute: both ways to the fallback show.
  const vendor = await startFakeVendor({ name: 'fake-primary', capTokens: 25_000, windowMs: 60_000, eventDelayMs: 5 });
  primary = { url: vendor.url, apiKey: undefined };
  closers.push(vendor.close);
  log.info(`embedded primary vendor on ${vendor.url} (hidden cap: 25,000 tokens a minute)`);
}
if (fallback === undefined) {
  const vendor = await startFakeVendor({ name: 'fake-fallback', eventDelayMs: 5 });
  fallback = { url: vendor.url, apiKey: undefined };
  closers.push(vendor.close);
  log.info(`embedded fallback vendor on ${vendor.url}`);
}
log.info(`primary ${primary.url}${primary.apiKey ? ' (key set)' : ''}, fallback ${fallback.url}${fallback.apiKey ? ' (key set)' : ''}`);
log.info(
  `windows ${config.windows.map((w) => `${formatDuration(Number(w.window))}: ${w.budget.toLocaleString('en-US')} tokens`).join(', ')} at ${config.thresholdPercent}%, probe every ${formatDuration(Number(config.probeInterval))}; ${config.redisUrl ? 'shared quota in Redis' : 'quota in this process'}`,
);
const gateway = await createGateway({ config, primary, fallback, logger: log });
log.info(`usage log ${config.dbPath}: ${gateway.usage.count()} rows`);
await gateway.guard.ready;
const url = await gateway.listen(config.port);
log.info(`gateway on ${url}: status ${url}/quota${config.statusToken ? ' (token required)' : ''}, metrics ${url}/metrics`);
log.info(`point a client at it: ANTHROPIC_BASE_URL=${url} claude, or OPENAI_BASE_URL=${url}/v1`);

async function stop(): Promise<void> {
  log.info('stopping');
  await gateway.close();
  for (const close of closers) await close();
  process.exit(0);
}
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
