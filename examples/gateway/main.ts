/**
 * npm start: the gateway on its embedded defaults (two fake vendors on local ports), or in front
 * of the upstreams the environment names. See `.env.example`.
 */
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { ConfigError } from './config.js';
import { startGateway } from './start.js';

// A .env beside package.json (copied from .env.example) is read; variables already set win.
if (existsSync('.env')) process.loadEnvFile('.env');

const logger = pino({
  level: process.env.LOG_LEVEL ?? 'info',
  // Human-readable in a terminal, JSON lines otherwise (a log shipper's input).
  ...(process.stdout.isTTY
    ? { transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname' } } }
    : {}),
});
/** pino's methods, taking one message string, as the guard's logger. */
const log = {
  info: (message: string) => logger.info(message),
  warn: (message: string) => logger.warn(message),
  error: (message: string) => logger.error(message),
};

try {
  const started = await startGateway(process.env, { logger: log });
  log.info(
    `point a client at it: ANTHROPIC_BASE_URL=${started.url} claude, or OPENAI_BASE_URL=${started.url}/v1`,
  );
  const stop = async () => {
    log.info('stopping');
    await started.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  // One line that names the variable and the value.
  console.error(`quota-guard gateway: ${error.message}`);
  process.exit(1);
}
