/**
 * The gateway's configuration, from environment variables (each in `.env.example` and the
 * README). A bad value stops startup with one line naming the variable and the value.
 */
import { type Duration, parseDuration } from '../../src/index.js';

export interface WindowConfig {
  window: Duration;
  budget: number;
}

export interface UpstreamConfig {
  url: string;
  apiKey: string | undefined;
}

export interface GatewayConfig {
  port: number;
  /** The interface to listen on: 127.0.0.1 by default; 0.0.0.0 behind a load balancer. */
  host: string;
  /** Undefined: the gateway starts an embedded fake vendor for it. */
  primary: UpstreamConfig | undefined;
  fallback: UpstreamConfig | undefined;
  windows: WindowConfig[];
  /** The fallback's own windows: watched and shown (it has no fallback of its own to send to). */
  fallbackWindows: WindowConfig[];
  thresholdPercent: number;
  probeInterval: Duration;
  redisUrl: string | undefined;
  /** Key prefix in Redis: instances with the same one share a quota. */
  redisPrefix: string;
  dbPath: string;
  statusToken: string | undefined;
}

export class ConfigError extends Error {
  constructor(variable: string, value: string, expected: string) {
    super(`${variable}=${JSON.stringify(value)} is not valid: ${expected}`);
  }
}

/** Budgets for real vendors (an Anthropic subscription's, as the reference ran them). */
export const VENDOR_WINDOWS = '5h=65000000,7d=800000000';
/** Budgets for the embedded fake vendors: small, so transitions show within a minute. */
export const EMBEDDED_WINDOWS = '5h=60000,7d=600000';

export function readConfig(env: Record<string, string | undefined>): GatewayConfig {
  const primary = upstream(env, 'PRIMARY');
  const fallback = upstream(env, 'FALLBACK');
  const embedded = primary === undefined;
  const port = integer(env, 'PORT', 3000, 0, 65_535);
  const windows = readWindows(env, 'WINDOWS', env.WINDOWS ?? (embedded ? EMBEDDED_WINDOWS : VENDOR_WINDOWS));
  const fallbackWindows =
    env.FALLBACK_WINDOWS === undefined || env.FALLBACK_WINDOWS === ''
      ? windows
      : readWindows(env, 'FALLBACK_WINDOWS', env.FALLBACK_WINDOWS);
  const threshold = Number(env.THRESHOLD_PERCENT ?? 99);
  if (!Number.isFinite(threshold) || threshold < 1 || threshold > 100)
    throw new ConfigError(
      'THRESHOLD_PERCENT',
      env.THRESHOLD_PERCENT ?? '',
      'a percentage in [1, 100], e.g. 99',
    );
  const probeText = env.PROBE_INTERVAL ?? (embedded ? '20s' : '5m');
  let probeInterval: number;
  try {
    probeInterval = parseDuration(probeText as Duration, 'PROBE_INTERVAL');
  } catch {
    throw new ConfigError('PROBE_INTERVAL', probeText, "a duration such as '300s', '5m'");
  }
  const redisUrl = optionalUrl(env, 'REDIS_URL', ['redis:', 'rediss:']);
  return {
    port,
    host: env.HOST || '127.0.0.1',
    primary,
    fallback,
    windows,
    fallbackWindows,
    thresholdPercent: threshold,
    probeInterval,
    redisUrl,
    redisPrefix: redisPrefix(env),
    dbPath: env.DB_PATH ?? 'gateway-usage.sqlite',
    statusToken: env.STATUS_TOKEN === '' ? undefined : env.STATUS_TOKEN,
  };
}

function upstream(
  env: Record<string, string | undefined>,
  prefix: 'PRIMARY' | 'FALLBACK',
): UpstreamConfig | undefined {
  const url = optionalUrl(env, `${prefix}_URL`, ['http:', 'https:']);
  if (url === undefined) return undefined;
  return { url: url.replace(/\/+$/, ''), apiKey: env[`${prefix}_API_KEY`] || undefined };
}

function optionalUrl(
  env: Record<string, string | undefined>,
  name: string,
  protocols: string[],
): string | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, value, `a URL (${protocols.join(' or ')}//…)`);
  }
  if (!protocols.includes(url.protocol))
    throw new ConfigError(name, value, `a ${protocols.join(' or ')} URL`);
  return value;
}

function integer(
  env: Record<string, string | undefined>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const value = env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(name, value, `a whole number in [${min}, ${max}]`);
  return n;
}

function readWindows(env: Record<string, string | undefined>, name: string, text: string): WindowConfig[] {
  return text.split(',').map((part) => {
    const [window = '', budget = ''] = part.split('=');
    let ms: number;
    try {
      ms = parseDuration(window.trim() as Duration, name);
    } catch {
      throw new ConfigError(
        name,
        env[name] ?? '',
        "comma-separated '<duration>=<tokens>', e.g. 5h=65000000,7d=800000000",
      );
    }
    // Number('') is 0: a window written without its budget is refused, not read as "no budget".
    const tokens = budget.trim() === '' ? Number.NaN : Number(budget);
    if (!Number.isSafeInteger(tokens) || tokens < 0)
      throw new ConfigError(
        name,
        env[name] ?? '',
        `budgets are whole numbers of tokens ≥ 0 (got '${budget}')`,
      );
    return { window: ms, budget: tokens };
  });
}

function redisPrefix(env: Record<string, string | undefined>): string {
  const value = env.REDIS_PREFIX || 'quota-guard-gateway:';
  // Braces would move the Redis Cluster hash tag of every key.
  if (/[{}\s]/.test(value))
    throw new ConfigError('REDIS_PREFIX', value, 'a key prefix without {, } or spaces');
  return value;
}
